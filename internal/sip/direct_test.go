package sip

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/pleiades-pbx/pleiades/internal/channel"
)

// reinvites records the re-INVITE bodies a test phone got and answers them with its own SDP.
type reinvites struct {
	mu     sync.Mutex
	bodies []string
}

func (r *reinvites) add(b []byte) {
	r.mu.Lock()
	r.bodies = append(r.bodies, string(b))
	r.mu.Unlock()
}

func (r *reinvites) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.bodies...)
}

// mediaOf is the "c= ip" and m=audio port of an SDP body.
func mediaOf(body string) string {
	var ip, port string
	for _, l := range strings.Split(body, "\r\n") {
		if v, ok := strings.CutPrefix(l, "c=IN IP4 "); ok {
			ip = v
		}
		if v, ok := strings.CutPrefix(l, "m=audio "); ok {
			port, _, _ = strings.Cut(v, " ")
		}
	}
	return ip + ":" + port
}

// phoneAnswering answers every INVITE (first or re-INVITE) with its PCMU SDP at rtpPort and
// records the re-INVITEs.
func phoneAnswering(rtpPort int, rec *reinvites, user string) func(u *uas, req *sip.Request, tx sip.ServerTransaction) {
	return func(u *uas, req *sip.Request, tx sip.ServerTransaction) {
		if tag, _ := req.To().Params.Get("tag"); tag != "" {
			rec.add(req.Body())
		} else {
			_ = tx.Respond(sip.NewResponseFromRequest(req, 180, "Ringing", nil))
		}
		res := sip.NewResponseFromRequest(req, 200, "OK", []byte(fmt.Sprintf(offerPCMU, rtpPort)))
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		res.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: "127.0.0.1", Port: u.port}})
		_ = tx.Respond(res)
	}
}

const directConf = baseConf + "[alice]\ntype=friend\nhost=dynamic\nsecret=wonderland\ncontext=from-alice\ndirectmedia=yes\n" +
	"[bob]\ntype=friend\nhost=dynamic\nsecret=builder\ncanreinvite=yes\n" +
	"[carol]\ntype=friend\nhost=dynamic\nsecret=carol\ndirectmedia=yes\ndirectmediadeny=0.0.0.0/0\ndirectmediapermit=10.0.0.0/8\n"

// TestDirectMedia: alice (directmedia=yes) calls bob (canreinvite=yes) through Dial: once
// bridged, each gets a re-INVITE whose SDP is the other's media (alice's c=/m= is bob's
// 127.0.0.1:41000, bob's alice's 127.0.0.1:40000), and the relay stops. alice puts the call
// on hold: both are re-INVITEd back to Pleiades' ports (music on hold can reach bob);
// unhold: direct again. A peer whose directmediadeny refuses the other's address stays
// relayed.
func TestDirectMedia(t *testing.T) {
	ce := newCallEnv(t, directConf, nil)
	var aliceRe, bobRe reinvites
	bob := newUAS(t, phoneAnswering(41000, &bobRe, "bob"))
	bob.register(ce.addr, "bob", "builder")
	alice := newUAS(t, phoneAnswering(40000, &aliceRe, "alice"))
	alice.register(ce.addr, "alice", "wonderland")
	inv, res := timerCall(t, ce, alice)
	if res.StatusCode != 200 {
		t.Fatalf("alice's call: %v", res)
	}
	waitFor(t, 5*time.Second, "a re-INVITE to each leg", func() bool { return len(aliceRe.list()) == 1 && len(bobRe.list()) == 1 })
	if got := mediaOf(aliceRe.list()[0]); got != "127.0.0.1:41000" {
		t.Errorf("alice's re-INVITE points at %s, want bob's 127.0.0.1:41000:\n%s", got, aliceRe.list()[0])
	}
	if got := mediaOf(bobRe.list()[0]); got != "127.0.0.1:40000" {
		t.Errorf("bob's re-INVITE points at %s, want alice's 127.0.0.1:40000:\n%s", got, bobRe.list()[0])
	}
	if !strings.Contains(aliceRe.list()[0], "PCMU/8000") || strings.Contains(aliceRe.list()[0], "PCMA") {
		t.Errorf("alice's re-INVITE must offer bob's codec only:\n%s", aliceRe.list()[0])
	}
	waitFor(t, 2*time.Second, "the relay stopped", func() bool {
		for _, c := range ce.s.allCalls() {
			if c.ms.Stats().Bridged {
				return false
			}
		}
		return true
	})

	// hold and unhold from alice
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hold := strings.Replace(fmt.Sprintf(offerPCMU, 40000), "a=rtpmap:0", "a=sendonly\r\na=rtpmap:0", 1)
	re := inDlg(ce, inv, res, sip.INVITE, inv.CSeq().SeqNo+1)
	re.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	re.SetBody([]byte(hold))
	if r, err := alice.cl.Do(ctx, re); err != nil || r.StatusCode != 200 {
		t.Fatalf("hold: %v %v", r, err)
	}
	_ = alice.cl.WriteRequest(inDlg(ce, inv, res, sip.ACK, inv.CSeq().SeqNo+1))
	waitFor(t, 5*time.Second, "both back to Pleiades on hold", func() bool { return len(aliceRe.list()) == 2 && len(bobRe.list()) == 2 })
	for name, b := range map[string]string{"alice": aliceRe.list()[1], "bob": bobRe.list()[1]} {
		if m := mediaOf(b); !strings.HasPrefix(m, "127.0.0.1:44") {
			t.Errorf("%s on hold: media %s, want Pleiades' port (44xxx)", name, m)
		}
	}
	waitFor(t, 2*time.Second, "SIP/alice ONHOLD", func() bool { return ce.ds.get("SIP/alice") == "ONHOLD" })
	// Our re-INVITE to alice may still be in its transaction: alice's unhold then gets 491
	// and, as RFC 3261 §14.1 has a UAC do, she tries again a moment later.
	seq := inv.CSeq().SeqNo + 2
	for try := 0; ; try++ {
		unhold := inDlg(ce, inv, res, sip.INVITE, seq)
		unhold.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		unhold.SetBody([]byte(fmt.Sprintf(offerPCMU, 40000)))
		r, err := alice.cl.Do(ctx, unhold)
		if err == nil && r.StatusCode == 491 && try < 5 {
			seq++
			time.Sleep(200 * time.Millisecond)
			continue
		}
		if err != nil || r.StatusCode != 200 {
			t.Fatalf("unhold: %v %v", r, err)
		}
		break
	}
	_ = alice.cl.WriteRequest(inDlg(ce, inv, res, sip.ACK, seq))
	waitFor(t, 5*time.Second, "direct again after unhold", func() bool { return len(aliceRe.list()) == 3 && len(bobRe.list()) == 3 })
	if got := mediaOf(bobRe.list()[2]); got != "127.0.0.1:40000" {
		t.Errorf("bob after unhold: %s", got)
	}
	for _, c := range ce.s.allCalls() {
		if c.ch != nil {
			c.ch.RequestHangup(channel.CauseNormalClearing)
		}
	}
	ce.clean(t)

	// carol's directmediadeny refuses alice's address: relayed, no re-INVITE
	var carolRe reinvites
	ce2 := newCallEnv(t, directConf, func(ce *callEnv, ch *channel.Channel) { dialPeer(ce, ch, "SIP/carol") })
	carol := newUAS(t, phoneAnswering(41002, &carolRe, "carol"))
	carol.register(ce2.addr, "carol", "carol")
	var alice2Re reinvites
	alice2 := newUAS(t, phoneAnswering(40002, &alice2Re, "alice"))
	if _, res := timerCall(t, ce2, alice2); res.StatusCode != 200 {
		t.Fatalf("alice's call to carol: %v", res)
	}
	time.Sleep(500 * time.Millisecond)
	if len(carolRe.list())+len(alice2Re.list()) != 0 {
		t.Errorf("re-INVITEs although carol's directmediadeny refuses: %q %q", carolRe.list(), alice2Re.list())
	}
	// both legs relayed (the bridge may still be forming under load: wait for it)
	waitFor(t, 5*time.Second, "both legs relayed", func() bool {
		calls := ce2.s.allCalls()
		for _, c := range calls {
			if !c.ms.Stats().Bridged {
				return false
			}
		}
		return len(calls) == 2
	})
	for _, c := range ce2.s.allCalls() {
		if c.ch != nil {
			c.ch.RequestHangup(channel.CauseNormalClearing)
		}
	}
	ce2.clean(t)
}

// TestParseDirectMedia: directmedia=/canreinvite= values as chan_sip takes them.
func TestParseDirectMedia(t *testing.T) {
	for v, want := range map[string]directMode{"yes": directYes, "no": directNo, "nonat": directNoNAT, "update": directYes,
		"outgoing": directYes, "yes,update": directYes, "update,nonat": directNoNAT, "true": directYes, "0": directNo} {
		if got, ok := parseDirectMedia(v); !ok || got != want {
			t.Errorf("%q: %v %v, want %v", v, got, ok, want)
		}
	}
	if _, ok := parseDirectMedia("sometimes"); ok {
		t.Error("sometimes accepted")
	}
}

// TestShowPeerSessionAndDirect: "sip show peer" shows the peer's session timers and
// directmedia with chan_sip's labels.
func TestShowPeerSessionAndDirect(t *testing.T) {
	ce := newCallEnv(t, directConf+"session-timers=originate\nsession-refresher=uac\nsession-expires=600\n", nil)
	out := ce.cli("sip show peer carol")
	for _, want := range []string{"  Sess-Timers  : Originate\n", "  Sess-Refresh : uac\n", "  Sess-Expires : 600 secs\n", "  Min-Sess     : 90 secs\n", "  Direct media : Yes\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("sip show peer carol lacks %q:\n%s", want, out)
		}
	}
	if out := ce.cli("sip show peer alice"); !strings.Contains(out, "  Sess-Timers  : Accept\n") || !strings.Contains(out, "  Direct media : Yes\n") {
		t.Errorf("sip show peer alice:\n%s", out)
	}
}

// TestDirectMediaRefresh: a direct leg whose session Pleiades refreshes (alice asked for a
// 2 s session with refresher=uas and does not allow UPDATE) gets refresh re-INVITEs that
// keep offering bob's media, not Pleiades' ports.
func TestDirectMediaRefresh(t *testing.T) {
	shortTimers(t)
	ce := newCallEnv(t, strings.Replace(directConf, baseConf, baseConf+"session-minse=2\n", 1), nil)
	var aliceRe, bobRe reinvites
	bob := newUAS(t, phoneAnswering(41004, &bobRe, "bob"))
	bob.register(ce.addr, "bob", "builder")
	alice := newUAS(t, phoneAnswering(40004, &aliceRe, "alice"))
	if _, res := timerCall(t, ce, alice, "Supported: timer", "Session-Expires: 2;refresher=uas"); res.StatusCode != 200 {
		t.Fatalf("alice's call: %v", res)
	}
	waitFor(t, 5*time.Second, "direct, then two refreshes of alice", func() bool { return len(aliceRe.list()) >= 3 })
	for i, b := range aliceRe.list() {
		if got := mediaOf(b); got != "127.0.0.1:41004" {
			t.Errorf("alice's re-INVITE %d points at %s, want bob's 127.0.0.1:41004", i, got)
		}
	}
	for _, c := range ce.s.allCalls() {
		if c.ch != nil {
			c.ch.RequestHangup(channel.CauseNormalClearing)
		}
	}
	ce.clean(t)
}
