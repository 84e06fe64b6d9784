package expr

import (
	"context"
	"strings"
	"testing"
	"time"
)

// The seed corpus lives in testdata/fuzz/FuzzEval and
// testdata/fuzz/FuzzSubstitute; these are a few more.

func FuzzEval(f *testing.F) {
	for _, s := range []string{"1 + 1", "3 / 2", `"abc" =~ "(b)"`, "1 ? a :: b", "!-(2)", "SQRT(4)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		start := time.Now()
		res, err := Eval(s)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("Eval(%q) took %v", s, d)
		}
		if len(res) > MaxOutput {
			t.Fatalf("Eval(%q) returned %d bytes", s, len(res))
		}
		if err == nil {
			// Evaluation is deterministic.
			res2, err2 := Eval(s)
			if res2 != res || err2 != nil {
				t.Fatalf("Eval(%q) not deterministic: %q vs %q (%v)", s, res, res2, err2)
			}
		}
	})
}

func FuzzSubstitute(f *testing.F) {
	for _, s := range []string{"${foo}", "${EXTEN:-4:2}", "$[ ${X} + 1 ]", "${LEN(${foo})}", `\${x}`, "${a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		env := newEnv()
		env.vars["SELF"] = s // hostile values too
		start := time.Now()
		res, err := Substitute(context.Background(), s, env)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("Substitute(%q) took %v", s, d)
		}
		if len(res) > MaxOutput {
			t.Fatalf("Substitute(%q) returned %d bytes", s, len(res))
		}
		if !strings.Contains(s, "$") && (res != s || err != nil) {
			t.Fatalf("Substitute(%q) = %q, %v; want input unchanged", s, res, err)
		}
		_ = SplitArgs(s, ',')
		_, _ = SplitAppData(s)
	})
}

// FuzzSplitFunction: no input makes SplitFunction panic, and what it returns is s cut at its
// first '(' and last ')'.
func FuzzSplitFunction(f *testing.F) {
	for _, s := range []string{"CUT(a,b,c)", "F(a(b)c)", "F(", "PLAIN", "(x)", "DB(a/b)x", ")(", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, args, ok := SplitFunction(s)
		switch {
		case !strings.Contains(s, "("):
			if ok || name != s || args != "" {
				t.Fatalf("SplitFunction(%q) = %q, %q, %v", s, name, args, ok)
			}
		case ok:
			if !strings.HasPrefix(s, name+"("+args+")") || strings.Contains(name, "(") || strings.Contains(s[len(name)+len(args)+2:], ")") {
				t.Fatalf("SplitFunction(%q) = %q, %q", s, name, args)
			}
		default:
			if s != name+"("+args || strings.Contains(args, ")") {
				t.Fatalf("SplitFunction(%q) = %q, %q (no ')')", s, name, args)
			}
		}
		if fn, fa, fok := FunctionCall(s); fok && (fn != name || fa != args || !ok || !strings.HasSuffix(s, ")") || fn == "") {
			t.Fatalf("FunctionCall(%q) = %q, %q", s, fn, fa)
		}
	})
}

// FuzzEscapeCommas: a list of values escaped with EscapeCommas and joined with ',' splits back
// into the same values (values without quotes, brackets or "${", as Asterisk's escaping
// assumes).
func FuzzEscapeCommas(f *testing.F) {
	f.Add("a,b", `c\d`)
	f.Add("", ",")
	f.Fuzz(func(t *testing.T, a, b string) {
		for _, v := range []string{a, b} {
			if strings.ContainsAny(v, `"()[]{}$`) {
				return
			}
		}
		got := SplitArgs(EscapeCommas(a)+","+EscapeCommas(b), ',')
		if len(got) != 2 || got[0] != a || got[1] != b {
			t.Fatalf("round trip of %q, %q: %q", a, b, got)
		}
	})
}
