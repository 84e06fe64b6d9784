package sip

import (
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/channel"
)

// TestRetransmittedInviteAfterAnswer: an INVITE retransmitted after its 200 OK, once sipgo
// has let its transaction go (acceptedLinger), is dropped unparsed (RFC 6026's Accepted
// state, accepted.go): no second channel, no answer of its own, counted in Stats.Absorbed.
// The answered call goes on; its ACK and BYE end it and nothing is left.
func TestRetransmittedInviteAfterAnswer(t *testing.T) {
	var calls atomic.Int32
	ce := newCallEnv(t, baseConf+"[alice]\ntype=friend\nhost=dynamic\nsecret=x\ninsecure=invite\ncontext=c\n",
		func(ce *callEnv, ch *channel.Channel) { calls.Add(1); echoAnswer(ce, ch) })
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	srv, err := net.ResolveUDPAddr("udp", ce.addr)
	if err != nil {
		t.Fatal(err)
	}
	me := conn.LocalAddr().String()
	sdp := fmt.Sprintf(offerPCMU, 40010)
	msg := func(method, branch, toTag string, cseq int, body string) []byte {
		to := "<sip:300@" + ce.addr + ">"
		if toTag != "" {
			to += ";tag=" + toTag
		}
		ct := ""
		if body != "" {
			ct = "Content-Type: application/sdp\r\n"
		}
		return fmt.Appendf(nil, "%s sip:300@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=%s;rport\r\nMax-Forwards: 70\r\n"+
			"From: <sip:alice@%s>;tag=a1\r\nTo: %s\r\nCall-ID: accepted-1@test\r\nCSeq: %d %s\r\nContact: <sip:alice@%s>\r\n%s"+
			"Content-Length: %d\r\n\r\n%s", method, ce.addr, me, branch, ce.addr, to, cseq, method, me, ct, len(body), body)
	}
	send := func(b []byte) {
		t.Helper()
		if _, err := conn.WriteTo(b, srv); err != nil {
			t.Fatal(err)
		}
	}
	// read returns the status line and To tag of the next response (ok=false after d), and
	// sets lastCSeq to its CSeq
	var lastCSeq string
	read := func(d time.Duration) (status, toTag string, ok bool) {
		buf := make([]byte, 65535)
		_ = conn.SetReadDeadline(time.Now().Add(d))
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			return "", "", false
		}
		b := buf[:n]
		status, _, _ = strings.Cut(string(b), "\r\n")
		for _, l := range strings.Split(string(b), "\r\n") {
			if v, ok := strings.CutPrefix(l, "To: "); ok {
				_, toTag, _ = strings.Cut(v, ";tag=")
			}
			if v, ok := strings.CutPrefix(l, "CSeq: "); ok {
				lastCSeq = v
			}
		}
		return status, toTag, true
	}
	invite := msg("INVITE", "z9hG4bK-acc-1", "", 1, sdp)
	send(invite)
	var tag string
	for deadline := time.Now().Add(5 * time.Second); tag == ""; {
		st, tt, ok := read(time.Until(deadline))
		if !ok {
			t.Fatal("no 200 OK to the INVITE")
		}
		if strings.HasPrefix(st, "SIP/2.0 200") {
			tag = tt
		}
	}
	// past sipgo's transaction (it would have absorbed the copy itself), well within 64·T1
	time.Sleep(acceptedLinger + 700*time.Millisecond)
	send(invite)
	waitFor(t, 2*time.Second, "the retransmitted INVITE absorbed", func() bool { return ce.s.Stats().Absorbed == 1 })
	// the only answers now are the call's own 200 OK retransmissions (no ACK yet), same tag
	for {
		st, tt, ok := read(300 * time.Millisecond)
		if !ok {
			break
		}
		if !strings.HasPrefix(st, "SIP/2.0 200") || tt != tag {
			t.Fatalf("after the retransmitted INVITE: %q (To tag %q, the call's is %q)", st, tt, tag)
		}
	}
	if n := calls.Load(); n != 1 || ce.reg.Count() != 1 {
		t.Fatalf("%d calls handled, %d channels up; want 1 and 1", n, ce.reg.Count())
	}
	// sipgo's transaction is gone (its memory with it): a CANCEL of the INVITE finds none
	// and gets 481 (sipgo answers 200 to one that matches a transaction it still holds)
	send(msg("CANCEL", "z9hG4bK-acc-1", "", 1, ""))
	for deadline := time.Now().Add(3 * time.Second); ; {
		st, _, ok := read(time.Until(deadline))
		if !ok {
			t.Fatal("no answer to the CANCEL")
		}
		if lastCSeq == "1 INVITE" {
			continue // the INVITE's 200 OK, resent until the ACK
		}
		if !strings.HasPrefix(st, "SIP/2.0 481") || lastCSeq != "1 CANCEL" {
			t.Fatalf("CANCEL after the transaction's end: %q (CSeq %s), want 481", st, lastCSeq)
		}
		break
	}
	send(msg("ACK", "z9hG4bK-acc-2", tag, 1, ""))
	send(msg("BYE", "z9hG4bK-acc-3", tag, 2, ""))
	for deadline := time.Now().Add(5 * time.Second); ; {
		st, _, ok := read(time.Until(deadline))
		if !ok {
			t.Fatal("no answer to BYE")
		}
		if lastCSeq == "2 BYE" {
			if st != "SIP/2.0 200 OK" {
				t.Fatalf("BYE: %q", st)
			}
			break
		}
	}
	ce.clean(t)
	if calls.Load() != 1 {
		t.Fatalf("%d calls handled, want 1", calls.Load())
	}
}

// TestAcceptedSetGenerations: a key is kept for one to two generations (64·T1 each), then
// forgotten; other keys are not reported.
func TestAcceptedSetGenerations(t *testing.T) {
	a := newAcceptedSet()
	t0 := a.started
	k1, k2 := []byte("branch-1"), []byte("branch-2")
	a.add(k1, t0)
	if !a.has(k1) || a.has(k2) {
		t.Fatal("fresh set: wrong membership")
	}
	a.add(k2, t0.Add(a.age)) // a new generation: k1 in the old one
	if !a.has(k1) || !a.has(k2) {
		t.Fatal("one generation later: k1 or k2 forgotten")
	}
	a.add([]byte("branch-3"), t0.Add(2*a.age)) // k1's generation dropped
	if a.has(k1) || !a.has(k2) || a.len() != 2 {
		t.Fatalf("two generations later: k1 %v, k2 %v, %d keys", a.has(k1), a.has(k2), a.len())
	}
}
