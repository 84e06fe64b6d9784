package sip

// Values from the network (user names, URIs, From/To headers, Call-IDs, User-Agents) reach a
// log line only through logText or logValue, so that a client can neither start a line of its
// own (newline, carriage return) nor shape one that a log reader (fail2ban) parses as naming
// another address. See the package documentation, "Log lines".

const hexDigits = "0123456789abcdef"

// logText returns s as it may appear inside the single quotes of a chan_sip-worded line
// ("Registration from '<sip:alice@host>' failed for ..."): control characters, DEL, bytes
// outside ASCII, the quote characters ' and ", the backslash and the parentheses are written
// \xNN. Other characters are kept, so a normal URI reads as it came.
func logText(s string) string { return escapeLog(s, false) }

// logValue returns s in double quotes for a key=value field: besides what logText escapes,
// spaces and '=' are written \xNN, so that the value can never look like another field.
func logValue(s string) string { return `"` + escapeLog(s, true) + `"` }

func needsEscape(c byte, strict bool) bool {
	switch {
	case c < 0x20 || c >= 0x7f:
		return true
	case c == '\'' || c == '"' || c == '\\' || c == '(' || c == ')':
		return true
	case strict && (c == ' ' || c == '='):
		return true
	}
	return false
}

func escapeLog(s string, strict bool) string {
	i := 0
	for i < len(s) && !needsEscape(s[i], strict) {
		i++
	}
	if i == len(s) {
		return s
	}
	b := make([]byte, 0, len(s)+16)
	b = append(b, s[:i]...)
	for ; i < len(s); i++ {
		c := s[i]
		if needsEscape(c, strict) {
			b = append(b, '\\', 'x', hexDigits[c>>4], hexDigits[c&15])
			continue
		}
		b = append(b, c)
	}
	return string(b)
}
