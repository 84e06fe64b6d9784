package ami

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/state"
)

// fanout publishes n DeviceStateChange events to k logged-in clients and checks that every
// client receives all of them in order. The publisher never lets a client lag more than
// half its queue behind (a real publisher is slower than this loop), so nothing may be cut.
func fanout(tb testing.TB, k, n int) (elapsed time.Duration) {
	e := startServer(tb, testConf, nil)
	clients := make([]*client, k)
	for i := range clients {
		clients[i] = dial(tb, e.addr)
		clients[i].login("admin", "adminpw", "Events: call")
	}
	progress := make([]atomic.Int64, k)
	var wg sync.WaitGroup
	errs := make(chan error, k)
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < n; j++ {
				c.c.SetReadDeadline(time.Now().Add(30 * time.Second))
				p, err := c.r.ReadPacket()
				if err != nil {
					errs <- fmt.Errorf("client %d at %d: %v", i, j, err)
					return
				}
				if p.Get("Device") != "Custom:bench"+strconv.Itoa(j%100) || p.Get("Seq") != strconv.Itoa(j) {
					errs <- fmt.Errorf("client %d: event %d out of order: %q", i, j, p.Lines)
					return
				}
				progress[i].Store(int64(j + 1))
			}
		}()
	}
	lag := int64(DefaultEventQueueSize / 2)
	start := time.Now()
	for j := 0; j < n; j++ {
		if j%256 == 0 {
			for i := range progress {
				for int64(j)-progress[i].Load() > lag {
					time.Sleep(50 * time.Microsecond)
				}
			}
		}
		e.srv.Publish(Event{Name: "DeviceStateChange", Class: ClassCall, Fields: []Field{
			{"Device", "Custom:bench" + strconv.Itoa(j%100)}, {"State", "INUSE"}, {"Seq", strconv.Itoa(j)}}})
	}
	wg.Wait()
	elapsed = time.Since(start)
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
	if st := e.srv.Stats(); st.SlowClientsCut != 0 || st.EventsLost != 0 {
		tb.Fatalf("clients cut: %+v", st)
	}
	return elapsed
}

func TestFanout10Clients(t *testing.T) {
	n := 100000
	if testing.Short() {
		n = 10000
	}
	d := fanout(t, 10, n)
	t.Logf("%d events to 10 clients in %v: %.0f events/s published, %.0f deliveries/s", n, d,
		float64(n)/d.Seconds(), float64(10*n)/d.Seconds())
}

// BenchmarkFanout10 measures events published per second with 10 clients receiving all of
// them in order (go test -bench Fanout -benchtime 200000x ./internal/ami/).
func BenchmarkFanout10(b *testing.B) {
	d := fanout(b, 10, b.N)
	b.ReportMetric(float64(b.N)/d.Seconds(), "events/s")
	b.ReportMetric(float64(10*b.N)/d.Seconds(), "deliveries/s")
}

// BenchmarkPublishNoListener is the cost of an event nobody wants (filtered before queueing).
func BenchmarkPublishNoListener(b *testing.B) {
	e := startServer(b, testConf, nil)
	for i := 0; i < 100; i++ {
		c := dial(b, e.addr)
		c.login("admin", "adminpw", "Events: system")
	}
	ev := DeviceStateChangeEvent("Custom:x", state.InUse)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.srv.Publish(ev)
	}
}
