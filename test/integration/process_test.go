package integration

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The process side of the binary: its run directory, its start in the background, its
// remote console and how it stops.

func (n *Node) ctlPath() string { return filepath.Join(n.Dir, "run", "pleiades.ctl") }

// startBinary starts pleiades with args (stdin may be nil), its output collected; exited
// gets its exit status. It is killed when the test ends.
func startBinary(t *testing.T, stdin *os.File, args ...string) (out *syncBuffer, exited chan int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	out = &syncBuffer{}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited = make(chan int, 1)
	go func() {
		err := cmd.Wait()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		exited <- code
	}()
	t.Cleanup(func() { cmd.Process.Kill() })
	return out, exited
}

// runFor runs pleiades with args and fails the test if it has not exited within d.
func runFor(t *testing.T, d time.Duration, args ...string) (string, int) {
	t.Helper()
	out, exited := startBinary(t, nil, args...)
	select {
	case code := <-exited:
		return out.String(), code
	case <-time.After(d):
		t.Fatalf("pleiades %s still running after %v: %s", strings.Join(args, " "), d, out.String())
		return "", -1
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader on different goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls until buf holds want, or fails after d.
func waitFor(t *testing.T, buf *syncBuffer, want string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(buf.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q within %v in:\n%s", want, d, buf.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWorldWritableRunDirIsRefused(t *testing.T) {
	n := NewNode(t, "entityid = 02:aa:bb:cc:e0:01", nil)
	run := filepath.Join(n.Dir, "run")
	if err := os.Mkdir(run, 0o700); err != nil {
		t.Fatal(err)
	}
	os.Chmod(run, 0o777)
	out, code := runFor(t, 30*time.Second, "-f", "-C", n.Conf)
	if code == 0 || !strings.Contains(out, "run directory "+run+" is writable by group or others (mode 0777)") || !strings.Contains(out, "chmod go-w "+run) {
		t.Fatalf("start with a world-writable run directory: %d %q", code, out)
	}
	if _, err := os.Lstat(n.ctlPath()); err == nil {
		t.Fatal("a control socket was created")
	}
	if _, err := os.Stat(filepath.Join(n.Dir, "lib", "astdb.sqlite3")); err == nil {
		t.Fatal("the refused server opened the internal database")
	}
}

func TestPlantedPIDSymlinkIsNotFollowed(t *testing.T) {
	n := NewNode(t, "entityid = 02:aa:bb:cc:e0:02", nil)
	run := filepath.Join(n.Dir, "run")
	if err := os.Mkdir(run, 0o700); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(n.Dir, "precious")
	os.WriteFile(target, []byte("precious\n"), 0o600)
	if err := os.Symlink(target, filepath.Join(run, "pleiades.pid")); err != nil {
		t.Fatal(err)
	}
	n.Start()
	if b, _ := os.ReadFile(target); string(b) != "precious\n" {
		t.Fatalf("the pid file's symlink was followed: the target now holds %q", b)
	}
	st, err := os.Lstat(filepath.Join(run, "pleiades.pid"))
	if err != nil || !st.Mode().IsRegular() {
		t.Fatalf("pid file: %v %v", st, err)
	}
	b, _ := os.ReadFile(filepath.Join(run, "pleiades.pid"))
	if strings.TrimSpace(string(b)) != strconv.Itoa(n.cmd.Process.Pid) {
		t.Fatalf("pid file %q, server pid %d", b, n.cmd.Process.Pid)
	}
}

// Started with umask 000, the server's control socket is seen with mode 0660 the first time
// a watcher that stats its path as fast as it can sees it.
func TestControlSocketHasItsModeAtFirstSight(t *testing.T) {
	n := NewNode(t, "entityid = 02:aa:bb:cc:e0:03", nil)
	n.Wrap = []string{"sh", "-c", `umask 000; exec "$0" "$@"`}
	path := n.ctlPath()
	seen := make(chan os.FileMode, 1)
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if st, err := os.Lstat(path); err == nil {
				seen <- st.Mode()
				return
			}
		}
	}()
	n.Start()
	close(stop)
	select {
	case mode := <-seen:
		if mode.Perm() != 0o660 || mode&os.ModeSocket == 0 {
			t.Fatalf("control socket first seen with mode %v, want a socket with 0660", mode)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the watcher never saw the socket")
	}
	if st, _ := os.Stat(filepath.Join(n.Dir, "run")); st.Mode().Perm() != 0o750 {
		t.Errorf("run directory created with mode %v under umask 000, want 0750", st.Mode().Perm())
	}
}

// A second background start while a server runs says which one runs, exits non-zero and
// leaves the running server's files alone; a start whose server dies during its start
// reports that server's error and exit status.
func TestBackgroundStartNeverClaimsAFalseStart(t *testing.T) {
	ports := freePorts(t, 1)
	clusterConf := fmt.Sprintf("[general]\nlisten = 127.0.0.1:%d\n", ports[0])
	n := NewNode(t, "entityid = 02:aa:bb:cc:e0:04", map[string]string{"cluster.conf": clusterConf})
	out, code := runFor(t, 60*time.Second, "-C", n.Conf)
	m := regexp.MustCompile(`Pleiades started \(pid (\d+)\)`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("first start: %d %q", code, out)
	}
	pid := m[1]
	t.Cleanup(func() { n.RX("core stop now") })
	logPath := filepath.Join(n.Dir, "log", "startup.log")
	before, err := os.ReadFile(logPath)
	if err != nil || len(before) == 0 {
		t.Fatalf("startup.log: %v %q", err, before)
	}
	beforeSt, _ := os.Stat(logPath)

	out, code = runFor(t, 60*time.Second, "-C", n.Conf)
	if code == 0 || strings.Contains(out, "Pleiades started") || !strings.Contains(out, "(pid "+pid+") is already running on "+n.ctlPath()) {
		t.Fatalf("second start with the first running: %d %q", code, out)
	}
	after, _ := os.ReadFile(logPath)
	afterSt, _ := os.Stat(logPath)
	if !strings.HasPrefix(string(after), string(before)) || !os.SameFile(beforeSt, afterSt) {
		t.Fatalf("the running server's startup.log was replaced or truncated: before %q after %q", before, after)
	}
	if out := n.MustRX("core show settings"); !strings.Contains(out, "02:aa:bb:cc:e0:04") {
		t.Fatalf("the first server: %q", out)
	}

	// Another server (its own run directory) whose cluster port is taken: it dies during
	// its start, and the start says so with its error.
	other := NewNode(t, "entityid = 02:aa:bb:cc:e0:05", map[string]string{"cluster.conf": clusterConf})
	out, code = runFor(t, 60*time.Second, "-C", other.Conf)
	if code == 0 || strings.Contains(out, "Pleiades started") || !strings.Contains(out, "the server exited during start (exit status 1)") ||
		!strings.Contains(out, "res_cluster") {
		t.Fatalf("start of a server that cannot listen: %d %q", code, out)
	}
}

// The remote console says at once that the server went away, reconnects when it is back,
// and runs commands on the new server.
func TestRemoteConsoleReconnects(t *testing.T) {
	n := NewNode(t, "entityid = 02:aa:bb:cc:e0:06", nil)
	n.Start()
	in, stdin, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	out, done := startBinary(t, in, "-C", n.Conf, "-r")
	in.Close()
	waitFor(t, out, "Connected to Pleiades", 10*time.Second)
	waitFor(t, out, fmt.Sprintf("(pid = %d)", n.cmd.Process.Pid), time.Second)

	n.MustRX("core stop now")
	if err := n.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	// Nothing is typed: the console notices by itself.
	waitFor(t, out, "Disconnected from Pleiades server\nAttempting to reconnect for 30 seconds\n", 2*time.Second)
	if d := time.Since(stopped); d > 2*time.Second {
		t.Fatalf("noticed after %v", d)
	}
	n.Start()
	waitFor(t, out, "Reconnect succeeded after ", 10*time.Second)
	waitFor(t, out, fmt.Sprintf("(pid = %d)", n.cmd.Process.Pid), 5*time.Second)
	io.WriteString(stdin, "core show uptime seconds\n")
	waitFor(t, out, "System uptime: ", 10*time.Second)
	io.WriteString(stdin, "quit\n")
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("remote console exit status %d\n%s", code, out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("remote console did not quit:\n%s", out.String())
	}
}

// startDial runs `pleiades -rx "console dial"` and waits until its call runs Wait.
func startDial(t *testing.T, n *Node) (out *syncBuffer, done chan int) {
	t.Helper()
	out, done = startBinary(t, nil, "-C", n.Conf, "-rx", "console dial")
	waitFor(t, out, "Executing [s@default:1] Wait(", 10*time.Second)
	return out, done
}

func TestStopGracefullyWaitsForTheCallsAndRefusesNewOnes(t *testing.T) {
	n := NewNode(t, "entityid = 02:aa:bb:cc:e0:07", map[string]string{
		"extensions.conf": "[default]\nexten => s,1,Wait(3)\n same => n,Hangup()\n",
	})
	n.Start()
	out, done := startDial(t, n)
	begun := time.Now()
	if got := n.MustRX("core stop gracefully"); !strings.Contains(got, "New calls are refused; Pleiades will stop when the 1 active call has ended.") {
		t.Fatalf("core stop gracefully: %q", got)
	}
	if got, code := n.RX("console dial"); code != 1 || !strings.Contains(got, "Unable to dial: new calls are refused: Pleiades is shutting down") {
		t.Fatalf("a new call while stopping gracefully: %d %q", code, got)
	}
	if got := n.MustRX("core show uptime"); !strings.Contains(got, "System uptime") {
		t.Fatalf("the server stopped before the call ended: %q", got)
	}
	var callEnded time.Time
	select {
	case code := <-done:
		callEnded = time.Now()
		if code != 0 {
			t.Fatalf("console dial exited %d: %s", code, out.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("the call did not end: %s", out.String())
	}
	if d := callEnded.Sub(begun); d < 2*time.Second {
		t.Fatalf("the call was cut short after %v: %s", d, out.String())
	}
	if err := n.Wait(10 * time.Second); err != nil {
		t.Fatalf("the server did not stop after the last call: %v", err)
	}
}

func TestStopNowHangsUpAtOnce(t *testing.T) {
	n := NewNode(t, "entityid = 02:aa:bb:cc:e0:08", map[string]string{
		"extensions.conf": "[default]\nexten => s,1,Wait(60)\n",
	})
	n.Start()
	_, done := startDial(t, n)
	start := time.Now()
	n.MustRX("core stop now")
	if err := n.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("console dial still running after core stop now")
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Fatalf("core stop now took %v", d)
	}
}

func TestRestartNowRunsAgainInTheSameProcess(t *testing.T) {
	n := NewNode(t, "entityid = 02:aa:bb:cc:e0:09", nil)
	n.Start()
	time.Sleep(1100 * time.Millisecond) // so that a fresh start's uptime is smaller
	n.MustRX("core restart now")
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, code := n.RX("core show uptime seconds")
		if code == 0 && strings.Contains(out, "System uptime: 0\n") {
			break
		}
		select {
		case <-n.done:
			t.Fatalf("the process exited instead of restarting: %s", n.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no fresh server after core restart now: %q", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if pid, _ := os.ReadFile(filepath.Join(n.Dir, "run", "pleiades.pid")); strings.TrimSpace(string(pid)) != strconv.Itoa(n.cmd.Process.Pid) {
		t.Fatalf("pid file %q after restart, process %d", pid, n.cmd.Process.Pid)
	}
}

// A control socket that accepts connections but never answers (the server stopped
// accepting) makes -rx fail after its timeout instead of hanging; a command that streams
// runs past it.
func TestRXTimesOut(t *testing.T) {
	n := NewNode(t, "entityid = 02:aa:bb:cc:e0:0a", map[string]string{
		"extensions.conf": "[default]\nexten => s,1,Wait(2)\n",
	})
	run := filepath.Join(n.Dir, "run")
	os.Mkdir(run, 0o700)
	ln, err := net.Listen("unix", n.ctlPath()) // never accepts
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	out, code := runFor(t, 20*time.Second, "-C", n.Conf, "--timeout=1", "-rx", "core show version")
	if code != 1 || !strings.Contains(out, "got no greeting within 1s") {
		t.Fatalf("-rx on a mute socket: %d %q", code, out)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("-rx gave up after %v", d)
	}
	ln.Close()
	os.Remove(n.ctlPath())

	n.Start()
	out, code = runFor(t, 30*time.Second, "-C", n.Conf, "--timeout=1", "-rx", "console dial")
	if code != 0 || !strings.Contains(out, "Wait(") {
		t.Fatalf("console dial of 2 s with --timeout=1: %d %q", code, out)
	}
}
