package expr

import (
	"math"
	"strconv"
	"strings"
)

// kind mirrors the three value types of ast_expr2: a computed number, a
// string that looks like a number (converted lazily, so "007" prints as
// "007" until arithmetic touches it) and a plain string.
type kind uint8

const (
	kString kind = iota
	kNumStr
	kNumber
)

type value struct {
	k kind
	s string
	f float64
}

func numberValue(f float64) value { return value{k: kNumber, f: f} }

// strValue classifies s the way ast_expr2's make_str does: a numeric string
// starts with a digit or '.' and contains only digits and dots.
func strValue(s string) value {
	if s == "" {
		return value{k: kString}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && c != '.' {
			return value{k: kString, s: s}
		}
	}
	return value{k: kNumStr, s: s}
}

// toNumber converts a numeric string to a number in place, as strtold would
// (longest valid prefix). It reports whether v is now a number.
func (v *value) toNumber() bool {
	switch v.k {
	case kNumber:
		return true
	case kString:
		return false
	}
	f, ok := parseNumPrefix(v.s)
	if !ok {
		v.k = kString // out of range: Asterisk gives up on the conversion too
		return false
	}
	v.k, v.f, v.s = kNumber, f, ""
	return true
}

// parseNumPrefix parses the longest prefix of s of the form
// [0-9]*(\.[0-9]*)? as a float; an empty prefix is 0.
func parseNumPrefix(s string) (float64, bool) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	p := s[:i]
	if p == "" || p == "." {
		return 0, true
	}
	// Fast path for short integers, the overwhelmingly common case.
	if i <= 15 && strings.IndexByte(p, '.') < 0 {
		n := 0
		for j := 0; j < len(p); j++ {
			n = n*10 + int(p[j]-'0')
		}
		return float64(n), true
	}
	f, err := strconv.ParseFloat(p, 64)
	if err != nil {
		return 0, false
	}
	return f, true
}

// toString converts a number to its printed form in place.
func (v *value) toString() {
	if v.k == kNumber {
		v.k, v.s = kString, formatNumber(v.f)
	}
}

// str returns the printed form without modifying v.
func (v value) str() string {
	if v.k == kNumber {
		return formatNumber(v.f)
	}
	return v.s
}

// isZeroOrNull implements ast_expr2's is_zero_or_null, including its side
// effect of converting numeric strings to numbers.
func (v *value) isZeroOrNull() bool {
	if v.k == kNumber {
		return v.f == 0
	}
	return v.s == "" || (v.toNumber() && v.f == 0)
}

// formatNumber prints f approximately like C's "%.18Lg" on a long double:
// integers below 1e18 print in full, other values with 15 significant
// digits (float64 cannot carry 18), trailing zeros trimmed.
func formatNumber(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case f == 0:
		return "0" // also for -0: see package doc
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e18 {
		return strconv.FormatInt(int64(f), 10)
	}
	e := strconv.FormatFloat(f, 'e', 14, 64)
	ei := strings.LastIndexByte(e, 'e')
	exp, _ := strconv.Atoi(e[ei+1:])
	if exp < -4 || exp >= 18 {
		mant := trimFraction(e[:ei])
		return mant + e[ei:]
	}
	prec := 14 - exp
	return trimFraction(strconv.FormatFloat(f, 'f', prec, 64))
}

func trimFraction(s string) string {
	if strings.IndexByte(s, '.') < 0 {
		return s
	}
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// atoi mimics C atoi: leading blanks, optional sign, digits; saturating.
func atoi(s string) int64 {
	i := 0
	for i < len(s) && (s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r')) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	var n int64
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		if n < math.MaxInt32*10 {
			n = n*10 + int64(s[i]-'0')
		}
	}
	if neg {
		n = -n
	}
	return n
}

// stripQuotes implements ast_expr2's strip_quotes: when the string both
// starts and ends with '"', every '"' in it is removed.
func stripQuotes(s string) string {
	if len(s) > 0 && s[0] == '"' && s[len(s)-1] == '"' {
		return strings.ReplaceAll(s, `"`, "")
	}
	return s
}
