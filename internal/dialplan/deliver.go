package dialplan

import (
	"context"
	"errors"
	"strconv"

	"github.com/pleiades-pbx/pleiades/internal/channel"
)

// Deliverer returns what a channel technology calls for an incoming leg that goes straight to
// dest (a dial string such as "SIP/bob") without the dialplan, on the call's own goroutine:
// another cluster member's call for a phone registered here (see internal/sip's "Calls across
// servers"). It runs DeliverChannel with the engine's context, which Close cancels and waits
// for.
func (e *Engine) Deliverer() func(leg *channel.Channel, dest string) {
	return func(leg *channel.Channel, dest string) {
		e.bg.Add(1)
		defer e.bg.Done()
		e.DeliverChannel(e.base, leg, dest)
	}
}

// DeliverChannel runs Dial(dest) on an incoming leg, as if the leg's dialplan had one
// priority "Dial(dest)": no extension is looked up, the "h" extension does not run. Ringing,
// answer, the bridge and hangup causes are app_dial's; the leg is hung up with the cause of
// a failed Dial (HANGUPCAUSE), or the far end's, when it ends. It owns the leg while it runs.
func (e *Engine) DeliverChannel(ctx context.Context, leg *channel.Channel, dest string) error {
	done, err := e.admit(1)
	if err != nil {
		leg.Hangup(channel.CauseCongestion)
		return err
	}
	defer done()
	snap := leg.Snapshot()
	ch, runCtx, release := e.attachLeg(ctx, leg, snap.Context, snap.Exten, 1)
	defer release()
	ch.verbosef(3, "Delivering '%s' to %s (a call from another cluster member)", leg.Name(), dest)
	leg.SetApplication("Dial", dest)
	runErr := appDial(runCtx, ch, dest)
	if st, _ := ch.Var("DIALSTATUS"); st != "" && st != "ANSWER" && ch.endCause == 0 {
		if v, ok := ch.Var("HANGUPCAUSE"); !ok || v == "" {
			ch.endCause = dialStatusCause(st)
		}
	}
	cause := e.legCause(ch)
	ch.SetVar("HANGUPCAUSE", strconv.Itoa(int(cause)))
	leg.Hangup(cause)
	if errors.Is(runErr, ErrHangup) {
		runErr = nil
	}
	return runErr
}

// dialStatusCause is the hangup cause that tells the caller's server why a delivered call
// failed, so that its own Dial sets the same DIALSTATUS.
func dialStatusCause(status string) channel.Cause {
	switch status {
	case "BUSY":
		return channel.CauseUserBusy
	case "NOANSWER":
		return channel.CauseNoAnswer
	case "CONGESTION":
		return channel.CauseCongestion
	case "CHANUNAVAIL":
		return channel.CauseSubscriberAbsent
	}
	return channel.CauseNormalClearing
}
