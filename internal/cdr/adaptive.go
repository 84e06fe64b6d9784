package cdr

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/adaptive"
	"github.com/pleiades-pbx/pleiades/internal/conf"
)

// Querier runs SQL on a named connection (realtime.Querier: res_odbc.conf's connections
// and the other realtime drivers').
type Querier = adaptive.Querier

// AdaptiveFilter is one filter line.
type AdaptiveFilter = adaptive.Filter

// Adaptive is one section of cdr_adaptive_odbc.conf: records inserted into Table on
// Connection, into whichever columns the table has (read when it connects, as Asterisk's
// SQLColumns): a column named as a CDR field or variable gets its value, "alias field =>
// column" renames, "static "text" => column" writes a constant, and "filter field => value"
// / "filter field != value" keep only the records that match every filter. The table
// handling is package adaptive's, shared with cel_odbc.
type Adaptive struct {
	*adaptive.Writer
	Log *slog.Logger
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
		w, bad := adaptive.ParseSection("cdr_adaptive_odbc", cat, nil)
		errs = append(errs, bad...)
		if w.Connection == "" || w.Table == "" {
			errs = append(errs, &conf.Error{File: cat.File, Line: cat.Line, Msg: "[" + cat.Name + "] needs connection= and table="})
			continue
		}
		out = append(out, &Adaptive{Writer: w})
	}
	if len(errs) > 0 {
		return nil, errors.Join(ErrConfig, errs)
	}
	return out, nil
}

// Name is the backend's name in "cdr show status".
func (a *Adaptive) Name() string { return "adaptive_odbc:" + a.Section }

// value is what the column taking field gets for the record (false: the column is left out).
func (a *Adaptive) value(r *Record, field string) (string, bool) {
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
	for _, r := range recs {
		if !a.keep(r) {
			continue
		}
		if err := a.Insert(ctx, func(field string) (string, bool) { return a.value(r, field) }); err != nil {
			return err
		}
	}
	return nil
}
