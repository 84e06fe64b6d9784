package conf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrNotRepresentable is returned (wrapped) by Write when the configuration cannot be
// written in .conf syntax so that reading it back gives the same configuration.
var ErrNotRepresentable = errors.New("conf: configuration cannot be written as .conf")

// Write writes c in .conf syntax, includes expanded, so that Parse of the output gives a
// configuration Equal to c. Names and values are written trimmed of leading and trailing
// white space, which the syntax cannot hold (Asterisk trims them on reading too), so for a
// configuration built by hand "equal" means equal after that trimming. Templates are written
// as [t](!), inheriting categories as [c](t1,t2) followed by their own variables only;
// inherited variables changed later by "+=" are written as "name +=suffix" lines, and
// inherited variables that follow own ones (from [c](+,t)) as (+) sections.
//
// Write checks its output by parsing it again. When the configuration cannot be
// represented — a name or value holding a newline, a category name holding ']', a
// variable name holding '=' after its first character, or inherited variables that no
// longer match their template (the template was appended to after it was inherited) —
// Write writes nothing and returns an error wrapping ErrNotRepresentable.
func (c *Config) Write(w io.Writer) error {
	b, err := c.render()
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// String returns c in .conf syntax (see Write), or a ";" comment line holding the error.
func (c *Config) String() string {
	b, err := c.render()
	if err != nil {
		return "; " + strings.ReplaceAll(err.Error(), "\n", " ") + "\n"
	}
	return string(b)
}

type notRepresentable struct {
	msg string
	// stale: inherited variables no longer match their template, which was changed by a
	// later (+) section (the one case of a parsed configuration Write cannot represent).
	stale bool
}

func (e *notRepresentable) Error() string { return ErrNotRepresentable.Error() + ": " + e.msg }
func (e *notRepresentable) Unwrap() error { return ErrNotRepresentable }

func unrepresentable(format string, args ...any) error {
	return &notRepresentable{msg: fmt.Sprintf(format, args...)}
}

func staleTemplate(format string, args ...any) error {
	return &notRepresentable{msg: fmt.Sprintf(format, args...), stale: true}
}

// section is one "[name](options)" header and the lines under it. A deferred section is
// written after every category, because it inherits from a category defined later.
type section struct {
	append, deferred bool
	bases            []string
	lines            []string
}

func (c *Config) render() ([]byte, error) {
	var buf, tail bytes.Buffer
	first := make(map[string]int) // lower-cased name -> index of the first category
	for i, cat := range c.Categories {
		key := lower(cat.Name)
		if _, ok := first[key]; !ok {
			first[key] = i
		}
	}
	for i, cat := range c.Categories {
		if i > 0 {
			buf.WriteByte('\n')
		}
		if err := writeCategory(&buf, &tail, c, first, i, cat); err != nil {
			return nil, err
		}
	}
	buf.Write(tail.Bytes())
	back, err := Parse(c.File, buf.Bytes(), Options{})
	if err != nil {
		return nil, unrepresentable("reading the output back: %v", err)
	}
	if d := diff(c, back, true); d != "" {
		return nil, unrepresentable("%s", d)
	}
	return buf.Bytes(), nil
}

func writeCategory(buf, tail *bytes.Buffer, c *Config, first map[string]int, idx int, cat *Category) error {
	if strings.ContainsAny(cat.Name, "]\n") {
		return unrepresentable("category %q: name holds ']' or a line break", cat.Name)
	}
	secs := []*section{{}}
	cur := secs[0]
	newSection := func(deferred bool) {
		cur = &section{append: true, deferred: deferred || cur.deferred}
		secs = append(secs, cur)
	}
	// base finds the category a template name resolves to (the first of that name, as
	// Parse does) and makes cur a section where it can be named.
	base := func(name string) *Category {
		j, ok := first[lower(name)]
		if !ok {
			return nil
		}
		switch {
		case j < idx:
		case j == idx && !cur.append:
			newSection(false)
		case j > idx && !cur.deferred:
			newSection(true)
		}
		return c.Categories[j]
	}
	vars := cat.Vars
	bi := 0
	for i := 0; i < len(vars); {
		if !vars[i].Inherited {
			line, err := varLine(vars[i])
			if err != nil {
				return fmt.Errorf("category %q: %w", cat.Name, err)
			}
			cur.lines = append(cur.lines, line)
			i++
			continue
		}
		end := i
		for end < len(vars) && vars[end].Inherited {
			end++
		}
		if i > 0 {
			newSection(false)
		}
		var fixups []string
		for j := i; j < end; {
			if bi >= len(cat.Inherits) {
				return unrepresentable("category %q: inherited variable %q comes from no template in its Inherits", cat.Name, vars[j].Name)
			}
			bname := cat.Inherits[bi]
			b := base(bname)
			if b == nil {
				return unrepresentable("category %q: template %q is not defined", cat.Name, bname)
			}
			bv := b.Vars
			if b == cat {
				bv = vars[:i]
			}
			if j+len(bv) > end {
				return staleTemplate("category %q: its variables inherited from %q do not match the template", cat.Name, bname)
			}
			for k, bvar := range bv {
				v := vars[j+k]
				if v.Name != bvar.Name || v.Object != bvar.Object {
					return staleTemplate("category %q: its variables inherited from %q do not match the template", cat.Name, bname)
				}
				bval, val := trimSpaceString(bvar.Value), trimSpaceString(v.Value)
				if bval == val {
					continue
				}
				if !strings.HasPrefix(val, bval) {
					return staleTemplate("category %q: inherited variable %q = %q differs from the template's %q", cat.Name, v.Name, val, bval)
				}
				for _, later := range vars[j+k+1 : end] {
					if strings.EqualFold(later.Name, v.Name) {
						return staleTemplate("category %q: changed inherited variable %q is not the last of its name", cat.Name, v.Name)
					}
				}
				name, err := varName(v.Name)
				if err != nil {
					return fmt.Errorf("category %q: %w", cat.Name, err)
				}
				suffix, err := escape(val[len(bval):])
				if err != nil {
					return fmt.Errorf("category %q: variable %q: %w", cat.Name, v.Name, err)
				}
				fixups = append(fixups, name+" +="+suffix)
			}
			if err := checkBase(cat.Name, bname); err != nil {
				return err
			}
			cur.bases = append(cur.bases, bname)
			bi++
			j += len(bv)
		}
		cur.lines = append(cur.lines, fixups...)
		i = end
	}
	// Templates that gave no variables.
	for ; bi < len(cat.Inherits); bi++ {
		bname := cat.Inherits[bi]
		b := base(bname)
		if b == nil {
			return unrepresentable("category %q: template %q is not defined", cat.Name, bname)
		}
		if b != cat && len(b.Vars) > 0 || b == cat && len(vars) > 0 {
			return staleTemplate("category %q: inherits %q but holds none of its variables", cat.Name, bname)
		}
		if err := checkBase(cat.Name, bname); err != nil {
			return err
		}
		cur.bases = append(cur.bases, bname)
	}
	if cat.Template {
		// A template cannot be found by (+): with several sections it becomes one in the last.
		last := secs[len(secs)-1]
		last.bases = append([]string{"!"}, last.bases...)
	}
	name, err := escape(cat.Name)
	if err != nil {
		return err
	}
	for i, s := range secs {
		out := buf
		if s.deferred {
			out = tail
		}
		if i > 0 || s.deferred {
			out.WriteByte('\n')
		}
		out.WriteByte('[')
		out.WriteString(name)
		out.WriteByte(']')
		opts := s.bases
		if s.append {
			opts = append([]string{"+"}, opts...)
		}
		if len(opts) > 0 {
			out.WriteByte('(')
			for k, o := range opts {
				if k > 0 {
					out.WriteByte(',')
				}
				o, err := escape(o)
				if err != nil {
					return err
				}
				out.WriteString(o)
			}
			out.WriteByte(')')
		}
		out.WriteByte('\n')
		for _, l := range s.lines {
			out.WriteString(l)
			out.WriteByte('\n')
		}
	}
	return nil
}

func checkBase(cat, name string) error {
	if name == "" || name != trimSpaceString(name) || strings.ContainsAny(name, ",)\n") || name == "!" || name[0] == '+' {
		return unrepresentable("category %q: template name %q cannot be written", cat, name)
	}
	return nil
}

// escape writes ';' as "\;" and refuses line breaks.
func escape(s string) (string, error) {
	if strings.IndexByte(s, '\n') >= 0 {
		return "", unrepresentable("%q holds a newline", s)
	}
	if strings.IndexByte(s, ';') < 0 {
		return s, nil
	}
	return strings.ReplaceAll(s, ";", `\;`), nil
}

func varName(name string) (string, error) {
	name = trimSpaceString(name)
	if name == "" {
		return "", unrepresentable("empty variable name")
	}
	if strings.IndexByte(name[1:], '=') >= 0 {
		return "", unrepresentable("variable name %q holds '='", name)
	}
	n, err := escape(name)
	if err != nil {
		return "", err
	}
	switch name[0] {
	case '[', '#', '\\', '=':
		n = `\` + n
	}
	return n, nil
}

func varLine(v *Variable) (string, error) {
	name, err := varName(v.Name)
	if err != nil {
		return "", err
	}
	value, err := escape(trimSpaceString(v.Value))
	if err != nil {
		return "", fmt.Errorf("variable %q: %w", v.Name, err)
	}
	op := " = "
	if v.Object {
		op = " => "
	}
	if value == "" {
		return name + strings.TrimRight(op, " "), nil
	}
	return name + op + value, nil
}

// diff describes the first difference between a and b, or returns "". With trim, names and
// values of a are compared trimmed (as Write writes them).
func diff(a, b *Config, trim bool) string {
	if a == nil || b == nil {
		if a == b {
			return ""
		}
		return "one configuration is nil"
	}
	t := func(s string) string {
		if trim {
			return trimSpaceString(s)
		}
		return s
	}
	if len(a.Categories) != len(b.Categories) {
		return fmt.Sprintf("%d categories, not %d", len(b.Categories), len(a.Categories))
	}
	for i, ca := range a.Categories {
		cb := b.Categories[i]
		if ca.Name != cb.Name || ca.Template != cb.Template {
			return fmt.Sprintf("category %d: [%s] template=%v, not [%s] template=%v", i, cb.Name, cb.Template, ca.Name, ca.Template)
		}
		if len(ca.Inherits) != len(cb.Inherits) {
			return fmt.Sprintf("category [%s]: inherits %q, not %q", ca.Name, cb.Inherits, ca.Inherits)
		}
		for j := range ca.Inherits {
			if ca.Inherits[j] != cb.Inherits[j] {
				return fmt.Sprintf("category [%s]: inherits %q, not %q", ca.Name, cb.Inherits, ca.Inherits)
			}
		}
		if len(ca.Vars) != len(cb.Vars) {
			return fmt.Sprintf("category [%s]: %d variables, not %d", ca.Name, len(cb.Vars), len(ca.Vars))
		}
		for j, va := range ca.Vars {
			vb := cb.Vars[j]
			if t(va.Name) != vb.Name || t(va.Value) != vb.Value || va.Object != vb.Object || va.Inherited != vb.Inherited {
				return fmt.Sprintf("category [%s] variable %d: %q=%q object=%v inherited=%v, not %q=%q object=%v inherited=%v",
					ca.Name, j, vb.Name, vb.Value, vb.Object, vb.Inherited, t(va.Name), t(va.Value), va.Object, va.Inherited)
			}
		}
	}
	return ""
}
