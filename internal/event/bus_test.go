package event

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/test/golden"

	"github.com/pleiades-pbx/pleiades/internal/cli"
	"github.com/pleiades-pbx/pleiades/internal/eid"
	"github.com/pleiades-pbx/pleiades/internal/state"
)

var (
	local  = eid.EID{2, 0, 0, 0, 0, 0x0a}
	remote = eid.EID{2, 0, 0, 0, 0, 0x0b}
	third  = eid.EID{2, 0, 0, 0, 0, 0x0c}
)

func waitIdle(t *testing.T, b *Bus) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.WaitIdle(ctx); err != nil {
		t.Fatalf("WaitIdle: %v", err)
	}
}

// recorder collects events.
type recorder struct {
	mu  sync.Mutex
	evs []Event
}

func (r *recorder) handle(ev Event) {
	r.mu.Lock()
	r.evs = append(r.evs, ev)
	r.mu.Unlock()
}

func (r *recorder) events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.evs...)
}

func mwi(mb string, n int, from eid.EID) MWI { return MWI{Mailbox: mb, New: n, EID: from} }

func TestKinds(t *testing.T) {
	for _, k := range Kinds() {
		got, err := ParseKind(k.String())
		if err != nil || got != k {
			t.Errorf("ParseKind(%q) = %v, %v", k, got, err)
		}
	}
	if _, err := ParseKind("presence"); err == nil {
		t.Error("ParseKind(presence) accepted")
	}
	if !KindDeviceState.Shareable() || !KindMWI.Shareable() || KindDeviceStateChange.Shareable() || KindMessageWaiting.Cached() {
		t.Error("wrong shareable/cached kinds")
	}
}

// Events of one key arrive in publish order, also with several publishers on several keys.
func TestOrderPerKey(t *testing.T) {
	b := NewBus(nil, local)
	defer b.Close()
	var rec recorder
	b.Subscribe("order", KindMWI, rec.handle, QueueLen(16))
	const keys, per = 8, 2000
	var wg sync.WaitGroup
	for k := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i <= per; i++ {
				b.Publish(mwi(fmt.Sprintf("box%d@default", k), i, local))
			}
		}()
	}
	wg.Wait()
	waitIdle(t, b)
	last := map[string]int{}
	for _, ev := range rec.events() {
		m := ev.(MWI)
		if m.New <= last[m.Mailbox] {
			t.Fatalf("%s: got %d after %d", m.Mailbox, m.New, last[m.Mailbox])
		}
		last[m.Mailbox] = m.New
	}
	for k := range keys {
		if mb := fmt.Sprintf("box%d@default", k); last[mb] != per {
			t.Errorf("%s: last delivered %d, want %d", mb, last[mb], per)
		}
	}
}

// A stalled subscriber never blocks the publisher: its queue coalesces states per key, and
// once it resumes it gets the latest state of every key.
func TestCoalescingStalledSubscriber(t *testing.T) {
	b := NewBus(nil, local)
	defer b.Close()
	release := make(chan struct{})
	var rec recorder
	var first sync.Once
	started := make(chan struct{})
	b.Subscribe("stalled", KindDeviceState, func(ev Event) {
		first.Do(func() { close(started) })
		<-release
		rec.handle(ev)
	}, QueueLen(8))

	const keys, rounds = 20, 5000
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range rounds {
			for k := range keys {
				b.Publish(DeviceState{Device: fmt.Sprintf("SIP/%d", k), State: state.Device(2 - i%2), EID: remote}) // ends with NOT_INUSE
			}
		}
		// The final state of every key: INUSE.
		for k := range keys {
			b.Publish(DeviceState{Device: fmt.Sprintf("SIP/%d", k), State: state.InUse, EID: remote})
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("publisher blocked by a stalled subscriber")
	}
	<-started
	st := b.Stats()[0]
	if st.Name != "stalled" || st.Coalesced == 0 || st.Dropped != 0 {
		t.Fatalf("stats %+v: want coalescing and no drops", st)
	}
	if st.Depth > 8+keys || st.HighWater > 8+keys {
		t.Fatalf("queue grew to %d (high water %d): want at most QueueLen+keys = %d", st.Depth, st.HighWater, 8+keys)
	}
	close(release)
	waitIdle(t, b)
	final := map[string]state.Device{}
	for _, ev := range rec.events() {
		final[ev.Key()] = ev.(DeviceState).State
	}
	for k := range keys {
		if s := final[fmt.Sprintf("SIP/%d", k)]; s != state.InUse {
			t.Errorf("SIP/%d: last delivered %v, want INUSE", k, s)
		}
	}
	st = b.Stats()[0]
	if got := st.Delivered + st.Coalesced + st.Dropped; got != keys*(rounds+1) {
		t.Errorf("delivered+coalesced+dropped = %d, want %d", got, keys*(rounds+1))
	}
}

func TestDropsAtMaxPending(t *testing.T) {
	b := NewBus(nil, local)
	defer b.Close()
	release := make(chan struct{})
	entered := make(chan struct{}, 100)
	b.Subscribe("tiny", KindMWI, func(Event) { entered <- struct{}{}; <-release }, QueueLen(2), MaxPending(4))
	b.Publish(mwi("first", 1, local))
	<-entered // the handler holds the first event; the queue is empty
	for i := range 10 {
		b.Publish(mwi(fmt.Sprintf("box%d", i), 1, local))
	}
	st := b.Stats()[0]
	if st.Depth != 4 || st.Dropped != 6 || st.Coalesced != 0 {
		t.Fatalf("stats %+v: want depth 4, 6 dropped", st)
	}
	close(release)
	waitIdle(t, b)
	if st := b.Stats()[0]; st.Delivered != 5 {
		t.Fatalf("delivered %d, want 5", st.Delivered)
	}
}

func TestUnchangedStateNotDelivered(t *testing.T) {
	b := NewBus(nil, local)
	defer b.Close()
	var rec recorder
	b.Subscribe("r", KindDeviceState, rec.handle)
	ev := DeviceState{Device: "Custom:a", State: state.InUse, EID: local}
	if !b.Publish(ev) {
		t.Fatal("first publish reported unchanged")
	}
	if b.Publish(ev) {
		t.Fatal("repeated state reported as a change")
	}
	// The same state from another server is a change of that server's entry.
	if !b.Publish(DeviceState{Device: "Custom:a", State: state.InUse, EID: remote}) {
		t.Fatal("remote state reported unchanged")
	}
	waitIdle(t, b)
	if n := len(rec.events()); n != 2 {
		t.Fatalf("delivered %d events, want 2", n)
	}
	if _, unchanged := b.Counters(); unchanged != 1 {
		t.Fatalf("unchanged = %d, want 1", unchanged)
	}
}

func TestOriginFiltersAndKeys(t *testing.T) {
	b := NewBus(nil, local)
	defer b.Close()
	var loc, rem, keyed, all recorder
	b.Subscribe("cluster", KindDeviceState, loc.handle, LocalOnly())
	b.Subscribe("remote", KindDeviceState, rem.handle, RemoteOnly())
	b.SubscribeKeys("hint:1234@default", KindDeviceState, []string{"SIP/alice", "Custom:x", "SIP/alice"}, keyed.handle)
	b.Subscribe("all", KindDeviceState, all.handle)
	b.Publish(DeviceState{Device: "SIP/alice", State: state.InUse, EID: local})
	b.Publish(DeviceState{Device: "SIP/bob", State: state.InUse, EID: remote})
	b.Publish(DeviceState{Device: "Custom:x", State: state.Busy, EID: remote})
	b.Publish(MWI{Mailbox: "SIP/alice", EID: local}) // another kind, same key
	waitIdle(t, b)
	keys := func(r *recorder) (out []string) {
		for _, ev := range r.events() {
			out = append(out, ev.Key())
		}
		return out
	}
	if got := fmt.Sprint(keys(&loc)); got != "[SIP/alice]" {
		t.Errorf("local only: %s", got)
	}
	if got := fmt.Sprint(keys(&rem)); got != "[SIP/bob Custom:x]" {
		t.Errorf("remote only: %s", got)
	}
	if got := fmt.Sprint(keys(&keyed)); got != "[SIP/alice Custom:x]" {
		t.Errorf("keyed: %s", got)
	}
	if got := len(all.events()); got != 3 {
		t.Errorf("all: %d events", got)
	}
	for _, s := range b.Stats() {
		if s.Name == "hint:1234@default" && s.Keys != 2 {
			t.Errorf("keyed subscription watches %d keys, want 2", s.Keys)
		}
	}
}

func TestPurgeAndDump(t *testing.T) {
	b := NewBus(nil, local)
	defer b.Close()
	var rec recorder
	b.Subscribe("r", KindDeviceState, rec.handle, RemoteOnly())
	b.Publish(DeviceState{Device: "Custom:a", State: state.InUse, EID: local})
	b.Publish(DeviceState{Device: "Custom:a", State: state.Ringing, EID: remote})
	b.Publish(DeviceState{Device: "SIP/bob", State: state.Busy, EID: remote})
	b.Publish(DeviceState{Device: "SIP/carol", State: state.Busy, EID: third})
	b.Publish(MWI{Mailbox: "100@default", New: 2, EID: remote})
	b.Publish(MWI{Mailbox: "100@default", New: 1, EID: local})

	dump := b.Dump(KindDeviceState, remote)
	if got := fmt.Sprint(dump); got != fmt.Sprint([]Event{
		DeviceState{Device: "Custom:a", State: state.Ringing, EID: remote},
		DeviceState{Device: "SIP/bob", State: state.Busy, EID: remote},
	}) {
		t.Fatalf("Dump(remote) = %v", got)
	}
	if got := b.Dump(KindDeviceState, local); len(got) != 1 || got[0].Key() != "Custom:a" {
		t.Fatalf("Dump(local) = %v", got)
	}
	if got := b.Dump(KindMWI, local); len(got) != 1 || got[0].(MWI).New != 1 {
		t.Fatalf("Dump(mwi, local) = %v", got)
	}

	counts := b.Purge(remote)
	if counts[KindDeviceState] != 2 || counts[KindMWI] != 1 || len(counts) != 2 {
		t.Fatalf("Purge = %v", counts)
	}
	if d := b.Dump(KindDeviceState, remote); len(d) != 0 {
		t.Fatalf("after purge, Dump(remote) = %v", d)
	}
	if c := b.Cached(KindDeviceState, "Custom:a"); len(c) != 1 || c[0].Origin() != local {
		t.Fatalf("after purge, Custom:a cached = %v", c)
	}
	if c := b.Cached(KindDeviceState, "SIP/carol"); len(c) != 1 {
		t.Fatalf("third server's entry purged too: %v", c)
	}
	if len(b.Purge(remote)) != 0 {
		t.Fatal("second purge removed something")
	}
	waitIdle(t, b)
	var cleared []string
	for _, ev := range rec.events() {
		if c, ok := ev.(Cleared); ok {
			cleared = append(cleared, c.Item+"/"+c.EID.String())
			if c.Kind() != KindDeviceState {
				t.Errorf("Cleared of kind %v", c.Kind())
			}
		}
	}
	if len(cleared) != 2 {
		t.Fatalf("cleared events %v, want 2", cleared)
	}
	if got := b.CacheCounts(); fmt.Sprint(got) != fmt.Sprint([]CacheCount{
		{KindDeviceState, local, 1}, {KindDeviceState, third, 1}, {KindMWI, local, 1},
	}) {
		t.Fatalf("CacheCounts = %v", got)
	}
}

// A key's states and its removal arrive in order.
func TestClearInOrder(t *testing.T) {
	b := NewBus(nil, local)
	defer b.Close()
	var rec recorder
	b.Subscribe("r", KindDeviceState, rec.handle)
	b.Publish(DeviceState{Device: "SIP/a", State: state.InUse, EID: remote})
	if !b.Clear(KindDeviceState, "SIP/a", remote) || b.Clear(KindDeviceState, "SIP/a", remote) {
		t.Fatal("Clear results wrong")
	}
	b.Publish(DeviceState{Device: "SIP/a", State: state.InUse, EID: remote})
	waitIdle(t, b)
	got := rec.events()
	if len(got) != 3 {
		t.Fatalf("got %v", got)
	}
	if _, ok := got[1].(Cleared); !ok {
		t.Fatalf("second event %v, want Cleared", got[1])
	}
}

func TestHandlerPanicKeepsSubscription(t *testing.T) {
	b := NewBus(nil, local)
	defer b.Close()
	var n atomic.Int32
	b.Subscribe("panicky", KindMWI, func(ev Event) {
		if n.Add(1) == 1 {
			panic("boom")
		}
	})
	b.Publish(mwi("a", 1, local))
	b.Publish(mwi("a", 2, local))
	waitIdle(t, b)
	if n.Load() != 2 {
		t.Fatalf("handler ran %d times", n.Load())
	}
}

func TestCloseAndHandlerPublishes(t *testing.T) {
	b := NewBus(nil, local)
	var rec recorder
	// A handler that publishes derived events, as the devstate engine does.
	b.Subscribe("deriver", KindDeviceState, func(ev Event) {
		b.Publish(DeviceStateChange{Device: ev.Key(), State: ev.(DeviceState).State})
	})
	s := b.Subscribe("watcher", KindDeviceStateChange, rec.handle)
	b.Publish(DeviceState{Device: "SIP/a", State: state.Busy, EID: local})
	waitIdle(t, b)
	if got := rec.events(); len(got) != 1 || got[0] != (DeviceStateChange{Device: "SIP/a", State: state.Busy}) {
		t.Fatalf("got %v", got)
	}
	s.Close()
	<-s.Done()
	s.Close()
	b.Publish(DeviceState{Device: "SIP/a", State: state.InUse, EID: local})
	waitIdle(t, b)
	if len(rec.events()) != 1 {
		t.Fatal("closed subscription still delivered")
	}
	b.Close()
	late := b.Subscribe("late", KindMWI, rec.handle)
	<-late.Done()
	if len(b.Stats()) != 0 {
		t.Fatalf("subscriptions left after Close: %v", b.Stats())
	}
}

func TestCLIGolden(t *testing.T) {
	b := NewBus(nil, local)
	defer b.Close()
	r := cli.NewRegistry()
	r.MustRegister(b.Commands()...)
	var rec recorder
	b.Subscribe("devstate", KindDeviceState, rec.handle)
	b.SubscribeKeys("hint:1234@devstate_test", KindDeviceStateChange, []string{"Custom:mystate"}, rec.handle, QueueLen(64))
	b.Subscribe("cluster:device_state", KindDeviceState, rec.handle, LocalOnly())
	for _, ev := range []Event{
		DeviceState{Device: "Custom:mystate", State: state.InUse, EID: local},
		DeviceState{Device: "Custom:mystate", State: state.NotInUse, EID: remote},
		DeviceState{Device: "SIP/bob", State: state.Busy, EID: remote},
		DeviceStateChange{Device: "Custom:mystate", State: state.InUse},
		MWI{Mailbox: "1234@default", New: 1, EID: local},
	} {
		b.Publish(ev)
		waitIdle(t, b) // one at a time: high-water marks of 1
	}
	var out bytes.Buffer
	for _, line := range []string{"event show queues", "event show cache", "core show taskprocessors", "core show taskprocessors like HINT:", "core show taskprocessors like nothing"} {
		fmt.Fprintf(&out, "> %s\n", line)
		if err := r.Run(context.Background(), line, &out, nil); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
	}
	golden.Check(t, "cli.golden", out.String())
}
