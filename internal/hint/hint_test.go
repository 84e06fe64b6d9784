package hint

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/cli"
	"github.com/pleiades-pbx/pleiades/internal/devstate"
	"github.com/pleiades-pbx/pleiades/internal/eid"
	"github.com/pleiades-pbx/pleiades/internal/event"
	"github.com/pleiades-pbx/pleiades/internal/state"
)

var local = eid.EID{2, 0, 0, 0, 0, 1}

type fixture struct {
	bus *event.Bus
	ds  *devstate.Engine
	e   *Engine
}

func newFixture(t testing.TB) *fixture {
	bus := event.NewBus(nil, local)
	ds, err := devstate.New(nil, bus, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := New(nil, bus, ds, "extensions.conf", "realtime")
	t.Cleanup(func() { e.Close(); ds.Close(); bus.Close() })
	return &fixture{bus, ds, e}
}

func (f *fixture) idle(t testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.bus.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
}

type recorder struct {
	mu  sync.Mutex
	got []string
}

func (r *recorder) watch(s State) {
	r.mu.Lock()
	r.got = append(r.got, s.Key()+"="+s.State.String())
	r.mu.Unlock()
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.got, " ")
}

func TestHintFollowsItsDevices(t *testing.T) {
	f := newFixture(t)
	f.e.Sync("extensions.conf", []Spec{
		{Exten: "1234", Context: "test", Devices: "Custom:a&Custom:b"},
		{Exten: "99", Context: "test", Devices: "Custom:other"},
	})
	var rec, all recorder
	f.e.Watch("1234", "test", rec.watch)
	f.e.WatchAll(all.watch)
	if h, _ := f.e.Get("1234", "test"); h.State != state.ExtNotInUse {
		t.Fatalf("initial %v", h.State)
	}
	f.ds.Set("Custom:a", state.InUse)
	f.idle(t)
	f.ds.Set("Custom:b", state.Ringing)
	f.idle(t)
	f.ds.Set("Custom:other", state.Busy)
	f.idle(t)
	f.ds.Set("Custom:a", state.NotInUse)
	f.idle(t)
	if got, want := rec.String(), "1234@test=InUse 1234@test=InUse&Ringing 1234@test=Ringing"; got != want {
		t.Fatalf("watcher got %q, want %q", got, want)
	}
	if got := all.String(); !strings.Contains(got, "99@test=Busy") {
		t.Fatalf("all-watcher got %q", got)
	}
	if n := f.e.Watchers("1234", "test"); n != 1 {
		t.Fatalf("watchers %d", n)
	}
}

func TestReloadKeepsWatchers(t *testing.T) {
	f := newFixture(t)
	f.e.Sync("extensions.conf", []Spec{{Exten: "1", Context: "c", Devices: "Custom:x"}})
	var rec recorder
	cancel := f.e.Watch("1", "c", rec.watch)
	f.e.Sync("extensions.conf", nil) // the hint disappears
	f.ds.Set("Custom:x", state.InUse)
	f.idle(t)
	f.e.Sync("extensions.conf", []Spec{{Exten: "1", Context: "c", Devices: "Custom:x"}}) // and returns
	f.e.Sync("extensions.conf", []Spec{{Exten: "1", Context: "c", Devices: "Custom:x&Custom:y"}})
	if got, want := rec.String(), "1@c=Removed 1@c=InUse"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	cancel()
	if f.e.Watchers("1", "c") != 0 {
		t.Fatal("cancel did not remove the watcher")
	}
	// The changed device list is indexed: y matters now, and only y and x.
	f.ds.Set("Custom:y", state.Busy)
	f.idle(t)
	if h, _ := f.e.Get("1", "c"); h.State != state.ExtBusy|state.ExtInUse && h.State != state.ExtBusy {
		t.Fatalf("state after device list change: %v", h.State)
	}
}

func TestSourcePriority(t *testing.T) {
	f := newFixture(t)
	f.e.Sync("realtime", []Spec{{Exten: "1", Context: "c", Devices: "Custom:rt"}, {Exten: "2", Context: "c", Devices: "Custom:rt2"}})
	f.e.Sync("extensions.conf", []Spec{{Exten: "1", Context: "c", Devices: "Custom:static"}})
	if h, _ := f.e.Get("1", "c"); h.Devices != "Custom:static" {
		t.Fatalf("static hint must win: %+v", h)
	}
	if _, ok := f.e.Get("2", "c"); !ok {
		t.Fatal("realtime-only hint missing")
	}
	f.e.Sync("extensions.conf", nil)
	if h, _ := f.e.Get("1", "c"); h.Devices != "Custom:rt" {
		t.Fatalf("realtime hint must come back: %+v", h)
	}
}

func TestCLI(t *testing.T) {
	f := newFixture(t)
	r := cli.NewRegistry()
	r.MustRegister(f.e.Commands()...)
	var out bytes.Buffer
	r.Run(context.Background(), "core show hints", &out, nil)
	if out.String() != "There are no registered dialplan hints\n" {
		t.Fatalf("empty: %q", out.String())
	}
	f.e.Sync("extensions.conf", []Spec{{Exten: "1234", Context: "devstate_test", Devices: "Custom:mystate"}})
	f.ds.Set("Custom:mystate", state.InUse)
	f.idle(t)
	out.Reset()
	r.Run(context.Background(), "core show hints", &out, nil)
	want := "\n    -= Registered Asterisk Dial Plan Hints =-\n" +
		fmt.Sprintf("%-30s: %-60s  State:%-15s Presence:%-15s Watchers %2d\n", "1234@devstate_test", "Custom:mystate", "InUse", "not_set", 0) +
		"----------------\n- 1 hints registered\n"
	if out.String() != want {
		t.Fatalf("got\n%q\nwant\n%q", out.String(), want)
	}
	out.Reset()
	if err := r.Run(context.Background(), "core show hint 99", &out, nil); err == nil || out.String() != "No hints matching extension 99\n" {
		t.Fatalf("no match: %v %q", err, out.String())
	}
	out.Reset()
	r.Run(context.Background(), "core show hint 12", &out, nil)
	// Asterisk 20's handle_show_hint: no header, the lines, then the count of matches.
	want = fmt.Sprintf("%-30s: %-60s  State:%-15s Presence:%-15s Watchers %2d\n", "1234@devstate_test", "Custom:mystate", "InUse", "not_set", 0) +
		"1 hint matching extension 12\n"
	if out.String() != want {
		t.Fatalf("match:\n%q\nwant\n%q", out.String(), want)
	}
}

// benchHints measures one device change through devstate -> hint -> watcher with n hints
// over n devices and one watcher per hint: the cost per change must not grow with n. It also
// reports the memory the hints take.
func benchHints(b *testing.B, n int) {
	f := newFixture(b)
	specs := make([]Spec, n)
	names := make([]string, n)
	for i := range specs {
		names[i] = fmt.Sprintf("Custom:d%d", i)
		specs[i] = Spec{Exten: fmt.Sprint(i), Context: "bench", Devices: names[i]}
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f.e.Sync("extensions.conf", specs)
	var notified atomic.Int64
	for i := range specs {
		f.e.Watch(specs[i].Exten, "bench", func(State) { notified.Add(1) })
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	states := []state.Device{state.InUse, state.NotInUse}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// A burst of 256 changes, then wait: every change is delivered, none coalesced.
		f.ds.Set(names[(i*7919)%n], states[(i/n)&1])
		if i%256 == 255 {
			f.idle(b)
		}
	}
	f.idle(b)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "changes/s")
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(n), "bytes/hint")
}

func BenchmarkChange1kHints(b *testing.B)   { benchHints(b, 1000) }
func BenchmarkChange10kHints(b *testing.B)  { benchHints(b, 10000) }
func BenchmarkChange100kHints(b *testing.B) { benchHints(b, 100000) }

// WatchDevices is told of every device change (with or without hints) after the hint
// watchers the change made, on one goroutine: the order a front end reporting both needs.
func TestWatchDevicesAfterHintWatchers(t *testing.T) {
	f := newFixture(t)
	f.e.Sync("extensions.conf", []Spec{
		{Exten: "1234", Context: "test", Devices: "Custom:a"},
		{Exten: "1235", Context: "test", Devices: "Custom:a&Custom:b"},
	})
	var rec recorder
	f.e.WatchAll(rec.watch)
	cancel := f.e.WatchDevices(func(ev event.DeviceStateChange) {
		rec.mu.Lock()
		rec.got = append(rec.got, "dev:"+ev.Device+"="+ev.State.String())
		rec.mu.Unlock()
	})
	f.ds.Set("Custom:a", state.InUse)
	f.idle(t)
	f.ds.Set("Custom:nohint", state.Busy)
	f.idle(t)
	f.ds.Set("Custom:b", state.InUse) // 1235 stays InUse: no hint change
	f.idle(t)
	want := "1234@test=InUse 1235@test=InUse dev:Custom:a=INUSE dev:Custom:nohint=BUSY dev:Custom:b=INUSE"
	if got := rec.String(); got != strings.Replace(want, "1234@test=InUse 1235@test=InUse", "1235@test=InUse 1234@test=InUse", 1) && got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	cancel()
	f.ds.Set("Custom:b", state.NotInUse)
	f.idle(t)
	if got := rec.String(); strings.Contains(got, "dev:Custom:b=NOT_INUSE") {
		t.Fatalf("told after cancel: %q", got)
	}
}

// TestWaitDevice: WaitDevice returns once the device watchers have been told of the state
// (whether or not a hint names the device), at once when they already were, and false after
// its bound for a state that never comes.
func TestWaitDevice(t *testing.T) {
	f := newFixture(t)
	f.e.Sync("extensions.conf", []Spec{{Exten: "1234", Context: "test", Devices: "Custom:a"}})
	var mu sync.Mutex
	var told []string
	f.e.WatchDevices(func(ev event.DeviceStateChange) {
		mu.Lock()
		told = append(told, ev.Device+"="+ev.State.String())
		mu.Unlock()
	})
	for _, dev := range []string{"Custom:a", "Custom:nohint"} {
		f.ds.Set(dev, state.InUse)
		if !f.e.WaitDevice(dev, f.ds.State(dev), 2*time.Second) {
			t.Fatalf("%s: not told", dev)
		}
		mu.Lock()
		last := told[len(told)-1]
		mu.Unlock()
		if last != dev+"=INUSE" {
			t.Errorf("%s: WaitDevice returned before the watchers were told (last %q)", dev, last)
		}
		start := time.Now()
		if !f.e.WaitDevice(dev, state.InUse, time.Second) || time.Since(start) > 100*time.Millisecond {
			t.Errorf("%s: already told, but WaitDevice waited %v", dev, time.Since(start))
		}
	}
	start := time.Now()
	if f.e.WaitDevice("Custom:a", state.Busy, 50*time.Millisecond) {
		t.Error("told a state never set")
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("gave up after %v", d)
	}
}

// BenchmarkSetAndWaitDevice is what the SIP driver's synchronous device report costs at the
// answer of a call: a state set, then the wait until the device watchers (AMI) were told —
// two goroutine hand-offs (the device-state engine's, this engine's).
func BenchmarkSetAndWaitDevice(b *testing.B) {
	f := newFixture(b)
	f.e.Sync("extensions.conf", []Spec{{Exten: "200", Context: "calls", Devices: "SIP/bob"}})
	f.e.WatchDevices(func(event.DeviceStateChange) {})
	states := [2]state.Device{state.InUse, state.NotInUse}
	b.ResetTimer()
	for i := range b.N {
		st := states[i%2]
		f.ds.Set("SIP/bob", st)
		if !f.e.WaitDevice("SIP/bob", f.ds.State("SIP/bob"), time.Second) {
			b.Fatal("not told")
		}
	}
}
