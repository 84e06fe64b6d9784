package queue

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/devstate"
	"github.com/pleiades-pbx/pleiades/internal/eid"
	"github.com/pleiades-pbx/pleiades/internal/event"
	"github.com/pleiades-pbx/pleiades/internal/state"
)

// benchQueue is a queue of members members (their devices in the real devstate engine: a
// third in use, a tenth unavailable, the rest free; every 7th paused) with callers callers
// waiting, autofill on.
func benchQueue(b *testing.B, strategy Strategy, members, callers int) (*Engine, *Queue, []*waiter) {
	b.Helper()
	bus := event.NewBus(nil, eid.EID{2, 0, 0, 0, 0, 1})
	ds, err := devstate.New(nil, bus, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ds.Close(); bus.Close() })
	e := New(Deps{Devices: ds})
	b.Cleanup(func() { e.Close() })
	qc := defaultQueue("bench", General{})
	qc.Strategy, qc.Autofill, qc.RingInUse = strategy, true, false
	for i := range members {
		dev := fmt.Sprintf("Custom:m%d", i)
		st := state.NotInUse
		switch {
		case i%10 == 9:
			st = state.Unavailable
		case i%3 == 0:
			st = state.InUse
		}
		if err := ds.Set(dev, st); err != nil {
			b.Fatal(err)
		}
		qc.Members = append(qc.Members, MemberConfig{Interface: fmt.Sprintf("SIP/m%d", i), StateInterface: dev, Penalty: i % 3})
	}
	e.Apply(&Config{Queues: []QueueConfig{qc}})
	q := e.queues["bench"]
	now := time.Now()
	for i, m := range q.members {
		m.Paused = i%7 == 0
		m.Calls = i % 11
		m.LastCall = now.Add(-time.Duration(i%13) * time.Minute)
	}
	ws := make([]*waiter, callers)
	for i := range ws {
		c := &Caller{Channel: fmt.Sprintf("SIP/c-%08x", i), Joined: now, OrigPos: i + 1, tried: map[*Member]bool{}}
		q.callers = append(q.callers, c)
		ws[i] = &waiter{e: e, q: q, c: c}
	}
	return e, q, ws
}

// BenchmarkDecision is one decision of a queue of 500 members with 1,000 callers waiting:
// the turn of the caller (its place, and with autofill the count of members that could be
// rung), then for a caller whose turn it is the member choice over every member's cluster-wide device state, and the position
// update when the head caller leaves (it joins again at the tail, so the line stays 1,000).
func BenchmarkDecision(b *testing.B) {
	for _, s := range []Strategy{RingAll, LeastRecent, FewestCalls, Random, WRandom, RRMemory, RROrdered, Linear} {
		b.Run(s.String(), func(b *testing.B) {
			e, q, ws := benchQueue(b, s, 500, 1000)
			now := time.Now()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				w := ws[i%len(ws)]
				e.mu.Lock()
				w.decide(now)
				// The head caller is connected: out of the line, and back at its end.
				head := q.callers[0]
				q.callers = slices.Delete(q.callers, 0, 1)
				q.callers = append(q.callers, head)
				e.mu.Unlock()
			}
		})
	}
}

// BenchmarkChoose is the pure choice alone over 500 prepared candidates (the baseline the
// decision adds its state reads and line keeping to).
func BenchmarkChoose(b *testing.B) {
	ms := make([]Candidate, 500)
	for i := range ms {
		ms[i] = Candidate{Penalty: i % 3, Calls: i % 11, LastCall: int64(i % 13), State: state.NotInUse, Paused: i%7 == 0}
	}
	dst := make([]int, 0, 500)
	for _, s := range []Strategy{RingAll, LeastRecent, RRMemory} {
		b.Run(s.String(), func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				dst = Choose(dst[:0], ms, Choice{Strategy: s, RRPos: 7})
			}
		})
	}
}
