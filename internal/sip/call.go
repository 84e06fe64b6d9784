package sip

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/pleiades-pbx/pleiades/internal/channel"
	"github.com/pleiades-pbx/pleiades/internal/logger"
	"github.com/pleiades-pbx/pleiades/internal/media"
	"github.com/pleiades-pbx/pleiades/internal/media/sdp"
)

// calls is what SetCalls gave the server: where channels live, the RTP port pool, and what
// runs an incoming channel (the dialplan).
type calls struct {
	reg     *channel.Registry
	eng     *media.Engine
	handler func(*channel.Channel)
}

// SetCalls turns calls on: an INVITE from a peer becomes a channel of reg with an RTP
// session from eng, handed to handler on its own goroutine (handler owns the channel and
// hangs it up; the server hangs it up after handler returns in any case); and reg gets the
// "SIP" channel driver, so that reg.Request(ctx, "SIP/bob", caller) calls bob. Without
// SetCalls every INVITE is answered 501 Not Implemented. Call it before Start.
func (s *Server) SetCalls(reg *channel.Registry, eng *media.Engine, handler func(*channel.Channel)) {
	s.callCfg.Store(&calls{reg: reg, eng: eng, handler: handler})
	reg.RegisterDriver(sipDriver{s})
}

// ActiveCalls returns how many calls (SIP dialogs with a channel) are up: the core's
// CallCounter, which a "core stop gracefully" waits for.
func (s *Server) ActiveCalls() int {
	s.dlgMu.Lock()
	defer s.dlgMu.Unlock()
	return len(s.dialogs)
}

// RefuseNewCalls makes new INVITEs get 503 Service Unavailable (a stop in progress), as
// chan_sip while Asterisk shuts down.
func (s *Server) RefuseNewCalls(refuse bool) { s.refuseCalls.Store(refuse) }

// codecs are the codecs the call offers and accepts: the peer's allow/disallow (a guest:
// [general]'s) with RFC 4733 events.
func (c *call) codecs() []sdp.Codec {
	var cs []sdp.Codec
	if c.cs != nil {
		cs = c.cs
	} else if c.p != nil {
		cs = c.p.cfg.Load().codecs
	} else {
		cs = c.s.set.Load().codecs
	}
	return append(append([]sdp.Codec(nil), cs...), sdp.TelephoneEvent)
}

// call is one SIP call leg: an INVITE dialog (chan_sip's sip_pvt) and the channel.Tech of its
// channel.
//
// Locks: call.mu, peer.mu (counters), Server.dlgMu (the dialog table) are never held
// together; device states are reported (peer.devMu) and the channel is called with none
// of them held, except Channel.Queue of DTMF on the RTP reader.
type call struct {
	s        *Server
	p        *peer // nil: a guest
	peerName string
	outgoing bool
	// cluster calls (crosscall.go): clusterCred is the credential an outgoing call to another
	// member carries; fromCluster marks an incoming one, whose codecs are cs (the peer's)
	clusterCred string
	fromCluster bool
	cs          []sdp.Codec
	ch          *channel.Channel
	dtmfCh      atomic.Pointer[channel.Channel] // ch, for the RTP reader's DTMF callback
	ms          *media.Session
	callID      string
	key         string         // Call-ID|our tag: the dialog table's key
	addr        netip.AddrPort // where our requests go (the peer's source address: NAT-proof)
	transport   string
	lhost       string // our address as the far end reaches it (localHostFor)
	lport       int
	created     time.Time
	stop        chan struct{}         // closed at release: ends retransmissions and response readers
	finalC      chan struct{}         // closed with final: sipgo ends a server transaction when its handler returns
	reqTurn     chan struct{}         // holds one token while a re-INVITE or UPDATE of ours is in progress
	cancelRef   *atomic.Pointer[call] // the INVITE transaction's CANCEL callback's way to the call; nil at release

	mu         sync.Mutex
	localTag   string
	remoteTag  string
	local      sip.Uri // our URI in From (outgoing) or To (incoming)
	remote     sip.Uri
	localName  string
	remoteName string
	target     sip.Uri // the far end's Contact: the Request-URI of in-dialog requests
	cseq       uint32  // our last CSeq
	inv        *sip.Request
	itx        sip.ServerTransaction
	offer      *sdp.Description // the far end's last offer (incoming)
	neg        sdp.Negotiated
	final      bool // a final response to the INVITE was sent (incoming) or received (outgoing)
	confirmed  bool // 2xx exchanged: BYE ends the call
	released   bool // Tech.Hangup ran
	remoteGone bool // the far end ended the call (BYE, CANCEL, error response)
	hold       bool
	sdpID      uint64
	sdpVer     uint64
	lastMsg    string
	pending    *pendingOK      // our 2xx waiting for its ACK
	st         sessionTimer    // RFC 4028 (stimer.go)
	rel        reliable        // RFC 3262 (prack.go)
	directTo   *sdp.Negotiated // directmedia: the other leg's media our descriptions give (direct.go)
	// counted towards the peer's counters
	cRinging, cInUse, cHold bool
	// outgoing
	oinv  *sip.Request
	otx   sip.ClientTransaction
	exten string
}

// pendingOK is a 2xx to an INVITE retransmitted until its ACK (RFC 3261 13.3.1.4).
type pendingOK struct {
	cseq uint32
	res  *sip.Response
	done chan struct{}
}

func (s *Server) newCall(p *peer, name string, outgoing bool, addr netip.AddrPort, transport string) *call {
	host, port := s.localHostFor(addr, transport) // once: it may cost a socket
	c := &call{s: s, p: p, peerName: name, outgoing: outgoing, addr: addr, transport: transport, lhost: host, lport: port,
		created: time.Now(), stop: make(chan struct{}), finalC: make(chan struct{}), reqTurn: make(chan struct{}, 1), localTag: sip.GenerateTagN(16),
		cseq: uint32(rand.IntN(10000)) + 100, sdpID: uint64(rand.Int64N(1 << 40)), sdpVer: 1}
	return c
}

// ---- dialog table ----

func dialogKey(callID, tag string) string { return callID + "|" + tag }

func (s *Server) addDialog(c *call) {
	s.dlgMu.Lock()
	if s.dialogs == nil {
		s.dialogs = map[string]*call{}
	}
	s.dialogs[c.key] = c
	s.dlgMu.Unlock()
}

func (s *Server) removeDialog(c *call) {
	s.dlgMu.Lock()
	if s.dialogs[c.key] == c {
		delete(s.dialogs, c.key)
	}
	s.dlgMu.Unlock()
}

// dialogFor finds the call an in-dialog request from the far end belongs to (its To tag is
// ours).
func (s *Server) dialogFor(req *sip.Request) *call {
	cid, to := req.CallID(), req.To()
	if cid == nil || to == nil {
		return nil
	}
	tag, _ := to.Params.Get("tag")
	if tag == "" {
		return nil
	}
	s.dlgMu.Lock()
	defer s.dlgMu.Unlock()
	return s.dialogs[dialogKey(cid.Value(), tag)]
}

func (s *Server) allCalls() []*call {
	s.dlgMu.Lock()
	defer s.dlgMu.Unlock()
	out := make([]*call, 0, len(s.dialogs))
	for _, c := range s.dialogs {
		out = append(out, c)
	}
	return out
}

// hangupAll ends every call (the server stops).
func (s *Server) hangupAll() {
	for _, c := range s.allCalls() {
		if c.ch != nil {
			c.ch.Hangup(channel.CauseNormalClearing)
		} else {
			c.Hangup(channel.CauseNormalClearing)
		}
	}
}

// ---- per-peer counters and device state ----

// admit counts a new call of the peer (in use, and ringing for an outgoing call) unless the
// peer is at its call-limit (or, for an outgoing call, its busylevel): chan_sip's
// update_call_counter INC_CALL_LIMIT / INC_CALL_RINGING.
func (c *call) admit(ringing bool) bool {
	p := c.p
	if p == nil {
		return true
	}
	cfg := p.cfg.Load()
	p.mu.Lock()
	if cfg.callLimit > 0 && p.inUse >= cfg.callLimit {
		p.mu.Unlock()
		return false
	}
	if ringing && cfg.busyLevel > 0 && p.inUse >= cfg.busyLevel {
		p.mu.Unlock()
		return false
	}
	p.inUse++
	if ringing {
		p.inRinging++
	}
	p.mu.Unlock()
	c.mu.Lock()
	c.cInUse, c.cRinging = true, ringing
	c.mu.Unlock()
	if ringing {
		p.reportDeviceSync() // DeviceStateChange RINGING before the callee's Newstate Ringing
	} else {
		p.reportDevice()
	}
	return true
}

// setCounts moves the call's share of its peer's counters to (ringing, inUse, hold) and
// reports the device state when it changed.
func (c *call) setCounts(ringing, inUse, hold bool) { c.moveCounts(ringing, inUse, hold, false) }

// setCountsSync is setCounts returning once the device change has been announced (see
// DeviceSyncer): for the answer of an outgoing call, whose DeviceStateChange INUSE Asterisk
// sends before the callee's Newstate Up.
func (c *call) setCountsSync(ringing, inUse, hold bool) { c.moveCounts(ringing, inUse, hold, true) }

func (c *call) moveCounts(ringing, inUse, hold, sync bool) {
	p := c.p
	if p == nil {
		return
	}
	c.mu.Lock()
	dr, du, dh := delta(c.cRinging, ringing), delta(c.cInUse, inUse), delta(c.cHold, hold)
	c.cRinging, c.cInUse, c.cHold = ringing, inUse, hold
	c.mu.Unlock()
	if dr == 0 && du == 0 && dh == 0 {
		return
	}
	p.mu.Lock()
	p.inRinging += dr
	p.inUse += du
	p.onHold += dh
	p.mu.Unlock()
	p.report(sync)
}

func delta(was, now bool) int {
	switch {
	case was && !now:
		return -1
	case !was && now:
		return 1
	}
	return 0
}

// ---- causes and SIP status codes (chan_sip's hangup_cause2sip and hangup_sip2cause) ----

// causeStatus is the final response for a call refused with cause.
func causeStatus(cause channel.Cause) (int, string) {
	switch cause {
	case channel.CauseUnallocated, channel.CauseNoRouteDestination, 2: // 2: NO_ROUTE_TRANSIT_NET
		return 404, "Not Found"
	case channel.CauseCongestion, channel.CauseSwitchCongestion:
		return 503, "Service Unavailable"
	case channel.CauseNoUserResponse:
		return 408, "Request Timeout"
	case channel.CauseNoAnswer, channel.CauseSubscriberAbsent, channel.CauseNormalUnspecified:
		return 480, "Temporarily Unavailable"
	case channel.CauseCallRejected:
		return 403, "Forbidden"
	case channel.CauseNumberChanged:
		return 410, "Gone"
	case channel.CauseInvalidNumberFormat:
		return 484, "Address Incomplete"
	case channel.CauseUserBusy:
		return 486, "Busy Here"
	case channel.CauseNetworkOutOfOrder:
		return 500, "Server Internal Failure"
	case channel.CauseFacilityRejected:
		return 501, "Not Implemented"
	case 66: // CHANNEL_NOT_IMPLEMENTED
		return 503, "Service Unavailable"
	case channel.CauseDestinationOutOfOrder:
		return 502, "Bad Gateway"
	case channel.CauseBearerCapabilityNotAvail:
		return 488, "Not Acceptable Here"
	}
	return 603, "Declined"
}

// statusCause is the hangup cause of a final error response to our INVITE.
func statusCause(code int) channel.Cause {
	switch code {
	case 401, 403, 407, 603:
		return channel.CauseCallRejected
	case 404, 604:
		return channel.CauseUnallocated
	case 408:
		return channel.CauseNoUserResponse
	case 409:
		return channel.CauseTemporaryFailure
	case 410:
		return channel.CauseNumberChanged
	case 420, 485:
		return channel.CauseNoRouteDestination
	case 480, 483:
		return channel.CauseNoAnswer
	case 484:
		return channel.CauseInvalidNumberFormat
	case 486, 600:
		return channel.CauseUserBusy
	case 488, 606:
		return channel.CauseBearerCapabilityNotAvail
	case 500:
		return channel.CauseNetworkOutOfOrder
	case 501:
		return channel.CauseFacilityRejected
	case 502:
		return channel.CauseDestinationOutOfOrder
	case 503:
		return channel.CauseCongestion
	case 504:
		return channel.CauseRecoveryOnTimerExpire
	}
	switch {
	case code >= 400 && code < 500:
		return channel.CauseInterworking
	case code >= 500 && code < 600:
		return channel.CauseCongestion
	}
	return channel.CauseInterworking
}

// ---- building messages ----

// localRTP is our RTP address as the far end reaches it.
func (c *call) localRTP() netip.AddrPort {
	ip, err := netip.ParseAddr(c.lhost)
	if err != nil {
		ip = netip.IPv4Unspecified()
	}
	return netip.AddrPortFrom(ip, c.ms.LocalAddr().Port())
}

// answerSDP is our answer to the far end's offer (c.mu held); a changed hold state raises
// the version.
func (c *call) answerSDPLocked(bump bool) []byte {
	if bump {
		c.sdpVer++
	}
	return sdp.Answer(c.offer, c.neg, sdp.Local{Addr: c.mediaAddrLocked(), SessionID: c.sdpID, Version: c.sdpVer, Username: "root"})
}

func (c *call) contact() *sip.ContactHeader {
	host, port := c.lhost, c.lport
	user := c.exten
	if user == "" {
		user = "asterisk"
	}
	return c.s.contactHeader(user, host, port, c.transport)
}

// response builds a response to the INVITE req with our tag (c.mu held).
func (c *call) responseLocked(req *sip.Request, code int, reason string, body []byte) *sip.Response {
	res := sip.NewResponseFromRequest(req, code, reason, body)
	if to := res.To(); to != nil && code > 100 {
		to.Params.Add("tag", c.localTag) // replaces the one sipgo makes up
	}
	if code > 100 && code < 300 {
		res.AppendHeader(c.contact())
		res.AppendHeader(sip.NewHeader("Allow", allowMethods))
		if c.stCfg().mode == stRefuse {
			res.AppendHeader(sip.NewHeader("Supported", "replaces"))
		} else {
			res.AppendHeader(sip.NewHeader("Supported", "replaces, timer"))
		}
	}
	if body != nil {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	return res
}

// request builds an in-dialog request (BYE, ACK with cseq given, re-INVITE).
func (c *call) requestLocked(method sip.RequestMethod, cseq uint32) *sip.Request {
	req := c.s.newRequest(method, c.addr, c.transport, c.target)
	from := &sip.FromHeader{DisplayName: c.localName, Address: *c.local.Clone(), Params: sip.NewParams()}
	from.Params.Add("tag", c.localTag)
	to := &sip.ToHeader{DisplayName: c.remoteName, Address: *c.remote.Clone(), Params: sip.NewParams()}
	if c.remoteTag != "" {
		to.Params.Add("tag", c.remoteTag)
	}
	req.AppendHeader(from)
	req.AppendHeader(to)
	cid := sip.CallIDHeader(c.callID)
	req.AppendHeader(&cid)
	if cseq == 0 {
		c.cseq++
		cseq = c.cseq
	}
	req.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: method})
	return req
}

// sessionOptions are the RTP session's options for the channel named name: received
// RFC 4733 digits become DTMF frames of the channel (DTMFBegin/DTMFEnd as the dialplan sees
// them).
func (c *call) sessionOptions(name string) media.SessionOptions {
	return media.SessionOptions{LocalIP: c.bindIP(), Symmetric: c.comedia(), Name: name, OnDTMF: func(d media.DTMF) {
		ch := c.dtmfCh.Load()
		if ch == nil {
			return
		}
		if d.End {
			ch.Queue(channel.Frame{Kind: channel.FrameDTMFEnd, Digit: rune(d.Digit), Duration: d.Duration})
		} else {
			ch.Queue(channel.Frame{Kind: channel.FrameDTMFBegin, Digit: rune(d.Digit)})
		}
	}}
}

// setChannel records the call's channel.
func (c *call) setChannel(ch *channel.Channel) {
	c.ch = ch
	c.dtmfCh.Store(ch)
}

// markFinalLocked records that the INVITE has its final response (c.mu held).
func (c *call) markFinalLocked() {
	if !c.final {
		c.final = true
		close(c.finalC)
	}
}

// note records the last SIP request sent or received ("Rx: ACK"), as chan_sip's lastmsg
// ("sip show channels"); responses do not change it.
func (c *call) note(dir, what string) {
	c.lastMsg = dir + ": " + what
}

// ---- channel.Tech ----

var _ channel.Tech = (*call)(nil)

// Media returns the leg's RTP session.
func (c *call) Media() *media.Session { return c.ms }

// SendDigit sends one RFC 4733 digit.
func (c *call) SendDigit(digit rune, d time.Duration) error {
	if c.ms == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), d+2*time.Second)
	defer cancel()
	return c.ms.SendDTMF(ctx, string(digit), d, 0)
}

// Answer answers an incoming call: 200 OK with our SDP answer, retransmitted until the ACK
// (on UDP); it returns once the 200 is sent (chan_sip's sip_answer does not wait either). A
// missing ACK ends the call after 64·T1 (a BYE, cause NO_USER_RESPONSE... as chan_sip's
// retransmission timeout).
func (c *call) Answer(ctx context.Context) error {
	if c.outgoing {
		return nil
	}
	c.mu.Lock()
	// the 2xx after the PRACK of our reliable 183 (RFC 3262 3)
	if !c.relWaitLocked() || c.final || c.released {
		c.mu.Unlock()
		return channel.ErrHungUp
	}
	c.markFinalLocked()
	c.confirmed = true
	var body []byte
	if c.offer == nil {
		body = c.offerSDPLocked(false) // a delayed offer: ours, the answer comes in the ACK
	} else {
		body = c.answerSDPLocked(false)
	}
	res := c.responseLocked(c.inv, 200, "OK", body)
	c.stHeadersLocked(res)
	req, tx := c.inv, c.itx
	pend := &pendingOK{cseq: req.CSeq().SeqNo, res: res, done: make(chan struct{})}
	c.pending = pend
	c.mu.Unlock()
	c.s.send(req, tx, res)
	c.retransmitOK(pend)
	c.stStart()
	return nil
}

// retransmitOK resends a 2xx until its ACK: T1 doubling up to T2 on UDP, and gives up after
// 64·T1 with a BYE.
func (c *call) retransmitOK(pend *pendingOK) {
	c.s.spawn(func() {
		interval := sip.T1
		deadline := time.NewTimer(64 * sip.T1)
		defer deadline.Stop()
		udp := c.transport == "udp"
		tick := time.NewTimer(interval)
		defer tick.Stop()
		for {
			select {
			case <-pend.done:
				return
			case <-c.stop:
				return
			case <-deadline.C:
				c.s.log.Log(context.Background(), logger.DebugLevel(1), "SIP: no ACK for 200 OK; hanging up", "call-id", c.callID)
				// The ACK is not coming (RFC 3261 13.3.1.4): the BYE goes now, not after
				// another 64·T1 of waiting for it in Hangup.
				c.mu.Lock()
				if c.pending == pend {
					close(pend.done)
					c.pending = nil
				}
				c.mu.Unlock()
				if c.ch != nil {
					c.ch.RequestHangup(channel.CauseNoUserResponse)
				}
				return
			case <-tick.C:
				if udp {
					c.s.debugOut(pend.res, c.addr.String())
					if err := c.s.srv.WriteResponse(pend.res); err != nil {
						c.s.log.Log(context.Background(), logger.DebugLevel(1), "SIP: 200 OK not resent", "err", err)
					}
				}
				interval = min(2*interval, sip.T2)
				tick.Reset(interval)
			}
		}
	})
}

// acked takes an ACK of the far end.
// The ACK of a delayed offer's 200 carries the answer: without a usable one the call ends
// (BEARERCAPABILITY_NOTAVAIL, BYE).
func (c *call) acked(req *sip.Request) {
	c.mu.Lock()
	c.note("Rx", "ACK")
	p := c.pending
	if p == nil || req.CSeq() == nil || req.CSeq().SeqNo != p.cseq {
		c.mu.Unlock()
		return
	}
	close(p.done)
	c.pending = nil
	var err error
	if c.offer == nil && !c.outgoing && !c.released {
		err = errors.New("no SDP answer in the ACK")
		if body := req.Body(); len(body) > 0 {
			var d *sdp.Description
			var n sdp.Negotiated
			if d, err = sdp.Parse(body); err == nil {
				if n, err = sdp.Negotiate(d, c.codecs()); err == nil {
					err = c.setRemote(d, n)
				}
			}
		}
	}
	c.mu.Unlock()
	if err != nil && c.ch != nil {
		c.s.log.Log(context.Background(), logger.DebugLevel(1), "SIP: delayed offer not answered; hanging up", "call-id", c.callID, "err", err)
		c.ch.RequestHangup(channel.CauseBearerCapabilityNotAvail)
	}
}

// setRemote applies the far end's offer (or, for a delayed offer, its answer): nothing for a
// delayed offer still waiting.
func (c *call) setRemote(d *sdp.Description, n sdp.Negotiated) error {
	if d == nil {
		return nil
	}
	if err := c.ms.SetRemote(n); err != nil {
		return err
	}
	c.offer, c.neg = d, n
	return nil
}

// Indicate signals a condition to the caller of an incoming call: 180, 183 with SDP (early
// media), 486, 503. Outgoing legs and conditions SIP cannot carry are ignored.
func (c *call) Indicate(cond channel.Condition) error {
	if c.outgoing {
		return nil
	}
	c.mu.Lock()
	if c.final || c.released {
		c.mu.Unlock()
		return nil
	}
	var res *sip.Response
	var rel *relProv
	switch cond {
	case channel.CondRinging:
		res = c.responseLocked(c.inv, 180, "Ringing", nil)
		var drop bool
		if rel, drop = c.relProvisionalLocked(res, false); drop {
			c.mu.Unlock()
			return nil
		}
	case channel.CondProgress:
		var body []byte
		if c.offer != nil { // no early media before a delayed offer's answer
			body = c.answerSDPLocked(false)
		}
		res = c.responseLocked(c.inv, 183, "Session Progress", body)
		var drop bool
		if rel, drop = c.relProvisionalLocked(res, body != nil); drop {
			c.mu.Unlock()
			return nil
		}
	case channel.CondBusy:
		c.markFinalLocked()
		res = c.responseLocked(c.inv, 486, "Busy Here", nil)
	case channel.CondCongestion:
		c.markFinalLocked()
		res = c.responseLocked(c.inv, 503, "Service Unavailable", nil)
	default:
		c.mu.Unlock()
		return nil
	}
	req, tx := c.inv, c.itx
	c.mu.Unlock()
	c.s.send(req, tx, res)
	if rel != nil {
		c.relRetransmit(rel)
	}
	return nil
}

// Hangup ends the call from our side: a final response to an unanswered incoming call (the
// cause's status), CANCEL for an unanswered outgoing one, BYE for an answered call; nothing
// when the far end ended it. It then releases the RTP session, the dialog and the peer's
// counters.
func (c *call) Hangup(cause channel.Cause) {
	c.mu.Lock()
	if c.released {
		c.mu.Unlock()
		return
	}
	c.released = true
	c.stStopLocked()
	var res *sip.Response
	var bye, cancel *sip.Request
	var req *sip.Request
	var tx sip.ServerTransaction
	switch {
	case c.remoteGone:
	case !c.outgoing && !c.final && c.inv != nil:
		c.markFinalLocked()
		code, reason := causeStatus(cause)
		if c.rel.timeout {
			// no PRACK for our reliable 18x within 64·T1: RFC 3262 3's 5xx
			code, reason = 504, "Server Time-out"
		}
		if cause == channel.CauseUnallocated && c.ch != nil {
			// chan_sip's NOTICE for a call to an extension the dialplan does not have
			snap := c.ch.Snapshot()
			c.s.log.Info(fmt.Sprintf("Call from '%s' (%s) to extension '%s' rejected because extension not found in context '%s'.",
				logText(c.peerName), c.addr, logText(c.exten), logText(snap.Context)))
		}
		res = c.responseLocked(c.inv, code, reason, nil)
		if c.fromCluster {
			// the caller's server takes the exact cause, so that its Dial sets the same
			// DIALSTATUS as ours (RFC 3326; crosscall.go)
			res.AppendHeader(sip.NewHeader("Reason", fmt.Sprintf("Q.850;cause=%d", int(cause))))
		}
		req, tx = c.inv, c.itx
	case c.confirmed:
		bye = c.requestLocked(sip.BYE, 0)
		c.note("Tx", "BYE")
	case c.outgoing && !c.final && c.oinv != nil:
		cancel = c.cancelLocked()
		c.note("Tx", "CANCEL")
	}
	// RFC 3261 15: no BYE before the ACK of our 200 (or its timeout); the dialog stays
	// findable for that ACK meanwhile
	var waitAck *pendingOK
	if bye != nil && c.pending != nil {
		waitAck = c.pending
	} else if c.pending != nil {
		close(c.pending.done)
		c.pending = nil
	}
	otx := c.otx
	c.mu.Unlock()
	if res != nil {
		c.s.send(req, tx, res)
	}
	switch {
	case waitAck != nil:
		if !c.s.spawn(func() {
			t := time.NewTimer(64 * sip.T1)
			defer t.Stop()
			select {
			case <-waitAck.done:
			case <-t.C:
			case <-c.s.ctx.Done():
			}
			c.s.inDialog(bye, c.addr)
			c.s.removeDialog(c)
		}) {
			c.s.removeDialog(c)
		}
	case bye != nil:
		c.s.spawn(func() { c.s.inDialog(bye, c.addr) })
	}
	if cancel != nil {
		c.s.spawn(func() { c.s.inDialog(cancel, c.addr) })
	}
	close(c.stop)
	if c.cancelRef != nil {
		c.cancelRef.Store(nil)
	}
	if cancel == nil && otx != nil {
		otx.Terminate()
	} else if otx != nil {
		// the INVITE transaction ends with the far end's 487 (which sipgo acknowledges), or
		// with Timer B; it is not left longer than that
		c.s.afterFunc(64*sip.T1, otx.Terminate)
	}
	if c.ms != nil {
		_ = c.ms.Close()
	}
	if waitAck == nil {
		c.s.removeDialog(c)
	}
	c.setCounts(false, false, false)
}

// inDialog sends a request that needs no more than its final response (BYE, CANCEL).
func (s *Server) inDialog(req *sip.Request, addr netip.AddrPort) {
	ctx, cancel := context.WithTimeout(s.ctx, 64*sip.T1)
	defer cancel()
	res, err := s.do(ctx, req, addr)
	if err != nil && res == nil {
		s.log.Log(context.Background(), logger.DebugLevel(1), fmt.Sprintf("SIP: %s not answered", req.Method), "err", err, "to", addr.String())
	}
}

// Call is the outgoing INVITE (see outgoing.go).
func (c *call) Call(ctx context.Context) error { return c.call(ctx) }

// remoteHangup ends the call because the far end did (BYE, CANCEL, an error response).
func (c *call) remoteHangup(cause channel.Cause) {
	c.mu.Lock()
	c.remoteGone = true
	c.mu.Unlock()
	if c.ch != nil {
		c.ch.HungUp(cause)
	}
}
