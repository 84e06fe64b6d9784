package sip

import (
	"fmt"
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
	ua := newRawUA(t, ce.addr, "accepted-1@test")
	invite := ua.msg("INVITE", "z9hG4bK-acc-1", "", 1, fmt.Sprintf(offerPCMU, 40010))
	ua.send(invite)
	tag := ua.waitOK(5 * time.Second)
	// past sipgo's transaction (it would have absorbed the copy itself), well within 64·T1
	time.Sleep(acceptedLinger + 700*time.Millisecond)
	ua.send(invite)
	waitFor(t, 2*time.Second, "the retransmitted INVITE absorbed", func() bool { return ce.s.Stats().Absorbed == 1 })
	// the only answers now are the call's own 200 OK retransmissions (no ACK yet), same tag
	for {
		st, tt, ok := ua.read(300 * time.Millisecond)
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
	ua.send(ua.msg("CANCEL", "z9hG4bK-acc-1", "", 1, ""))
	if st := ua.answerTo("1 CANCEL", 3*time.Second); !strings.HasPrefix(st, "SIP/2.0 481") {
		t.Fatalf("CANCEL after the transaction's end: %q, want 481", st)
	}
	ua.send(ua.msg("ACK", "z9hG4bK-acc-2", tag, 1, ""))
	ua.send(ua.msg("BYE", "z9hG4bK-acc-3", tag, 2, ""))
	if st := ua.answerTo("2 BYE", 5*time.Second); st != "SIP/2.0 200 OK" {
		t.Fatalf("BYE: %q", st)
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

// len is how many keys the set holds (both generations).
func (a *acceptedSet) len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.cur) + len(a.prev)
}
