package dialplan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/callerid"
	"github.com/pleiades-pbx/pleiades/internal/channel"
	"github.com/pleiades-pbx/pleiades/internal/logesc"
)

// originateLeg is Originate to a channel technology of the registry ("SIP/alice"), as
// Asterisk's pbx_outgoing does: the leg is requested and called; when it answers within
// o.Timeout the application runs on it, or the dialplan at o.Exten@o.Context (then it is a
// call like an incoming one, hung up with its cause at the end); a busy, congested,
// unanswered or failed leg is hung up and o.Dialled says why.
func (e *Engine) originateLeg(ctx context.Context, o Originate) (name, uniqueID string, err error) {
	reg := e.Channels()
	if reg == nil {
		return "", "", fmt.Errorf("%w: unable to request channel %s: no channel technologies", ErrOriginate, o.Channel)
	}
	if o.App != "" && o.InhibitEscalations {
		if err := e.CheckExternal(o.App, o.Data); err != nil {
			return "", "", fmt.Errorf("%w: %w", ErrOriginate, err)
		}
	}
	if e.calls.refuse.Load() {
		return "", "", fmt.Errorf("%w: %w", ErrOriginate, ErrRefused)
	}
	leg, err := reg.Request(ctx, o.Channel, nil)
	if err != nil {
		c := channel.CauseOf(err)
		return "", "", fmt.Errorf("%w: unable to request channel %s: %s (cause %d)", ErrOriginate, o.Channel, c, int(c))
	}
	done, err := e.admit(1)
	if err != nil {
		leg.Hangup(channel.CauseCongestion)
		return "", "", fmt.Errorf("%w: %w", ErrOriginate, err)
	}
	if o.CallerID != "" {
		nm, num := callerid.Split(o.CallerID)
		leg.SetCallerID(num, nm)
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = DefaultOriginateTimeout
	}
	report := func(r DialResult) {
		if o.Dialled != nil {
			o.Dialled(r)
		}
	}
	if t := leg.Tech(); t != nil {
		if err := t.Call(ctx); err != nil {
			done()
			c := channel.CauseOf(err)
			leg.Hangup(c)
			report(dialResultOfCause(c))
			return "", "", fmt.Errorf("%w: unable to call %s: %v", ErrOriginate, o.Channel, err)
		}
	}
	e.bg.Add(1)
	go func() {
		defer e.bg.Done()
		defer done()
		r := waitAnswer(e.base, leg, timeout)
		report(r)
		if r != DialAnswered {
			return
		}
		ch := NewChannel(leg.Name(), "", "", 1)
		ch.engine = e
		ch.UniqueID = leg.UniqueID()
		ch.leg = leg
		for k, v := range o.Vars {
			ch.SetVar(k, v)
		}
		if o.App != "" && o.InhibitEscalations {
			ch.InhibitEscalations()
		}
		e.addLeg(ch)
		defer e.removeLeg(ch)
		runCtx, cancel := context.WithCancel(e.base)
		defer cancel()
		go func() {
			select {
			case <-leg.Done():
				cancel()
			case <-runCtx.Done():
			}
		}()
		if o.App != "" {
			app := ch.LookupApp(o.App)
			if app == nil {
				ch.logf(slog.LevelWarn, "No such application '%s'", o.App)
			} else {
				ch.verbosef(4, "Launching %s(%s) on %s", app.Name, logesc.Escape(o.Data), ch.Name)
				leg.SetApplication(app.Name, o.Data)
				if err := ch.ExecApp(runCtx, app, o.Data); err != nil && !errors.Is(err, ErrHangup) {
					ch.logf(slog.LevelError, "%s(%s) on %s failed: %v", app.Name, o.Data, ch.Name, err)
				}
			}
			leg.Hangup(e.legCause(ch))
			return
		}
		ch.Context, ch.Exten, ch.Priority = o.Context, o.Exten, o.Priority
		if ch.Context == "" {
			ch.Context = "default"
		}
		if ch.Exten == "" {
			ch.Exten = "s"
		}
		if ch.Priority <= 0 {
			ch.Priority = 1
		}
		e.Run(runCtx, ch)
		ch.SetVar("HANGUPCAUSE", fmt.Sprint(int(e.legCause(ch))))
		e.runHangupExten(e.base, ch)
		leg.Hangup(e.legCause(ch))
	}()
	return leg.Name(), leg.UniqueID(), nil
}

// dialResultOfCause is the originate reason of a leg that ended with cause unanswered.
func dialResultOfCause(c channel.Cause) DialResult {
	switch c {
	case channel.CauseUserBusy:
		return DialBusy
	case channel.CauseCongestion, channel.CauseSwitchCongestion:
		return DialCongestion
	case channel.CauseNoAnswer, channel.CauseNoUserResponse:
		return DialNoAnswer
	}
	return DialFailed
}

// waitAnswer waits for an originated leg's answer and hangs it up when it does not come.
func waitAnswer(ctx context.Context, leg *channel.Channel, timeout time.Duration) DialResult {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			leg.Hangup(channel.CauseNormalClearing)
			return DialFailed
		case <-t.C:
			leg.Hangup(channel.CauseNoAnswer)
			return DialNoAnswer
		case <-leg.Done():
			c := leg.Cause()
			leg.Hangup(c)
			return dialResultOfCause(c)
		case f := <-leg.Frames():
			switch f.Kind {
			case channel.FrameAnswer:
				return DialAnswered
			case channel.FrameBusy:
				leg.Hangup(channel.CauseUserBusy)
				return DialBusy
			case channel.FrameCongestion:
				leg.Hangup(channel.CauseCongestion)
				return DialCongestion
			}
		}
	}
}

// isLocal reports whether an originate's channel is a Local one (the engine's own).
func isLocal(dest string) bool {
	tech, _, _ := strings.Cut(dest, "/")
	return strings.EqualFold(tech, "Local")
}
