package netaccept

import (
	"bytes"
	"log/slog"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fakeListener returns the errors of script in order (nil: a connection), then blocks until
// closed.
type fakeListener struct {
	mu     sync.Mutex
	script []error
	at     []time.Time // when each Accept was called
	closed chan struct{}
	once   sync.Once
}

func newFake(script ...error) *fakeListener {
	return &fakeListener{script: script, closed: make(chan struct{})}
}

func (f *fakeListener) Accept() (net.Conn, error) {
	f.mu.Lock()
	f.at = append(f.at, time.Now())
	if len(f.script) > 0 {
		err := f.script[0]
		f.script = f.script[1:]
		f.mu.Unlock()
		if err != nil {
			return nil, &net.OpError{Op: "accept", Net: "tcp", Err: err}
		}
		a, b := net.Pipe()
		b.Close()
		return a, nil
	}
	f.mu.Unlock()
	<-f.closed
	return nil, net.ErrClosed
}

func (f *fakeListener) Close() error   { f.once.Do(func() { close(f.closed) }); return nil }
func (f *fakeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// Injected accept errors: the loop goes on, waits 5, 10, 20, 40, 80 ms, resets after a
// connection, logs the first error and the recovery, and ends when the listener closes.
func TestServeRetriesWithBackoff(t *testing.T) {
	emfile, enfile, aborted := syscall.EMFILE, syscall.ENFILE, syscall.ECONNABORTED
	f := newFake(emfile, emfile, emfile, enfile, emfile, nil, aborted, nil)
	var logs logBuf
	var got int
	done := make(chan struct{})
	go func() {
		Serve(f, nil, slog.New(slog.NewTextHandler(&logs, nil)), "Test", func(c net.Conn) { got++; c.Close() })
		close(done)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		f.mu.Lock()
		n := len(f.at)
		f.mu.Unlock()
		if n == 9 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	f.Close()
	<-done
	if got != 2 {
		t.Fatalf("%d connections handled, want 2", got)
	}
	f.mu.Lock()
	at := f.at
	f.mu.Unlock()
	waits := []time.Duration{5, 10, 20, 40, 80}
	for i, w := range waits {
		if d := at[i+1].Sub(at[i]); d < w*time.Millisecond {
			t.Errorf("wait %d: %v, want >= %v", i, d, w*time.Millisecond)
		}
	}
	if d := at[7].Sub(at[6]); d < MinDelay || d > 50*time.Millisecond {
		t.Errorf("after a connection the backoff restarts: waited %v", d)
	}
	out := logs.String()
	if strings.Count(out, "accept error on") != 1 || !strings.Contains(out, "too many open files") ||
		strings.Count(out, "accepts connections again") != 1 || !strings.Contains(out, "after 5 accept errors") {
		t.Errorf("logs:\n%s", out)
	}
}

// The pause never exceeds MaxDelay, and closing stop ends a loop that is backing off.
func TestServeStopsWhileBackingOff(t *testing.T) {
	script := make([]error, 200)
	for i := range script {
		script[i] = syscall.EMFILE
	}
	f := newFake(script...)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		Serve(f, stop, slog.New(slog.DiscardHandler), "Test", func(c net.Conn) { c.Close() })
		close(done)
	}()
	time.Sleep(3 * time.Second)
	close(stop)
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Serve did not return on stop")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := 1; i < len(f.at); i++ {
		if d := f.at[i].Sub(f.at[i-1]); d > MaxDelay+200*time.Millisecond {
			t.Errorf("waited %v > MaxDelay", d)
		}
	}
	if n := len(f.at); n < 9 || n > 12 {
		t.Errorf("%d accepts in 3 s, want about 10 (5 ms doubling to 1 s)", n)
	}
}
