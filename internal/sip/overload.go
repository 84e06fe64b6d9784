package sip

import (
	"bytes"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"golang.org/x/net/ipv4"
)

// The SIP transport's overload rule (issue 21): requests that begin something new —
// REGISTER, SUBSCRIBE, OPTIONS and INVITE outside a dialog — are admitted while fewer than
// maxrequests (sip.conf, Pleiades' own; default 2,000) REGISTER, SUBSCRIBE and OPTIONS
// requests are being processed. Past that the server is behind: a request it admitted would
// be answered after the phone's retransmissions and Timer F (32 s) had run, so it is
// answered at once "503 Service Unavailable" with "Retry-After: <retryafter>" (RFC 3261
// §21.5.4; default 5 s) instead of being dropped silently or timing out. Over UDP the 503 is
// made from the datagram's own Via, From, To, Call-ID and CSeq lines before sipgo parses it
// (no transaction, no goroutine): shedding costs a few microseconds, so the server keeps
// answering at any offered rate. Over TCP (where the stream has flow control) the same limit
// is checked when the request reaches its handler. Requests inside a dialog (BYE, ACK,
// re-INVITE, CANCEL, PRACK, UPDATE), responses, and INVITEs already being set up are never
// refused: calls in progress can always end. INVITEs are not counted in progress (an INVITE
// transaction lives as long as the ringing); they are refused with the others while the
// server is behind. Over UDP a second bound applies (maxrequestwait, default 200 ms): a new
// request that waited longer than that in the socket's receive queue — the kernel stamps
// each datagram's arrival (SO_TIMESTAMPNS, rxstamp_linux64.go) — is refused the same way,
// and so is every new request read while the socket's receive queue is more than half full
// (SO_MEMINFO, read after each full batch: rxqueue_linux.go). The second half of the queue
// is the margin: the kernel drops, silently, what arrives at a full queue, and at twice the
// capacity a 4 MB queue (8 MB of kernel accounting) fills in about the 200 ms the wait rule
// waits for.
// REGISTERs over UDP are answered in the reading goroutine (fastpath.go), so they never pile
// up "in progress": when the server falls behind on them, they wait in the socket's queue
// instead, and that wait is what this bound reads. Below it nothing is refused. Counters:
// "sip show settings" (Overload:, Max request wait:), /metrics
// pleiades_sip_overload_refused_total and pleiades_sip_requests_in_progress.
type overload struct {
	inProgress atomic.Int64
	refused    atomic.Uint64
	// branches holds the top Via branch of every request in progress: its retransmission is
	// never refused (sipgo's transaction absorbs it), or the phone would see a 503 and then
	// the 200 of the same request.
	branches sync.Map
}

const (
	defaultMaxRequests    = 2000
	defaultRetryAfter     = 5
	defaultMaxRequestWait = 200 * time.Millisecond
)

// over reports whether a new request must be refused now.
func (s *Server) over() bool {
	limit := s.set.Load().maxRequests
	return limit > 0 && s.ovl.inProgress.Load() >= int64(limit)
}

// counted runs h with the request counted in progress, refusing a new one (503) when the
// server is behind (the check for requests that did not come through shedUDP: TCP).
func (s *Server) counted(h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		if !inDialog(req) && s.over() {
			s.ovl.refused.Add(1)
			s.reply(req, tx, 503, "Service Unavailable", sip.NewHeader("Retry-After", strconv.Itoa(s.set.Load().retryAfter)))
			return
		}
		s.ovl.inProgress.Add(1)
		defer s.ovl.inProgress.Add(-1)
		if via := req.Via(); via != nil {
			if b, ok := via.Params.Get("branch"); ok && b != "" {
				s.ovl.branches.Store(b, struct{}{})
				defer s.ovl.branches.Delete(b)
			}
		}
		h(req, tx)
	}
}

// refusedIfOver is the INVITE side: refused while the server is behind, not counted.
func (s *Server) refusedIfOver(h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		if !inDialog(req) && s.over() {
			s.ovl.refused.Add(1)
			s.reply(req, tx, 503, "Service Unavailable", sip.NewHeader("Retry-After", strconv.Itoa(s.set.Load().retryAfter)))
			return
		}
		h(req, tx)
	}
}

func inDialog(req *sip.Request) bool {
	if to := req.To(); to != nil {
		if tag, ok := to.Params.Get("tag"); ok && tag != "" {
			return true
		}
	}
	return false
}

// shedUDP answers a new request datagram 503 without parsing it when the server is behind;
// it reports whether it did (the datagram is then consumed). The 503 leaves with the read
// batch's other answers (one sendmmsg): refusing must cost far less than serving, or a
// server past its capacity would fall further behind and the kernel would drop requests.
// The reading goroutine only.
func (s *Server) shedUDP(data []byte, from net.Addr, waited time.Duration) bool {
	b := fastBufs.Get().(*bytes.Buffer)
	b.Reset()
	res := s.refusalFor(b.AvailableBuffer(), data, waited)
	if res == nil {
		fastBufs.Put(b)
		return false
	}
	b.Write(res)
	f := &s.fast
	f.out = append(f.out, ipv4.Message{Buffers: [][]byte{b.Bytes()}, Addr: from})
	f.bufs = append(f.bufs, b)
	return true
}

// refusalFor appends to dst the 503 for data when it is a new request the server must refuse
// now; nil when it is not.
func (s *Server) refusalFor(dst, data []byte, waited time.Duration) []byte {
	if !(s.over() || s.late(waited)) || !newRequest(data) {
		return nil
	}
	if s.ovl.inProgress.Load() > 0 {
		if b := topBranchRaw(data); len(b) > 0 {
			if _, busy := s.ovl.branches.Load(string(b)); busy {
				return nil // a retransmission of a request in progress
			}
		}
	}
	res, ok := appendRefusal(dst, data, s.set.Load().retryAfter)
	if !ok {
		return nil // not a request we can answer from its lines: let sipgo judge it
	}
	s.ovl.refused.Add(1)
	return res
}

// late reports whether a request that waited this long in the socket's queue must be
// refused: the server is behind by more than maxrequestwait.
func (s *Server) late(waited time.Duration) bool {
	limit := s.set.Load().maxRequestWait
	return limit > 0 && waited >= limit
}

// newRequest reports whether data is a REGISTER, SUBSCRIBE, OPTIONS or INVITE without a To
// tag (compact form "t:" included).
func newRequest(data []byte) bool {
	sp := bytes.IndexByte(data, ' ')
	if sp < 0 {
		return false
	}
	switch string(data[:sp]) {
	case "REGISTER", "SUBSCRIBE", "OPTIONS", "INVITE":
	default:
		return false
	}
	to := headerLine(data, "to", "t")
	return to != nil && !hasTag(to)
}

// hasTag reports whether a To value holds ";tag=" in any case (spaces around '=' allowed).
func hasTag(v []byte) bool {
	for {
		i := bytes.IndexByte(v, ';')
		if i < 0 {
			return false
		}
		v = v[i+1:]
		n, _, ok := bytes.Cut(v, []byte("="))
		if ok && bytes.EqualFold(bytes.TrimSpace(n), []byte("tag")) {
			return true
		}
	}
}

// topBranch returns the branch parameter of the message's first Via, "" when there is none.
func topBranch(data []byte) string { return string(topBranchRaw(data)) }

// topBranchRaw is topBranch without a copy: a slice of data (nil when there is none).
func topBranchRaw(data []byte) []byte {
	v := headerLine(data, "via", "v")
	if v == nil {
		return nil
	}
	if i := bytes.IndexByte(v, ','); i >= 0 {
		v = v[:i]
	}
	_, v, _ = bytes.Cut(v, []byte(";"))
	for len(v) > 0 {
		var p []byte
		p, v, _ = bytes.Cut(v, []byte(";"))
		if n, val, ok := bytes.Cut(bytes.TrimSpace(p), []byte("=")); ok && bytes.EqualFold(bytes.TrimSpace(n), []byte("branch")) {
			return bytes.TrimSpace(val)
		}
	}
	return nil
}

// headerSection returns the header lines of a message: after the start line, before the
// blank line (or the end); ok=false when there is no line after the start line.
func headerSection(data []byte) (h []byte, ok bool) {
	if end := bytes.Index(data, []byte("\r\n\r\n")); end >= 0 {
		data = data[:end]
	}
	i := bytes.Index(data, []byte("\r\n"))
	if i < 0 {
		return nil, false
	}
	return data[i+2:], true
}

// headerLine returns the value of the first header named name (or its compact form) in the
// message's header section, nil when there is none. It allocates nothing.
func headerLine(data []byte, name, compact string) []byte {
	h, ok := headerSection(data)
	if !ok {
		return nil
	}
	for len(h) > 0 {
		var l []byte
		l, h, _ = bytes.Cut(h, []byte("\r\n"))
		if n, v, ok := splitHeader(l); ok && (bytes.EqualFold(n, []byte(name)) || (compact != "" && bytes.EqualFold(n, []byte(compact)))) {
			return v
		}
	}
	return nil
}

func splitHeader(l []byte) (name, value []byte, ok bool) {
	i := bytes.IndexByte(l, ':')
	if i <= 0 {
		return nil, nil, false
	}
	return bytes.TrimSpace(l[:i]), bytes.TrimSpace(l[i+1:]), true
}

// rawRefusal builds "503 Service Unavailable" for a request from its own Via (every one, in
// order), From, To, Call-ID and CSeq lines; nil when one of them is missing.
func rawRefusal(data []byte, retryAfter int) []byte {
	res, ok := appendRefusal(nil, data, retryAfter)
	if !ok {
		return nil
	}
	return res
}

// appendRefusal is rawRefusal appending to dst, without allocating when dst has room.
func appendRefusal(dst, data []byte, retryAfter int) ([]byte, bool) {
	const (
		from = 1 << iota
		to
		callID
		cseq
		all = from | to | callID | cseq
	)
	h, ok := headerSection(data)
	if !ok {
		return dst, false
	}
	dst = append(dst, "SIP/2.0 503 Service Unavailable\r\n"...)
	vias, have := 0, 0
	for len(h) > 0 {
		var l []byte
		l, h, _ = bytes.Cut(h, []byte("\r\n"))
		n, _, ok := splitHeader(l)
		if !ok {
			continue
		}
		switch {
		case bytes.EqualFold(n, []byte("via")) || bytes.EqualFold(n, []byte("v")):
			vias++
		case bytes.EqualFold(n, []byte("from")) || bytes.EqualFold(n, []byte("f")):
			have |= from
		case bytes.EqualFold(n, []byte("to")) || bytes.EqualFold(n, []byte("t")):
			have |= to
		case bytes.EqualFold(n, []byte("call-id")) || bytes.EqualFold(n, []byte("i")):
			have |= callID
		case bytes.EqualFold(n, []byte("cseq")):
			have |= cseq
		default:
			continue
		}
		dst = append(dst, l...)
		dst = append(dst, "\r\n"...)
	}
	if vias == 0 || have != all {
		return dst, false
	}
	dst = append(dst, "Retry-After: "...)
	dst = strconv.AppendInt(dst, int64(retryAfter), 10)
	return append(dst, "\r\nContent-Length: 0\r\n\r\n"...), true
}
