package sip

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// authGuard counts failed authentications per source address: maxauthfailures of them within
// authfailurewindow block that address for authblocktime (every request that needs
// authentication is then answered 403 Forbidden, a good one too), as the AMI login limit
// does. A success does not clear the count: many phones share one address behind a NAT, and
// a guesser among them must not be let off by their registrations.
//
// The table is bounded (maxGuarded addresses; expired records are swept every second by the
// janitor, and at once when it is full; when it is still full a failure is not recorded).
// When it is empty (the normal case) blocked is one atomic load.
type authGuard struct {
	mu   sync.Mutex
	n    atomic.Int64 // len(recs), for the lock-free fast path
	recs map[netip.Addr]*guardRecord
	max  int
}

type guardRecord struct {
	count        int
	windowStart  time.Time
	blockedUntil time.Time
}

const maxGuarded = 100000

func newAuthGuard(max int) *authGuard {
	return &authGuard{recs: map[netip.Addr]*guardRecord{}, max: max}
}

// blocked reports whether requests from a are refused now.
func (g *authGuard) blocked(a netip.Addr, now time.Time) bool {
	if g.n.Load() == 0 {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.recs[a]
	return r != nil && now.Before(r.blockedUntil)
}

// failed records a failure from a; it returns true when a has just become blocked.
func (g *authGuard) failed(a netip.Addr, now time.Time, set *settings) bool {
	if set.maxAuthFailures <= 0 {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.recs[a]
	if r == nil {
		if len(g.recs) >= g.max {
			g.sweepLocked(now, set)
			if len(g.recs) >= g.max {
				return false
			}
		}
		r = &guardRecord{windowStart: now}
		g.recs[a] = r
		g.n.Store(int64(len(g.recs)))
	}
	if now.Before(r.blockedUntil) {
		return false
	}
	if now.Sub(r.windowStart) > set.authFailWindow {
		r.windowStart, r.count = now, 0
	}
	r.count++
	if r.count >= set.maxAuthFailures {
		r.blockedUntil = now.Add(set.authBlockTime)
		r.count, r.windowStart = 0, now
		return true
	}
	return false
}

// sweep forgets the addresses whose window and block are over.
func (g *authGuard) sweep(now time.Time, set *settings) {
	if g.n.Load() == 0 {
		return
	}
	g.mu.Lock()
	g.sweepLocked(now, set)
	g.mu.Unlock()
}

func (g *authGuard) sweepLocked(now time.Time, set *settings) {
	for a, r := range g.recs {
		if now.Sub(r.windowStart) > set.authFailWindow && !now.Before(r.blockedUntil) {
			delete(g.recs, a)
		}
	}
	g.n.Store(int64(len(g.recs)))
}
