package unixodbc

import (
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// appendUTF16 appends s as UTF-16 (SQLWCHAR) code units; invalid UTF-8 becomes U+FFFD.
func appendUTF16(dst []uint16, s string) []uint16 {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			dst = append(dst, uint16(c))
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		dst = utf16.AppendRune(dst, r)
	}
	return dst
}

// decodeUTF16LE converts UTF-16LE bytes (SQL_C_WCHAR data) to a string with one allocation;
// a NUL is a character like any other, an odd last byte is dropped, unpaired surrogates become
// U+FFFD.
func decodeUTF16LE(b []byte) string {
	n := len(b) / 2
	if n == 0 {
		return ""
	}
	ascii := true
	for i := 0; i < n; i++ {
		if b[2*i+1] != 0 || b[2*i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		out := make([]byte, n)
		for i := range out {
			out[i] = b[2*i]
		}
		return unsafe.String(&out[0], n)
	}
	out := make([]byte, 0, n*3)
	for i := 0; i < n; i++ {
		c := rune(b[2*i]) | rune(b[2*i+1])<<8
		switch {
		case c < utf8.RuneSelf:
			out = append(out, byte(c))
		case utf16.IsSurrogate(c):
			r := utf8.RuneError
			if i+1 < n {
				if d := utf16.DecodeRune(c, rune(b[2*i+2])|rune(b[2*i+3])<<8); d != utf8.RuneError {
					r = d
					i++
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			out = utf8.AppendRune(out, c)
		}
	}
	return unsafe.String(unsafe.SliceData(out), len(out))
}

// decodeUTF16 converts UTF-16 code units to a string, stopping at a NUL; unpaired surrogates
// become U+FFFD.
func decodeUTF16(u []uint16) string {
	ascii := true
	for i, c := range u {
		if c == 0 {
			u = u[:i]
			break
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
	}
	if ascii {
		b := make([]byte, len(u))
		for i, c := range u {
			b[i] = byte(c)
		}
		return string(b)
	}
	b := make([]byte, 0, len(u)*3/2)
	for i := 0; i < len(u); i++ {
		c := u[i]
		switch {
		case c < utf8.RuneSelf:
			b = append(b, byte(c))
		case utf16.IsSurrogate(rune(c)) && i+1 < len(u):
			r := utf16.DecodeRune(rune(c), rune(u[i+1]))
			if r != utf8.RuneError {
				i++
			}
			b = utf8.AppendRune(b, r)
		default:
			if utf16.IsSurrogate(rune(c)) {
				b = utf8.AppendRune(b, utf8.RuneError)
			} else {
				b = utf8.AppendRune(b, rune(c))
			}
		}
	}
	return string(b)
}
