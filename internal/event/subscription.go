package event

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Handler receives the events of a subscription, one at a time, on the subscription's own
// goroutine. A handler may publish and subscribe; it must not wait for its own subscription
// (WaitIdle) or it deadlocks.
type Handler func(Event)

// Default queue bounds (see Option).
const (
	DefaultQueueLen   = 1024
	DefaultMaxPending = 1 << 20
)

type originFilter uint8

const (
	anyOrigin originFilter = iota
	localOrigin
	remoteOrigin
)

func (f originFilter) String() string {
	switch f {
	case localOrigin:
		return "local"
	case remoteOrigin:
		return "remote"
	}
	return "any"
}

type subConfig struct {
	queueLen   int
	maxPending int
	origin     originFilter
}

// Option tunes a subscription.
type Option func(*subConfig)

// QueueLen sets how many events may wait in order before coalescing starts (default
// DefaultQueueLen). Below it every event is delivered; at or above it a new event whose
// (kind, key, origin) already waits replaces the waiting one ("coalesced"), and an event of a
// key that does not wait yet is still queued, so that no key loses its latest state.
func QueueLen(n int) Option {
	return func(c *subConfig) {
		if n > 0 {
			c.queueLen = n
		}
	}
}

// MaxPending is the hard bound on waiting events (default DefaultMaxPending, at least
// QueueLen): an event that would exceed it is dropped and counted. With coalescing this bound is
// only reached when more distinct keys change than it allows while the subscriber is stalled.
func MaxPending(n int) Option {
	return func(c *subConfig) {
		if n > 0 {
			c.maxPending = n
		}
	}
}

// LocalOnly delivers only events that originate on this server (Origin() == the bus's local
// EID). The cluster uses it to learn what to publish.
func LocalOnly() Option { return func(c *subConfig) { c.origin = localOrigin } }

// RemoteOnly delivers only events that originate on other servers.
func RemoteOnly() Option { return func(c *subConfig) { c.origin = remoteOrigin } }

// Subscription is one consumer of events, with its own bounded queue and goroutine.
type Subscription struct {
	bus  *Bus
	name string
	kind Kind
	keys []string // nil: every key of kind
	h    Handler
	cfg  subConfig

	mu        sync.Mutex // guards the fields below; never held while the handler runs
	q         queue
	idle      bool // the goroutine waits on wake
	closed    bool
	inflight  int
	highWater int
	warned    bool
	accepted  uint64 // events offered (delivered + coalesced + dropped + pending)
	finished  uint64 // events delivered, coalesced or dropped
	delivered uint64
	coalesced uint64
	dropped   uint64

	wake chan struct{}
	done chan struct{}
}

// Name returns the subscription's name.
func (s *Subscription) Name() string { return s.name }

// Done is closed when the subscription's goroutine has ended after Close.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Close ends the subscription: nothing more is delivered, waiting events are discarded. It does
// not wait for a running handler (so a handler may close its own subscription); use Done to
// wait.
func (s *Subscription) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.q.reset()
	s.mu.Unlock()
	s.bus.remove(s)
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// push offers ev (lock order: called with a shard lock and the bus's subscription read lock
// held; takes s.mu).
func (s *Subscription) push(ck ckey, ev Event) {
	var warn, warnDrop bool
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.accepted++
	if s.q.n >= s.cfg.queueLen {
		if !s.warned {
			s.warned, warn = true, true
		}
		if s.q.replace(ck, ev) {
			s.coalesced++
			s.finished++
			s.mu.Unlock()
			s.warnFull(warn, false)
			return
		}
		if s.q.n >= s.cfg.maxPending {
			s.dropped++
			s.finished++
			warnDrop = s.dropped == 1 || s.dropped%10000 == 0
			s.mu.Unlock()
			s.warnFull(warn, warnDrop)
			return
		}
	}
	s.q.push(ck, ev)
	if s.q.n > s.highWater {
		s.highWater = s.q.n
	}
	wake := s.idle
	s.idle = false
	s.mu.Unlock()
	if wake {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	s.warnFull(warn, false)
}

func (s *Subscription) warnFull(full, drop bool) {
	if full {
		s.bus.log.Warn(fmt.Sprintf("Event queue '%s' reached its length of %d: its subscriber is behind, coalescing states", s.name, s.cfg.queueLen))
	}
	if drop {
		s.mu.Lock()
		d := s.dropped
		s.mu.Unlock()
		s.bus.log.Error(fmt.Sprintf("Event queue '%s' is at its bound of %d waiting events: %d events dropped", s.name, s.cfg.maxPending, d))
	}
}

const batchSize = 64

func (s *Subscription) run() {
	defer close(s.done)
	batch := make([]Event, 0, batchSize)
	for {
		s.mu.Lock()
		for s.q.n == 0 && !s.closed {
			s.idle = true
			s.mu.Unlock()
			<-s.wake
			s.mu.Lock()
		}
		if s.closed {
			s.mu.Unlock()
			return
		}
		for s.q.n > 0 && len(batch) < batchSize {
			batch = append(batch, s.q.pop())
		}
		if s.q.n < s.cfg.queueLen/2 {
			s.warned = false
		}
		s.inflight = len(batch)
		s.mu.Unlock()

		for i, ev := range batch {
			s.call(ev)
			batch[i] = nil
		}

		s.mu.Lock()
		s.delivered += uint64(len(batch))
		s.finished += uint64(len(batch))
		s.inflight = 0
		s.mu.Unlock()
		batch = batch[:0]
	}
}

func (s *Subscription) call(ev Event) {
	defer func() {
		if r := recover(); r != nil {
			s.bus.log.Error(fmt.Sprintf("Event subscriber '%s' panicked on %s %q: %v", s.name, ev.Kind(), ev.Key(), r))
		}
	}()
	s.h(ev)
}

// pending returns how many events were offered and how many of those are done with.
func (s *Subscription) counters() (accepted, finished uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, 0
	}
	return s.accepted, s.finished
}

// waitFinished waits until every event offered before the call has been delivered, coalesced
// or dropped. It reports whether there was anything to wait for.
func (s *Subscription) waitFinished(ctx context.Context) (bool, error) {
	target, fin := s.counters()
	if fin >= target {
		return false, nil
	}
	for d := 5 * time.Microsecond; ; d = min(2*d, 200*time.Microsecond) {
		if _, fin = s.counters(); fin >= target {
			return true, nil
		}
		select {
		case <-ctx.Done():
			return true, ctx.Err()
		case <-s.done:
			return true, nil
		case <-time.After(d):
		}
	}
}

// QueueStats describe a subscription's queue.
type QueueStats struct {
	Name       string
	Kind       Kind
	Keys       int    // number of keys watched; 0 means every key of Kind
	Origin     string // "any", "local" or "remote"
	Depth      int    // events waiting now
	InFlight   int    // events handed to the handler and not done yet
	HighWater  int    // most events ever waiting at once
	QueueLen   int
	MaxPending int
	Delivered  uint64
	Coalesced  uint64 // events replaced by a newer state of their key while waiting
	Dropped    uint64 // events discarded at MaxPending
}

// Stats returns the subscription's queue statistics.
func (s *Subscription) Stats() QueueStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return QueueStats{
		Name: s.name, Kind: s.kind, Keys: len(s.keys), Origin: s.cfg.origin.String(),
		Depth: s.q.n, InFlight: s.inflight, HighWater: s.highWater,
		QueueLen: s.cfg.queueLen, MaxPending: s.cfg.maxPending,
		Delivered: s.delivered, Coalesced: s.coalesced, Dropped: s.dropped,
	}
}
