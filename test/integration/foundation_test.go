package integration

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/cli"
)

func TestShowSettingsPrintsConfiguredEntityID(t *testing.T) {
	n := NewNode(t, "entityid = 02:aa:bb:cc:dd:01\nsystemname = it-one", nil)
	n.Start()
	out := n.MustRX("core show settings")
	if !regexp.MustCompile(`(?m)^\s+Entity ID:\s+02:aa:bb:cc:dd:01$`).MatchString(out) {
		t.Fatalf("no Entity ID line in:\n%s", out)
	}
	if !strings.Contains(out, "it-one") {
		t.Errorf("system name missing:\n%s", out)
	}
	if !strings.Contains(out, n.Dir) {
		t.Errorf("directories missing:\n%s", out)
	}
}

func TestEntityIDSeedSpelling(t *testing.T) {
	n := NewNode(t, "entity_id = 02:00:00:00:00:42", nil)
	n.Start()
	if out := n.MustRX("core show settings"); !strings.Contains(out, "02:00:00:00:00:42") {
		t.Fatalf("entity_id not used:\n%s", out)
	}
}

func TestUnknownCommandFails(t *testing.T) {
	n := NewNode(t, "entityid = 02:aa:bb:cc:dd:02", nil)
	n.Start()
	out, code := n.RX("bogus command")
	if code == 0 {
		t.Fatalf("exit code 0 for an unknown command: %s", out)
	}
	if !strings.Contains(out, "No such command 'bogus command'") {
		t.Fatalf("unexpected output: %q", out)
	}
	// A usage error is a failure too, and prints the usage.
	out, code = n.RX("core set verbose banana")
	if code == 0 || !strings.Contains(out, "Usage: core set verbose") {
		t.Fatalf("usage error: exit %d, %q", code, out)
	}
}

func TestBadEntityIDIsAStartupError(t *testing.T) {
	for _, tc := range []struct{ value, want string }{
		{"00:00:00:00:00:00", "all zeros"},
		{"02:aa:bb", "malformed Entity ID"},
		{"zz:aa:bb:cc:dd:ee", "malformed Entity ID"},
	} {
		n := NewNode(t, "entityid = "+tc.value, nil)
		out, code := runBinary(t, "", "-f", "-C", n.Conf)
		if code == 0 {
			t.Fatalf("%s: started", tc.value)
		}
		if !strings.Contains(out, tc.want) || !strings.Contains(out, "asterisk.conf:11") {
			t.Errorf("%s: want %q with file:line, got %q", tc.value, tc.want, out)
		}
	}
}

func TestBrokenConfigAtStartIsOneLineWithFileLine(t *testing.T) {
	for name, content := range map[string]string{
		"malformed header": "[logfiles\nmessages.log => notice\n",
		"unknown template": "[logfiles](nosuch)\nmessages.log => notice\n",
		"include loop":     "#include logger.conf\n[logfiles]\n",
		"missing include":  "#include nothere.conf\n",
	} {
		t.Run(name, func(t *testing.T) {
			n := NewNode(t, "entityid = 02:aa:bb:cc:dd:03", map[string]string{"logger.conf": content})
			out, code := runBinary(t, "", "-f", "-C", n.Conf)
			if code == 0 {
				t.Fatalf("started with a broken logger.conf")
			}
			if !regexp.MustCompile(`logger\.conf:\d+`).MatchString(out) {
				t.Fatalf("no file:line in %q", out)
			}
			if strings.Contains(out, "panic") || strings.Contains(out, "goroutine") {
				t.Fatalf("panic: %s", out)
			}
		})
	}
}

func TestReloadOfBrokenConfigKeepsRunningConfig(t *testing.T) {
	n := NewNode(t, "entityid = 02:aa:bb:cc:dd:04", map[string]string{
		"logger.conf": "[general]\n[logfiles]\nconsole => notice,warning,error\nkept.log => notice,warning,error\n",
	})
	n.Start()
	if out := n.MustRX("logger show channels"); !strings.Contains(out, "kept.log") {
		t.Fatalf("kept.log not configured:\n%s", out)
	}
	n.WriteFile("logger.conf", "[general]\n[logfiles]\nconsole => notice\nnew.log => notice,warning\n[broken\n")
	out, code := n.RX("reload")
	if code == 0 {
		t.Fatalf("reload of a broken config succeeded: %s", out)
	}
	if !strings.Contains(out, "logger.conf:5") {
		t.Fatalf("reload error does not name logger.conf:5: %q", out)
	}
	out = n.MustRX("logger show channels")
	if !strings.Contains(out, "kept.log") || strings.Contains(out, "new.log") {
		t.Fatalf("running configuration not kept:\n%s", out)
	}
	// The server is still up and a fixed file reloads.
	n.WriteFile("logger.conf", "[logfiles]\nnew.log => notice\n")
	n.MustRX("logger reload")
	if out := n.MustRX("logger show channels"); !strings.Contains(out, "new.log") || strings.Contains(out, "kept.log") {
		t.Fatalf("fixed config not applied:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(n.Dir, "log", "new.log")); err != nil {
		t.Fatal(err)
	}
}

func TestLoggerRotate(t *testing.T) {
	n := NewNode(t, "entityid = 02:aa:bb:cc:dd:05", map[string]string{"logger.conf": "[logfiles]\nmessages.log => notice,warning,error,verbose\n"})
	n.Start()
	n.MustRX("logger rotate")
	if _, err := os.Stat(filepath.Join(n.Dir, "log", "messages.log.0")); err != nil {
		t.Fatalf("no rotated file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(n.Dir, "log", "messages.log")); err != nil {
		t.Fatalf("log not reopened: %v", err)
	}
}

func TestRemoteConsolesGetLogLinesAtTheirOwnVerbosity(t *testing.T) {
	n := NewNode(t, "entityid = 02:aa:bb:cc:dd:06", nil)
	n.Start()
	sock := filepath.Join(n.Dir, "run", "pleiades.ctl")
	st, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o660 {
		t.Errorf("control socket mode %v, want 0660", st.Mode().Perm())
	}
	type console struct {
		c     *cli.Client
		mu    sync.Mutex
		lines []string
	}
	dial := func(verbose int) *console {
		c, err := cli.Dial(sock)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		con := &console{c: c}
		c.OnLog = func(l string) { con.mu.Lock(); con.lines = append(con.lines, l); con.mu.Unlock() }
		if err := c.SetVerbose(verbose); err != nil {
			t.Fatal(err)
		}
		return con
	}
	loud, quiet := dial(5), dial(0)
	// Wait until both consoles are attached.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var b bytes.Buffer
		loud.c.Run("core show settings", &b)
		if regexp.MustCompile(`Remote consoles:\s+2\n`).MatchString(b.String()) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A module reload logs a verbose(3) line.
	var out bytes.Buffer
	if status, err := quiet.c.Run("module reload logger", &out); err != nil || status != 0 {
		t.Fatalf("module reload: %d %v %s", status, err, out.String())
	}
	want := "Reloading module 'logger'"
	deadline = time.Now().Add(5 * time.Second)
	for {
		loud.mu.Lock()
		got := strings.Join(loud.lines, "")
		loud.mu.Unlock()
		if strings.Contains(got, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("verbose console did not get %q; got %q", want, got)
		}
		time.Sleep(10 * time.Millisecond)
	}
	quiet.mu.Lock()
	defer quiet.mu.Unlock()
	for _, l := range quiet.lines {
		if strings.Contains(l, want) {
			t.Fatalf("verbose 0 console got a verbose 3 line: %q", l)
		}
	}
}

func TestCompletionOverTheSocket(t *testing.T) {
	n := NewNode(t, "entityid = 02:aa:bb:cc:dd:07", nil)
	n.Start()
	c, err := cli.Dial(filepath.Join(n.Dir, "run", "pleiades.ctl"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got, err := c.Complete("core show se")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "settings" {
		t.Fatalf("completion of 'core show se': %v", got)
	}
	got, _ = c.Complete("module reload lo")
	if strings.Join(got, ",") != "logger" {
		t.Fatalf("completion of module names: %v", got)
	}
}

func TestAstdbSurvivesRestartAndStopNow(t *testing.T) {
	n := NewNode(t, "entityid = 02:aa:bb:cc:dd:08", nil)
	n.Start()
	n.MustRX("database put CustomDevstate mystate INUSE")
	if out := n.MustRX("database get CustomDevstate mystate"); !strings.Contains(out, "Value: INUSE") {
		t.Fatalf("get: %q", out)
	}
	n.MustRX("core stop now")
	if err := n.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	n.Start()
	out := n.MustRX("database show CustomDevstate")
	if !strings.Contains(out, "/CustomDevstate/mystate") || !strings.Contains(out, "1 results found.") {
		t.Fatalf("after restart: %q", out)
	}
	if out, code := n.RX("database get CustomDevstate nothere"); code == 0 || !strings.Contains(out, "Database entry not found.") {
		t.Fatalf("missing key: %d %q", code, out)
	}
}

func TestBuiltinDefaultsInAFreshDirectory(t *testing.T) {
	dir, err := os.MkdirTemp("", "plfresh")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	cmd := exec.Command(binary, "-f")
	cmd.Dir = dir
	cmd.Env = filteredEnv("XDG_STATE_HOME")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sock := filepath.Join(dir, "var", "pleiades", "run", "pleiades.ctl")
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no control socket at %s: %s", sock, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	rx := exec.Command(binary, "-rx", "core show settings")
	rx.Dir = dir
	rx.Env = cmd.Env
	b, err := rx.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	if !strings.Contains(string(b), "(built-in defaults)") || !strings.Contains(string(b), "Entity ID:") {
		t.Fatalf("settings: %s", b)
	}
	stop := exec.Command(binary, "-rx", "core stop gracefully")
	stop.Dir, stop.Env = dir, cmd.Env
	if b, err := stop.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v %s", err, out.String())
	}
}

func TestDaemonModeStartsInBackground(t *testing.T) {
	n := NewNode(t, "entityid = 02:aa:bb:cc:dd:09", nil)
	out, code := runBinary(t, "", "-C", n.Conf)
	if code != 0 || !strings.Contains(out, "Pleiades started") {
		t.Fatalf("daemon start: %d %q", code, out)
	}
	if out := n.MustRX("core show uptime"); !strings.Contains(out, "System uptime:") {
		t.Fatalf("uptime: %q", out)
	}
	n.MustRX("core stop now")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(n.Dir, "run", "pleiades.ctl")); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("daemon did not stop")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestVersionFlag(t *testing.T) {
	out, code := runBinary(t, "", "-V")
	if code != 0 || !strings.HasPrefix(out, "Pleiades ") {
		t.Fatalf("-V: %d %q", code, out)
	}
}

func TestRemoteWithoutServer(t *testing.T) {
	n := NewNode(t, "entityid = 02:aa:bb:cc:dd:0a", nil)
	out, code := n.RX("core show version")
	if code == 0 || !strings.Contains(out, "Unable to connect") {
		t.Fatalf("%d %q", code, out)
	}
}

func filteredEnv(drop string) []string {
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, drop+"=") {
			env = append(env, e)
		}
	}
	return env
}
