package curl

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

// ErrMalformed means the service answered something that is not res_config_curl's format
// (HTML, a stack trace, a count that is not a number). It is an error, never "no rows".
var ErrMalformed = errors.New("curl: malformed response")

// Encode is Asterisk's ast_uri_encode with ast_uri_http: every byte but ALPHA, DIGIT, '-', '.',
// '_' and '~' becomes %XX (upper-case hex), a space included.
func Encode(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hex[c>>4], hex[c&15])
	}
	return string(b)
}

func unreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

// Decode undoes %XX and, as a form decoder does, reads '+' as a space (a service written with
// PHP's http_build_query or Python's urlencode writes spaces so; Asterisk's encoder never
// writes a '+' itself). A '%' not followed by two hex digits is an error.
func Decode(s string) (string, error) {
	if !strings.ContainsAny(s, "%+") {
		return s, nil
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			b = append(b, ' ')
		case '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return "", fmt.Errorf("%w: bad escape in %q", ErrMalformed, clip(s))
			}
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			b = append(b, c)
		}
	}
	return string(b), nil
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// EncodeFields writes name=value pairs joined by '&', both sides encoded, in the caller's order.
func EncodeFields(b *strings.Builder, fields []realtime.Field) {
	for i, f := range fields {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(Encode(f.Name))
		b.WriteByte('=')
		b.WriteString(Encode(f.Value))
	}
}

// ParsePairs reads one line of name=value pairs joined by '&' (a row). A pair without '=' or
// with a name that is not a plain word, such as HTML or an error text, makes the answer
// malformed rather than a row of strange columns. Empty values are left out of the row.
func ParsePairs(line string) (realtime.Row, error) { return parsePairs(line, false) }

func parsePairs(line string, keepEmpty bool) (realtime.Row, error) {
	var row realtime.Row
	for line != "" {
		var pair string
		if i := strings.IndexByte(line, '&'); i >= 0 {
			pair, line = line[:i], line[i+1:]
		} else {
			pair, line = line, ""
		}
		if pair == "" {
			continue
		}
		eq := strings.IndexByte(pair, '=')
		if eq < 0 {
			return nil, fmt.Errorf("%w: %q is not name=value", ErrMalformed, clip(pair))
		}
		name, err := Decode(pair[:eq])
		if err != nil {
			return nil, err
		}
		if !validName(name) {
			return nil, fmt.Errorf("%w: %q is not a column name", ErrMalformed, clip(name))
		}
		val, err := Decode(pair[eq+1:])
		if err != nil {
			return nil, err
		}
		if val != "" || keepEmpty {
			row = append(row, realtime.Field{Name: name, Value: val})
		}
	}
	return row, nil
}

// validName accepts the column names Asterisk's tables use (letters, digits, '_', '-', '.')
// plus static mode's "#include".
func validName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	if s == "#include" {
		return true
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// Lines splits a body into its non-empty lines (CR, LF or both end a line).
func Lines(body string) []string {
	return strings.FieldsFunc(body, func(r rune) bool { return r == '\r' || r == '\n' })
}

// ParseCount reads the number of rows an /update, /update2, /store or /destroy answer gives:
// leading white space skipped, then a decimal number. Anything else, or a negative number
// (Asterisk's failure), is an error.
func ParseCount(body string) (int64, error) {
	s := strings.TrimLeft(body, " \t\r\n")
	end := 0
	if end < len(s) && (s[end] == '-' || s[end] == '+') {
		end++
	}
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	n, err := strconv.ParseInt(s[:end], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: want a row count, got %q", ErrMalformed, clip(s))
	}
	if rest := strings.TrimSpace(s[end:]); rest != "" {
		return 0, fmt.Errorf("%w: want a row count, got %q", ErrMalformed, clip(s))
	}
	if n < 0 {
		return 0, fmt.Errorf("curl: the service reported failure (%d)", n)
	}
	return n, nil
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}
