package channel

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/media"
)

// Errors a Tech or the core returns.
var (
	// ErrHungUp is returned by an operation on a channel that has hung up.
	ErrHungUp = errors.New("channel: hung up")
	// ErrNoTech is returned by Request for a technology no driver is registered for.
	ErrNoTech = errors.New("channel: no such channel technology")
)

// Tech is one channel's technology side (chan_sip's sip_pvt, one Local half): what the core
// asks of the far end. The core calls these methods from the goroutine that owns the
// channel (the dialplan runner, Dial's wait loop, a bridge); a Tech must not block on the
// network for longer than its own timers (it sends and returns) and must be safe for a
// Hangup that races with the far end's own hangup.
//
// What happens at the far end comes back to the core through the channel: Queue(Frame) for
// progress, answer, DTMF and hold; HungUp(cause) when the far end ends the call.
type Tech interface {
	// Call starts an outgoing call to the destination given to Driver.Request (a SIP INVITE).
	// It returns once the request is on its way; the answer comes as a FrameAnswer (after
	// which the channel is Up), a refusal as HungUp with the cause (busy 17, no answer 19,
	// congestion 34, ...).
	Call(ctx context.Context) error
	// Answer answers an incoming call (SIP: 200 OK with SDP, waiting for the ACK is the
	// tech's business).
	Answer(ctx context.Context) error
	// Indicate tells the far end of a condition: ringing (180), progress (183 with early
	// media), busy (486), congestion (503), hold/unhold (music on hold or re-INVITE). A
	// condition the technology cannot signal is ignored (nil).
	Indicate(c Condition) error
	// SendDigit sends one DTMF digit out of band (RFC 4733 on SIP).
	SendDigit(digit rune, d time.Duration) error
	// Media returns the leg's RTP session, nil while there is none (no SDP yet, or a
	// technology without media).
	Media() *media.Session
	// Hangup ends the call from our side with cause: CANCEL or a final error response
	// before answer, BYE after. It is called once, after which the Tech releases everything
	// (RTP ports included). It must not call back into the channel.
	Hangup(cause Cause)
}

// Driver is a channel technology ("SIP", "Local"): it makes outgoing channels.
type Driver interface {
	// Type is the technology name as in "SIP/bob" (case-insensitive when matched).
	Type() string
	// Request makes an outgoing channel for data (the text after "SIP/": "bob",
	// "bob/1234", "bob@host"...) without calling it yet (Asterisk's ast_request): the
	// channel is Down, registered with the Registry and named. requestor is the channel
	// that asked (nil for an originate); its linked ID is inherited. A destination that
	// cannot be reached gives an error carrying the cause (see CauseOf).
	Request(ctx context.Context, reg *Registry, data string, requestor *Channel) (*Channel, error)
}

// Options describe a new channel.
type Options struct {
	// Name is the channel's name ("SIP/alice-00000001"); Registry.NewName makes one.
	Name string
	// Tech is the channel's technology side; nil only in tests of the core.
	Tech Tech
	// Outgoing is true for a channel the core called (Dial), false for one that called in.
	Outgoing bool
	// Device is the device the channel belongs to ("SIP/alice"), for device state and
	// "core show channels"; empty for none.
	Device string
	// Caller ID of the channel; for an incoming SIP call, the From (or the peer's callerid).
	CallerNum, CallerName string
	// Where the channel starts in the dialplan (incoming) or what it was asked to call.
	Context, Exten string
	// LinkedID is inherited from the requestor; empty: the channel's own unique ID.
	LinkedID string
	// AccountCode, Language are the peer's (empty: none, "en").
	AccountCode, Language string
}

// Channel is one call leg (Asterisk's ast_channel). Its identity is fixed at creation;
// state, caller ID, location and application may change and are safe to read from any
// goroutine. One goroutine owns the channel at a time (the dialplan runner, Dial while it
// waits for an outgoing leg, a bridge): it reads Frames and calls Answer, Indicate,
// Hangup. The Tech feeds it through Queue and HungUp from any goroutine.
type Channel struct {
	name     string
	uniqueID string
	linkedID string
	tech     Tech
	outgoing bool
	device   string
	created  time.Time
	reg      *Registry

	frames chan Frame     // from the tech to the owner
	done   chan struct{}  // closed when the channel has hung up (either side)
	ended  atomic.Bool    // Hangup has run (events sent, unregistered)
	remote atomic.Bool    // the far end hung up first
	cause  atomic.Int32   // hangup cause once done is closed
	once   sync.Once      // closes done
	hangMu sync.Mutex     // serialises Hangup
	mu     sync.Mutex     // guards the fields below
	snap   Snapshot       // current snapshot (state, caller ID, location, app)
	answer time.Time      // when it went Up
	bridge *Bridge        // the bridge it is in, nil for none
	vars   map[string]any // technology data another package attaches (Set/Value)
}

// frameQueue is how many frames a channel holds for its owner before it drops the oldest
// progress frames; answer, hold and DTMF frames are never dropped (see Queue).
const frameQueue = 64

// Name returns the channel's name.
func (ch *Channel) Name() string { return ch.name }

// UniqueID returns the channel's unique ID ("1733550000.17").
func (ch *Channel) UniqueID() string { return ch.uniqueID }

// LinkedID returns the unique ID of the first channel of the call.
func (ch *Channel) LinkedID() string { return ch.linkedID }

// Tech returns the channel's technology side.
func (ch *Channel) Tech() Tech { return ch.tech }

// Outgoing reports whether the core called this channel (Dial, originate).
func (ch *Channel) Outgoing() bool { return ch.outgoing }

// Device returns the device the channel belongs to ("SIP/alice"), "" for none.
func (ch *Channel) Device() string { return ch.device }

// Created returns when the channel was made.
func (ch *Channel) Created() time.Time { return ch.created }

// Media returns the leg's RTP session (nil when there is none).
func (ch *Channel) Media() *media.Session {
	if ch.tech == nil {
		return nil
	}
	return ch.tech.Media()
}

// Snapshot returns the channel's current state, caller ID, location and application, as
// AMI events and "core show channels" show them.
func (ch *Channel) Snapshot() Snapshot {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.snap
}

// State returns the channel's state.
func (ch *Channel) State() State {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.snap.State
}

// SetState changes the channel's state and publishes Newstate when it changed.
func (ch *Channel) SetState(s State) {
	ch.mu.Lock()
	if ch.snap.State == s {
		ch.mu.Unlock()
		return
	}
	ch.snap.State = s
	if s == Up && ch.answer.IsZero() {
		ch.answer = time.Now()
	}
	snap := ch.snap
	ch.mu.Unlock()
	ch.publish(Event{Kind: EventNewstate, Channel: snap})
}

// Answered returns when the channel went Up (zero while it has not).
func (ch *Channel) Answered() time.Time {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.answer
}

// SetCallerID changes the caller ID and publishes NewCallerid when it changed.
func (ch *Channel) SetCallerID(num, name string) {
	ch.mu.Lock()
	if ch.snap.CallerNum == num && ch.snap.CallerName == name {
		ch.mu.Unlock()
		return
	}
	ch.snap.CallerNum, ch.snap.CallerName = num, name
	snap := ch.snap
	ch.mu.Unlock()
	ch.publish(Event{Kind: EventNewCallerID, Channel: snap})
}

// SetAccountCode changes the channel's account code (CHANNEL(accountcode)) and publishes
// NewAccountCode when it changed.
func (ch *Channel) SetAccountCode(code string) {
	ch.mu.Lock()
	old := ch.snap.AccountCode
	if old == code {
		ch.mu.Unlock()
		return
	}
	ch.snap.AccountCode = code
	snap := ch.snap
	ch.mu.Unlock()
	ch.publish(Event{Kind: EventNewAccountCode, Channel: snap, Old: old})
}

// SetConnected changes the connected line (the other party as this channel sees it).
func (ch *Channel) SetConnected(num, name string) {
	ch.mu.Lock()
	ch.snap.ConnectedNum, ch.snap.ConnectedName = num, name
	ch.mu.Unlock()
}

// SetLocation records where the channel is in the dialplan (for events and the CLI).
func (ch *Channel) SetLocation(context, exten string, priority int) {
	ch.mu.Lock()
	ch.snap.Context, ch.snap.Exten, ch.snap.Priority = context, exten, priority
	ch.mu.Unlock()
}

// SetApplication records the application the channel runs ("Dial", "SIP/bob,20").
func (ch *Channel) SetApplication(app, data string) {
	ch.mu.Lock()
	ch.snap.Application, ch.snap.AppData = app, data
	ch.mu.Unlock()
}

// Set attaches a value to the channel under key (technology or application data another
// package needs to find again, such as the SIP dialog); nil removes it.
func (ch *Channel) Set(key string, v any) {
	ch.mu.Lock()
	if v == nil {
		delete(ch.vars, key)
	} else {
		if ch.vars == nil {
			ch.vars = map[string]any{}
		}
		ch.vars[key] = v
	}
	ch.mu.Unlock()
}

// Value returns what Set attached under key, nil for nothing.
func (ch *Channel) Value(key string) any {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.vars[key]
}

// Frames returns the frames the far end sent (answer, progress, DTMF, hold). Only the
// channel's owner reads them.
func (ch *Channel) Frames() <-chan Frame { return ch.frames }

// Done is closed when the channel has hung up, either side.
func (ch *Channel) Done() <-chan struct{} { return ch.done }

// Cause returns the hangup cause (0 while the channel is up).
func (ch *Channel) Cause() Cause { return Cause(ch.cause.Load()) }

// HungUpByFarEnd reports whether the far end ended the call first.
func (ch *Channel) HungUpByFarEnd() bool { return ch.remote.Load() }

// Queue hands a frame from the far end to the channel's owner (called by the Tech, from
// any goroutine). An answer frame moves the channel Up, a ringing frame Ringing, before
// the owner sees them. DTMF frames also publish DTMFBegin/DTMFEnd. When the owner lags
// behind by frameQueue frames, progress frames are dropped (a later frame says more).
func (ch *Channel) Queue(f Frame) {
	select {
	case <-ch.done:
		return
	default:
	}
	switch f.Kind {
	case FrameAnswer:
		ch.SetState(Up)
	case FrameRinging:
		if ch.State() != Up {
			ch.SetState(Ringing)
		}
	case FrameDTMFBegin:
		ch.publish(Event{Kind: EventDTMFBegin, Channel: ch.Snapshot(), Digit: f.Digit, Direction: "Received"})
	case FrameDTMFEnd:
		ch.publish(Event{Kind: EventDTMFEnd, Channel: ch.Snapshot(), Digit: f.Digit, Duration: f.Duration, Direction: "Received"})
	case FrameHold:
		ch.publish(Event{Kind: EventHold, Channel: ch.Snapshot()})
	case FrameUnhold:
		ch.publish(Event{Kind: EventUnhold, Channel: ch.Snapshot()})
	}
	select {
	case ch.frames <- f:
		return
	default:
	}
	if f.Kind == FrameRinging || f.Kind == FrameProgress || f.Kind == FrameProceeding {
		return
	}
	// Make room by dropping one queued frame (the oldest): answer and hold frames matter
	// more than anything queued before them.
	select {
	case <-ch.frames:
	default:
	}
	select {
	case ch.frames <- f:
	default:
	}
}

// HungUp tells the channel that the far end ended the call with cause (called by the Tech:
// BYE, CANCEL, an error response, a timeout). Done is closed; the owner then calls Hangup
// to release the channel, which does not signal the far end again.
func (ch *Channel) HungUp(cause Cause) {
	ch.remote.CompareAndSwap(false, true)
	ch.finish(cause)
}

func (ch *Channel) finish(cause Cause) {
	ch.once.Do(func() {
		if cause == 0 {
			cause = CauseNormalClearing
		}
		ch.cause.Store(int32(cause))
		close(ch.done)
	})
}

// RequestHangup asks the channel's owner to hang it up (Asterisk's soft hangup: "channel
// request hangup", AMI Hangup): HangupRequest is published and Done is closed; the owner
// sees it like a far-end hangup but the far end is still signalled when the owner calls
// Hangup.
func (ch *Channel) RequestHangup(cause Cause) {
	select {
	case <-ch.done:
		return
	default:
	}
	ch.publish(Event{Kind: EventHangupRequest, Channel: ch.Snapshot(), Cause: cause})
	ch.finish(cause)
}

// Hangup ends the channel: signals the far end with cause unless the far end hung up first
// (Tech.Hangup), leaves its bridge, publishes Hangup and unregisters it. It is safe to call
// more than once and from any goroutine; only the first call acts.
func (ch *Channel) Hangup(cause Cause) {
	ch.hangMu.Lock()
	defer ch.hangMu.Unlock()
	if ch.ended.Load() {
		return
	}
	ch.finish(cause)
	if ch.tech != nil {
		// The tech is told even after a far-end hangup, with the cause that ended the call,
		// so it releases its media and dialog state; it knows not to signal a dialog the far
		// end already ended.
		ch.tech.Hangup(ch.Cause())
	}
	ch.ended.Store(true)
	ch.mu.Lock()
	ch.snap.State = Down
	snap := ch.snap
	ch.mu.Unlock()
	ch.publish(Event{Kind: EventHangup, Channel: snap, Cause: ch.Cause()})
	if ch.reg != nil {
		ch.reg.remove(ch)
	}
}

// Answer answers the channel (incoming): Tech.Answer, then Up. Answering an Up channel does
// nothing.
func (ch *Channel) Answer(ctx context.Context) error {
	select {
	case <-ch.done:
		return ErrHungUp
	default:
	}
	if ch.State() == Up {
		return nil
	}
	if ch.tech != nil {
		if err := ch.tech.Answer(ctx); err != nil {
			return err
		}
	}
	ch.SetState(Up)
	return nil
}

// Indicate tells the far end of a condition (Tech.Indicate); Ringing moves an incoming
// channel that is not up to Ringing.
func (ch *Channel) Indicate(c Condition) error {
	select {
	case <-ch.done:
		return ErrHungUp
	default:
	}
	if ch.tech != nil {
		if err := ch.tech.Indicate(c); err != nil {
			return err
		}
	}
	if c == CondRinging && ch.State() != Up {
		ch.SetState(Ringing)
	}
	return nil
}

// SendDigit sends a DTMF digit to the far end and publishes DTMFBegin/DTMFEnd (Sent).
func (ch *Channel) SendDigit(digit rune, d time.Duration) error {
	select {
	case <-ch.done:
		return ErrHungUp
	default:
	}
	ch.publish(Event{Kind: EventDTMFBegin, Channel: ch.Snapshot(), Digit: digit, Direction: "Sent"})
	var err error
	if ch.tech != nil {
		err = ch.tech.SendDigit(digit, d)
	}
	ch.publish(Event{Kind: EventDTMFEnd, Channel: ch.Snapshot(), Digit: digit, Duration: d, Direction: "Sent"})
	return err
}

// Bridge returns the bridge the channel is in, nil for none.
func (ch *Channel) Bridge() *Bridge {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.bridge
}

func (ch *Channel) setBridge(b *Bridge) {
	ch.mu.Lock()
	ch.bridge = b
	ch.mu.Unlock()
}

func (ch *Channel) publish(e Event) {
	if ch.reg != nil {
		ch.reg.publish(e)
	}
}
