package expr

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// fakeEnv is a map of variables plus a few dialplan functions.
type fakeEnv struct {
	vars  map[string]string
	calls []string
}

var errNoFunc = errors.New("no such function")

func (e *fakeEnv) Var(name string) (string, bool) {
	v, ok := e.vars[name]
	return v, ok
}

func (e *fakeEnv) Func(ctx context.Context, name, args string) (string, error) {
	e.calls = append(e.calls, name+"("+args+")")
	switch name {
	case "LEN":
		return strconv.Itoa(len(args)), nil
	case "CALLERID":
		if args == "num" {
			return "5551234", nil
		}
		return "", fmt.Errorf("unknown CALLERID field %q", args)
	case "ECHO":
		return args, nil
	case "UPPER":
		return strings.ToUpper(args), nil
	case "CUT": // CUT(varname,delim,field)
		a := SplitArgs(args, ',')
		if len(a) != 3 {
			return "", errors.New("CUT needs 3 arguments")
		}
		f, err := strconv.Atoi(a[2])
		parts := strings.Split(e.vars[a[0]], a[1])
		if err != nil || f < 1 || f > len(parts) {
			return "", nil
		}
		return parts[f-1], nil
	case "FAIL":
		return "ignored", errors.New("boom")
	}
	return "", errNoFunc
}

func newEnv() *fakeEnv {
	return &fakeEnv{vars: map[string]string{
		"foo":    "123",
		"bar":    "foo",
		"baz":    "fo",
		"EXTEN":  "918005551234",
		"X":      "5",
		"N":      "2",
		"VAR_2":  "two",
		"EMPTY":  "",
		"LIST":   "a-b-c",
		"COMMA":  "x,y",
		"EXPR":   "1 + 1",
		"DOLLAR": "${foo}",
		"NAME":   "foo",
		"SPACE":  "a b",
	}}
}

func TestSubstitute(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		// Asterisk's tests/test_substitution.c cases, as behaviour.
		{"${foo}${foo}", "123123"},
		{"A${foo}A${foo}A", "A123A123A"},
		{"A${${bar}}A", "A123A"},
		{"A${${baz}o}A", "A123A"},
		{"A${${baz}o:1}A", "A23A"},
		{"A${${baz}o:1:1}A", "A2A"},
		{"A${${baz}o:1:-1}A", "A2A"},
		{"A${${baz}o:-1:1}A", "A3A"},
		{"A${${baz}o:-2:1}A", "A2A"},
		{"A${${baz}o:-2:-1}A", "A2A"},

		// Plain text and lone dollars.
		{"", ""},
		{"no refs here", "no refs here"},
		{"$", "$"},
		{"$$", "$$"},
		{"cost: $5", "cost: $5"},
		{"$${foo}", "$123"},
		{"a$", "a$"},

		// Offsets and lengths.
		{"${EXTEN:1}", "18005551234"},
		{"${EXTEN:-4}", "1234"},
		{"${EXTEN:-7:3}", "555"},
		{"${EXTEN:0:3}", "918"},
		{"${EXTEN:1:3}", "180"},
		{"${EXTEN:0:-4}", "91800555"},
		{"${EXTEN:2:-4}", "800555"},
		{"${EXTEN:-4:-2}", "12"},
		{"${EXTEN:-100}", "918005551234"},
		{"${EXTEN:-100:2}", "91"},
		{"${EXTEN:100}", ""},
		{"${EXTEN:12}", ""},
		{"${EXTEN:11}", "4"},
		{"${EXTEN:0:0}", ""},
		{"${EXTEN:3:100}", "005551234"},
		{"${EXTEN:0:-100}", ""},
		{"${EXTEN:-2:-5}", ""},
		{"${EXTEN:}", "918005551234"},
		{"${EXTEN::3}", "918005551234"}, // sscanf fails on the empty offset
		{"${EXTEN:x}", "918005551234"},
		{"${EXTEN:2:x}", "8005551234"},
		{"${EXTEN: 2: 3}", "800"},
		{"${EXTEN:+2}", "8005551234"},
		{"${EXTEN:${N}}", "8005551234"},
		{"${EXTEN:-${N}}", "34"},
		{"${EXTEN:99999999999999999999}", ""},
		{"${foo:1}${foo:-1}", "233"},

		// Unset and empty variables.
		{"[${NOPE}]", "[]"},
		{"[${NOPE:1:2}]", "[]"},
		{"[${EMPTY}]", "[]"},
		{"[${}]", "[]"},
		{"${${NOPE}}", ""},

		// Nesting.
		{"${VAR_${N}}", "two"},
		{"${VAR_${N}:1}", "wo"},
		{"${${bar}:${N}}", "3"},
		{"${${bar:0:1}oo}", "123"},
		{"${${${bar}:0:1}oo}", ""},
		{"${LEN(${foo})}", "3"},
		{"${LEN(${EXTEN:1})}", "11"},
		{"${LEN(${NOPE})}", "0"},
		{"${UPPER(${bar}${baz})}", "FOOFO"},
		{"${ECHO(${EXTEN}):-4:2}", "12"},
		{"${ECHO(a:b):1}", ":b"},
		{"${CALLERID(num)}", "5551234"},
		{"${CALLERID(num):0:3}", "555"},
		{"${CUT(LIST,-,2)}", "b"},
		{"${ECHO(a,(b),c)}", "a,(b),c"},
		{"${ECHO(${COMMA})}", "x,y"},
		{"${DOLLAR}", "${foo}"}, // values are not re-substituted
		{"${ECHO(x)y)}", "x)y"},
		{"${ECHO(unclosed}", "unclosed"},

		// Expressions.
		{"$[1 + 1]", "2"},
		{"$[ ${X} + 1 ]", "6"},
		{"$[${X}*${N}]", "10"},
		{"$[ ${NOPE} = 0 ]", "0"}, // "= 0" is a syntax error -> "0"
		{"$[ \"${NOPE}\" = \"\" ]", "1"},
		{"$[ ${EXPR} ]", "2"},
		{"$[ $[1 + 1] * 3 ]", "6"},
		{"$[$[$[1+1]+1]+1]", "4"},
		{"$[ ${LEN(${EXTEN})} > 10 ]", "1"},
		{"$[ LEN(${EXTEN}) ]", "12"},
		{"$[ LEN(abc) + 1 ]", "4"},
		{"$[ ${EXTEN} : \"91(.*)\" ]", "8005551234"},
		{"$[ ${X} = 5 ? yes :: no ]", "yes"},
		{"$[ ${N} = 0 ? 0 :: 100 / ${N} ]", "50"},
		{"$[]", ""},
		{"$[ ]", ""},
		{"a$[1]b$[2]c", "a1b2c"},
		{"$[ [1] ]", "1"},
		{"$[ ${VAR_${N}} ]", "two"},
		{"${VAR_$[1+1]}", "two"},
		{"${foo:$[0+1]:1}", "2"},

		// A typical priority line.
		{"${CALLERID(num)} ${EXTEN:1} $[${X} + 1]", "5551234 18005551234 6"},

		// Escapes.
		{`\${foo}`, `\${foo}`},
		{`\\${foo}`, `\\123`},
		{`\$[1+1]`, `\$[1+1]`},
		{`a\b`, `a\b`},
		{`\`, `\`},
		{`x\`, `x\`},
		{`${ECHO(\${foo})}`, `\${foo}`},

		// Unbalanced references stay literal; later references still expand.
		{"${foo", "${foo"},
		{"abc ${foo ${bar}", "abc ${foo foo"},
		{"$[1 + 1", "$[1 + 1"},
		{"$[ ${X} + 1", "$[ 5 + 1"},
		{"${foo}}", "123}"},
		{"${a{b}c}", ""},
		{"${${foo}", "${123"},
		{"]$[1]", "]1"},
	}
	for _, tc := range tests {
		got, _ := Substitute(context.Background(), tc.in, newEnv())
		if got != tc.want {
			t.Errorf("Substitute(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSubstituteErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		in, want string
		err      error // nil: no error expected
	}{
		{"${foo}", "123", nil},
		{"${NOPE}", "", nil},
		{"a${FAIL(x)}b", "ab", ErrFunction},
		{"a${FAIL(x):1}b", "ab", ErrFunction},
		{"a${UNKNOWN()}b", "ab", errNoFunc},
		{"${CALLERID(name)}", "", ErrFunction},
		{"$[1/0]", "", ErrDivisionByZero},
		{"x$[1 +]y", "x0y", ErrSyntax},
		{"$[ FAIL(1) + 1 ]", "1", ErrFunction},
		{"${foo", "${foo", ErrUnbalanced},
		{"$[1", "$[1", ErrUnbalanced},
		{strings.Repeat("${", 100) + "foo" + strings.Repeat("}", 100), "", ErrTooDeep},
	}
	for _, tc := range tests {
		got, err := Substitute(ctx, tc.in, newEnv())
		if got != tc.want {
			t.Errorf("Substitute(%.40q) = %q, want %q", tc.in, got, tc.want)
		}
		if tc.err == nil && err != nil {
			t.Errorf("Substitute(%.40q) error %v, want none", tc.in, err)
		}
		if tc.err != nil && !errors.Is(err, tc.err) {
			t.Errorf("Substitute(%.40q) error %v, want %v", tc.in, err, tc.err)
		}
	}

	// 63 levels of nesting are fine.
	env := newEnv()
	env.vars["x"] = "x"
	in := strings.Repeat("${", MaxDepth-1) + "x" + strings.Repeat("}", MaxDepth-1)
	if got, err := Substitute(ctx, in, env); got != "x" || err != nil {
		t.Errorf("deep nesting: %q, %v", got, err)
	}

	// Output is bounded.
	env.vars["BIG"] = strings.Repeat("z", 300<<10)
	got, err := Substitute(ctx, "${BIG}${BIG}${BIG}${BIG}${BIG}", env)
	if len(got) != MaxOutput || !errors.Is(err, ErrTooLarge) {
		t.Errorf("big output: len %d, %v", len(got), err)
	}

	// The error list is bounded.
	_, err = Substitute(ctx, strings.Repeat("${FAIL()}", 100), env)
	if n := strings.Count(err.Error(), "\n"); n > maxErrors+1 {
		t.Errorf("%d error lines, want at most %d", n+1, maxErrors+1)
	}

	// A cancelled context stops substitution.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if got, err := Substitute(cctx, "a${foo}b", env); got != "a" || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %q, %v", got, err)
	}

	// A nil Env has no variables and no functions.
	if got, err := Substitute(ctx, "<${foo}$[1+1]>", nil); got != "<2>" || err != nil {
		t.Errorf("nil env: %q, %v", got, err)
	}
	if got, err := Substitute(ctx, "<${LEN(x)}>", nil); got != "<>" || !errors.Is(err, ErrFunction) {
		t.Errorf("nil env func: %q, %v", got, err)
	}
}

func TestSubstituteDeadBranchSkipsFunctions(t *testing.T) {
	env := newEnv()
	got, err := Substitute(context.Background(), "$[ 1 ? ok :: ECHO(x) ] $[ 0 ? ECHO(y) :: ECHO(z) ]", env)
	if got != "ok z" || err != nil {
		t.Fatalf("got %q, %v", got, err)
	}
	if len(env.calls) != 1 || env.calls[0] != "ECHO(z)" {
		t.Errorf("calls = %q, want only ECHO(z)", env.calls)
	}
}

func TestSubstring(t *testing.T) {
	// Cross-check against a direct transcription of the documented rules.
	s := "abcdef"
	for off := -10; off <= 10; off++ {
		for ln := -10; ln <= 10; ln++ {
			got := substring(s, off, ln)
			o := off
			if o < 0 {
				o = max(len(s)+o, 0)
			}
			want := ""
			if o < len(s) {
				rest := s[o:]
				switch {
				case ln >= 0:
					want = rest[:min(ln, len(rest))]
				case len(rest)+ln > 0:
					want = rest[:len(rest)+ln]
				}
			}
			if got != want {
				t.Errorf("substring(%q, %d, %d) = %q, want %q", s, off, ln, got, want)
			}
		}
	}
}
