// Package loginlimit refuses logins from an address that failed too often: after Max
// failures within Window, every attempt from that address is refused for Block, even one
// with the right credentials (so that guessing gains nothing from the answer); a success
// forgets the address. The Manager (AMI Login) and the HTTP server (ARI users) use it, each
// with its own Limiter.
package loginlimit

import (
	"net/netip"
	"sync"
	"time"
)

// maxTracked bounds the addresses remembered; beyond it, records that can no longer matter
// are dropped.
const maxTracked = 10000

// Limiter is one service's record of failures per address. The zero value is not usable:
// set Max, Window and Block. It is safe for concurrent use.
type Limiter struct {
	Max    int           // failures within Window that block the address
	Window time.Duration // how long a failure counts
	Block  time.Duration // how long a blocked address is refused

	mu    sync.Mutex
	fails map[netip.Addr]*record
}

type record struct {
	count        int
	windowStart  time.Time
	blockedUntil time.Time
}

// Blocked reports whether ip is refused at now.
func (l *Limiter) Blocked(ip netip.Addr, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.fails[ip]
	return r != nil && now.Before(r.blockedUntil)
}

// Failed records a failure from ip at now; it returns true when ip just became blocked.
func (l *Limiter) Failed(ip netip.Addr, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fails == nil {
		l.fails = map[netip.Addr]*record{}
	}
	if len(l.fails) > maxTracked {
		for a, r := range l.fails {
			if now.Sub(r.windowStart) > l.Window && now.After(r.blockedUntil) {
				delete(l.fails, a)
			}
		}
	}
	r := l.fails[ip]
	if r == nil || now.Sub(r.windowStart) > l.Window {
		nr := &record{windowStart: now}
		if r != nil {
			nr.blockedUntil = r.blockedUntil
		}
		r = nr
		l.fails[ip] = r
	}
	r.count++
	if r.count >= l.Max && !now.Before(r.blockedUntil) {
		r.blockedUntil = now.Add(l.Block)
		r.count = 0
		r.windowStart = now
		return true
	}
	return false
}

// Succeeded forgets ip's failures.
func (l *Limiter) Succeeded(ip netip.Addr) {
	l.mu.Lock()
	delete(l.fails, ip)
	l.mu.Unlock()
}
