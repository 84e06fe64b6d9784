package httpapi

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Session limits (slowloris): a connection counts from accept to close.
//
//   - sessionlimit_per_address (default DefaultSessionLimitPerAddress): connections from one
//     client address over it are closed at once.
//   - sessionlimit: when it is reached, the connection that has waited longest without a
//     request in progress (headers still arriving, or idle between keep-alive requests; never
//     one being answered or a WebSocket) is closed to make room for the new one, which is
//     closed at once only when every connection is busy. Slow clients holding connections
//     therefore make room for new ones instead of locking everyone out.

// countedConn is one accepted connection: it gives its session back to the binding when
// closed (once) and says whether it is evictable.
type countedConn struct {
	net.Conn
	b        *binding
	ip       netip.Addr
	handed   net.Conn     // what the http.Server got: this, or a *tls.Conn over it
	since    atomic.Int64 // unix nanoseconds: accepted, or the end of its last request
	busy     atomic.Int32 // requests in the handler
	hijacked atomic.Bool  // a WebSocket: never evicted
	once     sync.Once
}

// countedConnKey keys a request's countedConn in its context.
type countedConnKey struct{}

func (c *countedConn) Close() error {
	c.once.Do(func() {
		b := c.b
		b.connsMu.Lock()
		delete(b.conns, c.handed)
		if b.perAddr[c.ip]--; b.perAddr[c.ip] <= 0 {
			delete(b.perAddr, c.ip)
		}
		b.connsMu.Unlock()
		b.s.metrics.sessions.Dec()
	})
	return c.Conn.Close()
}

// done ends a request: the connection may wait again.
func (c *countedConn) done() {
	c.since.Store(time.Now().UnixNano())
	c.busy.Add(-1)
}

func (c *countedConn) evictable() bool { return c.busy.Load() == 0 && !c.hijacked.Load() }

// register admits c under the limits and returns what to hand to the http.Server, or nil
// when c must be closed.
func (b *binding) register(c net.Conn) net.Conn {
	st := b.s.cfg.Load()
	ip := addrOf(c.RemoteAddr())
	cc := &countedConn{Conn: c, b: b, ip: ip}
	cc.since.Store(time.Now().UnixNano())
	cc.handed = cc
	if b.tls != nil {
		cc.handed = tls.Server(cc, b.tls)
	}
	var victim *countedConn
	b.connsMu.Lock()
	if st.sessionLimitPerAddr > 0 && b.perAddr[ip] >= st.sessionLimitPerAddr {
		b.connsMu.Unlock()
		b.s.metrics.sessionsRejected.Inc()
		return nil
	}
	if len(b.conns) >= st.sessionLimit {
		for _, x := range b.conns {
			if x.evictable() && (victim == nil || x.since.Load() < victim.since.Load()) {
				victim = x
			}
		}
		if victim == nil {
			b.connsMu.Unlock()
			b.s.metrics.sessionsRejected.Inc()
			return nil
		}
		// Out of the table now, so that it makes room at once; its Close will not find it.
		delete(b.conns, victim.handed)
	}
	b.conns[cc.handed] = cc
	b.perAddr[ip]++
	b.connsMu.Unlock()
	if victim != nil {
		b.s.metrics.sessionsEvicted.Inc()
		victim.Close()
	}
	b.s.metrics.sessions.Inc()
	return cc.handed
}

// track makes srv report hijacked connections and put each request's countedConn in its
// context.
func (b *binding) track(srv *http.Server) {
	base := srv.ConnContext
	srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if base != nil {
			ctx = base(ctx, c)
		}
		b.connsMu.Lock()
		cc := b.conns[c]
		b.connsMu.Unlock()
		if cc != nil {
			ctx = context.WithValue(ctx, countedConnKey{}, cc)
		}
		return ctx
	}
	srv.ConnState = func(c net.Conn, state http.ConnState) {
		if state != http.StateHijacked {
			return
		}
		b.connsMu.Lock()
		cc := b.conns[c]
		b.connsMu.Unlock()
		if cc != nil {
			cc.hijacked.Store(true)
		}
	}
}

func addrOf(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap.Addr().Unmap()
}
