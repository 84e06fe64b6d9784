package core

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/cli"
)

func (s *Server) registerCommands() {
	s.CLI.MustRegister(
		&cli.Command{Words: []string{"core", "show", "settings"}, Summary: "Show some core settings",
			Usage: "Usage: core show settings\n       Show core system settings.\n", Handler: s.cmdShowSettings},
		&cli.Command{Words: []string{"core", "show", "version"}, Summary: "Display version info",
			Usage: "Usage: core show version\n       Shows Pleiades version information.\n", Handler: s.cmdShowVersion},
		&cli.Command{Words: []string{"core", "show", "uptime"}, Summary: "Show uptime information",
			Usage: "Usage: core show uptime [seconds]\n       Shows Pleiades uptime information.\n       The seconds word returns the uptime in seconds only.\n", Handler: s.cmdShowUptime},
		&cli.Command{Words: []string{"core", "set", "verbose"}, Summary: "Set level of verbose messages",
			Usage: "Usage: core set verbose [atleast] <level>|off\n       Sets the level of verbose messages to be displayed on this console.\n       0 or off means no messages should be displayed.\n       Equivalent to -v[v[...]] on the command line\n", Handler: s.cmdSetVerbose},
		&cli.Command{Words: []string{"core", "set", "debug"}, Summary: "Set level of debug chattiness",
			Usage: "Usage: core set debug [atleast] <level>|off\n       Sets the level of debug messages to be displayed.\n       0 or off means no messages should be displayed.\n       Equivalent to -d[d[...]] on the command line\n", Handler: s.cmdSetDebug},
		&cli.Command{Words: []string{"core", "stop", "now"}, Summary: "Shut down Pleiades immediately",
			Usage: "Usage: core stop now\n       Shuts down a running Pleiades immediately, hanging up all active calls .\n", Handler: s.cmdStop(StopNow, false)},
		&cli.Command{Words: []string{"core", "stop", "gracefully"}, Summary: "Gracefully shut down Pleiades",
			Usage: "Usage: core stop gracefully\n       Causes Pleiades to not accept new calls, and exit when all\n       active calls have terminated normally.\n", Handler: s.cmdStop(StopGracefully, false)},
		&cli.Command{Words: []string{"core", "stop", "when", "convenient"}, Summary: "Shut down Pleiades at empty call volume",
			Usage: "Usage: core stop when convenient\n       Causes Pleiades to perform a shutdown when all active calls have ended.\n", Handler: s.cmdStop(StopWhenConvenient, false)},
		&cli.Command{Words: []string{"core", "restart", "now"}, Summary: "Restart Pleiades immediately",
			Usage: "Usage: core restart now\n       Causes Pleiades to hangup all calls and exec() itself performing a cold\n       restart.\n", Handler: s.cmdStop(StopNow, true)},
		&cli.Command{Words: []string{"core", "restart", "gracefully"}, Summary: "Restart Pleiades gracefully",
			Usage: "Usage: core restart gracefully\n       Causes Pleiades to stop accepting new calls and exec() itself performing a cold\n       restart when all active calls have ended.\n", Handler: s.cmdStop(StopGracefully, true)},
		&cli.Command{Words: []string{"core", "restart", "when", "convenient"}, Summary: "Restart Pleiades at empty call volume",
			Usage: "Usage: core restart when convenient\n       Causes Pleiades to perform a cold restart when all active calls have ended.\n", Handler: s.cmdStop(StopWhenConvenient, true)},
		&cli.Command{Words: []string{"core", "abort", "shutdown"}, Summary: "Cancel a running shutdown",
			Usage: "Usage: core abort shutdown\n       Causes Pleiades to abort an executing shutdown or restart, and resume normal\n       call operations.\n", Handler: s.cmdAbortShutdown},
		&cli.Command{Words: []string{"reload"}, Summary: "Reload configuration for a module",
			Usage: "Usage: reload [module ...]\n       Same as 'module reload'.\n", Handler: s.cmdReload, Complete: s.completeModule},
		&cli.Command{Words: []string{"module", "reload"}, Summary: "Reload configuration for a module",
			Usage: "Usage: module reload [module ...]\n       Reloads configuration files for all listed modules which support\n       reloading, or for all supported modules if none are listed.\n", Handler: s.cmdReload, Complete: s.completeModule},
		&cli.Command{Words: []string{"core", "reload"}, Summary: "Global reload",
			Usage: "Usage: core reload\n       Execute a global reload.\n", Handler: s.cmdCoreReload},
		&cli.Command{Words: []string{"module", "show"}, Summary: "List modules and info",
			Usage: "Usage: module show [like keyword]\n       Shows Pleiades modules currently in use, and usage statistics.\n", Handler: s.cmdModuleShow, Complete: s.completeModuleShow},
		&cli.Command{Words: []string{"core", "show", "channels", "count"}, Summary: "Display information on channels",
			Usage: "Usage: core show channels count\n       Shows the channel and call counts: channels up, calls up and calls\n       processed since start.\n", Handler: s.cmdShowChannelsCount},
		&cli.Command{Words: []string{"core", "show", "calls"}, Summary: "Display information on calls",
			Usage: "Usage: core show calls [uptime [seconds]]\n       Lists number of currently active calls and total number of calls\n       processed through PBX since last restart. If 'uptime' is specified\n       the system uptime is also displayed. If 'seconds' is specified in\n       addition to 'uptime', the system uptime is displayed in seconds.\n", Handler: s.cmdShowCalls},
		&cli.Command{Words: []string{"core", "show", "sysinfo"}, Summary: "Show System Information",
			Usage: "Usage: core show sysinfo\n       List current system information.\n", Handler: s.cmdShowSysinfo},
		&cli.Command{Words: []string{"logger", "reload"}, Summary: "Reopens the log files",
			Usage: "Usage: logger reload\n       Reloads the logger subsystem state.  Use after restarting syslogd(8) if you are using syslog logging.\n", Handler: func(ctx context.Context, a *cli.Args) error { return s.cmdReloadNamed(ctx, a, "logger") }},
		&cli.Command{Words: []string{"logger", "rotate"}, Summary: "Rotates and reopens the log files",
			Usage: "Usage: logger rotate\n       Rotates and Reopens the log files.\n", Handler: s.cmdLoggerRotate},
		&cli.Command{Words: []string{"logger", "show", "channels"}, Summary: "List configured log channels",
			Usage: "Usage: logger show channels\n       List configured logger channels.\n", Handler: s.cmdLoggerShowChannels},
	)
}

func (s *Server) cmdShowSettings(_ context.Context, a *cli.Args) error {
	if len(a.Rest) != 0 {
		return cli.ErrUsage
	}
	st := s.Settings
	w := a.Out
	row := func(label, value string) { fmt.Fprintf(w, "  %-29s%s\n", label+":", value) }
	fmt.Fprintf(w, "\nPBX Core settings\n-----------------\n")
	row("Version", Version)
	row("Build Options", runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH)
	row("Verbosity", strconv.Itoa(s.Logger.VerboseLevel()))
	row("Debug level", strconv.Itoa(s.Logger.Debug()))
	row("System name", st.SystemName)
	row("Entity ID", st.EID.String())
	row("Entity ID source", st.EIDSource)
	row("Startup time", s.Started.Format("15:04:05"))
	row("Last reload time", s.LastReload().Format("15:04:05"))
	row("System", fmt.Sprintf("%s/%s built with %s", runtime.GOOS, runtime.GOARCH, runtime.Version()))
	row("#exec in config files", enabled(st.ExecIncludes))
	row("Remote consoles", strconv.Itoa(s.ctl.Connections()))
	fmt.Fprintf(w, "\n* Directories\n-------------\n")
	cf := st.ConfigFile
	if cf == "" {
		cf = "(built-in defaults)"
	}
	row("Configuration file", cf)
	row("Configuration directory", st.Dirs.Etc)
	row("Spool directory", st.Dirs.Spool)
	row("Log directory", st.Dirs.Log)
	row("Run/Sockets directory", st.Dirs.Run)
	row("PID file", st.PIDPath())
	row("VarLib directory", st.Dirs.VarLib)
	row("Data directory", st.Dirs.Data)
	row("ASTDB", st.Dirs.DB)
	fmt.Fprintln(w)
	return nil
}

func enabled(b bool) string {
	if b {
		return "Enabled"
	}
	return "Disabled"
}

func (s *Server) cmdShowVersion(_ context.Context, a *cli.Args) error {
	if len(a.Rest) != 0 {
		return cli.ErrUsage
	}
	host, _ := os.Hostname()
	fmt.Fprintf(a.Out, "Pleiades %s built with %s on %s running %s/%s\n", Version, runtime.Version(), host, runtime.GOOS, runtime.GOARCH)
	return nil
}

// FormatDuration renders a duration the way Asterisk's "core show uptime" does:
// "1 hour, 2 minutes, 3 seconds".
func FormatDuration(d time.Duration) string {
	secs := int64(d / time.Second)
	units := []struct {
		name string
		n    int64
	}{{"year", 365 * 86400}, {"week", 7 * 86400}, {"day", 86400}, {"hour", 3600}, {"minute", 60}, {"second", 1}}
	var parts []string
	for _, u := range units {
		if secs >= u.n {
			k := secs / u.n
			secs %= u.n
			name := u.name
			if k != 1 {
				name += "s"
			}
			parts = append(parts, fmt.Sprintf("%d %s", k, name))
		}
	}
	if len(parts) == 0 {
		return "<1 second"
	}
	return strings.Join(parts, ", ")
}

func (s *Server) cmdShowUptime(_ context.Context, a *cli.Args) error {
	now := time.Now()
	switch {
	case len(a.Rest) == 1 && strings.EqualFold(a.Rest[0], "seconds"):
		fmt.Fprintf(a.Out, "System uptime: %d\nLast reload: %d\n", int64(now.Sub(s.Started).Seconds()), int64(now.Sub(s.LastReload()).Seconds()))
	case len(a.Rest) == 0:
		fmt.Fprintf(a.Out, "System uptime: %s\nLast reload: %s\n", FormatDuration(now.Sub(s.Started)), FormatDuration(now.Sub(s.LastReload())))
	default:
		return cli.ErrUsage
	}
	return nil
}

// parseLevel reads "[atleast] <level>|off".
func parseLevel(rest []string) (level int, atleast bool, err error) {
	if len(rest) > 0 && strings.EqualFold(rest[0], "atleast") {
		atleast, rest = true, rest[1:]
	}
	if len(rest) != 1 {
		return 0, false, cli.ErrUsage
	}
	if strings.EqualFold(rest[0], "off") {
		return 0, atleast, nil
	}
	n, err := strconv.Atoi(rest[0])
	if err != nil || n < 0 {
		return 0, false, cli.ErrUsage
	}
	return n, atleast, nil
}

func (s *Server) cmdSetVerbose(_ context.Context, a *cli.Args) error {
	n, atleast, err := parseLevel(a.Rest)
	if err != nil {
		return err
	}
	old := s.Logger.VerboseLevel()
	if a.Session != nil {
		old = a.Session.Verbose()
	}
	if atleast && n < old {
		n = old
	}
	if a.Session != nil {
		a.Session.SetVerbose(n)
	}
	// The server's own level limits verbose messages in log files that follow it.
	s.Logger.SetVerbose(n)
	switch {
	case n == old:
		fmt.Fprintf(a.Out, "Verbosity is at least %d\n", n)
	case n == 0:
		fmt.Fprintf(a.Out, "Verbosity is now OFF\n")
	default:
		fmt.Fprintf(a.Out, "Verbosity was %d and is now %d\n", old, n)
	}
	return nil
}

func (s *Server) cmdSetDebug(_ context.Context, a *cli.Args) error {
	n, atleast, err := parseLevel(a.Rest)
	if err != nil {
		return err
	}
	old := s.Logger.Debug()
	if atleast && n < old {
		n = old
	}
	s.Logger.SetDebug(n)
	switch {
	case n == old:
		fmt.Fprintf(a.Out, "Core debug is still %d.\n", n)
	case n == 0:
		fmt.Fprintf(a.Out, "Core debug is now OFF\n")
	default:
		fmt.Fprintf(a.Out, "Core debug was %d and has been set to %d.\n", old, n)
	}
	return nil
}

func (s *Server) cmdStop(mode StopMode, restart bool) func(context.Context, *cli.Args) error {
	return func(_ context.Context, a *cli.Args) error {
		if len(a.Rest) != 0 {
			return cli.ErrUsage
		}
		what := "shutdown"
		if restart {
			what = "restart"
		}
		if mode == StopWhenConvenient {
			// Asterisk prints this to the CLI that asked.
			fmt.Fprintf(a.Out, "Waiting for inactivity to perform %s\n", map[bool]string{false: "halt", true: "restart"}[restart])
		}
		if !s.Stop(mode, restart) {
			fmt.Fprintf(a.Out, "Ignoring Pleiades %s request, already in progress.\n", what)
			return nil
		}
		if mode == StopGracefully {
			if n := s.ActiveCalls(); n > 0 {
				fmt.Fprintf(a.Out, "New calls are refused; Pleiades will %s when the %d active %s ended.\n", map[bool]string{false: "stop", true: "restart"}[restart], n, plural(n, "call has", "calls have"))
			}
		}
		return nil
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func (s *Server) cmdAbortShutdown(_ context.Context, a *cli.Args) error {
	if len(a.Rest) != 0 {
		return cli.ErrUsage
	}
	if s.AbortShutdown() {
		fmt.Fprintln(a.Out, "Shutdown cancelled; new calls are accepted.")
	} else {
		fmt.Fprintln(a.Out, "No shutdown or restart is waiting to be cancelled.")
	}
	return nil
}

// moduleNames is every name "module reload" takes: the Pleiades modules' own and the
// Asterisk modules they answer for.
func (s *Server) moduleNames() []string {
	var out []string
	for _, m := range s.Modules() {
		out = append(out, m.Name())
		for _, a := range asteriskModules[m.Name()] {
			if baseName(a.name) != baseName(m.Name()) {
				out = append(out, a.name)
			}
		}
	}
	return out
}

func (s *Server) completeModule(_ *cli.Args, _ int, word string) []string {
	var out []string
	for _, n := range s.moduleNames() {
		if strings.HasPrefix(n, word) {
			out = append(out, n)
		}
	}
	return out
}

func (s *Server) completeModuleShow(_ *cli.Args, n int, word string) []string {
	if n == 0 && strings.HasPrefix("like", word) {
		return []string{"like"}
	}
	if n == 1 {
		return s.completeModule(nil, 0, word)
	}
	return nil
}

// cmdReload is "module reload" (and "reload"): with names, Asterisk's line per name
// (main/cli.c handle_reload); a failure also prints why, and the run fails.
func (s *Server) cmdReload(ctx context.Context, a *cli.Args) error {
	if len(a.Rest) == 0 {
		return s.reportReload(a.Out, s.Reload(ctx, ""))
	}
	var failed bool
	for _, name := range a.Rest {
		if !s.reloadOne(ctx, a.Out, name) {
			failed = true
		}
	}
	if failed {
		return cli.ErrFailed
	}
	return nil
}

// reloadOne reloads one named module and prints Asterisk's line for the result.
func (s *Server) reloadOne(ctx context.Context, w io.Writer, name string) bool {
	err := s.Reload(ctx, name)
	switch {
	case errors.Is(err, ErrNoSuchModule):
		fmt.Fprintf(w, "No such module '%s'\n", name)
		return false
	case errors.Is(err, ErrReloadNotSupported):
		fmt.Fprintf(w, "The module '%s' does not support reloads\n", name)
		return false
	case err != nil:
		fmt.Fprintf(w, "The module '%s' reported a reload failure\n%s\n", name, err)
		return false
	}
	if _, alias := s.resolve(name); alias != nil && alias.driver != "" && s.Realtime != nil && !s.Realtime.Loaded(alias.driver) {
		file := "its configuration file"
		if d, ok := s.Realtime.Driver(alias.driver); ok {
			file = d.ConfigFile()
		}
		fmt.Fprintf(w, "The module '%s' was not properly initialized: %s does not exist.\n", name, file)
		return false
	}
	fmt.Fprintf(w, "Module '%s' reloaded successfully.\n", name)
	return true
}

// cmdCoreReload is "core reload": a global reload (Asterisk prints nothing; a module whose
// new configuration fails prints why and the run fails).
func (s *Server) cmdCoreReload(ctx context.Context, a *cli.Args) error {
	if len(a.Rest) != 0 {
		return cli.ErrUsage
	}
	return s.reportReload(a.Out, s.Reload(ctx, ""))
}

func (s *Server) cmdReloadNamed(ctx context.Context, a *cli.Args, name string) error {
	if len(a.Rest) != 0 {
		return cli.ErrUsage
	}
	return s.reportReload(a.Out, s.Reload(ctx, name))
}

func (s *Server) reportReload(w io.Writer, err error) error {
	if err == nil {
		return nil
	}
	fmt.Fprintf(w, "%s\n", err)
	return cli.ErrFailed
}

// cmdModuleShow is main/cli.c's handle_modlist: every name a loaded module answers to (see
// moduleRows) containing the keyword, case-insensitively.
func (s *Server) cmdModuleShow(_ context.Context, a *cli.Args) error {
	like := ""
	switch {
	case len(a.Rest) == 2 && strings.EqualFold(a.Rest[0], "like"):
		like = strings.ToLower(a.Rest[1])
	case len(a.Rest) != 0:
		return cli.ErrUsage
	}
	const format = "%-30s %-40.40s %-10s %-11s %13s\n"
	fmt.Fprintf(a.Out, format, "Module", "Description", "Use Count", "Status", "Support Level")
	n := 0
	for _, r := range s.moduleRows() {
		if !strings.Contains(strings.ToLower(r.name), like) {
			continue
		}
		n++
		fmt.Fprintf(a.Out, format, r.name, r.description, "0", r.status, r.support)
	}
	fmt.Fprintf(a.Out, "%d modules loaded\n", n)
	return nil
}

func (s *Server) cmdLoggerRotate(_ context.Context, a *cli.Args) error {
	if len(a.Rest) != 0 {
		return cli.ErrUsage
	}
	if err := s.Logger.Rotate(); err != nil {
		fmt.Fprintf(a.Out, "Failed to rotate the log files: %s\n", err)
		return cli.ErrFailed
	}
	return nil
}

func (s *Server) cmdLoggerShowChannels(_ context.Context, a *cli.Args) error {
	if len(a.Rest) != 0 {
		return cli.ErrUsage
	}
	const f = "%-35.35s %-8.8s %-10.10s %-9.9s %s\n"
	fmt.Fprintf(a.Out, "Logger queue limit: %d\n\n", 1000)
	fmt.Fprintf(a.Out, f, "Channel", "Type", "Formatter", "Status", "Configuration")
	fmt.Fprintf(a.Out, f, "-------", "----", "---------", "------", "-------------")
	for _, c := range s.Logger.Channels() {
		fmt.Fprintf(a.Out, f, c.Name, c.Type, "default", c.Status, c.Config)
	}
	fmt.Fprintln(a.Out)
	return nil
}
