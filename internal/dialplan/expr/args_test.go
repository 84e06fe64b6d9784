package expr

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestSplitArgs(t *testing.T) {
	tests := []struct {
		in   string
		sep  byte
		want []string
	}{
		{"", ',', nil},
		{"a", ',', []string{"a"}},
		{"a,b,c", ',', []string{"a", "b", "c"}},
		{"a,b,c", 0, []string{"a", "b", "c"}},
		{"a,", ',', []string{"a", ""}},
		{",", ',', []string{"", ""}},
		{",a", ',', []string{"", "a"}},
		{"a,,b", ',', []string{"a", "", "b"}},
		{`""`, ',', []string{""}},
		{"SIP/100,20,tT", ',', []string{"SIP/100", "20", "tT"}},
		{"a(b,c),d", ',', []string{"a(b,c)", "d"}},
		{"a(b(c,d),e),f", ',', []string{"a(b(c,d),e)", "f"}},
		{"a)b,c", ',', []string{"a)b", "c"}},
		{"$[1,2],x", ',', []string{"$[1,2]", "x"}},
		{"[a,b],c", ',', []string{"[a,b]", "c"}},
		{"${CUT(x,-,1)},y", ',', []string{"${CUT(x,-,1)}", "y"}},
		{"${A,B},y", ',', []string{"${A,B}", "y"}},
		{"{a,b}", ',', []string{"{a", "b}"}},
		{`"a,b",c`, ',', []string{"a,b", "c"}},
		{`x"a,b"y,c`, ',', []string{"xa,by", "c"}},
		{`"unterminated,c`, ',', []string{"unterminated,c"}},
		{`a\,b,c`, ',', []string{"a,b", "c"}},
		{`a\\,b`, ',', []string{`a\`, "b"}},
		{`a\"b,c`, ',', []string{`a"b`, "c"}},
		{`\${foo}`, ',', []string{"${foo}"}},
		{`trailing\`, ',', []string{"trailing"}},
		{"x=1", '=', []string{"x", "1"}},
		{"x=a=b", '=', []string{"x", "a", "b"}},
		{"a|b", '|', []string{"a", "b"}},
		{`a"b"c`, '"', []string{"a", "b", "c"}},
		{"a(b|c)|d", '|', []string{"a(b|c)", "d"}},
	}
	for _, tc := range tests {
		got := SplitArgs(tc.in, tc.sep)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("SplitArgs(%q, %q) = %q, want %q", tc.in, tc.sep, got, tc.want)
		}
	}
}

func TestSplitAppData(t *testing.T) {
	tests := []struct{ in, app, data string }{
		{"Dial(SIP/100,20)", "Dial", "SIP/100,20"},
		{"  Dial(SIP/100,20)  ", "Dial", "SIP/100,20"},
		{"Answer()", "Answer", ""},
		{"Answer", "Answer", ""},
		{"Hangup", "Hangup", ""},
		{"NoOp(a(b)c)", "NoOp", "a(b)c"},
		{"NoOp(unclosed", "NoOp", "unclosed"},
		{"Set(x=${CUT(a,b,c)})", "Set", "x=${CUT(a,b,c)}"},
		{"Dial,SIP/100,20", "Dial", "SIP/100,20"},
		{"Set,x=${CUT(a,b,1)}", "Set", "x=${CUT(a,b,1)}"},
		{"Wait,1", "Wait", "1"},
		{"DAHDI/g0/${GLOBAL(var)}", "DAHDI/g0/${GLOBAL(var)}", ""},
		{"SIP/$[1](x)", "SIP/$[1](x)", ""},
		{"", "", ""},
		{"NoOp(trailing) junk", "NoOp", "trailing"},
	}
	for _, tc := range tests {
		app, data := SplitAppData(tc.in)
		if app != tc.app || data != tc.data {
			t.Errorf("SplitAppData(%q) = %q, %q; want %q, %q", tc.in, app, data, tc.app, tc.data)
		}
	}
}

func TestSplitFunction(t *testing.T) {
	for _, c := range []struct {
		in, name, args string
		ok             bool
	}{
		{"CUT(a,b,c)", "CUT", "a,b,c", true},
		{"DB(fam/key)", "DB", "fam/key", true},
		{"F(a(b)c)", "F", "a(b)c", true}, // to the last ')'
		{"F(a)b", "F", "a", true},        // what follows the last ')' is dropped
		{" F (x) ", " F ", "x", true},    // blanks kept: callers trim
		{"F(", "F", "", false},           // no ')': args to the end
		{"F(abc", "F", "abc", false},
		{"PLAIN", "PLAIN", "", false},
		{"(x)", "", "x", true},
		{"", "", "", false},
	} {
		name, args, ok := SplitFunction(c.in)
		if name != c.name || args != c.args || ok != c.ok {
			t.Errorf("SplitFunction(%q) = %q, %q, %v; want %q, %q, %v", c.in, name, args, ok, c.name, c.args, c.ok)
		}
	}
}

func TestFunctionCall(t *testing.T) {
	for _, c := range []struct {
		in, name, args string
		ok             bool
	}{
		{"DB(a/b)", "DB", "a/b", true},
		{"VAR", "", "", false},
		{"F(a)b", "", "", false}, // must end in ')'
		{"(x)", "", "x", false},  // must have a name
		{"x)", "", "", false},
		{"SHELL(ls)", "SHELL", "ls", true},
	} {
		name, args, ok := FunctionCall(c.in)
		if ok != c.ok || (ok && (name != c.name || args != c.args)) {
			t.Errorf("FunctionCall(%q) = %q, %q, %v; want %q, %q, %v", c.in, name, args, ok, c.name, c.args, c.ok)
		}
	}
}

func TestEscapeCommas(t *testing.T) {
	for in, want := range map[string]string{
		"":           "",
		"plain":      "plain",
		"a,b":        `a\,b`,
		`c:\dir`:     `c:\\dir`,
		`Bob\, Jr,x`: `Bob\\\, Jr\,x`,
		"trailing,":  `trailing\,`,
	} {
		if got := EscapeCommas(in); got != want {
			t.Errorf("EscapeCommas(%q) = %q, want %q", in, got, want)
		}
	}
	// SplitArgs reads a list of escaped values back.
	vals := []string{"a,b", `c\d`, "", "e"}
	var esc []string
	for _, v := range vals {
		esc = append(esc, EscapeCommas(v))
	}
	if got := SplitArgs(strings.Join(esc, ","), ','); !slices.Equal(got, vals) {
		t.Errorf("round trip: %q", got)
	}
}
