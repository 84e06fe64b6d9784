package sip

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/pleiades-pbx/pleiades/internal/channel"
)

// TestSessionTimerNegotiation is chan_sip's handling of an INVITE's Session-Expires/Min-SE
// for each session-timers mode: 422 below our Min-SE, 420 when refused but required, the
// interval granted (the smaller of the two unless ours is below the far end's Min-SE), the
// refresher (the request's refresher parameter, else session-refresher; us when the far end
// does not support timer) and Require: timer only for a far end that supports it.
func TestSessionTimerNegotiation(t *testing.T) {
	accept := stConfig{mode: stAccept, expires: 1800, minSE: 90}
	for _, tc := range []struct {
		name    string
		cfg     stConfig
		hdrs    []string // "Name: value"
		code    int
		hdr     string // the refusal's header
		active  bool
		iv      int
		us      bool
		require bool
	}{
		{name: "no timer asked", cfg: accept},
		{name: "uac refreshes", cfg: accept, hdrs: []string{"Supported: timer", "Session-Expires: 600;refresher=uac"}, active: true, iv: 600, require: true},
		{name: "uas asked", cfg: accept, hdrs: []string{"Supported: timer", "Session-Expires: 600;refresher=uas"}, active: true, iv: 600, us: true, require: true},
		{name: "no refresher: session-refresher=uas", cfg: accept, hdrs: []string{"Supported: timer", "Session-Expires: 600"}, active: true, iv: 600, us: true, require: true},
		{name: "no refresher: session-refresher=uac", cfg: stConfig{mode: stAccept, expires: 1800, minSE: 90, refreshUAC: true}, hdrs: []string{"Supported: timer", "Session-Expires: 600"}, active: true, iv: 600, require: true},
		{name: "capped at session-expires", cfg: accept, hdrs: []string{"Supported: timer", "Session-Expires: 7200;refresher=uac"}, active: true, iv: 1800, require: true},
		{name: "their Min-SE above our session-expires", cfg: accept, hdrs: []string{"Supported: timer", "Session-Expires: 7200;refresher=uac", "Min-SE: 3600"}, active: true, iv: 7200, require: true},
		{name: "compact form", cfg: accept, hdrs: []string{"k: timer", "x: 300;refresher=uac"}, active: true, iv: 300, require: true},
		{name: "too small", cfg: accept, hdrs: []string{"Supported: timer", "Session-Expires: 60"}, code: 422, hdr: "Min-SE: 90"},
		{name: "too small, their Min-SE larger", cfg: stConfig{mode: stAccept, expires: 1800, minSE: 120}, hdrs: []string{"Supported: timer", "Session-Expires: 100", "Min-SE: 150"}, code: 422, hdr: "Min-SE: 150"},
		{name: "no timer support: we refresh", cfg: accept, hdrs: []string{"Session-Expires: 600;refresher=uac"}, active: true, iv: 600, us: true},
		{name: "refuse, supported only", cfg: stConfig{mode: stRefuse, expires: 1800, minSE: 90}, hdrs: []string{"Supported: timer", "Session-Expires: 600"}},
		{name: "refuse, required", cfg: stConfig{mode: stRefuse, expires: 1800, minSE: 90}, hdrs: []string{"Require: timer", "Session-Expires: 600"}, code: 420, hdr: "Unsupported: timer"},
		{name: "originate without request", cfg: stConfig{mode: stOriginate, expires: 900, minSE: 90}, hdrs: []string{"Supported: timer"}, active: true, iv: 900, us: true, require: true},
		{name: "originate, phone without timer", cfg: stConfig{mode: stOriginate, expires: 900, minSE: 90}, active: true, iv: 900, us: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Server{}
			s.set.Store(&settings{st: tc.cfg})
			c := &call{s: s}
			req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: "200", Host: "127.0.0.1"})
			for _, h := range tc.hdrs {
				n, v, _ := strings.Cut(h, ": ")
				req.AppendHeader(sip.NewHeader(n, v))
			}
			code, _, hdr := c.stOfferLocked(req)
			if code != tc.code {
				t.Fatalf("code %d, want %d", code, tc.code)
			}
			if code != 0 {
				if got := hdr.Name() + ": " + hdr.Value(); got != tc.hdr {
					t.Errorf("header %q, want %q", got, tc.hdr)
				}
				return
			}
			st := c.st
			if st.active != tc.active || (st.active && (st.interval != tc.iv || st.us != tc.us)) {
				t.Errorf("timer %+v, want active=%v interval=%d us=%v", st, tc.active, tc.iv, tc.us)
			}
			res := sip.NewResponseFromRequest(req, 200, "OK", nil)
			c.stHeadersLocked(res)
			if got := res.GetHeader("Require") != nil; got != tc.require {
				t.Errorf("Require: timer in the 200: %v, want %v", got, tc.require)
			}
			if tc.active {
				ref := "uac"
				if tc.us {
					ref = "uas"
				}
				if h := res.GetHeader("Session-Expires"); h == nil || h.Value() != fmt.Sprintf("%d;refresher=%s", tc.iv, ref) {
					t.Errorf("Session-Expires in the 200: %v", h)
				}
			}
		})
	}
}

// TestSessionTimerConfig: the session-* options of [general] and of a peer, and their errors
// with file:line.
func TestSessionTimerConfig(t *testing.T) {
	pc, errs := parseConfig(parseConf(t, baseConf+"session-timers=originate\nsession-expires=600\nsession-minse=120\nsession-refresher=uac\n"+
		"[alice]\ntype=friend\nhost=dynamic\nsession-timers=refuse\n[bob]\ntype=friend\nhost=dynamic\nsession-expires=300\n"), "")
	if errs != nil {
		t.Fatal(errs)
	}
	if got := pc.set.st; got != (stConfig{mode: stOriginate, expires: 600, minSE: 120, refreshUAC: true}) {
		t.Errorf("[general]: %+v", got)
	}
	if got := pc.peers["alice"].st; got.mode != stRefuse || got.expires != 600 {
		t.Errorf("alice: %+v", got)
	}
	if got := pc.peers["bob"].st; got.mode != stOriginate || got.expires != 300 || got.minSE != 120 {
		t.Errorf("bob: %+v", got)
	}
	for text, want := range map[string]string{
		baseConf + "session-timers=sometimes\n":                            "sip.conf:4: session-timers: \"sometimes\" is not accept, originate or refuse",
		baseConf + "session-minse=30\n":                                    "sip.conf:4: session-minse: \"30\" is not a number of seconds >= 90",
		baseConf + "session-refresher=me\n":                                "sip.conf:4: session-refresher: \"me\" is not uas or uac",
		baseConf + "session-expires=100\nsession-minse=200\n":              "session-expires (100) is smaller than session-minse (200)",
		baseConf + "[bob]\ntype=friend\nhost=dynamic\nsession-expires=x\n": "sip.conf:7: session-expires: \"x\" is not a number of seconds >= 90",
	} {
		_, errs := parseConfig(parseConf(t, text), "")
		if errs == nil || !strings.Contains(errs.Error(), want) {
			t.Errorf("%q: errors %v, want %q", text, errs, want)
		}
	}
}

// shortTimers lets a test run session timers of a few seconds.
func shortTimers(t *testing.T) {
	old := stFloor
	stFloor = 1
	t.Cleanup(func() { stFloor = old })
}

// timerCall sends alice's INVITE (with hdrs) from caller to the server of ce and returns it
// with the final response; a 2xx is acknowledged.
func timerCall(t *testing.T, ce *callEnv, caller *uas, hdrs ...string) (*sip.Request, *sip.Response) {
	t.Helper()
	h, p, _ := net.SplitHostPort(ce.addr)
	port, _ := strconv.Atoi(p)
	inv := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: "200", Host: h, Port: port})
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "alice", Host: h}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(10))
	inv.AppendHeader(from)
	inv.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: "200", Host: h}, Params: sip.NewParams()})
	inv.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "alice", Host: "127.0.0.1", Port: caller.port}})
	for _, hd := range hdrs {
		n, v, _ := strings.Cut(hd, ": ")
		inv.AppendHeader(sip.NewHeader(n, v))
	}
	inv.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	inv.SetBody([]byte(fmt.Sprintf(offerPCMU, 40000)))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := caller.cl.Do(ctx, inv)
	if err == nil && res.StatusCode == 401 {
		inv.RemoveHeader("Via")
		res, err = caller.cl.DoDigestAuth(ctx, inv, res, sipgo.DigestAuth{Username: "alice", Password: "wonderland"})
	}
	if err != nil {
		t.Fatal(err)
	}
	if res.IsSuccess() {
		ack := sip.NewRequest(sip.ACK, sip.Uri{Scheme: "sip", User: "200", Host: h, Port: port})
		ack.AppendHeader(sip.HeaderClone(inv.From()))
		ack.AppendHeader(sip.HeaderClone(res.To()))
		ack.AppendHeader(sip.HeaderClone(inv.CallID()))
		ack.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sip.ACK})
		if err := caller.cl.WriteRequest(ack); err != nil {
			t.Fatal(err)
		}
	}
	return inv, res
}

// inDlg builds a request of the caller in the dialog of inv/res.
func inDlg(ce *callEnv, inv *sip.Request, res *sip.Response, method sip.RequestMethod, seq uint32, hdrs ...string) *sip.Request {
	h, p, _ := net.SplitHostPort(ce.addr)
	port, _ := strconv.Atoi(p)
	r := sip.NewRequest(method, sip.Uri{Scheme: "sip", User: "200", Host: h, Port: port})
	r.AppendHeader(sip.HeaderClone(inv.From()))
	r.AppendHeader(sip.HeaderClone(res.To()))
	r.AppendHeader(sip.HeaderClone(inv.CallID()))
	r.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: method})
	r.AppendHeader(sip.HeaderClone(inv.Contact()))
	for _, hd := range hdrs {
		n, v, _ := strings.Cut(hd, ": ")
		r.AppendHeader(sip.NewHeader(n, v))
	}
	return r
}

const timerConf = baseConf + "session-minse=2\n[alice]\ntype=friend\nhost=dynamic\nsecret=wonderland\ncontext=from-alice\n"

// TestSessionTimerExpiry: a phone asks for a 4 s session refreshed by itself: 422 below
// Min-SE first; then the 200 carries Session-Expires and Require: timer; an UPDATE without
// SDP and a re-INVITE without SDP refresh it (200, Session-Expires again); when the refreshes
// stop the call ends with our BYE after 4 − 4/3 s, and nothing is left.
func TestSessionTimerExpiry(t *testing.T) {
	shortTimers(t)
	ce := newCallEnv(t, timerConf, echoAnswer)
	caller := newUAS(t, ring)
	if _, res := timerCall(t, ce, caller, "Supported: timer", "Session-Expires: 1"); res.StatusCode != 422 || res.GetHeader("Min-SE") == nil || res.GetHeader("Min-SE").Value() != "2" {
		t.Fatalf("Session-Expires below Min-SE: %v", res)
	}
	inv, res := timerCall(t, ce, caller, "Supported: timer", "Session-Expires: 4;refresher=uac", "Min-SE: 2")
	if res.StatusCode != 200 {
		t.Fatalf("INVITE: %v", res)
	}
	if h := res.GetHeader("Session-Expires"); h == nil || h.Value() != "4;refresher=uac" || !requires(res, "timer") {
		t.Fatalf("200 OK: Session-Expires %v, Require %v", h, res.GetHeader("Require"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	for i, m := range []sip.RequestMethod{sip.UPDATE, sip.INVITE, sip.UPDATE} {
		time.Sleep(1500 * time.Millisecond) // within 4 − 4/3 s of the last refresh
		r, err := caller.cl.Do(ctx, inDlg(ce, inv, res, m, inv.CSeq().SeqNo+uint32(i)+1, "Supported: timer", "Session-Expires: 4;refresher=uac"))
		if err != nil || r.StatusCode != 200 {
			t.Fatalf("refresh %d (%s): %v %v", i, m, r, err)
		}
		if h := r.GetHeader("Session-Expires"); h == nil || h.Value() != "4;refresher=uac" {
			t.Errorf("refresh %d (%s): Session-Expires %v", i, m, h)
		}
		if m == sip.UPDATE && len(r.Body()) != 0 {
			t.Errorf("200 to an UPDATE without SDP has a body")
		}
		if m == sip.INVITE {
			ack := inDlg(ce, inv, res, sip.ACK, inv.CSeq().SeqNo+uint32(i)+1)
			_ = caller.cl.WriteRequest(ack)
		}
	}
	if caller.byes.Load() != 0 {
		t.Fatal("BYE although refreshed")
	}
	last := time.Now()
	waitFor(t, 6*time.Second, "BYE at session expiry", func() bool { return caller.byes.Load() == 1 })
	if d := time.Since(last); d < 2*time.Second {
		t.Errorf("BYE %v after the last refresh, want about 2.7 s", d)
	}
	t.Logf("call lasted %v", time.Since(start).Round(100*time.Millisecond))
	ce.clean(t)
}

// TestSessionTimerWeRefresh: a phone that lets us refresh (refresher=uas) gets an UPDATE
// (it allows UPDATE) every half interval, with Session-Expires refresher=uac; the call stays
// up. Dialling bob with session-timers=originate: the INVITE asks for Session-Expires and
// Min-SE; bob's 200 names us the refresher and, bob not allowing UPDATE, the refresh is a
// re-INVITE with SDP.
func TestSessionTimerWeRefresh(t *testing.T) {
	shortTimers(t)
	ce := newCallEnv(t, timerConf, echoAnswer)
	caller := newUAS(t, ring)
	_, res := timerCall(t, ce, caller, "Supported: timer", "Allow: INVITE, ACK, BYE, CANCEL, UPDATE", "Session-Expires: 2;refresher=uas")
	if h := res.GetHeader("Session-Expires"); res.StatusCode != 200 || h == nil || h.Value() != "2;refresher=uas" {
		t.Fatalf("INVITE: %v", res)
	}
	waitFor(t, 5*time.Second, "two UPDATE refreshes", func() bool { return caller.updates.Load() >= 2 })
	upd := caller.lastUpd.Load()
	if h := upd.GetHeader("Session-Expires"); h == nil || h.Value() != "2;refresher=uac" || len(upd.Body()) != 0 {
		t.Errorf("our UPDATE: Session-Expires %v, body %q", h, upd.Body())
	}
	if caller.byes.Load() != 0 {
		t.Fatal("call ended although refreshed")
	}
	// the call ends normally: BYE from the caller is answered, the timer stops
	if c := ce.s.allCalls(); len(c) == 1 && c[0].ch != nil {
		c[0].ch.RequestHangup(channel.CauseNormalClearing)
	}
	ce.clean(t)
	n := caller.updates.Load()
	time.Sleep(1500 * time.Millisecond)
	if caller.updates.Load() != n {
		t.Error("refreshes after the call ended")
	}

	// outgoing: session-timers=originate towards bob
	ce2 := newCallEnv(t, baseConf+"session-minse=2\nsession-expires=2\nsession-timers=originate\n"+
		"[alice]\ntype=friend\nhost=dynamic\nsecret=wonderland\ncontext=from-alice\n[bob]\ntype=friend\nhost=dynamic\nsecret=builder\n", nil)
	var asked atomic.Value
	bob := newUAS(t, func(u *uas, req *sip.Request, tx sip.ServerTransaction) {
		if h := req.GetHeader("Session-Expires"); h != nil && req.GetHeader("Min-SE") != nil && u.invites.Load() == 1 {
			asked.Store(h.Value())
		}
		res := sip.NewResponseFromRequest(req, 200, "OK", []byte(fmt.Sprintf(answerSDP, 41000)))
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		res.AppendHeader(sip.NewHeader("Session-Expires", "2;refresher=uac"))
		res.AppendHeader(sip.NewHeader("Require", "timer"))
		res.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "bob", Host: "127.0.0.1", Port: u.port}})
		_ = tx.Respond(res)
	})
	bob.register(ce2.addr, "bob", "builder")
	alice := newUAS(t, ring)
	_, res = timerCall(t, ce2, alice)
	if res.StatusCode != 200 {
		t.Fatalf("alice's call to bob: %v", res)
	}
	waitFor(t, 5*time.Second, "our re-INVITE refresh to bob", func() bool { return bob.invites.Load() >= 2 })
	if got, _ := asked.Load().(string); got != "2" {
		t.Errorf("INVITE to bob: Session-Expires %q, want \"2\" (and Min-SE)", got)
	}
	for _, c := range ce2.s.allCalls() {
		if c.ch != nil {
			c.ch.RequestHangup(channel.CauseNormalClearing)
		}
	}
	ce2.clean(t)
}

// TestRequireUnsupported: an INVITE that requires an extension Pleiades does not support gets
// 420 Bad Extension with Unsupported naming it, before authentication, as chan_sip; timer,
// replaces and 100rel are accepted.
func TestRequireUnsupported(t *testing.T) {
	ce := newCallEnv(t, callConf, echoAnswer)
	ph := newPhone(t, ce.addr)
	req := ph.invite("alice", "200", fmt.Sprintf(offerPCMU, 40000))
	req.AppendHeader(sip.NewHeader("Supported", "timer, 100rel"))
	req.AppendHeader(sip.NewHeader("Require", "100rel, timer, gruu"))
	req.AppendHeader(sip.NewHeader("Proxy-Require", "foo"))
	res := ph.do(req)
	if res.StatusCode != 420 || res.GetHeader("Unsupported") == nil || res.GetHeader("Unsupported").Value() != "gruu, foo" {
		t.Fatalf("INVITE requiring gruu and foo: %d %v", res.StatusCode, res.GetHeader("Unsupported"))
	}
	req = ph.invite("alice", "200", fmt.Sprintf(offerPCMU, 40000))
	req.AppendHeader(sip.NewHeader("Require", "timer, replaces, 100rel"))
	req.AppendHeader(sip.NewHeader("Session-Expires", "1800"))
	if res := ph.do(req); res.StatusCode != 401 {
		t.Fatalf("INVITE requiring timer, replaces and 100rel: %d, want the challenge", res.StatusCode)
	}
	ce.clean(t)
}

// FuzzSessionHeaders: whatever Session-Expires, Min-SE, Supported/Require and RAck values a
// request carries, the session-timer negotiation, the Require check and the RAck parser
// neither panic nor grant an interval below our Min-SE, and a refusal names its header.
func FuzzSessionHeaders(f *testing.F) {
	for _, s := range [][4]string{
		{"1800;refresher=uac", "90", "timer", "1 2 INVITE"},
		{"60", "", "timer, 100rel", "4294967295 0 INVITE"},
		{"x;refresher", "-5", "", "1 2"},
		{"99999999999999999999", "90;foo", "Timer ,, replaces", "a b INVITE"},
		{";refresher=uas", "300", "gruu", ""},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	f.Fuzz(func(t *testing.T, se, minse, req, rack string) {
		s := &Server{}
		s.set.Store(&settings{st: stConfig{mode: stAccept, expires: 1800, minSE: 90}})
		c := &call{s: s}
		r := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: "200", Host: "127.0.0.1"})
		r.AppendHeader(sip.NewHeader("Session-Expires", se))
		r.AppendHeader(sip.NewHeader("Min-SE", minse))
		r.AppendHeader(sip.NewHeader("Require", req))
		r.AppendHeader(sip.NewHeader("Supported", req))
		r.AppendHeader(sip.NewHeader("RAck", rack))
		code, _, hdr := c.stOfferLocked(r)
		switch {
		case code != 0 && hdr == nil:
			t.Fatalf("refusal %d without its header", code)
		case code == 0 && c.st.active && c.st.interval < 90:
			t.Fatalf("granted %d s, below Min-SE 90", c.st.interval)
		}
		_ = unsupportedRequire(r)
		_, _, _ = parseRAck(r)
		_, _ = parseDirectMedia(req)
	})
}

// TestSessionTimer422Retry: bob answers our INVITE (session-timers=originate) with 422 and
// Min-SE: 1900; the INVITE goes again, once, with Session-Expires and Min-SE 1900 and a new
// CSeq, and the call goes on when bob answers it.
func TestSessionTimer422Retry(t *testing.T) {
	ce := newCallEnv(t, baseConf+"session-timers=originate\n[alice]\ntype=friend\nhost=dynamic\nsecret=wonderland\ncontext=from-alice\n[bob]\ntype=friend\nhost=dynamic\nsecret=builder\n", nil)
	var second atomic.Value
	bob := newUAS(t, func(u *uas, req *sip.Request, tx sip.ServerTransaction) {
		if u.invites.Load() == 1 {
			res := sip.NewResponseFromRequest(req, 422, "Session Interval Too Small", nil)
			res.AppendHeader(sip.NewHeader("Min-SE", "1900"))
			_ = tx.Respond(res)
			return
		}
		if tag, _ := req.To().Params.Get("tag"); tag == "" {
			second.Store(req.GetHeader("Session-Expires").Value() + "/" + req.GetHeader("Min-SE").Value() + "/" + strconv.Itoa(int(req.CSeq().SeqNo)))
		}
		res := sip.NewResponseFromRequest(req, 200, "OK", []byte(fmt.Sprintf(offerPCMU, 41006)))
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		res.AppendHeader(sip.NewHeader("Session-Expires", "1900;refresher=uac"))
		res.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "bob", Host: "127.0.0.1", Port: u.port}})
		_ = tx.Respond(res)
	})
	bob.register(ce.addr, "bob", "builder")
	alice := newUAS(t, ring)
	if _, res := timerCall(t, ce, alice); res.StatusCode != 200 {
		t.Fatalf("alice's call: %v", res)
	}
	got, _ := second.Load().(string)
	parts := strings.Split(got, "/")
	if len(parts) != 3 || parts[0] != "1900" || parts[1] != "1900" {
		t.Fatalf("the INVITE after the 422: Session-Expires/Min-SE/CSeq %q", got)
	}
	if n := bob.invites.Load(); n != 2 {
		t.Errorf("bob got %d INVITEs, want 2", n)
	}
	for _, c := range ce.s.allCalls() {
		if c.ch != nil {
			c.ch.RequestHangup(channel.CauseNormalClearing)
		}
	}
	ce.clean(t)
}
