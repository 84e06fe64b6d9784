package expr

// Lexer for the $[ ] expression language. It follows the token rules of
// Asterisk's ast_expr2.fl (see the package documentation for the details).

type tokType uint8

const (
	tEOF tokType = iota
	tToken
	tCond       // ?
	tColonColon // ::
	tOr         // | ||
	tAnd        // & &&
	tEq         // = ==
	tNe         // !=
	tLt         // <
	tGt         // >
	tLe         // <=
	tGe         // >=
	tPlus       // +
	tMinus      // -
	tMul        // *
	tDiv        // /
	tMod        // %
	tCompl      // !
	tColon      // :
	tEqTilde    // =~
	tTildeTilde // ~~
	tLP         // (
	tRP         // )
	tComma      // ,
)

var tokNames = [...]string{
	tEOF: "end of expression", tToken: "operand", tCond: "'?'", tColonColon: "'::'",
	tOr: "'|'", tAnd: "'&'", tEq: "'='", tNe: "'!='", tLt: "'<'", tGt: "'>'",
	tLe: "'<='", tGe: "'>='", tPlus: "'+'", tMinus: "'-'", tMul: "'*'", tDiv: "'/'",
	tMod: "'%'", tCompl: "'!'", tColon: "':'", tEqTilde: "'=~'", tTildeTilde: "'~~'",
	tLP: "'('", tRP: "')'", tComma: "','",
}

func (t tokType) String() string { return tokNames[t] }

type token struct {
	typ tokType
	pos int
	val value // for tToken
}

type lexer struct {
	s   string
	pos int
}

// isWordByte reports whether c may appear in a bare operand:
// [a-zA-Z0-9.';\\_^#@] or any byte >= 0x80.
func isWordByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c >= 0x80:
		return true
	}
	switch c {
	case '.', '\'', ';', '\\', '_', '^', '#', '@':
		return true
	}
	return false
}

// isTrailStop reports whether c ends the text glued after a ${...} operand.
func isTrailStop(c byte) bool {
	switch c {
	case '-', '\t', '\r', ' ', '\n', '$', '(', ')', ':', '?', '%', '/', '+', '=', '*', '<', '>', '!', '|', '&':
		return true
	}
	return false
}

func (l *lexer) next() token {
	s := l.s
	for l.pos < len(s) {
		start := l.pos
		c := s[start]
		op := func(t tokType, n int) token {
			l.pos += n
			return token{typ: t, pos: start}
		}
		peek := byte(0)
		if start+1 < len(s) {
			peek = s[start+1]
		}
		switch c {
		case ' ', '\t', '\r', '\n':
			l.pos++
			continue
		case '|':
			if peek == '|' {
				return op(tOr, 2)
			}
			return op(tOr, 1)
		case '&':
			if peek == '&' {
				return op(tAnd, 2)
			}
			return op(tAnd, 1)
		case '=':
			switch peek {
			case '=':
				return op(tEq, 2)
			case '~':
				return op(tEqTilde, 2)
			}
			return op(tEq, 1)
		case '~':
			if peek == '~' {
				return op(tTildeTilde, 2)
			}
			l.pos++ // a lone '~' matches no rule: flex echoes and drops it
			continue
		case '>':
			if peek == '=' {
				return op(tGe, 2)
			}
			return op(tGt, 1)
		case '<':
			if peek == '=' {
				return op(tLe, 2)
			}
			return op(tLt, 1)
		case '!':
			if peek == '=' {
				return op(tNe, 2)
			}
			return op(tCompl, 1)
		case '+':
			return op(tPlus, 1)
		case ',':
			return op(tComma, 1)
		case '-':
			return op(tMinus, 1)
		case '*':
			return op(tMul, 1)
		case '/':
			return op(tDiv, 1)
		case '%':
			return op(tMod, 1)
		case '?':
			return op(tCond, 1)
		case ':':
			if peek == ':' {
				return op(tColonColon, 2)
			}
			return op(tColon, 1)
		case '(':
			return op(tLP, 1)
		case ')':
			return op(tRP, 1)
		case '"':
			for i := start + 1; i < len(s); i++ {
				if s[i] == '"' {
					l.pos = i + 1
					return token{typ: tToken, pos: start, val: value{k: kString, s: s[start : i+1]}}
				}
			}
			l.pos++ // unterminated quote: dropped like any unmatched byte
			continue
		case '$':
			if peek == '{' {
				return l.varToken(start, start+2)
			}
			if start+1 < len(s) {
				return l.word(start)
			}
			l.pos++
			continue
		}
		if isWordByte(c) {
			return l.word(start)
		}
		l.pos++ // unmatched byte ('[', '{', '"', control characters...): ignored
	}
	return token{typ: tEOF, pos: len(s)}
}

// word scans a bare operand starting at start.
func (l *lexer) word(start int) token {
	s := l.s
	i := start
	for i < len(s) {
		c := s[i]
		if isWordByte(c) {
			i++
		} else if c == '$' && i+1 < len(s) && s[i+1] != '{' {
			i += 2
		} else {
			break
		}
	}
	if i+1 < len(s) && s[i] == '$' && s[i+1] == '{' {
		return l.varToken(start, i+2)
	}
	l.pos = i
	w := s[start:i]
	k := kString
	if numberLen(w) == len(w) {
		k = kNumStr
	}
	return token{typ: tToken, pos: start, val: value{k: k, s: w}}
}

// numberLen returns the length of the longest prefix of w matching
// [0-9]+(\.[0-9]+)? (0 if none).
func numberLen(w string) int {
	i := 0
	for i < len(w) && w[i] >= '0' && w[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0
	}
	if i+1 < len(w) && w[i] == '.' && w[i+1] >= '0' && w[i+1] <= '9' {
		i += 2
		for i < len(w) && w[i] >= '0' && w[i] <= '9' {
			i++
		}
	}
	return i
}

// varToken scans an operand containing an unexpanded ${...} reference; i is
// just past the "${". The operand extends over balanced braces and then over
// any trailing text up to an operator or blank.
func (l *lexer) varToken(start, i int) token {
	s := l.s
	for {
		depth := 0
		for i < len(s) && depth >= 0 {
			switch s[i] {
			case '{':
				depth++
			case '}':
				depth--
			}
			i++
		}
		if depth >= 0 { // unterminated: the rest of the input is the operand
			i = len(s)
			break
		}
		for i < len(s) && !isTrailStop(s[i]) {
			i++
		}
		if i+1 < len(s) && s[i] == '$' && s[i+1] == '{' {
			i += 2
			continue
		}
		break
	}
	l.pos = i
	return token{typ: tToken, pos: start, val: value{k: kString, s: s[start:i]}}
}
