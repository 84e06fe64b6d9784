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

// Session timers (RFC 4028) as chan_sip runs them: sip.conf session-timers, session-expires,
// session-minse and session-refresher, in [general] and per peer.

// stMode is session-timers=.
type stMode int

const (
	stAccept    stMode = iota // run them when the far end asks (chan_sip's default)
	stOriginate               // ask for them on every call, and run them
	stRefuse                  // never; an INVITE that requires them gets 420
)

// stFloor is the smallest session-minse (and session-expires) accepted: RFC 4028's 90 s. A
// variable so that tests can run timers in seconds.
var stFloor = 90

// chan_sip's defaults.
const (
	defaultSessionExpires = 1800
	defaultSessionMinSE   = 90
)

// stConfig is the session-timer configuration of a peer (or of [general]).
type stConfig struct {
	mode       stMode
	expires    int  // session-expires: the interval we ask for and the largest we grant
	minSE      int  // session-minse: the smallest interval we accept (422 below it)
	refreshUAC bool // session-refresher=uac (default uas)
}

func defaultST() stConfig {
	return stConfig{mode: stAccept, expires: defaultSessionExpires, minSE: defaultSessionMinSE}
}

// parseSTOption applies one session-* option; handled is false for other names, msg is the
// error of a bad value.
func parseSTOption(st *stConfig, name, val string) (handled bool, msg string) {
	switch name {
	case "session-timers":
		switch strings.ToLower(val) {
		case "accept":
			st.mode = stAccept
		case "originate":
			st.mode = stOriginate
		case "refuse":
			st.mode = stRefuse
		default:
			return true, fmt.Sprintf("session-timers: %q is not accept, originate or refuse", val)
		}
	case "session-expires", "session-minse":
		n, err := strconv.Atoi(val)
		if err != nil || n < stFloor {
			return true, fmt.Sprintf("%s: %q is not a number of seconds >= %d", name, val, stFloor)
		}
		if name == "session-expires" {
			st.expires = n
		} else {
			st.minSE = n
		}
	case "session-refresher":
		switch strings.ToLower(val) {
		case "uas":
			st.refreshUAC = false
		case "uac":
			st.refreshUAC = true
		default:
			return true, fmt.Sprintf("session-refresher: %q is not uas or uac", val)
		}
	default:
		return false, ""
	}
	return true, ""
}

// stCheck is the consistency check of a finished configuration ("" when fine).
func (st stConfig) check() string {
	if st.expires < st.minSE {
		return fmt.Sprintf("session-expires (%d) is smaller than session-minse (%d)", st.expires, st.minSE)
	}
	return ""
}

// sessionTimer is one call's negotiated session timer (chan_sip's sip_st_dlg).
type sessionTimer struct {
	active   bool
	interval int  // seconds
	us       bool // we send the refreshes; otherwise we expect them
	peerUA   bool // the far end supports timer: our 2xx carries Require: timer
	minSE    int  // the dialog's Min-SE (ours, or the far end's when larger)
	timer    *time.Timer
	gen      uint64 // bumps at every (re)start: a timer of an older generation does nothing
	update   bool   // the far end allows UPDATE: refreshes go as UPDATE, else re-INVITE
	// retried422: our INVITE was sent again after a 422 (once)
	retried422 bool
}

// stCfg is the call's session-timer configuration: its peer's, else [general]'s.
func (c *call) stCfg() stConfig {
	if c.p != nil {
		return c.p.cfg.Load().st
	}
	return c.s.set.Load().st
}

// headered is a request or a response.
type headered interface {
	GetHeader(name string) sip.Header
	GetHeaders(name string) []sip.Header
}

// optionTag reports whether a Supported/Require-like header list of req names tag
// (compact forms included).
func optionTag(m headered, tag string, names ...string) bool {
	for _, n := range names {
		for _, h := range m.GetHeaders(n) {
			for _, t := range strings.Split(h.Value(), ",") {
				if strings.EqualFold(strings.TrimSpace(t), tag) {
					return true
				}
			}
		}
	}
	return false
}

func supports(m headered, tag string) bool {
	return optionTag(m, tag, "Supported", "k", "Require")
}

func requires(m headered, tag string) bool { return optionTag(m, tag, "Require") }

func allowsMethod(m headered, method string) bool { return optionTag(m, method, "Allow") }

// sessionExpires reads Session-Expires (or its compact form x): the interval and the
// refresher parameter ("uac", "uas" or ""); ok is false without a usable header.
func sessionExpires(m headered) (n int, refresher string, ok bool) {
	h := m.GetHeader("Session-Expires")
	if h == nil {
		h = m.GetHeader("x")
	}
	if h == nil {
		return 0, "", false
	}
	parts := strings.Split(h.Value(), ";")
	n, err := strconv.Atoi(strings.TrimSpace(parts[0]))
	if err != nil || n <= 0 {
		return 0, "", false
	}
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(strings.TrimSpace(k), "refresher") {
			refresher = strings.ToLower(strings.TrimSpace(v))
		}
	}
	return n, refresher, true
}

// minSE reads Min-SE (0 without one).
func minSE(m headered) int {
	h := m.GetHeader("Min-SE")
	if h == nil {
		return 0
	}
	v, _, _ := strings.Cut(h.Value(), ";")
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// stOffer is what a request from the far end (INVITE, re-INVITE, UPDATE) asks of the session
// timer, negotiated as chan_sip's handle_request_invite does. A refusal is a response code
// (420: timers refused but required; 422: the interval is below our Min-SE) with its header.
// c.mu held (or the call not yet shared).
func (c *call) stOfferLocked(req *sip.Request) (code int, reason string, hdr sip.Header) {
	cfg := c.stCfg()
	se, ref, hasSE := sessionExpires(req)
	peerUA := supports(req, "timer")
	st := &c.st
	if !hasSE {
		if st.active {
			return 0, "", nil // a refresh without the header keeps the session's timer
		}
		if cfg.mode == stOriginate && req.IsInvite() {
			// we run them although the far end did not ask: we refresh
			*st = sessionTimer{active: true, interval: cfg.expires, us: true, peerUA: peerUA, minSE: cfg.minSE, timer: st.timer, gen: st.gen}
		}
		return 0, "", nil
	}
	if cfg.mode == stRefuse {
		if requires(req, "timer") {
			return 420, "Bad Extension", sip.NewHeader("Unsupported", "timer")
		}
		return 0, "", nil
	}
	floor := max(cfg.minSE, minSE(req))
	if se < cfg.minSE {
		return 422, "Session Interval Too Small", sip.NewHeader("Min-SE", strconv.Itoa(floor))
	}
	interval := se
	if cfg.expires >= minSE(req) {
		interval = min(se, cfg.expires)
	}
	us := !cfg.refreshUAC // session-refresher names the side; we are the UAS of this request
	switch ref {
	case "uac":
		us = false
	case "uas":
		us = true
	}
	if !peerUA {
		us = true // a far end without timer support cannot be the refresher (RFC 4028 9)
	}
	*st = sessionTimer{active: true, interval: interval, us: us, peerUA: peerUA, minSE: floor, timer: st.timer, gen: st.gen, update: st.update}
	return 0, "", nil
}

// stHeadersLocked adds the session timer to our 2xx to an INVITE or UPDATE of the far end.
func (c *call) stHeadersLocked(res *sip.Response) {
	st := &c.st
	if !st.active {
		return
	}
	ref := "uac"
	if st.us {
		ref = "uas"
	}
	res.AppendHeader(sip.NewHeader("Session-Expires", strconv.Itoa(st.interval)+";refresher="+ref))
	if st.peerUA {
		res.AppendHeader(sip.NewHeader("Require", "timer"))
	}
}

// stRequestHeadersLocked adds the session timer to a request of ours: the INVITE of an
// outgoing call (session-timers=originate: Session-Expires and Min-SE; accept: only
// Supported) and our refreshes.
func (c *call) stRequestHeadersLocked(req *sip.Request, refresh bool) {
	cfg := c.stCfg()
	if cfg.mode == stRefuse {
		req.AppendHeader(sip.NewHeader("Supported", "replaces"))
		return
	}
	req.AppendHeader(sip.NewHeader("Supported", "replaces, timer"))
	switch {
	case refresh:
		// a refresh (ours, or any re-INVITE of ours in a session with a timer): we are the
		// UAC of this request, the refresher stays who it is
		ref := "uas"
		if c.st.us {
			ref = "uac"
		}
		req.AppendHeader(sip.NewHeader("Session-Expires", strconv.Itoa(c.st.interval)+";refresher="+ref))
		req.AppendHeader(sip.NewHeader("Min-SE", strconv.Itoa(max(c.st.minSE, cfg.minSE))))
	case cfg.mode == stOriginate:
		// as chan_sip's transmit_invite: the interval without a refresher parameter (the
		// callee chooses, RFC 4028 7.4)
		req.AppendHeader(sip.NewHeader("Session-Expires", strconv.Itoa(cfg.expires)))
		req.AppendHeader(sip.NewHeader("Min-SE", strconv.Itoa(cfg.minSE)))
	}
}

// stAnswerLocked takes the session timer of a 2xx to our INVITE (an outgoing call, or one of
// our refreshes): the interval and refresher the far end chose. Without Session-Expires in
// the 2xx, a timer we asked for is run by us (RFC 4028 7.2); otherwise none.
func (c *call) stAnswerLocked(res *sip.Response, asked bool) {
	se, ref, ok := sessionExpires(res)
	st := &c.st
	st.update = st.update || allowsMethod(res, "UPDATE")
	cfg := c.stCfg()
	switch {
	case ok && cfg.mode != stRefuse:
		st.active, st.interval, st.us = true, se, ref != "uas"
		st.peerUA = true
		st.minSE = max(st.minSE, cfg.minSE)
	case asked && !st.active:
		st.active, st.interval, st.us, st.minSE = true, cfg.expires, true, cfg.minSE
	}
}

// stStart (re)arms the call's session timer: we refresh at half the interval; the far end
// must refresh before the interval less min(32 s, a third) has passed, else the call ends
// with BYE (RFC 4028 10, chan_sip's proc_session_timer).
func (c *call) stStart() {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := &c.st
	if !st.active || c.released {
		return
	}
	st.gen++
	gen := st.gen
	d := time.Duration(st.interval) * time.Second
	if st.us {
		d /= 2
	} else {
		d -= min(32*time.Second, d/3)
	}
	if st.timer != nil {
		st.timer.Stop()
	}
	st.timer = c.s.afterFunc(d, func() { c.stFire(gen) })
}

// stStopLocked stops the call's session timer (release).
func (c *call) stStopLocked() {
	c.st.gen++
	if c.st.timer != nil {
		c.st.timer.Stop()
	}
}

// stFire runs when a session timer of generation gen expires: we refresh, or the session has
// expired.
func (c *call) stFire(gen uint64) {
	c.mu.Lock()
	if c.st.gen != gen || c.released || !c.confirmed {
		c.mu.Unlock()
		return
	}
	us := c.st.us
	c.mu.Unlock()
	if us {
		c.stRefresh()
		return
	}
	c.s.log.Warn(fmt.Sprintf("Session timer expired: %s (no refresh from %s); hanging up", c.callID, c.addr))
	if c.ch != nil {
		c.ch.RequestHangup(channel.CauseNormalClearing)
	}
}

// stRefresh sends our refresh: UPDATE without a body when the far end allows UPDATE, else a
// re-INVITE with our current SDP (chan_sip always re-INVITEs). A 2xx restarts the timer; 481
// or 408 (or no answer) ends the call as chan_sip does; other refusals leave it to the next
// attempt at half the interval.
func (c *call) stRefresh() {
	ctx, cancel := context.WithTimeout(c.s.ctx, 64*sip.T1)
	defer cancel()
	release, err := c.ourRequest(ctx)
	if err != nil {
		return
	}
	defer release()
	c.mu.Lock()
	if c.released || !c.confirmed {
		c.mu.Unlock()
		return
	}
	var req *sip.Request
	if c.st.update {
		req = c.requestLocked(sip.UPDATE, 0)
		req.AppendHeader(c.contact())
		req.AppendHeader(sip.NewHeader("Allow", allowMethods))
		c.stRequestHeadersLocked(req, true)
		c.note("Tx", "UPDATE")
	} else {
		req = c.reinviteLocked(c.sessionSDPLocked(false))
	}
	c.mu.Unlock()
	res, err := c.inDialogRequest(ctx, req)
	select {
	case <-c.stop:
		return
	default:
	}
	if res != nil && res.IsSuccess() {
		return // inDialogRequest restarted the timer
	}
	if res == nil || res.StatusCode == 481 || res.StatusCode == 408 {
		c.s.log.Log(context.Background(), logger.DebugLevel(1), "SIP: session refresh failed; hanging up", "call-id", c.callID, "err", err)
		if c.ch != nil {
			c.ch.RequestHangup(channel.CauseNormalClearing)
		}
		return
	}
	c.mu.Lock()
	if res.StatusCode == 422 {
		if m := minSE(res); m > c.st.interval {
			c.st.interval, c.st.minSE = m, m
		}
	}
	c.mu.Unlock()
	c.stStart()
}
