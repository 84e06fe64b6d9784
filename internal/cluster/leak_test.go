package cluster

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestStopLeavesNoGoroutine: the timer loop, the snapshot senders, the embedded NATS server and
// the connection all end with Stop, even when Stop's context has expired: the ctx bounds the
// wait for the leave message and for senders to finish sending, not the life of what Stop
// stops.
func TestStopLeavesNoGoroutine(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	a := newNode(t, "a", 1).start(t)
	a.set(TypeDeviceState, "Custom:a", "INUSE")
	entered := make(chan struct{}, 4)
	var finished atomic.Int32
	a.local.mu.Lock()
	a.local.onSnapshot = func() {
		entered <- struct{}{}
		time.Sleep(300 * time.Millisecond) // a snapshot still being read when Stop comes
		finished.Add(1)
	}
	a.local.mu.Unlock()
	b := newNode(t, "b", 2, withRoutes(a.routeURL())).start(t)
	select {
	case <-entered: // b's join made a serve a snapshot
	case <-time.After(5 * time.Second):
		t.Fatal("no snapshot asked of a")
	}
	expired, cancel := context.WithCancel(context.Background())
	cancel()
	a.c.Stop(expired)
	if finished.Load() == 0 {
		t.Fatal("Stop returned while a snapshot sender was still running")
	}
	b.c.Stop(expired)
}
