package queue

import (
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/state"
)

// TestTurns: without autofill only the head of the line rings; with autofill the callers
// ring in parallel while there are members that could be rung, each holding its own.
func TestTurns(t *testing.T) {
	for _, autofill := range []bool{false, true} {
		e := New(Deps{Devices: &fakeDevices{m: map[string]state.Device{"SIP/a": state.NotInUse, "SIP/b": state.NotInUse}}})
		qc := defaultQueue("q", General{})
		qc.Strategy, qc.Autofill = Linear, autofill
		qc.Members = []MemberConfig{{Interface: "SIP/a"}, {Interface: "SIP/b"}}
		e.Apply(&Config{Queues: []QueueConfig{qc}})
		q := e.queues["q"]
		var ws []*waiter
		for range 3 {
			c := &Caller{tried: map[*Member]bool{}}
			q.callers = append(q.callers, c)
			ws = append(ws, &waiter{e: e, q: q, c: c})
		}
		now := time.Now()
		var got []string
		for _, w := range ws {
			pick := w.decide(now)
			s := "-"
			if len(pick) == 1 {
				s = pick[0].Interface
				pick[0].ringing++
				w.c.ringing = true
			}
			got = append(got, s)
		}
		want := "[SIP/a - -]"
		if autofill {
			want = "[SIP/a SIP/b -]"
		}
		if g := "[" + join(got) + "]"; g != want {
			t.Errorf("autofill=%v: %s, want %s", autofill, g, want)
		}
		e.Close()
	}
}

func join(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out
}

// TestWeight: a member of two queues is not rung for the lighter one while the heavier one
// has callers waiting.
func TestWeight(t *testing.T) {
	e := New(Deps{Devices: &fakeDevices{m: map[string]state.Device{}}})
	defer e.Close()
	light, heavy := defaultQueue("light", General{}), defaultQueue("heavy", General{})
	heavy.Weight = 2
	light.Members = []MemberConfig{{Interface: "SIP/a"}, {Interface: "SIP/b"}}
	heavy.Members = []MemberConfig{{Interface: "SIP/a"}}
	e.Apply(&Config{Queues: []QueueConfig{light, heavy}})
	lq := e.queues["light"]
	c := &Caller{tried: map[*Member]bool{}}
	lq.callers = append(lq.callers, c)
	w := &waiter{e: e, q: lq, c: c}
	pick := func() string {
		var s []string
		for _, m := range w.decide(time.Now()) {
			s = append(s, m.Interface)
		}
		return join(s)
	}
	if got := pick(); got != "SIP/a SIP/b" {
		t.Errorf("heavy queue empty: %s", got)
	}
	e.queues["heavy"].callers = append(e.queues["heavy"].callers, &Caller{})
	if got := pick(); got != "SIP/b" {
		t.Errorf("heavy queue with a caller: %s", got)
	}
}
