package dialplan

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/channel"
)

// DialResult is how the dial of an originated channel ended: Asterisk's originate reason
// (the AST_CONTROL_* value main/pbx.c's pbx_dial_reason gives), which AMI's
// OriginateResponse carries as Reason.
type DialResult int

// The dial results an originated Local channel can have.
const (
	// DialFailed: the far end ended (hung up, fell off its dialplan) without answering, or
	// the call could not be placed (Asterisk: 0).
	DialFailed DialResult = 0
	// DialNoAnswer: the timeout passed before an answer (AST_CONTROL_RINGING, 3).
	DialNoAnswer DialResult = 3
	// DialAnswered: the far end answered (AST_CONTROL_ANSWER, 4).
	DialAnswered DialResult = 4
	// DialBusy: the far end ran Busy() (AST_CONTROL_BUSY, 5).
	DialBusy DialResult = 5
	// DialCongestion: the far end ran Congestion() (AST_CONTROL_CONGESTION, 8).
	DialCongestion DialResult = 8
)

func (r DialResult) String() string {
	switch r {
	case DialFailed:
		return "failed"
	case DialNoAnswer:
		return "no answer"
	case DialAnswered:
		return "answered"
	case DialBusy:
		return "busy"
	case DialCongestion:
		return "congestion"
	}
	return "reason " + strconv.Itoa(int(r))
}

// DefaultOriginateTimeout is how long an originated channel's far end has to answer when
// Originate.Timeout is 0 (Asterisk's CLI and AMI default, 30 s).
const DefaultOriginateTimeout = 30 * time.Second

// dialWatch is the dial of an originated Local channel waiting for its ;2 half: the first
// outcome reported wins, later ones are ignored.
type dialWatch struct {
	done atomic.Bool
	fn   func(DialResult)
}

// report tells the dial's outcome, once; a nil watch (a channel nobody dials) ignores it.
func (d *dialWatch) report(r DialResult) {
	if d == nil || !d.done.CompareAndSwap(false, true) {
		return
	}
	d.fn(r)
}

func init() {
	for _, a := range []*App{
		{Name: "Busy", Synopsis: "Indicate the Busy condition", Exec: func(ctx context.Context, ch *Channel, data string) error {
			if ch.leg != nil {
				return legFailure(ctx, ch, data, channel.CondBusy, channel.CauseUserBusy)
			}
			return indicateFailure(ctx, ch, data, DialBusy, "17")
		}},
		{Name: "Congestion", Synopsis: "Indicate the Congestion condition", Exec: func(ctx context.Context, ch *Channel, data string) error {
			if ch.leg != nil {
				return legFailure(ctx, ch, data, channel.CondCongestion, channel.CauseCongestion)
			}
			return indicateFailure(ctx, ch, data, DialCongestion, "34")
		}},
		{Name: "Ringing", Synopsis: "Indicate ringing tone", Exec: appRinging},
	} {
		builtins.apps.put(a.Name, a)
	}
}

// answer marks the channel up and tells its dial (Answer()).
func (ch *Channel) answer() {
	ch.mu.Lock()
	ch.state = "Up"
	d := ch.dial
	ch.mu.Unlock()
	d.report(DialAnswered)
}

// indicateFailure is Busy([timeout]) and Congestion([timeout]): a channel not yet answered
// becomes Busy with HANGUPCAUSE 17 (busy) or 34 (congestion) and its dial ends with result;
// then the call ends, after timeout seconds when given (or when hung up earlier). Without a
// timeout Asterisk waits for the caller to hang up, which the dial of an originate does at
// once; channels here have no caller that could, so the call ends at once.
func indicateFailure(ctx context.Context, ch *Channel, data string, result DialResult, cause string) error {
	ch.mu.Lock()
	up := ch.state == "Up"
	d := ch.dial
	if !up {
		ch.state = "Busy"
	}
	ch.mu.Unlock()
	if !up {
		ch.SetVar("HANGUPCAUSE", cause)
		d.report(result)
	}
	secs, err := strconv.ParseFloat(strings.TrimSpace(data), 64)
	if err != nil || secs <= 0 {
		return ErrHangup
	}
	ch.ResetSteps()
	t := time.NewTimer(time.Duration(secs * float64(time.Second)))
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	return ErrHangup
}

// appRinging is Ringing(): a channel not yet answered is Ringing (its dial goes on waiting).
func appRinging(ctx context.Context, ch *Channel, data string) error {
	if ch.leg != nil {
		indicateRinging(ch.leg)
		return nil
	}
	ch.mu.Lock()
	if ch.state != "Up" {
		ch.state = "Ringing"
	}
	ch.mu.Unlock()
	return nil
}
