package sip

import (
	"context"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/pleiades-pbx/pleiades/internal/logger"
	"github.com/pleiades-pbx/pleiades/internal/netaccept"
)

// tcpListener is the TCP listening socket as sipgo's transport serves it. sipgo's Serve
// returns at the first error of Accept, so Accept here never gives up: an error (EMFILE,
// ENFILE, ECONNABORTED, ENOBUFS, ...) is retried with the backoff and the rare log lines of
// every accept loop (netaccept.Retrier); only Close ends it.
//
// It also keeps chan_sip's limits on TCP sessions: at most tcpauthlimit connections that have
// not yet carried a successfully authenticated request are open at once (a connection beyond
// that is closed as soon as it is accepted), and such a connection is closed tcpauthtimeout
// after it was accepted. An authenticated connection on which nothing arrives for
// settings.tcpIdle (max(maxexpiry, submaxexpiry) + 60 s) is closed too. The janitor enforces both every second (sweep).
type tcpListener struct {
	net.Listener
	s      *Server
	done   chan struct{}
	closed atomic.Bool
	open   *atomic.Int64 // connections accepted and still open (pleiades_sip_connections)

	mu     sync.Mutex
	conns  map[string]*tcpConn // by remote address, as sipgo names a request's source
	unauth int

	retry    netaccept.Retrier // used by sipgo's one accepting goroutine
	refusals everyTen
}

// everyTen lets a line through at most once every refusalLogEvery and counts the ones held back.
type everyTen struct {
	mu      sync.Mutex
	logged  time.Time
	pending int
}

// due counts one event; it returns how many happened since the last line when a line is due
// now (0: not yet).
func (e *everyTen) due(now time.Time) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.pending++
	if now.Sub(e.logged) < refusalLogEvery {
		return 0
	}
	n := e.pending
	e.pending, e.logged = 0, now
	return n
}

// tcpConn is one accepted connection.
type tcpConn struct {
	net.Conn
	l        *tcpListener
	key      string
	accepted time.Time
	lastRead atomic.Int64 // unix ns
	auth     bool         // under l.mu
	closed   atomic.Bool
}

// refusalLogEvery spaces the lines about connections refused at tcpauthlimit.
const refusalLogEvery = 10 * time.Second

func newTCPListener(s *Server, ln net.Listener, open *atomic.Int64) *tcpListener {
	return &tcpListener{Listener: ln, s: s, done: make(chan struct{}), open: open, conns: map[string]*tcpConn{},
		retry: netaccept.Retrier{Log: s.log, Name: "SIP TCP"}}
}

// Accept returns the next connection within the limits; it returns an error only after Close.
func (l *tcpListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if l.closed.Load() {
				return nil, net.ErrClosed
			}
			t := time.NewTimer(l.retry.Failed(l.Listener, err))
			select {
			case <-t.C:
				continue
			case <-l.done:
				t.Stop()
				return nil, net.ErrClosed
			}
		}
		l.retry.Accepted(l.Listener)
		if tc := l.admit(c); tc != nil {
			return tc, nil
		}
		_ = c.Close()
	}
}

// admit registers c, or returns nil when tcpauthlimit unauthenticated connections are open.
func (l *tcpListener) admit(c net.Conn) *tcpConn {
	set := l.s.set.Load()
	now := time.Now()
	l.mu.Lock()
	if l.unauth >= set.tcpAuthLimit {
		l.mu.Unlock()
		l.refused(c.RemoteAddr(), set.tcpAuthLimit)
		return nil
	}
	tc := &tcpConn{Conn: c, l: l, key: c.RemoteAddr().String(), accepted: now}
	tc.lastRead.Store(now.UnixNano())
	l.unauth++
	l.conns[tc.key] = tc
	l.mu.Unlock()
	l.open.Add(1)
	return tc
}

func (l *tcpListener) refused(from net.Addr, limit int) {
	if n := l.refusals.due(time.Now()); n > 0 {
		l.s.log.Warn("SIP: TCP connection refused: tcpauthlimit reached", "from", from.String(), "limit", limit, "refused", n)
	}
}

// Close stops Accept and closes the listening socket (connections stay to sipgo's transport).
func (l *tcpListener) Close() error {
	if l.closed.CompareAndSwap(false, true) {
		close(l.done)
	}
	return l.Listener.Close()
}

// authenticated marks the connection that carried req as authenticated.
func (l *tcpListener) authenticated(src string) {
	l.mu.Lock()
	if tc := l.conns[src]; tc != nil && !tc.auth {
		tc.auth = true
		l.unauth--
	}
	l.mu.Unlock()
}

// sweep closes the connections over tcpauthtimeout (unauthenticated) or idle for tcpIdle.
func (l *tcpListener) sweep(now time.Time, set *settings) {
	var drop []*tcpConn
	idle := set.tcpIdle
	l.mu.Lock()
	for _, tc := range l.conns {
		if tc.auth {
			if now.Sub(time.Unix(0, tc.lastRead.Load())) >= idle {
				drop = append(drop, tc)
			}
		} else if now.Sub(tc.accepted) >= set.tcpAuthTimeout {
			drop = append(drop, tc)
		}
	}
	l.mu.Unlock()
	for _, tc := range drop {
		l.s.log.Log(context.Background(), logger.DebugLevel(1), "SIP: TCP connection closed", "from", tc.key, "authenticated", tc.auth)
		_ = tc.Close()
	}
}

func (c *tcpConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.lastRead.Store(time.Now().UnixNano())
	}
	return n, err
}

func (c *tcpConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		l := c.l
		l.mu.Lock()
		if l.conns[c.key] == c {
			delete(l.conns, c.key)
		}
		if !c.auth {
			l.unauth--
		}
		l.mu.Unlock()
		l.open.Add(-1)
	}
	return c.Conn.Close()
}

// authenticated records that req authenticated (a TCP connection that carried it is then no
// longer subject to tcpauthtimeout and tcpauthlimit).
func (s *Server) authenticated(req *sip.Request) {
	if !strings.EqualFold(req.Transport(), "TCP") {
		return
	}
	s.runMu.Lock()
	l := s.tcpL
	s.runMu.Unlock()
	if l != nil {
		l.authenticated(req.Source())
	}
}
