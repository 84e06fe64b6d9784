package sip

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/pleiades-pbx/pleiades/internal/callerid"
	"github.com/pleiades-pbx/pleiades/internal/channel"
	"github.com/pleiades-pbx/pleiades/internal/logger"
	"github.com/pleiades-pbx/pleiades/internal/media/sdp"
)

// handleInvite takes an INVITE: a re-INVITE within a dialog, or a new call from a peer
// (chan_sip's handle_request_invite): the caller is identified and authenticated, its offer
// negotiated, and a channel made and handed to the call handler.
func (s *Server) handleInvite(req *sip.Request, tx sip.ServerTransaction) {
	if tags := unsupportedRequire(req); len(tags) > 0 {
		// as chan_sip, before anything else (authentication included): 420 naming them
		s.log.Log(context.Background(), logger.DebugLevel(1), "SIP: INVITE requires unsupported extensions", "require", logValue(strings.Join(tags, ", ")))
		s.reply(req, tx, 420, "Bad Extension", sip.NewHeader("Unsupported", strings.Join(tags, ", ")))
		return
	}
	if to := req.To(); to != nil {
		if tag, ok := to.Params.Get("tag"); ok && tag != "" {
			s.handleReinvite(req, tx)
			return
		}
	}
	cc := s.callCfg.Load()
	if cc == nil {
		s.reply(req, tx, 501, "Not Implemented")
		return
	}
	if s.refuseCalls.Load() {
		s.reply(req, tx, 503, "Service Unavailable")
		return
	}
	src, ok := sourceAddr(req)
	from := req.From()
	if !ok || from == nil || req.CallID() == nil || req.CSeq() == nil {
		s.reply(req, tx, 400, "Bad Request")
		return
	}
	if s.guard.blocked(src.Addr(), time.Now()) {
		s.stats.blocked.Add(1)
		s.reply(req, tx, 403, "Forbidden")
		return
	}
	set := s.set.Load()
	var p, deliverTo *peer
	var name, dest string
	if h := req.GetHeader(clusterHeader); h != nil {
		// another cluster member's call for a peer registered here (crosscall.go)
		if deliverTo, dest, ok = s.clusterInvite(req, tx, src, h.Value()); !ok {
			return
		}
	} else if p, name, ok = s.invitePeer(req, tx, src); !ok {
		return
	}
	dpContext, device := set.context, ""
	if p != nil {
		cfg := p.cfg.Load()
		dpContext, device = cfg.context, "SIP/"+p.name
	} else {
		name = src.Addr().String() // chan_sip names a guest's channel by its address
	}
	// the offer first (cheap, and refusing it costs no port); an INVITE without SDP is a
	// delayed offer: ours goes in the 200, the answer comes in the ACK
	c := s.newCall(p, name, false, src, transportOf(req))
	if deliverTo != nil {
		c.fromCluster, c.cs = true, deliverTo.cfg.Load().codecs
	}
	var offer *sdp.Description
	var neg sdp.Negotiated
	if body := req.Body(); len(body) > 0 {
		var err error
		if offer, err = sdp.Parse(body); err != nil {
			s.log.Log(context.Background(), logger.DebugLevel(1), "SIP: INVITE with a malformed SDP", "from", src.String(), "err", err)
			s.reply(req, tx, 488, "Not Acceptable Here")
			return
		}
		if neg, err = sdp.Negotiate(offer, c.codecs()); err != nil {
			s.log.Info(fmt.Sprintf("No compatible codecs, not accepting this offer! (call from '%s', %v)", logText(from.Value()), err))
			s.reply(req, tx, 488, "Not Acceptable Here")
			return
		}
	}
	c.callID = req.CallID().Value()
	c.key = dialogKey(c.callID, c.localTag)
	c.inv, c.itx = req, tx
	c.offer, c.neg = offer, neg
	c.local, c.remote = *req.To().Address.Clone(), *from.Address.Clone()
	c.localName, c.remoteName = req.To().DisplayName, from.DisplayName
	c.remoteTag, _ = from.Params.Get("tag")
	c.exten = req.Recipient.User
	c.target = *from.Address.Clone()
	if ch := req.Contact(); ch != nil {
		c.target = *ch.Address.Clone()
	}
	c.note("Rx", "INVITE")
	c.st.update = allowsMethod(req, "UPDATE")
	c.relInitLocked(req)
	if code, reason, hdr := c.stOfferLocked(req); code != 0 {
		s.log.Log(context.Background(), logger.DebugLevel(1), "SIP: session timer refused", "from", src.String(), "status", code)
		s.reply(req, tx, code, reason, hdr)
		return
	}
	if !c.admit(false) {
		s.log.Info(fmt.Sprintf("Call limit reached for '%s': call from '%s' refused", p.name, logText(from.Value())))
		s.reply(req, tx, 486, "Busy Here")
		return
	}
	chName := cc.reg.NewName("SIP", name)
	ms, err := cc.eng.NewSession(c.sessionOptions(chName))
	if err != nil {
		s.log.Warn("SIP: no RTP session for a call", "err", err)
		c.setCounts(false, false, false)
		s.reply(req, tx, 503, "Service Unavailable")
		return
	}
	c.ms = ms
	if err := c.setRemote(offer, neg); err != nil {
		_ = ms.Close()
		c.setCounts(false, false, false)
		s.reply(req, tx, 488, "Not Acceptable Here")
		return
	}
	s.reply(req, tx, 100, "Trying")
	exten := req.Recipient.User
	if exten == "" {
		exten = "s"
	}
	num, cname := from.Address.User, from.DisplayName
	if p != nil {
		if cid := p.cfg.Load().callerID; cid != "" {
			nm, n := callerid.Split(cid)
			if n != "" {
				num = n
			}
			if nm != "" {
				cname = nm
			}
		}
	}
	opts := channel.Options{Name: chName, Tech: c, Device: device, CallerNum: num, CallerName: cname,
		Context: dpContext, Exten: exten}
	if p != nil {
		opts.AccountCode = p.cfg.Load().accountCode
	}
	ch := cc.reg.New(opts)
	c.setChannel(ch)
	s.addDialog(c) // after c.ch is set: a BYE or CANCEL finds the channel
	ch.Set("SIPCALLID", c.callID)
	ch.SetLocation(dpContext, exten, 1)
	// sipgo keeps an answered INVITE's transaction, and so this callback, for 64*T1
	// (Timer L): it reaches the call through a pointer the call's release clears, so that a
	// finished call (its channel, media session, messages) is not kept that long with it.
	cancelTo := new(atomic.Pointer[call])
	cancelTo.Store(c)
	c.cancelRef = cancelTo
	tx.OnCancel(func(*sip.Request) {
		c := cancelTo.Load()
		if c == nil {
			return
		}
		// sipgo answered the CANCEL 200 and the INVITE 487
		c.mu.Lock()
		c.markFinalLocked()
		c.note("Rx", "CANCEL")
		c.mu.Unlock()
		c.remoteHangup(channel.CauseNormalClearing)
	})
	handler := cc.handler
	if deliverTo != nil {
		deliver := s.deliver.Load()
		handler = func(ch *channel.Channel) {
			if deliver == nil {
				ch.Hangup(channel.CauseUnallocated)
				return
			}
			(*deliver)(ch, "SIP/"+dest)
		}
	}
	if !s.spawn(func() {
		if handler != nil {
			handler(ch)
		}
		ch.Hangup(channel.CauseNormalClearing)
	}) {
		ch.Hangup(channel.CauseCongestion)
	}
	// sipgo ends the transaction when this handler returns: wait for the final response
	select {
	case <-c.finalC:
	case <-tx.Done():
		c.mu.Lock()
		final := c.final
		c.mu.Unlock()
		if !final {
			c.remoteHangup(channel.CauseNoUserResponse)
		}
	}
}

// bindIP is the address the call's RTP session binds: the one the far end reaches us at.
func (c *call) bindIP() netip.Addr {
	ip, err := netip.ParseAddr(c.lhost)
	if err != nil {
		return netip.IPv4Unspecified()
	}
	return ip
}

// comedia reports whether RTP goes back where the peer's comes from (nat=comedia, or
// auto_comedia with NAT detected).
func (c *call) comedia() bool {
	if c.p == nil {
		return c.s.set.Load().nat.comedia
	}
	n := c.p.cfg.Load().nat
	if n.comedia {
		return true
	}
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	return n.autoComedia && c.p.natDetected
}

// invitePeer identifies the caller of an INVITE as chan_sip does: a user or friend by the
// From user, else a peer by its address (the port too unless insecure=port), else a guest
// when allowguest=yes. It checks the peer's ACL and challenges unless insecure=invite. ok is
// false when a response was sent.
func (s *Server) invitePeer(req *sip.Request, tx sip.ServerTransaction, src netip.AddrPort) (p *peer, name string, ok bool) {
	set := s.set.Load()
	name = req.From().Address.User
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	p, err := s.findPeer(ctx, name)
	cancel()
	if err != nil {
		s.log.Warn("SIP: peer lookup failed", "peer", logValue(name), "err", err)
		s.reply(req, tx, 503, "Service Unavailable", sip.NewHeader("Retry-After", "5"))
		return nil, "", false
	}
	byName := p != nil && p.cfg.Load().typ != typePeer
	if !byName {
		p = s.peerByAddr(src)
	}
	if p == nil {
		if set.allowGuest {
			s.authenticated(req) // a guest's TCP connection is as good as an authenticated one
			return nil, "", true
		}
		if set.alwaysAuthReject {
			s.authenticate(req, tx, nil, name, src, failNoPeer) // 401, then 403
			return nil, "", false
		}
		s.authFailed(req, name, src, failNoPeer, false)
		s.reply(req, tx, 404, "Not Found")
		return nil, "", false
	}
	cfg := p.cfg.Load()
	if !cfg.acl.allowed(src.Addr()) {
		if set.alwaysAuthReject {
			s.authenticate(req, tx, nil, p.name, src, failACL)
			return nil, "", false
		}
		s.authFailed(req, p.name, src, failACL, false)
		s.reply(req, tx, 403, "Forbidden")
		return nil, "", false
	}
	if !cfg.insecureInvite {
		authName := name
		if !byName {
			authName = p.name
		}
		if s.authenticate(req, tx, p, authName, src, failNoPeer) != authOK {
			return nil, "", false
		}
	}
	s.authenticated(req)
	return p, p.name, true
}

// peerByAddr finds a peer (not type=user) whose address is src: a static host or a
// registration; the port must match too unless the peer has insecure=port.
func (s *Server) peerByAddr(src netip.AddrPort) *peer {
	for _, p := range s.allPeers() {
		cfg := p.cfg.Load()
		if cfg.typ == typeUser {
			continue
		}
		p.mu.Lock()
		a := p.addr
		p.mu.Unlock()
		if a.IsValid() && a.Addr().Unmap() == src.Addr() && (a.Port() == src.Port() || cfg.insecurePort) {
			return p
		}
	}
	return nil
}

// handleReinvite takes an INVITE within a dialog: a new offer (hold with sendonly/inactive or
// c=0.0.0.0, unhold, a new address) or a session refresh without SDP; 481 for a dialog we do
// not know.
func (s *Server) handleReinvite(req *sip.Request, tx sip.ServerTransaction) {
	s.inDialogOffer(req, tx)
}

// handleUpdate takes an UPDATE (RFC 3311) within a dialog: a session refresh (RFC 4028),
// without SDP answered 200 without a body, or a new offer taken as a re-INVITE's.
func (s *Server) handleUpdate(req *sip.Request, tx sip.ServerTransaction) {
	s.inDialogOffer(req, tx)
}

// inDialogOffer is the common part of a re-INVITE and an UPDATE from the far end: its
// session timer, its offer if it has one, and our 200.
func (s *Server) inDialogOffer(req *sip.Request, tx sip.ServerTransaction) {
	invite := req.IsInvite()
	c := s.dialogFor(req)
	if c == nil {
		s.reply(req, tx, 481, "Call/Transaction Does Not Exist")
		return
	}
	c.mu.Lock()
	if c.released || (!c.confirmed && (invite || len(req.Body()) > 0)) || (invite && c.ourRequestPending()) {
		c.mu.Unlock()
		s.reply(req, tx, 491, "Request Pending")
		return
	}
	c.note("Rx", string(req.Method))
	if code, reason, hdr := c.stOfferLocked(req); code != 0 {
		c.mu.Unlock()
		s.reply(req, tx, code, reason, hdr)
		return
	}
	c.st.update = c.st.update || allowsMethod(req, "UPDATE")
	body := req.Body()
	var frame channel.FrameKind
	holdChanged := false
	if len(body) > 0 {
		offer, err := sdp.Parse(body)
		var neg sdp.Negotiated
		if err == nil {
			neg, err = sdp.Negotiate(offer, c.codecs())
		}
		if err != nil {
			c.mu.Unlock()
			s.reply(req, tx, 488, "Not Acceptable Here")
			return
		}
		if err := c.ms.SetRemote(neg); err != nil {
			c.mu.Unlock()
			s.reply(req, tx, 488, "Not Acceptable Here")
			return
		}
		hold := neg.Hold || neg.Direction == sdp.SendOnly || neg.Direction == sdp.Inactive
		if hold != c.hold {
			c.hold, holdChanged = hold, true
			frame = channel.FrameUnhold
			if hold {
				frame = channel.FrameHold
			}
		} else if neg.Remote != c.neg.Remote {
			frame = channel.FrameSrcUpdate
		}
		c.offer, c.neg = offer, neg
	}
	var res *sip.Response
	switch {
	case !invite && len(body) == 0:
		res = c.responseLocked(req, 200, "OK", nil) // a refresh: no offer, no answer
	case c.offer == nil:
		// our side made the first offer (an outgoing call, a delayed offer); a refresh without SDP gets our offer again
		res = c.responseLocked(req, 200, "OK", c.offerSDPLocked(false))
	default:
		res = c.responseLocked(req, 200, "OK", c.answerSDPLocked(holdChanged || frame == channel.FrameSrcUpdate))
	}
	c.stHeadersLocked(res)
	var pend *pendingOK
	if invite {
		pend = &pendingOK{cseq: req.CSeq().SeqNo, res: res, done: make(chan struct{})}
		if c.pending != nil {
			close(c.pending.done)
		}
		c.pending = pend
	}
	hold, confirmed := c.hold, c.confirmed
	c.mu.Unlock()
	s.send(req, tx, res)
	if pend != nil {
		c.retransmitOK(pend)
	}
	if confirmed {
		c.stStart() // any re-INVITE or UPDATE refreshes the session (RFC 4028 10)
	}
	if holdChanged {
		c.setCounts(false, true, hold)
	}
	if frame != 0 && c.ch != nil {
		c.ch.Queue(channel.Frame{Kind: frame})
	}
}

// handleAck takes the ACK of a 2xx (ACKs of error responses stay in their transaction).
func (s *Server) handleAck(req *sip.Request, _ sip.ServerTransaction) {
	if c := s.dialogFor(req); c != nil {
		c.acked(req)
	}
}

// handleBye ends a call the far end hangs up; 481 for a dialog we do not know.
func (s *Server) handleBye(req *sip.Request, tx sip.ServerTransaction) {
	c := s.dialogFor(req)
	if c == nil {
		s.reply(req, tx, 481, "Call/Transaction Does Not Exist")
		return
	}
	c.mu.Lock()
	c.note("Rx", "BYE")
	c.mu.Unlock()
	s.reply(req, tx, 200, "OK")
	c.remoteHangup(channel.CauseNormalClearing)
}

// errNoCalls is returned by the driver when SetCalls was not called.
var errNoCalls = errors.New("sip: calls are not enabled")

// supportedOptions are the SIP option tags Pleiades takes in a Require header: session
// timers (RFC 4028), 100rel (RFC 3262, prack.go) and replaces (chan_sip lists it as
// supported and so does our Supported header; a Replaces header is not acted on).
var supportedOptions = map[string]bool{"timer": true, "replaces": true, "100rel": true}

// unsupportedRequire returns the option tags of req's Require (and Proxy-Require) that
// Pleiades does not support, as chan_sip's parse_sip_options: an INVITE that requires one
// gets 420 Bad Extension with Unsupported listing them.
func unsupportedRequire(req *sip.Request) []string {
	var out []string
	for _, name := range []string{"Require", "Proxy-Require"} {
		for _, h := range req.GetHeaders(name) {
			for _, t := range strings.Split(h.Value(), ",") {
				t = strings.ToLower(strings.TrimSpace(t))
				if t != "" && !supportedOptions[t] && !slices.Contains(out, t) {
					out = append(out, t)
				}
			}
		}
	}
	return out
}
