package conf

import (
	"strconv"
	"strings"
)

// CategoriesNamed returns every category named name (case-insensitive), templates
// included, in order. Asterisk allows several categories with one name (for example one
// [exten] per object in pjsip.conf style files).
func (c *Config) CategoriesNamed(name string) []*Category {
	var out []*Category
	for _, cat := range c.Categories {
		if strings.EqualFold(cat.Name, name) {
			out = append(out, cat)
		}
	}
	return out
}

// Names returns the names of the non-template categories in order. A name appears once per
// category, so a name used by several categories appears several times.
func (c *Config) Names() []string {
	out := make([]string, 0, len(c.Categories))
	for _, cat := range c.Categories {
		if !cat.Template {
			out = append(out, cat.Name)
		}
	}
	return out
}

// AddCategory appends a new, empty, non-template category and returns it. file and line
// record where it came from (for errors); line may be 0.
func (c *Config) AddCategory(name, file string, line int) *Category {
	cat := &Category{Name: name, File: file, Line: line}
	c.Categories = append(c.Categories, cat)
	return cat
}

// Add appends a variable of the category's own (not inherited) and returns it. object
// selects "=>" over "=".
func (cat *Category) Add(name, value string, object bool, file string, line int) *Variable {
	v := &Variable{Name: name, Value: value, Object: object, File: file, Line: line}
	cat.Vars = append(cat.Vars, v)
	return v
}

// Clone returns a deep copy of c: changing the copy leaves c as it was.
func (c *Config) Clone() *Config {
	if c == nil {
		return nil
	}
	out := &Config{File: c.File, Categories: make([]*Category, len(c.Categories))}
	if c.Warnings != nil {
		out.Warnings = make(ErrorList, len(c.Warnings))
		for i, w := range c.Warnings {
			e := *w
			out.Warnings[i] = &e
		}
	}
	n := 0
	for _, cat := range c.Categories {
		n += len(cat.Vars)
	}
	vars := make([]Variable, n)
	for i, cat := range c.Categories {
		nc := *cat
		nc.Inherits = append([]string(nil), cat.Inherits...)
		nc.Vars = make([]*Variable, len(cat.Vars))
		for j, v := range cat.Vars {
			vars[0] = *v
			nc.Vars[j] = &vars[0]
			vars = vars[1:]
		}
		out.Categories[i] = &nc
	}
	return out
}

// Equal reports whether c and o hold the same categories in the same order, with the same
// names, Template flags and Inherits lists, and the same variables in the same order (names,
// values, Object and Inherited flags). File, Line and Warnings are not compared.
func (c *Config) Equal(o *Config) bool {
	return diff(c, o, false) == ""
}

// IsTrue reports whether s is one of Asterisk's true values (ast_true): "yes", "true",
// "y", "t", "1" or "on", in any case.
func IsTrue(s string) bool {
	switch len(s) {
	case 1:
		return s == "1" || s[0]|0x20 == 'y' || s[0]|0x20 == 't'
	case 2:
		return strings.EqualFold(s, "on")
	case 3:
		return strings.EqualFold(s, "yes")
	case 4:
		return strings.EqualFold(s, "true")
	}
	return false
}

// IsFalse reports whether s is one of Asterisk's false values (ast_false): "no", "false",
// "n", "f", "0" or "off", in any case. A string can be neither true nor false.
func IsFalse(s string) bool {
	switch len(s) {
	case 1:
		return s == "0" || s[0]|0x20 == 'n' || s[0]|0x20 == 'f'
	case 2:
		return strings.EqualFold(s, "no")
	case 3:
		return strings.EqualFold(s, "off")
	case 5:
		return strings.EqualFold(s, "false")
	}
	return false
}

// ParseBool is IsTrue and IsFalse in one: the value of s and whether s is one of Asterisk's
// boolean words at all (for a caller that reports an invalid value). Like ast_true and
// ast_false it does not trim s.
func ParseBool(s string) (value, ok bool) {
	switch {
	case IsTrue(s):
		return true, true
	case IsFalse(s):
		return false, true
	}
	return false, false
}

// Bool returns the value of the last variable named name as a boolean (IsTrue/IsFalse), or
// def when there is none. A value that is neither true nor false gives def and an *Error
// naming the variable's file and line.
func (cat *Category) Bool(name string, def bool) (bool, error) {
	v := cat.last(name)
	if v == nil {
		return def, nil
	}
	if b, ok := ParseBool(v.Value); ok {
		return b, nil
	}
	return def, &Error{File: v.File, Line: v.Line, Msg: strconv.Quote(v.Name) + ": " + strconv.Quote(v.Value) + " is not a boolean (yes/no)"}
}

// Int returns the value of the last variable named name as a decimal integer, or def when
// there is none. A value that is not an integer gives def and an *Error naming the
// variable's file and line.
func (cat *Category) Int(name string, def int) (int, error) {
	v := cat.last(name)
	if v == nil {
		return def, nil
	}
	n, err := strconv.Atoi(v.Value)
	if err != nil {
		return def, &Error{File: v.File, Line: v.Line, Msg: strconv.Quote(v.Name) + ": " + strconv.Quote(v.Value) + " is not an integer"}
	}
	return n, nil
}

func (cat *Category) last(name string) *Variable {
	if cat == nil {
		return nil
	}
	for i := len(cat.Vars) - 1; i >= 0; i-- {
		if strings.EqualFold(cat.Vars[i].Name, name) {
			return cat.Vars[i]
		}
	}
	return nil
}
