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
