package expr

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestEval(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		// Asterisk's own unit test table (tests/test_expr.c), as behaviour.
		{"2 + 2", "4"},
		{"      2     +       2            ", "4"},
		{"", ""},
		{"2 - 4", "-2"},
		{"4 - 2", "2"},
		{"-4 - -2", "-2"},
		{"4 + 2 * 8", "20"},
		{"(4 + 2) * 8", "48"},
		{"4 + (2 * 8)", "20"},
		{"4 + (2 * 8) ? 3 :: 6", "3"},
		{"4 + 8 / 2", "8"},
		{"FLOOR(4 + 8 / 3)", "6"},
		{"(4+8) / 3", "4"},
		{"4 + 8 % 3", "6"},
		{"4 + 9 % 3", "4"},
		{"(4+9) %3", "1"},
		{"(4+8)% 3", "0"},
		{"4 & 4", "4"},
		{"0 & 4", "0"},
		{"0 & 0", "0"},
		{"2 | 0", "2"},
		{"2 | 4", "2"},
		{"0 | 0", "0"},
		{"!0 | 0", "1"},
		{"!4 | 0", "0"},
		{"4 | !0", "4"},
		{"!4 | !0", "1"},
		{"0", "0"},
		{"!0", "1"},
		{"00", "00"},
		{"!00", "1"},
		{"1", "1"},
		{"!1", "0"},
		{"01", "01"},
		{"!01", "0"},
		{"3 < 4", "1"},
		{"4 < 3", "0"},
		{"3 > 4", "0"},
		{"4 > 3", "1"},
		{"3 = 3", "1"},
		{"3 = 4", "0"},
		{"3 != 3", "0"},
		{"3 != 4", "1"},
		{"3 >= 4", "0"},
		{"3 >= 3", "1"},
		{"4 >= 3", "1"},
		{"3 <= 4", "1"},
		{"4 <= 3", "0"},
		{"4 <= 4", "1"},
		{"3 > 4 & 4 < 3", "0"},
		{"4 > 3 & 3 < 4", "1"},
		{"x = x", "1"},
		{"y = x", "0"},
		{"x != y", "1"},
		{"x != x", "0"},
		{`"Something interesting" =~ interesting`, "11"},
		{`"Something interesting" =~ Something`, "9"},
		{`"Something interesting" : Something`, "9"},
		{`"Something interesting" : interesting`, "0"},
		{`"Something interesting" =~ "interesting"`, "11"},
		{`"Something interesting" : "Something"`, "9"},
		{`"Something interesting" =~ (interesting)`, "11"},
		{`"Something interesting" : (interesting)`, "0"},
		{`"Something interesting" =~ "\(interesting\)"`, "0"},
		{`"Something interesting" : "\(Something\)"`, "0"},
		{`"011043567857575" : "011\(..\)"`, "0"},
		{`"Something interesting" =~ "(interesting)"`, "interesting"},
		{`"Something interesting" : "(Something)"`, "Something"},
		{`"Something interesting" : "(interesting)"`, ""},
		{`"011043567857575" : "011(..)"`, "04"},
		{`"9011043567857575" : "011(..)"`, ""},
		{`"011043567857575" =~ "011(..)"`, "04"},
		{`"9011043567857575" =~ "011(..)"`, "04"},
		{"3", "3"},
		{"something", "something"},
		{"043", "043"},
		{"${GLOBAL(ULKOPREFIX)}9${x}", "${GLOBAL(ULKOPREFIX)}9${x}"},
		{"512059${x}", "512059${x}"},

		// Floating point and printing.
		{"3 / 2", "1.5"},
		{"4 / 2", "2"},
		{"1 / 3", "0.333333333333333"},
		{"0.1 + 0.2", "0.3"},
		{"2.5 * 2", "5"},
		{"7 % 3", "1"},
		{"7.5 % 2", "1.5"},
		{"100000 * 100000 * 100000", "1000000000000000"},
		{"1000000 * 1000000 * 1000000", "1e+18"},
		{"1 / 100000", "1e-05"},
		{"1 / 10000", "0.0001"},
		{"0 * 5", "0"},
		{"-0", "0"},
		{"007", "007"},
		{"007 + 0", "7"},
		{"1.50", "1.50"},
		{"1.50 + 0", "1.5"},
		{"- 5", "-5"},
		{"--5", "5"},
		{"- - 5", "5"},
		{"2 - -3", "5"},
		{"2 * -3", "-6"},

		// Precedence and associativity.
		{"2 + 3 * 4", "14"},
		{"(2 + 3) * 4", "20"},
		{"10 - 4 - 3", "3"},
		{"64 / 4 / 2", "8"},
		{"2 * 3 % 4", "2"},
		{"1 + 1 = 2", "1"},
		{"1 = 1 & 2 = 2", "1"},
		{"1 = 2 | 3 = 3", "1"},
		{"0 | 0 & 1", "0"},
		{"1 | 0 & 0", "1"},
		{"5 > 3 = 1", "1"},
		{"-2 * 3", "-6"},
		{"!1 + 1", "1"},
		{"!(1 + 1)", "0"},
		{"!abc : abc", "0"},
		{"-abc : ab", "-2"},
		{"((((1))))", "1"},

		// String versus numeric comparison.
		{"10 > 9", "1"},
		{"10 > 9a", "0"},
		{"abc < abd", "1"},
		{"abc = abc", "1"},
		{"abc > ABC", "1"},
		{"1.0 = 1", "1"},
		{"01 = 1", "1"},
		{`"1" = 1`, "0"},
		{`"abc" = "abc"`, "1"},
		{`"abc" = abc`, "0"},
		{"2 >= 10", "0"},
		{"b >= a", "1"},
		{"a <= a", "1"},
		{"a != b", "1"},
		{"1 == 1", "1"},

		// | and &.
		{"a | b", "a"},
		{"0 | b", "b"},
		{"00 | b", "b"},
		{"0.0 | b", "b"},
		{"01 | b", "1"},
		{"a & b", "a"},
		{"a & 0", "0"},
		{"0 & a", "0"},
		{"1 && 2", "1"},
		{"0 || 7", "7"},

		// Ternary.
		{"1 ? yes :: no", "yes"},
		{"0 ? yes :: no", "no"},
		{"abc ? yes :: no", "yes"},
		{`"" ? yes :: no`, "no"},
		{"0.0 ? yes :: no", "no"},
		{"3 > 2 ? 3 :: 2", "3"},
		{"1 ? 0 ? a :: b :: c", "b"},
		{"0 ? a :: 1 ? b :: c", "b"},
		{"0 ? a :: 0 ? b :: c", "c"},
		{"1 ? 2 + 3 :: 4", "5"},
		{"0 ? 1 :: 2 | 3", "2"},
		{"0 = 0 ? 0 :: 100 / 0", "0"},
		{"1 | 1 / 0", "1"},
		{"0 & 1 / 0", "0"},

		// Unary operators.
		{"!", ""}, // syntax error, see TestEvalErrors
		{"!abc", "1"},
		{"!5abc", "0"},
		{"!0.5", "1"},
		{`!""`, "1"},
		{"-abc", "0"},
		{"!!7", "1"},

		// Arithmetic fallbacks with non-numeric operands (Asterisk's rules).
		{"abc + 1", "1"},
		{"1 + abc", "1"},
		{"abc + def", "0"},
		{"abc - 1", "-1"},
		{"5 - abc", "5"},
		{"abc * 2", "0"},
		{"abc / 2", "0"},
		{"abc % 2", "0"},
		{".5 + 1", "1"},

		// Regular expressions.
		{"12345 : 123", "3"},
		{"12345 : 234", "0"},
		{"12345 =~ 234", "3"},
		{`12345 : "(1)(2)"`, "1"},
		{`12345 : "1(2)?x"`, ""},
		{`12345 : "1(x)?2"`, "2"},
		{"12345 : (1)(2)", "0"}, // unquoted parentheses group: function "1"(2),
		{`abc : "(x)"`, ""},
		{`abc =~ "(x)"`, ""},
		{`5551234 : "555(.*)"`, "1234"},
		{`5551234 : "555(.*)" + 1`, "1235"},
		{`abcabc =~ "(b.*c)"`, "bcabc"},
		{"abc : a|b", "1"},
		{`"foo bar" =~ "o+ b"`, "4"},
		{`"foo bar" =~ "[[:space:]]"`, "1"},
		{"abc : ABC", "0"},
		{"x${Y}z : x", "1"},

		// Concatenation.
		{"foo ~~ bar", "foobar"},
		{`"foo " ~~ "bar"`, "foo bar"},
		{"1 ~~ 2 + 3", "15"},
		{"(1 ~~ 2) + 3", "15"},

		// Built-in functions.
		{"SQRT(16)", "4"},
		{"FLOOR(2.7)", "2"},
		{"CEIL(2.1)", "3"},
		{"ROUND(2.5)", "3"},
		{"RINT(2.5)", "2"},
		{"TRUNC(-2.7)", "-2"},
		{"ABS(-3)", "3"},
		{"ABS(3)", "3"},
		{"POW(2, 10)", "1024"},
		{"LOG10(1000)", "3"},
		{"LOG2(8)", "3"},
		{"EXP10(2)", "100"},
		{"EXP2(3)", "8"},
		{"REMAINDER(7, 4)", "-1"},
		{"ATAN2(0, 1)", "0"},
		{"COS(0)", "1"},
		{"SQRT(-1)", "nan"},
		{"LOG(0)", "-inf"},
		{"SQRT(ABS(-16)) + 1", "5"},

		// Lexical details.
		{"2+2", "4"},
		{"\t2\n+\r2", "4"},
		{"[1 + 1]", "2"},
		{"1 ~ + 1", "2"},
		{"a$b", "a$b"},
		{"a-b", "0"},
		{"foo.bar", "foo.bar"},
		{`"a b"`, `"a b"`},
		{`"unterminated`, "unterminated"},
		{"${A} = ${A}", "1"},
		{"${A}x ${B}", ""}, // syntax error (two operands)
	}
	for _, tc := range tests {
		got, _ := Eval(tc.in)
		if strings.HasPrefix(tc.in, "${A}x") || tc.in == "!" {
			got, _ = Eval(tc.in)
			if got != "0" {
				t.Errorf("Eval(%q) = %q, want syntax error result \"0\"", tc.in, got)
			}
			continue
		}
		if got != tc.want {
			t.Errorf("Eval(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestEvalErrors(t *testing.T) {
	tests := []struct {
		in, want string
		err      error
	}{
		{"1 +", "0", ErrSyntax},
		{"+ 1", "0", ErrSyntax},
		{"1 2", "0", ErrSyntax},
		{"(1", "0", ErrSyntax},
		{"1)", "0", ErrSyntax},
		{"()", "0", ErrSyntax},
		{"1, 2", "0", ErrSyntax},
		{"1 ? 2", "0", ErrSyntax},
		{"1 ? 2 : 3", "0", ErrSyntax},
		{":: 3", "0", ErrSyntax},
		{"!", "0", ErrSyntax},
		{"SQRT(1", "0", ErrSyntax},
		{"1 / 0", "", ErrDivisionByZero},
		{"1 % 0", "", ErrDivisionByZero},
		{"1 / 0.0", "", ErrDivisionByZero},
		{"1 / abc", "", ErrDivisionByZero},
		{"(1 / 0) + 5", "", ErrDivisionByZero},
		{"1 ? 1 / 0 :: 2", "", ErrDivisionByZero},
		{"LEN(abc)", "0", ErrFunction},
		{"SQRT(1, 2)", "0", ErrFunction},
		{"sqrt(4)", "0", ErrFunction},
		{`abc : "("`, "", ErrRegex},
		{`abc =~ "a{2000}"`, "", ErrRegex},
		{`abc =~ "((a{1000}){1000}){1000}"`, "", ErrRegex},
		{"abc =~ " + strings.Repeat("a", maxRegexPattern+1), "", ErrRegex},
		{strings.Repeat("(", MaxExprNesting+1) + "1" + strings.Repeat(")", MaxExprNesting+1), "", ErrTooDeep},
		{strings.Repeat("-", MaxExprNesting+1) + "1", "", ErrTooDeep},
		{strings.Repeat("1", MaxOutput+1), "", ErrTooLarge},
	}
	for _, tc := range tests {
		got, err := Eval(tc.in)
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("Eval(%.40q) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
	// Discarded operands do not report errors.
	for _, in := range []string{"0 ? 1 / 0 :: 2", "1 | 1 / 0", "0 & LEN(x)", "1 ? 2 :: abc : \"(\""} {
		if _, err := Eval(in); err != nil {
			t.Errorf("Eval(%q) error %v, want none", in, err)
		}
	}
	// Deep but legal nesting works.
	deep := strings.Repeat("(", 200) + "1" + strings.Repeat(")", 200)
	if got, err := Eval(deep); got != "1" || err != nil {
		t.Errorf("200 parentheses: %q, %v", got, err)
	}
}

func TestFormatNumber(t *testing.T) {
	tests := []struct {
		f    float64
		want string
	}{
		{0, "0"}, {1, "1"}, {-1, "-1"}, {1.5, "1.5"}, {-2.25, "-2.25"},
		{1e17, "100000000000000000"}, {1e18, "1e+18"}, {1.5e20, "1.5e+20"},
		{0.0001, "0.0001"}, {0.00001, "1e-05"}, {123456.789, "123456.789"},
		{2.0 / 3, "0.666666666666667"}, {9.9999999999999999, "10"},
	}
	for _, tc := range tests {
		if got := formatNumber(tc.f); got != tc.want {
			t.Errorf("formatNumber(%v) = %q, want %q", tc.f, got, tc.want)
		}
	}
}

func TestEvalConcurrent(t *testing.T) {
	// The regex cache is shared; exercise it from several goroutines
	// (meaningful under -race), including cache resets.
	done := make(chan struct{})
	for g := 0; g < 4; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 300; i++ {
				pat := strings.Repeat("a", i%40+1)
				if got, _ := Eval(`aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa =~ "` + pat + `"`); got != strconv.Itoa(i%40+1) {
					t.Errorf("pattern %q: %q", pat, got)
					return
				}
				_, _ = Eval(`x =~ "(` + strconv.Itoa(i) + `)"`)
			}
		}()
	}
	for g := 0; g < 4; g++ {
		<-done
	}
}
