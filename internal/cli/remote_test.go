package cli

import (
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
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
