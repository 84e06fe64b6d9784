package realtime_test

import (
	"slices"
	"testing"

	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

func TestValues(t *testing.T) {
	if got := realtime.SplitList(" ulaw ; alaw;;g722 ;"); !slices.Equal(got, []string{"ulaw", "alaw", "g722"}) {
		t.Errorf("SplitList = %q", got)
	}
	if got := realtime.SplitList(""); got != nil {
		t.Errorf("SplitList(\"\") = %q", got)
	}
	for _, c := range []struct{ in, enc string }{
		{"plain", "plain"},
		{"a;b", "a^3Bb"},
		{"x^y", "x^5Ey"},
		{"^3B;", "^5E3B^3B"},
	} {
		if got := realtime.EncodeValue(c.in); got != c.enc {
			t.Errorf("EncodeValue(%q) = %q, want %q", c.in, got, c.enc)
		}
		if got := realtime.DecodeValue(c.enc); got != c.in {
			t.Errorf("DecodeValue(%q) = %q, want %q", c.enc, got, c.in)
		}
	}
	for in, want := range map[string]string{"^41^zz^": "A^zz^", "a^2": "a^2", "^7e": "~"} {
		if got := realtime.DecodeValue(in); got != want {
			t.Errorf("DecodeValue(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzEncodeDecode(f *testing.F) {
	f.Add("a;b^c")
	f.Fuzz(func(t *testing.T, s string) {
		if got := realtime.DecodeValue(realtime.EncodeValue(s)); got != s {
			t.Errorf("round trip %q -> %q", s, got)
		}
	})
}
