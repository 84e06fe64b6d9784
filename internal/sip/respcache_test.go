package sip

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// A REGISTER retransmitted after it was answered gets the very same bytes again (the same
// nonce in a 401, the same To tag), and is not handled twice.
func TestRegisterRetransmissionGetsTheSameAnswer(t *testing.T) {
	e := newEnv(t, baseConf+"[alice]\ntype=friend\nhost=dynamic\nsecret=pw\n", false)
	c := newRawClient(t, e.addr)
	raw := func() []byte {
		_ = c.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, _, err := c.conn.ReadFromUDP(c.buf)
		if err != nil {
			t.Fatal(err)
		}
		return bytes.Clone(c.buf[:n])
	}
	c.register("alice", "pw", "rtx1", 1, "")
	first := raw()
	c.register("alice", "pw", "rtx1", 1, "") // the same datagram again
	if again := raw(); !bytes.Equal(first, again) {
		t.Fatalf("401 then, for the retransmission:\n%s\n%s", first, again)
	}
	m, err := sip.ParseMessage(first)
	if err != nil || m.(*sip.Response).StatusCode != 401 {
		t.Fatalf("%v %s", err, first)
	}
	chal := m.(*sip.Response).GetHeader("WWW-Authenticate").Value()
	nonce := chal[strings.Index(chal, `nonce="`)+7:]
	nonce = nonce[:strings.IndexByte(nonce, '"')]
	auth := digestHeader("alice", "pw", "REGISTER", "sip:"+c.srv.String(), nonce)
	c.register("alice", "pw", "rtx1", 2, auth)
	ok := raw()
	regs := e.s.Stats().Registers
	c.register("alice", "pw", "rtx1", 2, auth)
	if again := raw(); !bytes.Equal(ok, again) || !bytes.HasPrefix(ok, []byte("SIP/2.0 200 ")) {
		t.Fatalf("200 then, for the retransmission:\n%s\n%s", ok, again)
	}
	st := e.s.Stats()
	if st.Resent != 2 || st.Registers != regs {
		t.Fatalf("resent %d (want 2), registers handled %d then %d", st.Resent, regs, st.Registers)
	}
	// another request from the same phone is handled, not resent
	c.register("alice", "pw", "rtx2", 1, "")
	if m := raw(); bytes.Equal(m, first) || !bytes.HasPrefix(m, []byte("SIP/2.0 401 ")) {
		t.Fatalf("a new REGISTER: %s", m)
	}
}

func TestRespCacheGenerations(t *testing.T) {
	c := newRespCache()
	src := netip.MustParseAddrPort("10.0.0.1:5060")
	k1 := respKey(nil, []byte("z9hG4bK1"), src)
	now := time.Now()
	c.put(k1, []byte("answer one"), now)
	if got, ok := c.get(nil, k1); !ok || string(got) != "answer one" {
		t.Fatalf("%q %v", got, ok)
	}
	if _, ok := c.get(nil, respKey(nil, []byte("z9hG4bK1"), netip.MustParseAddrPort("10.0.0.1:5061"))); ok {
		t.Fatal("same branch from another port")
	}
	// one rotation later it is still there, two later it is gone
	k2 := respKey(nil, []byte("z9hG4bK2"), src)
	c.put(k2, []byte("two"), now.Add(respCacheAge))
	if _, ok := c.get(nil, k1); !ok {
		t.Fatal("gone after one rotation")
	}
	c.put(respKey(nil, []byte("z9hG4bK3"), src), []byte("three"), now.Add(2*respCacheAge))
	if _, ok := c.get(nil, k1); ok {
		t.Fatal("kept after two rotations")
	}
	if got, ok := c.get(nil, k2); !ok || string(got) != "two" {
		t.Fatalf("%q %v", got, ok)
	}
	// a full slab rotates early: memory stays bounded by two slabs
	big := bytes.Repeat([]byte("x"), respCacheSlab/5)
	for i := range 20 {
		c.put(respKey(nil, []byte{byte(i)}, src), big, now.Add(2*respCacheAge))
	}
	if cap(c.cur.slab) != respCacheSlab || cap(c.prev.slab) != respCacheSlab {
		t.Fatalf("slabs grew: %d %d", cap(c.cur.slab), cap(c.prev.slab))
	}
}

// A re-registration that changes nothing (same contact, same address) publishes nothing: the
// device state is set once, at the first registration.
func TestReRegistrationPublishesNothing(t *testing.T) {
	e := newEnv(t, baseConf+"[alice]\ntype=friend\nhost=dynamic\nsecret=pw\n", false)
	c := newRawClient(t, e.addr)
	registerOnce := func(callID string) {
		t.Helper()
		c.register("alice", "pw", callID, 1, "")
		m, err := c.read(2 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		chal := m.(*sip.Response).GetHeader("WWW-Authenticate").Value()
		nonce := chal[strings.Index(chal, `nonce="`)+7:]
		nonce = nonce[:strings.IndexByte(nonce, '"')]
		c.register("alice", "pw", callID, 2, digestHeader("alice", "pw", "REGISTER", "sip:"+c.srv.String(), nonce))
		if m, err := c.read(2 * time.Second); err != nil || m.(*sip.Response).StatusCode != 200 {
			t.Fatalf("%v %v", m, err)
		}
	}
	registerOnce("rereg1")
	hist := func() []string {
		e.ds.mu.Lock()
		defer e.ds.mu.Unlock()
		return append([]string(nil), e.ds.hist...)
	}
	first := hist()
	if len(first) == 0 || first[len(first)-1] != "SIP/alice=NOT_INUSE" {
		t.Fatalf("after the first registration: %v", first)
	}
	for i := range 5 {
		registerOnce("rereg" + string(rune('2'+i)))
	}
	if after := hist(); len(after) != len(first) {
		t.Fatalf("five re-registrations of the same binding published %v", after[len(first):])
	}
}

// A phone that only ever sent REGISTERs (the fast path: sipgo never read a datagram from it)
// gets our requests — here the qualify OPTIONS — from the listening socket, not from a new
// socket on another port that its NAT would not let in.
func TestRequestsToARegisteredPhoneLeaveFromTheListener(t *testing.T) {
	e := newEnv(t, baseConf+"[alice]\ntype=friend\nhost=dynamic\nsecret=pw\nqualify=yes\n", false)
	c := newRawClient(t, e.addr)
	c.register("alice", "pw", "fromlistener", 1, "")
	m, err := c.read(2 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	chal := m.(*sip.Response).GetHeader("WWW-Authenticate").Value()
	nonce := chal[strings.Index(chal, `nonce="`)+7:]
	nonce = nonce[:strings.IndexByte(nonce, '"')]
	c.register("alice", "pw", "fromlistener", 2, digestHeader("alice", "pw", "REGISTER", "sip:"+c.srv.String(), nonce))
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		_ = c.conn.SetReadDeadline(deadline)
		n, from, err := c.conn.ReadFromUDP(c.buf)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.HasPrefix(c.buf[:n], []byte("OPTIONS ")) {
			if from.String() != e.addr {
				t.Fatalf("the qualify OPTIONS came from %s, not from the listener %s", from, e.addr)
			}
			return
		}
	}
	t.Fatal("no OPTIONS")
}
