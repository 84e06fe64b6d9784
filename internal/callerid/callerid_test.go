package callerid

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// The cases follow what Asterisk's ast_callerid_split gives for the same input.
func TestSplit(t *testing.T) {
	for _, c := range []struct{ in, name, number string }{
		{`"Bob" <200>`, "Bob", "200"},
		{`Bob <200>`, "Bob", "200"},
		{`  Bob Smith   <200>`, "Bob Smith", "200"},
		{`" foo bar " <123>`, " foo bar ", "123"}, // quoted: kept as is
		{`" foo bar "`, " foo bar ", ""},
		{`<200>`, "", "200"},
		{`"" <200>`, "", "200"},
		{`"Bob" <(555) 123-4567>`, "Bob", "5551234567"},
		{`"A <b>" <300>`, "A <b>", "300"},
		{`Bob <200> x`, "Bob", "200"},
		{`"Bob <200>`, "", "200"},           // a quote not closed: no name
		{`"  Bob  <200> "`, "  Bob", "200"}, // ...unless one follows the '>'
		{`5551212`, "", "5551212"},
		{`+1 (555) 123-4567`, "", "+15551234567"},
		{`*98#`, "", "*98#"},
		{`555.1212`, "", "5551212"},
		{`Alice`, "Alice", ""},
		{`  "Alice"  `, "Alice", ""},
		{`Alice 5551212`, "Alice 5551212", ""},
		{``, "", ""},
		{`<>`, "", ""},
		{`Bob <`, "Bob <", ""},
		{`Bob >200<`, "Bob >200<", ""},
		{`"Bob" <1-[2-3]>`, "Bob", "1[2-3]"},
	} {
		name, number := Split(c.in)
		if name != c.name || number != c.number {
			t.Errorf("Split(%q) = %q, %q; want %q, %q", c.in, name, number, c.name, c.number)
		}
	}
}

func TestShrink(t *testing.T) {
	for in, want := range map[string]string{
		"(555) 123-4567": "5551234567",
		"555.123.4567.":  "5551234567.",
		"_NXX-[1-5]":     "_NXX[1-5]",
		"":               "",
		"100":            "100",
	} {
		if got := Shrink(in); got != want {
			t.Errorf("Shrink(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzSplit: no input makes Split panic; the parts are pieces of the input (a number without
// the decoration Shrink removes), never longer than it, and valid UTF-8 in gives valid UTF-8 out.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{`"Bob" <200>`, `Bob <(555) 123-4567>`, `"Bob <200> "`, `5551212`, `Alice`, `<>`, `"`, `<<>>`, "\x00<\xff>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, number := Split(s)
		if len(name) > len(s) || len(number) > len(s) {
			t.Fatalf("Split(%q) = %q, %q: longer than the input", s, name, number)
		}
		if !strings.Contains(s, name) {
			t.Fatalf("Split(%q): name %q is not in the input", s, name)
		}
		if utf8.ValidString(s) && !utf8.ValidString(name) {
			t.Fatalf("Split(%q): name %q is not valid UTF-8", s, name)
		}
		if Shrink(number) != number {
			t.Fatalf("Split(%q): number %q is not shrunk", s, number)
		}
	})
}
