package sip

import (
	"bytes"
	"net"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"golang.org/x/net/ipv4"
)

// The REGISTER fast path (issue 21). A REGISTER over UDP never reaches sipgo's transaction
// layer: it is parsed and answered in the goroutine that reads the socket, and the answers
// of one read batch leave in one sendmmsg(2). Pleiades keeps no non-INVITE server
// transaction after its answer anyway (see send), so what sipgo's layer would add for a
// REGISTER is a goroutine, a context with a timer, a transaction key and its state machine
// per request: about a third of the CPU a registration cost (profile in
// docs/performance.md). A retransmission is handled again, as a new request: the registrar is
// idempotent and the digest check accepts the same request's retransmission
// (requestFingerprint). Only a REGISTER whose peer would be read from realtime now (not
// cached) leaves the reading goroutine: it runs in its own goroutine, as every request did
// before, counted in progress for the overload rule, and a retransmission of it that comes in
// meanwhile is absorbed (dropped), as a server transaction in its Trying state does.
type fastPath struct {
	parser   *sip.Parser
	answers  *respCache     // answers to recent REGISTERs, for their retransmissions (respcache.go)
	accepted *acceptedSet   // INVITEs answered 2xx lately, whose retransmissions are dropped (accepted.go)
	key      []byte         // scratch: the current datagram's respKey
	out      []ipv4.Message // answers of the current read batch (the reading goroutine only)
	bufs     []*bytes.Buffer
}

var fastBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// resendAnswer answers a retransmission of a REGISTER already answered with the same bytes,
// unparsed; it reports whether it did.
func (s *Server) resendAnswer(data []byte, from net.Addr) bool {
	f := &s.fast
	if f.answers == nil || !bytes.HasPrefix(data, []byte("REGISTER ")) {
		return false
	}
	key, ok := f.keyOf(data, from)
	if !ok {
		return false
	}
	b := fastBufs.Get().(*bytes.Buffer)
	b.Reset()
	ans, ok := f.answers.get(b.AvailableBuffer(), key)
	if !ok {
		fastBufs.Put(b)
		return false
	}
	b.Write(ans)
	s.stats.retransmits.Add(1)
	f.out = append(f.out, ipv4.Message{Buffers: [][]byte{b.Bytes()}, Addr: from})
	f.bufs = append(f.bufs, b)
	return true
}

// keyOf sets f.key to the datagram's respKey (valid until the next call).
func (f *fastPath) keyOf(data []byte, from net.Addr) ([]byte, bool) {
	ua, ok := from.(*net.UDPAddr)
	if !ok {
		return nil, false
	}
	br := topBranchRaw(data)
	if len(br) == 0 {
		return nil, false
	}
	f.key = respKey(f.key, br, ua.AddrPort())
	return f.key, true
}

// fastRegister takes a REGISTER datagram; it reports whether it did (false: sipgo parses it
// and answers, e.g. with 400 for what its parser refuses).
func (s *Server) fastRegister(data []byte, from net.Addr) bool {
	if !bytes.HasPrefix(data, []byte("REGISTER ")) || s.fast.parser == nil {
		return false
	}
	msg, err := s.fast.parser.ParseSIP(data)
	if err != nil {
		return false
	}
	req, ok := msg.(*sip.Request)
	if !ok {
		return false
	}
	if len(req.Body()) > 0 {
		// the body aliases the read buffer, which the next batch overwrites
		req.SetBody(bytes.Clone(req.Body()))
	}
	req.SetTransport("UDP")
	req.SetSource(from.String())
	name := ""
	if to := req.To(); to != nil {
		name = to.Address.User
	}
	var key []byte
	if k, ok := s.fast.keyOf(data, from); ok {
		key = bytes.Clone(k)
	}
	if s.peerInMemory(name) {
		s.handleRegister(req, &udpTx{s: s, to: from, batch: true, key: key})
		return true
	}
	// a realtime read: not in the reading goroutine
	if via := req.Via(); via != nil {
		if b, ok := via.Params.Get("branch"); ok && b != "" {
			if _, busy := s.ovl.branches.Load(b); busy {
				return true // a retransmission of a request in progress: absorbed
			}
		}
	}
	h := s.counted(s.handleRegister)
	tx := &udpTx{s: s, to: from, key: key}
	s.ovl.inProgress.Add(1) // until the goroutine counts it itself
	if !s.spawn(func() { s.ovl.inProgress.Add(-1); h(req, tx) }) {
		s.ovl.inProgress.Add(-1)
	}
	return true
}

// peerInMemory reports whether findPeer answers name without a realtime query.
func (s *Server) peerInMemory(name string) bool {
	s.mu.RLock()
	p := s.peers[name]
	s.mu.RUnlock()
	if p != nil {
		if !p.cfg.Load().realtime {
			return true
		}
		p.mu.Lock()
		fresh := p.cached && !p.stale && !p.gone
		p.mu.Unlock()
		if fresh {
			return true
		}
	}
	return s.rt == nil || !s.rt.Mapped("sippeers")
}

// flushFast sends the answers queued by the current read batch (the reading goroutine only).
func (s *Server) flushFast() {
	f := &s.fast
	if len(f.out) == 0 {
		return
	}
	if w := s.udpBatch; w != nil {
		for sent := 0; sent < len(f.out); {
			n, err := w.WriteBatch(f.out[sent:], 0)
			if err != nil || n <= 0 {
				break // the socket refused: as a lost datagram, the phone retransmits
			}
			sent += n
		}
	} else if c := s.udpConn; c != nil {
		for _, m := range f.out {
			_, _ = c.WriteTo(m.Buffers[0], m.Addr)
		}
	}
	for i, b := range f.bufs {
		fastBufs.Put(b)
		f.bufs[i] = nil
		f.out[i] = ipv4.Message{}
	}
	f.out, f.bufs = f.out[:0], f.bufs[:0]
}

// udpTx is the server transaction of a fast-path REGISTER: its answer goes to the source of
// the datagram, queued for the batch's sendmmsg when it is answered in the reading goroutine.
type udpTx struct {
	s     *Server
	to    net.Addr
	batch bool
	key   []byte // respKey: a final answer is kept for the request's retransmissions
}

var doneChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (t *udpTx) Respond(res *sip.Response) error {
	b := fastBufs.Get().(*bytes.Buffer)
	b.Reset()
	res.StringWrite(b)
	if t.key != nil && res.StatusCode >= 200 {
		if a := t.s.fast.answers; a != nil {
			a.put(t.key, b.Bytes(), time.Now())
		}
	}
	if !t.batch {
		var err error
		if c := t.s.udpConn; c != nil {
			_, err = c.WriteTo(b.Bytes(), t.to)
		}
		fastBufs.Put(b)
		return err
	}
	f := &t.s.fast
	f.out = append(f.out, ipv4.Message{Buffers: [][]byte{b.Bytes()}, Addr: t.to})
	f.bufs = append(f.bufs, b)
	return nil
}

func (t *udpTx) Acks() <-chan *sip.Request          { return nil }
func (t *udpTx) OnCancel(sip.FnTxCancel) bool       { return false }
func (t *udpTx) Terminate()                         {}
func (t *udpTx) OnTerminate(sip.FnTxTerminate) bool { return false }
func (t *udpTx) Done() <-chan struct{}              { return doneChan }
func (t *udpTx) Err() error                         { return nil }
