package dialplan

import (
	"context"
	"errors"
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

// RingOptions are RingLegs' options.
type RingOptions struct {
	// Timeout is how long the legs ring (0: until every leg ended or the caller hung up).
	Timeout time.Duration
	// Ringback indicates ringing to the caller at once (Dial's r).
	Ringback bool
	// OnLeg, when set, is told of each outgoing leg made, before it is called (i: the
	// destination's index in dests), on the caller's goroutine.
	OnLeg func(i int, leg *channel.Channel)
}

// RingLegs rings dests ("SIP/alice") the way Dial() does (app_dial's machinery, for
// applications that ring like it: app_queue): each is requested through the channel registry
// and called, DialBegin/DialEnd are published, the first answer wins and the others are
// cancelled. It neither answers the caller nor bridges: BridgeLeg does.
// DIALEDPEERNAME/DIALEDPEERNUMBER and HANGUPCAUSE are set as Dial sets them.
func (ch *Channel) RingLegs(ctx context.Context, dests []string, o RingOptions) RingResult {
	ch.ResetSteps()
	legs := make([]*channel.Channel, len(dests))
	onLeg := func(i int, leg *channel.Channel) {
		legs[i] = leg
		if o.OnLeg != nil {
			o.OnLeg(i, leg)
		}
	}
	status, peer, _ := ch.dialOut(ctx, dests, o.Timeout, dialOptions{ringback: o.Ringback, onLeg: onLeg})
	res := RingResult{Status: status, Answered: peer, Index: -1}
	for i, l := range legs {
		if peer != nil && l == peer {
			res.Index = i
		}
	}
	return res
}

// BridgeLeg answers the caller and bridges it with peer (a leg RingLegs returned) until one
// hangs up, as Dial() does after an answer. peerFirst is true when the peer hung up first,
// false when the caller (or ctx) ended the call. With goOn false the error is ErrHangup when
// the peer hangs up (the dialplan ends); with true it is nil so the dialplan continues
// (Dial's g).
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

// PlayFiles plays sound files to the caller's leg one after the other, as Playback(f1&f2,
// noanswer) would (a queue's announcements): each is logged at verbose 3 and found in the
// sounds directory; the first error is returned after trying every file (ctx ending stops
// at once). Without a leg it only checks that the files exist.
func (ch *Channel) PlayFiles(ctx context.Context, files ...string) error {
	var first error
	for _, f := range files {
		ch.verbosef(3, "<%s> Playing '%s' (language '%s')", ch.Name, f, ch.language())
		if err := ch.playOne(ctx, f); err != nil {
			if first == nil {
				first = err
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	return first
}

// PlayFilesToLeg plays sound files to leg (one RingLegs returned, before BridgeLeg), one
// after the other, in the leg's language, as app_queue plays the member's announcements
// (announce, reportholdtime): each is logged at verbose 3; the first error is returned after
// trying every file (ctx ending stops at once).
func (ch *Channel) PlayFilesToLeg(ctx context.Context, leg *channel.Channel, files ...string) error {
	dir := ""
	if ch.engine != nil {
		dir = ch.engine.SoundsDir()
	}
	lang := leg.Snapshot().Language
	if lang == "" {
		lang = "en"
	}
	s := leg.Media()
	if s == nil {
		return errors.New("no media")
	}
	var first error
	for _, f := range files {
		ch.verbosef(3, "<%s> Playing '%s' (language '%s')", leg.Name(), f, lang)
		if _, err := s.PlayFile(ctx, dir, lang, f, ""); err != nil {
			if first == nil {
				first = err
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	return first
}
