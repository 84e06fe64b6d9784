package sip

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/state"
)

// gatedMB is a Mailboxes whose Get waits for a gate once it is armed (a slow state engine).
type gatedMB struct {
	*fakeMB
	mu   sync.Mutex
	gate chan struct{}
}

func (m *gatedMB) Get(box string) (int, int, int, bool) {
	m.mu.Lock()
	g := m.gate
	m.mu.Unlock()
	if g != nil {
		<-g
	}
	return m.fakeMB.Get(box)
}

// sipGoroutines returns the stacks of the goroutines running code of this package, other
// than the tests' own.
func sipGoroutines() []string {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "testing.tRunner") || strings.Contains(g, "internal/sip.Test") || !strings.Contains(g, "pleiades/internal/sip.") {
			continue
		}
		out = append(out, g)
	}
	return out
}

// TestCloseLeavesNoGoroutine: every goroutine of the server has an owner. With registrations
// (qualify, keepalive, expiry timers), subscriptions over UDP and TCP, fan-outs, NOTIFYs to a
// phone that does not answer and an MWI send held up in the state engine, Close returns only
// when none of them is left. The ctx given to Start bounds the start only: its end does not
// stop the server.
func TestCloseLeavesNoGoroutine(t *testing.T) {
	before := len(sipGoroutines())
	mb := &gatedMB{fakeMB: newFakeMB()}
	hints := newFakeHints()
	hints.set("100", "blf", 0)
	s := New(nil, nil, newFakeDS(), hints, mb, "pbx")
	conf := strings.Replace(presConf, "[general]\n", "[general]\ntcpbindaddr=127.0.0.1:0\nqualify=yes\nkeepalive=1\n", 1) +
		"[carol]\ntype=friend\nhost=dynamic\nsecret=c\nmailbox=7@default\n"
	if err := s.Configure(parseConf(t, conf)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cancel() // bounds the start only
	udp, _ := s.Addr()
	ph := newPhone(t, udp.String())
	if res := ph.register("alice", "wonderland", 120); res.StatusCode != 200 {
		t.Fatalf("register: %d", res.StatusCode)
	}
	if res := ph.Subscribe("alice", "wonderland", "100", "dialog"); res.StatusCode != 200 {
		t.Fatalf("subscribe: %d", res.StatusCode)
	}
	silent := newPhone(t, udp.String())
	if res := silent.register("carol", "c", 120); res.StatusCode != 200 {
		t.Fatalf("register carol: %d", res.StatusCode)
	}
	silent.Silent.Store(true)
	time.Sleep(200 * time.Millisecond)
	if !s.isRunning() {
		t.Fatal("the end of Start's ctx stopped the server")
	}
	for i := range 5 { // fan-outs
		hints.set("100", "blf", state.Extension(i%2))
	}
	// an MWI change whose counts the state engine is slow to give
	gate := make(chan struct{})
	mb.mu.Lock()
	mb.gate = gate
	mb.mu.Unlock()
	mb.set("7@default", 1, 0, 0)
	time.Sleep(50 * time.Millisecond)
	go func() {
		time.Sleep(300 * time.Millisecond)
		close(gate)
	}()
	s.Close()
	// A task's goroutine has told Close it is done (tasks.leave, deferred) an instant before
	// it ends: give the stragglers a moment to return.
	left := sipGoroutines()
	for deadline := time.Now().Add(2 * time.Second); len(left) > before && time.Now().Before(deadline); left = sipGoroutines() {
		time.Sleep(10 * time.Millisecond)
	}
	if len(left) > before {
		t.Fatalf("%d goroutines of package sip left after Close:\n%s", len(left)-before, strings.Join(left, "\n\n"))
	}
}
