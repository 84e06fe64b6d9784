package sip

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/icholy/digest"
)

// parseCredentials reads an Authorization header's digest credentials exactly as
// github.com/icholy/digest's ParseCredentials does — the same fields, the same values, the
// same inputs refused (FuzzParseCredentials holds the two to each other) — in one pass over
// the string, without its rune-by-rune reader: that reader was a tenth of a REGISTER's CPU
// under a storm (docs/performance.md, issue 21). Values are substrings of s where no escape
// or invalid UTF-8 asks for a copy.
func parseCredentials(s string) (*digest.Credentials, error) {
	if !digest.IsDigest(s) {
		return nil, errors.New("digest: invalid credentials prefix")
	}
	s = s[len(digest.Prefix):]
	var c digest.Credentials
	for i, first := 0, true; ; first = false {
		i = skipSpaces(s, i)
		if i == len(s) {
			break
		}
		if !first {
			if s[i] != ',' {
				return nil, errors.New("digest: invalid credentials: expected ','")
			}
			i = skipSpaces(s, i+1)
		}
		k := i
		i = skipIdent(s, i)
		key := s[k:i]
		i = skipSpaces(s, i)
		if i == len(s) || s[i] != '=' {
			return nil, errors.New("digest: invalid credentials: expected '='")
		}
		i = skipSpaces(s, i+1)
		var val string
		if i < len(s) && s[i] == '"' {
			var ok bool
			if val, i, ok = quotedValue(s, i+1); !ok {
				return nil, errors.New("digest: invalid credentials: unterminated string")
			}
		} else {
			v := i
			i = skipIdent(s, i)
			val = s[v:i]
		}
		switch key {
		case "username":
			c.Username = val
		case "realm":
			c.Realm = val
		case "nonce":
			c.Nonce = val
		case "uri":
			c.URI = val
		case "response":
			c.Response = val
		case "algorithm":
			c.Algorithm = val
		case "cnonce":
			c.Cnonce = val
		case "opaque":
			c.Opaque = val
		case "qop":
			c.QOP = val
		case "nc":
			nc, err := strconv.ParseInt(val, 16, 32)
			if err != nil {
				return nil, errors.New("digest: invalid nc: " + err.Error())
			}
			c.Nc = int(nc)
		case "userhash":
			c.Userhash = strings.ToLower(val) == "true"
		}
	}
	return &c, nil
}

func skipSpaces(s string, i int) int {
	for i < len(s) && s[i] == ' ' {
		i++
	}
	return i
}

func skipIdent(s string, i int) int {
	for i < len(s) {
		b := s[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '-') {
			break
		}
		i++
	}
	return i
}

// quotedValue reads a quoted string whose opening quote is before i: the value (a backslash
// takes the next character as it is; invalid UTF-8 reads as U+FFFD, byte by byte, as a rune
// reader does) and the index after the closing quote; ok=false when there is none.
func quotedValue(s string, i int) (val string, next int, ok bool) {
	j := strings.IndexAny(s[i:], "\"\\")
	if j >= 0 && s[i+j] == '"' && utf8.ValidString(s[i:i+j]) {
		return s[i : i+j], i + j + 1, true
	}
	var b strings.Builder
	escaped := false
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case escaped:
			b.WriteRune(r)
			escaped = false
		case r == '\\':
			escaped = true
		case r == '"':
			return b.String(), i, true
		default:
			b.WriteRune(r)
		}
	}
	return "", i, false
}
