package queue

import (
	"github.com/pleiades-pbx/pleiades/internal/state"
)

// Candidate is what the member choice knows of one member, in the queue's member order
// (config order, then dynamic members in the order they were added).
type Candidate struct {
	Penalty   int
	Calls     int   // calls taken (fewestcalls)
	LastCall  int64 // when the member's last call ended, Unix ns; 0: never (leastrecent)
	State     state.Device
	Paused    bool
	InWrapup  bool // the member's wrapuptime after its last call has not passed
	RingInUse bool // may be rung while its device is in use
	Busy      bool // this server's queue is ringing it or it is in a queue call now
	Tried     bool // already rung for this caller in the current round
}

// Ringable reports whether the member may be rung now: not paused, not in wrapup, not
// already busy with this queue, its device neither INVALID nor UNAVAILABLE, and, without
// ringinuse, its device neither in use, busy, ringing nor on hold.
func (c *Candidate) Ringable() bool {
	if c.Paused || c.InWrapup || c.Busy {
		return false
	}
	switch c.State {
	case state.Invalid, state.Unavailable:
		return false
	case state.NotInUse, state.Unknown:
		return true
	}
	return c.RingInUse
}

// Choice is what Choose needs besides the members.
type Choice struct {
	Strategy Strategy
	// RRPos is the index of the member who answered last (rrmemory, rrordered): the next
	// one after it is tried first. -1: start at the top.
	RRPos int
	// Rand returns a number in [0, n) (random, wrandom); nil uses index order.
	Rand func(n int) int
}

// Choose appends to dst the indexes of the members to ring next and returns it: for
// ringall every ringable member of the lowest penalty among the ringable ones; for the
// other strategies the one member with the best metric, the penalty always counting first
// (except wrandom, where it weighs the draw):
//
//   - leastrecent: the member whose last call ended longest ago (never called first);
//   - fewestcalls: the member who took the fewest calls;
//   - random: any, uniformly, in the lowest penalty;
//   - wrandom: a draw in [0, (penalty+1)·1000) for each, the lowest wins;
//   - rrmemory, rrordered: the first member after RRPos, in member order, wrapping;
//   - linear: the first member in member order.
//
// Members already Tried for this caller are left out (the caller's round goes on to the
// next one); when every ringable member was tried, dst comes back empty and the caller
// starts a new round. Ties go to member order. It allocates nothing when dst has room.
func Choose(dst []int, ms []Candidate, c Choice) []int {
	best := -1
	bestMetric := int64(0)
	bestPenalty := 0
	n := len(ms)
	for i := range ms {
		m := &ms[i]
		if !m.Ringable() || m.Tried {
			continue
		}
		var metric int64
		switch c.Strategy {
		case RingAll:
			if best < 0 || m.Penalty < bestPenalty {
				best, bestPenalty = i, m.Penalty
			}
			continue
		case LeastRecent:
			metric = m.LastCall
		case FewestCalls:
			metric = int64(m.Calls)
		case Random:
			if c.Rand != nil {
				metric = int64(c.Rand(1000))
			}
		case WRandom:
			if c.Rand != nil {
				metric = int64(c.Rand((max(m.Penalty, 0) + 1) * 1000))
			} else {
				metric = int64(max(m.Penalty, 0)) * 1000
			}
		case RRMemory, RROrdered:
			// distance after RRPos, wrapping.
			metric = int64((i - c.RRPos - 1 + 2*n) % n)
		case Linear:
			metric = int64(i)
		}
		tier := m.Penalty
		if c.Strategy == WRandom {
			tier = 0
		}
		if best < 0 || tier < bestPenalty || (tier == bestPenalty && metric < bestMetric) {
			best, bestPenalty, bestMetric = i, tier, metric
		}
	}
	if best < 0 {
		return dst
	}
	if c.Strategy != RingAll {
		return append(dst, best)
	}
	for i := range ms {
		m := &ms[i]
		if m.Penalty == bestPenalty && !m.Tried && m.Ringable() {
			dst = append(dst, i)
		}
	}
	return dst
}
