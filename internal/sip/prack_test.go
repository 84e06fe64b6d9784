package sip

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/pleiades-pbx/pleiades/internal/channel"
)

// TestReliableProgress: a phone that supports 100rel gets the 183 (with SDP) reliably —
// Require: 100rel, RSeq — retransmitted until its PRACK; the 200 waits for the PRACK; a PRACK
// with a wrong RAck gets 481, a retransmitted good one 200 again. A 180 to a phone that only
// supports 100rel stays unreliable.
func TestReliableProgress(t *testing.T) {
	ce := newCallEnv(t, callConf, func(_ *callEnv, ch *channel.Channel) {
		_ = ch.Indicate(channel.CondRinging)
		_ = ch.Indicate(channel.CondProgress)
		_ = ch.Answer(context.Background())
		<-ch.Done()
	})
	ph := newPhone(t, ce.addr)
	inv := ph.invite("alice", "200", fmt.Sprintf(offerPCMU, 40000))
	inv.AppendHeader(sip.NewHeader("Supported", "100rel, timer"))
	tx, first := ph.inviteTx(t, inv, "alice", "wonderland")
	var p183 *sip.Response
	copies, ringing := 0, 0
	take := func(r *sip.Response) {
		switch {
		case r.StatusCode == 180:
			ringing++
			if r.GetHeader("RSeq") != nil {
				t.Errorf("180 with RSeq: only the 183 goes reliably to a phone that supports 100rel")
			}
		case r.StatusCode == 183:
			p183 = r
			copies++
		case r.StatusCode >= 200:
			t.Fatalf("%d before the PRACK", r.StatusCode)
		}
	}
	// 180 and 183 may come in either order (sipgo reads datagrams concurrently)
	take(first)
	deadline := time.After(1800 * time.Millisecond) // T1 and 2·T1: two retransmissions
	for done := false; !done; {
		select {
		case r := <-tx.Responses():
			take(r)
		case <-deadline:
			done = true
		}
	}
	if ringing == 0 {
		t.Error("no 180")
	}
	if p183 == nil || !requires(p183, "100rel") || p183.GetHeader("RSeq") == nil || len(p183.Body()) == 0 {
		t.Fatalf("183: %v", p183)
	}
	if copies < 2 {
		t.Errorf("183 received %d times in 1.8 s before the PRACK, want it retransmitted", copies)
	}
	rseq := p183.GetHeader("RSeq").Value()
	prack := func(rack string, seq uint32) *sip.Response {
		r := ph.inDialog(sip.PRACK, inv, p183, seq)
		r.AppendHeader(sip.NewHeader("RAck", rack))
		return ph.do(r)
	}
	cseq := strconv.FormatUint(uint64(inv.CSeq().SeqNo), 10)
	if r := prack("999999 "+cseq+" INVITE", inv.CSeq().SeqNo+1); r.StatusCode != 481 {
		t.Errorf("PRACK with a wrong RSeq: %d, want 481", r.StatusCode)
	}
	if r := prack(rseq+" "+cseq+" INVITE", inv.CSeq().SeqNo+2); r.StatusCode != 200 {
		t.Fatalf("PRACK: %d", r.StatusCode)
	}
	var ok *sip.Response
	for ok == nil {
		select {
		case r := <-tx.Responses():
			if r.StatusCode == 200 {
				ok = r
			}
		case <-time.After(3 * time.Second):
			t.Fatal("no 200 after the PRACK")
		}
	}
	ph.ack(t, inv, ok)
	if r := prack(rseq+" "+cseq+" INVITE", inv.CSeq().SeqNo+3); r.StatusCode != 200 {
		t.Errorf("PRACK again: %d, want 200", r.StatusCode)
	}
	for _, c := range ce.s.allCalls() {
		if c.ch != nil {
			c.ch.RequestHangup(channel.CauseNormalClearing)
		}
	}
	ce.clean(t)
}

// TestOutgoingReliableProvisional: Dial(SIP/bob) offers 100rel (Supported in the INVITE);
// bob's reliable 180 (RSeq 7) and 183 with SDP (RSeq 8) are PRACKed once each with the right
// RAck, in bob's early dialog; the 180 sent again (a retransmission) and a 183 with RSeq 10
// (out of order) are neither PRACKed nor processed; bob's 200 then answers the call.
func TestOutgoingReliableProvisional(t *testing.T) {
	ce := newCallEnv(t, dialConf, dialBob)
	var supported string
	var racks []string
	var prackErr string
	bobDone := make(chan struct{}) // the fields above are read once bob is done
	bob := newUAS(t, func(u *uas, req *sip.Request, tx sip.ServerTransaction) {
		defer close(bobDone)
		if h := req.GetHeader("Supported"); h != nil {
			supported = h.Value()
		}
		cseq := req.CSeq().SeqNo
		toTag := "bobtag"
		reliable := func(code int, reason string, rseq int, body []byte) *sip.Response {
			res := sip.NewResponseFromRequest(req, code, reason, body)
			res.To().Params.Add("tag", toTag)
			res.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "bob", Host: "127.0.0.1", Port: u.port}})
			res.AppendHeader(sip.NewHeader("Require", "100rel"))
			res.AppendHeader(sip.NewHeader("RSeq", strconv.Itoa(rseq)))
			if body != nil {
				res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
			}
			return res
		}
		waitPrack := func(want string) {
			select {
			case p := <-u.pracks:
				rack := ""
				if h := p.GetHeader("RAck"); h != nil {
					rack = h.Value()
				}
				racks = append(racks, rack)
				if tag, _ := p.To().Params.Get("tag"); tag != toTag {
					prackErr += fmt.Sprintf("PRACK To tag %q; ", tag)
				}
				if rack != want {
					prackErr += fmt.Sprintf("RAck %q, want %q; ", rack, want)
				}
			case <-time.After(3 * time.Second):
				prackErr += "no PRACK for RAck " + want + "; "
			}
		}
		noPrack := func() {
			select {
			case p := <-u.pracks:
				prackErr += "PRACK for a retransmitted or out-of-order 18x: " + p.GetHeader("RAck").Value() + "; "
			case <-time.After(400 * time.Millisecond):
			}
		}
		r180 := reliable(180, "Ringing", 7, nil)
		_ = tx.Respond(r180)
		waitPrack(fmt.Sprintf("7 %d INVITE", cseq))
		_ = tx.Respond(r180) // a retransmission
		noPrack()
		_ = tx.Respond(reliable(183, "Session Progress", 8, []byte(fmt.Sprintf(answerSDP, 41000))))
		waitPrack(fmt.Sprintf("8 %d INVITE", cseq))
		_ = tx.Respond(reliable(183, "Session Progress", 10, []byte(fmt.Sprintf(answerSDP, 41000))))
		noPrack()
		res := sip.NewResponseFromRequest(req, 200, "OK", []byte(fmt.Sprintf(answerSDP, 41000)))
		res.To().Params.Add("tag", toTag)
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		res.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "bob", Host: "127.0.0.1", Port: u.port}})
		_ = tx.Respond(res)
	})
	bob.pracks = make(chan *sip.Request, 8)
	bob.register(ce.addr, "bob", "builder")
	ph := newPhone(t, ce.addr)
	inv := ph.invite("alice", "200", fmt.Sprintf(offerPCMU, 40000))
	tx, res := ph.inviteTx(t, inv, "alice", "wonderland")
	for res.StatusCode < 200 {
		select {
		case res = <-tx.Responses():
		case <-time.After(10 * time.Second):
			t.Fatal("no 200")
		}
	}
	tx.Terminate()
	if res.StatusCode != 200 {
		t.Fatalf("alice got %d", res.StatusCode)
	}
	ph.ack(t, inv, res)
	<-bobDone
	if prackErr != "" {
		t.Error(prackErr)
	}
	if !strings.Contains(supported, "100rel") {
		t.Errorf("INVITE to bob: Supported %q, want 100rel offered", supported)
	}
	if len(racks) != 2 {
		t.Errorf("PRACKs: %q, want two", racks)
	}
	dups := -1
	for _, c := range ce.s.allCalls() {
		c.mu.Lock()
		if c.outgoing {
			dups = c.rel.dups
		}
		c.mu.Unlock()
	}
	if dups != 2 {
		t.Errorf("reliable 18x ignored: %d, want 2 (the retransmitted 180, the 183 out of order)", dups)
	}
	ce.s.hangupAll()
	ce.clean(t)
}

// TestOutgoingPrackAfter422: the INVITE sent again after a 422 is a new initial request
// (RFC 3262 4): its reliable 180, with the RSeq and To tag the first INVITE's had, is
// PRACKed again with the new INVITE's CSeq.
func TestOutgoingPrackAfter422(t *testing.T) {
	ce := newCallEnv(t, baseConf+"session-timers=originate\n[alice]\ntype=friend\nhost=dynamic\nsecret=wonderland\ncontext=from-alice\n[bob]\ntype=friend\nhost=dynamic\nsecret=builder\n", nil)
	var mu sync.Mutex // the two INVITEs' handlers may overlap
	var racks []string
	bobDone := make(chan struct{}, 2)
	bob := newUAS(t, func(u *uas, req *sip.Request, tx sip.ServerTransaction) {
		defer func() { bobDone <- struct{}{} }()
		r180 := sip.NewResponseFromRequest(req, 180, "Ringing", nil)
		r180.To().Params.Add("tag", "bobtag")
		r180.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "bob", Host: "127.0.0.1", Port: u.port}})
		r180.AppendHeader(sip.NewHeader("Require", "100rel"))
		r180.AppendHeader(sip.NewHeader("RSeq", "1"))
		_ = tx.Respond(r180)
		select {
		case p := <-u.pracks:
			mu.Lock()
			racks = append(racks, p.GetHeader("RAck").Value()+" / "+strconv.Itoa(int(req.CSeq().SeqNo)))
			mu.Unlock()
		case <-time.After(2 * time.Second):
		}
		if u.invites.Load() == 1 {
			res := sip.NewResponseFromRequest(req, 422, "Session Interval Too Small", nil)
			res.To().Params.Add("tag", "bobtag")
			res.AppendHeader(sip.NewHeader("Min-SE", "1900"))
			_ = tx.Respond(res)
			return
		}
		res := sip.NewResponseFromRequest(req, 200, "OK", []byte(fmt.Sprintf(offerPCMU, 41008)))
		res.To().Params.Add("tag", "bobtag")
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		res.AppendHeader(sip.NewHeader("Session-Expires", "1900;refresher=uac"))
		res.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "bob", Host: "127.0.0.1", Port: u.port}})
		_ = tx.Respond(res)
	})
	bob.pracks = make(chan *sip.Request, 4)
	bob.register(ce.addr, "bob", "builder")
	alice := newUAS(t, ring)
	if _, res := timerCall(t, ce, alice); res.StatusCode != 200 {
		t.Fatalf("alice's call: %v", res)
	}
	<-bobDone
	<-bobDone
	mu.Lock()
	defer mu.Unlock()
	if len(racks) != 2 {
		t.Fatalf("PRACKs (RAck / INVITE CSeq): %q, want one per INVITE", racks)
	}
	for _, r := range racks {
		rack, cseq, _ := strings.Cut(r, " / ")
		if rack != "1 "+cseq+" INVITE" {
			t.Errorf("RAck %q for the INVITE with CSeq %s", rack, cseq)
		}
	}
	ce.s.hangupAll()
	ce.clean(t)
}
