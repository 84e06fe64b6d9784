package cdr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/conf"
)

// Querier runs SQL on a named connection (realtime.Querier: res_odbc.conf's connections
// and the other realtime drivers').
type Querier interface {
	Query(ctx context.Context, db, sql string, maxRows int, args ...any) (cols []string, rows [][]*string, err error)
	Exec(ctx context.Context, db, sql string, args ...any) (int64, error)
}

// Adaptive is one section of cdr_adaptive_odbc.conf: records inserted into Table on
// Connection, into whichever columns the table has (read when it connects, as Asterisk's
// SQLColumns): a column named as a CDR field or variable gets its value, "alias field =>
// column" renames, "static "text" => column" writes a constant, and "filter field => value"
// / "filter field != value" keep only the records that match every filter.
type Adaptive struct {
	Section     string
	Connection  string
	Table       string
	Schema      string
	UseGMTime   bool
	Aliases     map[string]string // CDR field (lower case) -> column
	Statics     map[string]string // column -> value
	Filters     []AdaptiveFilter
	QuoteIdents string // quoted_identifiers
	Q           Querier
	Dollar      bool // the connection binds $1, $2... (pgsql) instead of ?
	Log         *slog.Logger

	mu   sync.Mutex
	cols []string // the table's columns, nil until read
}

// AdaptiveFilter is one filter line.
type AdaptiveFilter struct {
	Field, Value string
	Negate       bool
}

// ParseAdaptive reads cdr_adaptive_odbc.conf: one backend per section with connection and
// table, every bad line with its file:line.
func ParseAdaptive(cfg *conf.Config) ([]*Adaptive, error) {
	if cfg == nil {
		return nil, nil
	}
	var out []*Adaptive
	var errs conf.ErrorList
	for _, cat := range cfg.Categories {
		if cat.Template {
			continue
		}
		a := &Adaptive{Section: cat.Name, Aliases: map[string]string{}, Statics: map[string]string{}}
		for _, v := range cat.Vars {
			name := strings.TrimSpace(v.Name)
			lower := strings.ToLower(name)
			bad := func(msg string) { errs = append(errs, &conf.Error{File: v.File, Line: v.Line, Msg: msg}) }
			switch {
			case lower == "connection":
				a.Connection = v.Value
			case lower == "table":
				a.Table = v.Value
			case lower == "schema":
				a.Schema = v.Value
			case lower == "usegmtime":
				a.UseGMTime = conf.IsTrue(v.Value)
			case lower == "quoted_identifiers":
				a.QuoteIdents = v.Value
			case strings.HasPrefix(lower, "alias "):
				a.Aliases[strings.ToLower(strings.TrimSpace(name[6:]))] = v.Value
			case strings.HasPrefix(lower, "static "):
				lit := strings.TrimSpace(name[7:])
				if len(lit) < 2 || lit[0] != '"' || lit[len(lit)-1] != '"' {
					bad("static needs a quoted value: static \"text\" => column")
					continue
				}
				a.Statics[v.Value] = lit[1 : len(lit)-1]
			case strings.HasPrefix(lower, "filter "):
				f := strings.TrimSpace(name[7:])
				neg := strings.HasSuffix(f, "!")
				f = strings.TrimSpace(strings.TrimSuffix(f, "!"))
				if f == "" {
					bad("filter needs a field: filter field => value")
					continue
				}
				a.Filters = append(a.Filters, AdaptiveFilter{Field: f, Value: v.Value, Negate: neg})
			default:
				bad(fmt.Sprintf("unknown option %q", name))
			}
		}
		if a.Connection == "" || a.Table == "" {
			errs = append(errs, &conf.Error{File: cat.File, Line: cat.Line, Msg: "[" + cat.Name + "] needs connection= and table="})
			continue
		}
		out = append(out, a)
	}
	if len(errs) > 0 {
		return nil, errors.Join(ErrConfig, errs)
	}
	return out, nil
}

// Name is the backend's name in "cdr show status".
func (a *Adaptive) Name() string { return "adaptive_odbc:" + a.Section }

func (a *Adaptive) ident(s string) string {
	if a.QuoteIdents == "" {
		return s
	}
	q := a.QuoteIdents[:1]
	return q + strings.ReplaceAll(s, q, q+q) + q
}

func (a *Adaptive) table() string {
	if a.Schema != "" {
		return a.ident(a.Schema) + "." + a.ident(a.Table)
	}
	return a.ident(a.Table)
}

// columns reads the table's columns once (the caller holds a.mu).
func (a *Adaptive) columns(ctx context.Context) ([]string, error) {
	if a.cols != nil {
		return a.cols, nil
	}
	cols, _, err := a.Q.Query(ctx, a.Connection, "SELECT * FROM "+a.table()+" WHERE 1=0", 1)
	if err != nil {
		return nil, fmt.Errorf("cdr_adaptive_odbc: [%s] columns of %s: %w", a.Section, a.Table, err)
	}
	a.cols = cols
	return cols, nil
}

// value is what a column gets for the record ("", false: the column is left out).
func (a *Adaptive) value(r *Record, col string) (string, bool) {
	lc := strings.ToLower(col)
	if v, ok := a.Statics[col]; ok {
		return v, true
	}
	field := lc
	for f, c := range a.Aliases {
		if strings.EqualFold(c, col) {
			field = f
		}
	}
	if _, aliased := a.Aliases[lc]; aliased && field == lc {
		return "", false // this field goes to its alias column, not to one of its own name
	}
	switch field {
	case "start", "answer", "end":
		t := map[string]time.Time{"start": r.Start, "answer": r.Answer, "end": r.End}[field]
		if t.IsZero() {
			return "", false
		}
		if a.UseGMTime {
			return FormatTime(t.UTC()), true
		}
		return FormatTime(t.Local()), true
	}
	if v, ok := r.Field(field, false); ok {
		return v, true
	}
	for k, v := range r.Vars {
		if strings.EqualFold(k, field) {
			return v, true
		}
	}
	return "", false
}

func (a *Adaptive) keep(r *Record) bool {
	for _, f := range a.Filters {
		v, _ := r.Field(f.Field, false)
		if (v == f.Value) == f.Negate {
			return false
		}
	}
	return true
}

// MaxBatch makes the queue hand records one at a time: each is its own statement, so a
// failure never leaves some of a batch written (and written again at the retry).
func (*Adaptive) MaxBatch() int { return 1 }

// Write inserts the records that pass the filters, one statement each, in order.
func (a *Adaptive) Write(ctx context.Context, recs []*Record) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	cols, err := a.columns(ctx)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if !a.keep(r) {
			continue
		}
		var names, marks []string
		var args []any
		for _, c := range cols {
			if v, ok := a.value(r, c); ok {
				names = append(names, a.ident(c))
				if a.Dollar {
					marks = append(marks, fmt.Sprintf("$%d", len(marks)+1))
				} else {
					marks = append(marks, "?")
				}
				args = append(args, v)
			}
		}
		if len(names) == 0 {
			continue
		}
		sql := "INSERT INTO " + a.table() + " (" + strings.Join(names, ",") + ") VALUES (" + strings.Join(marks, ",") + ")"
		if _, err := a.Q.Exec(ctx, a.Connection, sql, args...); err != nil {
			a.cols = nil // read the columns again: the table may have changed
			return fmt.Errorf("cdr_adaptive_odbc: [%s]: %w", a.Section, err)
		}
	}
	return nil
}
