package sip

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/state"

	"github.com/emiago/sipgo/sip"

	"github.com/pleiades-pbx/pleiades/internal/logger"
)

// One NOTIFY of a subscription: the state it tells, its text (prepared once per dialog over
// UDP, through sipgo over TCP) and what its answer does to the subscription.

// effectiveState applies notifyringing and notifyhold; skip reports that this state is not
// notified at all (ringing with notifyringing=no).
func effectiveState(st state.Extension, set *settings) (state.Extension, bool) {
	if st.Has(state.ExtRinging) {
		switch {
		case set.notifyRinging == ringingNo && st == state.ExtRinging:
			return st, true
		case set.notifyRinging == ringingNo, set.notifyRinging == ringingNotInUse && st.Has(state.ExtInUse):
			st &^= state.ExtRinging
			if st == state.ExtNotInUse {
				st = state.ExtInUse
			}
		}
	}
	if st.Has(state.ExtOnHold) && !set.notifyHold {
		st = st&^state.ExtOnHold | state.ExtInUse
	}
	return st, false
}

func (sub *subscription) currentState() state.Extension {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.lastState == notNotified {
		return state.ExtUnavailable
	}
	return sub.lastState
}

// notify sends one NOTIFY in the dialog and settles its transaction in the background.
// terminated ends the subscription (reason given); force sends even when the state did not
// change (initial NOTIFY, refresh).
func (sub *subscription) notify(st state.Extension, terminated bool, reason string, force bool) {
	if p := sub.send(st, terminated, reason, force); p.tx != nil {
		p.settleLater()
	}
}

// notifyFailed ends a subscription whose NOTIFY got no final response (status 408), a 481 or
// a 5xx/6xx, as settle does for NOTIFYs sent through sipgo's transactions.
func (s *Server) notifyFailed(sub *subscription, status int) {
	if s.ctx.Err() != nil {
		return
	}
	s.stats.notifyFailures.Add(1)
	if sub.st.remove(sub) {
		s.log.Log(context.Background(), logger.Verbose(3), "SIP: subscription removed", "peer", sub.peer, "exten", sub.exten, "status", status)
	}
}

// pendingNotify is a NOTIFY sent and not yet answered.
type pendingNotify struct {
	sub        *subscription
	tx         sip.ClientTransaction
	terminated bool
}

// settleLater settles p in a goroutine Close waits for (closing: the transaction just ends).
func (p pendingNotify) settleLater() {
	if !p.sub.st.s.spawn(p.settle) {
		p.tx.Terminate()
	}
}

// settle waits for the answer: 481, 5xx or none (sipgo's Timer F, 32 s) ends the subscription.
func (p pendingNotify) settle() {
	s := p.sub.st.s
	ctx := s.ctx
	res, err := finalResponse(ctx, p.tx)
	switch {
	case p.terminated:
	case err != nil:
		if ctx.Err() == nil {
			s.stats.notifyFailures.Add(1)
			p.sub.st.remove(p.sub)
		}
	case res.StatusCode == 481 || res.StatusCode >= 500:
		s.stats.notifyFailures.Add(1)
		if p.sub.st.remove(p.sub) {
			s.log.Log(context.Background(), logger.Verbose(3), "SIP: subscription removed", "peer", p.sub.peer, "exten", p.sub.exten, "status", res.StatusCode)
		}
	}
}

// udpDialog is what every NOTIFY of a dialog over UDP repeats, prepared once: its text up to
// the Via branch and from there to the CSeq (request line, Via, Max-Forwards, User-Agent and
// the dialog's headers, exactly as newRequest and dialogHeaders build them for sipgo), the
// destination, and the body's XML-escaped extension and URIs.
type udpDialog struct {
	text  []byte // head and tail, one after the other
	cut   int    // where the head ends
	to    *net.UDPAddr
	exten string
	toURI string // the SUBSCRIBE's To URI (dialog-info entity, PIDF contact)
	from  string // the subscriber's From URI (PIDF entity)
}

func (d *udpDialog) ready() bool  { return d.text != nil }
func (d *udpDialog) head() []byte { return d.text[:d.cut] }
func (d *udpDialog) tail() []byte { return d.text[d.cut:] }

func (sub *subscription) prepareUDP(s *Server) udpDialog {
	host, port := s.localHostFor(sub.addr, sub.transport)
	target := sub.target.Clone()
	var a, b strings.Builder
	a.WriteString("NOTIFY ")
	a.WriteString(target.String())
	a.WriteString(" SIP/2.0\r\nVia: SIP/2.0/UDP ")
	a.WriteString(net.JoinHostPort(host, strconv.Itoa(port)))
	a.WriteString(";branch=")
	b.WriteString(";rport\r\nMax-Forwards: 70\r\nUser-Agent: ")
	b.WriteString(s.set.Load().userAgent)
	b.WriteString("\r\n")
	for _, h := range sub.dialogHeaders(s) {
		b.WriteString(h.Name())
		b.WriteString(": ")
		b.WriteString(h.Value())
		b.WriteString("\r\n")
	}
	return udpDialog{text: []byte(a.String() + b.String()), cut: a.Len(), to: net.UDPAddrFromAddrPort(sub.addr),
		exten: xmlEscaper.Replace(sub.exten), toURI: xmlEscaper.Replace(bareURI(sub.localURI)), from: xmlEscaper.Replace(bareURI(sub.remoteURI))}
}

// bareURI is a URI without its parameters and headers, as chan_sip's remove_uri_parameters
// gives the To and From of a SUBSCRIBE for the NOTIFY bodies (port kept).
func bareURI(u sip.Uri) string {
	u.UriParams, u.Headers = nil, nil
	return u.String()
}

// dialogHeaders builds the headers every NOTIFY of the dialog repeats, once. They are shared
// by the requests (sipgo only reads them when it writes or retransmits).
func (sub *subscription) dialogHeaders(s *Server) []sip.Header {
	from := &sip.FromHeader{Address: *sub.localURI.Clone(), Params: sip.NewParams()}
	from.Params.Add("tag", sub.localTag)
	to := &sip.ToHeader{Address: *sub.remoteURI.Clone(), Params: sip.NewParams()}
	to.Params.Add("tag", sub.remoteTag)
	callID := sip.CallIDHeader(sub.callID)
	return []sip.Header{from, to, &callID, s.contactHeader(sub.exten, sub.localHost, sub.localPort, sub.transport),
		sip.NewHeader("Event", sub.kind.event()), sip.NewHeader("Content-Type", sub.kind.contentType())}
}

// send builds and sends one NOTIFY; the returned transaction (nil: nothing sent) must be
// settled.
func (sub *subscription) send(st state.Extension, terminated bool, reason string, force bool) pendingNotify {
	return sub.sendVia(nil, st, terminated, reason, force)
}

// sendVia is send; a NOTIFY over UDP is appended to batch instead of being written, when batch
// is not nil (the fan-out writes a batch with one system call per batchSize messages).
func (sub *subscription) sendVia(batch *notifyBatch, st state.Extension, terminated bool, reason string, force bool) pendingNotify {
	s := sub.st.s
	set := s.set.Load()
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.terminated {
		return pendingNotify{}
	}
	if sub.kind != kindMWI {
		eff, skip := effectiveState(st, set)
		if (skip || eff == sub.lastState) && !force && !terminated {
			return pendingNotify{}
		}
		if !skip {
			sub.lastState = eff
		}
		st = sub.lastState
		if st == notNotified {
			st = state.ExtNotInUse
		}
	}
	sub.cseq++
	version := sub.version
	sub.version++
	if terminated {
		sub.terminated = true
	}
	expires := max(0, int(time.Until(sub.expires).Seconds()+0.5))
	if ntx := s.ntx.Load(); ntx != nil && sub.overUDP {
		// UDP: the NOTIFY is written from bytes prepared once per dialog (notifytx.go).
		if !sub.udp.ready() {
			sub.udp = sub.prepareUDP(s)
		}
		d := &sub.udp
		var scratch [1024]byte
		var body []byte
		switch sub.kind {
		case kindDialog:
			body = appendDialogInfo(scratch[:0], version, d.exten, d.toURI, st)
		case kindPresence:
			body = appendPIDF(scratch[:0], d.exten, d.from, d.toURI, st)
		case kindMWI:
			nw, old, urg := s.mailboxCounts(sub.mailboxes)
			body = appendMWI(scratch[:0], nw, old, urg, s.messageAccount(sub.peer, sub.localHost))
		}
		seq := nextBranchSeq()
		size := len(d.text) + len(body) + len(reason) + 160
		var raw []byte
		if batch != nil {
			raw = batch.buffer(size)
		} else {
			raw = make([]byte, 0, size)
		}
		raw = append(raw, d.head()...)
		raw = appendBranch(raw, seq)
		raw = append(raw, d.tail()...)
		raw = append(raw, "CSeq: "...)
		raw = strconv.AppendUint(raw, uint64(sub.cseq), 10)
		raw = append(raw, " NOTIFY\r\nSubscription-State: "...)
		raw = appendSubState(raw, terminated, reason, expires)
		raw = append(raw, "\r\nContent-Length: "...)
		raw = strconv.AppendInt(raw, int64(len(body)), 10)
		raw = append(raw, "\r\n\r\n"...)
		raw = append(raw, body...)
		if !s.isRunning() {
			return pendingNotify{}
		}
		if s.debugOn() && s.debugging(sub.addr.String()) {
			s.log.Log(context.Background(), logger.Verbose(1), fmt.Sprintf("\n<--- Transmitting to %s --->\n%s\n<------------>", sub.addr, strings.TrimRight(string(raw), "\r\n")))
		}
		s.stats.notifies.Add(1)
		if batch != nil {
			batch.msgs = append(batch.msgs, outMsg{seq: seq, raw: batch.commit(raw), to: d.to, sub: sub, terminated: terminated})
			return pendingNotify{}
		}
		if err := ntx.send(seq, raw, d.to, sub, terminated); err != nil {
			s.stats.notifyFailures.Add(1)
			s.log.Log(context.Background(), logger.DebugLevel(1), "SIP: NOTIFY not sent", "peer", sub.peer, "err", err)
		}
		return pendingNotify{}
	}
	var body []byte
	switch sub.kind {
	case kindDialog:
		body = dialogInfoBody(version, sub.exten, bareURI(sub.localURI), st)
	case kindPresence:
		body = pidfBody(sub.exten, bareURI(sub.remoteURI), bareURI(sub.localURI), st)
	case kindMWI:
		nw, old, urg := s.mailboxCounts(sub.mailboxes)
		body = mwiBody(nw, old, urg, s.messageAccount(sub.peer, sub.localHost))
	}
	subState := string(appendSubState(nil, terminated, reason, expires))
	if sub.hdrs == nil {
		sub.hdrs = sub.dialogHeaders(s)
	}
	req := s.newRequest(sip.NOTIFY, sub.addr, sub.transport, sub.target)
	for _, h := range sub.hdrs {
		req.AppendHeader(h)
	}
	req.AppendHeader(&sip.CSeqHeader{SeqNo: sub.cseq, MethodName: sip.NOTIFY})
	req.AppendHeader(sip.NewHeader("Subscription-State", subState))
	req.SetBody(body)
	if !s.isRunning() {
		return pendingNotify{}
	}
	s.debugOut(req, sub.addr.String())
	// No per-NOTIFY timer: sipgo's Timer F (64*T1 = 32 s) ends an unanswered transaction.
	s.stats.notifies.Add(1) // before the write: a subscriber may have it before TransactionRequest returns
	s.fromListener(req)
	tx, err := s.client.TransactionRequest(s.ctx, req)
	if err != nil {
		s.stats.notifyFailures.Add(1)
		s.log.Log(context.Background(), logger.DebugLevel(1), "SIP: NOTIFY not sent", "peer", sub.peer, "err", err)
		return pendingNotify{}
	}
	return pendingNotify{sub: sub, tx: tx, terminated: terminated}
}
