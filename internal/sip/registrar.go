package sip

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/pleiades-pbx/pleiades/internal/logger"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

// security logs a security event (failed authentication, ACL refusal, replay).
func (s *Server) security(event, peer string, src netip.AddrPort, reason string) {
	s.stats.authFailures.Add(1)
	s.log.Log(context.Background(), logger.LevelSecurity, "SIP "+event, "peer", peer, "from", src.String(), "reason", reason)
}

// authResult is what authenticate decided.
type authResult int

const (
	authOK      authResult = iota
	authReplied            // a response was sent; stop
)

// authenticate checks the digest credentials of req for peer p (nil: no such peer, which is
// treated exactly like a wrong password when alwaysauthreject is on). Every failure gets the
// same 403 Forbidden, so a client learns nothing about which part was wrong.
func (s *Server) authenticate(req *sip.Request, tx sip.ServerTransaction, p *peer, name string, src netip.AddrPort) authResult {
	set := s.set.Load()
	var cfg *peerConfig
	if p != nil {
		cfg = p.cfg.Load()
		if !cfg.hasAuth() {
			return authOK // no secret: chan_sip accepts without a challenge
		}
	}
	h := req.GetHeader("Authorization")
	if h == nil {
		s.challenge(req, tx, set, false)
		return authReplied
	}
	cred, err := digest.ParseCredentials(h.Value())
	if err != nil {
		s.security("authentication failed", name, src, "malformed Authorization header")
		s.reply(req, tx, 403, "Forbidden")
		return authReplied
	}
	now := time.Now()
	nonceID, ours, stale := s.nonces.check(cred.Nonce, now, set.nonceLifetime)
	if !ours {
		// not our nonce (another server, a restart, a forgery): a fresh challenge
		s.challenge(req, tx, set, false)
		return authReplied
	}
	fail := func(reason string) authResult {
		s.security("authentication failed", name, src, reason)
		s.reply(req, tx, 403, "Forbidden")
		return authReplied
	}
	if cfg == nil {
		return fail("no such peer")
	}
	if cred.Username != name && (cfg.defaultUser == "" || cred.Username != cfg.defaultUser) {
		return fail("username mismatch")
	}
	if cred.Realm != set.realm {
		return fail("wrong realm")
	}
	if a := strings.ToUpper(cred.Algorithm); a != "" && a != "MD5" {
		return fail("unsupported algorithm " + cred.Algorithm)
	}
	if !digestResponseOK(cred, string(req.Method), ha1(cfg, cred.Username, set.realm)) {
		return fail("wrong password")
	}
	if stale {
		s.challenge(req, tx, set, true)
		return authReplied
	}
	callID := ""
	if c := req.CallID(); c != nil {
		callID = c.Value()
	}
	var cseq uint32
	if c := req.CSeq(); c != nil {
		cseq = c.SeqNo
	}
	if !s.nonces.use(nonceID, uint32(cred.Nc), cred.QOP != "", callID, cseq) {
		s.security("authentication replay", name, src, "nonce-count "+strconv.Itoa(cred.Nc)+" already used")
		s.challenge(req, tx, set, true)
		return authReplied
	}
	return authOK
}

func (s *Server) challenge(req *sip.Request, tx sip.ServerTransaction, set *settings, stale bool) {
	s.reply(req, tx, 401, "Unauthorized",
		sip.NewHeader("WWW-Authenticate", challenge(set.realm, s.nonces.issue(time.Now()), stale)))
}

// peerForRequest finds the peer and applies the checks common to REGISTER and SUBSCRIBE. It
// returns nil after replying.
func (s *Server) peerForRequest(req *sip.Request, tx sip.ServerTransaction, name string, src netip.AddrPort, register bool) *peer {
	set := s.set.Load()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	p, err := s.findPeer(ctx, name)
	cancel()
	if err != nil {
		s.log.Warn("SIP: peer lookup failed", "peer", name, "err", err)
		s.reply(req, tx, 503, "Service Unavailable", sip.NewHeader("Retry-After", "5"))
		return nil
	}
	if p != nil {
		cfg := p.cfg.Load()
		if register && (cfg.typ == typeUser || !cfg.dynamic) {
			p = nil // cannot register: treated like an unknown peer
		}
	}
	if p == nil {
		if !set.alwaysAuthReject {
			s.security("request from unknown peer", name, src, "no such peer")
			s.reply(req, tx, 404, "Not Found")
			return nil
		}
		s.authenticate(req, tx, nil, name, src) // always replies (401, then 403)
		return nil
	}
	if !p.cfg.Load().acl.allowed(src.Addr()) {
		s.security("request refused by ACL", name, src, "permit/deny")
		s.reply(req, tx, 403, "Forbidden")
		return nil
	}
	if s.authenticate(req, tx, p, name, src) != authOK {
		return nil
	}
	return p
}

// handleRegister is the registrar (RFC 3261 section 10; one binding per peer, as chan_sip).
func (s *Server) handleRegister(req *sip.Request, tx sip.ServerTransaction) {
	s.stats.registers.Add(1)
	set := s.set.Load()
	to := req.To()
	src, ok := sourceAddr(req)
	if to == nil || !ok {
		s.reply(req, tx, 400, "Bad Request")
		return
	}
	name := to.Address.User
	if name == "" {
		s.reply(req, tx, 404, "Not Found")
		return
	}
	// Validate the Contact and Expires before authenticating (cheap), answer after.
	var contacts []*sip.ContactHeader
	wildcard := false
	for _, h := range req.GetHeaders("Contact") {
		c, ok := h.(*sip.ContactHeader)
		if !ok {
			s.reply(req, tx, 400, "Bad Request")
			return
		}
		if c.Address.Wildcard {
			wildcard = true
		}
		contacts = append(contacts, c)
	}
	hdrExpires := -1
	if h := req.GetHeader("Expires"); h != nil {
		n, err := strconv.Atoi(strings.TrimSpace(h.Value()))
		if err != nil || n < 0 {
			s.reply(req, tx, 400, "Bad Request")
			return
		}
		hdrExpires = n
	}
	if wildcard && (len(contacts) != 1 || hdrExpires != 0) {
		s.reply(req, tx, 400, "Bad Request")
		return
	}
	p := s.peerForRequest(req, tx, name, src, true)
	if p == nil {
		return
	}
	if len(contacts) == 0 { // a query: the current binding
		s.replyBinding(req, tx, p)
		return
	}
	if wildcard {
		p.unregister("unregistered", true)
		s.reply(req, tx, 200, "OK", sip.NewHeader("Date", time.Now().UTC().Format(time.RFC1123)))
		return
	}
	c := contacts[0]
	expires := set.defaultExpiry
	if hdrExpires >= 0 {
		expires = hdrExpires
	}
	if v, ok := c.Params.Get("expires"); ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 {
			s.reply(req, tx, 400, "Bad Request")
			return
		}
		expires = n
	}
	if expires == 0 {
		p.unregister("unregistered", true)
		s.reply(req, tx, 200, "OK", sip.NewHeader("Date", time.Now().UTC().Format(time.RFC1123)))
		return
	}
	if expires < set.minExpiry {
		s.reply(req, tx, 423, "Interval Too Brief", sip.NewHeader("Min-Expires", strconv.Itoa(set.minExpiry)))
		return
	}
	if expires > set.maxExpiry {
		expires = set.maxExpiry
	}
	ua := ""
	if h := req.GetHeader("User-Agent"); h != nil {
		ua = h.Value()
	}
	cfg := p.cfg.Load()
	now := time.Now()
	exp := now.Add(time.Duration(expires) * time.Second)
	p.mu.Lock()
	wasReg := p.addr.IsValid()
	sameBinding := wasReg && p.addr == src && p.contact == c.Address.String()
	p.mu.Unlock()
	transport := transportOf(req)
	if cfg.realtime && !s.adopt(p) {
		s.log.Warn("SIP: registration refused: maxregistrations reached", "peer", name)
		s.reply(req, tx, 503, "Service Unavailable", sip.NewHeader("Retry-After", "60"))
		return
	}
	p.register(src, transport, *c.Address.Clone(), exp, ua, c.Address.User)
	if cfg.realtime {
		if set.rtUpdate {
			fs := []realtime.Field{
				{Name: "ipaddr", Value: src.Addr().String()},
				{Name: "port", Value: strconv.Itoa(int(src.Port()))},
				{Name: "regseconds", Value: strconv.FormatInt(exp.Unix(), 10)},
				{Name: "defaultuser", Value: c.Address.User},
				{Name: "fullcontact", Value: c.Address.String()},
				{Name: "useragent", Value: truncate(ua, 20)},
			}
			if set.rtSaveSysname && s.sysname != "" {
				fs = append(fs, realtime.Field{Name: "regserver", Value: truncate(s.sysname, 20)})
			}
			s.wb.enqueue(name, fs)
		}
	}
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	cc := &sip.ContactHeader{Address: *c.Address.Clone(), Params: sip.NewParams()}
	cc.Params.Add("expires", strconv.Itoa(expires))
	res.AppendHeader(cc)
	res.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(expires)))
	res.AppendHeader(sip.NewHeader("Date", now.UTC().Format(time.RFC1123)))
	s.send(req, tx, res)
	if !sameBinding {
		s.log.Log(context.Background(), logger.Verbose(3), fmt.Sprintf("Registered SIP '%s' at %s", name, src))
		p.restartTimers() // qualify at once, as chan_sip pokes on registration
	}
	p.reportDevice()
	if !wasReg && len(cfg.mailboxes) > 0 {
		go s.sendMWI(p)
	}
}

func (s *Server) replyBinding(req *sip.Request, tx sip.ServerTransaction, p *peer) {
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	p.mu.Lock()
	if p.addr.IsValid() && !p.expires.IsZero() {
		left := int(time.Until(p.expires).Seconds())
		if left < 0 {
			left = 0
		}
		cc := &sip.ContactHeader{Address: *p.contactURI.Clone(), Params: sip.NewParams()}
		cc.Params.Add("expires", strconv.Itoa(left))
		res.AppendHeader(cc)
	}
	p.mu.Unlock()
	res.AppendHeader(sip.NewHeader("Date", time.Now().UTC().Format(time.RFC1123)))
	s.send(req, tx, res)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
