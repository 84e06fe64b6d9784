package cluster

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/cli"
	"github.com/pleiades-pbx/pleiades/internal/eid"
)

func TestTwoNodesPublishApply(t *testing.T) {
	a := newNode(t, "a", 1).start(t)
	b := newNode(t, "b", 2, withRoutes(a.routeURL())).start(t)
	meshed(t, 5*time.Second, a, b)

	a.set(TypeDeviceState, "Custom:mystate", "INUSE")
	waitFor(t, time.Second, "b applies a's INUSE", func() bool {
		return b.local.state(TypeDeviceState, "Custom:mystate", a.eid) == "INUSE"
	})
	a.set(TypeMWI, "1234@default", "2", "5", "0")
	waitFor(t, time.Second, "b applies a's MWI", func() bool {
		return b.local.state(TypeMWI, "1234@default", a.eid) == "2,5,0"
	})
	b.set(TypeDeviceState, "Custom:mystate", "NOT_INUSE")
	waitFor(t, time.Second, "a applies b's NOT_INUSE", func() bool {
		return a.local.state(TypeDeviceState, "Custom:mystate", b.eid) == "NOT_INUSE"
	})
	// A deletion (no fields) removes the entry.
	a.set(TypeMWI, "1234@default")
	waitFor(t, time.Second, "b forgets a's MWI", func() bool {
		return b.local.state(TypeMWI, "1234@default", a.eid) == ""
	})
	time.Sleep(100 * time.Millisecond)
	if n := a.local.appliedFrom(a.eid); n != 0 {
		t.Errorf("a applied %d of its own events", n)
	}
	if n := b.local.appliedFrom(b.eid); n != 0 {
		t.Errorf("b applied %d of its own events", n)
	}
	st := b.c.Stats()
	if ds := st.Types[TypeDeviceState]; ds.Received < 1 || ds.Applied < 1 {
		t.Errorf("b device_state stats %+v", ds)
	}
	if st.Latency.Count == 0 || st.Latency.Max <= 0 {
		t.Errorf("no latency measured: %+v", st.Latency)
	}
	if sa := a.c.Stats().Types[TypeDeviceState]; sa.Sent != 1 {
		t.Errorf("a sent %d device_state events, want 1", sa.Sent)
	}
}

func TestTypeFiltering(t *testing.T) {
	all := KnownTypes()
	// a publishes both but subscribes to nothing; b subscribes only to device_state and
	// publishes only mwi.
	a := newNode(t, "a", 1, withTypes(all, nil)).start(t)
	b := newNode(t, "b", 2, withRoutes(a.routeURL()), withTypes([]string{TypeMWI}, []string{TypeDeviceState})).start(t)
	waitFor(t, 5*time.Second, "membership", func() bool { return a.hasMember(b.eid) && b.synced(a.eid) })

	a.set(TypeMWI, "1@default", "1", "0", "0")
	a.set(TypeDeviceState, "Custom:x", "BUSY")
	waitFor(t, time.Second, "b applies device_state", func() bool {
		return b.local.state(TypeDeviceState, "Custom:x", a.eid) == "BUSY"
	})
	b.set(TypeMWI, "2@default", "3", "0", "0")  // published, but a does not subscribe
	b.set(TypeDeviceState, "Custom:y", "INUSE") // not published by b
	time.Sleep(200 * time.Millisecond)
	if s := b.local.state(TypeMWI, "1@default", a.eid); s != "" {
		t.Errorf("b applied an mwi event it does not subscribe to: %q", s)
	}
	if n := a.local.remoteCount(); n != 0 {
		t.Errorf("a (subscribing to nothing) applied %d events", n)
	}
	if st := b.c.Stats(); st.DroppedUnsubbed == 0 || st.Types[TypeMWI].Dropped == 0 {
		t.Errorf("b did not count the unsubscribed mwi event: %+v", st)
	}
	if st := b.c.Stats().Types[TypeDeviceState]; st.Unpublished != 1 || st.Sent != 0 {
		t.Errorf("b device_state publish stats %+v, want 1 unpublished", st)
	}
	if st := a.c.Stats(); st.DroppedUnsubbed == 0 {
		t.Errorf("a did not count b's mwi event as unsubscribed: %+v", st)
	}
}

func TestCrashPurge(t *testing.T) {
	a := newNode(t, "a", 1).start(t)
	b := newNode(t, "b", 2, withRoutes(a.routeURL())).start(t)
	c := newNode(t, "c", 3, withRoutes(a.routeURL())).start(t)
	meshed(t, 5*time.Second, a, b, c)
	c.set(TypeDeviceState, "Custom:mystate", "INUSE")
	c.set(TypeDeviceState, "SIP/alice", "INUSE")
	c.set(TypeMWI, "1234@default", "1", "0", "0")
	for _, n := range []*node{a, b} {
		waitFor(t, time.Second, n.name+" applies c's state", func() bool {
			return n.local.state(TypeMWI, "1234@default", c.eid) != "" && n.local.state(TypeDeviceState, "SIP/alice", c.eid) != ""
		})
	}
	killed := time.Now()
	c.c.crash()
	limit := c.c.cfg.MemberTimeout + time.Second
	for _, n := range []*node{a, b} {
		waitFor(t, limit, n.name+" purges c", func() bool {
			return n.local.state(TypeDeviceState, "Custom:mystate", c.eid) == "" && n.local.state(TypeMWI, "1234@default", c.eid) == ""
		})
		t.Logf("%s purged c %v after the crash", n.name, time.Since(killed))
		if !n.logs.has("Clearing 2 events of type device_state of node c (02:00:00:00:00:03)") ||
			!n.logs.has("Clearing 1 events of type mwi of node c") {
			t.Errorf("%s: no Clearing lines", n.name)
		}
		if n.hasMember(c.eid) {
			t.Errorf("%s still lists c", n.name)
		}
	}
	if a.hasMember(b.eid) == false || b.hasMember(a.eid) == false {
		t.Error("a and b lost each other")
	}
}

func TestGracefulStopPurgesAtOnce(t *testing.T) {
	slow := withTimeout(100*time.Millisecond, 5*time.Second)
	a := newNode(t, "a", 1, slow).start(t)
	b := newNode(t, "b", 2, slow, withRoutes(a.routeURL())).start(t)
	meshed(t, 5*time.Second, a, b)
	var evs []MemberEvent
	done := make(chan struct{})
	a.c.OnMember(func(ev MemberEvent) {
		evs = append(evs, ev)
		if ev.Kind == MemberLeft {
			close(done)
		}
	})
	b.set(TypeDeviceState, "Custom:b", "RINGING")
	waitFor(t, time.Second, "a applies b's state", func() bool { return a.local.state(TypeDeviceState, "Custom:b", b.eid) == "RINGING" })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stopped := time.Now()
	b.c.Stop(ctx)
	took := waitFor(t, time.Second, "a purges b at once", func() bool { return a.local.state(TypeDeviceState, "Custom:b", b.eid) == "" })
	t.Logf("purged %v after Stop returned (%v after Stop began)", took, time.Since(stopped))
	<-done
	if len(evs) != 1 || evs[0].Kind != MemberLeft || evs[0].Reason != "leave" || evs[0].Member.NodeName != "b" {
		t.Errorf("member events %+v", evs)
	}
	if !a.logs.has("Clearing 1 events of type device_state of node b") || !a.logs.has("Node b (02:00:00:00:00:02) at 127.0.0.1:") {
		t.Error("missing Clearing/left lines on a")
	}
	if a.c.Stats().Departures != 1 {
		t.Error("departure not counted")
	}
}

func TestLateJoinSync(t *testing.T) {
	a := newNode(t, "a", 1).start(t)
	b := newNode(t, "b", 2, withRoutes(a.routeURL())).start(t)
	meshed(t, 5*time.Second, a, b)
	a.set(TypeDeviceState, "Custom:a", "INUSE")
	b.set(TypeDeviceState, "Custom:b", "ONHOLD")
	b.set(TypeMWI, "100@default", "4", "1", "0")
	waitFor(t, time.Second, "a and b exchange", func() bool {
		return b.local.state(TypeDeviceState, "Custom:a", a.eid) != "" && a.local.state(TypeMWI, "100@default", b.eid) != ""
	})

	c := newNode(t, "c", 3, withRoutes(a.routeURL()))
	c.setQuiet(TypeDeviceState, "Custom:c", "BUSY") // persisted state re-published at join
	var mu sync.Mutex
	var joins []string
	c.c.OnMember(func(ev MemberEvent) {
		mu.Lock()
		joins = append(joins, ev.Kind.String()+" "+ev.Member.NodeName)
		mu.Unlock()
	})
	c.start(t)
	took := waitFor(t, time.Second, "c converges", func() bool {
		return c.local.state(TypeDeviceState, "Custom:a", a.eid) == "INUSE" &&
			c.local.state(TypeDeviceState, "Custom:b", b.eid) == "ONHOLD" &&
			c.local.state(TypeMWI, "100@default", b.eid) == "4,1,0" &&
			a.local.state(TypeDeviceState, "Custom:c", c.eid) == "BUSY" &&
			b.local.state(TypeDeviceState, "Custom:c", c.eid) == "BUSY"
	})
	t.Logf("late joiner converged %v after Start", took)
	meshed(t, time.Second, a, b, c)
	if len(c.c.Members()) != 3 {
		t.Errorf("c sees %d members", len(c.c.Members()))
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(joins, ",") != "joined a,joined b" && strings.Join(joins, ",") != "joined b,joined a" {
		t.Errorf("c's member events: %v", joins)
	}
}

// TestPartitionHeal cuts the only route between two nodes for longer than member_timeout:
// each purges the other, and after the heal both resync, including changes made during the
// partition.
func TestPartitionHeal(t *testing.T) {
	a := newNode(t, "a", 1).start(t)
	px := newProxy(t, a.routeURL())
	b := newNode(t, "b", 2, withRoutes(px.addr())).start(t)
	meshed(t, 5*time.Second, a, b)
	a.set(TypeDeviceState, "Custom:a", "INUSE")
	b.set(TypeDeviceState, "Custom:b", "INUSE")
	waitFor(t, time.Second, "exchange", func() bool {
		return a.local.state(TypeDeviceState, "Custom:b", b.eid) != "" && b.local.state(TypeDeviceState, "Custom:a", a.eid) != ""
	})

	px.setCut(true)
	waitFor(t, 3*time.Second, "both sides purge", func() bool {
		return a.local.state(TypeDeviceState, "Custom:b", b.eid) == "" && b.local.state(TypeDeviceState, "Custom:a", a.eid) == "" &&
			!a.hasMember(b.eid) && !b.hasMember(a.eid)
	})
	a.set(TypeDeviceState, "Custom:a", "RINGING") // lost: nobody hears it
	b.set(TypeMWI, "7@default", "1", "1", "1")
	px.setCut(false)
	took := waitFor(t, 5*time.Second, "resync after heal", func() bool {
		return b.local.state(TypeDeviceState, "Custom:a", a.eid) == "RINGING" &&
			a.local.state(TypeDeviceState, "Custom:b", b.eid) == "INUSE" &&
			a.local.state(TypeMWI, "7@default", b.eid) == "1,1,1"
	})
	t.Logf("healed and resynced %v after the route was allowed back", took)
}

// TestShortPartitionGapRepair cuts the route for less than member_timeout: nobody is
// purged, the events lost meanwhile show as a sequence gap, and the resync repairs them,
// deletions included.
func TestShortPartitionGapRepair(t *testing.T) {
	long := withTimeout(100*time.Millisecond, 10*time.Second)
	a := newNode(t, "a", 1, long).start(t)
	px := newProxy(t, a.routeURL())
	b := newNode(t, "b", 2, long, withRoutes(px.addr())).start(t)
	meshed(t, 5*time.Second, a, b)
	a.set(TypeDeviceState, "Custom:keep", "INUSE")
	a.set(TypeDeviceState, "Custom:gone", "INUSE")
	waitFor(t, time.Second, "b has both", func() bool {
		return b.local.state(TypeDeviceState, "Custom:gone", a.eid) != "" && b.local.state(TypeDeviceState, "Custom:keep", a.eid) != ""
	})
	px.setCut(true)
	waitFor(t, 3*time.Second, "route down", func() bool { return a.c.srv.NumRoutes() == 0 })
	a.set(TypeDeviceState, "Custom:keep", "BUSY") // lost
	a.set(TypeDeviceState, "Custom:gone")         // deletion, lost
	a.set(TypeDeviceState, "Custom:new", "RINGING")
	px.setCut(false)
	waitFor(t, 5*time.Second, "gap repaired", func() bool {
		return b.local.state(TypeDeviceState, "Custom:keep", a.eid) == "BUSY" &&
			b.local.state(TypeDeviceState, "Custom:gone", a.eid) == "" &&
			b.local.state(TypeDeviceState, "Custom:new", a.eid) == "RINGING"
	})
	if b.c.Stats().Gaps == 0 {
		t.Error("no gap counted")
	}
	if b.c.Stats().Departures != 0 || a.c.Stats().Departures != 0 {
		t.Error("a short partition purged a member")
	}
}

func TestRestartedNodeResyncs(t *testing.T) {
	a := newNode(t, "a", 1).start(t)
	b := newNode(t, "b", 2, withRoutes(a.routeURL())).start(t)
	meshed(t, 5*time.Second, a, b)
	b.set(TypeDeviceState, "Custom:old", "INUSE")
	waitFor(t, time.Second, "a has b's state", func() bool { return a.local.state(TypeDeviceState, "Custom:old", b.eid) != "" })
	b.c.crash()
	// Same EID, new incarnation, back before member_timeout ran out.
	b2 := newNode(t, "b", 2, withRoutes(a.routeURL()), withTimeout(100*time.Millisecond, 500*time.Millisecond))
	b2.setQuiet(TypeDeviceState, "Custom:new", "BUSY")
	b2.start(t)
	waitFor(t, 2*time.Second, "a sees the new incarnation only", func() bool {
		return a.local.state(TypeDeviceState, "Custom:old", b.eid) == "" && a.local.state(TypeDeviceState, "Custom:new", b.eid) == "BUSY"
	})
}

func TestDuplicateEID(t *testing.T) {
	a := newNode(t, "a", 1).start(t)
	dup := newNodeCfg(t, "imposter", testEID(1), func() *Config {
		cfg := DefaultConfig()
		cfg.NodeName, cfg.ClusterName, cfg.Listen = "imposter", "test", "127.0.0.1:0"
		cfg.Routes = []string{a.routeURL()}
		cfg.HeartbeatInterval, cfg.MemberTimeout = 100*time.Millisecond, 500*time.Millisecond
		return cfg
	}()).start(t)
	waitFor(t, 5*time.Second, "both complain", func() bool {
		return a.logs.count("uses this server's Entity ID 02:00:00:00:00:01") >= 2 &&
			dup.logs.count("Another server (node a,") >= 2
	})
	if node, _, ok := a.c.DuplicateEID(); !ok || node != "imposter" {
		t.Errorf("DuplicateEID() = %q, %v", node, ok)
	}
	var out bytes.Buffer
	r := cli.NewRegistry()
	r.MustRegister(a.c.Commands()...)
	if err := r.Run(context.Background(), "cluster show members", &out, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "WARNING: node imposter also uses this server's Entity ID 02:00:00:00:00:01") {
		t.Errorf("no warning in:\n%s", out.String())
	}
	if a.hasMember(testEID(1)) || len(a.c.Members()) != 1 {
		t.Error("the imposter became a member")
	}
}

func TestPingAndCLI(t *testing.T) {
	a := newNode(t, "a", 1).start(t)
	b := newNode(t, "b", 2, withRoutes(a.routeURL())).start(t)
	meshed(t, 5*time.Second, a, b)
	r := cli.NewRegistry()
	r.MustRegister(a.c.Commands()...)
	run := func(line string) string {
		var out bytes.Buffer
		if err := r.Run(context.Background(), line, &out, nil); err != nil {
			t.Fatalf("%s: %v\n%s", line, err, out.String())
		}
		return out.String()
	}
	if run("corosync ping") != "" {
		t.Error("ping printed something")
	}
	waitFor(t, time.Second, "b logs the ping", func() bool {
		return b.logs.has("INFO b: Got event PING from server with EID: '02:00:00:00:00:01'")
	})
	if a.logs.has("Got event PING") {
		t.Error("a got its own ping")
	}
	members := run("cluster show members")
	for _, want := range []string{"=== Cluster Members ====", "=== Node Name: a (this server)", "=== Node Name: b\n",
		"=== ==> ID: 02:00:00:00:00:02", "=== ==> Address: 127.0.0.1:", "=== ==> Member: Yes", "=== ==> State: up",
		"=== ==> Last Heartbeat: 0.", "=== Number of members: 2"} {
		if !strings.Contains(members, want) {
			t.Errorf("members output lacks %q:\n%s", want, members)
		}
	}
	for _, alias := range []string{"ais clm show members", "corosync show members"} {
		if got := run(alias); stripAges(got) != stripAges(members) {
			t.Errorf("%s differs from cluster show members:\n%s", alias, got)
		}
	}
	config := run("cluster show config")
	for _, want := range []string{"=== Mode: embedded", "=== Node Name: a", "=== Entity ID: 02:00:00:00:00:01",
		"=== Event Channel Name: default (default: no event channel configured)",
		"=== ==> Publishing Event Type: device_state", "=== ==> Subscribing to Event Type: mwi", "=== Member Timeout: 500 ms"} {
		if !strings.Contains(config, want) {
			t.Errorf("config output lacks %q:\n%s", want, config)
		}
	}
	for _, alias := range []string{"cluster show event channels", "ais evt show event channels", "corosync show config"} {
		if got := run(alias); got != config {
			t.Errorf("%s differs from cluster show config:\n%s", alias, got)
		}
	}
	if s := run("cluster show stats"); !strings.Contains(s, "device_state") {
		t.Errorf("stats output:\n%s", s)
	}
	var out bytes.Buffer
	if err := r.Run(context.Background(), "cluster show members extra", &out, nil); err != cli.ErrUsage {
		t.Errorf("extra argument: %v", err)
	}
}

func stripAges(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(l, "=== ==> Last Heartbeat:") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestDebugLogNamesEID(t *testing.T) {
	a := newNode(t, "a", 1).start(t)
	b := newNode(t, "b", 2, withRoutes(a.routeURL())).start(t)
	meshed(t, 5*time.Second, a, b)
	a.set(TypeDeviceState, "Custom:dbg", "INUSE")
	waitFor(t, time.Second, "debug line", func() bool {
		return b.logs.has("Received device_state event 'Custom:dbg' [INUSE] from server with EID: '02:00:00:00:00:01'")
	})
}

func TestClusterOfOne(t *testing.T) {
	cfg := DefaultConfig()
	cfg.NodeName = "solo"
	n := newNodeCfg(t, "solo", testEID(9), cfg).start(t)
	if n.c.RouteAddr() != nil || n.c.ClientAddr() != nil {
		t.Error("a cluster of one opened a port")
	}
	n.set(TypeDeviceState, "Custom:x", "INUSE")
	if ms := n.c.Members(); len(ms) != 1 || !ms[0].Self {
		t.Errorf("members %+v", ms)
	}
	if err := n.c.Ping(); err != nil {
		t.Error(err)
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New(nil, eid.EID{}, nil, newFakeLocal()); err == nil {
		t.Error("zero EID accepted")
	}
	if _, err := New(nil, testEID(1), nil, nil); err == nil {
		t.Error("nil Local accepted")
	}
	c, err := New(nil, testEID(1), nil, newFakeLocal())
	if err != nil {
		t.Fatal(err)
	}
	c.Publish(Event{Type: TypeDeviceState, Key: "x", Fields: []string{"INUSE"}}) // before Start: counted, not sent
	if c.Stats().Types[TypeDeviceState].Unpublished != 1 {
		t.Error("publish before start not counted")
	}
	c.Stop(context.Background()) // never started: no-op
}

func TestPortsInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, key := range []string{"listen", "client_listen"} {
		cfg := DefaultConfig()
		cfg.NodeName, cfg.ClusterName = "busy", "test"
		if key == "listen" {
			cfg.Listen = ln.Addr().String()
		} else {
			cfg.ClientListen = ln.Addr().String()
		}
		c, err := New(cfg, testEID(1), slog.New(slog.DiscardHandler), newFakeLocal())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		err = c.Start(ctx)
		cancel()
		if err == nil {
			c.Stop(context.Background())
			t.Errorf("%s on a busy port: Start succeeded", key)
		} else if !strings.Contains(err.Error(), "address already in use") {
			t.Errorf("%s: error does not say why: %v", key, err)
		}
	}
}

// A realtime invalidation is a signal: applied by the other servers as it comes, never part
// of a join's sync, and not purged (or logged as cleared) when its origin leaves.
func TestRealtimeSignal(t *testing.T) {
	a := newNode(t, "a", 1).start(t)
	b := newNode(t, "b", 2, withRoutes(a.routeURL())).start(t)
	meshed(t, 5*time.Second, a, b)
	a.set(TypeRealtime, "sippeers", "alice")
	waitFor(t, time.Second, "b applies a's invalidation", func() bool {
		return b.local.state(TypeRealtime, "sippeers", a.eid) == "alice"
	})
	a.set(TypeRealtime, "sippeers", "bob")
	waitFor(t, time.Second, "b applies the next one of the same family", func() bool {
		return b.local.state(TypeRealtime, "sippeers", a.eid) == "bob"
	})
	// A newcomer asks for state, not for signals: a's "own" realtime entry is not sent.
	c := newNode(t, "c", 3, withRoutes(a.routeURL())).start(t)
	meshed(t, 5*time.Second, a, b, c)
	waitFor(t, 2*time.Second, "c synced with a", func() bool { return c.synced(a.eid) })
	if s := c.local.state(TypeRealtime, "sippeers", a.eid); s != "" {
		t.Errorf("c got a signal through sync: %q", s)
	}
	a.c.Stop(t.Context())
	waitFor(t, 5*time.Second, "b sees a leave", func() bool { return !b.hasMember(a.eid) })
	if b.logs.has("events of type realtime") {
		t.Error("a signal type was purged")
	}
}
