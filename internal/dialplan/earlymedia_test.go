package dialplan

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/channel"
	"github.com/pleiades-pbx/pleiades/internal/channel/channeltest"
)

// A single callee's progress is passed to the caller and its early media relayed to the
// caller (and the caller's to it) before the answer, as app_dial forwards a single callee's
// audio; the relay is taken down before the answer's bridge, which then relays as usual.
// With r (ringback) nothing is relayed before the answer.
func TestDialEarlyMedia(t *testing.T) {
	for _, tc := range []struct {
		data  string
		early bool
	}{{"SIP/bob", true}, {"SIP/bob,,r", false}} {
		t.Run(tc.data, func(t *testing.T) {
			env := newLegEnv(t, "[c]\nexten => 1,1,Dial("+tc.data+")\n", true)
			answer := make(chan struct{})
			env.drv.Peers["bob"] = func(t *channeltest.Tech) { t.Progress(); <-answer; t.AnswerFar() }
			leg, tech, done := env.call(t, "c", "1", nil)
			waitFor(t, "bob called", func() bool { b := env.drv.Techs("bob"); return len(b) == 1 && b[0].Calls() == 1 })
			bob := env.drv.Techs("bob")[0]
			if tc.early {
				waitFor(t, "progress passed on", func() bool { return slices.Contains(tech.Indications(), channel.CondProgress) })
			}
			time.Sleep(50 * time.Millisecond)
			bob.Phone.Send(10, 2*time.Millisecond)
			tech.Phone.Send(10, 2*time.Millisecond)
			if tc.early {
				waitFor(t, "early media both ways", func() bool { return tech.Phone.Received() >= 8 && bob.Phone.Received() >= 8 })
			} else {
				time.Sleep(300 * time.Millisecond)
				if n, m := tech.Phone.Received(), bob.Phone.Received(); n != 0 || m != 0 {
					t.Fatalf("with r: %d and %d packets relayed before the answer", n, m)
				}
			}
			if leg.State() == channel.Up {
				t.Fatal("caller answered before the callee")
			}
			close(answer)
			waitFor(t, "the bridge", func() bool { return leg.Bridge() != nil })
			before := tech.Phone.Received()
			bob.Phone.Send(10, 2*time.Millisecond)
			waitFor(t, "media after the answer", func() bool { return tech.Phone.Received() >= before+8 })
			tech.HangUpFar(channel.CauseNormalClearing)
			waitDone(t, done)
			bob.WaitHangup(5 * time.Second)
		})
	}
}

// RingLegs (app_queue's ringing) passes no early media: the caller hears the queue's own
// music meanwhile, as app_queue's wait_for_answer forwards no callee audio.
func TestRingLegsNoEarlyMedia(t *testing.T) {
	env := newLegEnv(t, "[c]\nexten => 1,1,RingOne()\n", true)
	env.e.RegisterApp(&App{Name: "RingOne", Exec: func(ctx context.Context, ch *Channel, _ string) error {
		if res := ch.RingLegs(ctx, []string{"SIP/bob"}, RingOptions{}); res.Answered != nil {
			res.Answered.Hangup(channel.CauseNormalClearing)
		}
		return nil
	}})
	answer := make(chan struct{})
	env.drv.Peers["bob"] = func(t *channeltest.Tech) { t.Progress(); <-answer; t.AnswerFar() }
	_, tech, done := env.call(t, "c", "1", nil)
	waitFor(t, "bob called", func() bool { b := env.drv.Techs("bob"); return len(b) == 1 && b[0].Calls() == 1 })
	bob := env.drv.Techs("bob")[0]
	time.Sleep(50 * time.Millisecond)
	bob.Phone.Send(10, 2*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	if n := tech.Phone.Received(); n != 0 {
		t.Fatalf("%d packets of bob's early media reached the caller through RingLegs", n)
	}
	close(answer)
	waitDone(t, done)
	bob.WaitHangup(5 * time.Second)
}
