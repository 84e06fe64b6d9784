package event

import "github.com/pleiades-pbx/pleiades/internal/eid"

// ckey is what coalescing works on: one pending slot per (kind, origin, key) can take a newer
// state in place.
type ckey struct {
	kind   Kind
	origin eid.EID
	key    string
}

type slot struct {
	ck ckey
	ev Event
}

// queue is a FIFO ring of events. Once it is asked to coalesce (it is full) it keeps an index
// of the newest pending slot of every (kind, origin, key), so that a newer state can replace
// it in place, until it is empty again: a subscriber that keeps up costs no index upkeep. Not
// safe for concurrent use: the Subscription's mutex guards it.
type queue struct {
	buf     []slot
	head    int
	n       int
	base    uint64 // sequence number of buf[head]
	indexed bool   // last is maintained
	last    map[ckey]uint64
	peak    int // most entries in last since it was made, to give memory back after a storm
}

const minQueueBuf = 16

func (q *queue) pos(seq uint64) int {
	i := q.head + int(seq-q.base)
	if i >= len(q.buf) {
		i -= len(q.buf)
	}
	return i
}

// push appends ev.
func (q *queue) push(ck ckey, ev Event) {
	if q.n == len(q.buf) {
		q.grow()
	}
	seq := q.base + uint64(q.n)
	q.n++
	q.buf[q.pos(seq)] = slot{ck: ck, ev: ev}
	if q.indexed {
		q.index(ck, seq)
	}
}

func (q *queue) index(ck ckey, seq uint64) {
	q.last[ck] = seq
	if len(q.last) > q.peak {
		q.peak = len(q.last)
	}
}

// replace puts ev in the newest pending slot of ck, if there is one.
func (q *queue) replace(ck ckey, ev Event) bool {
	if !q.indexed {
		if q.last == nil {
			q.last = make(map[ckey]uint64, q.n)
		}
		for i := 0; i < q.n; i++ {
			seq := q.base + uint64(i)
			q.index(q.buf[q.pos(seq)].ck, seq)
		}
		q.indexed = true
	}
	seq, ok := q.last[ck]
	if !ok {
		return false
	}
	q.buf[q.pos(seq)].ev = ev
	return true
}

// pop removes and returns the oldest event; the queue must not be empty.
func (q *queue) pop() Event {
	s := &q.buf[q.head]
	ev := s.ev
	if q.indexed {
		if seq, ok := q.last[s.ck]; ok && seq == q.base {
			delete(q.last, s.ck)
		}
	}
	*s = slot{}
	q.head++
	if q.head == len(q.buf) {
		q.head = 0
	}
	q.base++
	q.n--
	if q.n == 0 {
		q.shrink()
	}
	return ev
}

func (q *queue) grow() {
	n := max(minQueueBuf, 2*len(q.buf))
	nb := make([]slot, n)
	for i := 0; i < q.n; i++ {
		nb[i] = q.buf[q.pos(q.base+uint64(i))]
	}
	q.buf, q.head = nb, 0
}

// shrink gives back the memory of a storm once the queue is empty again (Go maps never
// shrink on their own).
func (q *queue) shrink() {
	q.head = 0
	if len(q.buf) > 1024 {
		q.buf = nil
	}
	q.indexed = false
	if q.peak > 1024 {
		q.last, q.peak = nil, 0
	} else {
		clear(q.last)
	}
}

// reset drops everything.
func (q *queue) reset() {
	*q = queue{base: q.base}
}
