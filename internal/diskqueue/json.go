package diskqueue

import (
	"errors"
	"time"
	"unicode/utf8"
)

// The helpers of an item's AppendJSON: each appends what encoding/json's Marshal gives for
// the value (HTML characters escaped, as json.Encoder does by default), byte for byte.

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string, as encoding/json writes it: '"' and '\\'
// escaped, control characters as \n, \r, \t, \b, \f or \u00XX, '<', '>', '&', U+2028 and
// U+2029 as \u escapes, invalid UTF-8 as \ufffd.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// errTime is time.Time.MarshalJSON's refusal of a time RFC 3339 cannot hold.
var errTime = errors.New("diskqueue: a time outside of RFC 3339 (year beyond [0,9999] or zone beyond 23 hours)")

// AppendTime appends t as a JSON string, as time.Time's MarshalJSON writes it (RFC 3339
// with nanoseconds), and fails where it fails.
func AppendTime(b []byte, t time.Time) ([]byte, error) {
	b = append(b, '"')
	n0 := len(b)
	b = t.AppendFormat(b, time.RFC3339Nano)
	if b[n0+len("9999")] != '-' {
		return b, errTime
	}
	if b[len(b)-1] != 'Z' {
		if c := b[len(b)-len("Z07:00")]; '0' <= c && c <= '9' || 10*(b[len(b)-5]-'0')+(b[len(b)-4]-'0') >= 24 {
			return b, errTime
		}
	}
	return append(b, '"'), nil
}
