package sip

import (
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

// A cached realtime friend follows its row: a changed secret is in force at the next REGISTER
// (the registration stays), a deleted row drops the peer and its device at once, and a flush
// makes every cached peer re-read its row.
func TestRealtimeChangeFeed(t *testing.T) {
	e := newEnv(t, baseConf+"rtcachefriends=yes\n", true)
	e.store("name", "alice", "secret", "old", "host", "dynamic", "type", "friend", "context", "a")
	e.store("name", "bob", "secret", "bobpw", "host", "dynamic", "type", "friend")
	ph := newPhone(t, e.addr)
	if res := ph.register("alice", "old", 300); res.StatusCode != 200 {
		t.Fatal(res.StatusCode)
	}
	waitFor(t, 2*time.Second, "write-back", func() bool { return e.s.wb.idle() })

	// Changed without telling anyone: the cache serves the old row (that is the TTL-only case).
	if _, err := e.rt.Update(t.Context(), "sippeers", "name", "alice", realtime.Field{Name: "secret", Value: "new"}, realtime.Field{Name: "context", Value: "b"}); err != nil {
		t.Fatal(err)
	}
	if res := ph.register("alice", "new", 300); res.StatusCode == 200 {
		t.Fatal("new secret accepted before any invalidation: the test proves nothing")
	}
	if err := e.rt.Invalidate("sippeers", "alice"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "re-read", func() bool { return e.s.peer("alice") != nil && e.s.peer("alice").cfg.Load().context == "b" })
	if res := ph.register("alice", "old", 300); res.StatusCode == 200 {
		t.Fatal("old secret still accepted")
	}
	if res := ph.register("alice", "new", 300); res.StatusCode != 200 {
		t.Fatalf("new secret: %d", res.StatusCode)
	}
	if e.ds.get("SIP/alice") != "NOT_INUSE" {
		t.Fatalf("registration lost on change: %s", e.ds.get("SIP/alice"))
	}

	// Deleted: gone at once, device UNAVAILABLE, without any request.
	waitFor(t, 2*time.Second, "write-back", func() bool { return e.s.wb.idle() })
	if _, err := e.rt.Destroy(t.Context(), "sippeers", "name", "alice"); err != nil {
		t.Fatal(err)
	}
	e.rt.ApplyRemote("sippeers", "alice") // as it comes from another server
	waitFor(t, 2*time.Second, "deleted peer dropped", func() bool { return e.s.peer("alice") == nil })
	if e.ds.get("SIP/alice") != "UNAVAILABLE" {
		t.Fatalf("device after delete: %s", e.ds.get("SIP/alice"))
	}

	// A flush (listener reconnected, or "realtime invalidate sippeers") re-reads every peer.
	if res := ph.do(ph.newReq(sip.OPTIONS, "bob", "")); res.StatusCode != 200 {
		t.Fatal(res.StatusCode)
	}
	if _, err := e.rt.Update(t.Context(), "sippeers", "name", "bob", realtime.Field{Name: "secret", Value: "bobnew"}); err != nil {
		t.Fatal(err)
	}
	if err := e.rt.Invalidate("sippeers", ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "bob re-read", func() bool {
		return ph.register("bob", "bobnew", 300).StatusCode == 200
	})
	if out := e.cli("sip show peers"); !strings.Contains(out, "bob") {
		t.Fatalf("bob:\n%s", out)
	}
}

// peer returns the peer named name in memory (nil: none).
func (s *Server) peer(name string) *peer {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.peers[name]
}

// A change that makes the row an invalid peer drops it like a deletion; a change of mailbox
// sends the registered peer the counts of its new mailbox.
func TestRealtimeChangeInvalidAndMailbox(t *testing.T) {
	e := newEnv(t, baseConf+"rtcachefriends=yes\n", true)
	e.store("name", "carol", "secret", "pw", "host", "dynamic", "type", "friend", "mailbox", "1@default")
	e.store("name", "dave", "secret", "pw", "host", "dynamic", "type", "friend")
	e.mb.set("2@default", 3, 0, 0)
	ph := newPhone(t, e.addr)
	for _, n := range []string{"carol", "dave"} {
		if res := ph.register(n, "pw", 300); res.StatusCode != 200 {
			t.Fatal(n, res.StatusCode)
		}
	}
	waitFor(t, 2*time.Second, "write-back", func() bool { return e.s.wb.idle() })
	for { // MWI of carol's registration (mailbox 1@default)
		if _, ok := ph.Next(300 * time.Millisecond); !ok {
			break
		}
	}
	if _, err := e.rt.Update(t.Context(), "sippeers", "name", "carol", realtime.Field{Name: "mailbox", Value: "2@default"}); err != nil {
		t.Fatal(err)
	}
	if err := e.rt.Invalidate("sippeers", "carol"); err != nil {
		t.Fatal(err)
	}
	n := ph.waitNotify(2 * time.Second)
	if n == nil || !strings.Contains(string(n.Body()), "Messages-Waiting: yes") {
		t.Fatalf("no MWI for the new mailbox: %v", n)
	}

	if _, err := e.rt.Update(t.Context(), "sippeers", "name", "dave", realtime.Field{Name: "type", Value: "bogus"}); err != nil {
		t.Fatal(err)
	}
	if err := e.rt.Invalidate("sippeers", "dave"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "invalid peer dropped", func() bool { return e.s.peer("dave") == nil })
	if e.ds.get("SIP/dave") != "UNAVAILABLE" {
		t.Fatalf("device of the invalid peer: %s", e.ds.get("SIP/dave"))
	}
	if e.s.peer("carol") == nil {
		t.Fatal("carol dropped")
	}
}
