package sip

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/pleiades-pbx/pleiades/internal/channel"
	"github.com/pleiades-pbx/pleiades/internal/media"
)

// callEnv is a server with calls enabled.
type callEnv struct {
	*env
	reg *channel.Registry
	eng *media.Engine

	mu   sync.Mutex
	legs []*media.Session // the media sessions the handler saw, to read their stats after the call
}

const callConf = baseConf + "[alice]\ntype=friend\nhost=dynamic\nsecret=wonderland\ncontext=from-alice\ncall-limit=1\n" +
	"[bob]\ntype=friend\nhost=dynamic\nsecret=builder\n"

// newCallEnv starts a server whose calls run handler (nil: the Dial handler to SIP/bob).
func newCallEnv(t testing.TB, conf string, handler func(ce *callEnv, ch *channel.Channel)) *callEnv {
	t.Helper()
	ce := &callEnv{reg: channel.NewRegistry(nil)}
	cfg := media.DefaultConfig()
	cfg.RTPStart, cfg.RTPEnd = 44000, 44400
	ce.eng = media.NewEngine(cfg, nil)
	t.Cleanup(func() { ce.eng.Close() })
	if handler == nil {
		handler = dialBob
	}
	ce.env = newEnvWith(t, conf, false, func(s *Server) {
		s.SetCalls(ce.reg, ce.eng, func(ch *channel.Channel) { handler(ce, ch) })
	})
	return ce
}

func (ce *callEnv) keep(ms *media.Session) {
	ce.mu.Lock()
	ce.legs = append(ce.legs, ms)
	ce.mu.Unlock()
}

// echoAnswer is handler (a): answer and echo the caller's audio until it hangs up.
func echoAnswer(ce *callEnv, ch *channel.Channel) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-ch.Done(); cancel() }()
	_ = ch.Indicate(channel.CondRinging)
	if err := ch.Answer(ctx); err != nil {
		return
	}
	ce.keep(ch.Media())
	_, _ = ch.Media().Echo(ctx, "")
}

// ringForever rings until the caller goes away.
func ringForever(_ *callEnv, ch *channel.Channel) {
	_ = ch.Indicate(channel.CondRinging)
	<-ch.Done()
}

// dialBob is handler (b): Dial(SIP/bob) through the SIP driver, ringing passed back, both
// legs bridged once bob answers; the cause of the leg that ends first ends the other.
func dialBob(ce *callEnv, ch *channel.Channel) { dialPeer(ce, ch, "SIP/bob") }

// dialPeer is dialBob to dest.
func dialPeer(ce *callEnv, ch *channel.Channel, dest string) {
	ctx := context.Background()
	out, err := ce.reg.Request(ctx, dest, ch)
	if err != nil {
		ch.Hangup(channel.CauseOf(err))
		return
	}
	if err := out.Tech().Call(ctx); err != nil {
		out.Hangup(channel.CauseOf(err))
		ch.Hangup(channel.CauseOf(err))
		return
	}
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case <-ch.Done():
			out.Hangup(channel.CauseNormalClearing)
			ch.Hangup(ch.Cause())
			return
		case <-out.Done():
			cause := out.Cause()
			out.Hangup(cause)
			ch.Hangup(cause)
			return
		case <-timeout.C:
			out.Hangup(channel.CauseNoAnswer)
			ch.Hangup(channel.CauseNoAnswer)
			return
		case f := <-out.Frames():
			switch f.Kind {
			case channel.FrameRinging:
				_ = ch.Indicate(channel.CondRinging)
			case channel.FrameAnswer:
				if err := ch.Answer(ctx); err != nil {
					out.Hangup(channel.CauseNormalClearing)
					return
				}
				ce.keep(ch.Media())
				ce.keep(out.Media())
				first, _ := ce.reg.NewBridge(ch, out).Run(ctx)
				cause := channel.CauseNormalClearing
				if first != nil {
					cause = first.Cause()
				}
				out.Hangup(cause)
				ch.Hangup(cause)
				return
			}
		}
	}
}

// clean checks that nothing of the calls is left: channels, dialogs, RTP ports, counters.
func (ce *callEnv) clean(t testing.TB) {
	t.Helper()
	waitFor(t, 5*time.Second, "channels, dialogs and ports released", func() bool {
		return ce.reg.Count() == 0 && len(ce.s.allCalls()) == 0 && ce.eng.Stats().PortsInUse == 0
	})
	for _, p := range ce.s.allPeers() {
		p.mu.Lock()
		n := p.inUse + p.inRinging + p.onHold
		p.mu.Unlock()
		if n != 0 {
			t.Errorf("peer %s: counters not back to 0", p.name)
		}
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// deviceHist returns the states SIP/<peer> went through, in order.
func (ce *callEnv) deviceHist(dev string) []string {
	ce.ds.mu.Lock()
	defer ce.ds.mu.Unlock()
	var out []string
	for _, h := range ce.ds.hist {
		if st, ok := strings.CutPrefix(h, dev+"="); ok {
			out = append(out, st)
		}
	}
	return out
}

// TestSippCallDialBridged is the whole path with real sipp peers: bob (sipp UAS, registered)
// and alice (sipp UAC, digest on INVITE) calls 200; Dial(SIP/bob) rings bob (180 back to
// alice), bob answers, the legs are bridged and RTP from alice's pcap reaches bob and bob's
// echo comes back through the relay; alice's BYE ends both legs. SIP/bob goes RINGING →
// INUSE → NOT_INUSE and nothing is left.
func TestSippCallDialBridged(t *testing.T) {
	sippPath(t)
	ce := newCallEnv(t, callConf, dialBob)
	bobPort, bobMedia, aliceMedia := freePort(t), freePort(t)&^1, freePort(t)&^1
	runSippCSV(t, ce.addr, "register.xml", "users-bob.csv", "-m", "1", "-p", strconv.Itoa(bobPort))
	waitFor(t, 2*time.Second, "bob registered", func() bool { return ce.ds.get("SIP/bob") == "NOT_INUSE" })
	bobDone := make(chan struct{})
	go func() {
		defer close(bobDone)
		runSipp(t, ce.addr, "call-bob.xml", "-m", "1", "-p", strconv.Itoa(bobPort), "-mp", strconv.Itoa(bobMedia), "-rtp_echo")
	}()
	time.Sleep(300 * time.Millisecond) // bob's sipp listening
	duringC := make(chan string, 1)
	go func() {
		deadline := time.Now().Add(10 * time.Second)
		for len(ce.s.allCalls()) < 2 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		duringC <- ce.cli("sip show channels")
	}()
	runSipp(t, ce.addr, "call-alice.xml", "-m", "1", "-s", "200", "-au", "alice", "-ap", "wonderland", "-mp", strconv.Itoa(aliceMedia))
	select {
	case <-bobDone:
	case <-time.After(20 * time.Second):
		t.Fatal("bob's sipp did not finish")
	}
	ce.clean(t)
	during := <-duringC
	if !strings.Contains(during, "2 active SIP dialogs") || !strings.Contains(during, "(alaw)") {
		t.Errorf("sip show channels during the call:\n%s", during)
	}
	hist := strings.Join(ce.deviceHist("SIP/bob"), " ")
	if !strings.Contains(hist, "RINGING INUSE NOT_INUSE") {
		t.Errorf("SIP/bob states: %s", hist)
	}
	ce.mu.Lock()
	legs := ce.legs
	ce.mu.Unlock()
	if len(legs) != 2 {
		t.Fatalf("%d legs bridged", len(legs))
	}
	for i, ms := range legs {
		st := ms.Stats()
		t.Logf("leg %d: rx %d tx %d relayed %d", i, st.RxPackets, st.TxPackets, st.Relayed)
		if st.RxPackets == 0 || st.TxPackets == 0 {
			t.Errorf("leg %d: RTP did not flow both ways: %+v", i, st)
		}
	}
}

// ---- the same with a Go phone, for the refusals ----

const offerPCMU = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"

func (ph *phone) invite(user, exten, body string) *sip.Request {
	req := ph.newReq(sip.INVITE, user, exten)
	if body != "" {
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody([]byte(body))
	}
	return req
}

func TestCallWrongPassword(t *testing.T) {
	ce := newCallEnv(t, callConf, echoAnswer)
	ph := newPhone(t, ce.addr)
	res := ph.DoAuth(ph.invite("alice", "200", fmt.Sprintf(offerPCMU, 40000)), "alice", "wrong")
	if res.StatusCode != 403 {
		t.Fatalf("wrong password: %d", res.StatusCode)
	}
	if !strings.Contains(ce.log.String(), "Failed to authenticate device") || !strings.Contains(ce.log.String(), "wrong password") {
		t.Errorf("no NOTICE line for the failed call:\n%s", tail(ce.log.String(), 2000))
	}
	// an unknown caller: challenged, then refused alike (alwaysauthreject)
	res = ph.DoAuth(ph.invite("mallory", "200", fmt.Sprintf(offerPCMU, 40000)), "mallory", "x")
	if res.StatusCode != 403 {
		t.Fatalf("unknown caller: %d", res.StatusCode)
	}
	ce.clean(t)
}

func TestCallBadInput(t *testing.T) {
	ce := newCallEnv(t, callConf, echoAnswer)
	ph := newPhone(t, ce.addr)
	for name, body := range map[string]string{
		"malformed": "v=0\r\no=broken\r\nm=audio notaport RTP/AVP x\r\n",
		"no common": "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 3\r\na=rtpmap:3 GSM/8000\r\n",
		"no audio":  "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video 4000 RTP/AVP 96\r\n",
	} {
		res := ph.DoAuth(ph.invite("alice", "200", body), "alice", "wonderland")
		if res.StatusCode != 488 {
			t.Errorf("%s: %d, want 488", name, res.StatusCode)
		}
	}
	// requests for dialogs that do not exist
	for _, m := range []sip.RequestMethod{sip.BYE, sip.INVITE} {
		req := ph.newReq(m, "alice", "200")
		req.To().Params.Add("tag", "nosuchtag")
		if res := ph.do(req); res.StatusCode != 481 {
			t.Errorf("%s in no dialog: %d, want 481", m, res.StatusCode)
		}
	}
	ce.clean(t)
}

// inviteTx sends an authenticated INVITE and returns its transaction once it got a
// provisional response other than 100 (or its final response).
func (ph *phone) inviteTx(t *testing.T, req *sip.Request, user, pass string) (sip.ClientTransaction, *sip.Response) {
	t.Helper()
	res := ph.do(req)
	if res.StatusCode == 401 {
		authorize(t, req, res, user, pass, 1)
		nextReq(req)
	} else {
		t.Fatalf("INVITE: %d, want 401", res.StatusCode)
	}
	tx, err := ph.Client.TransactionRequest(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case r := <-tx.Responses():
			if r.StatusCode == 100 {
				continue
			}
			return tx, r
		case <-time.After(5 * time.Second):
			t.Fatal("no response to INVITE")
		}
	}
}

// TestCallCancel: the caller cancels while it rings: 200 to the CANCEL, 487 to the INVITE,
// the channel hangs up, alice's device is back to NOT_INUSE.
func TestCallCancel(t *testing.T) {
	ce := newCallEnv(t, callConf, ringForever)
	ph := newPhone(t, ce.addr)
	if res := ph.register("alice", "wonderland", 300); res.StatusCode != 200 {
		t.Fatal(res.StatusCode)
	}
	inv := ph.invite("alice", "200", fmt.Sprintf(offerPCMU, 40000))
	tx, res := ph.inviteTx(t, inv, "alice", "wonderland")
	if res.StatusCode != 180 {
		t.Fatalf("got %d, want 180", res.StatusCode)
	}
	waitFor(t, 2*time.Second, "a channel", func() bool { return ce.reg.Count() == 1 })
	if got := ce.reg.List()[0].Name(); !strings.HasPrefix(got, "SIP/alice-") {
		t.Errorf("channel name %q", got)
	}
	if snap := ce.reg.List()[0].Snapshot(); snap.Context != "from-alice" || snap.Exten != "200" {
		t.Errorf("channel location %s,%s", snap.Context, snap.Exten)
	}
	cancel := sip.NewRequest(sip.CANCEL, *inv.Recipient.Clone())
	cancel.AppendHeader(inv.Via().Clone())
	for _, n := range []string{"From", "To", "Call-ID"} {
		cancel.AppendHeader(sip.HeaderClone(inv.GetHeader(n)))
	}
	cancel.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sip.CANCEL})
	if res := ph.do(cancel); res.StatusCode != 200 {
		t.Fatalf("CANCEL: %d", res.StatusCode)
	}
	for final := false; !final; {
		select {
		case r := <-tx.Responses():
			if r.StatusCode < 200 {
				continue
			}
			final = true
			if r.StatusCode != 487 {
				t.Fatalf("INVITE after CANCEL: %d, want 487", r.StatusCode)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no 487")
		}
	}
	tx.Terminate()
	ce.clean(t)
	if h := strings.Join(ce.deviceHist("SIP/alice"), " "); !strings.HasSuffix(h, "BUSY NOT_INUSE") {
		t.Errorf("SIP/alice states: %s", h)
	}
}

// TestCallBusyAtCallLimit: alice (call-limit=1) in a call gets 486 for a second one; a
// refused Dial to an unregistered bob gives SUBSCRIBER_ABSENT, 480 to the caller.
func TestCallBusyAtCallLimit(t *testing.T) {
	ce := newCallEnv(t, callConf, ringForever)
	ph := newPhone(t, ce.addr)
	tx, res := ph.inviteTx(t, ph.invite("alice", "200", fmt.Sprintf(offerPCMU, 40000)), "alice", "wonderland")
	if res.StatusCode != 180 {
		t.Fatalf("first call: %d", res.StatusCode)
	}
	defer tx.Terminate()
	res = ph.DoAuth(ph.invite("alice", "201", fmt.Sprintf(offerPCMU, 40002)), "alice", "wonderland")
	if res.StatusCode != 486 {
		t.Fatalf("second call: %d, want 486", res.StatusCode)
	}
	if !strings.Contains(ce.cli("sip show inuse"), "1/0/0") {
		t.Errorf("sip show inuse:\n%s", ce.cli("sip show inuse"))
	}
	ce.s.hangupAll()
	ce.clean(t)
}

// TestCallDialUnregistered: Dial(SIP/bob) with bob not registered: cause 20, and the caller
// gets 480 (chan_sip's hangup_cause2sip).
func TestCallDialUnregistered(t *testing.T) {
	ce := newCallEnv(t, callConf, dialBob)
	ph := newPhone(t, ce.addr)
	res := ph.DoAuth(ph.invite("alice", "200", fmt.Sprintf(offerPCMU, 40000)), "alice", "wonderland")
	if res.StatusCode != 480 {
		t.Fatalf("got %d, want 480", res.StatusCode)
	}
	ce.clean(t)
}

// TestCauseStatusTable is chan_sip's hangup_cause2sip, cause by cause (every case of its
// switch, and causes it has no case for: 603 Declined, sip_hangup's fallback — which is
// what a caller gets after Dial(...) ends NOANSWER and the dialplan hangs up with
// NORMAL_CLEARING), and hangup_sip2cause for the other direction.
func TestCauseStatusTable(t *testing.T) {
	for _, tc := range []struct {
		cause channel.Cause
		want  int
	}{
		{channel.CauseUnallocated, 404}, {2, 404}, {channel.CauseNoRouteDestination, 404},
		{channel.CauseCongestion, 503}, {channel.CauseSwitchCongestion, 503},
		{channel.CauseNoUserResponse, 408},
		{channel.CauseNoAnswer, 480}, {channel.CauseSubscriberAbsent, 480}, {channel.CauseNormalUnspecified, 480},
		{channel.CauseCallRejected, 403}, {channel.CauseNumberChanged, 410},
		{channel.CauseInvalidNumberFormat, 484}, {channel.CauseUserBusy, 486},
		{channel.CauseNetworkOutOfOrder, 500}, // AST_CAUSE_FAILURE
		{channel.CauseFacilityRejected, 501},
		{66, 503}, // CHANNEL_NOT_IMPLEMENTED
		{channel.CauseDestinationOutOfOrder, 502}, {channel.CauseBearerCapabilityNotAvail, 488},
		// no case in hangup_cause2sip: 603 Declined
		{channel.CauseNormalClearing, 603}, {channel.CauseAnsweredElsewhere, 603}, {channel.CauseTemporaryFailure, 603},
		{channel.CauseChannelUnavailable, 603}, {channel.CauseInterworking, 603}, {channel.CauseRecoveryOnTimerExpire, 603}, {0, 603},
	} {
		if got, _ := causeStatus(tc.cause); got != tc.want {
			t.Errorf("%d %s: %d, want %d", int(tc.cause), tc.cause.Name(), got, tc.want)
		}
	}
	for code, want := range map[int]channel.Cause{404: channel.CauseUnallocated, 486: channel.CauseUserBusy,
		600: channel.CauseUserBusy, 480: channel.CauseNoAnswer, 503: channel.CauseCongestion, 408: channel.CauseNoUserResponse, 599: channel.CauseCongestion,
		603: channel.CauseCallRejected, 403: channel.CauseCallRejected, 410: channel.CauseNumberChanged, 484: channel.CauseInvalidNumberFormat,
		488: channel.CauseBearerCapabilityNotAvail, 501: channel.CauseFacilityRejected, 502: channel.CauseDestinationOutOfOrder,
		504: channel.CauseRecoveryOnTimerExpire, 420: channel.CauseNoRouteDestination, 404 + 200: channel.CauseUnallocated} {
		if got := statusCause(code); got != want {
			t.Errorf("%d: %s, want %s", code, got.Name(), want.Name())
		}
	}
}

// FuzzInviteSDP: whatever body an INVITE carries, the server answers it (488 for an offer it
// cannot take, 404 from the handler for one it can) and keeps no channel, dialog or port.
func FuzzInviteSDP(f *testing.F) {
	for _, seed := range []string{
		fmt.Sprintf(offerPCMU, 40000),
		"v=0\r\no=broken\r\nm=audio notaport RTP/AVP x\r\n",
		"v=0\r\nc=IN IP4 0.0.0.0\r\nm=audio 4000 RTP/AVP 0 8\r\na=inactive\r\n",
		"v=0\r\nm=audio 1 RTP/AVP 0\r\nc=IN IP6 ::1\r\n",
		"",
	} {
		f.Add(seed)
	}
	ce := newCallEnv(f, baseConf+"[alice]\ntype=friend\nhost=dynamic\ninsecure=invite\n", func(_ *callEnv, ch *channel.Channel) {
		ch.Hangup(channel.CauseUnallocated)
	})
	ph := newPhone(f, ce.addr)
	f.Fuzz(func(t *testing.T, body string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res, err := ph.Client.Do(ctx, ph.invite("alice", "200", body))
		if err != nil {
			t.Fatal(err)
		}
		switch res.StatusCode {
		case 404, 488:
		default:
			t.Fatalf("%d for\n%q", res.StatusCode, body)
		}
		ce.clean(t)
	})
}

// TestDeviceStateFromCounters is chan_sip's sip_devicestate over the per-peer counters.
func TestDeviceStateFromCounters(t *testing.T) {
	for _, c := range []struct {
		limit, busy, inUse, ringing, hold int
		want                              string
	}{
		{0, 0, 0, 0, 0, "NOT_INUSE"},
		{0, 0, 1, 1, 0, "RINGING"},
		{0, 0, 2, 1, 0, "RINGINUSE"},
		{0, 0, 1, 0, 0, "INUSE"},
		{0, 0, 2, 1, 1, "ONHOLD"},
		{2, 0, 2, 0, 0, "BUSY"},
		{3, 0, 2, 0, 0, "INUSE"},
		{0, 2, 2, 0, 0, "BUSY"},
		{1, 0, 1, 1, 0, "RINGING"},
	} {
		p := newPeer(nil, &peerConfig{name: "x", callLimit: c.limit, busyLevel: c.busy})
		p.addr = netip.MustParseAddrPort("127.0.0.1:5060")
		p.inUse, p.inRinging, p.onHold = c.inUse, c.ringing, c.hold
		if got := p.deviceStateLocked().String(); got != c.want {
			t.Errorf("%+v: %s", c, got)
		}
	}
}

// TestAnsweredCallNeverAcked: a caller that never ACKs our 200 OK gets it resent for 64·T1,
// then a BYE at once (RFC 3261 13.3.1.4), and the dialog, channel and ports are gone then —
// not after another 64·T1 of waiting for the ACK (under overload, calls.sh found hundreds of
// dialogs left more than a minute after the last call).
func TestAnsweredCallNeverAcked(t *testing.T) {
	ce := newCallEnv(t, baseConf+"[alice]\ntype=friend\nhost=dynamic\nsecret=x\ninsecure=invite\ncontext=c\n", echoAnswer)
	ua := newRawUA(t, ce.addr, "noack-1@test")
	ua.send(ua.msg("INVITE", "z9hG4bK-noack-1", "", 1, fmt.Sprintf(offerPCMU, 40020)))
	t0 := time.Now()
	tag := ua.waitOK(5 * time.Second)
	limit := 64*sip.T1 + 5*time.Second
	for {
		st, _, ok := ua.read(time.Until(t0.Add(limit)))
		if !ok {
			t.Fatalf("no BYE within %s of the 200 OK", limit)
		}
		if strings.HasPrefix(st, "BYE ") {
			break
		}
	}
	if d := time.Since(t0); d < 64*sip.T1-2*time.Second {
		t.Fatalf("BYE after %s, before the 200 OK's 64·T1 of retransmissions", d)
	}
	ua.send(ua.reply(200, "OK"))
	ce.clean(t)
	if tag == "" {
		t.Error("the 200 OK had no To tag")
	}
}
