package dialplan

import "strings"

// matchMode is what a lookup asks of an extension (Asterisk's E_MATCH, E_CANMATCH, E_MATCHMORE).
type matchMode uint8

const (
	modeMatch     matchMode = iota // the extension is complete
	modeCanMatch                   // the extension matches now or could with more digits
	modeMatchMore                  // the extension could match only with more digits
)

// Pattern element scores, as main/pbx.c's ext_cmp_pattern_pos encodes them: a set of n
// characters whose smallest is c scores n<<8|c, so fewer matching characters sort first.
const (
	scoreDot   = 0x18000 // '.'
	scoreBang  = 0x28000 // '!'
	scoreEnd   = 0x30000 // end of the pattern
	scoreError = 0x40000 // '[' without ']'
)

type elemKind uint8

const (
	elemSet  elemKind = iota // one character from a set (a literal, X, Z, N or [...])
	elemDot                  // '.': one or more of anything
	elemBang                 // '!': zero or more of anything
)

// patElem is one position of a compiled pattern.
type patElem struct {
	kind  elemKind
	score int32
	// bits holds the set as Asterisk's comparison bitmap: bit 7-(c%8) of byte c/8.
	bits [32]byte
}

func (e *patElem) has(c byte) bool { return e.bits[c>>3]&(1<<(7-c&7)) != 0 }

// pattern is a compiled "_..." extension pattern.
type pattern struct {
	elems []patElem
	// bad is set for a '[' without ']': Asterisk warns and the pattern never matches.
	bad bool
}

// compilePattern compiles a pattern given without its leading '_'. Dashes outside sets are
// "eye candy" and ignored; empty sets are ignored, as in Asterisk.
func compilePattern(p string) *pattern {
	pt := &pattern{}
	for i := 0; i < len(p); i++ {
		c := p[i]
		var e patElem
		switch c {
		case '-':
			continue
		case 'x', 'X':
			e.score = 0x0A00 | '0'
			setRange(&e, '0', '9')
		case 'z', 'Z':
			e.score = 0x0900 | '1'
			setRange(&e, '1', '9')
		case 'n', 'N':
			e.score = 0x0800 | '2'
			setRange(&e, '2', '9')
		case '.':
			e.kind, e.score = elemDot, scoreDot
		case '!':
			e.kind, e.score = elemBang, scoreBang
		case '[':
			end := strings.IndexByte(p[i+1:], ']')
			if end < 0 {
				pt.bad = true
				pt.elems = append(pt.elems, patElem{score: scoreError})
				return pt
			}
			set := p[i+1 : i+1+end]
			i += end + 1
			count, cmin := 0, 0xFF
			for j := 0; j < len(set); j++ {
				c1, c2 := set[j], set[j]
				if j+2 < len(set) && set[j+1] == '-' {
					c2 = set[j+2]
					j += 2
				}
				if int(c1) < cmin {
					cmin = int(c1)
				}
				for c := int(c1); c <= int(c2); c++ {
					if !e.has(byte(c)) {
						e.bits[c>>3] |= 1 << (7 - c&7)
						count += 0x100
					}
				}
			}
			if count == 0 {
				continue // an empty set is ignored
			}
			e.score = int32(count | cmin)
		default:
			e.score = 0x0100 | int32(c)
			e.bits[c>>3] = 1 << (7 - c&7)
		}
		pt.elems = append(pt.elems, e)
	}
	return pt
}

func setRange(e *patElem, lo, hi byte) {
	for c := int(lo); c <= int(hi); c++ {
		e.bits[c>>3] |= 1 << (7 - c&7)
	}
}

// match reports 0 (no match), 1 (match) or 2 (early match: the pattern reached a '!'), as
// Asterisk's _extension_match_core does. data must not contain '-' (see stripDashes).
func (pt *pattern) match(data string, mode matchMode) int {
	if pt.bad {
		return 0
	}
	i, j := 0, 0
	for i < len(pt.elems) && j < len(data) {
		e := &pt.elems[i]
		switch e.kind {
		case elemDot:
			return 1
		case elemBang:
			return 2
		}
		if !e.has(data[j]) {
			return 0
		}
		i++
		j++
	}
	if j < len(data) {
		return 0
	}
	switch {
	case i == len(pt.elems):
		if mode == modeMatchMore {
			return 0
		}
		return 1
	case pt.elems[i].kind == elemBang:
		return 2
	case mode == modeMatch:
		return 0
	}
	return 1
}

// firstSet returns the bytes the pattern's first position accepts, and false when it
// accepts every byte ('.' or '!') .
func (pt *pattern) firstSet() (*patElem, bool) {
	if pt.bad || len(pt.elems) == 0 {
		return &patElem{}, true
	}
	e := &pt.elems[0]
	if e.kind != elemSet {
		return nil, false
	}
	return e, true
}

// comparePatterns orders two compiled patterns as Asterisk's ext_cmp_pattern does: position by
// position, the element with the smaller score (fewer matching characters) first; at equal
// scores the set holding lower characters first; a pattern that ends first sorts first.
func comparePatterns(a, b *pattern) int {
	for i := 0; ; i++ {
		ea, eb := elemAt(a, i), elemAt(b, i)
		if d := int(ea.score) - int(eb.score); d != 0 {
			return d
		}
		// memcmp(right, left): the set with more low bits set compares first.
		for k := 0; k < 32; k++ {
			if eb.bits[k] != ea.bits[k] {
				return int(eb.bits[k]) - int(ea.bits[k])
			}
		}
		if ea.score == scoreEnd || ea.score == scoreError {
			return 0
		}
	}
}

var endElem = patElem{score: scoreEnd}

func elemAt(p *pattern, i int) *patElem {
	if i < len(p.elems) {
		return &p.elems[i]
	}
	return &endElem
}

// compareExtens orders extension names as Asterisk's ext_cmp: every plain extension before
// every pattern; plain extensions byte-wise (dashes ignored); patterns by comparePatterns.
func compareExtens(a, b string) int {
	pa, pb := isPattern(a), isPattern(b)
	switch {
	case !pa && pb:
		return -1
	case pa && !pb:
		return 1
	case !pa:
		return strings.Compare(stripDashes(a), stripDashes(b))
	}
	return comparePatterns(compilePattern(a[1:]), compilePattern(b[1:]))
}

func isPattern(s string) bool { return len(s) > 0 && s[0] == '_' }

// stripDashes removes '-', which Asterisk ignores in extensions and dialled numbers.
func stripDashes(s string) string {
	if strings.IndexByte(s, '-') < 0 {
		return s
	}
	return strings.ReplaceAll(s, "-", "")
}

// plainMatch is _extension_match_core for a non-pattern extension (both without dashes).
func plainMatch(name, data string, mode matchMode) bool {
	if len(name) < len(data) {
		return false
	}
	switch mode {
	case modeMatch:
		return name == data
	case modeMatchMore:
		return len(name) > len(data) && strings.HasPrefix(name, data)
	}
	return strings.HasPrefix(name, data)
}

// MatchExtension reports whether pattern (an extension name, "_" for patterns) matches the
// dialled extension exten completely (Asterisk's ast_extension_match).
func MatchExtension(pattern, exten string) bool {
	return extenMatch(pattern, exten, modeMatch) > 0
}

// CanMatchExtension reports whether exten matches pattern now or could with more digits
// (Asterisk's E_CANMATCH).
func CanMatchExtension(pattern, exten string) bool {
	return extenMatch(pattern, exten, modeCanMatch) > 0
}

// MatchMoreExtension reports whether exten could match pattern only with more digits
// (Asterisk's E_MATCHMORE).
func MatchMoreExtension(pattern, exten string) bool {
	return extenMatch(pattern, exten, modeMatchMore) > 0
}

func extenMatch(name, data string, mode matchMode) int {
	data = stripDashes(data)
	if !isPattern(name) {
		if plainMatch(stripDashes(name), data, mode) {
			return 1
		}
		return 0
	}
	if mode == modeMatch && isPattern(data) && comparePatterns(compilePattern(name[1:]), compilePattern(data[1:])) == 0 {
		return 1
	}
	return compilePattern(name[1:]).match(data, mode)
}
