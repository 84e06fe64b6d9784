package sip

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/pleiades-pbx/pleiades/internal/channel"
	"github.com/pleiades-pbx/pleiades/internal/logger"
)

// Reliable provisional responses (RFC 3262, 100rel) — beyond chan_sip, which has none (it
// answers "Require: 100rel" with 420): a phone that supports 100rel gets our 183 (early
// media, with SDP) reliably, one that requires it every 18x; each carries "Require: 100rel"
// and an RSeq, is retransmitted from T1 doubling until its PRACK, and the next reliable one
// (and the 200) waits for that PRACK.

// reliable is a call's 100rel state (c.mu).
type reliable struct {
	on      bool   // the phone supports 100rel: our 183 goes reliably
	all     bool   // it requires 100rel: every 18x does
	rseq    uint32 // the last RSeq sent
	acked   uint32 // the last RSeq PRACKed
	pending *relProv
	timeout bool // no PRACK came within 64·T1: the call is refused with 504 (RFC 3262 3)

	// outgoing calls (we are the UAC): the last RSeq we PRACKed, per early dialog (the To
	// tag of the callee's 18x; a forked INVITE has one per fork, at most maxEarlyDialogs)
	prracked map[string]uint32
	// reliable 18x received again (a retransmission, or out of order): not PRACKed, not
	// processed (RFC 3262 4)
	dups int
}

// maxEarlyDialogs bounds the early dialogs of one outgoing INVITE whose reliable
// provisional responses we PRACK: a far end sending 18x with ever new To tags cannot grow
// a call's memory.
const maxEarlyDialogs = 16

// relProv is a reliable provisional response waiting for its PRACK.
type relProv struct {
	rseq uint32
	res  *sip.Response
	done chan struct{}
}

// relInitLocked reads the INVITE's Supported/Require for 100rel.
func (c *call) relInitLocked(req *sip.Request) {
	c.rel.all = requires(req, "100rel")
	c.rel.on = c.rel.all || supports(req, "100rel")
	c.rel.rseq = uint32(time.Now().UnixNano()%100000) + 1
}

// relProvisionalLocked makes res (a 18x) reliable when the phone wants it and none is
// waiting for its PRACK; it returns the pending entry to retransmit (nil: send as it is), and
// drop when res must not be sent now (another reliable one is unacknowledged: RFC 3262 3).
func (c *call) relProvisionalLocked(res *sip.Response, hasSDP bool) (p *relProv, drop bool) {
	if !c.rel.on || (!hasSDP && !c.rel.all) {
		return nil, false
	}
	if c.rel.pending != nil {
		return nil, true
	}
	c.rel.rseq++
	res.AppendHeader(sip.NewHeader("Require", "100rel"))
	res.AppendHeader(sip.NewHeader("RSeq", strconv.FormatUint(uint64(c.rel.rseq), 10)))
	p = &relProv{rseq: c.rel.rseq, res: res, done: make(chan struct{})}
	c.rel.pending = p
	return p, false
}

// relRetransmit resends p from T1 doubling until its PRACK (or a final response, or the
// call's end); with no PRACK within 64·T1 the call is refused (RFC 3262 3: 5xx; here the
// channel hangs up with NO_USER_RESPONSE, 408).
func (c *call) relRetransmit(p *relProv) {
	c.s.spawn(func() {
		interval := sip.T1
		deadline := time.NewTimer(64 * sip.T1)
		defer deadline.Stop()
		tick := time.NewTimer(interval)
		defer tick.Stop()
		for {
			select {
			case <-p.done:
				return
			case <-c.stop:
				return
			case <-c.finalC:
				return
			case <-deadline.C:
				c.s.log.Log(context.Background(), logger.DebugLevel(1), "SIP: no PRACK for a reliable provisional response; hanging up", "call-id", c.callID)
				c.mu.Lock()
				c.rel.timeout = true
				c.mu.Unlock()
				if c.ch != nil {
					c.ch.RequestHangup(channel.CauseNoUserResponse)
				}
				return
			case <-tick.C:
				if c.transport == "udp" {
					c.s.debugOut(p.res, c.addr.String())
					if err := c.s.srv.WriteResponse(p.res); err != nil {
						c.s.log.Log(context.Background(), logger.DebugLevel(1), "SIP: provisional response not resent", "err", err)
					}
				}
				interval *= 2
				tick.Reset(interval)
			}
		}
	})
}

// relWaitLocked waits (c.mu released meanwhile) until no reliable provisional response is
// unacknowledged: the 2xx follows the PRACK of a 183 with SDP (RFC 3262 3). It gives up with
// the retransmissions (64·T1) or when the call ends; false: the PRACK never came, and the
// call must not be answered (it is refused with 504, RFC 3262 3's 5xx).
func (c *call) relWaitLocked() bool {
	for c.rel.pending != nil {
		p := c.rel.pending
		c.mu.Unlock()
		t := time.NewTimer(64 * sip.T1)
		timedOut := false
		select {
		case <-p.done:
		case <-c.stop:
		case <-t.C:
			timedOut = true
		}
		t.Stop()
		c.mu.Lock()
		if c.rel.pending == p {
			c.rel.pending = nil
			if timedOut {
				c.rel.timeout = true
			}
		}
	}
	return !c.rel.timeout
}

// handlePrack takes a PRACK: 200 when its RAck names our unacknowledged reliable
// provisional response (or the last one acknowledged: a retransmitted PRACK), else 481.
func (s *Server) handlePrack(req *sip.Request, tx sip.ServerTransaction) {
	c := s.dialogFor(req)
	if c == nil {
		s.reply(req, tx, 481, "Call/Transaction Does Not Exist")
		return
	}
	rseq, cseq, ok := parseRAck(req)
	c.mu.Lock()
	c.note("Rx", "PRACK")
	match := ok && c.inv != nil && cseq == c.inv.CSeq().SeqNo
	p := c.rel.pending
	switch {
	case match && p != nil && rseq == p.rseq:
		close(p.done)
		c.rel.pending, c.rel.acked = nil, rseq
	case match && rseq == c.rel.acked && rseq != 0:
	default:
		c.mu.Unlock()
		s.reply(req, tx, 481, "Call/Transaction Does Not Exist")
		return
	}
	c.mu.Unlock()
	s.reply(req, tx, 200, "OK")
}

// parseRAck reads "RAck: <rseq> <cseq> INVITE".
func parseRAck(req *sip.Request) (rseq, cseq uint32, ok bool) {
	h := req.GetHeader("RAck")
	if h == nil {
		return 0, 0, false
	}
	f := strings.Fields(h.Value())
	if len(f) != 3 || !strings.EqualFold(f[2], "INVITE") {
		return 0, 0, false
	}
	r, err1 := strconv.ParseUint(f[0], 10, 32)
	cs, err2 := strconv.ParseUint(f[1], 10, 32)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return uint32(r), uint32(cs), true
}

// Outgoing calls (we are the UAC, RFC 3262 4). Our INVITE says "Supported: 100rel"
// (offer100rel); a 18x of the callee with "Require: 100rel" and an RSeq is PRACKed once,
// in its early dialog (its To tag), with "RAck: <RSeq> <INVITE's CSeq> INVITE". A reliable
// 18x whose RSeq is not one above the last one PRACKed in that dialog — a retransmission,
// because our PRACK has not reached the callee yet (sipgo's transaction retransmits the
// PRACK itself), or one out of order — is neither PRACKed nor processed: no frame, no SDP.

// offer100rel adds 100rel to the Supported header of our INVITE.
func offer100rel(req *sip.Request) {
	v := "100rel"
	if h := req.GetHeader("Supported"); h != nil {
		v = h.Value() + ", 100rel"
		req.RemoveHeader("Supported")
	}
	req.AppendHeader(sip.NewHeader("Supported", v))
}

// relResponseLocked takes a provisional response (101-199) to our INVITE, after its To tag
// and Contact were taken as the dialog's. prack is the PRACK to send when res is a new
// reliable one; skip tells that res is a reliable one already seen (or out of order) and
// must be ignored. An unreliable response, or one with "Require: 100rel" but no usable
// RSeq, gives neither (it is processed as unreliable).
func (c *call) relResponseLocked(res *sip.Response) (prack *sip.Request, skip bool) {
	if !requires(res, "100rel") {
		return nil, false
	}
	h := res.GetHeader("RSeq")
	if h == nil {
		return nil, false
	}
	r, err := strconv.ParseUint(strings.TrimSpace(h.Value()), 10, 32)
	if err != nil || r == 0 {
		return nil, false
	}
	rseq := uint32(r)
	tag := ""
	if to := res.To(); to != nil {
		tag, _ = to.Params.Get("tag")
	}
	last, seen := c.rel.prracked[tag]
	switch {
	case seen && rseq != last+1:
		c.rel.dups++
		return nil, true
	case !seen && len(c.rel.prracked) >= maxEarlyDialogs:
		return nil, false
	}
	if c.rel.prracked == nil {
		c.rel.prracked = map[string]uint32{}
	}
	c.rel.prracked[tag] = rseq
	cseq := uint32(0)
	if cs := res.CSeq(); cs != nil {
		cseq = cs.SeqNo
	}
	prack = c.requestLocked(sip.PRACK, 0)
	prack.AppendHeader(sip.NewHeader("RAck", fmt.Sprintf("%d %d INVITE", rseq, cseq)))
	c.note("Tx", "PRACK")
	return prack, false
}
