package queue

import (
	"fmt"
	"testing"

	"github.com/pleiades-pbx/pleiades/internal/state"
)

func free(p int) Candidate { return Candidate{Penalty: p, State: state.NotInUse} }

func TestChoose(t *testing.T) {
	inuse := func(ringinuse bool) Candidate {
		return Candidate{State: state.InUse, RingInUse: ringinuse}
	}
	withLast := func(p int, last int64) Candidate { c := free(p); c.LastCall = last; return c }
	withCalls := func(p, calls int) Candidate { c := free(p); c.Calls = calls; return c }
	tried := func(c Candidate) Candidate { c.Tried = true; return c }
	st := func(s state.Device) Candidate { return Candidate{State: s} }
	paused := func() Candidate { c := free(0); c.Paused = true; return c }
	wrap := func() Candidate { c := free(0); c.InWrapup = true; return c }
	busy := func() Candidate { c := free(0); c.Busy = true; return c }
	for _, tc := range []struct {
		name string
		c    Choice
		ms   []Candidate
		want string
	}{
		{"ringall rings every free member", Choice{Strategy: RingAll}, []Candidate{free(0), free(0), free(0)}, "[0 1 2]"},
		{"ringall lowest penalty tier", Choice{Strategy: RingAll}, []Candidate{free(1), free(0), free(2), free(0)}, "[1 3]"},
		{"ringall next tier when the lowest is unavailable", Choice{Strategy: RingAll}, []Candidate{free(1), st(state.Unavailable), free(1)}, "[0 2]"},
		{"ringall skips in use without ringinuse", Choice{Strategy: RingAll}, []Candidate{inuse(false), free(0), inuse(true)}, "[1 2]"},
		{"skip busy ringing invalid onhold", Choice{Strategy: RingAll}, []Candidate{st(state.Busy), st(state.Ringing), st(state.Invalid), st(state.OnHold), st(state.RingInUse), st(state.Unknown)}, "[5]"},
		{"skip paused wrapup busy-in-queue", Choice{Strategy: RingAll}, []Candidate{paused(), wrap(), busy(), free(3)}, "[3]"},
		{"nobody", Choice{Strategy: Linear}, []Candidate{paused(), st(state.Invalid)}, "[]"},
		{"leastrecent never called first", Choice{Strategy: LeastRecent}, []Candidate{withLast(0, 50), withLast(0, 0), withLast(0, 10)}, "[1]"},
		{"leastrecent oldest call", Choice{Strategy: LeastRecent}, []Candidate{withLast(0, 50), withLast(0, 20), withLast(0, 30)}, "[1]"},
		{"leastrecent penalty first", Choice{Strategy: LeastRecent}, []Candidate{withLast(1, 1), withLast(0, 1<<61)}, "[1]"},
		{"fewestcalls", Choice{Strategy: FewestCalls}, []Candidate{withCalls(0, 3), withCalls(0, 1), withCalls(0, 2)}, "[1]"},
		{"fewestcalls penalty first", Choice{Strategy: FewestCalls}, []Candidate{withCalls(1, 0), withCalls(0, 9)}, "[1]"},
		{"fewestcalls tie goes to order", Choice{Strategy: FewestCalls}, []Candidate{withCalls(0, 1), withCalls(0, 1)}, "[0]"},
		{"linear first free in order", Choice{Strategy: Linear}, []Candidate{paused(), free(0), free(0)}, "[1]"},
		{"linear next after tried", Choice{Strategy: Linear}, []Candidate{tried(free(0)), free(0), free(0)}, "[1]"},
		{"linear round over", Choice{Strategy: Linear}, []Candidate{tried(free(0)), tried(free(0))}, "[]"},
		{"linear penalty first", Choice{Strategy: Linear}, []Candidate{free(2), free(1)}, "[1]"},
		{"rrmemory after last answered", Choice{Strategy: RRMemory, RRPos: 1}, []Candidate{free(0), free(0), free(0)}, "[2]"},
		{"rrmemory wraps", Choice{Strategy: RRMemory, RRPos: 2}, []Candidate{free(0), free(0), free(0)}, "[0]"},
		{"rrmemory skips unavailable", Choice{Strategy: RRMemory, RRPos: 0}, []Candidate{free(0), st(state.Unavailable), free(0)}, "[2]"},
		{"rrmemory from the top", Choice{Strategy: RRMemory, RRPos: -1}, []Candidate{free(0), free(0)}, "[0]"},
		{"rrordered same as rrmemory", Choice{Strategy: RROrdered, RRPos: 0}, []Candidate{free(0), free(0), free(0)}, "[1]"},
		{"rrmemory penalty first", Choice{Strategy: RRMemory, RRPos: 0}, []Candidate{free(0), free(1), free(0)}, "[2]"},
		{"random lowest penalty", Choice{Strategy: Random, Rand: func(n int) int { return n - 1 }}, []Candidate{free(1), free(0), free(0)}, "[1]"},
		{"wrandom penalty weighs", Choice{Strategy: WRandom, Rand: func(n int) int { return n - 1 }}, []Candidate{free(2), free(0), free(1)}, "[1]"},
	} {
		got := fmt.Sprint(Choose(nil, tc.ms, tc.c))
		if got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestChooseRandomSpreads(t *testing.T) {
	ms := []Candidate{free(0), free(0), free(0), free(5)}
	seen := map[int]int{}
	r := newRand(1)
	for range 3000 {
		for _, i := range Choose(nil, ms, Choice{Strategy: Random, Rand: r}) {
			seen[i]++
		}
	}
	if seen[3] != 0 || seen[0] < 800 || seen[1] < 800 || seen[2] < 800 {
		t.Errorf("random: %v", seen)
	}
	seen = map[int]int{}
	for range 3000 {
		for _, i := range Choose(nil, ms, Choice{Strategy: WRandom, Rand: r}) {
			seen[i]++
		}
	}
	if seen[3] == 0 || seen[3] > seen[0] {
		t.Errorf("wrandom: penalty 5 should be picked, rarely: %v", seen)
	}
}
