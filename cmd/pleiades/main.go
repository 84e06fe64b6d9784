// Command pleiades is the Pleiades server and its remote console.
//
//	pleiades -f            run in the foreground
//	pleiades -c            run in the foreground with a console on this terminal
//	pleiades               start a server in the background and return once it answers
//	pleiades -r            remote console to the running server (reconnects for 30 s when it goes away)
//	pleiades -rx "cmd"     run one command on the running server, print its output; exit
//	                       status 0, 1 when it failed, 2 when there is no such command
//	pleiades --timeout=N   how long -r and -rx wait for the server (seconds, default 30, 0: no limit)
//	pleiades -C file       use this asterisk.conf
//	pleiades -v / -d       raise verbose / debug level (repeatable: -vvv)
//	pleiades -V            print the version
//
// Single-letter flags combine as in Asterisk (-cvvv, -rx "core show settings").
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/peterh/liner"

	"github.com/pleiades-pbx/pleiades/internal/cli"
	"github.com/pleiades-pbx/pleiades/internal/core"
	"github.com/pleiades-pbx/pleiades/internal/logger"
)

type options struct {
	foreground, console, remote, version, help bool
	exec                                       string
	hasExec                                    bool
	confFile                                   string
	verbose, debug                             int
	// timeout bounds how long -r and -rx wait for the server (see --timeout); 0: no limit.
	timeout time.Duration
}

// DefaultTimeout is how long -r waits to connect and -rx to connect and get its answer.
const DefaultTimeout = 30 * time.Second

// parseTimeout reads --timeout's value: whole seconds, 0 for no limit.
func parseTimeout(v string) (time.Duration, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("--timeout needs a number of seconds (0: no limit), not %q", v)
	}
	return time.Duration(n) * time.Second, nil
}

func parseArgs(args []string) (*options, error) {
	o := &options{timeout: DefaultTimeout}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if v, ok := strings.CutPrefix(a, "--timeout"); ok && (v == "" || v[0] == '=') {
			if v == "" {
				if i+1 >= len(args) {
					return nil, errors.New("option --timeout needs an argument")
				}
				i++
				v = args[i]
			} else {
				v = v[1:]
			}
			d, err := parseTimeout(v)
			if err != nil {
				return nil, err
			}
			o.timeout = d
			continue
		}
		if a == "--" {
			if i+1 < len(args) {
				return nil, fmt.Errorf("unexpected argument %q", args[i+1])
			}
			break
		}
		if a == "--version" {
			o.version = true
			continue
		}
		if a == "--help" {
			o.help = true
			continue
		}
		if len(a) < 2 || a[0] != '-' {
			return nil, fmt.Errorf("unexpected argument %q", a)
		}
		for j := 1; j < len(a); j++ {
			switch c := a[j]; c {
			case 'f', 'F':
				o.foreground = true
			case 'c':
				o.console, o.foreground = true, true
			case 'r', 'R':
				o.remote = true
			case 'v':
				o.verbose++
			case 'd':
				o.debug++
			case 'V':
				o.version = true
			case 'h':
				o.help = true
			case 'g', 'n', 'q', 'T', 'p', 'i', 'm', 'W', 'B', 'X':
				// Asterisk flags with no meaning here: accepted so scripts keep working.
			case 'x', 'C':
				val := a[j+1:]
				if val == "" {
					if i+1 >= len(args) {
						return nil, fmt.Errorf("option -%c needs an argument", c)
					}
					i++
					val = args[i]
				}
				if c == 'x' {
					o.exec, o.hasExec, o.remote = val, true, true
				} else {
					o.confFile = val
				}
				j = len(a)
			default:
				return nil, fmt.Errorf("unknown option -%c", c)
			}
		}
	}
	return o, nil
}

const usage = `Usage: pleiades [-f|-c|-r|-x "command"] [-C asterisk.conf] [-v...] [-d...] [-V]
  -f          run in the foreground
  -c          run in the foreground with a console (implies -f)
  -r          connect a remote console to the running server; when the server goes
              away it says so at once and tries to reconnect for 30 seconds
  -x "cmd"    run one command on the running server (implies -r), print its output
  --timeout=N seconds -r waits to connect, and -x to connect and get its answer
              (default 30; 0: no limit; a command that streams, such as console dial,
              runs as long as it needs)
  -C file     use this asterisk.conf (default /etc/pleiades/asterisk.conf if it exists,
              else built-in defaults with state under $XDG_STATE_HOME/pleiades or ./var/pleiades)
  -v          raise the verbose level (repeat: -vvv)
  -d          raise the debug level (repeat: -ddd)
  -V          print the version and exit
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseArgs(args)
	if err != nil {
		fmt.Fprintf(stderr, "pleiades: %s\n%s", err, usage)
		return 2
	}
	if o.help {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if o.version {
		fmt.Fprintf(stdout, "Pleiades %s\n", core.Version)
		return 0
	}
	confFile := o.confFile
	if confFile == "" {
		if _, err := os.Stat("/etc/pleiades/asterisk.conf"); err == nil {
			confFile = "/etc/pleiades/asterisk.conf"
		}
	}
	st, err := core.LoadSettings(confFile, core.DefaultDataDir())
	if err != nil {
		fmt.Fprintf(stderr, "pleiades: %s\n", err)
		return 1
	}
	switch {
	case o.remote:
		return remote(st, o, stdout, stderr)
	case o.foreground:
		return serve(st, o, stdout, stderr)
	default:
		return daemonize(st, args, stdout, stderr)
	}
}

// serve runs the server in this process until it is stopped; a restart executes the binary
// again in this process.
func serve(st *core.Settings, o *options, stdout, stderr io.Writer) int {
	if err := st.ResolveEID(); err != nil {
		fmt.Fprintf(stderr, "pleiades: %s\n", err)
		return 1
	}
	st.Verbose += o.verbose
	st.Debug += o.debug
	if os.Getenv("GOGC") == "" {
		// A PBX core's live heap is small and its garbage comes from every SIP request:
		// the collector runs 4× less often than Go's default for a few MB more
		// (docs/performance.md, "SIP REGISTER"). GOGC in the environment still decides.
		debug.SetGCPercent(400)
	}
	// A CPU profile (for `go tool pprof`) and an execution trace (for `go tool trace`: where a
	// call waited, goroutine by goroutine) of the whole run (docs/performance.md).
	for _, r := range []struct {
		env   string
		start func(io.Writer) error
		stop  func()
	}{{"PLEIADES_CPUPROFILE", pprof.StartCPUProfile, pprof.StopCPUProfile}, {"PLEIADES_TRACE", trace.Start, trace.Stop}} {
		if f := os.Getenv(r.env); f != "" {
			stop, err := startRecording(f, r.start, r.stop)
			if err != nil {
				fmt.Fprintf(stderr, "pleiades: %s: %s\n", r.env, err)
				return 1
			}
			defer stop()
		}
	}
	lg := logger.New()
	srv := core.New(st, lg)
	// Until the console (or nothing, for -f) takes over, startup messages go to stderr.
	_, detachStartup := lg.AttachConsole(st.Verbose, func(line string) { io.WriteString(stderr, line) })
	ctx := context.Background()
	if err := srv.Start(ctx, core.Modules()); err != nil {
		detachStartup()
		fmt.Fprintf(stderr, "pleiades: %s\n", err)
		return 1
	}
	if o.console {
		detachStartup()
	}

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		for sig := range sigs {
			if sig == syscall.SIGHUP {
				srv.Reload(ctx, "")
				continue
			}
			// As Asterisk: SIGTERM and SIGINT are "core stop now".
			srv.Stop(core.StopNow, false)
		}
	}()
	closeConsole := func() {}
	if o.console {
		closeConsole = localConsole(srv, st, stdout)
	}
	<-srv.Stopping()
	srv.Shutdown(ctx)
	closeConsole()
	if !o.console {
		detachStartup()
	}
	if srv.Restarting() {
		signal.Stop(sigs)
		self, err := os.Executable()
		if err == nil {
			err = syscall.Exec(self, os.Args, os.Environ())
		}
		fmt.Fprintf(stderr, "pleiades: restart failed: %s\n", err)
		return 1
	}
	return 0
}

// startRecording runs start (a CPU profile, an execution trace) into file until the
// returned function is called.
func startRecording(file string, start func(io.Writer) error, stop func()) (func(), error) {
	f, err := os.Create(file)
	if err != nil {
		return nil, err
	}
	if err := start(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { stop(); f.Close() }, nil
}

// localConsole runs the "*CLI>" prompt on this terminal; the returned function saves the
// history and gives the terminal back.
func localConsole(srv *core.Server, st *core.Settings, stdout io.Writer) (closeConsole func()) {
	ln := liner.NewLiner()
	ln.SetCtrlCAborts(true)
	ln.SetTabCompletionStyle(liner.TabPrints)
	ln.SetWordCompleter(func(line string, pos int) (string, []string, string) {
		head := line[:pos]
		i := strings.LastIndexByte(head, ' ') + 1
		cands := srv.CLI.Complete(head)
		for k := range cands {
			cands[k] += " "
		}
		return head[:i], cands, line[pos:]
	})
	session, detach := srv.Logger.AttachConsole(st.Verbose, func(line string) { io.WriteString(stdout, line) })
	hist := filepath.Join(st.Dirs.VarLib, ".pleiades_history")
	if f, err := os.Open(hist); err == nil {
		ln.ReadHistory(f)
		f.Close()
	}
	var once sync.Once
	closeConsole = func() {
		once.Do(func() {
			detach()
			if f, err := os.Create(hist); err == nil {
				ln.WriteHistory(f)
				f.Close()
			}
			ln.Close()
		})
	}
	go func() {
		for {
			line, err := ln.Prompt("*CLI> ")
			if err != nil {
				if errors.Is(err, liner.ErrPromptAborted) {
					continue
				}
				// End of input on the console: stop the server as Asterisk does on ^D with -c.
				srv.Stop(core.StopNow, false)
				return
			}
			line = strings.TrimSpace(line)
			if line == "" {
				continue
			}
			ln.AppendHistory(line)
			if line == "quit" || line == "exit" {
				srv.Stop(core.StopNow, false)
				return
			}
			srv.CLI.Run(context.Background(), line, stdout, session)
		}
	}()
	return closeConsole
}

// remote is -r and -x: a console on a running server.
func remote(st *core.Settings, o *options, stdout, stderr io.Writer) int {
	path := st.CtlPath()
	cl, err := cli.DialTimeout(path, o.timeout)
	if err != nil {
		if errors.Is(err, cli.ErrTimeout) {
			fmt.Fprintf(stderr, "pleiades: %s (is the server stuck? --timeout=0 waits without limit)\n", err)
		} else {
			fmt.Fprintf(stderr, "Unable to connect to remote Pleiades (does %s exist?)\n", path)
		}
		return 1
	}
	if o.hasExec {
		defer cl.Close()
		cl.Timeout = o.timeout
		if o.verbose > 0 {
			cl.OnLog = func(line string) { io.WriteString(stdout, line) }
			cl.SetVerbose(o.verbose)
		}
		status, err := cl.Run(o.exec, stdout)
		if err != nil {
			if errors.Is(err, cli.ErrTimeout) {
				fmt.Fprintf(stderr, "pleiades: %s; the command may still be running (--timeout=0 waits without limit)\n", err)
			} else {
				fmt.Fprintf(stderr, "pleiades: %s\n", err)
			}
			return 1
		}
		return status
	}
	verbose := st.Verbose
	if o.verbose > 0 {
		verbose = o.verbose
	}
	rc := &remoteConsole{path: path, timeout: o.timeout, verbose: verbose, stdout: stdout, stderr: stderr,
		changed: make(chan struct{}), stopped: make(chan struct{})}
	ln := liner.NewLiner()
	defer ln.Close()
	rc.quit = func(code int) {
		ln.Close()
		os.Exit(code)
	}
	rc.attach(cl)
	defer rc.close()
	ln.SetCtrlCAborts(true)
	ln.SetTabCompletionStyle(liner.TabPrints)
	ln.SetWordCompleter(func(line string, pos int) (string, []string, string) {
		head := line[:pos]
		i := strings.LastIndexByte(head, ' ') + 1
		cl := rc.current()
		if cl == nil {
			return head[:i], nil, line[pos:]
		}
		cands, _ := cl.Complete(head)
		for k := range cands {
			cands[k] += " "
		}
		return head[:i], cands, line[pos:]
	})
	for {
		prompt := "*CLI> "
		if cl := rc.current(); cl != nil {
			prompt = cl.System + prompt
		}
		line, err := ln.Prompt(prompt)
		if err != nil {
			if errors.Is(err, liner.ErrPromptAborted) {
				continue
			}
			return 0
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		ln.AppendHistory(line)
		if line == "quit" || line == "exit" {
			return 0
		}
		// While it reconnects, a command waits for the server (or for the console to quit).
		// A server that goes away during the command is reported by the watcher.
		rc.wait().Run(line, stdout)
	}
}

// reconnectFor is how long a remote console tries to reconnect to a server that went away
// (Asterisk's -R: 30 seconds, 20 tries a second).
const (
	reconnectFor   = 30 * time.Second
	reconnectEvery = 50 * time.Millisecond
)

// remoteConsole is the connection of `pleiades -r`, replaced when it reconnects.
type remoteConsole struct {
	path           string
	timeout        time.Duration
	verbose        int
	stdout, stderr io.Writer
	quit           func(code int)

	mu      sync.Mutex
	cl      *cli.Client   // nil while reconnecting
	changed chan struct{} // closed (and replaced) when cl is set
	closing bool
	stopped chan struct{} // closed by close: the watcher gives up
}

// attach makes cl the connection: welcome line, log lines at the console's level, and a
// watcher that notices at once when the server goes away.
func (rc *remoteConsole) attach(cl *cli.Client) {
	fmt.Fprintf(rc.stdout, "Connected to %s currently running on %s (pid = %d)\n", cl.Version, cl.System, cl.PID)
	cl.OnLog = func(line string) { io.WriteString(rc.stdout, line) }
	cl.SetVerbose(rc.verbose)
	rc.mu.Lock()
	rc.cl = cl
	close(rc.changed)
	rc.changed = make(chan struct{})
	rc.mu.Unlock()
	go rc.watch(cl)
}

func (rc *remoteConsole) current() *cli.Client {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.cl
}

// wait returns the connection, waiting while the console reconnects.
func (rc *remoteConsole) wait() *cli.Client {
	for {
		rc.mu.Lock()
		cl, changed := rc.cl, rc.changed
		rc.mu.Unlock()
		if cl != nil {
			return cl
		}
		<-changed
	}
}

func (rc *remoteConsole) close() {
	rc.mu.Lock()
	rc.closing = true
	cl := rc.cl
	rc.mu.Unlock()
	close(rc.stopped)
	if cl != nil {
		cl.Close()
	}
}

// watch waits for cl's server to go away, says so at once and reconnects, as Asterisk's
// remote console does with -R.
func (rc *remoteConsole) watch(cl *cli.Client) {
	<-cl.Done()
	rc.mu.Lock()
	if rc.closing {
		rc.mu.Unlock()
		return
	}
	rc.cl = nil
	rc.mu.Unlock()
	cl.Close()
	fmt.Fprint(rc.stderr, "\nDisconnected from Pleiades server\n")
	fmt.Fprintf(rc.stderr, "Attempting to reconnect for %d seconds\n", int(reconnectFor/time.Second))
	start := time.Now()
	for time.Since(start) < reconnectFor {
		dial := rc.timeout
		if dial <= 0 || dial > time.Second {
			dial = time.Second
		}
		if ncl, err := cli.DialTimeout(rc.path, dial); err == nil {
			fmt.Fprintf(rc.stderr, "Reconnect succeeded after %.3f seconds\n", time.Since(start).Seconds())
			rc.attach(ncl)
			return
		}
		select {
		case <-rc.stopped:
			return
		case <-time.After(reconnectEvery):
		}
	}
	fmt.Fprintf(rc.stderr, "Failed to reconnect for %d seconds.  Quitting.\n", int(reconnectFor/time.Second))
	rc.quit(1)
}

// daemonize starts "pleiades -f" detached from this terminal and returns once that server
// answers on its control socket. It refuses to start when a server already runs with the
// same run directory (touching none of its files), and when the new server exits during
// its start it prints that server's output and exits with its status.
func daemonize(st *core.Settings, args []string, stdout, stderr io.Writer) int {
	if err := core.CheckNotRunning(st); err != nil {
		fmt.Fprintf(stderr, "pleiades: %s\n", err)
		return 1
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "pleiades: %s\n", err)
		return 1
	}
	if err := os.MkdirAll(st.Dirs.Log, 0o755); err != nil {
		fmt.Fprintf(stderr, "pleiades: %s\n", err)
		return 1
	}
	// A new file, renamed over startup.log once the server runs: no other server's output
	// is ever truncated.
	out, err := os.CreateTemp(st.Dirs.Log, ".startup.log")
	if err != nil {
		fmt.Fprintf(stderr, "pleiades: %s\n", err)
		return 1
	}
	defer out.Close()
	out.Chmod(0o644)
	logPath := filepath.Join(st.Dirs.Log, "startup.log")
	cmd := exec.Command(self, append([]string{"-f"}, args...)...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		os.Remove(out.Name())
		fmt.Fprintf(stderr, "pleiades: %s\n", err)
		return 1
	}
	if err := os.Rename(out.Name(), logPath); err != nil {
		logPath = out.Name()
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(DefaultTimeout)
	for {
		select {
		case err := <-exited:
			// Read through this start's own file, wherever its name now is.
			b, _ := io.ReadAll(io.NewSectionReader(out, 0, 1<<24))
			code := 1
			var ee *exec.ExitError
			if errors.As(err, &ee) && ee.ExitCode() > 0 {
				code = ee.ExitCode()
			}
			status := "exit status 0"
			if err != nil {
				status = err.Error()
			}
			fmt.Fprintf(stderr, "pleiades: the server exited during start (%s):\n%s", status, b)
			return code
		case <-deadline:
			fmt.Fprintf(stderr, "pleiades: the server (pid %d) did not answer on %s within %v; it may still be starting (see %s)\n",
				cmd.Process.Pid, st.CtlPath(), DefaultTimeout, logPath)
			return 1
		case <-time.After(50 * time.Millisecond):
			// Only this server's answer counts: its greeting names its pid.
			if pid, ok := cli.Answers(st.CtlPath(), time.Second); ok && pid == cmd.Process.Pid {
				fmt.Fprintf(stdout, "Pleiades started (pid %d); its console output goes to %s\n", cmd.Process.Pid, logPath)
				return 0
			}
		}
	}
}
