// Package conf reads and writes Asterisk's .conf syntax.
//
// The format: [category] headers with template options ([t](!), [c](t1,t2), [c](+)),
// "name = value" and "name => value" assignments (which one was used is kept), "+=" appends,
// comments (";", block ";-- ... --;", escaped "\;"), #include and #tryinclude with globs,
// and #exec (only when Options.ExecIncludes is set). Duplicate keys are kept in order, and every
// category and variable remembers the file and line it came from, so that every error can name
// them.
package conf

import (
	"context"
	"fmt"
	"strings"
)

// Config is a parsed configuration: the categories of one file and everything it includes, in order.
type Config struct {
	// File is the name the configuration was loaded as (a path, or a file name for static mode).
	File string
	// Categories in the order they appear; templates are included and marked.
	Categories []*Category
	// Warnings holds what Asterisk only warns about and skips (unknown directives, lines
	// without "=", text after a category header). Parse and Load fill it; it plays no part in
	// Equal or Write.
	Warnings ErrorList
}

// Category is one [name] section.
type Category struct {
	Name string
	// Template is true for a category declared with (!): it is only a source for others.
	Template bool
	// Inherits names the templates this category was built from, in order.
	Inherits []string
	File     string
	Line     int
	// Vars holds inherited variables first (Inherited set), then the category's own, in file order.
	Vars []*Variable
}

// Variable is one "name = value" or "name => value" line.
type Variable struct {
	Name  string
	Value string
	// Object is true when the line used "=>".
	Object bool
	// Inherited is true when the variable was copied from a template.
	Inherited bool
	File      string
	Line      int
}

// StaticSource lets a configuration file be loaded from somewhere other than the file system
// (Realtime static mode). LoadStatic reports mapped=false when the file is not mapped, so that
// the file is read from disk instead.
type StaticSource interface {
	LoadStatic(ctx context.Context, filename string) (cfg *Config, mapped bool, err error)
}

// Options change how a file is loaded.
type Options struct {
	// ExecIncludes allows #exec (asterisk.conf execincludes=yes).
	ExecIncludes bool
	// Dir resolves relative file names, #include included (Asterisk's astetcdir). Empty: the
	// directory of the file being loaded.
	Dir string
	// Static, when set, is asked first for every file (the top one and each #include).
	Static StaticSource
}

// Error is one problem found in a configuration, with the place it was found.
type Error struct {
	File string
	Line int
	Col  int // 0 when unknown
	Msg  string
}

func (e *Error) Error() string {
	if e.Col > 0 {
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
	}
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// ErrorList holds every error found in one pass over a configuration.
type ErrorList []*Error

func (l ErrorList) Error() string {
	s := make([]string, len(l))
	for i, e := range l {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Category returns the first non-template category named name (case-insensitive), or nil.
func (c *Config) Category(name string) *Category {
	for _, cat := range c.Categories {
		if !cat.Template && strings.EqualFold(cat.Name, name) {
			return cat
		}
	}
	return nil
}

// Lookup returns the value of the last variable named name (case-insensitive).
func (cat *Category) Lookup(name string) (string, bool) {
	if cat == nil {
		return "", false
	}
	for i := len(cat.Vars) - 1; i >= 0; i-- {
		if strings.EqualFold(cat.Vars[i].Name, name) {
			return cat.Vars[i].Value, true
		}
	}
	return "", false
}

// Get returns the value of the last variable named name, or "".
func (cat *Category) Get(name string) string {
	v, _ := cat.Lookup(name)
	return v
}

// All returns every variable named name (case-insensitive), in order.
func (cat *Category) All(name string) []*Variable {
	if cat == nil {
		return nil
	}
	var out []*Variable
	for _, v := range cat.Vars {
		if strings.EqualFold(v.Name, name) {
			out = append(out, v)
		}
	}
	return out
}
