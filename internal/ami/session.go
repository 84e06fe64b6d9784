package ami

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/logesc"
	"github.com/pleiades-pbx/pleiades/internal/logger"
)

// session is one TCP connection.
//
// Two goroutines serve it: run reads requests and answers them, writeLoop writes the queue
// to the socket. Responses and events share one queue, so the client sees them in the order
// they were queued; a response (with its list items) is queued as one piece.
type session struct {
	srv    *Server
	id     uint64
	conn   net.Conn
	remote netip.AddrPort
	local  netip.AddrPort
	start  time.Time
	cfg    *settings // configuration at connect time (authtimeout, queue size)

	countedUnauth bool // guarded by Server.smu
	refused       int  // requests refused before login; owned by run
	claimed       bool // counted in Server.loggedIn; set by run before the session ends

	// Set by run before the session is published, read-only afterwards.
	username   string
	readPerm   Class
	writePerm  Class
	filters    *filterSet
	writeStall time.Duration
	setvars    []Field
	challenge  string
	loginTime  time.Time

	authed     atomic.Bool
	sendEvents atomic.Uint32 // classes of events wanted (readPerm & EventMask)

	mu        sync.Mutex
	space     *sync.Cond // signalled when the queue shrinks or the session closes
	q         [][]byte
	qBytes    int
	qEvents   int
	closed    bool
	abortNow  bool
	reason    string
	notify    chan struct{}
	highWater int
	enqueued  uint64 // events queued
	lost      uint64 // events queued but never written (session cut off)

	done chan struct{} // closed when the writer has finished
}

func newSession(s *Server, c net.Conn, cfg *settings, remote netip.AddrPort) *session {
	ss := &session{
		srv: s, id: s.nextID.Add(1), conn: c, remote: remote,
		local: addrPortOf(c.LocalAddr()), start: s.clock(), cfg: cfg,
		countedUnauth: true, writeStall: DefaultWriteStall,
		notify: make(chan struct{}, 1), done: make(chan struct{}),
	}
	ss.space = sync.NewCond(&ss.mu)
	return ss
}

// sessionTV is the SessionTV of the session's security events: when it connected, and from
// its login on when it logged in (Asterisk restarts sessionstart_tv at login).
func (ss *session) sessionTV() time.Time {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if !ss.loginTime.IsZero() {
		return ss.loginTime
	}
	return ss.start
}

// enqueueEvent queues an event without ever blocking. When the session already holds its
// queue size of events (or MaxQueuedBytes), the session is cut off.
func (ss *session) enqueueEvent(b []byte) {
	ss.mu.Lock()
	if ss.closed {
		ss.mu.Unlock()
		return
	}
	if ss.qEvents >= ss.cfg.queueSize || ss.qBytes+len(b) > MaxQueuedBytes {
		n := ss.qEvents
		ss.mu.Unlock()
		ss.srv.slowKicked.Add(1)
		ss.srv.log.Warn(fmt.Sprintf("Manager '%s' from %s: event queue full (%d events), disconnecting slow client",
			logesc.Escape(ss.username), ss.remote.Addr(), n))
		ss.abort("event queue overflow")
		return
	}
	ss.q = append(ss.q, b)
	ss.qBytes += len(b)
	ss.qEvents++
	ss.enqueued++
	if ss.qEvents > ss.highWater {
		ss.highWater = ss.qEvents
	}
	ss.mu.Unlock()
	select {
	case ss.notify <- struct{}{}:
	default:
	}
}

// send queues a response, waiting while the queue holds more than MaxQueuedBytes (a client
// that sends requests without reading the answers is slowed down, then cut off by the write
// stall timeout). It returns false when the session is closed.
func (ss *session) send(b []byte) bool {
	ss.mu.Lock()
	for !ss.closed && ss.qBytes > MaxQueuedBytes {
		ss.space.Wait()
	}
	if ss.closed {
		ss.mu.Unlock()
		return false
	}
	ss.q = append(ss.q, b)
	ss.qBytes += len(b)
	ss.mu.Unlock()
	select {
	case ss.notify <- struct{}{}:
	default:
	}
	return true
}

// abort closes the connection at once, dropping what is queued.
func (ss *session) abort(reason string) {
	ss.mu.Lock()
	if ss.closed && ss.abortNow {
		ss.mu.Unlock()
		return
	}
	if !ss.closed {
		ss.reason = reason
	}
	ss.closed, ss.abortNow = true, true
	ss.lost += uint64(ss.qEvents)
	ss.srv.eventsLost.Add(uint64(ss.qEvents))
	ss.q, ss.qBytes, ss.qEvents = nil, 0, 0
	ss.space.Broadcast()
	ss.mu.Unlock()
	ss.conn.Close()
	select {
	case ss.notify <- struct{}{}:
	default:
	}
}

// finish closes the session after what is queued has been written (Logoff, failed login).
func (ss *session) finish(reason string) {
	ss.mu.Lock()
	if !ss.closed {
		ss.closed = true
		ss.reason = reason
	}
	ss.space.Broadcast()
	ss.mu.Unlock()
	select {
	case ss.notify <- struct{}{}:
	default:
	}
}

// writeLoop writes queued packets in batches (one writev per batch).
func (ss *session) writeLoop() {
	defer ss.srv.sessWG.Done()
	defer close(ss.done)
	defer ss.conn.Close()
	var spare [][]byte
	for {
		ss.mu.Lock()
		for len(ss.q) == 0 && !ss.closed {
			ss.mu.Unlock()
			<-ss.notify
			ss.mu.Lock()
		}
		if ss.abortNow || (ss.closed && len(ss.q) == 0) {
			ss.mu.Unlock()
			return
		}
		batch := ss.q
		ss.q = spare[:0]
		ss.qBytes, ss.qEvents = 0, 0
		ss.space.Broadcast()
		stall := ss.writeStall
		ss.mu.Unlock()

		ss.conn.SetWriteDeadline(time.Now().Add(stall))
		bufs := net.Buffers(batch)
		if _, err := bufs.WriteTo(ss.conn); err != nil {
			ss.abort(writeErrReason(err))
			return
		}
		clear(batch)
		spare = batch[:0]
	}
}

func writeErrReason(err error) string {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return "write timeout"
	}
	return "write error"
}

// run reads and answers requests until the session ends.
func (ss *session) run() {
	s := ss.srv
	defer s.sessWG.Done()
	defer func() {
		ss.finish("connection closed")
		<-ss.done
		s.forget(ss)
		ss.logEnd()
	}()
	ss.send([]byte("Asterisk Call Manager/" + Version + "\r\n"))
	deadline := ss.start.Add(ss.cfg.authTimeout)
	ss.conn.SetReadDeadline(deadline)
	rd := NewReader(ss.conn)
	for {
		p, err := rd.ReadPacket()
		if p == nil {
			if !ss.authed.Load() && errors.Is(err, os.ErrDeadlineExceeded) {
				ss.mu.Lock()
				ss.reason = "auth timeout"
				ss.mu.Unlock()
				if ss.cfg.displayConnects {
					s.log.Log(context.Background(), logger.Verbose(2), fmt.Sprintf("Client from %s, failed to authenticate in %d seconds",
						ss.remote.Addr(), int(ss.cfg.authTimeout/time.Second)))
				}
			}
			return
		}
		req := &request{s: ss, p: p, id: p.Get("ActionID")}
		if err != nil {
			req.wasAuthed = ss.authed.Load()
			req.fail(parseErrorMessage(err))
			req.refusedBeforeLogin()
		} else {
			s.process(req)
		}
		if req.login {
			// Queue "Authentication accepted" and join the published set in one step under
			// pubMu: the response precedes every event, and no event published after the
			// client could see the response is missed.
			s.pubMu.Lock()
			ss.mu.Lock()
			ss.q = append(ss.q, req.w.b)
			ss.qBytes += len(req.w.b)
			ss.mu.Unlock()
			s.authenticated(ss)
			s.pubMu.Unlock()
			select {
			case ss.notify <- struct{}{}:
			default:
			}
		} else if len(req.w.b) > 0 && !ss.send(req.w.b) {
			return
		}
		if req.after != nil {
			req.after()
		}
		if req.close {
			return
		}
		if ss.authed.Load() && !req.wasAuthed {
			ss.conn.SetReadDeadline(time.Time{})
		}
	}
}

func (ss *session) logEnd() {
	s := ss.srv
	ss.mu.Lock()
	reason := ss.reason
	ss.mu.Unlock()
	if ss.authed.Load() {
		if ss.displayConnects() {
			// manager.c's wording; why a client was kicked is logged when it happens.
			verb := "logged off"
			if reason == "event queue overflow" || reason == "write timeout" {
				verb = "kicked"
			}
			s.log.Log(context.Background(), logger.Verbose(2), fmt.Sprintf("Manager '%s' %s from %s", logesc.Escape(ss.username), verb, ss.remote.Addr()))
		}
		return
	}
	if ss.cfg.displayConnects {
		s.log.Log(context.Background(), logger.Verbose(2), fmt.Sprintf("Connect attempt from '%s' unable to authenticate", ss.remote.Addr()))
	}
}

// displayConnects is the user's displayconnects (Asterisk looks it up in the current
// configuration).
func (ss *session) displayConnects() bool {
	if u := ss.srv.cfg.Load().users[strings.ToLower(ss.username)]; u != nil {
		return u.displayConnects
	}
	return ss.cfg.displayConnects
}

// queueStats is one line of "manager show queues".
type queueStats struct {
	depth, highWater int
	enqueued, lost   uint64
}

func (ss *session) stats() queueStats {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return queueStats{ss.qEvents, ss.highWater, ss.enqueued, ss.lost}
}
