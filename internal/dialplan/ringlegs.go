package dialplan

import (
	"context"
	"log/slog"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/channel"
)

// RingResult is how RingLegs ended.
type RingResult struct {
	// Status is what Dial() would set as DIALSTATUS: ANSWER, NOANSWER, BUSY, CONGESTION,
	// CHANUNAVAIL or CANCEL (the caller hung up, or ctx ended).
	Status string
	// Answered is the leg that answered (Status ANSWER), nil otherwise; the other legs were
	// cancelled with ANSWERED_ELSEWHERE.
	Answered *channel.Channel
	// Index is the position in dests of the destination that answered, -1 for none.
	Index int
}

// RingLegs rings dests ("SIP/alice") the way Dial() does (app_dial's machinery, for
// applications that ring like it: app_queue): each is requested through the channel registry
// and called, DialBegin/DialEnd are published, the first answer wins and the others are
// cancelled; timeout 0 rings until every leg ended or the caller hung up. ringback indicates
// ringing to the caller at once. It neither answers the caller nor bridges: BridgeLeg does.
// DIALEDPEERNAME/DIALEDPEERNUMBER and HANGUPCAUSE are set as Dial sets them.
func (ch *Channel) RingLegs(ctx context.Context, dests []string, timeout time.Duration, ringback bool) RingResult {
	ch.ResetSteps()
	status, peer, _ := ch.dialOut(ctx, dests, timeout, dialOptions{ringback: ringback})
	res := RingResult{Status: status, Answered: peer, Index: -1}
	if peer != nil {
		num, _ := ch.Var("DIALEDPEERNUMBER")
		for i, d := range dests {
			if _, n, _ := cutTech(d); n == num {
				res.Index = i
				break
			}
		}
	}
	return res
}

func cutTech(d string) (tech, number string, ok bool) {
	for i := 0; i < len(d); i++ {
		if d[i] == '/' {
			return d[:i], d[i+1:], true
		}
	}
	return d, "", false
}

// BridgeLeg answers the caller and bridges it with peer (a leg RingLegs returned) until one
// hangs up, as Dial() does after an answer. It returns callerFirst true when the caller (or
// ctx) ended the call, false when peer hung up first. goOn false returns ErrHangup when the
// peer hangs up (the dialplan ends); true returns nil so the dialplan continues (Dial's g).
func (ch *Channel) BridgeLeg(ctx context.Context, peer *channel.Channel, goOn bool) (peerFirst bool, err error) {
	err = ch.bridgePeer(ctx, peer, dialOptions{goOn: goOn})
	// bridgePeer hangs the peer up when the caller ends the call, and leaves the caller up
	// when the peer ended it.
	if ch.leg == nil {
		return ctx.Err() == nil, err
	}
	return !legDone(ch.leg) && ctx.Err() == nil, err
}

func legDone(l *channel.Channel) bool {
	select {
	case <-l.Done():
		return true
	default:
		return false
	}
}

// IndicateRinging sends ringing to the caller's leg (no-op without a leg or once it hung up).
func (ch *Channel) IndicateRinging() {
	if ch.leg != nil {
		indicateRinging(ch.leg)
	}
}

// Logf logs a line about the channel as the dialplan's own applications do.
func (ch *Channel) Logf(level slog.Level, format string, args ...any) {
	ch.logf(level, format, args...)
}

// Verbosef logs a verbose-level line about the channel ("    -- ...").
func (ch *Channel) Verbosef(level int, format string, args ...any) {
	ch.verbosef(level, format, args...)
}
