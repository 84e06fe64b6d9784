package sip

import (
	"strconv"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/state"

	"github.com/emiago/sipgo/sip"
)

// SUBSCRIBE handling: new subscriptions, refreshes, unsubscriptions and fetches.

// handleSubscribe serves SUBSCRIBE for dialog, presence and message-summary.
func (s *Server) handleSubscribe(req *sip.Request, tx sip.ServerTransaction) {
	set := s.set.Load()
	src, ok := sourceAddr(req)
	from, to, cid, cseq := req.From(), req.To(), req.CallID(), req.CSeq()
	if !ok || from == nil || to == nil || cid == nil || cseq == nil {
		s.reply(req, tx, 400, "Bad Request")
		return
	}
	fromTag, _ := from.Params.Get("tag")
	if fromTag == "" {
		s.reply(req, tx, 400, "Bad Request")
		return
	}
	var kind subKind
	ev := ""
	if h := req.GetHeader("Event"); h != nil {
		ev, _, _ = strings.Cut(h.Value(), ";")
		ev = strings.ToLower(strings.TrimSpace(ev))
	}
	switch ev {
	case "dialog":
		kind = kindDialog
	case "presence":
		kind = kindPresence
	case "message-summary":
		kind = kindMWI
	default:
		s.reply(req, tx, 489, "Bad Event", sip.NewHeader("Allow-Events", allowEvents))
		return
	}
	if !set.allowSubscribe {
		s.reply(req, tx, 403, "Forbidden")
		return
	}
	toTag, _ := to.Params.Get("tag")
	key := cid.Value() + "|" + fromTag
	existing := s.subs.get(key)
	if toTag != "" && (existing == nil || existing.localTag != toTag) {
		s.reply(req, tx, 481, "Call/Transaction Does Not Exist")
		return
	}
	expires := set.defaultExpiry
	if h := req.GetHeader("Expires"); h != nil {
		n, err := strconv.Atoi(strings.TrimSpace(h.Value()))
		if err != nil || n < 0 {
			s.reply(req, tx, 400, "Bad Request")
			return
		}
		expires = n
	}
	name := from.Address.User
	p := s.peerForRequest(req, tx, name, src, false)
	if p == nil {
		return
	}
	cfg := p.cfg.Load()
	if !cfg.allowSubscribe {
		s.security("subscription refused", name, src, "allowsubscribe=no")
		s.reply(req, tx, 403, "Forbidden")
		return
	}
	if expires > 0 && expires < set.subMinExpiry {
		s.reply(req, tx, 423, "Interval Too Brief", sip.NewHeader("Min-Expires", strconv.Itoa(set.subMinExpiry)))
		return
	}
	if expires > set.subMaxExpiry {
		expires = set.subMaxExpiry
	}
	if existing != nil {
		s.refreshSubscription(req, tx, existing, expires, cseq.SeqNo)
		return
	}
	contact := req.Contact()
	if contact == nil || contact.Address.Wildcard {
		s.reply(req, tx, 400, "Bad Request")
		return
	}
	sub := &subscription{
		st: s.subs, key: key, peer: p.name, user: p.subscriptionUser(cfg), granted: expires, kind: kind, exten: req.Recipient.User,
		callID: cid.Value(), remoteTag: fromTag, localTag: sip.GenerateTagN(16),
		remoteURI: *from.Address.Clone(), localURI: *to.Address.Clone(), target: *contact.Address.Clone(),
		addr: src, transport: transportOf(req), subCSeq: cseq.SeqNo, lastState: notNotified,
		expires: time.Now().Add(time.Duration(expires) * time.Second),
	}
	sub.overUDP = strings.EqualFold(sub.transport, "udp")
	sub.localHost, sub.localPort = s.localHostFor(src, sub.transport)
	initial := state.ExtNotInUse
	switch kind {
	case kindDialog, kindPresence:
		sub.context = cfg.subscribeContext
		if sub.context == "" {
			sub.context = set.subscribeContext
		}
		if sub.context == "" {
			sub.context = cfg.context
		}
		if s.hints == nil || sub.exten == "" {
			s.reply(req, tx, 404, "Not Found")
			return
		}
		h, ok := s.hints.Lookup(sub.exten, sub.context)
		if !ok {
			s.reply(req, tx, 404, "Not Found")
			return
		}
		initial = h.State
	case kindMWI:
		if len(cfg.mailboxes) == 0 {
			s.reply(req, tx, 404, "Not Found")
			return
		}
		sub.mailboxes = cfg.mailboxes
	}
	if expires == 0 { // a fetch: one NOTIFY with the state, then terminated
		s.replySubscribe(req, tx, sub, 0)
		sub.notify(initial, true, "timeout", true)
		return
	}
	if !s.subs.add(sub, set) {
		s.log.Warn("SIP: subscription refused: limit reached", "peer", p.name, "count", s.subs.len())
		s.reply(req, tx, 503, "Service Unavailable", sip.NewHeader("Retry-After", "60"))
		return
	}
	sub.mu.Lock()
	sub.armLocked()
	sub.mu.Unlock()
	s.replySubscribe(req, tx, sub, expires)
	if kind != kindMWI {
		// the current state, as the hint engine has it now (the Watch may race: notify dedups)
		if h, ok := s.hints.Lookup(sub.exten, sub.context); ok {
			initial = h.State
		}
	}
	sub.notify(initial, false, "", true)
}

func (s *Server) replySubscribe(req *sip.Request, tx sip.ServerTransaction, sub *subscription, expires int) {
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	if to := res.To(); to != nil {
		to.Params.Add("tag", sub.localTag)
	}
	res.AppendHeader(s.contactHeader(sub.exten, sub.localHost, sub.localPort, sub.transport))
	res.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(expires)))
	s.send(req, tx, res)
}

// refreshSubscription handles a SUBSCRIBE in an existing dialog (refresh or unsubscribe), and
// the retransmission of an initial SUBSCRIBE.
func (s *Server) refreshSubscription(req *sip.Request, tx sip.ServerTransaction, sub *subscription, expires int, cseq uint32) {
	sub.mu.Lock()
	retrans := cseq == sub.subCSeq
	if cseq < sub.subCSeq {
		sub.mu.Unlock()
		s.reply(req, tx, 500, "Server Internal Error", sip.NewHeader("Retry-After", "1"))
		return
	}
	sub.subCSeq = cseq
	if !retrans && expires > 0 {
		sub.expires = time.Now().Add(time.Duration(expires) * time.Second)
		sub.granted = expires
		sub.armLocked()
	}
	left := int(time.Until(sub.expires).Seconds() + 0.5)
	sub.mu.Unlock()
	if retrans {
		s.replySubscribe(req, tx, sub, max(left, 0))
		return
	}
	if expires == 0 {
		s.subs.remove(sub)
		s.replySubscribe(req, tx, sub, 0)
		sub.notify(sub.currentState(), true, "timeout", true)
		return
	}
	s.replySubscribe(req, tx, sub, expires)
	state := sub.currentState()
	if sub.kind != kindMWI && s.hints != nil {
		if h, ok := s.hints.Lookup(sub.exten, sub.context); ok {
			state = h.State
		}
	}
	sub.notify(state, false, "", true)
}
