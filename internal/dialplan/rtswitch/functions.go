package rtswitch

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/pleiades-pbx/pleiades/internal/dialplan"
	"github.com/pleiades-pbx/pleiades/internal/dialplan/expr"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

// maxStoreFields is REALTIME_STORE's limit of field/value pairs (Asterisk: 30).
const maxStoreFields = 30

// functionNames are the functions RegisterFunctions adds.
var functionNames = []string{"REALTIME", "REALTIME_STORE", "REALTIME_DESTROY", "REALTIME_FIELD", "REALTIME_HASH"}

// RegisterFunctions registers REALTIME, REALTIME_STORE, REALTIME_DESTROY, REALTIME_FIELD and
// REALTIME_HASH (Asterisk's func_realtime) over rt on the dialplan engine e.
//
// Every one of them escalates in the directions it has (Asterisk marks only
// REALTIME_DESTROY's read): they read and change any mapped family, among them the SIP
// peers' and manager users' secrets, so an external, unprivileged origin (AMI without the
// system class, HTTP) may not call them.
func RegisterFunctions(e *dialplan.Engine, rt *realtime.Engine) {
	f := &funcs{rt: rt}
	e.RegisterFunction(&dialplan.Function{Name: "REALTIME", Synopsis: "RealTime Read/Write Functions.",
		Read: f.read, Write: f.write, Escalates: dialplan.EscalatesBoth})
	e.RegisterFunction(&dialplan.Function{Name: "REALTIME_STORE", Synopsis: "RealTime Store Function.",
		Write: f.store, Escalates: dialplan.EscalatesWrite})
	e.RegisterFunction(&dialplan.Function{Name: "REALTIME_DESTROY", Synopsis: "RealTime Destroy Function.",
		Read: f.readDestroy, Write: f.writeDestroy, Escalates: dialplan.EscalatesBoth})
	e.RegisterFunction(&dialplan.Function{Name: "REALTIME_FIELD", Synopsis: "RealTime query function.",
		Read: f.field, Write: f.write, Escalates: dialplan.EscalatesBoth})
	e.RegisterFunction(&dialplan.Function{Name: "REALTIME_HASH", Synopsis: "RealTime query function.",
		Read: f.hash, Escalates: dialplan.EscalatesRead})
}

// UnregisterFunctions removes the functions RegisterFunctions added to e.
func UnregisterFunctions(e *dialplan.Engine) {
	for _, n := range functionNames {
		e.UnregisterFunction(n)
	}
}

type funcs struct{ rt *realtime.Engine }

func args(s string) []string { return expr.SplitArgs(s, ',') }

func argAt(a []string, i int) string {
	if i < len(a) {
		return a[i]
	}
	return ""
}

// load is ast_load_realtime_all(family, fieldmatch, value): nil, nil when no row matches.
func (f *funcs) load(ctx context.Context, fn string, a []string) (realtime.Row, error) {
	if len(a) < 2 || strings.TrimSpace(a[0]) == "" || strings.TrimSpace(a[1]) == "" {
		return nil, fmt.Errorf("syntax: %s(family,fieldmatch[,matchvalue[,delim1[,delim2]]]): missing argument", fn)
	}
	row, err := f.rt.Load(ctx, strings.TrimSpace(a[0]), realtime.Field{Name: strings.TrimSpace(a[1]), Value: argAt(a, 2)})
	if errors.Is(err, realtime.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	return row, nil
}

// format renders name<delim2>value<delim1> for every column (a trailing delim1, as Asterisk).
func format(row realtime.Row, a []string) string {
	d1, d2 := ",", "="
	if len(a) > 3 {
		d1 = a[3]
	}
	if len(a) > 4 {
		d2 = a[4]
	}
	var b strings.Builder
	for _, fv := range row {
		b.WriteString(fv.Name)
		b.WriteString(d2)
		b.WriteString(fv.Value)
		b.WriteString(d1)
	}
	return b.String()
}

// read is ${REALTIME(family,fieldmatch[,matchvalue[,delim1[,delim2]]])}.
func (f *funcs) read(ctx context.Context, _ *dialplan.Channel, s string) (string, error) {
	a := args(s)
	row, err := f.load(ctx, "REALTIME", a)
	if err != nil || row == nil {
		return "", err
	}
	return format(row, a), nil
}

// write is Set(REALTIME(family,fieldmatch,matchvalue,updatecol)=value) (and REALTIME_FIELD's
// write).
func (f *funcs) write(ctx context.Context, _ *dialplan.Channel, s, value string) error {
	a := args(s)
	if len(a) < 4 || strings.TrimSpace(a[0]) == "" || strings.TrimSpace(a[1]) == "" || strings.TrimSpace(a[3]) == "" {
		return errors.New("syntax: REALTIME(family,fieldmatch,matchvalue,updatecol): missing argument")
	}
	_, err := f.rt.Update(ctx, strings.TrimSpace(a[0]), strings.TrimSpace(a[1]), a[2],
		realtime.Field{Name: strings.TrimSpace(a[3]), Value: value})
	if err != nil {
		return fmt.Errorf("failed to update: %w", err)
	}
	return nil
}

// store is Set(REALTIME_STORE(family,field1,...,fieldN)=value1,...,valueN). RTSTOREID is set to
// what the driver's store returns: the number of rows inserted (1), which is also what
// Asterisk sets for every SQL driver of its own, none of which returns a row id.
func (f *funcs) store(ctx context.Context, ch *dialplan.Channel, s, value string) error {
	a := args(s)
	if len(a) < 2 || strings.TrimSpace(a[0]) == "" {
		return errors.New("syntax: REALTIME_STORE(family,field1,field2,...,field30): missing argument")
	}
	names := a[1:]
	if len(names) > maxStoreFields {
		return fmt.Errorf("REALTIME_STORE: at most %d fields", maxStoreFields)
	}
	vals := args(value)
	fields := make([]realtime.Field, 0, len(names))
	for i, n := range names {
		n = strings.TrimSpace(n)
		if n == "" {
			break // Asterisk's list ends at the first empty field name
		}
		fields = append(fields, realtime.Field{Name: n, Value: argAt(vals, i)})
	}
	if len(fields) == 0 {
		return errors.New("syntax: REALTIME_STORE(family,field1,field2,...,field30): missing argument")
	}
	n, err := f.rt.Store(ctx, strings.TrimSpace(a[0]), fields...)
	if err != nil {
		return fmt.Errorf("failed to store: %w", err)
	}
	if ch != nil {
		ch.SetVar("RTSTOREID", strconv.FormatInt(n, 10))
	}
	return nil
}

// readDestroy is ${REALTIME_DESTROY(family,fieldmatch[,matchvalue[,delim1[,delim2]]])}: the
// row as REALTIME() shows it, then every matching row is deleted.
func (f *funcs) readDestroy(ctx context.Context, _ *dialplan.Channel, s string) (string, error) {
	a := args(s)
	row, err := f.load(ctx, "REALTIME_DESTROY", a)
	if err != nil || row == nil {
		return "", err
	}
	if _, err := f.rt.Destroy(ctx, strings.TrimSpace(a[0]), strings.TrimSpace(a[1]), argAt(a, 2)); err != nil {
		return "", fmt.Errorf("REALTIME_DESTROY: %w", err)
	}
	return format(row, a), nil
}

// writeDestroy is Set(REALTIME_DESTROY(family,fieldmatch,matchvalue)=ignored).
func (f *funcs) writeDestroy(ctx context.Context, ch *dialplan.Channel, s, _ string) error {
	_, err := f.readDestroy(ctx, ch, s)
	return err
}

// field is ${REALTIME_FIELD(family,fieldmatch,matchvalue,fieldname)}.
func (f *funcs) field(ctx context.Context, _ *dialplan.Channel, s string) (string, error) {
	a := args(s)
	if len(a) != 4 {
		return "", errors.New("syntax: REALTIME_FIELD(family,fieldmatch,matchvalue,fieldname): missing argument")
	}
	row, err := f.load(ctx, "REALTIME_FIELD", a)
	if err != nil || row == nil {
		return "", err
	}
	v, _ := row.Get(strings.TrimSpace(a[3]))
	return v, nil
}

// hash is ${REALTIME_HASH(family,fieldmatch,matchvalue)}: the values, comma-separated with
// '\' and ',' escaped, and the column names likewise in the channel variable ~ODBCFIELDS~, so
// that Set(HASH(name)=${REALTIME_HASH(...)}) fills the hash (Asterisk's layout; Asterisk also
// prefixes both lists with a stray ',', Pleiades does not).
func (f *funcs) hash(ctx context.Context, ch *dialplan.Channel, s string) (string, error) {
	a := args(s)
	if len(a) != 3 {
		return "", errors.New("syntax: REALTIME_HASH(family,fieldmatch,matchvalue): missing argument")
	}
	row, err := f.load(ctx, "REALTIME_HASH", a)
	if err != nil || row == nil {
		return "", err
	}
	names := make([]string, len(row))
	vals := make([]string, len(row))
	for i, fv := range row {
		names[i], vals[i] = expr.EscapeCommas(fv.Name), expr.EscapeCommas(fv.Value)
	}
	if ch != nil {
		ch.SetVar("~ODBCFIELDS~", strings.Join(names, ","))
	}
	return strings.Join(vals, ","), nil
}
