// Package conf reads and writes Asterisk's .conf syntax, as Asterisk's main/config.c does.
//
// # Syntax
//
//   - "[name]" starts a category. Options may follow the ']' immediately, in parentheses and
//     separated by commas: "!" makes a template, a name inherits that category's variables
//     (copied first, in option order, marked Inherited; a template may inherit in turn), and
//     "+" appends to the existing category of that name: [t](!), [c](t1,t2), [c](+),
//     [t2](!,t1), [c](+,t3). A category may inherit from any earlier category, template or
//     not, like in Asterisk; the first category of that name is used.
//   - "name = value" and "name => value" (Object) add a variable; duplicates are kept in order.
//     White space around names and values is trimmed; values may hold '=' and be empty.
//     "\" before a line's first character makes it part of the name ("\[x] = 1" names "[x]").
//   - "name += text" appends text to the last variable of that name in the category (any
//     case), or sets it when there is none.
//   - ";" starts a comment; "\;" is a literal ';' (the backslash is dropped); ";--" opens a
//     block comment and "--;" closes it; block comments nest and may span lines; ";---" (three
//     dashes or more) is a plain line comment.
//   - "#include file", "#include "file"", "#include <file>" and "#tryinclude file" read
//     another file there; file may be a glob pattern (matches in sorted order). "#exec
//     command" runs command with /bin/sh and reads its standard output, only with
//     Options.ExecIncludes.
//   - Categories across includes, as Asterisk's config_text_file_load: an included file (or
//     #exec output) starts in the current category, the one last opened or appended to with
//     (+) anywhere so far (usually the including file's, but after an earlier #include that
//     opened categories, the last of those); the files of a glob follow one another as one
//     file, each starting in the category the one before ended in; after an #include the
//     including file goes on in its own category. So with "[m]" then "#include d/*.conf",
//     d/1.conf opening "[one]" and d/2.conf holding only "b=2", b belongs to [one].
//   - Only regular files are read: an #include of a device (/dev/zero), a FIFO, a socket or
//     a directory (named or matched by a glob) is skipped with a warning naming the
//     #include's file:line, as Asterisk skips it; such a file loaded as the top file is an
//     error. A FIFO is never opened for a blocking read. Relative names are resolved in Options.Dir, or in the
//     directory of the top file (Asterisk's astetcdir), never in the including file's
//     directory. Options.Static is asked first for each name as written.
//   - Every Category and Variable records its File and Line (that of an included file for
//     included content).
//
// # Errors
//
// Load and Parse return a nil *Config and an ErrorList holding every error of the pass (up
// to 100), each "file:line: reason". Errors are: a header without ']' or ')', an unknown or
// empty template name, (+) with no category to append to, a variable before any category,
// an unterminated block comment (at the line of the outermost unclosed ";--"), an invalid
// "\" escape, a directive without argument, a missing or unreadable #include file (a glob
// matching nothing too, as in Asterisk; use #tryinclude), an include loop (with the chain),
// includes nested deeper than MaxIncludeDepth, #exec while disabled or failing. After a bad
// header its variables are skipped silently, and "no category" is reported once per run of
// lines. What Asterisk only warns about and skips is skipped too and recorded in
// Config.Warnings: unknown directives (so "# comment" lines), lines without '=', lines with
// no name before '=', and text after a header (note: "[c] (!)" with a space is NOT a
// template in Asterisk; it gets a warning).
//
// # Choices where Asterisk is odd
//
//   - "#exec" without execincludes is an error here ("#exec is not enabled (execincludes=no
//     in asterisk.conf)"); Asterisk logs a warning and drops the line, silently losing
//     configuration. A command that exits non-zero is an error; only its stdout is parsed
//     (Asterisk also takes stderr), under the file name "#exec <command>".
//   - "+=" appends the text after '=' as is and trims the result, exactly as Asterisk does:
//     "allow+=,alaw" after "allow=ulaw" gives "ulaw,alaw", but "x += b" after "x = a" gives
//     "a b". It matches the name in any case (Asterisk: exact case), and may change an
//     inherited variable in place, which stays Inherited.
//   - Category names are not trimmed ("[ x ]" is named " x "), as in Asterisk; option items
//     are trimmed ("(!, t1)" works here, not in Asterisk).
//   - Options are applied in any order: "(t,+)" and "(+,t)" both add t's variables to the
//     existing category and record t in its Inherits (Asterisk records it only for "(+,t)").
//     "(+)" finds the first non-template category of that name, as in Asterisk, so a template
//     cannot be appended to; "!" with "+" makes the existing category a template. Asterisk's
//     "(+filter)" form is not supported (error); "()" means no options.
//   - A "--;" outside any block comment is a plain ';' comment; Asterisk's counter goes
//     negative there and the rest of the file is lost.
//   - Lines have no length limit (Asterisk skips lines over 8 KiB); a UTF-8 BOM is skipped
//     at the start of every file. Glob braces ({a,b}) are not supported.
//   - Static-mode (Options.Static) configurations are copied in as a whole: their categories
//     follow the current one, and the including file goes on in its own category.
//
// # Writing
//
// Write and String write a configuration (includes expanded) so that Parse gives it back
// Equal; see Write for the only configurations that cannot be (ErrNotRepresentable).
// Comments and blank lines are not kept.
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
