// Package callerid reads Caller ID strings as Asterisk does (main/callerid.c): `"Name" <number>`,
// `Name <number>`, a bare number or a bare name. It is the one parser for every place a Caller
// ID arrives as text (CALLERID(all)=, Originate's CallerID, AMI's OriginateResponse, and a SIP
// peer's callerid=), and imports nothing, so any front end can use it.
//
// Split follows ast_callerid_split: the number is the text between the last '<' and the last
// '>' after it, shrunk (Shrink); the name is the text between the first pair of double quotes
// before the '<', else that text with blanks trimmed. Without brackets, a string that shrinks
// to a phone number (IsPhoneNumber) is a number, anything else a name (quotes removed, or
// blanks trimmed). Asterisk's quirks are kept: `"Bob <100>` (a quote not closed before the
// '<') has no name unless another '"' follows the '>', and then the name keeps its leading
// blanks. Blanks are the bytes up to and including the space, as Asterisk counts them.
package callerid

import "strings"

// Split returns the name and the number of a Caller ID string (either may be "").
func Split(s string) (name, number string) {
	name, _, number, hasNumber := parse(s)
	if hasNumber {
		number = Shrink(number)
	}
	return name, number
}

// parse is ast_callerid_parse: it tells an absent part from an empty one.
func parse(s string) (name string, hasName bool, loc string, hasLoc bool) {
	if ls := strings.LastIndexByte(s, '<'); ls >= 0 {
		if n := strings.LastIndexByte(s[ls:], '>'); n >= 0 {
			le := ls + n
			head, loc := s[:ls], s[ls+1:le]
			if ns := strings.IndexByte(head, '"'); ns >= 0 {
				if ne := strings.IndexByte(head[ns+1:], '"'); ne >= 0 {
					return head[ns+1 : ns+1+ne], true, loc, true
				}
				// The closing quote may come after the bracketed number.
				if strings.IndexByte(s[le+1:], '"') >= 0 {
					return trimRight(head[ns+1:]), true, loc, true
				}
				return "", false, loc, true
			}
			return trimRight(trimLeft(head)), true, loc, true
		}
	}
	if n := Shrink(s); IsPhoneNumber(n) {
		return "", false, n, true
	}
	if ns := strings.IndexByte(s, '"'); ns >= 0 {
		if ne := strings.IndexByte(s[ns+1:], '"'); ne >= 0 {
			return s[ns+1 : ns+1+ne], true, "", false
		}
	}
	return trimRight(trimLeft(s)), true, "", false
}

// Shrink removes what decorates a written phone number (ast_shrink_phone_number): '(', ')'
// and spaces; '-' except inside [...]; '.' except at the end.
func Shrink(n string) string {
	if !strings.ContainsAny(n, "() -.") {
		return n
	}
	var b strings.Builder
	b.Grow(len(n))
	bracketed := 0
	for i := 0; i < len(n); i++ {
		switch c := n[i]; c {
		case '[':
			bracketed++
			b.WriteByte(c)
		case ']':
			bracketed--
			b.WriteByte(c)
		case '-':
			if bracketed > 0 {
				b.WriteByte(c)
			}
		case '.':
			if i == len(n)-1 {
				b.WriteByte(c)
			}
		case '(', ')', ' ':
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// IsPhoneNumber reports whether n is a non-empty string of digits, '*', '#' and '+'
// (ast_isphonenumber).
func IsPhoneNumber(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		if !strings.ContainsRune("0123456789*#+", rune(n[i])) {
			return false
		}
	}
	return true
}

func trimLeft(s string) string {
	for len(s) > 0 && s[0] <= ' ' {
		s = s[1:]
	}
	return s
}

func trimRight(s string) string {
	for len(s) > 0 && s[len(s)-1] <= ' ' {
		s = s[:len(s)-1]
	}
	return s
}
