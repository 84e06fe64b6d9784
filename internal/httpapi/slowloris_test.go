package httpapi

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// slowClient holds a connection from src that sends a request's headers a line at a time and
// never ends them; when the server closes it, it connects again (until ctx ends). It counts
// its connections.
func slowClient(ctx context.Context, wg *sync.WaitGroup, addr string, src net.IP, reconnect bool, conns *atomic.Int32) {
	defer wg.Done()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Timeout: time.Second}
	for ctx.Err() == nil {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		conns.Add(1)
		_, err = c.Write([]byte("GET /metrics HTTP/1.1\r\nHost: x\r\n"))
		for err == nil && ctx.Err() == nil {
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
				_, err = c.Write([]byte("X-Slow: 1\r\n"))
			}
		}
		c.Close()
		if !reconnect {
			<-ctx.Done()
		}
	}
}

// Slowloris from 100 addresses fills sessionlimit (100) with connections that never finish
// their headers, and reconnects whenever one is closed: 95 legitimate requests still all get
// an answer, quickly, because a new connection evicts the one that has waited longest
// without a request in progress.
func TestSlowClientsDoNotLockOutOthers(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var conns atomic.Int32
	for i := range DefaultSessionLimit {
		wg.Add(1)
		go slowClient(ctx, &wg, f.srv.Addr(), net.IPv4(127, 0, 1, byte(i+1)), true, &conns)
	}
	defer func() { cancel(); wg.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for conns.Load() < DefaultSessionLimit {
		if time.Now().After(deadline) {
			t.Fatalf("only %d slow connections", conns.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	start, ok := time.Now(), 0
	for range 95 {
		resp, err := client.Get(f.base + "/metrics")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				ok++
			}
		}
		if time.Since(start) > 20*time.Second {
			break
		}
	}
	t.Logf("%d of 95 requests answered in %v beside 100 slow clients (%d slow connections made)", ok, time.Since(start).Round(time.Millisecond), conns.Load())
	if ok != 95 {
		t.Fatalf("%d of 95 legitimate requests got through", ok)
	}
}

// One address holds at most sessionlimit_per_address connections; the rest are closed at
// once, and others are served.
func TestSessionLimitPerAddress(t *testing.T) {
	f := newFixture(t, fixtureOpts{httpConf: testHTTPConf + "sessionlimit_per_address = 10\n"})
	var open []net.Conn
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: time.Second}
	for range 30 {
		c, err := d.Dial("tcp", f.srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("GET /metrics HTTP/1.1\r\nHost: x\r\n"))
		open = append(open, c)
	}
	alive := 0
	for _, c := range open {
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); errors.Is(err, os.ErrDeadlineExceeded) {
			alive++
		}
	}
	if alive != 10 {
		t.Errorf("%d connections from 127.0.0.2 held open, want 10", alive)
	}
	resp, err := http.Get(f.base + "/metrics")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("from 127.0.0.1: %v %v", resp, err)
	}
	resp.Body.Close()
	if _, err := parseSettings(parseConf(t, "http.conf", "[general]\nsessionlimit_per_address = -1\n"), nil, ""); err == nil {
		t.Error("sessionlimit_per_address = -1 accepted")
	}
}
