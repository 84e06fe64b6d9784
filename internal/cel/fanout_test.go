package cel

import (
	"strconv"
	"sync"
	"testing"
)

// Events that come while a Fanout is held reach the receivers given to Resume, before the
// ones after it, in order; a receiver dropped at Hold gets nothing more.
func TestFanoutHoldsDuringReplace(t *testing.T) {
	var mu sync.Mutex
	var oldGot, newGot []string
	rec := func(to *[]string) Sink {
		return func(x Event) { mu.Lock(); *to = append(*to, x.UniqueID); mu.Unlock() }
	}
	f := &Fanout{}
	f.Resume(rec(&oldGot))
	ev := func(i int) Event { return Event{UniqueID: strconv.Itoa(i)} }
	f.Sink(ev(0))
	f.Hold()
	f.Sink(ev(1))
	f.Sink(ev(2))
	f.Resume(rec(&newGot))
	f.Sink(ev(3))
	if len(oldGot) != 1 || oldGot[0] != "0" {
		t.Fatalf("old receiver got %v, want [0]", oldGot)
	}
	if len(newGot) != 3 || newGot[0] != "1" || newGot[1] != "2" || newGot[2] != "3" {
		t.Fatalf("new receiver got %v, want [1 2 3]", newGot)
	}
}
