package dialplan

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// Cases from Asterisk's documented pattern rules (docs.asterisk.org, "Pattern Matching"):
// X = 0-9, Z = 1-9, N = 2-9, [..] a set with ranges, '.' one or more of anything, '!' zero or
// more; dashes are decoration; a non-pattern extension matches itself only.
func TestPatternMatch(t *testing.T) {
	cases := []struct {
		pattern, exten   string
		match, can, more bool
	}{
		{"_X", "5", true, true, false},
		{"_X", "a", false, false, false},
		{"_Z", "0", false, false, false},
		{"_Z", "1", true, true, false},
		{"_N", "1", false, false, false},
		{"_N", "2", true, true, false},
		{"_n", "9", true, true, false},
		{"_NXXNXXXXXX", "2125551212", true, true, false},
		{"_NXXNXXXXXX", "212555", false, true, true},
		{"_NXXNXXXXXX", "1125551212", false, false, false},
		{"_NXX-XXXX", "555-1212", true, true, false},
		{"_NXX-XXXX", "5551212", true, true, false},
		{"_[1237-9]", "8", true, true, false},
		{"_[1237-9]", "5", false, false, false},
		{"_[a-c]X", "b7", true, true, false},
		{"_011.", "011", false, true, true},
		{"_011.", "0114", true, true, true},
		{"_011.", "01144207", true, true, true},
		{"_011!", "011", true, true, false},
		{"_011!", "0114", true, true, false},
		{"_011!", "01", false, true, true},
		{"_X.", "", false, true, true},
		{"_X!", "1", true, true, false},
		{"_9011.", "9011", false, true, true},
		{"1234", "1234", true, true, false},
		{"1234", "123", false, true, true},
		{"1234", "12345", false, false, false},
		{"12-34", "1234", true, true, false},
		{"s", "s", true, true, false},
		{"_f[n]-.", "fn-BUSY", true, true, true},
		{"_[]X", "5", true, true, false},   // an empty set is ignored
		{"_[12", "1", false, false, false}, // '[' without ']' never matches
		{"_.", "i", true, true, true},
	}
	for _, c := range cases {
		got := [3]bool{extenMatch(c.pattern, c.exten, modeMatch) > 0, extenMatch(c.pattern, c.exten, modeCanMatch) > 0, extenMatch(c.pattern, c.exten, modeMatchMore) > 0}
		// A '!' reached ends a MatchMore lookup as "no"; extenMatch reports 2 there.
		if extenMatch(c.pattern, c.exten, modeMatchMore) == 2 {
			got[2] = false
		}
		want := [3]bool{c.match, c.can, c.more}
		if got != want {
			t.Errorf("%s vs %q: match/canmatch/matchmore = %v, want %v", c.pattern, c.exten, got, want)
		}
	}
}

// Asterisk's ordering (ext_cmp): every plain extension first; patterns compared position by
// position, fewer matching characters first (a literal before N before Z before X), sets by
// size, '.' after any set and '!' after '.'. The end of a pattern scores above all of them,
// so when one pattern is a prefix of another the longer sorts first (_12XX before _12X):
// that is what ext_cmp_pattern does, whatever intuition says.
func TestPatternOrder(t *testing.T) {
	want := []string{
		"1234",
		"s",
		"_1234",
		"_123[45]",
		"_123N",
		"_123Z",
		"_123X",
		"_12[3-4]X",
		"_12XX",
		"_12X.",
		"_12X!",
		"_12X",
		"_NXX",
		"_N",
		"_X.",
		"_X!",
		"_X",
		"_.",
		"_!",
	}
	got := slices.Clone(want)
	r := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		r.Shuffle(len(got), func(i, j int) { got[i], got[j] = got[j], got[i] })
		slices.SortStableFunc(got, compareExtens)
		if !slices.Equal(got, want) {
			t.Fatalf("order:\n got %v\nwant %v", got, want)
		}
	}
}

// The most specific matching pattern wins, and an exact extension beats any pattern.
func TestMostSpecificWins(t *testing.T) {
	e, _ := newTestEngine(t, `
[c]
exten => _X.,1,NoOp(any)
exten => _555XXXX,1,NoOp(555)
exten => _55512XX,1,NoOp(55512)
exten => _555121X,1,NoOp(555121)
exten => 5551212,1,NoOp(exact)
exten => _[5]551213,1,NoOp(set)
`)
	for exten, want := range map[string]string{
		"5551212": "exact", "5551219": "555121", "5551300": "555", "5551234": "55512", "5551200": "55512", "123": "any", "5551213": "set",
	} {
		f, ok := e.Find(t.Context(), "c", exten, 1, "")
		if !ok || f.Priority.Data != want {
			t.Errorf("%s: got %+v, want %s", exten, f.Priority, want)
		}
	}
}

// The first-character index must never change a lookup's answer.
func TestPatternIndexEquivalence(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	atoms := []string{"X", "Z", "N", "1", "5", "9", "[1-3]", "[a-c]", "*", "#", "-"}
	tails := []string{"", ".", "!", "X"}
	var sb []byte
	sb = append(sb, "[c]\n"...)
	for i := range 60 {
		p := "_"
		for range 1 + r.IntN(4) {
			p += atoms[r.IntN(len(atoms))]
		}
		p += tails[r.IntN(len(tails))]
		sb = append(sb, []byte("exten => "+p+","+[]string{"1", "2"}[i%2]+",NoOp("+p+")\n")...)
	}
	e, _ := newTestEngine(t, string(sb))
	c := e.Dialplan().Context("c")
	if c.index == nil {
		t.Fatal("no index built")
	}
	digits := "0123456789abc*#"
	for range 5000 {
		n := r.IntN(6)
		x := make([]byte, n)
		for i := range x {
			x[i] = digits[r.IntN(len(digits))]
		}
		for _, mode := range []matchMode{modeMatch, modeCanMatch, modeMatchMore} {
			for prio := 1; prio <= 2; prio++ {
				p1, f1 := c.findOwn(string(x), prio, "", "", mode)
				ix := c.index
				c.index = nil
				p2, f2 := c.findOwn(string(x), prio, "", "", mode)
				c.index = ix
				if p1 != p2 || f1 != f2 {
					t.Fatalf("%q mode %d prio %d: index %v/%v, scan %v/%v", x, mode, prio, p1, f1, p2, f2)
				}
			}
		}
	}
}
