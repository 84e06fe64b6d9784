// Command pleiades is the Pleiades server and its remote console.
//
//	pleiades -f            run in the foreground
//	pleiades -c            run in the foreground with a console on this terminal
//	pleiades               start a server in the background and return once it answers
//	pleiades -r            remote console to the running server
//	pleiades -rx "cmd"     run one command on the running server, print its output
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
	"strings"
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
}

func parseArgs(args []string) (*options, error) {
	o := &options{}
	for i := 0; i < len(args); i++ {
		a := args[i]
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
  -r          connect a remote console to the running server
  -x "cmd"    run one command on the running server (implies -r), print its output
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

// serve runs the server in this process until it is stopped.
func serve(st *core.Settings, o *options, stdout, stderr io.Writer) int {
	if err := st.ResolveEID(); err != nil {
		fmt.Fprintf(stderr, "pleiades: %s\n", err)
		return 1
	}
	st.Verbose += o.verbose
	st.Debug += o.debug
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
			srv.Stop("gracefully")
		}
	}()
	if o.console {
		go localConsole(srv, st, stdout)
	}
	<-srv.Stopping()
	srv.Shutdown(ctx)
	if !o.console {
		detachStartup()
	}
	return 0
}

// localConsole runs the "*CLI>" prompt on this terminal.
func localConsole(srv *core.Server, st *core.Settings, stdout io.Writer) {
	ln := liner.NewLiner()
	defer ln.Close()
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
	defer detach()
	hist := filepath.Join(st.Dirs.VarLib, ".pleiades_history")
	if f, err := os.Open(hist); err == nil {
		ln.ReadHistory(f)
		f.Close()
	}
	defer func() {
		if f, err := os.Create(hist); err == nil {
			ln.WriteHistory(f)
			f.Close()
		}
	}()
	for {
		line, err := ln.Prompt("*CLI> ")
		if err != nil {
			if errors.Is(err, liner.ErrPromptAborted) {
				continue
			}
			// End of input on the console: stop the server as Asterisk does on ^D with -c.
			srv.Stop("gracefully")
			return
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		ln.AppendHistory(line)
		if line == "quit" || line == "exit" {
			srv.Stop("gracefully")
			return
		}
		srv.CLI.Run(context.Background(), line, stdout, session)
	}
}

// remote is -r and -x: a console on a running server.
func remote(st *core.Settings, o *options, stdout, stderr io.Writer) int {
	path := st.CtlPath()
	cl, err := cli.Dial(path)
	if err != nil {
		fmt.Fprintf(stderr, "Unable to connect to remote Pleiades (does %s exist?)\n", path)
		return 1
	}
	defer cl.Close()
	if o.hasExec {
		if o.verbose > 0 {
			cl.OnLog = func(line string) { io.WriteString(stdout, line) }
			cl.SetVerbose(o.verbose)
		}
		status, err := cl.Run(o.exec, stdout)
		if err != nil {
			fmt.Fprintf(stderr, "pleiades: %s\n", err)
			return 1
		}
		return status
	}
	version, system := cl.Version, cl.System
	fmt.Fprintf(stdout, "Connected to %s currently running on %s\n", version, system)
	verbose := st.Verbose
	if o.verbose > 0 {
		verbose = o.verbose
	}
	cl.OnLog = func(line string) { io.WriteString(stdout, line) }
	cl.SetVerbose(verbose)

	ln := liner.NewLiner()
	defer ln.Close()
	ln.SetCtrlCAborts(true)
	ln.SetTabCompletionStyle(liner.TabPrints)
	ln.SetWordCompleter(func(line string, pos int) (string, []string, string) {
		head := line[:pos]
		i := strings.LastIndexByte(head, ' ') + 1
		cands, _ := cl.Complete(head)
		for k := range cands {
			cands[k] += " "
		}
		return head[:i], cands, line[pos:]
	})
	prompt := system + "*CLI> "
	for {
		select {
		case <-cl.Done():
			fmt.Fprintln(stdout, "\nDisconnected from Pleiades server")
			return 1
		default:
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
		if _, err := cl.Run(line, stdout); err != nil {
			fmt.Fprintln(stdout, "\nDisconnected from Pleiades server")
			return 1
		}
	}
}

// daemonize starts "pleiades -f" detached from this terminal and returns once its control
// socket answers.
func daemonize(st *core.Settings, args []string, stdout, stderr io.Writer) int {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "pleiades: %s\n", err)
		return 1
	}
	if err := os.MkdirAll(st.Dirs.Log, 0o755); err != nil {
		fmt.Fprintf(stderr, "pleiades: %s\n", err)
		return 1
	}
	out, err := os.OpenFile(filepath.Join(st.Dirs.Log, "startup.log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		fmt.Fprintf(stderr, "pleiades: %s\n", err)
		return 1
	}
	defer out.Close()
	cmd := exec.Command(self, append([]string{"-f"}, args...)...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "pleiades: %s\n", err)
		return 1
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case err := <-exited:
			b, _ := os.ReadFile(out.Name())
			fmt.Fprintf(stderr, "pleiades: the server exited during start (%v):\n%s", err, b)
			return 1
		case <-deadline:
			fmt.Fprintf(stderr, "pleiades: the server did not answer on %s within 30 s\n", st.CtlPath())
			return 1
		case <-time.After(50 * time.Millisecond):
			if cl, err := cli.Dial(st.CtlPath()); err == nil {
				cl.Close()
				fmt.Fprintf(stdout, "Pleiades started (pid %d)\n", cmd.Process.Pid)
				return 0
			}
		}
	}
}
