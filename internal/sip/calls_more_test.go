package sip

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"weak"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/pleiades-pbx/pleiades/internal/channel"
	"github.com/pleiades-pbx/pleiades/internal/media/sdp"
)

// uas is a Go SIP phone that registers and answers INVITEs its own way (bob for the Dial
// tests): answer runs on each INVITE and must not return before the final response.
type uas struct {
	t       *testing.T
	ua      *sipgo.UserAgent
	cl      *sipgo.Client
	addr    string
	port    int
	invites atomic.Int32
	cancels atomic.Int32
	byes    atomic.Int32
	updates atomic.Int32
	lastUpd atomic.Pointer[sip.Request]
	pracks  chan *sip.Request // every PRACK received (answered 200), when made before the call
}

func newUAS(t *testing.T, answer func(u *uas, req *sip.Request, tx sip.ServerTransaction)) *uas {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("testuas/1.0"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &uas{t: t, ua: ua, addr: conn.LocalAddr().String(), port: conn.LocalAddr().(*net.UDPAddr).Port}
	srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		u.invites.Add(1)
		tx.OnCancel(func(*sip.Request) { u.cancels.Add(1) })
		answer(u, req, tx)
	})
	srv.OnAck(func(*sip.Request, sip.ServerTransaction) {})
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		u.byes.Add(1)
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	srv.OnUpdate(func(req *sip.Request, tx sip.ServerTransaction) {
		u.updates.Add(1)
		u.lastUpd.Store(req)
		res := sip.NewResponseFromRequest(req, 200, "OK", nil)
		if h := req.GetHeader("Session-Expires"); h != nil {
			res.AppendHeader(sip.NewHeader("Session-Expires", h.Value()))
			res.AppendHeader(sip.NewHeader("Require", "timer"))
		}
		_ = tx.Respond(res)
	})
	srv.OnPrack(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		if u.pracks != nil {
			u.pracks <- req
		}
	})
	go func() { _ = srv.ServeUDP(conn) }()
	for i := 0; ; i++ {
		if c, _ := ua.TransportLayer().GetConnection("udp", u.addr); c != nil {
			break
		}
		if i > 500 {
			t.Fatal("uas listener not ready")
		}
		time.Sleep(2 * time.Millisecond)
	}
	u.cl, err = sipgo.NewClient(ua, sipgo.WithClientConnectionAddr(u.addr), sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientPort(u.port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(); ua.Close() })
	return u
}

// register registers user at server.
func (u *uas) register(server, user, pass string) {
	u.t.Helper()
	h, p, _ := net.SplitHostPort(server)
	port, _ := strconv.Atoi(p)
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: h, Port: port})
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: h}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(10))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: h}})
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: "127.0.0.1", Port: u.port}})
	req.AppendHeader(sip.NewHeader("Expires", "300"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := u.cl.Do(ctx, req)
	if err == nil && res.StatusCode == 401 {
		req.RemoveHeader("Via")
		res, err = u.cl.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: user, Password: pass})
	}
	if err != nil || res.StatusCode != 200 {
		u.t.Fatalf("register %s: %v %v", user, res, err)
	}
}

const answerSDP = "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n"

// ring sends 180 and waits for a CANCEL (sipgo answers 487) or the transaction's end.
func ring(_ *uas, req *sip.Request, tx sip.ServerTransaction) {
	cancelled := make(chan struct{})
	tx.OnCancel(func(*sip.Request) { close(cancelled) })
	_ = tx.Respond(sip.NewResponseFromRequest(req, 180, "Ringing", nil))
	select {
	case <-cancelled:
	case <-tx.Done():
	}
}

// busy answers 486.
func busy(_ *uas, req *sip.Request, tx sip.ServerTransaction) {
	_ = tx.Respond(sip.NewResponseFromRequest(req, 486, "Busy Here", nil))
}

// answer rings, then answers with a PCMA answer.
func answer(_ *uas, req *sip.Request, tx sip.ServerTransaction) {
	_ = tx.Respond(sip.NewResponseFromRequest(req, 180, "Ringing", nil))
	res := sip.NewResponseFromRequest(req, 200, "OK", []byte(fmt.Sprintf(answerSDP, 41000)))
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	res.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "bob", Host: "127.0.0.1", Port: req.Recipient.Port}})
	_ = tx.Respond(res)
}

const dialConf = baseConf + "[alice]\ntype=friend\nhost=dynamic\nsecret=wonderland\ncontext=from-alice\n" +
	"[carol]\ntype=friend\nhost=dynamic\nsecret=carol\n" +
	"[bob]\ntype=friend\nhost=dynamic\nsecret=builder\ncall-limit=1\n"

// TestDialCancelOnNoAnswer: Dial gives up on a ringing bob: CANCEL to bob (his INVITE gets
// 487), NO_ANSWER → 480 to alice; bob RINGING → NOT_INUSE.
func TestDialCancelOnNoAnswer(t *testing.T) {
	ce := newCallEnv(t, dialConf, func(ce *callEnv, ch *channel.Channel) { dialBobFor(ce, ch, 700*time.Millisecond) })
	bob := newUAS(t, ring)
	bob.register(ce.addr, "bob", "builder")
	base := len(sipGoroutines()) // the server's and bob's own
	ph := newPhone(t, ce.addr)
	res := ph.DoAuth(ph.invite("alice", "200", fmt.Sprintf(offerPCMU, 40000)), "alice", "wonderland")
	if res.StatusCode != 480 {
		t.Fatalf("alice got %d, want 480", res.StatusCode)
	}
	waitFor(t, 3*time.Second, "bob cancelled", func() bool { return bob.cancels.Load() == 1 })
	ce.clean(t)
	if h := strings.Join(ce.deviceHist("SIP/bob"), " "); !strings.HasSuffix(h, "NOT_INUSE RINGING NOT_INUSE") {
		t.Errorf("SIP/bob: %s", h)
	}
	noLeak(t, base)
}

// TestDialBusy: bob answers 486: USER_BUSY, 486 to alice. A second caller while bob (at his
// call-limit of 1) rings is refused without an INVITE to bob: 486 too.
func TestDialBusy(t *testing.T) {
	ce := newCallEnv(t, dialConf, dialBob)
	bob := newUAS(t, busy)
	bob.register(ce.addr, "bob", "builder")
	ph := newPhone(t, ce.addr)
	res := ph.DoAuth(ph.invite("alice", "200", fmt.Sprintf(offerPCMU, 40000)), "alice", "wonderland")
	if res.StatusCode != 486 {
		t.Fatalf("busy bob: alice got %d, want 486", res.StatusCode)
	}
	ce.clean(t)

	bob2 := newUAS(t, ring)
	bob2.register(ce.addr, "bob", "builder")
	tx, r := ph.inviteTx(t, ph.invite("alice", "200", fmt.Sprintf(offerPCMU, 40000)), "alice", "wonderland")
	defer tx.Terminate()
	if r.StatusCode != 180 {
		t.Fatalf("first call: %d", r.StatusCode)
	}
	waitFor(t, 2*time.Second, "bob ringing", func() bool { return ce.ds.get("SIP/bob") == "RINGING" })
	res = ph.DoAuth(ph.invite("carol", "200", fmt.Sprintf(offerPCMU, 40002)), "carol", "carol")
	if res.StatusCode != 486 {
		t.Fatalf("bob at call-limit: carol got %d, want 486", res.StatusCode)
	}
	if n := bob2.invites.Load(); n != 1 {
		t.Errorf("bob got %d INVITEs, want 1", n)
	}
	ce.s.hangupAll()
	ce.clean(t)
}

// TestDialAnswerHoldBye: bob answers (Go UAS), the legs are bridged; alice puts the call on
// hold with a re-INVITE sendonly (200 recvonly; SIP/alice ONHOLD), takes it off (sendrecv;
// INUSE), then hangs up with BYE: bob gets BYE, everything is released.
func TestDialAnswerHoldBye(t *testing.T) {
	ce := newCallEnv(t, dialConf, dialBob)
	bob := newUAS(t, answer)
	bob.register(ce.addr, "bob", "builder")
	base := len(sipGoroutines()) // the server's and bob's own
	ph := newPhone(t, ce.addr)
	if res := ph.register("alice", "wonderland", 300); res.StatusCode != 200 {
		t.Fatal(res.StatusCode)
	}
	inv := ph.invite("alice", "200", fmt.Sprintf(offerPCMU, 40000))
	tx, res := ph.inviteTx(t, inv, "alice", "wonderland")
	for res.StatusCode < 200 {
		select {
		case res = <-tx.Responses():
		case <-time.After(5 * time.Second):
			t.Fatal("no 200")
		}
	}
	if res.StatusCode != 200 {
		t.Fatalf("alice got %d", res.StatusCode)
	}
	tx.Terminate()
	if !strings.Contains(string(res.Body()), "PCMU") {
		t.Errorf("answer:\n%s", res.Body())
	}
	toTag, _ := res.To().Params.Get("tag")
	cseq := inv.CSeq().SeqNo
	dlg := func(m sip.RequestMethod, seq uint32, body string) *sip.Request {
		req := ph.newReq(m, "alice", "200")
		req.From().Params.Add("tag", func() string { v, _ := inv.From().Params.Get("tag"); return v }())
		req.To().Params.Add("tag", toTag)
		req.RemoveHeader("Call-ID")
		cid := sip.CallIDHeader(inv.CallID().Value())
		req.AppendHeader(&cid)
		req.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: m})
		if body != "" {
			req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
			req.SetBody([]byte(body))
		}
		return req
	}
	ack := dlg(sip.ACK, cseq, "")
	if err := ph.Client.WriteRequest(ack); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "alice in use", func() bool { return ce.ds.get("SIP/alice") == "INUSE" })
	if ce.ds.get("SIP/bob") != "BUSY" { // bob's one call is his call-limit
		t.Errorf("SIP/bob %s", ce.ds.get("SIP/bob"))
	}
	hold := strings.Replace(fmt.Sprintf(offerPCMU, 40000), "a=rtpmap:0", "a=sendonly\r\na=rtpmap:0", 1)
	r := ph.do(dlg(sip.INVITE, cseq+1, hold))
	if r.StatusCode != 200 || !strings.Contains(string(r.Body()), "a=recvonly") {
		t.Fatalf("hold: %d\n%s", r.StatusCode, r.Body())
	}
	_ = ph.Client.WriteRequest(dlg(sip.ACK, cseq+1, ""))
	waitFor(t, 2*time.Second, "alice on hold", func() bool { return ce.ds.get("SIP/alice") == "ONHOLD" })
	r = ph.do(dlg(sip.INVITE, cseq+2, fmt.Sprintf(offerPCMU, 40000)))
	if r.StatusCode != 200 || !strings.Contains(string(r.Body()), "a=sendrecv") {
		t.Fatalf("unhold: %d\n%s", r.StatusCode, r.Body())
	}
	_ = ph.Client.WriteRequest(dlg(sip.ACK, cseq+2, ""))
	waitFor(t, 2*time.Second, "alice off hold", func() bool { return ce.ds.get("SIP/alice") == "INUSE" })
	// a session refresh: a re-INVITE without SDP, with a session timer without refresher
	// (session-refresher=uas, chan_sip's default: we refresh)
	refresh := dlg(sip.INVITE, cseq+10, "")
	refresh.AppendHeader(sip.NewHeader("Session-Expires", "1800"))
	refresh.AppendHeader(sip.NewHeader("Supported", "timer"))
	r = ph.do(refresh)
	if se := r.GetHeader("Session-Expires"); r.StatusCode != 200 || !strings.Contains(string(r.Body()), "a=sendrecv") || se == nil || se.Value() != "1800;refresher=uas" {
		t.Fatalf("refresh: %d %v\n%s", r.StatusCode, r.GetHeader("Session-Expires"), r.Body())
	}
	_ = ph.Client.WriteRequest(dlg(sip.ACK, cseq+10, ""))
	waitFor(t, 2*time.Second, "the last ACK seen", func() bool { return strings.Contains(ce.cli("sip show channels"), "Rx: ACK") })
	if out := ce.cli("sip show channels"); !strings.Contains(out, "2 active SIP dialogs") || !strings.Contains(out, "(ulaw)") || !strings.Contains(out, "(alaw)") ||
		!strings.Contains(out, "Rx: ACK") || !strings.Contains(out, "Tx: ACK") {
		t.Errorf("sip show channels:\n%s", out)
	}
	if out := ce.cli("sip show channelstats"); !strings.Contains(out, "2 active SIP channels") || !strings.Contains(out, "Recv: Pack") {
		t.Errorf("sip show channelstats:\n%s", out)
	}
	if r := ph.do(dlg(sip.BYE, cseq+11, "")); r.StatusCode != 200 {
		t.Fatalf("BYE: %d", r.StatusCode)
	}
	waitFor(t, 3*time.Second, "bob got BYE", func() bool { return bob.byes.Load() == 1 })
	ce.clean(t)
	if a, b := ce.ds.get("SIP/alice"), ce.ds.get("SIP/bob"); a != "NOT_INUSE" || b != "NOT_INUSE" {
		t.Errorf("after the call: alice %s, bob %s", a, b)
	}
	noLeak(t, base)
}

// dialBobFor is dialBob with a Dial timeout.
func dialBobFor(ce *callEnv, ch *channel.Channel, timeout time.Duration) {
	ctx := context.Background()
	out, err := ce.reg.Request(ctx, "SIP/bob", ch)
	if err != nil {
		ch.Hangup(channel.CauseOf(err))
		return
	}
	_ = out.Tech().Call(ctx)
	select {
	case <-out.Done():
		out.Hangup(out.Cause())
		ch.Hangup(out.Cause())
	case <-time.After(timeout):
		out.Hangup(channel.CauseNoAnswer)
		ch.Hangup(channel.CauseNoAnswer)
	}
}

// TestSippCallTCP: alice calls over TCP; the call is answered and echoed, BYE ends it.
func TestSippCallTCP(t *testing.T) {
	sippPath(t)
	ce := newCallEnv(t, strings.Replace(callConf, "realm=pleiades\n", "realm=pleiades\ntcpenable=yes\ntcpbindaddr=127.0.0.1:0\n", 1), echoAnswer)
	_, tcp := ce.s.Addr()
	runSipp(t, tcp.String(), "call-alice.xml", "-m", "1", "-s", "200", "-au", "alice", "-ap", "wonderland", "-mp", strconv.Itoa(freePort(t)&^1), "-t", "t1")
	ce.clean(t)
	ce.mu.Lock()
	defer ce.mu.Unlock()
	if len(ce.legs) != 1 || ce.legs[0].Stats().RxPackets == 0 || ce.legs[0].Stats().TxPackets == 0 {
		t.Errorf("no echo over the TCP call")
	}
}

// noLeak waits for the package's goroutines to be back to base (the call's retransmitters,
// response readers and BYE senders ended).
func noLeak(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(sipGoroutines()) > base && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if g := sipGoroutines(); len(g) > base {
		t.Errorf("%d goroutines, %d before the call:\n%s", len(g), base, strings.Join(g, "\n\n"))
	}
}

// TestSippDialTCP: bob registers over TCP (sipp, which then closes its connection) and is
// called at his Contact over a new TCP connection; alice calls over UDP.
func TestSippDialTCP(t *testing.T) {
	sippPath(t)
	ce := newCallEnv(t, strings.Replace(callConf, "realm=pleiades\n", "realm=pleiades\ntcpenable=yes\ntcpbindaddr=127.0.0.1:0\n", 1), dialBob)
	_, tcp := ce.s.Addr()
	bobPort := freeTCPPort(t)
	runSippCSV(t, tcp.String(), "register.xml", "users-bob.csv", "-m", "1", "-p", strconv.Itoa(bobPort), "-t", "t1")
	waitFor(t, 2*time.Second, "bob registered", func() bool { return ce.ds.get("SIP/bob") == "NOT_INUSE" })
	bobDone := make(chan struct{})
	go func() {
		defer close(bobDone)
		runSipp(t, tcp.String(), "call-bob.xml", "-m", "1", "-p", strconv.Itoa(bobPort), "-mp", strconv.Itoa(freePort(t)&^1), "-rtp_echo", "-t", "t1")
	}()
	time.Sleep(300 * time.Millisecond)
	runSipp(t, ce.addr, "call-alice.xml", "-m", "1", "-s", "200", "-au", "alice", "-ap", "wonderland", "-mp", strconv.Itoa(freePort(t)&^1))
	select {
	case <-bobDone:
	case <-time.After(20 * time.Second):
		t.Fatal("bob's sipp did not finish")
	}
	ce.clean(t)
}

// TestTCPTarget: with no open connection from the registration, a TCP call goes to the
// Contact's address.
func TestTCPTarget(t *testing.T) {
	e := newEnv(t, baseConf, false)
	reg := mustAddrPort("127.0.0.1:40001")
	got := e.s.tcpTarget(reg, sip.Uri{Scheme: "sip", User: "bob", Host: "127.0.0.1", Port: 5099})
	if got.String() != "127.0.0.1:5099" {
		t.Errorf("got %s", got)
	}
	if got := e.s.tcpTarget(reg, sip.Uri{Scheme: "sip", Host: "phone.example"}); got != reg {
		t.Errorf("a name in the Contact: got %s", got)
	}
}

func mustAddrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// TestRefuseNewCalls: while a stop refuses new calls an INVITE gets 503; ActiveCalls counts
// the calls up.
func TestRefuseNewCalls(t *testing.T) {
	ce := newCallEnv(t, callConf, ringForever)
	ph := newPhone(t, ce.addr)
	tx, r := ph.inviteTx(t, ph.invite("alice", "200", fmt.Sprintf(offerPCMU, 40000)), "alice", "wonderland")
	defer tx.Terminate()
	if r.StatusCode != 180 || ce.s.ActiveCalls() != 1 {
		t.Fatalf("%d, %d calls", r.StatusCode, ce.s.ActiveCalls())
	}
	ce.s.RefuseNewCalls(true)
	if res := ph.do(ph.invite("carol", "200", fmt.Sprintf(offerPCMU, 40002))); res.StatusCode != 503 {
		t.Errorf("while refusing: %d", res.StatusCode)
	}
	ce.s.hangupAll()
	ce.clean(t)
	if ce.s.ActiveCalls() != 0 {
		t.Error("calls left")
	}
}

func TestApplyAllow(t *testing.T) {
	names := func(cs []sdp.Codec) string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Name)
		}
		return strings.Join(out, ",")
	}
	def := []sdp.Codec{sdp.PCMU, sdp.PCMA}
	for _, c := range []struct {
		lines []string // "+x" allow, "-x" disallow
		want  string
	}{
		{nil, "PCMU,PCMA"},
		{[]string{"-all", "+alaw"}, "PCMA"},
		{[]string{"-all", "+alaw,ulaw"}, "PCMA,PCMU"},
		{[]string{"-ulaw"}, "PCMA"},
		{[]string{"-all", "+gsm,g729"}, ""},
		{[]string{"-all", "+all", "-!alaw"}, "PCMU,PCMA"},
	} {
		cs := def
		for _, l := range c.lines {
			cs = applyAllow(cs, l[1:], l[0] == '+')
		}
		if got := names(cs); got != c.want {
			t.Errorf("%v: %s, want %s", c.lines, got, c.want)
		}
	}
}

// TestAllowDisallow: alice allows A-law only (a µ-law offer: 488); bob allows µ-law only (our
// INVITE offers PCMU and telephone-event, nothing else).
func TestAllowDisallow(t *testing.T) {
	conf := baseConf + "[alice]\ntype=friend\nhost=dynamic\nsecret=wonderland\ndisallow=all\nallow=alaw\n" +
		"[bob]\ntype=friend\nhost=dynamic\nsecret=builder\ndisallow=all\nallow=ulaw\n"
	ce := newCallEnv(t, conf, func(ce *callEnv, ch *channel.Channel) { dialBobFor(ce, ch, 2*time.Second) })
	var offer atomic.Value
	bob := newUAS(t, func(_ *uas, req *sip.Request, tx sip.ServerTransaction) {
		offer.Store(string(req.Body()))
		_ = tx.Respond(sip.NewResponseFromRequest(req, 486, "Busy Here", nil))
	})
	bob.register(ce.addr, "bob", "builder")
	ph := newPhone(t, ce.addr)
	if res := ph.DoAuth(ph.invite("alice", "200", fmt.Sprintf(offerPCMU, 40000)), "alice", "wonderland"); res.StatusCode != 488 {
		t.Errorf("µ-law offer to an A-law peer: %d, want 488", res.StatusCode)
	}
	pcma := strings.NewReplacer("RTP/AVP 0 101", "RTP/AVP 8 101", "rtpmap:0 PCMU", "rtpmap:8 PCMA").Replace(fmt.Sprintf(offerPCMU, 40000))
	if res := ph.DoAuth(ph.invite("alice", "200", pcma), "alice", "wonderland"); res.StatusCode != 486 {
		t.Errorf("A-law offer: %d, want bob's 486", res.StatusCode)
	}
	got, _ := offer.Load().(string)
	if !strings.Contains(got, "m=audio ") || !strings.Contains(got, " RTP/AVP 0 101\r\n") {
		t.Errorf("offer to bob:\n%s", got)
	}
	ce.clean(t)
}

// TestDelayedOffer: an INVITE without SDP gets our offer in the 200 and its answer from the
// ACK; an ACK without an answer ends the call.
func TestDelayedOffer(t *testing.T) {
	ce := newCallEnv(t, callConf, echoAnswer)
	ph := newPhone(t, ce.addr)
	for _, withAnswer := range []bool{true, false} {
		inv := ph.invite("alice", "200", "")
		tx, res := ph.inviteTx(t, inv, "alice", "wonderland")
		for res.StatusCode < 200 {
			select {
			case res = <-tx.Responses():
			case <-time.After(5 * time.Second):
				t.Fatal("no 200")
			}
		}
		tx.Terminate()
		if res.StatusCode != 200 || !strings.Contains(string(res.Body()), "m=audio ") || !strings.Contains(string(res.Body()), "a=sendrecv") {
			t.Fatalf("%d with\n%s", res.StatusCode, res.Body())
		}
		ack := ph.inDialog(sip.ACK, inv, res, inv.CSeq().SeqNo)
		if withAnswer {
			ack.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
			ack.SetBody([]byte(fmt.Sprintf(offerPCMU, 40000)))
		}
		if err := ph.Client.WriteRequest(ack); err != nil {
			t.Fatal(err)
		}
		if !withAnswer {
			ce.clean(t) // BYE, everything released
			continue
		}
		waitFor(t, 2*time.Second, "the answer applied", func() bool {
			chs := ce.reg.List()
			if len(chs) != 1 {
				return false
			}
			p, ok := chs[0].Media().Peer()
			return ok && p.SDPAddr.Port() == 40000
		})
		ce.s.hangupAll()
		ce.clean(t)
	}
}

// TestDTMFFrames: RFC 4733 digits the caller sends reach the channel's owner as DTMF frames.
func TestDTMFFrames(t *testing.T) {
	digits := make(chan rune, 4)
	ce := newCallEnv(t, callConf, func(_ *callEnv, ch *channel.Channel) {
		if err := ch.Answer(context.Background()); err != nil {
			return
		}
		for {
			select {
			case f := <-ch.Frames():
				if f.Kind == channel.FrameDTMFEnd {
					digits <- f.Digit
				}
			case <-ch.Done():
				return
			}
		}
	})
	rtp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rtp.Close()
	ph := newPhone(t, ce.addr)
	inv := ph.invite("alice", "200", fmt.Sprintf(offerPCMU, rtp.LocalAddr().(*net.UDPAddr).Port))
	tx, res := ph.inviteTx(t, inv, "alice", "wonderland")
	for res.StatusCode < 200 {
		res = <-tx.Responses()
	}
	tx.Terminate()
	ph.ack(t, inv, res)
	port := 0
	for _, l := range strings.Split(string(res.Body()), "\r\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "m=audio" {
			port, _ = strconv.Atoi(f[1])
		}
	}
	if port == 0 {
		t.Fatalf("no port in\n%s", res.Body())
	}
	to := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	send := func(seq uint16, marker, end bool, dur uint16) {
		b := []byte{0x80, 101, byte(seq >> 8), byte(seq), 0, 0, 0x10, 0, 0, 0, 0, 9, 5, 10, byte(dur >> 8), byte(dur)}
		if marker {
			b[1] |= 0x80
		}
		if end {
			b[13] |= 0x80
		}
		_, _ = rtp.WriteToUDP(b, to)
	}
	send(1, true, false, 160)
	send(2, false, false, 320)
	send(3, false, true, 800)
	send(4, false, true, 800)
	select {
	case d := <-digits:
		if d != '5' {
			t.Errorf("digit %q", d)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no DTMF frame")
	}
	ce.s.hangupAll()
	ce.clean(t)
}

// TestInviteTrunkAndGuest: a type=peer with insecure=port,invite is matched by its address
// and not challenged; with allowguest=yes an unknown caller lands in [general]'s context.
func TestInviteTrunkAndGuest(t *testing.T) {
	for _, c := range []struct {
		conf, prefix, context string
	}{
		{baseConf + "[trunk]\ntype=peer\nhost=127.0.0.1\ninsecure=port,invite\ncontext=from-trunk\n", "SIP/trunk-", "from-trunk"},
		{baseConf + "allowguest=yes\ncontext=guests\n[alice]\ntype=friend\nhost=dynamic\nsecret=x\n", "SIP/127.0.0.1-", "guests"},
	} {
		ce := newCallEnv(t, c.conf, ringForever)
		ph := newPhone(t, ce.addr)
		inv := ph.invite("someone", "555", fmt.Sprintf(offerPCMU, 40000))
		tx, err := ph.Client.TransactionRequest(context.Background(), inv)
		if err != nil {
			t.Fatal(err)
		}
		var res *sip.Response
		for res == nil || res.StatusCode == 100 {
			select {
			case res = <-tx.Responses():
			case <-time.After(5 * time.Second):
				t.Fatal("no response")
			}
		}
		if res.StatusCode != 180 {
			t.Fatalf("%s: %d, want 180 without a challenge", c.prefix, res.StatusCode)
		}
		chs := ce.reg.List()
		if len(chs) != 1 || !strings.HasPrefix(chs[0].Name(), c.prefix) || chs[0].Snapshot().Context != c.context || chs[0].Snapshot().Exten != "555" {
			t.Errorf("channels %v", chs)
		}
		ce.s.hangupAll()
		ce.clean(t)
		tx.Terminate()
	}
}

// TestNoByeBeforeAck: a call hung up right after its answer sends BYE only once the caller
// has acknowledged the 200 (RFC 3261 15).
func TestNoByeBeforeAck(t *testing.T) {
	ce := newCallEnv(t, callConf, func(_ *callEnv, ch *channel.Channel) { _ = ch.Answer(context.Background()) })
	caller := newUAS(t, ring)
	h, p, _ := net.SplitHostPort(ce.addr)
	port, _ := strconv.Atoi(p)
	inv := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: "200", Host: h, Port: port})
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "alice", Host: h}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(10))
	inv.AppendHeader(from)
	inv.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: "200", Host: h}, Params: sip.NewParams()})
	inv.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "alice", Host: "127.0.0.1", Port: caller.port}})
	inv.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	inv.SetBody([]byte(fmt.Sprintf(offerPCMU, 40000)))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := caller.cl.Do(ctx, inv)
	if err == nil && res.StatusCode == 401 {
		inv.RemoveHeader("Via")
		res, err = caller.cl.DoDigestAuth(ctx, inv, res, sipgo.DigestAuth{Username: "alice", Password: "wonderland"})
	}
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("%v %v", res, err)
	}
	time.Sleep(300 * time.Millisecond)
	if n := caller.byes.Load(); n != 0 {
		t.Fatalf("BYE before ACK")
	}
	ack := sip.NewRequest(sip.ACK, sip.Uri{Scheme: "sip", User: "200", Host: h, Port: port})
	ack.AppendHeader(sip.HeaderClone(inv.From()))
	ack.AppendHeader(sip.HeaderClone(res.To()))
	ack.AppendHeader(sip.HeaderClone(inv.CallID()))
	ack.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sip.ACK})
	if err := caller.cl.WriteRequest(ack); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*time.Second, "BYE after ACK", func() bool { return caller.byes.Load() == 1 })
	ce.clean(t)
}

// inDialog is a request of alice's in the dialog the INVITE inv and its answer res made
// (their From, To with the far end's tag, Call-ID), with CSeq seq.
func (ph *phone) inDialog(method sip.RequestMethod, inv *sip.Request, res *sip.Response, seq uint32) *sip.Request {
	r := ph.newReq(method, "alice", "200")
	for _, h := range []sip.Header{inv.From(), res.To(), inv.CallID()} {
		r.RemoveHeader(h.Name())
		r.AppendHeader(sip.HeaderClone(h))
	}
	r.RemoveHeader("CSeq")
	r.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: method})
	return r
}

// ack acknowledges the 2xx res of the INVITE inv.
func (ph *phone) ack(t *testing.T, inv *sip.Request, res *sip.Response) {
	t.Helper()
	ack := ph.inDialog(sip.ACK, inv, res, inv.CSeq().SeqNo)
	if err := ph.Client.WriteRequest(ack); err != nil {
		t.Fatal(err)
	}
}

// TestUnknownExtension: a handler that finds no extension hangs up UNALLOCATED: 404 and
// chan_sip's NOTICE line.
func TestUnknownExtension(t *testing.T) {
	ce := newCallEnv(t, callConf, func(_ *callEnv, ch *channel.Channel) { ch.Hangup(channel.CauseUnallocated) })
	ph := newPhone(t, ce.addr)
	if res := ph.DoAuth(ph.invite("alice", "999", fmt.Sprintf(offerPCMU, 40000)), "alice", "wonderland"); res.StatusCode != 404 {
		t.Fatalf("got %d, want 404", res.StatusCode)
	}
	if !strings.Contains(ce.log.String(), "Call from 'alice' (127.0.0.1:") || !strings.Contains(ce.log.String(), "to extension '999' rejected because extension not found in context 'from-alice'.") {
		t.Error("no NOTICE for the unknown extension")
	}
	ce.clean(t)
}

// TestSippRefusals: real sipp calls that go wrong: CANCEL while ringing (487), a wrong
// password (401, 403 and the NOTICE), a malformed SDP (488), a BYE in no dialog (481).
func TestSippRefusals(t *testing.T) {
	sippPath(t)
	ce := newCallEnv(t, callConf, ringForever)
	media := func() string { return strconv.Itoa(freePort(t) &^ 1) }
	runSipp(t, ce.addr, "call-cancel.xml", "-m", "1", "-s", "200", "-au", "alice", "-ap", "wonderland", "-mp", media())
	ce.clean(t)
	runSipp(t, ce.addr, "call-wrong.xml", "-m", "1", "-s", "200", "-au", "alice", "-ap", "nope", "-mp", media())
	if l := ce.log.String(); !strings.Contains(l, "Failed to authenticate device") || !strings.Contains(l, "<sip:alice@127.0.0.1>;tag=") {
		t.Error("no NOTICE for the wrong password")
	}
	runSipp(t, ce.addr, "call-badsdp.xml", "-m", "1", "-s", "200", "-au", "alice", "-ap", "wonderland", "-mp", media())
	runSipp(t, ce.addr, "bye-unknown.xml", "-m", "1", "-s", "200")
	ce.clean(t)
}

// TestFinishedCallIsNotKept: sipgo keeps an answered INVITE's server transaction for 64·T1
// (RFC 6026's Timer L, 32 s); a call that has ended (its channel, media session, messages) is
// not kept with it, or 1,000 calls/s would hold 32,000 finished calls in the heap.
func TestFinishedCallIsNotKept(t *testing.T) {
	var weakCh atomic.Pointer[weak.Pointer[channel.Channel]]
	ce := newCallEnv(t, callConf, func(_ *callEnv, ch *channel.Channel) {
		w := weak.Make(ch)
		weakCh.Store(&w)
		if err := ch.Answer(context.Background()); err != nil {
			return
		}
		<-ch.Done()
	})
	ph := newPhone(t, ce.addr)
	inv := ph.invite("alice", "200", fmt.Sprintf(offerPCMU, 40000))
	res := ph.DoAuth(inv, "alice", "wonderland")
	if res.StatusCode != 200 {
		t.Fatalf("INVITE: %d", res.StatusCode)
	}
	ph.ack(t, inv, res)
	if r := ph.do(ph.inDialog(sip.BYE, inv, res, inv.CSeq().SeqNo+1)); r.StatusCode != 200 {
		t.Fatalf("BYE: %d", r.StatusCode)
	}
	ce.clean(t)
	w := weakCh.Load()
	waitFor(t, 5*time.Second, "the finished call's channel collected", func() bool {
		runtime.GC()
		return w.Value() == nil
	})
}
