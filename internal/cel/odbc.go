package cel

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"github.com/pleiades-pbx/pleiades/internal/adaptive"
	"github.com/pleiades-pbx/pleiades/internal/conf"
)

// ODBC is one section of cel_odbc.conf (Asterisk's cel_odbc, adapted from
// cdr_adaptive_odbc): events inserted into Table on Connection (a res_odbc.conf
// connection, or "driver:name" for another realtime driver's), into whichever columns the
// table has, read from the table as cdr_adaptive_odbc reads them (package adaptive): a
// column named as a cel table field (eventtype, eventtime, cid_name ... extra) gets its
// value, "alias field => column" renames, "static "text" => column" writes a constant,
// and "filter field => value" keeps only the events whose field equals value, ignoring
// case as Asterisk does ("filter field != value": those that differ).
//
// Each section runs behind its own Queue (Start): a database that is down or slow never
// holds up a call.
type ODBC struct {
	*adaptive.Writer
	AllowLeapSecond bool   // allowleapsecond (yes): accepted; Go's clock has no second 60
	Charset         string // charset: accepted; values are bound as Unicode, the driver converts
	Log             *slog.Logger
}

// ODBCGeneral is cel_odbc.conf's [general].
type ODBCGeneral struct {
	ShowUserDefined bool // show_user_defined: accepted; Pleiades sends no USER_DEFINED event
}

// ParseODBC reads cel_odbc.conf: [general] and one backend per other section (connection
// required; table defaults to "cel"), every bad line with its file:line.
func ParseODBC(cfg *conf.Config) ([]*ODBC, ODBCGeneral, error) {
	var g ODBCGeneral
	if cfg == nil {
		return nil, g, nil
	}
	var out []*ODBC
	var errs conf.ErrorList
	for _, cat := range cfg.Categories {
		if cat.Template {
			continue
		}
		if strings.EqualFold(cat.Name, "general") {
			for _, v := range cat.Vars {
				switch strings.ToLower(strings.TrimSpace(v.Name)) {
				case "show_user_defined":
					if b, ok := boolValue(v.Value); ok {
						g.ShowUserDefined = b
					} else {
						errs = append(errs, &conf.Error{File: v.File, Line: v.Line, Msg: "show_user_defined: " + v.Value + " is not a boolean (yes/no)"})
					}
				default:
					errs = append(errs, &conf.Error{File: v.File, Line: v.Line, Msg: "[general]: unknown option \"" + v.Name + "\""})
				}
			}
			continue
		}
		o := &ODBC{AllowLeapSecond: true}
		w, bad := adaptive.ParseSection("cel_odbc", cat, func(v *conf.Variable) (bool, string) {
			switch strings.ToLower(strings.TrimSpace(v.Name)) {
			case "allowleapsecond":
				b, ok := boolValue(v.Value)
				if !ok {
					return true, "allowleapsecond: " + v.Value + " is not a boolean (yes/no)"
				}
				o.AllowLeapSecond = b
				return true, ""
			case "charset":
				o.Charset = strings.TrimSpace(v.Value)
				return true, ""
			}
			return false, ""
		})
		errs = append(errs, bad...)
		if w.Connection == "" {
			errs = append(errs, &conf.Error{File: cat.File, Line: cat.Line, Msg: "[" + cat.Name + "] needs connection="})
			continue
		}
		if w.Table == "" {
			w.Table = "cel" // as Asterisk: "No table name found. Assuming 'cel'."
		}
		o.Writer = w
		out = append(out, o)
	}
	if len(errs) > 0 {
		return nil, g, errors.Join(ErrODBCConfig, errs)
	}
	return out, g, nil
}

// ErrODBCConfig is wrapped by errors in cel_odbc.conf.
var ErrODBCConfig = errors.New("cel_odbc: bad cel_odbc.conf")

func boolValue(s string) (value, ok bool) {
	switch {
	case conf.IsTrue(s):
		return true, true
	case conf.IsFalse(s):
		return false, true
	}
	return false, false
}

// Name is "cel_odbc:<section>".
func (o *ODBC) Name() string { return o.Writer.Name() }

func (o *ODBC) keep(x Event) bool {
	for _, f := range o.Filters {
		v, _ := fieldValue(x, strings.ToLower(f.Field), o.UseGMTime)
		if strings.EqualFold(v, f.Value) == f.Negate {
			return false
		}
	}
	return true
}

// MaxBatch makes the queue hand events one at a time: each is its own statement, so a
// failure never leaves some of a batch written (and written again at the retry).
func (*ODBC) MaxBatch() int { return 1 }

// Write inserts the events that pass the filters, one statement each, in order.
func (o *ODBC) Write(ctx context.Context, evs []Event) error {
	for _, x := range evs {
		if !o.keep(x) {
			continue
		}
		if err := o.Insert(ctx, func(field string) (string, bool) { return fieldValue(x, field, o.UseGMTime) }); err != nil {
			return err
		}
	}
	return nil
}
