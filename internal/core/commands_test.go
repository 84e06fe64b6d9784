package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pleiades-pbx/pleiades/internal/cli"
	"github.com/pleiades-pbx/pleiades/test/golden"
)

// inert is a real module (its name and description) that loads and reloads nothing, so that
// "module show" and "module reload" can be tested without servers on ports.
type inert struct{ Module }

func (inert) Load(context.Context, *Server) error   { return nil }
func (inert) Reload(context.Context, *Server) error { return nil }
func (inert) Unload(context.Context) error          { return nil }

// countingCalls is a channel layer that also counts the calls it processed.
type countingCalls struct {
	fakeCalls
	processed int
}

func (c *countingCalls) ProcessedCalls() int { return c.processed }

// cliServer starts a server with every module of Modules(), the realtime one real (on the
// given configuration files) and the others inert.
func cliServer(t *testing.T, files map[string]string) *Server {
	t.Helper()
	s := testServer(t)
	s.Settings.ConfigFile = filepath.Join(s.Settings.Dirs.Etc, "asterisk.conf")
	if err := os.MkdirAll(s.Settings.Dirs.Etc, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		writeConf(t, s, name, content)
	}
	var mods []Module
	for _, m := range Modules() {
		if _, ok := m.(*realtimeModule); !ok {
			m = inert{m}
		}
		mods = append(mods, m)
	}
	if err := s.Start(context.Background(), mods); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return s
}

func writeConf(t *testing.T, s *Server, name, content string) {
	t.Helper()
	if err := os.WriteFile(s.Settings.ConfPath(name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// transcript runs lines and returns "> line", the output and, for a failed run, its error.
func transcript(t *testing.T, s *Server, lines ...string) string {
	t.Helper()
	var out bytes.Buffer
	for _, line := range lines {
		fmt.Fprintf(&out, "> %s\n", line)
		if err := s.CLI.Run(context.Background(), line, &out, nil); err != nil {
			fmt.Fprintf(&out, "[%v]\n", err)
		}
	}
	return out.String()
}

// The core commands monitoring tools run, with Asterisk 20's output (main/cli.c,
// main/loader.c, main/config.c): module names with and without ".so", Asterisk's names for
// Pleiades' modules, the realtime engines that Asterisk would have loaded, call counters.
func TestCoreCommandsGolden(t *testing.T) {
	dir := t.TempDir()
	s := cliServer(t, map[string]string{
		"extconfig.conf": "[settings]\n" +
			"sippeers => pgsql,asterisk,sippeers\n" +
			"extensions.conf => sqlite3,asterisk,ast_config\n" +
			"voicemail => sqlite3,asterisk,voicemail\n" +
			"queues => pgsql,asterisk\n",
		"res_pgsql.conf":          "[general]\ndbhost=127.0.0.1\ndbport=1\ndbname=pbx\ndbuser=asterisk\n",
		"res_config_sqlite3.conf": "[asterisk]\ndbfile=" + filepath.Join(dir, "rt.sqlite3") + "\n",
	})
	calls := &countingCalls{processed: 7}
	calls.active.Store(1)
	s.AddCallCounter(calls)
	got := transcript(t, s,
		"module show",
		"module show like chan_sip.so",
		"module show like res_config",
		"module reload chan_sip.so",
		"module reload chan_sip",
		"module reload http",
		"module reload manager res_config_pgsql.so",
		"module reload res_realtime.so",
		"module reload nosuch.so",
		"module reload res_config_odbc.so",
		"core show config mappings",
		"core reload",
		"core reload now",
		"core show channels count",
		"core show calls",
	)
	// res_odbc.conf appears: the ODBC engine and its modules load at the next reload.
	writeConf(t, s, "res_odbc.conf", "[asterisk]\nenabled => no\ndsn => asterisk\n")
	got += transcript(t, s,
		"module reload res_config_odbc.so",
		"module show like odbc",
		"core show config mappings",
	)
	golden.Check(t, "cli.golden", got)
}

func TestShowCallsUptime(t *testing.T) {
	s := cliServer(t, nil)
	for line, want := range map[string]string{
		"core show calls uptime":         `^0 active calls\n0 calls processed\nSystem uptime: (<1 second|1 second|\d+ seconds)\n$`,
		"core show calls uptime seconds": `^0 active calls\n0 calls processed\nSystem uptime: \d+\n$`,
		"core show calls seconds":        `^Usage: core show calls \[uptime \[seconds\]\]\n`,
	} {
		var out bytes.Buffer
		s.CLI.Run(context.Background(), line, &out, nil)
		if !regexp.MustCompile(want).MatchString(out.String()) {
			t.Errorf("%s:\n%s", line, out.String())
		}
	}
}

// "core show sysinfo" prints sysinfo(2) in Asterisk's layout (main/asterisk.c).
func TestSysinfo(t *testing.T) {
	var out bytes.Buffer
	writeSysinfo(&out, sysInfo{UptimeHours: 26, TotalRAM: 4030464, FreeRAM: 1048576, BufferRAM: 65536, TotalSwap: 2097148, FreeSwap: 2097000, Procs: 312})
	golden.Check(t, "sysinfo.golden", out.String())

	s := cliServer(t, nil)
	out.Reset()
	err := s.CLI.Run(context.Background(), "core show sysinfo", &out, nil)
	if _, rerr := readSysinfo(); rerr != nil {
		if !errors.Is(err, cli.ErrFailed) {
			t.Fatalf("without sysinfo(2): %v %q", err, out.String())
		}
		return
	}
	want := regexp.MustCompile(`^\nSystem Statistics\n-----------------\n  System Uptime:             \d+ hours\n  Total RAM:                 [1-9]\d* KiB\n  Free RAM:                  \d+ KiB\n  Buffer RAM:                \d+ KiB\n  Total Swap Space:          \d+ KiB\n  Free Swap Space:           \d+ KiB\n\n  Number of Processes:       [1-9]\d* \n\n$`)
	if err != nil || !want.MatchString(out.String()) {
		t.Fatalf("core show sysinfo: %v\n%q", err, out.String())
	}
}

// cdr_pgsql and cel_pgsql decline to load without their [global] (Asterisk), cel_odbc
// without a section on a known connection: "module show" says Not Running until the file is
// there and the module reloaded.
func TestModuleShowDeclinedBackends(t *testing.T) {
	s := testServer(t)
	s.Settings.ConfigFile = filepath.Join(s.Settings.Dirs.Etc, "asterisk.conf")
	if err := os.MkdirAll(s.Settings.Dirs.Etc, 0o755); err != nil {
		t.Fatal(err)
	}
	var mods []Module
	for _, m := range Modules() {
		switch m.(type) {
		case *realtimeModule, *cdrModule:
		default:
			m = inert{m}
		}
		mods = append(mods, m)
	}
	if err := s.Start(context.Background(), mods); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	status := func(name string) string {
		out := transcript(t, s, "module show like "+name)
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, name) {
				if strings.Contains(l, "Not Running") {
					return "Not Running"
				}
				if strings.Contains(l, "Running") {
					return "Running"
				}
				return l
			}
		}
		t.Fatalf("%s not listed:\n%s", name, out)
		return ""
	}
	for _, name := range []string{"cdr_pgsql.so", "cel_pgsql.so", "cel_odbc.so"} {
		if got := status(name); got != "Not Running" {
			t.Errorf("%s without its .conf: %q, want Not Running", name, got)
		}
	}
	if got := status("cdr_csv.so"); got != "Running" {
		t.Errorf("cdr_csv.so: %q", got)
	}
	writeConf(t, s, "cdr_pgsql.conf", "[global]\nhostname=127.0.0.1\nport=1\n")
	writeConf(t, s, "cel_pgsql.conf", "[global]\nhostname=127.0.0.1\nport=1\n")
	writeConf(t, s, "res_config_sqlite3.conf", "[asterisk]\ndbfile="+filepath.Join(t.TempDir(), "rt.sqlite3")+"\n")
	writeConf(t, s, "cel_odbc.conf", "[main]\nconnection=sqlite3:asterisk\ntable=cel\n")
	transcript(t, s, "module reload res_config_sqlite3.so")
	transcript(t, s, "module reload cdr")
	for _, name := range []string{"cdr_pgsql.so", "cel_pgsql.so", "cel_odbc.so"} {
		if got := status(name); got != "Running" {
			t.Errorf("%s configured: %q, want Running", name, got)
		}
	}
}
