// Package logesc escapes untrusted text (user names, URIs, header values) before it goes into
// a log line, so that a value cannot end the line, start another one, or close the quotes it
// is written in and pass for another field: a user name "x' from '10.9.8.7" or one holding
// a newline and a forged line must not make fail2ban ban 10.9.8.7.
//
// Escape keeps printable text (UTF-8 included) as it is and writes a backslash before '\',
// '\” and '"', and every control character, DEL and byte of invalid UTF-8 as \xNN. The
// result is safe inside '...' and "..." and never holds a line break. Asterisk writes such
// values raw.
package logesc

import (
	"strings"
	"unicode/utf8"
)

// MaxLen bounds what Escape keeps of a value (bytes of the input): longer values are cut
// and end in "...". A log line stays one line of reasonable length whatever a client sends.
const MaxLen = 256

const hex = "0123456789abcdef"

// Escape returns s made safe for a log line (see the package doc).
func Escape(s string) string {
	cut := false
	if len(s) > MaxLen {
		s, cut = s[:MaxLen], true
	}
	if !needsEscape(s) {
		if cut {
			return s + "..."
		}
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n <= 1 {
				b.WriteString(`\x`)
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&15])
				i++
				continue
			}
			b.WriteString(s[i : i+n])
			i += n
			continue
		}
		switch {
		case c == '\\' || c == '\'' || c == '"':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
			b.WriteString(`\x`)
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		default:
			b.WriteByte(c)
		}
		i++
	}
	if cut {
		b.WriteString("...")
	}
	return b.String()
}

func needsEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c == '\\' || c == '\'' || c == '"' {
			return true
		}
	}
	return !utf8.ValidString(s)
}
