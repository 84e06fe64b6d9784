package channel

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Registry holds a server's channels (what "core show channels" lists), its channel
// drivers, and the observers of channel events. It names channels as Asterisk does
// (technology counters) and gives them unique IDs.
//
// Observers are called synchronously, in order, by the goroutine that caused the event
// (the channel's owner or its Tech); they must not block and must not call back into the
// channel that published (AMI queues on its own side).
type Registry struct {
	log   *slog.Logger
	start int64 // unique IDs are "<start>.<seq>", as Asterisk's "<epoch>.<n>"
	seq   atomic.Int64

	mu       sync.RWMutex
	channels map[string]*Channel // by name
	drivers  map[string]Driver   // by lower-case type
	counters map[string]*atomic.Uint32

	obsMu     sync.RWMutex
	observers []observer
	obsID     uint64

	moh atomic.Pointer[mohHolder] // music on hold (SetMusicOnHold)
}

type observer struct {
	id uint64
	fn func(Event)
}

// NewRegistry returns an empty registry.
func NewRegistry(log *slog.Logger) *Registry {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Registry{log: log, start: time.Now().Unix(), channels: map[string]*Channel{},
		drivers: map[string]Driver{}, counters: map[string]*atomic.Uint32{}}
}

// RegisterDriver adds a channel technology; a second driver of the same type replaces the
// first.
func (r *Registry) RegisterDriver(d Driver) {
	r.mu.Lock()
	r.drivers[strings.ToLower(d.Type())] = d
	r.mu.Unlock()
}

// UnregisterDriver removes the technology typ.
func (r *Registry) UnregisterDriver(typ string) {
	r.mu.Lock()
	delete(r.drivers, strings.ToLower(typ))
	r.mu.Unlock()
}

// Request makes an outgoing channel for dest ("SIP/bob"): the driver of its technology
// makes and registers it, Down and not yet called. An unknown technology gives ErrNoTech
// (with CauseChannelUnavailable... wrapped as a CauseError).
func (r *Registry) Request(ctx context.Context, dest string, requestor *Channel) (*Channel, error) {
	typ, data, ok := strings.Cut(dest, "/")
	if !ok || typ == "" || data == "" {
		return nil, &CauseError{Cause: CauseChannelUnavailable, Err: fmt.Errorf("channel: bad dial string %q", dest)}
	}
	r.mu.RLock()
	d := r.drivers[strings.ToLower(typ)]
	r.mu.RUnlock()
	if d == nil {
		return nil, &CauseError{Cause: CauseChannelUnavailable, Err: fmt.Errorf("%w: %s", ErrNoTech, typ)}
	}
	return d.Request(ctx, r, data, requestor)
}

// NewName returns the next channel name of a technology for a peer:
// "SIP/alice-00000001" (Asterisk: a counter per technology, 8 hex digits).
func (r *Registry) NewName(tech, peer string) string {
	key := strings.ToLower(tech)
	r.mu.Lock()
	c := r.counters[key]
	if c == nil {
		c = new(atomic.Uint32)
		r.counters[key] = c
	}
	r.mu.Unlock()
	return fmt.Sprintf("%s/%s-%08x", tech, peer, c.Add(1))
}

// NewUniqueID returns a unique ID as Asterisk makes them ("1733550000.17").
func (r *Registry) NewUniqueID() string {
	return fmt.Sprintf("%d.%d", r.start, r.seq.Add(1)-1)
}

// New makes a channel, registers it and publishes Newchannel. Every channel is born Down,
// as Asterisk's; an incoming one then goes to Ring (Newstate Ring right after Newchannel, as
// chan_sip's handle_request_invite does once it sends 100 Trying), an outgoing one stays Down.
func (r *Registry) New(o Options) *Channel {
	id := r.NewUniqueID()
	linked := o.LinkedID
	if linked == "" {
		linked = id
	}
	lang := o.Language
	if lang == "" {
		lang = "en"
	}
	st := Down
	ch := &Channel{name: o.Name, uniqueID: id, linkedID: linked, tech: o.Tech, outgoing: o.Outgoing,
		device: o.Device, created: time.Now(), reg: r,
		frames: make(chan Frame, frameQueue), done: make(chan struct{})}
	ch.snap = Snapshot{Name: o.Name, UniqueID: id, LinkedID: linked, State: st,
		CallerNum: o.CallerNum, CallerName: o.CallerName, AccountCode: o.AccountCode, Language: lang,
		Context: o.Context, Exten: o.Exten, Priority: 1, Device: o.Device, Created: ch.created}
	r.mu.Lock()
	r.channels[o.Name] = ch
	r.mu.Unlock()
	r.publish(Event{Kind: EventNewchannel, Channel: ch.Snapshot()})
	if !o.Outgoing {
		ch.SetState(Ring)
	}
	return ch
}

func (r *Registry) remove(ch *Channel) {
	r.mu.Lock()
	if r.channels[ch.name] == ch {
		delete(r.channels, ch.name)
	}
	r.mu.Unlock()
}

// Get returns the channel named name (exact), nil for none.
func (r *Registry) Get(name string) *Channel {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.channels[name]
}

// List returns every channel, oldest first.
func (r *Registry) List() []*Channel {
	r.mu.RLock()
	out := make([]*Channel, 0, len(r.channels))
	for _, ch := range r.channels {
		out = append(out, ch)
	}
	r.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].created.Equal(out[j].created) {
			return out[i].created.Before(out[j].created)
		}
		return out[i].name < out[j].name
	})
	return out
}

// Count returns how many channels exist.
func (r *Registry) Count() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.channels)
}

// Subscribe adds an observer of every channel event; the returned function removes it.
func (r *Registry) Subscribe(fn func(Event)) (cancel func()) {
	r.obsMu.Lock()
	r.obsID++
	id := r.obsID
	r.observers = append(r.observers, observer{id: id, fn: fn})
	r.obsMu.Unlock()
	return func() {
		r.obsMu.Lock()
		defer r.obsMu.Unlock()
		for i, o := range r.observers {
			if o.id == id {
				r.observers = append(r.observers[:i:i], r.observers[i+1:]...)
				return
			}
		}
	}
}

// Publish sends an event to every observer (for events the channel itself does not
// publish: DialBegin/DialEnd by Dial, BridgeEnter/BridgeLeave by a bridge).
func (r *Registry) Publish(e Event) { r.publish(e) }

func (r *Registry) publish(e Event) {
	r.obsMu.RLock()
	obs := r.observers
	r.obsMu.RUnlock()
	for _, o := range obs {
		o.fn(e)
	}
}
