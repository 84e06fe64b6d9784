package cluster

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/eid"
	"github.com/pleiades-pbx/pleiades/internal/logger"
)

// fakeLocal is a Local that keeps this server's own events (served by Snapshot) and the
// remote ones applied, and records every Apply and Purge.
type fakeLocal struct {
	mu      sync.Mutex
	own     map[typeKey]Event
	remote  map[string]Event // typ|key|eid
	applied []Event
	purges  []string // "typ eid n"
	onApply func(Event)
	// onSnapshot, when set, runs at the start of every Snapshot (outside the lock).
	onSnapshot func()
}

func newFakeLocal() *fakeLocal {
	return &fakeLocal{own: map[typeKey]Event{}, remote: map[string]Event{}}
}

func rkey(typ, key string, e eid.EID) string { return typ + "|" + key + "|" + e.String() }

func (f *fakeLocal) Snapshot(typ string) []Event {
	f.mu.Lock()
	hook := f.onSnapshot
	f.mu.Unlock()
	if hook != nil {
		hook()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Event
	for k, e := range f.own {
		if k.typ == typ {
			out = append(out, e)
		}
	}
	return out
}

func (f *fakeLocal) Apply(e Event) {
	f.mu.Lock()
	f.applied = append(f.applied, e)
	if len(e.Fields) == 0 {
		delete(f.remote, rkey(e.Type, e.Key, e.EID))
	} else {
		f.remote[rkey(e.Type, e.Key, e.EID)] = e
	}
	cb := f.onApply
	f.mu.Unlock()
	if cb != nil {
		cb(e)
	}
}

func (f *fakeLocal) Purge(typ string, origin eid.EID) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for k, e := range f.remote {
		if e.Type == typ && e.EID == origin {
			delete(f.remote, k)
			n++
		}
	}
	f.purges = append(f.purges, fmt.Sprintf("%s %s %d", typ, origin, n))
	return n
}

// state returns the remote state of (typ, key) from origin ("" when absent).
func (f *fakeLocal) state(typ, key string, origin eid.EID) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.remote[rkey(typ, key, origin)]
	if !ok {
		return ""
	}
	return strings.Join(e.Fields, ",")
}

func (f *fakeLocal) remoteCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.remote)
}

func (f *fakeLocal) appliedFrom(origin eid.EID) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, e := range f.applied {
		if e.EID == origin {
			n++
		}
	}
	return n
}

// logLines captures log messages (debug 1 and above).
type logLines struct {
	mu    sync.Mutex
	lines []string
}

type capHandler struct {
	l    *logLines
	name string
}

func (h *capHandler) Enabled(_ context.Context, lv slog.Level) bool {
	return lv >= logger.DebugLevel(1)
}

func (h *capHandler) Handle(_ context.Context, r slog.Record) error {
	h.l.mu.Lock()
	h.l.lines = append(h.l.lines, fmt.Sprintf("%s %s: %s", r.Level, h.name, r.Message))
	h.l.mu.Unlock()
	return nil
}
func (h *capHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *capHandler) WithGroup(string) slog.Handler      { return h }

func (l *logLines) has(substr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.lines {
		if strings.Contains(s, substr) {
			return true
		}
	}
	return false
}

func (l *logLines) count(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.lines {
		if strings.Contains(s, substr) {
			n++
		}
	}
	return n
}

func (l *logLines) dump(t testing.TB) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.lines {
		t.Log(s)
	}
}

// node is one Cluster under test.
type node struct {
	c     *Cluster
	local *fakeLocal
	logs  *logLines
	eid   eid.EID
	name  string
}

type nodeOpt func(*Config)

func withRoutes(r ...string) nodeOpt { return func(c *Config) { c.Routes = r } }
func withTimeout(hb, timeout time.Duration) nodeOpt {
	return func(c *Config) { c.HeartbeatInterval, c.MemberTimeout = hb, timeout }
}
func withTypes(pub, sub []string) nodeOpt {
	return func(c *Config) {
		c.Channels = []Channel{{Name: "test", Publish: pub, Subscribe: sub}}
		c.DefaultChannels = false
	}
}

func testEID(n byte) eid.EID { return eid.EID{0x02, 0, 0, 0, 0, n} }

// newNode makes an embedded node listening for routes on a random loopback port.
func newNode(t testing.TB, name string, id byte, opts ...nodeOpt) *node {
	t.Helper()
	cfg := DefaultConfig()
	cfg.NodeName = name
	cfg.ClusterName = "test"
	cfg.Listen = "127.0.0.1:0"
	cfg.HeartbeatInterval = 100 * time.Millisecond
	cfg.MemberTimeout = 500 * time.Millisecond
	cfg.Version = "test"
	for _, o := range opts {
		o(cfg)
	}
	return newNodeCfg(t, name, testEID(id), cfg)
}

func newNodeCfg(t testing.TB, name string, id eid.EID, cfg *Config) *node {
	t.Helper()
	n := &node{local: newFakeLocal(), logs: &logLines{}, eid: id, name: name}
	c, err := New(cfg, id, slog.New(&capHandler{l: n.logs, name: name}), n.local)
	if err != nil {
		t.Fatal(err)
	}
	n.c = c
	t.Cleanup(func() {
		if t.Failed() {
			n.logs.dump(t)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.Stop(ctx)
	})
	return n
}

func (n *node) start(t testing.TB) *node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return n
}

// routeURL is the node's route address, to give to others as routes=.
func (n *node) routeURL() string { return n.c.RouteAddr().String() }

// set changes this node's own state and publishes it.
func (n *node) set(typ, key string, fields ...string) {
	e := Event{Type: typ, Key: key, Fields: fields, EID: n.eid, Time: time.Now()}
	n.local.mu.Lock()
	if len(fields) == 0 {
		delete(n.local.own, typeKey{typ, key})
	} else {
		n.local.own[typeKey{typ, key}] = e
	}
	n.local.mu.Unlock()
	n.c.Publish(e)
}

// setQuiet changes the own state without publishing (as if the publish was lost).
func (n *node) setQuiet(typ, key string, fields ...string) {
	n.local.mu.Lock()
	defer n.local.mu.Unlock()
	if len(fields) == 0 {
		delete(n.local.own, typeKey{typ, key})
		return
	}
	n.local.own[typeKey{typ, key}] = Event{Type: typ, Key: key, Fields: fields, EID: n.eid, Time: time.Now()}
}

func (n *node) hasMember(id eid.EID) bool {
	for _, m := range n.c.Members() {
		if m.EID == id && !m.Self {
			return true
		}
	}
	return false
}

func (n *node) synced(id eid.EID) bool {
	for _, m := range n.c.Members() {
		if m.EID == id && m.Synced {
			return true
		}
	}
	return false
}

// waitFor polls cond until it holds or d passes; it returns how long it took.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if cond() {
			return time.Since(start)
		}
		if time.Since(start) > d {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// meshed waits until every node sees every other and has its snapshot.
func meshed(t testing.TB, d time.Duration, nodes ...*node) {
	t.Helper()
	waitFor(t, d, "full mesh", func() bool {
		for _, a := range nodes {
			for _, b := range nodes {
				if a != b && !a.synced(b.eid) {
					return false
				}
			}
		}
		return true
	})
}

// proxy is a TCP proxy that can be cut (partition) and healed.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newProxy(t testing.TB, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() { ln.Close(); p.setCut(true); p.wg.Wait() })
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		p.wg.Add(2)
		go func() { defer p.wg.Done(); io.Copy(up, c); up.Close(); c.Close() }()
		go func() { defer p.wg.Done(); io.Copy(c, up); up.Close(); c.Close() }()
	}
}

func (p *proxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}
