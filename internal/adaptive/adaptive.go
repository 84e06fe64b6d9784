// Package adaptive writes rows the way Asterisk's adaptive ODBC modules do
// (cdr_adaptive_odbc, cel_odbc): one section of the module's .conf file names a connection
// (res_odbc.conf's, or another realtime driver's) and a table; the Writer reads which
// columns the table has when it first writes (as Asterisk's SQLColumns at load) and fills
// each column whose name is a field of the record, or the field an "alias field => column"
// line maps to it, or the constant of a "static "text" => column" line. "filter field =>
// value" (and "filter field != value") lines are parsed here and applied by the module,
// which knows its records' fields.
//
// Each row is one INSERT statement with bound values; a failed statement makes the Writer
// read the columns again at the next write (the table may have changed). Queues and
// retries stay with the modules (package diskqueue).
package adaptive

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/pleiades-pbx/pleiades/internal/conf"
)

// Querier runs SQL on a named connection (realtime.Querier: res_odbc.conf's connections
// and the other realtime drivers').
type Querier interface {
	Query(ctx context.Context, db, sql string, maxRows int, args ...any) (cols []string, rows [][]*string, err error)
	Exec(ctx context.Context, db, sql string, args ...any) (int64, error)
}

// Filter is one filter line: the record is kept when Field's value equals Value (differs
// from it with Negate).
type Filter struct {
	Field, Value string
	Negate       bool
}

// Writer is one section: where the table is and how its columns are filled.
type Writer struct {
	Module      string // for errors: "cdr_adaptive_odbc"
	Section     string
	Connection  string
	Table       string
	Schema      string
	UseGMTime   bool
	Aliases     map[string]string // field (lower case) -> column
	Statics     map[string]string // column -> value
	Filters     []Filter
	QuoteIdents string // quoted_identifiers
	Q           Querier
	Dollar      bool // the connection binds $1, $2... (pgsql) instead of ?

	mu   sync.Mutex
	cols []string // the table's columns, nil until read
}

// ParseSection reads the keys every adaptive section has (connection, table, schema,
// usegmtime, quoted_identifiers, alias, static, filter) into a Writer for module. Any other
// key is offered to other, which returns whether it knows it (and an error message for a
// bad value, "" when good); a key nobody knows is an error. Errors carry file:line.
func ParseSection(module string, cat *conf.Category, other func(v *conf.Variable) (known bool, msg string)) (*Writer, conf.ErrorList) {
	w := &Writer{Module: module, Section: cat.Name, Aliases: map[string]string{}, Statics: map[string]string{}}
	var errs conf.ErrorList
	for _, v := range cat.Vars {
		name := strings.TrimSpace(v.Name)
		lower := strings.ToLower(name)
		bad := func(msg string) { errs = append(errs, &conf.Error{File: v.File, Line: v.Line, Msg: msg}) }
		switch {
		case lower == "connection":
			w.Connection = v.Value
		case lower == "table":
			w.Table = v.Value
		case lower == "schema":
			w.Schema = v.Value
		case lower == "usegmtime":
			w.UseGMTime = conf.IsTrue(v.Value)
		case lower == "quoted_identifiers":
			w.QuoteIdents = v.Value
		case lower == "alias" || strings.HasPrefix(lower, "alias "):
			f := strings.ToLower(strings.TrimSpace(name[5:]))
			if f == "" {
				bad("alias needs a field: alias field => column")
				continue
			}
			w.Aliases[f] = v.Value
		case lower == "static" || strings.HasPrefix(lower, "static "):
			lit := strings.TrimSpace(name[6:])
			if len(lit) < 2 || lit[0] != '"' || lit[len(lit)-1] != '"' {
				bad("static needs a quoted value: static \"text\" => column")
				continue
			}
			w.Statics[v.Value] = lit[1 : len(lit)-1]
		case lower == "filter" || strings.HasPrefix(lower, "filter "):
			f := strings.TrimSpace(name[6:])
			neg := strings.HasSuffix(f, "!")
			f = strings.TrimSpace(strings.TrimSuffix(f, "!"))
			if f == "" {
				bad("filter needs a field: filter field => value")
				continue
			}
			w.Filters = append(w.Filters, Filter{Field: f, Value: v.Value, Negate: neg})
		default:
			known, msg := false, ""
			if other != nil {
				known, msg = other(v)
			}
			switch {
			case !known:
				bad(fmt.Sprintf("unknown option %q", name))
			case msg != "":
				bad(msg)
			}
		}
	}
	return w, errs
}

// Name is "module:section".
func (w *Writer) Name() string { return w.Module + ":" + w.Section }

func (w *Writer) ident(s string) string {
	if w.QuoteIdents == "" {
		return s
	}
	q := w.QuoteIdents[:1]
	return q + strings.ReplaceAll(s, q, q+q) + q
}

func (w *Writer) table() string {
	if w.Schema != "" {
		return w.ident(w.Schema) + "." + w.ident(w.Table)
	}
	return w.ident(w.Table)
}

// columns reads the table's columns once (the caller holds w.mu).
func (w *Writer) columns(ctx context.Context) ([]string, error) {
	if w.cols != nil {
		return w.cols, nil
	}
	cols, _, err := w.Q.Query(ctx, w.Connection, "SELECT * FROM "+w.table()+" WHERE 1=0", 1)
	if err != nil {
		return nil, fmt.Errorf("%s: [%s] columns of %s: %w", w.Module, w.Section, w.Table, err)
	}
	w.cols = cols
	return cols, nil
}

// Columns returns the table's columns, read from the database the first time.
func (w *Writer) Columns(ctx context.Context) ([]string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.columns(ctx)
}

// fieldOf is the record field that column col takes ("" and false: none, the column's own
// name is a field aliased to another column).
func (w *Writer) fieldOf(col string) (string, bool) {
	lc := strings.ToLower(col)
	field := lc
	for f, c := range w.Aliases {
		if strings.EqualFold(c, col) {
			field = f
		}
	}
	if _, aliased := w.Aliases[lc]; aliased && field == lc {
		return "", false // this field goes to its alias column, not to one of its own name
	}
	return field, true
}

// Insert inserts one row: each column of the table gets its static value, or value(field)
// for the field it takes (the column's name in lower case, or the field aliased to it);
// value returns false to leave the column out. A row with no column is not inserted.
func (w *Writer) Insert(ctx context.Context, value func(field string) (string, bool)) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	cols, err := w.columns(ctx)
	if err != nil {
		return err
	}
	var names, marks []string
	var args []any
	for _, c := range cols {
		v, ok := w.Statics[c]
		if !ok {
			var field string
			if field, ok = w.fieldOf(c); ok {
				v, ok = value(field)
			}
		}
		if !ok {
			continue
		}
		names = append(names, w.ident(c))
		if w.Dollar {
			marks = append(marks, fmt.Sprintf("$%d", len(marks)+1))
		} else {
			marks = append(marks, "?")
		}
		args = append(args, v)
	}
	if len(names) == 0 {
		return nil
	}
	sql := "INSERT INTO " + w.table() + " (" + strings.Join(names, ",") + ") VALUES (" + strings.Join(marks, ",") + ")"
	if _, err := w.Q.Exec(ctx, w.Connection, sql, args...); err != nil {
		w.cols = nil // read the columns again: the table may have changed
		return fmt.Errorf("%s: [%s]: %w", w.Module, w.Section, err)
	}
	return nil
}
