package sip

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/pleiades-pbx/pleiades/internal/logger"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

// security logs a security event (failed authentication, ACL refusal, replay) on the security
// channel. The source address comes first and the peer name, from the request, is escaped
// (logValue): see the package documentation, "Log lines".
func (s *Server) security(event, peer string, src netip.AddrPort, reason string) {
	s.stats.authFailures.Add(1)
	s.log.Log(context.Background(), logger.LevelSecurity, fmt.Sprintf("SIP %s from=%s peer=%s reason=%q", event, src, logValue(peer), reason))
}

// Why an authentication failed, in chan_sip's words (the NOTICE line that fail2ban reads)
// and as the security event says it.
type authFailure struct {
	notice   string // chan_sip's reason: "Registration from '...' failed for '...' - <notice>"
	security string
}

var (
	failWrongPassword = authFailure{"Wrong password", "wrong password"}
	failNoPeer        = authFailure{"No matching peer found", "no such peer"}
	failUserMismatch  = authFailure{"Username/auth name mismatch", "username mismatch"}
	failACL           = authFailure{"Device does not match ACL", "permit/deny"}
	failNotDynamic    = authFailure{"Peer is not supposed to register", "not host=dynamic"}
	// an INVITE claiming to come from a cluster member without a valid credential (crosscall.go)
	failClusterCredential = authFailure{"Bad cluster credential", "bad cluster credential"}
)

// pjsipReason is what res_pjsip says for a failure of another request than REGISTER (its
// "Request 'SUBSCRIBE' from ... failed for ..." line, which fail2ban's asterisk filter reads;
// chan_sip's line for those names no address).
func (f authFailure) pjsipReason() string {
	switch f {
	case failNoPeer, failNotDynamic:
		return "No matching endpoint found"
	case failACL:
		return "Not match Endpoint ACL"
	}
	return "Failed to authenticate"
}

// authFailed logs a failed authentication at NOTICE in Asterisk's words (REGISTER: chan_sip's
// "Registration from '<To>' failed for '<addr>' - <reason>"; other methods: res_pjsip's
// "Request '<method>' from '<From>' failed for '<addr>' (callid: <Call-ID>) - <reason>"), and as
// a security event; counted makes it count towards maxauthfailures for the address.
func (s *Server) authFailed(req *sip.Request, name string, src netip.AddrPort, f authFailure, counted bool) {
	switch req.Method {
	case sip.INVITE:
		// chan_sip's handle_request_invite: "Failed to authenticate device <From>"
		from := ""
		if h := req.From(); h != nil {
			from = h.Value()
		}
		s.log.Info(fmt.Sprintf("Failed to authenticate device %s for '%s'", logText(from), src))
	case sip.REGISTER:
		to := ""
		if h := req.To(); h != nil {
			to = h.Value()
		}
		s.log.Info(fmt.Sprintf("Registration from '%s' failed for '%s' - %s", logText(to), src, f.notice))
	default:
		from, callID := "", ""
		if h := req.From(); h != nil {
			from = h.Value()
		}
		if h := req.CallID(); h != nil {
			callID = h.Value()
		}
		s.log.Info(fmt.Sprintf("Request '%s' from '%s' failed for '%s' (callid: %s) - %s", req.Method, logText(from), src, logText(callID), f.pjsipReason()))
	}
	s.security("authentication failed", name, src, f.security)
	if !counted {
		return
	}
	set := s.set.Load()
	if s.guard.failed(src.Addr(), time.Now(), set) {
		msg := fmt.Sprintf("SIP: %d failed authentications from %s within %v; requests from this address refused for %v",
			set.maxAuthFailures, src.Addr(), set.authFailWindow, set.authBlockTime)
		s.log.Info(msg)
		s.log.Log(context.Background(), logger.LevelSecurity, msg)
	}
}

// authResult is what authenticate decided.
type authResult int

const (
	authOK      authResult = iota
	authReplied            // a response was sent; stop
)

// authenticate checks the digest credentials of req for peer p. p nil means the request must
// fail exactly as a wrong password does (no such peer with alwaysauthreject, or a peer refused
// by its ACL): a challenge first, then 403 Forbidden, and why is only logged (as absent).
// Every failure gets the same 403 Forbidden, so a client learns nothing about which part was
// wrong; a nonce given with a wrong response dies (the next response with it is not checked:
// a fresh challenge), and the failure counts for the source address (maxauthfailures).
func (s *Server) authenticate(req *sip.Request, tx sip.ServerTransaction, p *peer, name string, src netip.AddrPort, absent authFailure) authResult {
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
	cred, err := parseCredentials(h.Value())
	if err != nil {
		s.authFailed(req, name, src, failWrongPassword, true)
		s.reply(req, tx, 403, "Forbidden")
		return authReplied
	}
	now := time.Now()
	nonceID, ours, stale := s.nonces.check(cred.Nonce, now, set.nonceLifetime)
	if !ours || s.nonces.isDead(nonceID) {
		// not our nonce (another server, a restart, a forgery), or one that a wrong response
		// killed: a fresh challenge, the response unchecked
		s.challenge(req, tx, set, false)
		return authReplied
	}
	fail := func(f authFailure) authResult {
		s.nonces.kill(nonceID)
		s.authFailed(req, name, src, f, true)
		s.reply(req, tx, 403, "Forbidden")
		return authReplied
	}
	if cfg == nil {
		// as much work as a real check, so that time does not tell names apart
		_ = digestResponseOK(cred, string(req.Method), md5hex(cred.Username, set.realm, cred.Nonce))
		return fail(absent)
	}
	if cred.Username != name && (cfg.defaultUser == "" || cred.Username != cfg.defaultUser) {
		return fail(failUserMismatch)
	}
	if cred.Realm != set.realm {
		return fail(failWrongPassword)
	}
	if a := strings.ToUpper(cred.Algorithm); a != "" && a != "MD5" {
		return fail(failWrongPassword)
	}
	if !digestResponseOK(cred, string(req.Method), ha1(cfg, cred.Username, set.realm)) {
		return fail(failWrongPassword)
	}
	if stale {
		s.challenge(req, tx, set, true)
		return authReplied
	}
	if !s.nonces.use(nonceID, uint32(cred.Nc), cred.QOP != "", requestFingerprint(req)) {
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
	if s.guard.blocked(src.Addr(), time.Now()) {
		s.stats.blocked.Add(1)
		s.reply(req, tx, 403, "Forbidden")
		return nil
	}
	p, err := s.findPeer(context.Background(), name) // a realtime query is bounded there (3 s)
	if err != nil {
		s.log.Warn("SIP: peer lookup failed", "peer", logValue(name), "err", err)
		s.reply(req, tx, 503, "Service Unavailable", sip.NewHeader("Retry-After", "5"))
		return nil
	}
	why := failNoPeer
	if p != nil {
		cfg := p.cfg.Load()
		switch {
		case register && (cfg.typ == typeUser || !cfg.dynamic):
			p, why = nil, failNotDynamic // cannot register: treated like an unknown peer
		case !cfg.acl.allowed(src.Addr()):
			p, why = nil, failACL
		}
	}
	if p == nil {
		if set.alwaysAuthReject {
			// a name that is refused answers exactly as one that does not exist
			s.authenticate(req, tx, nil, name, src, why) // always replies (401, then 403)
			return nil
		}
		s.authFailed(req, name, src, why, false)
		if why == failNoPeer {
			s.reply(req, tx, 404, "Not Found")
		} else {
			s.reply(req, tx, 403, "Forbidden")
		}
		return nil
	}
	if s.authenticate(req, tx, p, name, src, failNoPeer) != authOK {
		return nil
	}
	s.authenticated(req)
	nat := behindNAT(req, src)
	p.mu.Lock()
	p.natDetected = nat
	p.mu.Unlock()
	return p
}

// behindNAT is chan_sip's check_for_nat: the request came from another IP address than its top
// Via's sent-by says. A sent-by that is a name counts as another address (no DNS here; chan_sip
// resolves it).
func behindNAT(req *sip.Request, src netip.AddrPort) bool {
	via := req.Via()
	if via == nil {
		return false
	}
	a, err := netip.ParseAddr(strings.Trim(via.Host, "[]"))
	return err != nil || a.Unmap() != src.Addr()
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
	contact := c.Address.String()
	p.mu.Lock()
	wasReg := p.addr.IsValid()
	sameBinding := wasReg && p.addr == src && p.contact == contact
	p.mu.Unlock()
	transport := transportOf(req)
	if cfg.realtime && !s.adopt(p) {
		s.log.Warn("SIP: registration refused: maxregistrations reached", "peer", name)
		s.reply(req, tx, 503, "Service Unavailable", sip.NewHeader("Retry-After", "60"))
		return
	}
	p.register(src, transport, *c.Address.Clone(), contact, exp, ua, c.Address.User)
	if !cfg.realtime && s.reg.enabled() {
		s.reg.put(name, savedReg{addr: src, expiry: expires, username: orDefault(cfg.defaultUser, c.Address.User), contact: contact}, exp)
	}
	if cfg.realtime && set.rtUpdate && p.rtWriteDue(src, contact, ua, c.Address.User, exp.Unix(), expires) {
		fs := []realtime.Field{
			{Name: "ipaddr", Value: src.Addr().String()},
			{Name: "port", Value: strconv.Itoa(int(src.Port()))},
			{Name: "regseconds", Value: strconv.FormatInt(exp.Unix(), 10)},
			{Name: "defaultuser", Value: c.Address.User},
			{Name: "fullcontact", Value: contact},
			{Name: "useragent", Value: truncate(ua, 20)},
		}
		if set.rtSaveSysname && s.sysname != "" {
			fs = append(fs, realtime.Field{Name: "regserver", Value: truncate(s.sysname, 20)})
		}
		s.wb.enqueue(name, fs)
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
		s.spawn(func() { s.sendMWI(p) })
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

// rtWriteDue reports whether this registration must be written back to realtime, and
// records it as written: always when the binding changed; for a re-registration of the same
// binding only once regseconds has moved by more than half the expiry. The row then never
// shows a live registration as expired (a phone re-registers before its expiry; the row's
// regseconds is at most half an expiry behind), while a REGISTER storm of phones that only
// refresh costs the database one write per peer per half expiry instead of one per
// REGISTER (Asterisk writes every one).
func (p *peer) rtWriteDue(src netip.AddrPort, contact, ua, user string, regseconds int64, expires int) bool {
	what := src.String() + "\x00" + contact + "\x00" + ua + "\x00" + user
	p.mu.Lock()
	defer p.mu.Unlock()
	if what == p.rtWritten && regseconds >= p.rtWrittenAt && regseconds-p.rtWrittenAt <= int64(expires/2) {
		return false
	}
	p.rtWritten, p.rtWrittenAt = what, regseconds
	return true
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
