package ldap

import (
	"fmt"
	"strconv"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

// schema is one table as the driver uses it: its columns (the table's section, then
// [_general]'s for names the section does not map) and filters.
type schema struct {
	name    string
	cols    []Column            // one per column name, the first mapping; row order
	alt     map[string][]string // lower-case column -> every attribute mapped to it
	attrs   []string            // attributes to request
	filters []string            // additionalFilter of the table, then of [_general]
	classes []string
	rdn     string
}

func newSchema(t, general Table) *schema {
	s := &schema{name: t.Name, alt: map[string][]string{}, classes: t.ObjectClasses, rdn: t.RDN}
	add := func(cs []Column) {
		for _, c := range cs {
			k := strings.ToLower(c.Name)
			if _, ok := s.alt[k]; !ok {
				s.cols = append(s.cols, c)
			}
			s.alt[k] = append(s.alt[k], c.Attr)
			s.attrs = append(s.attrs, c.Attr)
		}
	}
	add(t.Columns)
	for _, c := range general.Columns {
		if _, ok := s.alt[strings.ToLower(c.Name)]; ok && !containsFold(t.Columns, c.Name) {
			continue
		}
		if containsFold(t.Columns, c.Name) {
			continue
		}
		add([]Column{c})
	}
	for _, f := range []string{t.Filter, general.Filter} {
		if f != "" {
			s.filters = append(s.filters, f)
		}
	}
	return s
}

func containsFold(cs []Column, name string) bool {
	for _, c := range cs {
		if strings.EqualFold(c.Name, name) {
			return true
		}
	}
	return false
}

// attr returns the attribute a column is written to and compared on.
func (s *schema) attr(col string) (string, error) {
	a, ok := s.alt[strings.ToLower(col)]
	if !ok {
		return "", fmt.Errorf("%w: %q is not a column of [%s] in %s", realtime.ErrUnknownField, col, s.name, ConfigFile)
	}
	return a[0], nil
}

// check is a condition the directory cannot evaluate for Asterisk's schema, applied to the
// decoded row: ordering (no ORDERING rule), LIKE's single-character '_' and NOT LIKE.
type check struct {
	col, op, val string
}

func (c check) match(r realtime.Row) bool {
	v, _ := r.Get(c.col)
	switch c.op {
	case "LIKE":
		return like(v, c.val)
	case "NOT LIKE":
		return !like(v, c.val)
	}
	if v == "" {
		return false
	}
	n := compare(v, c.val)
	switch c.op {
	case "<":
		return n < 0
	case ">":
		return n > 0
	case "<=":
		return n <= 0
	case ">=":
		return n >= 0
	}
	return false
}

// compare compares as numbers when both sides are numbers, otherwise as text.
func compare(a, b string) int {
	fa, ea := strconv.ParseFloat(strings.TrimSpace(a), 64)
	fb, eb := strconv.ParseFloat(strings.TrimSpace(b), 64)
	if ea == nil && eb == nil {
		switch {
		case fa < fb:
			return -1
		case fa > fb:
			return 1
		}
		return 0
	}
	return strings.Compare(a, b)
}

// likeToken is one piece of a LIKE pattern: literal text or a wildcard ('%' any run, '_' one
// character). '\' makes the next character literal.
type likeToken struct {
	lit  string
	wild byte // 0, '%' or '_'
}

func parseLike(p string) []likeToken {
	var out []likeToken
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			out = append(out, likeToken{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '\\' && i+1 < len(p):
			i++
			lit.WriteByte(p[i])
		case c == '%' || c == '_':
			flush()
			out = append(out, likeToken{wild: c})
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return out
}

// like matches s against a LIKE pattern, case-insensitively as the schema's caseIgnore rules.
func like(s, pattern string) bool {
	toks := parseLike(pattern)
	rs := []rune(strings.ToLower(s))
	var m func(ti, si int) bool
	m = func(ti, si int) bool {
		if ti == len(toks) {
			return si == len(rs)
		}
		t := toks[ti]
		switch t.wild {
		case '%':
			for k := si; k <= len(rs); k++ {
				if m(ti+1, k) {
					return true
				}
			}
			return false
		case '_':
			return si < len(rs) && m(ti+1, si+1)
		}
		lit := []rune(strings.ToLower(t.lit))
		if si+len(lit) > len(rs) || string(rs[si:si+len(lit)]) != string(lit) {
			return false
		}
		return m(ti+1, si+len(lit))
	}
	return m(0, 0)
}

// likeFilter renders a LIKE pattern as an LDAP substring filter: literal text escaped
// (goldap.EscapeFilter, after realtime.EncodeValue as stored), every wildcard a '*'. The
// result may match more than the pattern ('_' is one character); the check narrows it.
func likeFilter(attr, pattern string) string {
	toks := parseLike(pattern)
	var b strings.Builder
	b.WriteString("(" + attr + "=")
	star := false
	wild := false
	for _, t := range toks {
		if t.wild != 0 {
			wild = true
			if !star {
				b.WriteByte('*')
				star = true
			}
			continue
		}
		b.WriteString(goldap.EscapeFilter(realtime.EncodeValue(t.lit)))
		star = false
	}
	if !wild {
		// No wildcard: equality on the unescaped text.
		var lit strings.Builder
		for _, t := range toks {
			lit.WriteString(t.lit)
		}
		return "(" + attr + "=" + goldap.EscapeFilter(realtime.EncodeValue(lit.String())) + ")"
	}
	s := b.String()
	if s == "("+attr+"=*" {
		return "(" + attr + "=*)"
	}
	return s + ")"
}

// filter builds the search filter of fields (ANDed with the table's additionalFilter) and the
// checks the driver applies itself. Every value is escaped; a field that is not a column is
// an error wrapping realtime.ErrUnknownField, an operator that is not allowed an error.
func (s *schema) filter(fields []realtime.Field, ops bool) (string, []check, error) {
	var b strings.Builder
	b.WriteString("(&")
	for _, f := range s.filters {
		b.WriteString(f)
	}
	var checks []check
	n := 0
	for _, f := range fields {
		col, op, ok := realtime.SplitOp(f.Name)
		if !ok {
			return "", nil, fmt.Errorf("ldap: field %q: operator %q not allowed", f.Name, op)
		}
		if !ops && op != "=" {
			return "", nil, fmt.Errorf("ldap: field %q: no operator allowed here", f.Name)
		}
		attr, err := s.attr(col)
		if err != nil {
			return "", nil, err
		}
		n++
		v := goldap.EscapeFilter(realtime.EncodeValue(f.Value))
		switch op {
		case "=":
			if f.Value == "" {
				b.WriteString("(!(" + attr + "=*))")
			} else {
				b.WriteString("(" + attr + "=" + v + ")")
			}
		case "!=", "<>":
			if f.Value == "" {
				b.WriteString("(" + attr + "=*)")
			} else {
				b.WriteString("(!(" + attr + "=" + v + "))")
			}
		case "LIKE":
			b.WriteString(likeFilter(attr, f.Value))
			checks = append(checks, check{col, op, f.Value})
		case "NOT LIKE":
			checks = append(checks, check{col, op, f.Value})
		default: // <, >, <=, >=
			b.WriteString("(" + attr + "=*)")
			checks = append(checks, check{col, op, f.Value})
		}
	}
	if n == 0 && len(s.filters) == 0 {
		return "(objectClass=*)", checks, nil
	}
	b.WriteByte(')')
	return b.String(), checks, nil
}
