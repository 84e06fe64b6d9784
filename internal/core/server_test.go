package core

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/cli"
	"github.com/pleiades-pbx/pleiades/internal/logger"
)

// testServer is a server on built-in directories under a fresh directory, with no modules.
func testServer(t *testing.T) *Server {
	t.Helper()
	// Unix socket paths are limited to 108 bytes: keep the directory short.
	dir, err := os.MkdirTemp("", "plc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	st := &Settings{Dirs: BuiltinDirs(dir), SystemName: "test"}
	return New(st, logger.New())
}

// "reload" and the readers of the last reload time (core show uptime, AMI CoreStatus) run
// on different goroutines: go test -race found them unsynchronised.
func TestLastReloadIsSafeToReadDuringReload(t *testing.T) {
	s := testServer(t)
	if err := s.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for range 200 {
			s.Reload(context.Background(), "")
		}
	}()
	go func() {
		defer wg.Done()
		for range 200 {
			var b bytes.Buffer
			s.CLI.Run(context.Background(), "core show uptime", &b, nil)
			(&amiBackend{s}).Settings()
		}
	}()
	wg.Wait()
	if d := time.Since(s.LastReload()); d < 0 || d > time.Minute {
		t.Fatalf("last reload %v ago", d)
	}
}

// fakeCalls is a channel layer with a settable number of active calls.
type fakeCalls struct {
	active  atomic.Int64
	refused atomic.Bool
}

func (f *fakeCalls) ActiveCalls() int      { return int(f.active.Load()) }
func (f *fakeCalls) RefuseNewCalls(r bool) { f.refused.Store(r) }
func stopped(s *Server, within time.Duration) bool {
	select {
	case <-s.Stopping():
		return true
	case <-time.After(within):
		return false
	}
}

func TestStopModes(t *testing.T) {
	type step struct {
		cmd      string // a CLI command, or "calls N"
		out      string // expected in the command's output
		stopped  bool   // stopped within a short while after the step
		refusing bool
	}
	for _, tc := range []struct {
		name    string
		calls   int
		steps   []step
		restart bool
	}{
		{"now with a call up", 1, []step{{cmd: "core stop now", stopped: true, refusing: true}}, false},
		{"gracefully when idle", 0, []step{{cmd: "core stop gracefully", stopped: true, refusing: true}}, false},
		{"gracefully waits for the calls, refusing new ones", 2, []step{
			{cmd: "core stop gracefully", out: "New calls are refused; Pleiades will stop when the 2 active calls have ended.", refusing: true},
			{cmd: "calls 1", refusing: true},
			{cmd: "calls 0", stopped: true, refusing: true},
		}, false},
		{"when convenient accepts new calls meanwhile", 1, []step{
			{cmd: "core stop when convenient", out: "Waiting for inactivity to perform halt"},
			{cmd: "calls 3"},
			{cmd: "calls 0", stopped: true, refusing: true},
		}, false},
		{"a more patient request is ignored", 1, []step{
			{cmd: "core stop gracefully", refusing: true},
			{cmd: "core stop when convenient", out: "Ignoring Pleiades shutdown request, already in progress.", refusing: true},
			{cmd: "core stop gracefully", out: "Ignoring Pleiades shutdown request, already in progress.", refusing: true},
		}, false},
		{"a less patient request takes over", 1, []step{
			{cmd: "core stop when convenient"},
			{cmd: "core stop gracefully", refusing: true},
			{cmd: "core stop now", stopped: true, refusing: true},
		}, false},
		{"abort shutdown", 1, []step{
			{cmd: "core stop gracefully", refusing: true},
			{cmd: "core abort shutdown", out: "Shutdown cancelled; new calls are accepted."},
			{cmd: "calls 0"},
			{cmd: "core abort shutdown", out: "No shutdown or restart is waiting to be cancelled."},
		}, false},
		{"restart gracefully", 1, []step{
			{cmd: "core restart gracefully", out: "Pleiades will restart when the 1 active call has ended.", refusing: true},
			{cmd: "calls 0", stopped: true, refusing: true},
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := testServer(t)
			s.registerCommands()
			calls := &fakeCalls{}
			calls.active.Store(int64(tc.calls))
			s.AddCallCounter(calls)
			for i, st := range tc.steps {
				if n, ok := strings.CutPrefix(st.cmd, "calls "); ok {
					calls.active.Store(int64(n[0] - '0'))
				} else {
					var b bytes.Buffer
					if err := s.CLI.Run(context.Background(), st.cmd, &b, nil); err != nil {
						t.Fatalf("step %d %q: %v %s", i, st.cmd, err, b.String())
					}
					if !strings.Contains(b.String(), st.out) {
						t.Fatalf("step %d %q: output %q, want %q", i, st.cmd, b.String(), st.out)
					}
				}
				wait := 3 * idlePoll
				if st.stopped {
					wait = 5 * time.Second
				}
				if got := stopped(s, wait); got != st.stopped {
					t.Fatalf("step %d %q: stopped %v, want %v", i, st.cmd, got, st.stopped)
				}
				if calls.refused.Load() != st.refusing {
					t.Fatalf("step %d %q: refusing new calls %v, want %v", i, st.cmd, calls.refused.Load(), st.refusing)
				}
			}
			if got := s.Restarting(); got != tc.restart && stopped(s, 0) {
				t.Fatalf("Restarting() = %v", got)
			}
		})
	}
}

func TestRunDirIsRefusedWhenOthersCanWriteIt(t *testing.T) {
	for _, tc := range []struct {
		mode os.FileMode
		ok   bool
	}{
		{0o700, true}, {0o750, true}, {0o755, true},
		{0o770, false}, {0o757, false}, {0o777, false}, {0o777 | os.ModeSticky, false},
	} {
		dir := t.TempDir()
		if err := os.Chmod(dir, tc.mode); err != nil {
			t.Fatal(err)
		}
		err := checkRunDir(dir)
		if (err == nil) != tc.ok {
			t.Errorf("mode %v: %v", tc.mode, err)
		}
		if err != nil && (!strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "chmod go-w")) {
			t.Errorf("mode %v: the error does not name the directory and the fix: %v", tc.mode, err)
		}
	}
	// Owned by another user: as root, give a directory away; otherwise "/" is root's.
	other := "/"
	if os.Geteuid() == 0 {
		other = t.TempDir()
		if err := os.Chown(other, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	if err := checkRunDir(other); err == nil || !strings.Contains(err.Error(), "is owned by uid") || !strings.Contains(err.Error(), "chown") {
		t.Errorf("a run directory of another user: %v", err)
	}
}

func TestStartRefusesAWorldWritableRunDirAndCreatesAPrivateOne(t *testing.T) {
	s := testServer(t)
	old := syscall.Umask(0)
	err := s.Start(context.Background(), nil)
	syscall.Umask(old)
	if err != nil {
		t.Fatalf("default start with umask 000: %v", err)
	}
	st, _ := os.Stat(s.Settings.Dirs.Run)
	if st.Mode().Perm() != RunDirMode {
		t.Errorf("run directory created with mode %v, want %v", st.Mode().Perm(), os.FileMode(RunDirMode))
	}
	if st, err := os.Stat(s.Settings.Dirs.Etc); err != nil || !st.IsDir() {
		t.Errorf("built-in defaults: no configuration directory after the first start: %v", err)
	}
	s.Shutdown(context.Background())

	s2 := New(s.Settings, logger.New())
	os.Chmod(s.Settings.Dirs.Run, 0o777)
	err = s2.Start(context.Background(), nil)
	if err == nil {
		s2.Shutdown(context.Background())
		t.Fatal("started with a world-writable run directory")
	}
	if !strings.Contains(err.Error(), s.Settings.Dirs.Run) || !strings.Contains(err.Error(), "writable by group or others") {
		t.Fatalf("error: %v", err)
	}
	if _, err := os.Lstat(s.Settings.CtlPath()); err == nil {
		t.Error("a control socket was created")
	}
}

func TestPIDFileNeverFollowsASymlink(t *testing.T) {
	s := testServer(t)
	if err := os.MkdirAll(s.Settings.Dirs.Run, 0o700); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(filepath.Dir(s.Settings.Dirs.Run), "precious")
	os.WriteFile(target, []byte("precious\n"), 0o600)
	if err := os.Symlink(target, s.Settings.PIDPath()); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	if b, _ := os.ReadFile(target); string(b) != "precious\n" {
		t.Errorf("the symlink's target was written: %q", b)
	}
	st, err := os.Lstat(s.Settings.PIDPath())
	if err != nil || !st.Mode().IsRegular() {
		t.Fatalf("pid file: %v %v", st, err)
	}
	if b, _ := os.ReadFile(s.Settings.PIDPath()); string(b) != strconv.Itoa(os.Getpid())+"\n" {
		t.Errorf("pid file holds %q", b)
	}
}

// A second server with the same run directory refuses to start, naming the first one's pid,
// before it loads anything.
func TestSecondServerRefusesTheRunDir(t *testing.T) {
	s := testServer(t)
	if err := s.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	loaded := false
	s2 := New(s.Settings, logger.New())
	err := s2.Start(context.Background(), []Module{probe{&loaded}})
	if err == nil {
		t.Fatal("a second server started on the same run directory")
	}
	if want := "another Pleiades server (pid " + strconv.Itoa(os.Getpid()) + ") is running with run directory " + s.Settings.Dirs.Run; err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
	if loaded {
		t.Error("the second server loaded a module")
	}
	if err := CheckNotRunning(s.Settings); err == nil || !strings.Contains(err.Error(), "is already running on") {
		t.Errorf("CheckNotRunning: %v", err)
	}
	if cl, err := cli.DialTimeout(s.Settings.CtlPath(), 5*time.Second); err != nil {
		t.Errorf("the first server no longer answers: %v", err)
	} else {
		cl.Close()
	}
}

type probe struct{ loaded *bool }

func (probe) Name() string                          { return "probe" }
func (probe) Description() string                   { return "probe" }
func (p probe) Load(context.Context, *Server) error { *p.loaded = true; return nil }
func (probe) Reload(context.Context, *Server) error { return nil }
func (probe) Unload(context.Context) error          { return nil }

// TestCheckNotRunningWaitsForAStoppingServer: a server that has removed its control socket
// but not yet exited still holds the run directory's lock; a start right after `core stop
// now` waits for it to go instead of refusing, and gives up with the pid after lockWait.
func TestCheckNotRunningWaitsForAStoppingServer(t *testing.T) {
	s := testServer(t)
	if err := os.MkdirAll(s.Settings.Dirs.Run, 0o750); err != nil {
		t.Fatal(err)
	}
	hold := func() *os.File {
		f, err := os.OpenFile(s.Settings.LockPath(), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			t.Fatal(err)
		}
		return f
	}
	first := hold()
	released := make(chan time.Time, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		released <- time.Now()
		first.Close()
	}()
	if err := CheckNotRunning(s.Settings); err != nil {
		t.Fatalf("with the lock released after 300 ms: %v", err)
	}
	if at := <-released; time.Now().Before(at) {
		t.Fatal("returned before the lock was released")
	}

	old := lockWait
	lockWait = 200 * time.Millisecond
	defer func() { lockWait = old }()
	second := hold()
	defer second.Close()
	if err := CheckNotRunning(s.Settings); err == nil || !strings.Contains(err.Error(), "is starting or stopping with run directory") {
		t.Fatalf("with the lock held: %v", err)
	}
}
