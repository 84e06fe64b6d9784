// Package integration drives the real pleiades binary: it builds it once, starts servers in
// temporary directories and talks to them over the control socket, as an operator would.
package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/cli"
)

// binary is the pleiades binary built for this test run.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pleiades-it-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "pleiades")
	// The race detector sleeps a second at every exit by default; every -rx would pay it.
	os.Setenv("GORACE", "atexit_sleep_ms=0")
	build := exec.Command("go", "build", "-race", "-o", binary, "github.com/pleiades-pbx/pleiades/cmd/pleiades")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building pleiades:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Node is one pleiades server under test.
type Node struct {
	t    *testing.T
	Dir  string // holds etc/, run/, log/, lib/
	Conf string // path of asterisk.conf
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	// Wrap, when set, runs the server under another command, e.g. {"ip", "netns", "exec", "ns"}.
	Wrap []string
}

// NewNode lays out a configuration directory with asterisk.conf (the given [options] lines
// added) and extra files (name -> content), without starting anything.
func NewNode(t *testing.T, options string, files map[string]string) *Node {
	t.Helper()
	// Unix socket paths are limited to 108 bytes: keep the directory short.
	dir, err := os.MkdirTemp("", "pl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	etc := filepath.Join(dir, "etc")
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	ast := fmt.Sprintf(`[directories]
astetcdir => %[1]s/etc
astvarlibdir => %[1]s/lib
astdbdir => %[1]s/lib
astrundir => %[1]s/run
astlogdir => %[1]s/log
astspooldir => %[1]s/spool
astdatadir => %[1]s/lib

[options]
%[2]s
`, dir, options)
	n := &Node{t: t, Dir: dir, Conf: filepath.Join(etc, "asterisk.conf")}
	n.WriteFile("asterisk.conf", ast)
	for name, content := range files {
		n.WriteFile(name, content)
	}
	return n
}

// WriteFile writes a file into the node's configuration directory.
func (n *Node) WriteFile(name, content string) {
	n.t.Helper()
	if err := os.WriteFile(filepath.Join(n.Dir, "etc", name), []byte(content), 0o644); err != nil {
		n.t.Fatal(err)
	}
}

// Start runs "pleiades -f -C asterisk.conf" and waits for the control socket.
func (n *Node) Start(extra ...string) {
	n.t.Helper()
	n.out = &syncBuffer{}
	argv := append(append(append([]string(nil), n.Wrap...), binary, "-f", "-C", n.Conf), extra...)
	n.cmd = exec.Command(argv[0], argv[1:]...)
	n.cmd.Stdout, n.cmd.Stderr = n.out, n.out
	if err := n.cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	n.done = make(chan struct{})
	go func() { n.cmd.Wait(); close(n.done) }()
	n.t.Cleanup(n.Kill)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-n.done:
			n.t.Fatalf("pleiades exited during start: %s", n.out.String())
		default:
		}
		if c, err := cli.Dial(filepath.Join(n.Dir, "run", "pleiades.ctl")); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	n.t.Fatalf("pleiades did not open its control socket: %s", n.out.String())
}

// Kill stops the server (SIGKILL) if it still runs.
func (n *Node) Kill() {
	if n.cmd != nil && n.cmd.Process != nil {
		select {
		case <-n.done:
		default:
			n.cmd.Process.Kill()
			<-n.done
		}
	}
}

// Wait waits for the server to exit on its own.
func (n *Node) Wait(d time.Duration) error {
	select {
	case <-n.done:
		return nil
	case <-time.After(d):
		return fmt.Errorf("pleiades still running after %s", d)
	}
}

// RX runs `pleiades -C asterisk.conf -rx cmd` and returns its output and exit code.
func (n *Node) RX(command string) (string, int) {
	n.t.Helper()
	return runBinary(n.t, "", "-C", n.Conf, "-rx", command)
}

func runBinary(t *testing.T, dir string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running pleiades %s: %v", strings.Join(args, " "), err)
	}
	return string(out), code
}

// MustRX runs a command that must succeed.
func (n *Node) MustRX(command string) string {
	n.t.Helper()
	out, code := n.RX(command)
	if code != 0 {
		n.t.Fatalf("-rx %q exited %d: %s", command, code, out)
	}
	return out
}

// runBinaryEnv runs pleiades in dir with env.
func runBinaryEnv(t *testing.T, dir string, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running pleiades %s: %v", strings.Join(args, " "), err)
	}
	return string(out), 0
}
