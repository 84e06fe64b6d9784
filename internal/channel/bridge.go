package channel

import (
	"context"
	"errors"
	"sync"

	"github.com/pleiades-pbx/pleiades/internal/media"
)

// Bridge joins two channels (Asterisk's basic bridge, simple_bridge technology): their RTP
// is relayed between their media sessions (internal/media), DTMF passes with the media,
// hold from one side is indicated to the other, and the bridge ends when either channel
// hangs up (or the context ends).
type Bridge struct {
	reg  *Registry
	id   string
	a, b *Channel

	mu     sync.Mutex
	joined int

	held   map[*Channel]bool // channels hearing music on hold (Run's goroutine only)
	direct directState       // owned by Run's goroutine (direct.go)
}

// ErrNoMedia is returned when a channel of a bridge has no media session while the other
// has one (nothing can be relayed).
var ErrNoMedia = errors.New("channel: bridge: a channel has no media")

// NewBridge makes a bridge between a and b; Run joins and holds them.
func (r *Registry) NewBridge(a, b *Channel) *Bridge {
	return &Bridge{reg: r, id: newBridgeID(r), a: a, b: b}
}

func newBridgeID(r *Registry) string {
	// Asterisk uses a UUID; the unique-ID sequence is unique enough and readable.
	return "bridge-" + r.NewUniqueID()
}

// ID returns the bridge's unique ID.
func (b *Bridge) ID() string { return b.id }

// Channels returns the bridged channels.
func (b *Bridge) Channels() (*Channel, *Channel) { return b.a, b.b }

func (b *Bridge) snapshot() BridgeSnapshot {
	b.mu.Lock()
	defer b.mu.Unlock()
	return BridgeSnapshot{UniqueID: b.id, Type: "basic", Technology: "simple_bridge", NumChannels: b.joined}
}

func (b *Bridge) enter(ch *Channel) {
	ch.setBridge(b)
	b.mu.Lock()
	b.joined++
	b.mu.Unlock()
	b.reg.publish(Event{Kind: EventBridgeEnter, Channel: ch.Snapshot(), Bridge: b.snapshot()})
}

func (b *Bridge) leave(ch *Channel) {
	b.mu.Lock()
	b.joined--
	b.mu.Unlock()
	ch.setBridge(nil)
	b.reg.publish(Event{Kind: EventBridgeLeave, Channel: ch.Snapshot(), Bridge: b.snapshot()})
}

// Run joins both channels (BridgeEnter for each), relays their media, passes hold and
// unhold from one to the other, and returns when either hangs up or ctx ends: the channel
// that hung up first (nil when ctx ended). Both leave the bridge (BridgeLeave) before Run
// returns; hanging up the survivor is the caller's choice (Dial hangs the callee up when
// the caller leaves, and returns to the dialplan when the callee leaves).
//
// Run owns both channels while it runs: it reads their frames.
func (b *Bridge) Run(ctx context.Context) (*Channel, error) {
	ma, mb := b.a.Media(), b.b.Media()
	if (ma == nil) != (mb == nil) {
		return nil, ErrNoMedia
	}
	if ma != nil {
		// Music started before the bridge (StartMusicOnHold, Dial's m) ends here, or it
		// would hold back the relayed audio.
		if m := b.reg.MusicOnHold(); m != nil {
			m.StopMOH(b.a)
			m.StopMOH(b.b)
		}
		if err := media.Bridge(ma, mb); err != nil {
			return nil, err
		}
		b.direct.ma, b.direct.mb, b.direct.relayOK = ma, mb, true
		defer func() {
			if b.direct.relayOK {
				ma.Unbridge()
			}
		}()
		defer b.stopHoldMusic()
	}
	b.enter(b.a)
	b.enter(b.b)
	defer func() {
		b.leave(b.a)
		b.leave(b.b)
	}()
	defer b.stopDirect()
	b.tryDirect(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-b.a.Done():
			return b.a, nil
		case <-b.b.Done():
			return b.b, nil
		case on := <-b.direct.done:
			b.directResult(on)
		case f := <-b.a.Frames():
			b.directFrame(ctx, f, b.a)
			b.pass(f, b.b)
		case f := <-b.b.Frames():
			b.directFrame(ctx, f, b.b)
			b.pass(f, b.a)
		}
	}
}

// pass gives the other side what it must know of a frame: hold and unhold (DTMF and audio
// travel with the media relay). The held side hears music on hold, when it is installed
// (Registry.SetMusicOnHold), from the hold to the unhold, as chan_sip starts it on
// AST_CONTROL_HOLD: its own class (CHANNEL(musicclass)), else "default".
func (b *Bridge) pass(f Frame, to *Channel) {
	switch f.Kind {
	case FrameHold:
		to.Indicate(CondHold)
		if m := b.reg.MusicOnHold(); m != nil && to.Media() != nil && !b.held[to] {
			if err := m.StartMOH(to, ""); err == nil {
				if b.held == nil {
					b.held = map[*Channel]bool{}
				}
				b.held[to] = true
			}
		}
	case FrameUnhold:
		to.Indicate(CondUnhold)
		if b.held[to] {
			delete(b.held, to)
			if m := b.reg.MusicOnHold(); m != nil {
				m.StopMOH(to)
			}
		}
	case FrameSrcUpdate:
		to.Indicate(CondSrcUpdate)
	}
}

// stopHoldMusic stops the music of every channel still held when the bridge ends.
func (b *Bridge) stopHoldMusic() {
	m := b.reg.MusicOnHold()
	for ch := range b.held {
		if m != nil {
			m.StopMOH(ch)
		}
		delete(b.held, ch)
	}
}
