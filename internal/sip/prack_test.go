package sip

import (
	"context"
	"fmt"
	"strconv"
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
		r := ph.newReq(sip.PRACK, "alice", "200")
		r.RemoveHeader("From")
		r.AppendHeader(sip.HeaderClone(inv.From()))
		r.RemoveHeader("To")
		r.AppendHeader(sip.HeaderClone(p183.To()))
		r.RemoveHeader("Call-ID")
		r.AppendHeader(sip.HeaderClone(inv.CallID()))
		r.RemoveHeader("CSeq")
		r.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: sip.PRACK})
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
