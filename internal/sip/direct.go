package sip

import (
	"context"
	"net/netip"

	"github.com/emiago/sipgo/sip"

	"github.com/pleiades-pbx/pleiades/internal/channel"
	"github.com/pleiades-pbx/pleiades/internal/logger"
	"github.com/pleiades-pbx/pleiades/internal/media/sdp"
)

// directmedia (chan_sip's canreinvite): channel.DirectMedia for SIP legs. A bridge of two
// legs that both may goes direct by re-INVITEing each with the other's media address, and
// comes back with a re-INVITE offering ours (see the package documentation).

var _ channel.DirectMedia = (*call)(nil)

// DirectTarget is the far end's media as negotiated, when this leg may go direct: a known
// peer with directmedia (nonat: not behind NAT), no symmetric RTP (nat=comedia: its media
// must come back where it comes from, which only the relay does), not a call between
// cluster members, answered, not on hold.
func (c *call) DirectTarget() (sdp.Negotiated, bool) {
	if c.p == nil || c.fromCluster || c.clusterCred != "" {
		return sdp.Negotiated{}, false
	}
	switch c.p.cfg.Load().directMedia {
	case directNo:
		return sdp.Negotiated{}, false
	case directNoNAT:
		c.p.mu.Lock()
		nat := c.p.natDetected
		c.p.mu.Unlock()
		if nat {
			return sdp.Negotiated{}, false
		}
	}
	if c.comedia() {
		return sdp.Negotiated{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.released || !c.confirmed || c.hold || !c.neg.Remote.IsValid() ||
		c.neg.Remote.Port() == 0 || c.neg.Remote.Addr().IsUnspecified() {
		return sdp.Negotiated{}, false
	}
	return c.neg, true
}

// DirectAllowed applies the peer's directmediapermit/directmediadeny to the other leg's media
// address.
func (c *call) DirectAllowed(addr netip.Addr) bool {
	if c.p == nil {
		return false
	}
	return c.p.cfg.Load().directACL.allowed(addr)
}

// DirectTo re-INVITEs the far end with t's media address and codec (t nil: ours again, in
// the background).
func (c *call) DirectTo(ctx context.Context, t *sdp.Negotiated) error {
	if t != nil {
		return c.redirect(ctx, t)
	}
	c.mu.Lock()
	direct := c.directTo != nil
	c.mu.Unlock()
	if direct {
		c.s.spawn(func() {
			ctx, cancel := context.WithTimeout(c.s.ctx, 64*sip.T1)
			defer cancel()
			_ = c.redirect(ctx, nil)
		})
	}
	return nil
}

// redirect sends the re-INVITE of DirectTo once no INVITE transaction of the dialog is in
// progress (RFC 3261 14.1: our 2xx waits for its ACK), and keeps the leg as it was when the
// far end refuses.
func (c *call) redirect(ctx context.Context, t *sdp.Negotiated) error {
	release, err := c.ourRequest(ctx)
	if err != nil {
		return err
	}
	defer release()
	c.mu.Lock()
	for c.pending != nil {
		p := c.pending
		c.mu.Unlock()
		select {
		case <-p.done:
		case <-c.stop:
		case <-ctx.Done():
			return ctx.Err()
		}
		c.mu.Lock()
	}
	if c.released || !c.confirmed {
		c.mu.Unlock()
		return channel.ErrHungUp
	}
	if t == nil && c.directTo == nil {
		c.mu.Unlock()
		return nil
	}
	prev := c.directTo
	c.directTo = nil
	if t != nil {
		cp := *t
		c.directTo = &cp
	}
	req := c.reinviteLocked(c.sessionSDPLocked(true))
	c.mu.Unlock()
	res, err := c.inDialogRequest(ctx, req)
	if res != nil && res.IsSuccess() {
		return nil
	}
	c.mu.Lock()
	if !c.released {
		c.directTo = prev
	}
	c.mu.Unlock()
	if err == nil {
		err = &channel.CauseError{Cause: statusCause(res.StatusCode)}
	}
	c.s.log.Log(context.Background(), logger.DebugLevel(1), "SIP: directmedia re-INVITE refused", "call-id", c.callID, "err", err)
	return err
}

// sessionSDPLocked is our offer of the session as it stands: the other leg's media when the
// leg is direct (its codec and telephone-event), else our RTP session with our codecs.
func (c *call) sessionSDPLocked(bump bool) []byte {
	if c.directTo == nil {
		if c.offer != nil && !c.outgoing {
			return c.answerSDPLocked(bump) // what we answered last, the codecs the phone chose
		}
		return c.offerSDPLocked(bump)
	}
	if bump {
		c.sdpVer++
	}
	t := c.directTo
	codecs := []sdp.Codec{t.Codec}
	if t.HasDTMF {
		dt := t.DTMF
		if dt.Fmtp == "" {
			dt.Fmtp = sdp.TelephoneEvent.Fmtp
		}
		codecs = append(codecs, dt)
	}
	return sdp.Offer(sdp.Local{Addr: t.Remote, SessionID: c.sdpID, Version: c.sdpVer, Username: "root", Ptime: t.Ptime}, codecs)
}

// mediaAddrLocked is the media address our descriptions give: the other leg's when direct.
func (c *call) mediaAddrLocked() netip.AddrPort {
	if c.directTo != nil {
		return c.directTo.Remote
	}
	return c.localRTP()
}

// ourRequest waits until no re-INVITE or UPDATE of ours is in progress in the dialog and
// reserves the turn (release gives it back): one INVITE transaction at a time (RFC 3261
// 14.1), and requests sent in the order of their CSeq.
func (c *call) ourRequest(ctx context.Context) (release func(), err error) {
	select {
	case c.reqTurn <- struct{}{}:
		return func() { <-c.reqTurn }, nil
	case <-c.stop:
		return nil, channel.ErrHungUp
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// ourRequestPending reports whether a re-INVITE or UPDATE of ours is in progress: the far
// end's re-INVITE then gets 491 Request Pending.
func (c *call) ourRequestPending() bool { return len(c.reqTurn) > 0 }

// reinviteLocked builds a re-INVITE of ours with body (our session timer, if any, stays).
func (c *call) reinviteLocked(body []byte) *sip.Request {
	req := c.requestLocked(sip.INVITE, 0)
	req.AppendHeader(c.contact())
	req.AppendHeader(sip.NewHeader("Allow", allowMethods))
	c.stRequestHeadersLocked(req, c.st.active)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(body)
	c.note("Tx", "INVITE")
	return req
}

// inDialogRequest sends a re-INVITE or UPDATE of ours and waits for its final response. A 2xx
// to a re-INVITE is acknowledged and its SDP answer applied (to our RTP session when the leg
// is not direct); a 2xx restarts the session timer with what it says.
func (c *call) inDialogRequest(ctx context.Context, req *sip.Request) (*sip.Response, error) {
	c.s.debugOut(req, c.addr.String())
	c.s.fromListener(req)
	tx, err := c.s.client.TransactionRequest(ctx, req)
	if err != nil {
		return nil, err
	}
	res, err := finalResponse(ctx, tx)
	if err != nil || !res.IsSuccess() {
		return res, err
	}
	c.mu.Lock()
	if c.released {
		c.mu.Unlock()
		return res, nil
	}
	c.stAnswerLocked(res, false)
	var ack *sip.Request
	if req.IsInvite() {
		ack = c.ackLocked(res)
		if body := res.Body(); len(body) > 0 && c.directTo == nil {
			if err := c.applyAnswerLocked(body); err != nil {
				c.s.log.Log(context.Background(), logger.DebugLevel(1), "SIP: unusable SDP in the answer to our re-INVITE", "call-id", c.callID, "err", err)
			}
		}
	}
	c.mu.Unlock()
	if ack != nil {
		c.s.sendACK(ack, c.addr)
	}
	c.stStart()
	return res, nil
}
