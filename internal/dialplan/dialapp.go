package dialplan

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/channel"
	"github.com/pleiades-pbx/pleiades/internal/media"
)

// DialStatusOfCause is Asterisk's ast_hangup_cause_to_dial_status: the DIALSTATUS (and
// DialEnd status) of an outgoing leg that hung up with cause before answering.
func DialStatusOfCause(c channel.Cause) string {
	switch c {
	case channel.CauseUserBusy:
		return "BUSY"
	case channel.CauseCongestion:
		return "CONGESTION"
	case channel.CauseNoRouteDestination, channel.CauseSubscriberAbsent:
		return "CHANUNAVAIL"
	}
	return "NOANSWER"
}

// dialCounts is app_dial's cause_args: how many outgoing legs failed busy, congested or
// unavailable.
type dialCounts struct{ busy, congestion, nochan int }

// add is app_dial's handle_cause.
func (n *dialCounts) add(c channel.Cause) {
	switch c {
	case channel.CauseUserBusy:
		n.busy++
	case channel.CauseCongestion:
		n.congestion++
	case channel.CauseNoRouteDestination, channel.CauseSubscriberAbsent:
		n.nochan++
	case channel.CauseNoAnswer, channel.CauseNormalClearing:
	default:
		n.nochan++
	}
}

// status is the DIALSTATUS when every one of lines outgoing legs is gone unanswered:
// BUSY, CONGESTION or CHANUNAVAIL when all failed so (in that order of precedence),
// else NOANSWER.
func (n dialCounts) status(lines int) string {
	if lines == n.busy+n.congestion+n.nochan {
		switch {
		case n.busy > 0:
			return "BUSY"
		case n.congestion > 0:
			return "CONGESTION"
		case n.nochan > 0:
			return "CHANUNAVAIL"
		}
	}
	return "NOANSWER"
}

// dialOptions are the Dial() options Pleiades acts on.
type dialOptions struct {
	ringback bool   // r: indicate ringing to the caller at once
	goOn     bool   // g: continue in the dialplan when the callee hangs up
	moh      bool   // m: the caller hears music on hold until the answer
	mohClass string // m(class)
	// earlyMedia: a single callee's early media is relayed to the caller before the answer
	// (Dial, as app_dial; not RingLegs' callers: app_queue plays its own music meanwhile)
	earlyMedia bool
	// onLeg, when set, is told of each outgoing leg made, before it is called: i is the
	// destination's index in the list given (RingLegs' OnLeg).
	onLeg func(i int, leg *channel.Channel)
}

// parseDialOptions reads the options Pleiades acts on; an option's "(argument)" belongs to
// the letter before it (m(class)), the other letters' arguments are skipped.
func parseDialOptions(s string) dialOptions {
	var o dialOptions
	for i := 0; i < len(s); i++ {
		c := s[i]
		arg, hasArg := "", false
		if i+1 < len(s) && s[i+1] == '(' {
			depth, j := 0, i+1
			for ; j < len(s); j++ {
				if s[j] == '(' {
					depth++
				} else if s[j] == ')' {
					depth--
					if depth == 0 {
						break
					}
				}
			}
			arg, hasArg = s[i+2:min(j, len(s))], true
			i = j
		}
		switch c {
		case 'r':
			o.ringback = true
		case 'g':
			o.goOn = true
		case 'm':
			o.moh = true
			if hasArg {
				o.mohClass = strings.TrimSpace(arg)
			}
		}
	}
	return o
}

// outLeg is one outgoing leg of a Dial.
type outLeg struct {
	ch     *channel.Channel
	number string // the dial string after "TECH/"
	gone   bool
}

// appDial is Dial(Tech/resource[&Tech2/resource2...][,timeout[,options]]) (app_dial):
// every destination is requested through the channel registry and called; the first to
// answer wins and the others are cancelled (DialEnd CANCEL, hung up with
// ANSWERED_ELSEWHERE); the caller is answered and both are bridged until one hangs up.
// DIALSTATUS is ANSWER, BUSY, NOANSWER, CANCEL, CONGESTION or CHANUNAVAIL as Asterisk
// sets it. Options: r (ringing to the caller at once), g (go on in the dialplan when the
// callee hangs up); the others are accepted and ignored.
func appDial(ctx context.Context, ch *Channel, data string) error {
	args := splitArgs(data, ',')
	arg := func(i int) string {
		if i < len(args) {
			return strings.TrimSpace(args[i])
		}
		return ""
	}
	if arg(0) == "" {
		ch.logf(slog.LevelWarn, "Dial requires an argument (technology/resource)")
		return errors.New("dial without a destination")
	}
	var timeout time.Duration
	if f, err := strconv.ParseFloat(arg(1), 64); err == nil && f > 0 {
		timeout = time.Duration(f * float64(time.Second))
	}
	opts := parseDialOptions(arg(2))
	opts.earlyMedia = true
	ch.ResetSteps()
	for _, v := range []string{"DIALSTATUS", "DIALEDPEERNAME", "DIALEDPEERNUMBER", "ANSWEREDTIME", "DIALEDTIME"} {
		ch.SetVar(v, "")
	}
	status, peer, err := ch.dialOut(ctx, strings.Split(arg(0), "&"), timeout, opts)
	ch.SetVar("DIALSTATUS", status)
	if peer == nil {
		if err != nil || ctx.Err() != nil {
			return ErrHangup
		}
		return nil
	}
	return ch.bridgePeer(ctx, peer, opts)
}

// dialOut requests and calls the destinations and waits for the first answer: it returns the
// DIALSTATUS and, for ANSWER, the answered leg (the others hung up).
func (ch *Channel) dialOut(ctx context.Context, dests []string, timeout time.Duration, opts dialOptions) (string, *channel.Channel, error) {
	var reg *channel.Registry
	if ch.engine != nil {
		reg = ch.engine.Channels()
	}
	var caller channel.Snapshot
	if ch.leg != nil {
		caller = ch.leg.Snapshot()
	}
	cnum, cname := ch.CallerID()
	var num dialCounts
	var outs []*outLeg
	lines := 0 // app_dial's numlines: destinations tried, refused requests included
	for i, d := range dests {
		d = strings.TrimSpace(d)
		if d == "" {
			continue
		}
		lines++
		tech, number, _ := strings.Cut(d, "/")
		if reg == nil {
			ch.logf(slog.LevelWarn, "Unable to create channel of type '%s' (cause %d - %s)", tech, channel.CauseChannelUnavailable, channel.CauseChannelUnavailable)
			num.add(channel.CauseChannelUnavailable)
			continue
		}
		out, err := reg.Request(ctx, d, ch.leg)
		if err != nil {
			c := channel.CauseOf(err)
			ch.logf(slog.LevelWarn, "Unable to create channel of type '%s' (cause %d - %s)", tech, c, c)
			num.add(c)
			continue
		}
		out.SetConnected(cnum, cname)
		// app_dial: the outgoing leg takes the caller's music class unless it has its own.
		if mc := ch.MusicClass(); mc != "" && out.MusicClass() == "" {
			out.SetMusicClass(mc)
		}
		// What Asterisk shows for an outgoing leg in "core show channels" and AMI.
		out.SetApplication("AppDial", "(Outgoing Line)")
		// app_dial: the outgoing leg inherits the caller's extension.
		os := out.Snapshot()
		out.SetLocation(os.Context, ch.Exten, os.Priority)
		if opts.onLeg != nil {
			opts.onLeg(i, out)
		}
		outs = append(outs, &outLeg{ch: out, number: number})
	}
	if len(outs) == 0 {
		return "CHANUNAVAIL", nil, nil
	}
	called := 0
	for _, o := range outs {
		reg.Publish(channel.Event{Kind: channel.EventDialBegin, Channel: caller, Dest: o.ch.Snapshot(), DialString: o.number})
		var err error
		if t := o.ch.Tech(); t != nil {
			err = t.Call(ctx)
		}
		if err != nil {
			c := channel.CauseOf(err)
			ch.verbosef(3, "Couldn't call %s", o.ch.Name())
			reg.Publish(channel.Event{Kind: channel.EventDialEnd, Channel: caller, Dest: o.ch.Snapshot(), DialStatus: DialStatusOfCause(c)})
			o.ch.Hangup(c)
			o.gone = true
			num.add(c)
			continue
		}
		ch.verbosef(3, "Called %s", o.ch.Name())
		called++
	}
	if called == 0 {
		return num.status(lines), nil, nil
	}
	if opts.moh && ch.leg != nil {
		// m: the caller hears music on hold (early media) instead of ringing until a callee
		// answers or the dial ends, as app_dial does.
		if stop := ch.startDialMusic(opts.mohClass); stop != nil {
			defer stop()
		}
	} else if opts.ringback && ch.leg != nil {
		indicateRinging(ch.leg)
	}
	dialEnd := func(o *outLeg, status string) {
		reg.Publish(channel.Event{Kind: channel.EventDialEnd, Channel: ch.callerSnapshot(), Dest: o.ch.Snapshot(), DialStatus: status})
	}
	// endAll ends every leg still going with status and hangs it up with cause.
	endAll := func(status string, cause channel.Cause, except *channel.Channel) {
		for _, o := range outs {
			if !o.gone && o.ch != except {
				dialEnd(o, status)
			}
		}
		for _, o := range outs {
			if !o.gone && o.ch != except {
				o.ch.Hangup(cause)
				o.gone = true
			}
		}
	}
	var deadline <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		deadline = t.C
	}
	var callerDone <-chan struct{}
	var callerFrames <-chan channel.Frame
	if ch.leg != nil {
		callerDone, callerFrames = ch.leg.Done(), ch.leg.Frames()
	}
	sentRinging := opts.ringback
	var earlyMedia *media.Session // the caller's session while it relays a callee's early media
	defer func() {
		if earlyMedia != nil {
			earlyMedia.Unbridge()
		}
	}()
	events := make(chan legEvent, 16)
	waitCtx, stopWait := context.WithCancel(ctx)
	defer stopWait()
	for _, o := range outs {
		if !o.gone {
			go watchLeg(waitCtx, o, events)
		}
	}
	for {
		select {
		case <-ctx.Done():
			endAll("CANCEL", channel.CauseNormalClearing, nil)
			return "CANCEL", nil, ctx.Err()
		case <-callerDone:
			endAll("CANCEL", channel.CauseNormalClearing, nil)
			return "CANCEL", nil, channel.ErrHungUp
		case <-callerFrames:
			// DTMF and the like from the caller while the callees ring: nothing to do.
		case <-deadline:
			ch.verbosef(3, "Nobody picked up in %d ms", timeout.Milliseconds())
			endAll("NOANSWER", channel.CauseNormalClearing, nil)
			return "NOANSWER", nil, nil
		case ev := <-events:
			o := ev.leg
			if o.gone {
				continue
			}
			if ev.hungUp {
				c := o.ch.Cause()
				ch.SetVar("HANGUPCAUSE", strconv.Itoa(int(c)))
				dialEnd(o, DialStatusOfCause(c))
				o.ch.Hangup(c)
				o.gone = true
				num.add(c)
				if allGone(outs) {
					st := num.status(lines)
					if st == "NOANSWER" {
						ch.verbosef(3, "No one is available to answer at this time (%d:%d/%d/%d)", lines, num.busy, num.congestion, num.nochan)
					} else {
						ch.verbosef(2, "Everyone is busy/congested at this time (%d:%d/%d/%d)", lines, num.busy, num.congestion, num.nochan)
					}
					return st, nil, nil
				}
				continue
			}
			switch ev.frame.Kind {
			case channel.FrameAnswer:
				ch.verbosef(3, "%s answered %s", o.ch.Name(), ch.Name)
				for _, x := range outs {
					if !x.gone && x != o {
						dialEnd(x, "CANCEL")
					}
				}
				stopWait()
				for _, x := range outs {
					if !x.gone && x != o {
						x.ch.Hangup(channel.CauseAnsweredElsewhere)
						x.gone = true
					}
				}
				ch.SetVar("DIALEDPEERNAME", o.ch.Name())
				ch.SetVar("DIALEDPEERNUMBER", o.number)
				dialEnd(o, "ANSWER")
				return "ANSWER", o.ch, nil
			case channel.FrameRinging:
				ch.verbosef(3, "%s is ringing", o.ch.Name())
				if !sentRinging && !opts.moh && ch.leg != nil {
					indicateRinging(ch.leg)
					sentRinging = true
				}
			case channel.FrameProgress:
				ch.verbosef(3, "%s is making progress passing it to %s", o.ch.Name(), ch.Name)
				if !opts.ringback && ch.leg != nil {
					ch.leg.Indicate(channel.CondProgress)
					// app_dial passes a single callee's audio to the caller before the
					// answer (and the caller's to it): the callee's early media (SIP 183
					// with SDP) is relayed until the answer or the end of the dial
					if opts.earlyMedia && len(outs) == 1 && !opts.moh && earlyMedia == nil {
						if a, b := ch.leg.Media(), o.ch.Media(); a != nil && b != nil && media.Bridge(a, b) == nil {
							earlyMedia = a
						}
					}
				}
			case channel.FrameBusy:
				ch.verbosef(3, "%s is busy", o.ch.Name())
				ch.SetVar("HANGUPCAUSE", strconv.Itoa(int(channel.CauseUserBusy)))
				dialEnd(o, "BUSY")
				o.ch.Hangup(channel.CauseUserBusy)
				o.gone = true
				num.add(channel.CauseUserBusy)
			case channel.FrameCongestion:
				ch.verbosef(3, "%s is circuit-busy", o.ch.Name())
				ch.SetVar("HANGUPCAUSE", strconv.Itoa(int(channel.CauseCongestion)))
				dialEnd(o, "CONGESTION")
				o.ch.Hangup(channel.CauseCongestion)
				o.gone = true
				num.add(channel.CauseCongestion)
			}
			if allGone(outs) {
				return num.status(lines), nil, nil
			}
		}
	}
}

// startDialMusic starts music on hold (class, or the caller's own, else default) on the
// caller for Dial's m option (the music player indicates progress first: SIP 183 with SDP,
// so the phone plays the early media); it returns what stops the music, nil when none
// could start (no music on hold installed, no class with files, no media), in which case
// the caller gets progress and hears nothing, as in Asterisk when ast_moh_start fails.
func (ch *Channel) startDialMusic(class string) func() {
	var m channel.MusicOnHold
	if ch.engine != nil {
		m = ch.engine.Channels().MusicOnHold()
	}
	if m == nil || ch.leg.Media() == nil {
		ch.leg.Indicate(channel.CondProgress)
		return nil
	}
	if err := m.StartMOH(ch.leg, class); err != nil {
		ch.logf(slog.LevelWarn, "Unable to start music on hold class '%s' on channel %s: %v", class, ch.Name, err)
		ch.leg.Indicate(channel.CondProgress)
		return nil
	}
	leg := ch.leg
	return func() { m.StopMOH(leg) }
}

func (ch *Channel) callerSnapshot() channel.Snapshot {
	if ch.leg != nil {
		return ch.leg.Snapshot()
	}
	return channel.Snapshot{}
}

func allGone(outs []*outLeg) bool {
	for _, o := range outs {
		if !o.gone {
			return false
		}
	}
	return true
}

// legEvent is what one outgoing leg did while Dial waits: a frame, or its hangup.
type legEvent struct {
	leg    *outLeg
	frame  channel.Frame
	hungUp bool
}

// watchLeg passes an outgoing leg's frames and hangup to Dial's wait loop until ctx ends
// (Dial returned, or a leg answered). It stops after an answer so that the bridge that
// follows is the only reader of the leg's frames.
func watchLeg(ctx context.Context, o *outLeg, events chan<- legEvent) {
	send := func(ev legEvent) bool {
		select {
		case events <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case f := <-o.ch.Frames():
			if !send(legEvent{leg: o, frame: f}) || f.Kind == channel.FrameAnswer {
				return
			}
		case <-o.ch.Done():
			// Frames queued before the hangup (busy, congestion) come first.
			for {
				select {
				case f := <-o.ch.Frames():
					if !send(legEvent{leg: o, frame: f}) {
						return
					}
					continue
				default:
				}
				break
			}
			send(legEvent{leg: o, hungUp: true})
			return
		}
	}
}

// bridgePeer answers the caller and bridges it with the answered callee until one hangs
// up. When the caller hangs up (or the dialplan's context ends) the callee is hung up and
// the call ends; when the callee hangs up the call ends too, unless option g continues the
// dialplan at the next priority.
func (ch *Channel) bridgePeer(ctx context.Context, peer *channel.Channel, opts dialOptions) error {
	if ch.leg == nil {
		// A console or Local channel has no media to bridge: it waits for the callee.
		select {
		case <-ctx.Done():
			peer.Hangup(channel.CauseNormalClearing)
			return ErrHangup
		case <-peer.Done():
			peer.Hangup(peer.Cause())
			if opts.goOn {
				return nil
			}
			return ErrHangup
		}
	}
	if err := ch.leg.Answer(ctx); err != nil {
		peer.Hangup(channel.CauseNormalClearing)
		return ErrHangup
	}
	ch.leg.SetConnected(peer.Snapshot().CallerNum, peer.Snapshot().CallerName)
	reg := ch.engine.Channels()
	b := reg.NewBridge(ch.leg, peer)
	first, err := b.Run(ctx)
	if errors.Is(err, channel.ErrNoMedia) {
		ch.logf(slog.LevelWarn, "Bridge %s: %s and %s: %v; the call goes on without media", b.ID(), ch.Name, peer.Name(), err)
		select {
		case <-ctx.Done():
		case <-ch.leg.Done():
			first = ch.leg
		case <-peer.Done():
			first = peer
		}
	}
	switch first {
	case peer:
		c := peer.Cause()
		peer.Hangup(c)
		ch.SetVar("HANGUPCAUSE", strconv.Itoa(int(c)))
		if opts.goOn {
			channel.ReclaimMedia(ch.leg) // directmedia: the caller's media comes back to us
			if ch.leg.State() == channel.Up {
				ch.verbosef(3, "Spawn extension (%s, %s, %d) continuing after the callee hung up (option g)", ch.Context, ch.Exten, ch.Priority)
			}
			return nil
		}
		return ErrHangup
	default:
		cause := channel.CauseNormalClearing
		if first == ch.leg {
			cause = ch.leg.Cause()
		}
		peer.Hangup(cause)
		return ErrHangup
	}
}
