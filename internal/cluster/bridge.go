package cluster

import (
	"fmt"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/eid"
	"github.com/pleiades-pbx/pleiades/internal/event"
)

// Codec is one event type's payload between servers. The state engine that owns the type
// provides it (devstate.WireCodec for device_state, mwi.WireCodec for mwi), so a state travels
// as that engine spells it and nothing between the bus and the wire parses states.
type Codec interface {
	// Kind is the bus kind of the type; its name is the cluster event type ("device_state").
	Kind() event.Kind
	// Encode returns the payload of ev (an event of Kind, never a Cleared) and its origin
	// time (zero: the time it is sent). ok is false for an event that is not sent. No fields
	// means "removed on its origin".
	Encode(ev event.Event) (fields []string, t time.Time, ok bool)
	// Decode rebuilds the event of key that origin sent. ok false means "forget what origin
	// had for key" (the bus entry is cleared).
	Decode(key string, fields []string, origin eid.EID, t time.Time) (ev event.Event, ok bool)
}

// Publisher sends a locally originated event to the other servers (*Cluster).
type Publisher interface {
	Publish(e Event)
}

// Bridge joins the cluster and this server's event bus, one Codec per event type: it is the
// Local the cluster applies remote events to and snapshots from, and Forward sends this
// server's own events of those kinds.
//
// Wiring (for internal/core):
//
//	br, err := cluster.NewBridge(bus, devstate.WireCodec{}, mwi.WireCodec{})
//	c, err := cluster.New(cfg, self, log, br)
//	br.Forward(c)  // before c.Start, so that no local change is missed
//	c.Start(ctx)
//	...
//	br.Close()     // before c.Stop: stops forwarding and waits for its subscriptions
type Bridge struct {
	bus    *event.Bus
	codecs map[string]Codec // by cluster type
	subs   []*event.Subscription
}

// NewBridge makes a bridge for bus with the codecs of the types it carries (one per type).
func NewBridge(bus *event.Bus, codecs ...Codec) (*Bridge, error) {
	b := &Bridge{bus: bus, codecs: map[string]Codec{}}
	for _, c := range codecs {
		typ := c.Kind().String()
		if !isKnownType(typ) || !c.Kind().Shareable() {
			return nil, fmt.Errorf("cluster: no event type %q to bridge", typ)
		}
		if _, dup := b.codecs[typ]; dup {
			return nil, fmt.Errorf("cluster: two codecs for event type %q", typ)
		}
		b.codecs[typ] = c
	}
	return b, nil
}

// wire turns a bus event into a cluster event of typ; ok is false when it is not sent.
func wire(typ string, c Codec, ev event.Event) (Event, bool) {
	if cl, isCleared := ev.(event.Cleared); isCleared {
		return Event{Type: typ, Key: cl.Item, EID: cl.EID}, true
	}
	fields, t, ok := c.Encode(ev)
	if !ok {
		return Event{}, false
	}
	return Event{Type: typ, Key: ev.Key(), Fields: fields, EID: ev.Origin(), Time: t}, true
}

// Forward subscribes to this server's own events of every bridged kind ("cluster:<type>") and
// publishes each through p, removals included. Call it once, before the cluster starts.
func (b *Bridge) Forward(p Publisher) {
	for typ, c := range b.codecs {
		b.subs = append(b.subs, b.bus.Subscribe("cluster:"+typ, c.Kind(), func(ev event.Event) {
			if e, ok := wire(typ, c, ev); ok {
				p.Publish(e)
			}
		}, event.LocalOnly()))
	}
}

// Close stops forwarding and waits for the subscriptions' goroutines.
func (b *Bridge) Close() {
	for _, s := range b.subs {
		s.Close()
		<-s.Done()
	}
	b.subs = nil
}

// Snapshot returns this server's cached events of typ.
func (b *Bridge) Snapshot(typ string) []Event {
	c, ok := b.codecs[typ]
	if !ok {
		return nil
	}
	var out []Event
	for _, ev := range b.bus.Dump(c.Kind(), b.bus.Local()) {
		if e, ok := wire(typ, c, ev); ok {
			out = append(out, e)
		}
	}
	return out
}

// Apply publishes another server's event on the bus with that server's Entity ID (or clears
// its entry, for a removal).
func (b *Bridge) Apply(e Event) {
	c, ok := b.codecs[e.Type]
	if !ok {
		return
	}
	ev, ok := c.Decode(e.Key, e.Fields, e.EID, e.Time)
	if !ok {
		b.bus.Clear(c.Kind(), e.Key, e.EID)
		return
	}
	b.bus.Publish(ev)
}

// Purge clears every cached event of typ that came from origin.
func (b *Bridge) Purge(typ string, origin eid.EID) int {
	c, ok := b.codecs[typ]
	if !ok {
		return 0
	}
	n := 0
	for _, key := range b.bus.Keys(c.Kind()) {
		if b.bus.Clear(c.Kind(), key, origin) {
			n++
		}
	}
	return n
}

var _ Local = (*Bridge)(nil)
