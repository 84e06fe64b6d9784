package sip

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/pleiades-pbx/pleiades/internal/channel"
	"github.com/pleiades-pbx/pleiades/internal/logger"
	"github.com/pleiades-pbx/pleiades/internal/media/sdp"
)

// sipDriver is the "SIP" channel technology: Request makes an outgoing channel to a peer.
type sipDriver struct{ s *Server }

var _ channel.Driver = sipDriver{}

func (sipDriver) Type() string { return "SIP" }

// Request makes a channel to the peer data names ("bob", "bob/1234": extension 1234 at bob,
// "1234@bob"), with its RTP session, without calling it yet. A peer that does not exist, is
// not registered or is unreachable (qualify) gives cause 20 (SUBSCRIBER_ABSENT), as
// chan_sip's "Unable to create channel of type 'SIP' (cause 20 - Subscriber absent)".
func (d sipDriver) Request(ctx context.Context, reg *channel.Registry, data string, requestor *channel.Channel) (*channel.Channel, error) {
	s := d.s
	cc := s.callCfg.Load()
	if cc == nil || !s.isRunning() {
		return nil, &channel.CauseError{Cause: channel.CauseChannelUnavailable, Err: errNoCalls}
	}
	name, exten := data, ""
	if n, e, ok := strings.Cut(data, "/"); ok {
		name, exten = n, e
	} else if e, n, ok := strings.Cut(data, "@"); ok {
		name, exten = n, e
	}
	absent := func(why string) error {
		return &channel.CauseError{Cause: channel.CauseSubscriberAbsent, Err: fmt.Errorf("sip: peer %q %s", name, why)}
	}
	lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	p, err := s.findPeer(lctx, name)
	cancel()
	if err != nil {
		return nil, &channel.CauseError{Cause: channel.CauseChannelUnavailable, Err: err}
	}
	if p == nil {
		return nil, absent("not found")
	}
	cfg := p.cfg.Load()
	p.mu.Lock()
	addr, transport, target := p.addr, p.transport, p.contactURI
	unreachable := cfg.qualifyMS > 0 && p.status == statusUnreachable
	p.mu.Unlock()
	var c *call
	switch {
	case !addr.IsValid():
		// not registered here: registered on another cluster member? (crosscall.go)
		loc, ok := s.remoteLocation(name, requestor)
		if !ok {
			return nil, absent("is not registered")
		}
		c = s.remoteCall(p, loc, exten)
	case unreachable:
		return nil, absent("is unreachable")
	default:
		if transport == "" {
			transport = "udp"
		}
		if transport == "tcp" {
			addr = s.tcpTarget(addr, target)
		}
		c = s.newCall(p, p.name, true, addr, transport)
		c.callID = sip.GenerateTagN(24) + "@" + c.lhost
		c.key = dialogKey(c.callID, c.localTag)
		c.target = *target.Clone()
		if exten != "" {
			c.target.User = exten
		} else if c.target.User == "" {
			c.target.User = orDefault(cfg.defaultUser, p.name)
		}
	}
	c.exten = exten
	chName := reg.NewName("SIP", p.name)
	ms, err := cc.eng.NewSession(c.sessionOptions(chName))
	if err != nil {
		return nil, &channel.CauseError{Cause: channel.CauseCongestion, Err: err}
	}
	c.ms = ms
	opts := channel.Options{Name: chName, Tech: c, Outgoing: true, Device: "SIP/" + p.name,
		Exten: c.target.User, AccountCode: cfg.accountCode}
	if requestor != nil {
		snap := requestor.Snapshot()
		opts.LinkedID = requestor.LinkedID()
		opts.CallerNum, opts.CallerName = snap.CallerNum, snap.CallerName
		opts.Context = snap.Context
		opts.Language = snap.Language
	}
	ch := reg.New(opts)
	c.setChannel(ch)
	ch.Set("SIPCALLID", c.callID)
	return ch, nil
}

// offerSDPLocked is our offer (outgoing calls), c.mu held.
func (c *call) offerSDPLocked(bump bool) []byte {
	if bump {
		c.sdpVer++
	}
	return sdp.Offer(sdp.Local{Addr: c.localRTP(), SessionID: c.sdpID, Version: c.sdpVer, Username: "root"}, c.codecs())
}

// call sends the INVITE of an outgoing channel. A peer at its call-limit (or busylevel) is
// busy: the channel hangs up with USER_BUSY without an INVITE, as chan_sip.
func (c *call) call(context.Context) error {
	s := c.s
	if !c.admit(true) {
		s.log.Info(fmt.Sprintf("Call limit reached for '%s': call refused (busy)", c.peerName))
		c.remoteHangup(channel.CauseUserBusy)
		return nil
	}
	snap := c.ch.Snapshot()
	host, port := c.lhost, c.lport
	user := snap.CallerNum
	if user == "" {
		user = "asterisk"
	}
	c.mu.Lock()
	c.local = sip.Uri{Scheme: "sip", User: user, Host: host, Port: port}
	c.localName = snap.CallerName
	c.remote = sip.Uri{Scheme: "sip", User: c.target.User, Host: c.addr.Addr().String(), Port: int(c.addr.Port())}
	if c.exten == "" {
		c.exten = user
	}
	req := c.requestLocked(sip.INVITE, 0)
	req.AppendHeader(c.contact())
	if c.clusterCred != "" {
		req.AppendHeader(sip.NewHeader(clusterHeader, c.clusterCred))
	}
	req.AppendHeader(sip.NewHeader("Allow", allowMethods))
	c.stRequestHeadersLocked(req, false)
	offer100rel(req)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(c.offerSDPLocked(false))
	c.oinv = req
	c.note("Tx", "INVITE")
	c.mu.Unlock()
	s.addDialog(c)
	s.debugOut(req, c.addr.String())
	s.fromListener(req)
	tx, err := s.client.TransactionRequest(s.ctx, req)
	if err != nil {
		s.log.Log(context.Background(), logger.DebugLevel(1), "SIP: INVITE not sent", "err", err, "peer", c.peerName)
		c.remoteHangup(channel.CauseChannelUnavailable)
		return nil
	}
	c.mu.Lock()
	c.otx = tx
	released := c.released
	c.mu.Unlock()
	if released {
		tx.Terminate()
		return nil
	}
	if !s.spawn(func() { c.readResponses(tx) }) {
		tx.Terminate()
		c.remoteHangup(channel.CauseChannelUnavailable)
	}
	return nil
}

// readResponses follows the responses to our INVITE: provisional ones as frames, 2xx
// answered with ACK (retransmitted 2xx too), error responses as the hangup cause.
func (c *call) readResponses(tx sip.ClientTransaction) {
	for {
		select {
		case <-c.stop:
			c.mu.Lock()
			final := c.final
			c.mu.Unlock()
			if final {
				return
			}
			// released before the final response: a 2xx racing our CANCEL still needs ACK
			// and BYE; read until the transaction ends
			select {
			case res := <-tx.Responses():
				if res.IsSuccess() {
					c.lateAnswer(res)
				}
			case <-tx.Done():
			}
			return
		case <-tx.Done():
			c.mu.Lock()
			final, released := c.final, c.released
			c.mu.Unlock()
			if !final && !released {
				c.remoteHangup(channel.CauseNoUserResponse)
			}
			return
		case res := <-tx.Responses():
			if ntx := c.response(res); ntx != nil {
				tx = ntx // our INVITE again after a 422 (session timers)
			}
		}
	}
}

func (c *call) response(res *sip.Response) sip.ClientTransaction {
	code := res.StatusCode
	if code == 422 {
		if tx := c.retry422(res); tx != nil {
			return tx
		}
	}
	c.mu.Lock()
	if c.released {
		// The final answer to a call we gave up on (487 to our CANCEL, or a 2xx that
		// crossed it) ends the wait for it: readResponses returns at once instead of
		// holding on until the transaction's Timer D.
		if code >= 200 {
			c.markFinalLocked()
		}
		c.mu.Unlock()
		if res.IsSuccess() {
			c.lateAnswer(res)
		}
		return nil
	}
	if code > 100 && code < 300 {
		if to := res.To(); to != nil {
			if tag, ok := to.Params.Get("tag"); ok {
				c.remoteTag = tag
			}
			c.remoteName = to.DisplayName
		}
		if ct := res.Contact(); ct != nil {
			c.target = *ct.Address.Clone()
		}
	}
	var prack *sip.Request
	if code > 100 && code < 200 {
		var skip bool
		if prack, skip = c.relResponseLocked(res); skip {
			c.mu.Unlock()
			return nil
		}
	}
	var applyErr error
	if body := res.Body(); len(body) > 0 && code > 100 && code < 300 {
		applyErr = c.applyAnswerLocked(body)
	}
	switch {
	case code == 100:
		c.mu.Unlock()
		c.ch.Queue(channel.Frame{Kind: channel.FrameProceeding})
	case code < 200:
		c.mu.Unlock()
		if prack != nil {
			c.s.spawn(func() { c.s.inDialog(prack, c.addr) })
		}
		if code == 183 {
			c.ch.Queue(channel.Frame{Kind: channel.FrameProgress})
		} else {
			c.ch.Queue(channel.Frame{Kind: channel.FrameRinging})
		}
	case code < 300:
		if c.confirmed { // a retransmission: ACK again
			ack := c.ackLocked(res)
			c.mu.Unlock()
			c.s.sendACK(ack, c.addr)
			return nil
		}
		c.markFinalLocked()
		c.confirmed = true
		c.stAnswerLocked(res, c.stCfg().mode == stOriginate)
		ack := c.ackLocked(res)
		c.note("Tx", "ACK")
		c.mu.Unlock()
		c.s.sendACK(ack, c.addr)
		c.stStart()
		if applyErr != nil {
			c.s.log.Log(context.Background(), logger.DebugLevel(1), "SIP: unusable SDP in the answer; hanging up", "err", applyErr, "peer", c.peerName)
			c.ch.RequestHangup(channel.CauseBearerCapabilityNotAvail)
			return nil
		}
		c.setCountsSync(false, true, false) // DeviceStateChange INUSE, then Newstate Up
		c.ch.Queue(channel.Frame{Kind: channel.FrameAnswer})
	default:
		c.markFinalLocked()
		c.remoteGone = true
		c.mu.Unlock()
		cause := statusCause(code)
		if c.clusterCred != "" {
			if q, ok := q850Cause(res); ok {
				cause = q
			}
		}
		switch cause {
		case channel.CauseUserBusy:
			c.ch.Queue(channel.Frame{Kind: channel.FrameBusy})
		case channel.CauseCongestion:
			c.ch.Queue(channel.Frame{Kind: channel.FrameCongestion})
		}
		c.ch.HungUp(cause)
	}
	return nil
}

// lateAnswer takes a 2xx that came after we hung up (it crossed our CANCEL): ACK, then BYE.
func (c *call) lateAnswer(res *sip.Response) {
	c.mu.Lock()
	if to := res.To(); to != nil {
		c.remoteTag, _ = to.Params.Get("tag")
	}
	if ct := res.Contact(); ct != nil {
		c.target = *ct.Address.Clone()
	}
	ack := c.ackLocked(res)
	bye := c.requestLocked(sip.BYE, 0)
	c.mu.Unlock()
	c.s.sendACK(ack, c.addr)
	c.s.spawn(func() { c.s.inDialog(bye, c.addr) })
}

// applyAnswerLocked applies the far end's SDP answer to our offer.
func (c *call) applyAnswerLocked(body []byte) error {
	d, err := sdp.Parse(body)
	if err != nil {
		return err
	}
	n, err := sdp.Negotiate(d, c.codecs())
	if err != nil {
		return err
	}
	c.neg = n
	return c.ms.SetRemote(n)
}

// ackLocked builds the ACK of a 2xx to our INVITE.
func (c *call) ackLocked(res *sip.Response) *sip.Request {
	seq := uint32(0)
	if cs := res.CSeq(); cs != nil {
		seq = cs.SeqNo
	}
	return c.requestLocked(sip.ACK, seq)
}

// cancelLocked builds the CANCEL of our INVITE (same Request-URI, top Via, From, To, Call-ID
// and CSeq number as the INVITE).
func (c *call) cancelLocked() *sip.Request {
	inv := c.oinv
	req := sip.NewRequest(sip.CANCEL, *inv.Recipient.Clone())
	req.SetTransport(inv.Transport())
	req.SetDestination(inv.Destination())
	if v := inv.Via(); v != nil {
		req.AppendHeader(v.Clone())
	}
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	for _, name := range []string{"From", "To", "Call-ID"} {
		if h := inv.GetHeader(name); h != nil {
			req.AppendHeader(sip.HeaderClone(h))
		}
	}
	req.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sip.CANCEL})
	return req
}

func (s *Server) sendACK(ack *sip.Request, addr interface{ String() string }) {
	s.debugOut(ack, addr.String())
	s.fromListener(ack)
	if err := s.client.WriteRequest(ack); err != nil {
		s.log.Log(context.Background(), logger.DebugLevel(1), "SIP: ACK not sent", "err", err)
	}
}

// tcpTarget is where a call to a peer registered over TCP goes: the connection it
// registered on while it is open (phones keep it), else its Contact's address.
func (s *Server) tcpTarget(addr netip.AddrPort, contact sip.Uri) netip.AddrPort {
	if c, _ := s.ua.TransportLayer().GetConnection("tcp", addr.String()); c != nil {
		return addr
	}
	ip, err := netip.ParseAddr(contact.Host)
	if err != nil {
		return addr
	}
	port := contact.Port
	if port == 0 {
		port = defaultPort
	}
	return netip.AddrPortFrom(ip, uint16(port))
}

// retry422 sends our INVITE again after a 422 Session Interval Too Small, once, with the
// Min-SE it names as our Session-Expires and Min-SE (RFC 4028 7.4; chan_sip's
// proc_422_rsp): same Call-ID and From tag, a new CSeq. It returns the new transaction, nil
// when the 422 ends the call.
func (c *call) retry422(res *sip.Response) sip.ClientTransaction {
	m := minSE(res)
	c.mu.Lock()
	if c.released || c.final || c.st.retried422 || m <= 0 || c.stCfg().mode == stRefuse || c.oinv == nil {
		c.mu.Unlock()
		return nil
	}
	c.st.retried422 = true
	c.rel.prracked = nil // a new initial request: RSeq starts again (RFC 3262 4)
	old := c.oinv
	req := c.requestLocked(sip.INVITE, 0)
	req.AppendHeader(c.contact())
	if c.clusterCred != "" {
		req.AppendHeader(sip.NewHeader(clusterHeader, c.clusterCred))
	}
	req.AppendHeader(sip.NewHeader("Allow", allowMethods))
	req.AppendHeader(sip.NewHeader("Supported", "replaces, timer, 100rel"))
	req.AppendHeader(sip.NewHeader("Session-Expires", strconv.Itoa(m)))
	req.AppendHeader(sip.NewHeader("Min-SE", strconv.Itoa(m)))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(old.Body())
	c.st.minSE = m
	c.oinv = req
	c.note("Tx", "INVITE")
	c.mu.Unlock()
	c.s.debugOut(req, c.addr.String())
	c.s.fromListener(req)
	tx, err := c.s.client.TransactionRequest(c.s.ctx, req)
	if err != nil {
		c.s.log.Log(context.Background(), logger.DebugLevel(1), "SIP: INVITE after 422 not sent", "err", err, "peer", c.peerName)
		return nil
	}
	c.mu.Lock()
	c.otx = tx
	released := c.released
	c.mu.Unlock()
	if released {
		tx.Terminate()
		return nil
	}
	return tx
}
