package cluster

import (
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// TypeStats counts the events of one type.
type TypeStats struct {
	// Sent counts Publish calls that went out; Unpublished those refused because the type
	// is not published (or the cluster is not running).
	Sent, Unpublished uint64
	// Received counts live events taken from members; SyncReceived events taken from
	// snapshots; Applied those passed to Local.Apply; Dropped those thrown away (own EID, not
	// subscribed, not a member, older than what is already applied).
	Received, SyncReceived, Applied, Dropped uint64
}

// Latency summarises now - Event.Time on receipt of live events.
type Latency struct {
	Count              uint64
	Mean, Max          time.Duration
	P50, P90, P99      time.Duration // upper bounds of power-of-two buckets (1 µs .. ~1 h)
	Last               time.Duration
	NegativeClockSkews uint64 // events stamped in our future (clocks apart)
}

// Stats is a snapshot of the cluster's counters.
type Stats struct {
	Types map[string]TypeStats
	// Latency of live events (origin time to receipt here; includes clock offsets between
	// servers).
	Latency Latency

	Joins, Departures                                           uint64
	SyncRequests, SyncServed, SyncsDone, SyncEventsSent         uint64
	Gaps, DecodeErrors, PublishErrors, SlowConsumer             uint64
	DroppedOwn, DroppedNotMember, DroppedStale, DroppedUnsubbed uint64
	DuplicateEID                                                uint64
	// StaleMarks counts members of another site marked stale (site_stale_timeout).
	StaleMarks uint64
}

type typeStats struct {
	sent, unpublished, received, syncReceived, applied, dropped atomic.Uint64
}

type statsCollector struct {
	types   map[string]*typeStats // fixed at creation: read without a lock
	other   typeStats             // types this server does not know
	latency latencyHist

	joins, departures                                               atomic.Uint64
	syncRequests, syncServed, syncsDone, syncEventsSent             atomic.Uint64
	gaps, decodeErrors, publishErrors, slowConsumer                 atomic.Uint64
	droppedOwn, droppedNotMember, droppedStale, droppedUnsubscribed atomic.Uint64
	duplicateEID                                                    atomic.Uint64
	stale                                                           atomic.Uint64
}

func newStatsCollector() *statsCollector {
	s := &statsCollector{types: map[string]*typeStats{}}
	for _, t := range knownTypes {
		s.types[t] = &typeStats{}
	}
	return s
}

func (s *statsCollector) typ(t string) *typeStats {
	if ts := s.types[t]; ts != nil {
		return ts
	}
	return &s.other
}

const latBuckets = 33 // bucket i holds durations below 2^i µs (the last: everything above)

type latencyHist struct {
	mu      sync.Mutex
	count   uint64
	sum     time.Duration
	max     time.Duration
	last    time.Duration
	neg     uint64
	buckets [latBuckets]uint64
}

func (h *latencyHist) observe(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if d < 0 {
		h.neg++
		d = 0
	}
	h.count++
	h.sum += d
	h.last = d
	if d > h.max {
		h.max = d
	}
	us := uint64(d / time.Microsecond)
	i := bits.Len64(us)
	if i >= latBuckets {
		i = latBuckets - 1
	}
	h.buckets[i]++
}

func (h *latencyHist) snapshot() Latency {
	h.mu.Lock()
	defer h.mu.Unlock()
	l := Latency{Count: h.count, Max: h.max, Last: h.last, NegativeClockSkews: h.neg}
	if h.count == 0 {
		return l
	}
	l.Mean = h.sum / time.Duration(h.count)
	q := func(p float64) time.Duration {
		want := uint64(float64(h.count)*p + 0.5)
		var n uint64
		for i, b := range h.buckets {
			n += b
			if n >= want && b > 0 {
				return min(time.Duration(uint64(1)<<uint(i))*time.Microsecond, h.max)
			}
		}
		return h.max
	}
	l.P50, l.P90, l.P99 = q(0.5), q(0.9), q(0.99)
	return l
}

// Stats returns the counters.
func (c *Cluster) Stats() Stats {
	s := c.stats
	out := Stats{Types: map[string]TypeStats{}, Latency: s.latency.snapshot(),
		Joins: s.joins.Load(), Departures: s.departures.Load(),
		SyncRequests: s.syncRequests.Load(), SyncServed: s.syncServed.Load(), SyncsDone: s.syncsDone.Load(),
		SyncEventsSent: s.syncEventsSent.Load(), Gaps: s.gaps.Load(), DecodeErrors: s.decodeErrors.Load(),
		PublishErrors: s.publishErrors.Load(), SlowConsumer: s.slowConsumer.Load(),
		DroppedOwn: s.droppedOwn.Load(), DroppedNotMember: s.droppedNotMember.Load(),
		DroppedStale: s.droppedStale.Load(), DroppedUnsubbed: s.droppedUnsubscribed.Load(),
		DuplicateEID: s.duplicateEID.Load(), StaleMarks: s.stale.Load()}
	read := func(ts *typeStats) TypeStats {
		return TypeStats{Sent: ts.sent.Load(), Unpublished: ts.unpublished.Load(), Received: ts.received.Load(),
			SyncReceived: ts.syncReceived.Load(), Applied: ts.applied.Load(), Dropped: ts.dropped.Load()}
	}
	for t, ts := range s.types {
		out.Types[t] = read(ts)
	}
	if o := read(&s.other); o != (TypeStats{}) {
		out.Types["other"] = o
	}
	return out
}
