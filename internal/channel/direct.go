package channel

import (
	"context"
	"net/netip"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/media"
	"github.com/pleiades-pbx/pleiades/internal/media/sdp"
)

// DirectMedia is a Tech whose far end can send its media straight to another leg's far end
// (SIP directmedia=yes, Asterisk's RTP glue for a native RTP bridge).
type DirectMedia interface {
	// DirectTarget is where this leg's far end takes its media (address, codec and
	// telephone-event as it negotiated them); ok is false when the leg may not take part
	// now: directmedia off for its peer, NAT in the way, not answered, on hold.
	DirectTarget() (t sdp.Negotiated, ok bool)
	// DirectAllowed reports whether the leg's peer accepts media straight from addr
	// (directmediapermit/directmediadeny).
	DirectAllowed(addr netip.Addr) bool
	// DirectTo asks the far end to send its media to t (a re-INVITE with t's address and
	// codec) and returns once the far end answered (on an error the leg is as it was). With
	// a nil t it brings the media back to us: it sends the request and returns at once (the
	// leg may be hung up meanwhile; the relay runs already).
	DirectTo(ctx context.Context, t *sdp.Negotiated) error
}

// directTimeout bounds one switch of both legs (a re-INVITE each, in parallel).
const directTimeout = 10 * time.Second

// directState is a bridge's direct media: off (relayed), switching, or on.
type directState struct {
	on      bool      // both legs send to each other; the relay is stopped
	busy    bool      // a switch is under way (its result comes on done)
	held    bool      // a leg is on hold: relay (music on hold comes from us)
	done    chan bool // the result of the switch under way: true = direct now
	cancel  context.CancelFunc
	ma, mb  *media.Session
	relayOK bool // the relay runs (media.Bridge)
}

// directPair returns both legs' direct-media sides and targets when the bridge can go
// direct: both technologies support it, both legs may, each peer accepts the other's
// address, and they use the same codec (Pleiades does not transcode what it does not relay).
func (b *Bridge) directPair() (da, db DirectMedia, ta, tb sdp.Negotiated, ok bool) {
	da, okA := b.a.tech.(DirectMedia)
	db, okB := b.b.tech.(DirectMedia)
	if !okA || !okB {
		return nil, nil, ta, tb, false
	}
	if ta, okA = da.DirectTarget(); !okA {
		return nil, nil, ta, tb, false
	}
	if tb, okB = db.DirectTarget(); !okB {
		return nil, nil, ta, tb, false
	}
	if !ta.Codec.Same(tb.Codec) || !da.DirectAllowed(tb.Remote.Addr()) || !db.DirectAllowed(ta.Remote.Addr()) {
		return nil, nil, ta, tb, false
	}
	return da, db, ta, tb, true
}

// tryDirect starts switching the bridge to direct media when it can (in the background:
// the relay runs meanwhile, so the call has audio from its first moment).
func (b *Bridge) tryDirect(ctx context.Context) {
	d := &b.direct
	if d.on || d.busy || d.held {
		return
	}
	da, db, ta, tb, ok := b.directPair()
	if !ok {
		return
	}
	d.busy = true
	done := make(chan bool, 1)
	d.done = done
	cctx, cancel := context.WithTimeout(ctx, directTimeout)
	d.cancel = cancel
	go func() {
		defer cancel()
		errs := make(chan error, 2)
		go func() { errs <- da.DirectTo(cctx, &tb) }()
		errA := db.DirectTo(cctx, &ta)
		errB := <-errs
		if errA != nil || errB != nil {
			// one side failed: whichever switched goes back to us
			if errA == nil {
				_ = db.DirectTo(context.Background(), nil)
			}
			if errB == nil {
				_ = da.DirectTo(context.Background(), nil)
			}
			done <- false
			return
		}
		done <- true
	}()
}

// undirect brings both legs' media back to us (a hold): the relay first, so that no packet
// is lost, then a re-INVITE to each leg still up (sent in the background). A switch under
// way is cut short.
func (b *Bridge) undirect() {
	d := &b.direct
	if d.busy {
		d.cancel()
		d.on = <-d.done
		d.busy = false
	}
	if !d.on {
		return
	}
	d.on = false
	if d.ma != nil && !d.relayOK {
		if media.Bridge(d.ma, d.mb) == nil {
			d.relayOK = true
		}
	}
	for _, ch := range []*Channel{b.a, b.b} {
		select {
		case <-ch.Done():
			continue
		default:
		}
		if dm, ok := ch.tech.(DirectMedia); ok {
			_ = dm.DirectTo(context.Background(), nil)
		}
	}
}

// stopDirect ends the bridge's direct media handling when the bridge ends: a switch under
// way is cut short. Legs left talking directly stay so (the bridge ends because one hung
// up, and the other is usually hung up next); whoever keeps a leg afterwards brings its
// media back with ReclaimMedia.
func (b *Bridge) stopDirect() {
	d := &b.direct
	if d.busy {
		d.cancel()
		d.on = <-d.done
		d.busy = false
	}
}

// ReclaimMedia brings a leg's media back through us after a bridge in which it talked
// straight to the other leg (Dial's g option continues the dialplan on the caller). It
// does nothing for a leg that is not direct.
func ReclaimMedia(ch *Channel) {
	if dm, ok := ch.tech.(DirectMedia); ok {
		_ = dm.DirectTo(context.Background(), nil)
	}
}

// directResult takes the outcome of a switch: direct now, so the relay stops.
func (b *Bridge) directResult(on bool) {
	d := &b.direct
	d.busy = false
	d.on = on
	if on && d.relayOK && d.ma != nil {
		d.ma.Unbridge()
		d.relayOK = false
	}
}

// directFrame follows hold and media changes of from while the legs may talk directly: a
// hold brings the media back through us (so that music on hold reaches the held party), an
// unhold goes direct again, a new media address of from re-targets the other leg.
func (b *Bridge) directFrame(ctx context.Context, f Frame, from *Channel) {
	d := &b.direct
	switch f.Kind {
	case FrameHold:
		d.held = true
		b.undirect()
	case FrameUnhold:
		d.held = false
		b.tryDirect(ctx)
	case FrameSrcUpdate:
		if !d.on {
			return
		}
		other := b.a
		if from == b.a {
			other = b.b
		}
		fdm, ok1 := from.tech.(DirectMedia)
		odm, ok2 := other.tech.(DirectMedia)
		if !ok1 || !ok2 {
			return
		}
		if t, ok := fdm.DirectTarget(); ok {
			go func() {
				cctx, cancel := context.WithTimeout(ctx, directTimeout)
				defer cancel()
				_ = odm.DirectTo(cctx, &t)
			}()
		}
	}
}
