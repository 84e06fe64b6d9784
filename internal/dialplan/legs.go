package dialplan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/pleiades-pbx/pleiades/internal/channel"
)

// legs is what the engine knows of real call legs: the server's channel registry (Dial
// requests through it), the sounds directory (Playback, Read), and the dialplan channels
// running on legs (for "core show channel" and AMI Status: their variables).
type legs struct {
	reg    atomic.Pointer[channel.Registry]
	sounds atomic.Pointer[string]

	mu      sync.Mutex
	running map[string]*Channel // by leg name
}

// SetChannels gives the engine the server's channel registry: Dial() requests outgoing
// legs through it. Without one, Dial() finds no technology (DIALSTATUS CHANUNAVAIL).
func (e *Engine) SetChannels(reg *channel.Registry) { e.legs.reg.Store(reg) }

// Channels returns the registry SetChannels gave (nil for none).
func (e *Engine) Channels() *channel.Registry { return e.legs.reg.Load() }

// SetSoundsDir sets where Playback() and Read() look for sound files: Asterisk's
// astdatadir/sounds (sounds/<lang>/<name>.<format>, then sounds/<name>.<format>).
func (e *Engine) SetSoundsDir(dir string) { e.legs.sounds.Store(&dir) }

// SoundsDir returns the directory SetSoundsDir set ("" for none).
func (e *Engine) SoundsDir() string {
	if p := e.legs.sounds.Load(); p != nil {
		return *p
	}
	return ""
}

// LegChannel returns the dialplan channel running on the leg named name (its variables),
// nil when no dialplan runs on it (an outgoing leg Dial made, or no such channel).
func (e *Engine) LegChannel(name string) *Channel {
	e.legs.mu.Lock()
	defer e.legs.mu.Unlock()
	return e.legs.running[name]
}

func (e *Engine) addLeg(ch *Channel) {
	e.legs.mu.Lock()
	if e.legs.running == nil {
		e.legs.running = map[string]*Channel{}
	}
	e.legs.running[ch.Name] = ch
	e.legs.mu.Unlock()
}

func (e *Engine) removeLeg(ch *Channel) {
	e.legs.mu.Lock()
	if e.legs.running[ch.Name] == ch {
		delete(e.legs.running, ch.Name)
	}
	e.legs.mu.Unlock()
}

// Leg returns the real call leg the channel runs on, nil for a console or Local channel.
func (ch *Channel) Leg() *channel.Channel { return ch.leg }

// legValue reads a channel variable a technology provides as a string value of its leg
// (chan_sip's SIPCALLID, SIPDOMAIN, SIPURI...: the SIP driver calls leg.Set("SIPCALLID", id)).
func (ch *Channel) legValue(name string) (string, bool) {
	if ch.leg == nil {
		return "", false
	}
	switch v := ch.leg.Value(name).(type) {
	case string:
		return v, true
	case fmt.Stringer:
		return v.String(), true
	}
	return "", false
}

// Handler returns the function a channel technology calls for each incoming call, on the
// call's own goroutine (the SIP server's INVITE handler): it runs the dialplan on the leg
// until the call ends and hangs the leg up (RunChannel with the engine's context, which
// Close cancels; Close waits for it).
func (e *Engine) Handler() func(*channel.Channel) {
	return func(leg *channel.Channel) {
		e.bg.Add(1)
		defer e.bg.Done()
		e.RunChannel(e.base, leg)
	}
}

// RunChannel runs the dialplan on an incoming call leg from its location (context, exten,
// priority 1 as the technology set it) until the call ends, then hangs the leg up with
// Asterisk's cause, and returns. It owns the leg while it runs.
//
//   - While the server shuts down (RefuseNewCalls), the leg is hung up at once with
//     NORMAL_CIRCUIT_CONGESTION (SIP 503) and ErrRefused is returned.
//   - An extension that does not exist (nor could with more digits) in the context is
//     hung up with UNALLOCATED (SIP 404), one that could match with more digits with
//     INVALID_NUMBER_FORMAT (484), as chan_sip refuses such INVITEs before the dialplan.
//   - The far end hanging up (BYE, CANCEL) or a soft hangup ends the dialplan at the
//     application running (its context is cancelled) with the leg's cause.
//   - Otherwise the cause is the one the dialplan gave: Hangup(cause), HANGUPCAUSE set by a
//     failed Dial, BUSY/CONGESTION after a Dial that failed so (autofallthrough),
//     UNALLOCATED for an invalid extension without an "i" handler, else NORMAL_CLEARING.
//
// Before the hangup the "h" extension of the context runs, when there is one, with
// HANGUPCAUSE set (Asterisk's ast_pbx_h_exten_run).
func (e *Engine) RunChannel(ctx context.Context, leg *channel.Channel) error {
	done, err := e.admit(1)
	if err != nil {
		leg.Hangup(channel.CauseCongestion)
		return err
	}
	defer done()
	snap := leg.Snapshot()
	exten := snap.Exten
	if exten == "" {
		exten = "s"
	}
	ch, runCtx, release := e.attachLeg(ctx, leg, snap.Context, exten, max(snap.Priority, 1))
	defer release()

	if !e.Exists(runCtx, ch.Context, ch.Exten, ch.Priority, snap.CallerNum) {
		cause := channel.CauseUnallocated
		if e.MatchMore(runCtx, ch.Context, ch.Exten, 1, snap.CallerNum) {
			cause = channel.CauseInvalidNumberFormat
		}
		ch.logf(slog.LevelInfo, "Call from '%s' (%s) to extension '%s' rejected because extension not found in context '%s'.", snap.CallerNum, leg.Name(), ch.Exten, ch.Context)
		leg.SetLocation(ch.Context, ch.Exten, ch.Priority)
		leg.Hangup(cause)
		return nil
	}
	runErr := e.Run(runCtx, ch)

	cause := e.legCause(ch)
	ch.SetVar("HANGUPCAUSE", strconv.Itoa(int(cause)))
	e.runHangupExten(ctx, ch)
	leg.Hangup(cause)
	if errors.Is(runErr, ErrHangup) {
		runErr = nil
	}
	return runErr
}

// legCause is the cause the leg is hung up with when its dialplan ended.
func (e *Engine) legCause(ch *Channel) channel.Cause {
	select {
	case <-ch.leg.Done():
		return ch.leg.Cause()
	default:
	}
	if ch.endCause != 0 {
		return ch.endCause
	}
	if v, ok := ch.Var("HANGUPCAUSE"); ok {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			return channel.Cause(n)
		}
	}
	return channel.CauseNormalClearing
}

// runHangupExten runs the context's "h" extension, if any, once the call has ended.
func (e *Engine) runHangupExten(ctx context.Context, ch *Channel) {
	cid, _ := ch.CallerID()
	if !e.Exists(ctx, ch.Context, "h", 1, cid) {
		return
	}
	ch.Exten, ch.Priority = "h", 1
	ch.steps = 0
	e.Run(ctx, ch)
}

// ChannelList returns the real call legs of the registry, oldest first (empty without one).
func (e *Engine) ChannelList() []*channel.Channel {
	reg := e.Channels()
	if reg == nil {
		return nil
	}
	out := reg.List()
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created().Before(out[j].Created()) })
	return out
}

// attachLeg makes the dialplan channel that runs on leg at context/exten/priority and lists
// it among the engine's legs; runCtx ends when ctx does or the leg hangs up. release (once,
// when the run is over) stops watching the leg and takes the channel off the list.
func (e *Engine) attachLeg(ctx context.Context, leg *channel.Channel, dpContext, exten string, priority int) (ch *Channel, runCtx context.Context, release func()) {
	ch = NewChannel(leg.Name(), dpContext, exten, priority)
	ch.engine = e
	ch.UniqueID = leg.UniqueID()
	ch.leg = leg
	e.addLeg(ch)
	runCtx, cancel := context.WithCancel(ctx)
	stop := make(chan struct{})
	go func() {
		select {
		case <-leg.Done():
			cancel()
		case <-stop:
		}
	}()
	return ch, runCtx, func() {
		close(stop)
		cancel()
		e.removeLeg(ch)
	}
}
