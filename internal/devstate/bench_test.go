package devstate

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/event"
	"github.com/pleiades-pbx/pleiades/internal/state"
)

func benchNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("SIP/phone%06d", i)
	}
	return names
}

// BenchmarkSetToSubscriber measures device-state changes absorbed end to end: Engine.Set ->
// bus -> the engine's aggregation -> DeviceStateChange -> a subscriber, with every device
// alternating between NOT_INUSE and INUSE (each Set is a change). The clock stops when the
// subscriber has handled everything (coalesced states included).
func BenchmarkSetToSubscriber(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("devices=%d", n), func(b *testing.B) {
			bus, eng, got, names := benchSetup(b, n)
			ctx := context.Background()
			before := stats(bus)
			got.Store(0)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				st := state.InUse
				if (i/n)%2 == 1 {
					st = state.NotInUse
				}
				eng.Set(names[i%n], st)
			}
			bus.WaitIdle(ctx)
			el := time.Since(start)
			b.StopTimer()
			after := stats(bus)
			b.ReportMetric(float64(b.N)/el.Seconds(), "changes/s")
			b.ReportMetric(float64(got.Load())/float64(b.N), "notified/op")
			b.ReportMetric(float64(after["devstate"].Coalesced-before["devstate"].Coalesced+after["bench"].Coalesced-before["bench"].Coalesced)/float64(b.N), "coalesced/op")
		})
	}
}

func stats(bus *event.Bus) map[string]event.QueueStats {
	m := map[string]event.QueueStats{}
	for _, s := range bus.Stats() {
		m[s.Name] = s
	}
	return m
}

// BenchmarkMemoryPerDevice reports the heap a device costs with states from this server and
// one other, everything included (the bus cache, the engine's last aggregate).
func BenchmarkMemoryPerDevice(b *testing.B) {
	const n = 100_000
	names := benchNames(n) // not counted: the caller owns the names
	var ms runtime.MemStats
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	for range b.N {
		bus := event.NewBus(nil, serverA)
		eng, err := New(nil, bus, nil)
		if err != nil {
			b.Fatal(err)
		}
		h0 := heap()
		for _, d := range names {
			eng.Set(d, state.InUse)
			bus.Publish(event.DeviceState{Device: d, State: state.NotInUse, EID: serverB})
		}
		bus.WaitIdle(context.Background())
		h1 := heap()
		b.ReportMetric(float64(h1-h0)/n, "bytes/device")
		runtime.KeepAlive(eng)
		eng.Close()
		bus.Close()
	}
}

// BenchmarkSetToSubscriberPaced is the same path without coalescing: changes come in bursts
// of 256 (below the queue length) and every one reaches the subscriber, so ns/op is the full
// cost of one change; compare 1k and 100k devices.
func BenchmarkSetToSubscriberPaced(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("devices=%d", n), func(b *testing.B) {
			bus, eng, got, names := benchSetup(b, n)
			ctx := context.Background()
			got.Store(0)
			b.ResetTimer()
			for i := range b.N {
				st := state.InUse
				if (i/n)%2 == 1 {
					st = state.NotInUse
				}
				eng.Set(names[i%n], st)
				if i%256 == 255 {
					bus.WaitIdle(ctx)
				}
			}
			bus.WaitIdle(ctx)
			b.StopTimer()
			b.ReportMetric(float64(got.Load())/float64(b.N), "notified/op")
		})
	}
}

// benchSetup is a bus with the engine and a counting subscriber, and n devices at NOT_INUSE
// (settled).
func benchSetup(b *testing.B, n int) (*event.Bus, *Engine, *atomic.Int64, []string) {
	bus := event.NewBus(nil, serverA)
	b.Cleanup(bus.Close)
	eng, err := New(nil, bus, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { eng.Close() })
	got := new(atomic.Int64)
	bus.Subscribe("bench", event.KindDeviceStateChange, func(event.Event) { got.Add(1) })
	names := benchNames(n)
	for _, d := range names {
		eng.Set(d, state.NotInUse)
	}
	bus.WaitIdle(context.Background())
	return bus, eng, got, names
}
