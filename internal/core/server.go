// Package core assembles the Pleiades server: settings from asterisk.conf, the Entity ID, the
// logger, the CLI and its control socket, and the modules, loaded in dependency order (the one
// list in modules.go), each with Load, Reload and Unload.
//
// Reload semantics: "reload" asks every module to re-read its configuration. A module parses
// and checks the new configuration completely before applying any of it, so a module whose new
// configuration fails keeps running on the old one; the error (file:line) is printed to the
// CLI that asked and logged.
//
// The run directory (rundir.go): created with mode 0750 when missing, refused when group or
// others may write to it or another user owns it; one server per run directory, held by a
// lock from the start of Start (before any module loads or any other file is touched) to
// the end of Shutdown; the pid file is written without following a symbolic link.
//
// Module names (modules.go): every module also answers to the names of the Asterisk 20
// modules it stands in for (asteriskModules: chan_sip.so, http, extconfig,
// res_config_pgsql.so, ...). "module show" lists those names with Asterisk's description,
// support level and columns (and a Pleiades module under its own name when no Asterisk name
// is its own); a realtime driver's modules are "Running" when Asterisk would have loaded
// them (realtime.Engine.Loaded). "module reload NAME" prints Asterisk's line for each name;
// a name Asterisk cannot reload is not reloaded ("does not support reloads"), any other
// reloads the Pleiades module behind it.
//
// Stopping (stop.go), as Asterisk's commands: "core stop now" (and SIGTERM, SIGINT)
// refuses new calls, hangs up the active ones (the dialplan's background channels and the
// CLI commands still running are cancelled) and stops; "core stop gracefully" refuses new
// calls and stops once the active ones have ended; "core stop when convenient" stops once no
// call is active, new calls accepted meanwhile; "core restart ..." does the same and then
// the binary executes itself again (same pid, same arguments); "core abort shutdown" cancels
// a stop that waits. The less patient request wins. Calls are counted by CallCounters: today
// the dialplan engine (console dial and originated channels), which Start adds; a channel
// driver will add itself. Unlike Asterisk, "now" does not wait up to 15 s for channels to die
// before it stops: the dialplan's channels end when their context is cancelled.
package core

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/ami"
	"github.com/pleiades-pbx/pleiades/internal/astdb"
	"github.com/pleiades-pbx/pleiades/internal/channel"
	"github.com/pleiades-pbx/pleiades/internal/cli"
	"github.com/pleiades-pbx/pleiades/internal/cluster"
	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/devstate"
	"github.com/pleiades-pbx/pleiades/internal/dialplan"
	"github.com/pleiades-pbx/pleiades/internal/dialplan/rtswitch"
	"github.com/pleiades-pbx/pleiades/internal/event"
	"github.com/pleiades-pbx/pleiades/internal/hint"
	"github.com/pleiades-pbx/pleiades/internal/httpapi"
	"github.com/pleiades-pbx/pleiades/internal/logger"
	"github.com/pleiades-pbx/pleiades/internal/media"
	"github.com/pleiades-pbx/pleiades/internal/moh"
	"github.com/pleiades-pbx/pleiades/internal/mwi"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
	"github.com/pleiades-pbx/pleiades/internal/voicemail"
)

// Version is the Pleiades version, set at build time with -ldflags "-X ...core.Version=...".
var Version = "0.1.0-dev"

// Module is one part of the server. Load runs once at start in list order, Reload on every
// reload of the module, Unload at stop in reverse order.
type Module interface {
	// Name is what "module reload NAME" and "reload NAME" take (e.g. "logger", "res_realtime").
	Name() string
	// Description is the one line "module show" prints.
	Description() string
	Load(ctx context.Context, s *Server) error
	// Reload re-reads the configuration; on error the running configuration stays.
	Reload(ctx context.Context, s *Server) error
	Unload(ctx context.Context) error
}

// Server is one running Pleiades.
type Server struct {
	Settings *Settings
	Logger   *logger.Logger
	Log      *slog.Logger
	CLI      *cli.Registry
	// DB is the internal database, open once the astdb module has loaded.
	DB *astdb.DB

	// Static, when set (by the realtime module), is asked for every configuration file first.
	Static conf.StaticSource
	// Realtime is the Realtime engine, set once res_realtime has loaded.
	Realtime *realtime.Engine
	// The state core, set once res_state has loaded.
	Bus      *event.Bus
	DevState *devstate.Engine
	MWI      *mwi.Engine
	Hints    *hint.Engine
	// Voicemail is app_voicemail, set once it has loaded (before pbx_config, which registers
	// its applications, and manager, which registers its actions).
	Voicemail *voicemail.Engine
	// Dialplan is the dialplan engine, set once pbx_config has loaded.
	Dialplan *dialplan.Engine
	// MOH plays music on hold, set once res_musiconhold has loaded (Queue's callers wait
	// with MOH.Play).
	MOH *moh.Registry
	// RTSwitch is the Realtime switch, set once pbx_config has loaded.
	RTSwitch *rtswitch.Switch
	// Cluster shares state with the other servers, set once res_cluster has loaded.
	Cluster *cluster.Cluster
	// HTTP is the HTTP server, set once res_http has loaded.
	HTTP *httpapi.Server
	// AMI is the Manager interface, set once manager has loaded.
	AMI *ami.Server
	// Channels holds the server's channels and channel drivers, Media is the RTP engine of
	// rtp.conf; whichever module needs them first makes them (chan_sip's does when nil).
	Channels *channel.Registry
	Media    *media.Engine
	// CallHandler runs an incoming call's channel (the dialplan's module sets it); while it
	// is nil an incoming call is refused as an unknown extension (404).
	CallHandler func(*channel.Channel)
	// CallDeliver runs an incoming call another cluster member sent for a phone registered
	// here: Dial(dest) without the dialplan (the dialplan's module sets it); while it is nil
	// such a call is refused as an unknown extension (404).
	CallDeliver func(ch *channel.Channel, dest string)
	// AMIStats and SIPStats report the Manager interface and the registrar for /metrics
	// (set by their modules).
	AMIStats func() httpapi.AMIStats
	SIPStats func() httpapi.SIPStats

	// Started is when Start began; it is set before anything reads it.
	Started    time.Time
	lastReload atomic.Int64 // UnixNano of the last reload (or of the start)

	reloadMu sync.Mutex // serialises reloads
	modules  []Module
	loaded   []Module
	ctl      *cli.Server
	lock     *os.File // the run directory's lock, held from Start to Shutdown
	pidFile  bool     // the pid file is ours to remove

	stop stopper
}

// New makes a server from settings; nothing runs until Start.
func New(st *Settings, lg *logger.Logger) *Server {
	s := &Server{
		Settings: st,
		Logger:   lg,
		Log:      lg.Slog(),
		CLI:      cli.NewRegistry(),
		stop:     stopper{stopped: make(chan struct{})},
	}
	lg.SetVerbose(st.Verbose)
	lg.SetDebug(st.Debug)
	return s
}

// LoadConfig reads a configuration file of the configuration directory (or, when static mode
// maps it, from the database). A missing file gives (nil, nil): the module runs on defaults.
func (s *Server) LoadConfig(ctx context.Context, name string) (*conf.Config, error) {
	opts := conf.Options{ExecIncludes: s.Settings.ExecIncludes, Dir: s.Settings.Dirs.Etc}
	base := filepath.Base(name)
	if s.Static != nil && !realtime.NeverStatic(base) {
		cfg, mapped, err := s.Static.LoadStatic(ctx, base)
		if err != nil {
			return nil, err
		}
		if mapped {
			return cfg, nil
		}
	}
	return s.loadFileOpts(ctx, name, opts)
}

// loadFile reads a configuration file from the configuration directory only (never from a
// database): for asterisk.conf, extconfig.conf, logger.conf and the realtime drivers' own files.
func (s *Server) loadFile(name string) (*conf.Config, error) {
	return s.loadFileOpts(context.Background(), name, conf.Options{ExecIncludes: s.Settings.ExecIncludes, Dir: s.Settings.Dirs.Etc})
}

func (s *Server) loadFileOpts(ctx context.Context, name string, opts conf.Options) (*conf.Config, error) {
	path := s.Settings.ConfPath(name)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	cfg, err := conf.LoadContext(ctx, path, opts)
	if err != nil {
		return nil, err
	}
	for _, w := range cfg.Warnings {
		s.Log.Warn(w.Error())
	}
	return cfg, nil
}

// LastReload returns when the configuration was last reloaded (the start time until then).
func (s *Server) LastReload() time.Time { return time.Unix(0, s.lastReload.Load()) }

// Start creates the directories, takes the run directory (see rundir.go), loads every module
// in order and opens the control socket. It refuses to start, before it touches any other
// file, when another server runs with the same run directory. A module that fails to load
// stops the start: the error names the module.
func (s *Server) Start(ctx context.Context, modules []Module) error {
	s.Started = time.Now()
	s.lastReload.Store(s.Started.UnixNano())
	if err := s.takeRunDir(); err != nil {
		return err
	}
	d := s.Settings.Dirs
	dirs := []string{d.Log, d.DB, d.VarLib, d.Spool}
	if s.Settings.ConfigFile == "" {
		// Built-in defaults: the configuration directory is where the user adds files.
		dirs = append(dirs, d.Etc)
	}
	for _, dir := range dirs {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			s.releaseRunDir()
			return fmt.Errorf("creating %s: %w", dir, err)
		}
	}
	for _, n := range s.Settings.Notices {
		s.Log.Info(n)
	}
	s.registerCommands()
	s.modules = modules
	for _, m := range modules {
		if err := m.Load(ctx, s); err != nil {
			s.Unload(ctx)
			s.releaseRunDir()
			return fmt.Errorf("%s: %w", m.Name(), err)
		}
		s.loaded = append(s.loaded, m)
		s.Log.Log(ctx, logger.Verbose(2), fmt.Sprintf("Loaded %s => (%s)", m.Name(), m.Description()))
	}
	if s.Dialplan != nil {
		// The dialplan's console and originated channels are the calls a stop waits for.
		s.AddCallCounter(s.Dialplan)
	}
	s.ctl = &cli.Server{
		Registry: s.CLI,
		Log:      s.Log,
		Hello:    func() string { return "Pleiades " + Version + "\n" + s.Settings.SystemName },
		Attach: func(verbose int, write func(string)) (cli.Session, func()) {
			return s.Logger.AttachConsole(verbose, write)
		},
	}
	if err := s.ctl.Listen(s.Settings.CtlPath()); err != nil {
		s.Unload(ctx)
		s.releaseRunDir()
		return fmt.Errorf("control socket %s: %w", s.Settings.CtlPath(), err)
	}
	s.Log.Info(fmt.Sprintf("Pleiades %s ready (Entity ID %s, control socket %s)", Version, s.Settings.EID, s.Settings.CtlPath()))
	return nil
}

// Module returns the loaded module a name means, or nil: a Pleiades module's own name, or the
// name of an Asterisk module it answers for (see asteriskModules; ".so" and case ignored).
func (s *Server) Module(name string) Module {
	m, _ := s.resolve(name)
	return m
}

// Modules returns the loaded modules in load order.
func (s *Server) Modules() []Module { return append([]Module(nil), s.loaded...) }

// Errors of Reload for a named module.
var (
	// ErrNoSuchModule: no loaded module answers to the name.
	ErrNoSuchModule = errors.New("no such module")
	// ErrReloadNotSupported: the name is an Asterisk module that cannot be reloaded in
	// Asterisk (res_realtime.so, func_devstate.so, ...); nothing is reloaded.
	ErrReloadNotSupported = errors.New("the module does not support reloads")
)

// Reload reloads the named module (see Module), or every module when name is "". Every
// module is tried; the errors of those that failed (and kept their running configuration)
// are returned joined.
func (s *Server) Reload(ctx context.Context, name string) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	var targets []Module
	if name == "" {
		targets = s.loaded
	} else {
		m, alias := s.resolve(name)
		switch {
		case m == nil:
			return fmt.Errorf("%w: no module named '%s' is loaded (see 'module show')", ErrNoSuchModule, name)
		case alias != nil && !alias.reloads:
			return fmt.Errorf("%w: '%s' (Asterisk's %s cannot be reloaded; 'module reload %s' reloads what it stands for)", ErrReloadNotSupported, name, alias.name, m.Name())
		}
		targets = []Module{m}
	}
	var errs []error
	for _, m := range targets {
		if err := m.Reload(ctx, s); err != nil {
			s.Log.Error(fmt.Sprintf("Reload of %s failed; keeping the running configuration: %s", m.Name(), oneLine(err)))
			errs = append(errs, fmt.Errorf("%s: reload failed, running configuration kept:\n%w", m.Name(), err))
			continue
		}
		s.Log.Log(ctx, logger.Verbose(3), "Reloading module '"+m.Name()+"' ("+m.Description()+")")
	}
	s.lastReload.Store(time.Now().UnixNano())
	return errors.Join(errs...)
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }

// Unload unloads every loaded module in reverse order.
func (s *Server) Unload(ctx context.Context) {
	for i := len(s.loaded) - 1; i >= 0; i-- {
		if err := s.loaded[i].Unload(ctx); err != nil {
			s.Log.Warn(fmt.Sprintf("Unloading %s: %s", s.loaded[i].Name(), err))
		}
	}
	s.loaded = nil
}

// takeRunDir creates and checks the run directory, takes its lock and writes the pid file.
func (s *Server) takeRunDir() error {
	run := s.Settings.Dirs.Run
	if err := os.MkdirAll(run, RunDirMode); err != nil {
		return fmt.Errorf("creating %s: %w", run, err)
	}
	if err := checkRunDir(run); err != nil {
		return err
	}
	lock, err := lockRunDir(s.Settings)
	if err != nil {
		return err
	}
	s.lock = lock
	if pid, ok := cli.Answers(s.Settings.CtlPath(), 200*time.Millisecond); ok {
		// A server that does not lock (an older one) answers on the socket.
		s.releaseRunDir()
		return fmt.Errorf("another Pleiades server (pid %d) is already running on %s", pid, s.Settings.CtlPath())
	}
	if err := writePIDFile(s.Settings.PIDPath()); err != nil {
		s.releaseRunDir()
		return fmt.Errorf("pid file %s: %w", s.Settings.PIDPath(), err)
	}
	s.pidFile = true
	return nil
}

// releaseRunDir removes the pid file and lets the run directory go.
func (s *Server) releaseRunDir() {
	if s.pidFile {
		os.Remove(s.Settings.PIDPath())
		s.pidFile = false
	}
	if s.lock != nil {
		s.lock.Close()
		s.lock = nil
	}
}

// Shutdown closes the control socket (hanging up the commands still running), unloads the
// modules and releases the run directory.
func (s *Server) Shutdown(ctx context.Context) {
	s.Log.Log(ctx, logger.Verbose(1), "Executing last minute cleanups")
	if s.ctl != nil {
		s.ctl.Close()
	}
	s.Unload(ctx)
	s.releaseRunDir()
	s.Logger.Close()
}
