package realtime

import "strings"

// Multi-valued columns.
//
// Asterisk's pgsql and odbc drivers read a column such as allow="ulaw;alaw" as a list: the
// text is split on ';', each piece trimmed, empty pieces dropped, and each piece decoded from
// the ^XX escape (ast_realtime_decode_chunk). When they write, ';' and '^' inside a value are
// written as ^3B and ^5E (ast_realtime_encode_chunk) so that a literal ';' is not mistaken for
// a separator by the reader. Asterisk's sqlite3 driver does neither.
//
// Pleiades does it in every driver, so that a table can be shared with an Asterisk server
// reading it through pgsql or odbc:
//
//   - every value a driver writes (Store, Update, Update2) and every value it compares against
//     (lookup fields of Load, LoadMulti, Update2, Destroy) goes through EncodeValue;
//   - every value a driver reads goes through DecodeValue, so a Row holds the text the caller
//     stored, intact;
//   - a consumer that expects a list (allow, disallow, permit, deny, setvar, ...) calls
//     SplitList on the Row's value.
//
// Where we differ from Asterisk: Asterisk splits before it decodes, so an encoded ^3B inside a
// list piece stays part of the piece; Pleiades decodes in the driver and splits in the consumer,
// so a ';' that was stored literally (encoded) splits like a separator. No list column of the
// Asterisk schema has a meaningful literal ';', and in exchange every single-valued column
// reads back exactly as stored without the consumer having to decode anything.

// SplitList splits a multi-valued column on ';', trims every piece and drops empty pieces.
func SplitList(s string) []string {
	if s == "" {
		return nil
	}
	var out []string
	for s != "" {
		var piece string
		if i := strings.IndexByte(s, ';'); i >= 0 {
			piece, s = s[:i], s[i+1:]
		} else {
			piece, s = s, ""
		}
		if piece = strings.TrimSpace(piece); piece != "" {
			out = append(out, piece)
		}
	}
	return out
}

// EncodeValue escapes ';' as ^3B and '^' as ^5E (Asterisk's ast_realtime_encode_chunk).
func EncodeValue(s string) string {
	if !strings.ContainsAny(s, ";^") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ';':
			b.WriteString("^3B")
		case '^':
			b.WriteString("^5E")
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// DecodeValue turns every ^XX (two hex digits) back into the byte it names (Asterisk's
// ast_realtime_decode_chunk). A '^' not followed by two hex digits is kept as is.
func DecodeValue(s string) string {
	i := strings.IndexByte(s, '^')
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(s[:i])
	for ; i < len(s); i++ {
		c := s[i]
		if c == '^' && i+2 < len(s) {
			if hi, ok := unhex(s[i+1]); ok {
				if lo, ok := unhex(s[i+2]); ok {
					b.WriteByte(hi<<4 | lo)
					i += 2
					continue
				}
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
