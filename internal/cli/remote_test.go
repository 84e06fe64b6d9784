package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/netaccept/netaccepttest"
)

type testSession struct{ v int }

func (t *testSession) SetVerbose(n int) { t.v = n }
func (t *testSession) Verbose() int     { return t.v }

// A remote console that never reads must not hold up whoever logs.
func TestSlowRemoteConsoleNeverBlocksTheLogger(t *testing.T) {
	var mu sync.Mutex
	var writers []func(string)
	srv := &Server{Registry: NewRegistry(), Attach: func(v int, write func(string)) (Session, func()) {
		mu.Lock()
		writers = append(writers, write)
		mu.Unlock()
		return &testSession{v}, func() {}
	}}
	path := filepath.Join(t.TempDir(), "ctl")
	if err := srv.Listen(path); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := WriteFrame(c, FrameVerbose, []byte("3")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(writers)
		mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("console not attached")
		}
		time.Sleep(5 * time.Millisecond)
	}
	line := strings.Repeat("x", 1000) + "\n"
	start := time.Now()
	for range 50000 { // 50 MB: far more than the socket buffers hold
		writers[0](line)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("logging to a console that does not read took %v", d)
	}
	// The console, reading at last, is told that lines were dropped.
	dropped := false
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for !dropped {
		typ, p, err := ReadFrame(c)
		if err != nil {
			t.Fatalf("reading: %v", err)
		}
		dropped = typ == FrameLog && strings.Contains(string(p), "log lines dropped")
	}
}

// After descriptor exhaustion the control socket answers again (it used to stop accepting
// for good, and `pleiades -rx` hung).
func TestControlSocketSurvivesAcceptErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ctl")
	real, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	var logMu sync.Mutex
	srv := &Server{Registry: NewRegistry(), Log: slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, nil))}
	srv.Serve(netaccepttest.Failing(real, 6))
	defer srv.Close()
	cl, err := DialTimeout(path, 5*time.Second)
	if err != nil {
		t.Fatalf("no answer after accept errors: %v", err)
	}
	defer cl.Close()
	cl.Timeout = 5 * time.Second
	var out bytes.Buffer
	if status, err := cl.Run("help help", &out); err != nil || status != 0 || !strings.Contains(out.String(), "Usage: help") {
		t.Fatalf("command after accept errors: %d %v %q", status, err, out.String())
	}
	logMu.Lock()
	defer logMu.Unlock()
	if !strings.Contains(logs.String(), "control socket accept error on ") || !strings.Contains(logs.String(), "too many open files") {
		t.Errorf("accept errors not logged: %s", logs.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// The control socket has its mode from the moment it appears at its path, even with umask
// 000: a watcher that stats the path as fast as it can never sees another mode.
func TestControlSocketModeAtFirstSight(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := t.TempDir()
	path := filepath.Join(dir, "pleiades.ctl")
	for i := range 300 {
		stop := make(chan struct{})
		seen := make(chan os.FileMode, 1)
		go func() {
			for {
				select {
				case <-stop:
					close(seen)
					return
				default:
				}
				if st, err := os.Lstat(path); err == nil {
					seen <- st.Mode()
					<-stop
					close(seen)
					return
				}
			}
		}()
		srv := &Server{Registry: NewRegistry()}
		if err := srv.Listen(path); err != nil {
			t.Fatal(err)
		}
		close(stop)
		mode, ok := <-seen
		srv.Close()
		if ok && mode.Perm() != SocketMode {
			t.Fatalf("start %d: the socket was first seen with mode %v, want %v", i, mode.Perm(), os.FileMode(SocketMode))
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
}

func TestListenRefusesALiveServerAndReplacesAStaleSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ctl")
	// A stale socket: bound, then its listener gone without removing it.
	stale, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()
	first := &Server{Registry: NewRegistry()}
	if err := first.Listen(path); err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	defer first.Close()
	second := &Server{Registry: NewRegistry()}
	err = second.Listen(path)
	if err == nil {
		second.Close()
		t.Fatal("a second server listened on a live socket")
	}
	if want := fmt.Sprintf("another server (pid %d) is already running on %s", os.Getpid(), path); err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
	cl, err := DialTimeout(path, 5*time.Second)
	if err != nil {
		t.Fatalf("the first server no longer answers: %v", err)
	}
	cl.Close()
	if cl.PID != os.Getpid() {
		t.Errorf("greeting pid %d, want %d", cl.PID, os.Getpid())
	}
}

// A socket that accepts but never greets, and a command that never ends, give a timeout
// error instead of a hang; a command that streams runs past the timeout.
func TestClientTimeouts(t *testing.T) {
	dir := t.TempDir()
	mute := filepath.Join(dir, "mute")
	ln, err := net.Listen("unix", mute) // never accepted: the kernel queues the connection
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	start := time.Now()
	if _, err := DialTimeout(mute, 300*time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("dial to a mute socket: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("dial took %v", d)
	}

	reg := NewRegistry()
	reg.MustRegister(
		&Command{Words: []string{"hang"}, Handler: func(ctx context.Context, a *Args) error { <-ctx.Done(); return nil }},
		&Command{Words: []string{"stream"}, Streams: true, Handler: func(ctx context.Context, a *Args) error {
			time.Sleep(600 * time.Millisecond) // silent for twice the client's timeout
			fmt.Fprintln(a.Out, "streamed")
			return nil
		}},
	)
	srv := &Server{Registry: reg}
	path := filepath.Join(dir, "ctl")
	if err := srv.Listen(path); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	dial := func() *Client {
		cl, err := DialTimeout(path, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		cl.Timeout = 300 * time.Millisecond
		return cl
	}
	cl := dial()
	defer cl.Close()
	var out bytes.Buffer
	if _, err := cl.Run("hang", &out); !errors.Is(err, ErrTimeout) {
		t.Fatalf("a command that never ends: %v", err)
	}
	cl2 := dial()
	defer cl2.Close()
	if status, err := cl2.Run("stream", &out); err != nil || status != 0 || out.String() != "streamed\n" {
		t.Fatalf("a streaming command: %d %v %q", status, err, out.String())
	}
}
