package devstate

import (
	"math/rand/v2"
	"testing"
	"testing/quick"

	"github.com/pleiades-pbx/pleiades/internal/state"
)

// Every pair of the nine states through the aggregation rule, and every aggregate through the
// device -> extension state map.
func TestAggregatePairsAndExtensionState(t *testing.T) {
	const (
		UNK  = state.Unknown
		NOT  = state.NotInUse
		USE  = state.InUse
		BSY  = state.Busy
		INV  = state.Invalid
		UNA  = state.Unavailable
		RNG  = state.Ringing
		RIU  = state.RingInUse
		HOLD = state.OnHold
	)
	// want[a][b], rows and columns in value order:
	// UNKNOWN NOT_INUSE INUSE BUSY INVALID UNAVAILABLE RINGING RINGINUSE ONHOLD
	want := [state.DeviceCount][state.DeviceCount]state.Device{
		UNK:  {UNK, NOT, USE, BSY, UNK, UNA, RNG, RIU, HOLD},
		NOT:  {NOT, NOT, USE, BSY, NOT, NOT, RNG, RIU, HOLD},
		USE:  {USE, USE, USE, BSY, USE, USE, RIU, RIU, USE},
		BSY:  {BSY, BSY, BSY, BSY, BSY, BSY, RIU, RIU, BSY},
		INV:  {UNK, NOT, USE, BSY, INV, UNA, RNG, RIU, HOLD},
		UNA:  {UNA, NOT, USE, BSY, UNA, UNA, RNG, RIU, HOLD},
		RNG:  {RNG, RNG, RIU, RIU, RNG, RNG, RNG, RIU, RIU},
		RIU:  {RIU, RIU, RIU, RIU, RIU, RIU, RIU, RIU, RIU},
		HOLD: {HOLD, HOLD, USE, BSY, HOLD, HOLD, RIU, RIU, HOLD},
	}
	ext := map[state.Device]struct {
		x    state.Extension
		n    int
		text string
	}{
		UNK:  {state.ExtNotInUse, 0, "Idle"},
		NOT:  {state.ExtNotInUse, 0, "Idle"},
		USE:  {state.ExtInUse, 1, "InUse"},
		BSY:  {state.ExtBusy, 2, "Busy"},
		INV:  {state.ExtUnavailable, 4, "Unavailable"},
		UNA:  {state.ExtUnavailable, 4, "Unavailable"},
		RNG:  {state.ExtRinging, 8, "Ringing"},
		RIU:  {state.ExtInUse | state.ExtRinging, 9, "InUse&Ringing"},
		HOLD: {state.ExtOnHold, 16, "Hold"},
	}
	for _, a := range state.Devices() {
		for _, b := range state.Devices() {
			got := Aggregate(a, b)
			if got != want[a][b] {
				t.Errorf("Aggregate(%v, %v) = %v, want %v", a, b, got, want[a][b])
			}
			x := got.Extension()
			w := ext[got]
			if x != w.x || int(x) != w.n || x.String() != w.text {
				t.Errorf("ToExtensionState(%v) = %d %q, want %d %q", got, int(x), x, w.n, w.text)
			}
		}
	}
	// The spec's examples.
	for _, c := range []struct {
		in   []state.Device
		want state.Device
	}{
		{[]state.Device{NOT, USE}, USE}, {[]state.Device{UNA, NOT}, NOT}, {[]state.Device{RNG, HOLD}, RIU}, {[]state.Device{UNK}, UNK},
		{nil, INV},
	} {
		if got := Aggregate(c.in...); got != c.want {
			t.Errorf("Aggregate(%v) = %v, want %v", c.in, got, c.want)
		}
	}
	var a Aggregator
	if a.Len() != 0 || a.Result() != state.Invalid {
		t.Error("empty aggregator")
	}
	a.Add(state.Device(200))
	if a.Result() != state.Unknown {
		t.Errorf("out-of-range state aggregates as %v", a.Result())
	}
}

// closedForm is the rule stated without order: RINGINUSE if some state is RINGINUSE or (some
// is RINGING and some is INUSE/BUSY/ONHOLD), else the highest ranked state.
func closedForm(states []state.Device) state.Device {
	if len(states) == 0 {
		return state.Invalid
	}
	ringing, inuse, best := false, false, state.Invalid
	for _, s := range states {
		ringing = ringing || s == state.Ringing
		inuse = inuse || s == state.InUse || s == state.Busy || s == state.OnHold
		if rank[s] > rank[best] {
			best = s
		}
	}
	if ringing && inuse {
		return state.RingInUse
	}
	return best
}

// The aggregate does not depend on the order of the states.
func TestAggregateOrderIndependent(t *testing.T) {
	f := func(raw []uint8, seed uint64) bool {
		states := make([]state.Device, len(raw)%16)
		for i := range states {
			states[i] = state.Device(raw[i] % state.DeviceCount)
		}
		want := Aggregate(states...)
		if want != closedForm(states) {
			return false
		}
		r := rand.New(rand.NewPCG(seed, 1))
		for range 20 {
			r.Shuffle(len(states), func(i, j int) { states[i], states[j] = states[j], states[i] })
			if Aggregate(states...) != want {
				return false
			}
		}
		return true
	}
	if err := quick.Check(f, &quick.Config{MaxCount: 3000}); err != nil {
		t.Fatal(err)
	}
}
