package devstate

import (
	"math/rand/v2"
	"testing"
	"testing/quick"
)

// Every pair of the nine states through the aggregation rule, and every aggregate through the
// device -> extension state map.
func TestAggregatePairsAndExtensionState(t *testing.T) {
	const (
		UNK  = Unknown
		NOT  = NotInUse
		USE  = InUse
		BSY  = Busy
		INV  = Invalid
		UNA  = Unavailable
		RNG  = Ringing
		RIU  = RingInUse
		HOLD = OnHold
	)
	// want[a][b], rows and columns in value order:
	// UNKNOWN NOT_INUSE INUSE BUSY INVALID UNAVAILABLE RINGING RINGINUSE ONHOLD
	want := [NumStates][NumStates]State{
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
	ext := map[State]struct {
		x    ExtensionState
		n    int
		text string
	}{
		UNK:  {ExtensionNotInUse, 0, "Idle"},
		NOT:  {ExtensionNotInUse, 0, "Idle"},
		USE:  {ExtensionInUse, 1, "InUse"},
		BSY:  {ExtensionBusy, 2, "Busy"},
		INV:  {ExtensionUnavailable, 4, "Unavailable"},
		UNA:  {ExtensionUnavailable, 4, "Unavailable"},
		RNG:  {ExtensionRinging, 8, "Ringing"},
		RIU:  {ExtensionInUse | ExtensionRinging, 9, "InUse&Ringing"},
		HOLD: {ExtensionOnHold, 16, "Hold"},
	}
	for _, a := range States() {
		for _, b := range States() {
			got := Aggregate(a, b)
			if got != want[a][b] {
				t.Errorf("Aggregate(%v, %v) = %v, want %v", a, b, got, want[a][b])
			}
			x := ToExtensionState(got)
			w := ext[got]
			if x != w.x || int(x) != w.n || x.String() != w.text {
				t.Errorf("ToExtensionState(%v) = %d %q, want %d %q", got, int(x), x, w.n, w.text)
			}
		}
	}
	// The spec's examples.
	for _, c := range []struct {
		in   []State
		want State
	}{
		{[]State{NOT, USE}, USE}, {[]State{UNA, NOT}, NOT}, {[]State{RNG, HOLD}, RIU}, {[]State{UNK}, UNK},
		{nil, INV},
	} {
		if got := Aggregate(c.in...); got != c.want {
			t.Errorf("Aggregate(%v) = %v, want %v", c.in, got, c.want)
		}
	}
	var a Aggregator
	if a.Len() != 0 || a.Result() != Invalid {
		t.Error("empty aggregator")
	}
	a.Add(State(200))
	if a.Result() != Unknown {
		t.Errorf("out-of-range state aggregates as %v", a.Result())
	}
}

func TestExtensionStateTexts(t *testing.T) {
	for x, want := range map[ExtensionState]string{
		-2: "Removed", -1: "Deactivated", 0: "Idle", 1: "InUse", 2: "Busy", 4: "Unavailable",
		8: "Ringing", 9: "InUse&Ringing", 16: "Hold", 17: "InUse&Hold", 3: "Unknown",
	} {
		if x.String() != want {
			t.Errorf("ExtensionState(%d) = %q, want %q", int(x), x, want)
		}
	}
}

func TestStateNamesAndTexts(t *testing.T) {
	names := "UNKNOWN NOT_INUSE INUSE BUSY INVALID UNAVAILABLE RINGING RINGINUSE ONHOLD"
	texts := []string{"Unknown", "Not in use", "In use", "Busy", "Invalid", "Unavailable", "Ringing", "Ring+Inuse", "On Hold"}
	got := ""
	for i, s := range States() {
		if i > 0 {
			got += " "
		}
		got += s.String()
		if s.Text() != texts[i] {
			t.Errorf("%v.Text() = %q, want %q", s, s.Text(), texts[i])
		}
		if p, ok := ParseState(s.String()); !ok || p != s {
			t.Errorf("ParseState(%q) = %v, %v", s, p, ok)
		}
	}
	if got != names {
		t.Errorf("names %q", got)
	}
	if s, ok := ParseState("inuse"); !ok || s != InUse {
		t.Error("ParseState is not case-insensitive")
	}
	if s, ok := ParseState("bogus"); ok || s != Unknown {
		t.Error("ParseState(bogus)")
	}
	if State(42).String() != "UNKNOWN" || State(42).Text() != "Unknown" || State(42).Valid() {
		t.Error("out-of-range state")
	}
}

// closedForm is the rule stated without order: RINGINUSE if some state is RINGINUSE or (some
// is RINGING and some is INUSE/BUSY/ONHOLD), else the highest ranked state.
func closedForm(states []State) State {
	if len(states) == 0 {
		return Invalid
	}
	ringing, inuse, best := false, false, Invalid
	for _, s := range states {
		ringing = ringing || s == Ringing
		inuse = inuse || s == InUse || s == Busy || s == OnHold
		if rank[s] > rank[best] {
			best = s
		}
	}
	if ringing && inuse {
		return RingInUse
	}
	return best
}

// The aggregate does not depend on the order of the states.
func TestAggregateOrderIndependent(t *testing.T) {
	f := func(raw []uint8, seed uint64) bool {
		states := make([]State, len(raw)%16)
		for i := range states {
			states[i] = State(raw[i] % NumStates)
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
