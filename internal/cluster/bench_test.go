package cluster

import (
	"context"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// benchPair starts two routed embedded nodes that log nothing; secure puts their routes
// under mutual TLS and a route password.
func benchPair(b *testing.B, secure bool) (*node, *node) {
	var p *pki
	if secure {
		p = newPKI(b)
	}
	mk := func(name string, id byte, routes ...string) *node {
		cfg := DefaultConfig()
		cfg.NodeName, cfg.ClusterName, cfg.Listen, cfg.Routes = name, "bench", "127.0.0.1:0", routes
		if secure {
			withRouteTLS(p, p.good)(cfg)
			withRouteUser("bench", "secret")(cfg)
		}
		n := &node{local: newFakeLocal(), logs: &logLines{}, eid: testEID(id), name: name}
		c, err := New(cfg, n.eid, slog.New(slog.DiscardHandler), n.local)
		if err != nil {
			b.Fatal(err)
		}
		n.c = c
		if err := c.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Stop(context.Background()) })
		return n
	}
	a := mk("a", 1)
	c := mk("b", 2, a.routeURL())
	meshed(b, 5*time.Second, a, c)
	return a, c
}

func report(b *testing.B, samples []time.Duration) {
	slices.Sort(samples)
	if len(samples) == 0 {
		return
	}
	pct := func(p float64) float64 {
		return float64(samples[int(float64(len(samples)-1)*p)].Nanoseconds()) / 1e3
	}
	b.ReportMetric(pct(0.5), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric(float64(len(samples)), "samples")
}

// BenchmarkLatency measures one message at a time from node a to node b: raw NATS
// publish→receive between the two embedded servers, and Cluster Publish→Local.Apply.
// Run with -benchtime=10000x for a sample of 10k. The -tls variants run the same over routes
// with mutual TLS and a route password (issue 18: ≤ 1.3× the plaintext p50).
func BenchmarkLatency(b *testing.B) {
	for _, secure := range []bool{false, true} {
		suffix := ""
		if secure {
			suffix = "-tls"
		}
		b.Run("raw-nats"+suffix, func(b *testing.B) { benchRaw(b, secure) })
		b.Run("cluster"+suffix, func(b *testing.B) { benchCluster(b, secure) })
	}
}

func benchRaw(b *testing.B, secure bool) {
	a, c := benchPair(b, secure)
	got := make(chan struct{}, 1)
	sub, err := c.c.nc.Subscribe("bench.raw", func(*nats.Msg) { got <- struct{}{} })
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Unsubscribe()
	c.c.nc.Flush()
	waitFor(b, 5*time.Second, "interest", func() bool {
		a.c.nc.Publish("bench.raw", []byte("x"))
		select {
		case <-got:
			return true
		case <-time.After(10 * time.Millisecond):
			return false
		}
	})
	time.Sleep(50 * time.Millisecond)
	for len(got) > 0 {
		<-got
	}
	payload := sampleMessages()[0].encode(nil)
	samples := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		a.c.nc.Publish("bench.raw", payload)
		<-got
		samples = append(samples, time.Since(t0))
	}
	b.StopTimer()
	report(b, samples)
}

func benchCluster(b *testing.B, secure bool) {
	a, c := benchPair(b, secure)
	got := make(chan struct{}, 1)
	c.local.mu.Lock()
	c.local.onApply = func(Event) { got <- struct{}{} }
	c.local.mu.Unlock()
	fields := []string{"INUSE"}
	samples := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		a.c.Publish(Event{Type: TypeDeviceState, Key: "Custom:bench", Fields: fields, Time: t0})
		<-got
		samples = append(samples, time.Since(t0))
	}
	b.StopTimer()
	report(b, samples)
}

// BenchmarkThroughput publishes b.N events on node a as fast as possible and waits until node
// b has applied all of them (no loss allowed).
func BenchmarkThroughput(b *testing.B) {
	a, c := benchPair(b, false)
	var applied atomic.Int64
	done := make(chan struct{})
	target := int64(b.N)
	c.local.mu.Lock()
	c.local.onApply = func(Event) {
		if applied.Add(1) == target {
			close(done)
		}
	}
	c.local.mu.Unlock()
	// The fake keeps every applied event: reset its log so memory stays flat.
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = "SIP/phone" + strconv.Itoa(i)
	}
	states := [][]string{{"INUSE"}, {"NOT_INUSE"}, {"RINGING"}}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		a.c.Publish(Event{Type: TypeDeviceState, Key: keys[i%len(keys)], Fields: states[i%len(states)]})
	}
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		b.Fatalf("only %d of %d events applied; stats %+v", applied.Load(), b.N, c.c.Stats())
	}
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "events/s")
	st := c.c.Stats()
	if st.Gaps != 0 || st.Types[TypeDeviceState].Applied < uint64(b.N) {
		b.Errorf("loss: %+v", st)
	}
	c.local.mu.Lock()
	c.local.applied = nil
	c.local.mu.Unlock()
}

// delayProxy forwards TCP to target, each byte delivered delay after it arrived, in order
// (a WAN link's one-way latency, without netem).
func delayProxy(b *testing.B, target string, delay time.Duration) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	b.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	pipe := func(dst, src net.Conn) {
		type chunk struct {
			at   time.Time
			data []byte
		}
		q := make(chan chunk, 1024)
		go func() {
			for c := range q {
				time.Sleep(time.Until(c.at))
				if _, err := dst.Write(c.data); err != nil {
					break
				}
			}
			dst.Close()
		}()
		buf := make([]byte, 64<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				q <- chunk{time.Now().Add(delay), slices.Clone(buf[:n])}
			}
			if err != nil {
				close(q)
				return
			}
		}
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, up)
			mu.Unlock()
			go pipe(up, c)
			go pipe(c, up)
		}
	}()
	return ln.Addr().String()
}

// BenchmarkSiteLatency: two sites of one server each whose gateways (both directions) cross
// proxies delaying 40 ms each way, with route TLS: Publish on berlin → Local.Apply on paris.
// The goal: 40 ms + 5 ms at the median.
func BenchmarkSiteLatency(b *testing.B) {
	p := newPKI(b)
	const delay = 40 * time.Millisecond
	gb, gp := freeAddr(b), freeAddr(b)
	pb, pp := delayProxy(b, gb, delay), delayProxy(b, gp, delay)
	mk := func(name string, id byte, site, listen, adv, other, otherGW string) *node {
		cfg := DefaultConfig()
		cfg.NodeName, cfg.ClusterName = name, "bench"
		cfg.Site, cfg.GatewayListen, cfg.GatewayAdvertise = site, listen, adv
		cfg.Sites = []Site{{Name: other, Gateways: []string{otherGW}}}
		withRouteTLS(p, p.good)(cfg)
		n := &node{local: newFakeLocal(), logs: &logLines{}, eid: testEID(id), name: name}
		c, err := New(cfg, n.eid, slog.New(slog.DiscardHandler), n.local)
		if err != nil {
			b.Fatal(err)
		}
		n.c = c
		if err := c.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Stop(context.Background()) })
		return n
	}
	berlin := mk("berlin1", 1, "berlin", gb, pb, "paris", pp)
	paris := mk("paris1", 2, "paris", gp, pp, "berlin", pb)
	meshed(b, 15*time.Second, berlin, paris)
	got := make(chan struct{}, 1)
	paris.local.mu.Lock()
	paris.local.onApply = func(Event) { got <- struct{}{} }
	paris.local.mu.Unlock()
	fields := []string{"INUSE"}
	samples := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		berlin.c.Publish(Event{Type: TypeDeviceState, Key: "Custom:bench", Fields: fields, Time: t0})
		<-got
		samples = append(samples, time.Since(t0))
	}
	b.StopTimer()
	report(b, samples)
}
