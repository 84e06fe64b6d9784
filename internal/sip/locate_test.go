package sip

import (
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/pleiades-pbx/pleiades/internal/channel"
	"github.com/pleiades-pbx/pleiades/internal/eid"
	"github.com/pleiades-pbx/pleiades/internal/event"
	"github.com/pleiades-pbx/pleiades/internal/media"
)

var (
	eidA = eid.EID{2, 0, 0, 0, 0, 1}
	eidB = eid.EID{2, 0, 0, 0, 0, 2}
)

func TestLocationCodec(t *testing.T) {
	ev := event.SIPLocation{Peer: "bob", Addr: "10.0.0.2:5060", Transport: "udp", Expires: 1900000000, Secret: "s3", EID: eidB}
	fields, _, ok := LocationCodec{}.Encode(ev)
	if !ok || !slices.Equal(fields, []string{"10.0.0.2:5060", "udp", "1900000000", "s3"}) {
		t.Fatalf("Encode = %q, %v", fields, ok)
	}
	got, ok := LocationCodec{}.Decode("bob", fields, eidB, time.Time{})
	if !ok || got != ev {
		t.Fatalf("Decode = %+v, %v; want %+v", got, ok, ev)
	}
	if _, _, ok := (LocationCodec{}).Encode(event.DeviceState{Device: "SIP/bob"}); ok {
		t.Error("a device state encoded as a location")
	}
	for _, bad := range [][]string{nil, {"10.0.0.2:5060", "udp", "1900000000"}, {"nohost", "udp", "1900000000", "s"},
		{"10.0.0.2:5060", "udp", "soon", "s"}, {"10.0.0.2:5060", "udp", "0", "s"}, {"10.0.0.2:5060", "udp", "1900000000", ""}} {
		if ev, ok := (LocationCodec{}).Decode("bob", bad, eidB, time.Time{}); ok {
			t.Errorf("Decode(%q) = %+v, want dropped", bad, ev)
		}
	}
}

func TestBusLocations(t *testing.T) {
	bus := event.NewBus(slog.New(slog.DiscardHandler), eidA)
	defer bus.Close()
	l := NewBusLocations(bus)
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	l.Set(Location{Peer: "bob", Addr: netip.MustParseAddrPort("10.0.0.1:5060"), Expires: exp, Secret: "mine"})
	if got := l.Lookup("bob"); len(got) != 0 {
		t.Fatalf("our own registration looked up as another server's: %+v", got)
	}
	if _, ok := bus.Get(event.KindSIPLocation, "bob", eidA); !ok {
		t.Fatal("Set published nothing on the bus")
	}
	eidC := eid.EID{2, 0, 0, 0, 0, 3}
	bus.Publish(event.SIPLocation{Peer: "bob", Addr: "10.0.0.2:5060", Transport: "udp", Expires: exp.Unix(), Secret: "b", EID: eidB})
	bus.Publish(event.SIPLocation{Peer: "bob", Addr: "10.0.0.3:5060", Transport: "udp", Expires: exp.Add(time.Minute).Unix(), Secret: "c", EID: eidC})
	bus.Publish(event.SIPLocation{Peer: "carol", Addr: "10.0.0.2:5060", Transport: "udp", Expires: time.Now().Add(-time.Second).Unix(), Secret: "b", EID: eidB})
	got := l.Lookup("bob")
	if len(got) != 2 || got[0].EID != eidC || got[0].Addr.String() != "10.0.0.3:5060" || got[0].Secret != "c" || got[1].EID != eidB {
		t.Errorf("Lookup(bob) = %+v, want server C (expires last) then B", got)
	}
	if got := l.Lookup("carol"); len(got) != 0 {
		t.Errorf("an expired registration looked up: %+v", got)
	}
	l.Remove("bob")
	if _, ok := bus.Get(event.KindSIPLocation, "bob", eidA); ok {
		t.Error("Remove left our registration on the bus")
	}
	bus.Clear(event.KindSIPLocation, "bob", eidC) // server C left
	if got := l.Lookup("bob"); len(got) != 1 || got[0].EID != eidB {
		t.Errorf("after C's purge: %+v", got)
	}
}

func TestClusterCredential(t *testing.T) {
	s := &Server{secret: "secret-of-2"}
	now := time.Now()
	cred := clusterCredential(eidA, "secret-of-2", "call1@h", "tagA", "bob", now)
	if !strings.HasPrefix(cred, "eid="+eidA.String()+";ts=") {
		t.Fatalf("credential %q", cred)
	}
	if from, err := s.checkCredential(cred, "call1@h", "tagA", "bob", now); err != nil || from != eidA.String() {
		t.Fatalf("valid credential refused: %q %v", from, err)
	}
	if _, err := s.checkCredential(cred, "call1@h", "tagA", "bob", now); !errors.Is(err, errBadCredential) {
		t.Errorf("a replayed credential accepted: %v", err)
	}
	for name, c := range map[string]struct {
		cred, callID, tag, peer string
		at                      time.Time
	}{
		"other secret":  {clusterCredential(eidA, "guess", "c2", "t", "bob", now), "c2", "t", "bob", now},
		"other peer":    {clusterCredential(eidA, "secret-of-2", "c3", "t", "bob", now), "c3", "t", "alice", now},
		"other call":    {clusterCredential(eidA, "secret-of-2", "c4", "t", "bob", now), "c5", "t", "bob", now},
		"other tag":     {clusterCredential(eidA, "secret-of-2", "c6", "t", "bob", now), "c6", "u", "bob", now},
		"too old":       {clusterCredential(eidA, "secret-of-2", "c7", "t", "bob", now.Add(-2*time.Minute)), "c7", "t", "bob", now},
		"no mac":        {"eid=x;ts=1", "c8", "t", "bob", now},
		"garbage":       {"hello", "c9", "t", "bob", now},
		"empty":         {"", "c10", "t", "bob", now},
		"from the past": {clusterCredential(eidA, "secret-of-2", "c11", "t", "bob", now.Add(5*time.Minute)), "c11", "t", "bob", now},
	} {
		if _, err := s.checkCredential(c.cred, c.callID, c.tag, c.peer, c.at); !errors.Is(err, errBadCredential) {
			t.Errorf("%s: accepted (%v)", name, err)
		}
	}
}

func TestValidDeliveryUser(t *testing.T) {
	for u, want := range map[string]bool{"bob": true, "bob/1234": true, "b.o_b-2": true, "bob/*72#": true,
		"": false, "bob&SIP/carol": false, "bob,20": false, "bob/": false, "/1234": false, "bob/12/3": false, "bo b": false} {
		if got := validDeliveryUser(u); got != want {
			t.Errorf("validDeliveryUser(%q) = %v, want %v", u, got, want)
		}
	}
}

// fakeLocs records what the server publishes.
type fakeLocs struct {
	mu   sync.Mutex
	set  map[string]Location
	hist []string
	ext  map[string][]Location
}

func newFakeLocs() *fakeLocs {
	return &fakeLocs{set: map[string]Location{}, ext: map[string][]Location{}}
}

func (f *fakeLocs) Set(loc Location) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.set[loc.Peer] = loc
	f.hist = append(f.hist, "set "+loc.Peer)
}

func (f *fakeLocs) Remove(peer string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.set, peer)
	f.hist = append(f.hist, "remove "+peer)
}

func (f *fakeLocs) Lookup(peer string) []Location {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ext[peer]
}

func (f *fakeLocs) get(peer string) (Location, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.set[peer]
	return l, ok
}

const crossConf = baseConf + "[bob]\ntype=friend\nhost=dynamic\nsecret=builder\ncontext=default\n" +
	"[static]\ntype=friend\nhost=127.0.0.1\ncontext=default\n"

// A registration is published with this server's SIP address and expiry, re-registering
// publishes the new expiry, unregistering removes it; a static host is never published.
func TestRegistrationPublishesLocation(t *testing.T) {
	locs := newFakeLocs()
	e := newEnvWith(t, crossConf, false, func(s *Server) { s.SetLocations(locs, eidA) })
	ph := newPhone(t, e.addr)
	if res := ph.register("bob", "builder", 120); res.StatusCode != 200 {
		t.Fatalf("REGISTER: %d", res.StatusCode)
	}
	var first Location
	waitFor(t, 5*time.Second, "bob's location", func() bool {
		var ok bool
		first, ok = locs.get("bob")
		return ok
	})
	if first.Addr.String() != e.addr || first.Secret != e.s.secret || time.Until(first.Expires) < 100*time.Second {
		t.Errorf("location %+v, want our address %s, our secret, ~120 s", first, e.addr)
	}
	if _, ok := locs.get("static"); ok {
		t.Error("a static host published as a registration")
	}
	locs.mu.Lock()
	locs.ext["static"] = []Location{{Peer: "static", Addr: netip.MustParseAddrPort("10.0.0.2:5060"), Expires: time.Now().Add(time.Minute), EID: eidB}}
	locs.mu.Unlock()
	out := e.cli("sip show locations")
	for _, want := range []string{"bob                  (this server)", "static               " + eidB.String(), "10.0.0.2:5060", "2 registrations"} {
		if !strings.Contains(out, want) {
			t.Errorf("sip show locations: no %q in\n%s", want, out)
		}
	}
	if res := ph.register("bob", "builder", 0); res.StatusCode != 200 {
		t.Fatalf("un-REGISTER: %d", res.StatusCode)
	}
	waitFor(t, 5*time.Second, "bob's location removed", func() bool {
		_, ok := locs.get("bob")
		return !ok
	})
}

// An INVITE claiming to come from a cluster member without a valid credential is refused
// 403, and does not reach the peer.
func TestForgedClusterInviteRefused(t *testing.T) {
	locs := newFakeLocs()
	reg := channel.NewRegistry(nil)
	cfg := media.DefaultConfig()
	cfg.RTPStart, cfg.RTPEnd = 44400, 44500
	eng := media.NewEngine(cfg, nil)
	t.Cleanup(func() { eng.Close() })
	delivered := make(chan string, 4)
	e := newEnvWith(t, crossConf, false, func(s *Server) {
		s.SetLocations(locs, eidA)
		s.SetCalls(reg, eng, func(ch *channel.Channel) { ch.Hangup(channel.CauseUnallocated) })
		s.SetDelivery(func(ch *channel.Channel, dest string) { delivered <- dest; ch.Hangup(channel.CauseSubscriberAbsent) })
	})
	bob := newPhone(t, e.addr)
	if res := bob.register("bob", "builder", 120); res.StatusCode != 200 {
		t.Fatalf("REGISTER: %d", res.StatusCode)
	}
	ph := newPhone(t, e.addr)
	for name, cred := range map[string]string{
		"no mac":      "eid=02:00:00:00:00:02;ts=1",
		"wrong key":   clusterCredential(eidB, "not-the-secret", "x", "y", "bob", time.Now()),
		"bad request": "eid=02:00:00:00:00:02;ts=" + "1" + ";mac=00",
	} {
		req := ph.newReq(sip.INVITE, "alice", "bob")
		req.AppendHeader(sip.NewHeader(clusterHeader, cred))
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody([]byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n"))
		if res := ph.do(req); res.StatusCode != 403 {
			t.Errorf("%s: %d, want 403", name, res.StatusCode)
		}
	}
	select {
	case d := <-delivered:
		t.Errorf("a forged call was delivered to %s", d)
	default:
	}
	// the genuine article is delivered, once
	req := ph.newReq(sip.INVITE, "alice", "bob")
	cid := sip.CallIDHeader("genuine@test")
	req.AppendHeader(&cid)
	tag, _ := req.From().Params.Get("tag")
	cred := clusterCredential(eidB, e.s.secret, "genuine@test", tag, "bob", time.Now())
	req.AppendHeader(sip.NewHeader(clusterHeader, cred))
	res := ph.do(req)
	if res.StatusCode != 480 {
		t.Errorf("valid cluster INVITE, delivery failed SUBSCRIBER_ABSENT: %d, want 480", res.StatusCode)
	}
	if c, ok := q850Cause(res); !ok || c != channel.CauseSubscriberAbsent {
		t.Errorf("Reason of the 480: %v %v (%v)", c, ok, res.GetHeader("Reason"))
	}
	select {
	case d := <-delivered:
		if d != "SIP/bob" {
			t.Errorf("delivered to %q", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a valid cluster call was not delivered")
	}
	nextReq(req) // the same INVITE again, a new transaction: a replay
	if res := ph.do(req); res.StatusCode != 403 {
		t.Errorf("replayed cluster INVITE: %d, want 403", res.StatusCode)
	}
	if !strings.Contains(e.log.String(), "Failed to authenticate device") || !strings.Contains(e.log.String(), "bad cluster credential") {
		t.Errorf("no NOTICE or security event of the refusal:\n%s", e.log.String())
	}
	if !strings.Contains(e.log.String(), "Cluster call from") {
		t.Errorf("no log line of the refusal:\n%s", e.log.String())
	}
}

func TestQ850Cause(t *testing.T) {
	for v, want := range map[string]int{"Q.850;cause=20": 20, "q.850 ; text=\"x\"; cause=17": 17, "SIP;cause=480": 0,
		"Q.850;cause=abc": 0, "Q.850;cause=999": 0, "": 0} {
		res := sip.NewResponse(480, "Temporarily Unavailable")
		if v != "" {
			res.AppendHeader(sip.NewHeader("Reason", v))
		}
		c, ok := q850Cause(res)
		if (want == 0) == ok || int(c) != want {
			t.Errorf("Reason %q: %d %v, want %d", v, c, ok, want)
		}
	}
}
