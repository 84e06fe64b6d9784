package sip

import (
	"bytes"
	"hash/maphash"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Answered INVITEs (RFC 6026's Accepted state, kept small). Once an INVITE has its 2xx, the
// server transaction has one job left: to absorb retransmissions of that INVITE for 64·T1,
// so that one that crossed the 2xx does not start a second call (the 2xx itself is resent
// by the call until its ACK, retransmitOK, and the ACK is a request of its own). sipgo keeps
// the whole transaction for it — the request as parsed, its responses, the state machine
// and a timer, about 3 KB — so at 1,000 calls/s some 32,000 of them, ~100 MB, were most of
// the server's live heap, which the collector marks on every cycle (a 150-400 ms concurrent
// mark every ~18 s under that load: docs/performance.md, "Stop 30").
//
// Pleiades keeps instead a 64-bit seeded hash of the INVITE's top Via branch and source
// address for 64·T1 to 2·64·T1 (two generations of a pointer-free set, which the collector
// never scans), and lets sipgo's transaction go after acceptedLinger (sipgo's Timer L). A
// datagram that starts "INVITE " and whose key is in the set is dropped in the reading
// goroutine, unparsed, as the Accepted state drops it; over TCP nothing is retransmitted
// (sipgo ends reliable transactions at once). A hash collision with a new INVITE, the one
// way this could drop a request it should not, has odds of about 2^-64 × the set's size.

// acceptedLinger is how long sipgo keeps an answered INVITE's transaction (its Timer L,
// 64·T1 by default): long enough for the retransmissions already in flight when the 2xx
// left, after which the accepted set absorbs them.
var acceptedLinger = sip.T1

func init() {
	sip.Timer_L = acceptedLinger
}

// acceptedSet holds the keys (respKey: branch and source) of INVITEs answered 2xx lately.
type acceptedSet struct {
	mu        sync.Mutex
	seed      maphash.Seed
	cur, prev map[uint64]struct{}
	started   time.Time
	age       time.Duration // a generation's span: 64·T1
}

func newAcceptedSet() *acceptedSet {
	return &acceptedSet{seed: maphash.MakeSeed(), cur: map[uint64]struct{}{}, prev: map[uint64]struct{}{},
		started: time.Now(), age: 64 * sip.T1}
}

// add remembers key from now on, for one to two generations.
func (a *acceptedSet) add(key []byte, now time.Time) {
	h := maphash.Bytes(a.seed, key)
	a.mu.Lock()
	defer a.mu.Unlock()
	if now.Sub(a.started) >= a.age {
		a.prev, a.cur = a.cur, a.prev
		clear(a.cur)
		a.started = now
	}
	a.cur[h] = struct{}{}
}

// has reports whether key was added in the last one or two generations.
func (a *acceptedSet) has(key []byte) bool {
	h := maphash.Bytes(a.seed, key)
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.cur[h]
	if !ok {
		_, ok = a.prev[h]
	}
	return ok
}

// absorbAccepted drops a retransmission of an INVITE answered 2xx (see above); it reports
// whether it did. It runs in the reading goroutine for every UDP datagram.
func (s *Server) absorbAccepted(data []byte, from net.Addr) bool {
	f := &s.fast
	if f.accepted == nil || !bytes.HasPrefix(data, []byte("INVITE ")) {
		return false
	}
	key, ok := f.keyOf(data, from)
	if !ok || !f.accepted.has(key) {
		return false
	}
	s.stats.absorbed.Add(1)
	return true
}

// accepted remembers that req, an INVITE that came over UDP, was answered 2xx.
func (s *Server) accepted(req *sip.Request) {
	a := s.fast.accepted
	if a == nil || req.Transport() != "UDP" {
		return
	}
	via := req.Via()
	if via == nil {
		return
	}
	branch, ok := via.Params.Get("branch")
	if !ok || branch == "" {
		return
	}
	src, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return
	}
	a.add(respKey(nil, []byte(branch), src), time.Now())
}
