package sqltable

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

// Table is one table as a driver caches it: its Columns and how its statements are written.
type Table interface {
	Dialect
	// Cols is the table's columns.
	Cols() *Columns
	// Shape is how the driver writes a lookup beyond the columns and the WHERE clause.
	Shape() Shape
}

// Shape is how a driver writes a lookup's SELECT beyond the columns and the WHERE clause.
type Shape struct {
	// Limit is appended for a single-row load (" LIMIT 1"); "" where the database has no such
	// clause: Conn.Select then reads the first row only.
	Limit string
	// Lead are arguments bound before the lookup values that are not parameters (pgsql's
	// result formats).
	Lead []any
	// Unordered leaves LoadMulti without its ORDER BY the first field's column (pgsql
	// order_multi=no).
	Unordered bool
}

// Conn is one database of a driver as the shared sequence reaches it. Its errors are already in
// the driver's words: connection problems wrap realtime.ErrUnavailable so that the engine fails
// over, statement errors name the table.
type Conn[T Table] interface {
	// Table returns the metadata of table, read from the database on first use and cached.
	Table(ctx context.Context, table string) (T, error)
	// Select runs query (t's Columns.Select with a WHERE clause; args start with the shape's
	// Lead) and returns its rows as realtime rows (NULL and empty columns left out, values
	// decoded), at most one when one. It must not keep args after it returns (they are
	// reused).
	Select(ctx context.Context, t T, query string, args []any, one bool) ([]realtime.Row, error)
	// Exec runs a statement on t and returns how many rows it changed; op says what it does
	// ("update", "store into", "destroy in"), for errors.
	Exec(ctx context.Context, t T, op, query string, args []any) (int64, error)
}

// Load is realtime.Driver.Load: the first row that matches every field.
func Load[T Table](ctx context.Context, driver string, c Conn[T], table string, fields []realtime.Field) (realtime.Row, error) {
	rows, err := selectRows(ctx, driver, c, table, fields, true)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%w: %s", realtime.ErrNotFound, table)
	}
	return rows[0], nil
}

// LoadMulti is realtime.Driver.LoadMulti: every row that matches, ordered by the first field's
// column (an empty, non-nil slice when none does).
func LoadMulti[T Table](ctx context.Context, driver string, c Conn[T], table string, fields []realtime.Field) ([]realtime.Row, error) {
	rows, err := selectRows(ctx, driver, c, table, fields, false)
	if err == nil && rows == nil {
		rows = []realtime.Row{}
	}
	return rows, err
}

var (
	builders = sync.Pool{New: func() any { return new(strings.Builder) }}
	argLists = sync.Pool{New: func() any { return new([]any) }}
)

func selectRows[T Table](ctx context.Context, driver string, c Conn[T], table string, fields []realtime.Field, one bool) ([]realtime.Row, error) {
	if len(fields) == 0 {
		return nil, fmt.Errorf("%s: load from %q: at least one lookup field is required", driver, table)
	}
	t, err := c.Table(ctx, table)
	if err != nil {
		return nil, err
	}
	cols, shape := t.Cols(), t.Shape()
	// The builder and the arguments go through interfaces (Dialect, Conn), so they would
	// escape to the heap on every lookup: take them from a pool. The builder's buffer becomes
	// the statement and is not reused; the arguments are cleared after the call.
	b := builders.Get().(*strings.Builder)
	defer builders.Put(b)
	b.Reset()
	ap := argLists.Get().(*[]any)
	defer func() {
		clear(*ap)
		argLists.Put(ap)
	}()
	args := append((*ap)[:0], shape.Lead...)
	b.Grow(len(cols.Select) + 32*len(fields) + 32)
	b.WriteString(cols.Select)
	if err := cols.Where(b, &args, len(shape.Lead), fields, t); err != nil {
		return nil, err
	}
	if one {
		b.WriteString(shape.Limit)
	} else if !shape.Unordered {
		name, _, _ := realtime.SplitOp(fields[0].Name)
		col, _ := cols.Find(name) // Where found it
		b.WriteString(" ORDER BY ")
		b.WriteString(cols.idents[col])
	}
	*ap = args
	return c.Select(ctx, t, b.String(), args, one)
}

// Update is realtime.Driver.Update2: sets update on the rows matching every lookup field.
func Update[T Table](ctx context.Context, driver string, c Conn[T], table string, lookup, update []realtime.Field) (int64, error) {
	if len(lookup) == 0 || len(update) == 0 {
		return 0, fmt.Errorf("%s: update %q: lookup and update fields are required", driver, table)
	}
	t, err := c.Table(ctx, table)
	if err != nil {
		return 0, err
	}
	q, args, err := t.Cols().Update(t, lookup, update)
	if err != nil {
		return 0, err
	}
	return c.Exec(ctx, t, "update", q, args)
}

// Store is realtime.Driver.Store: inserts one row.
func Store[T Table](ctx context.Context, driver string, c Conn[T], table string, fields []realtime.Field) (int64, error) {
	if len(fields) == 0 {
		return 0, fmt.Errorf("%s: store into %q: no fields", driver, table)
	}
	t, err := c.Table(ctx, table)
	if err != nil {
		return 0, err
	}
	q, args, err := t.Cols().Insert(t, fields)
	if err != nil {
		return 0, err
	}
	return c.Exec(ctx, t, "store into", q, args)
}

// Destroy is realtime.Driver.Destroy: deletes the rows where keyField is keyValue and every
// other field matches.
func Destroy[T Table](ctx context.Context, c Conn[T], table, keyField, keyValue string, fields []realtime.Field) (int64, error) {
	t, err := c.Table(ctx, table)
	if err != nil {
		return 0, err
	}
	lookup := make([]realtime.Field, 0, len(fields)+1)
	lookup = append(append(lookup, realtime.Field{Name: keyField, Value: keyValue}), fields...)
	q, args, err := t.Cols().Delete(t, lookup)
	if err != nil {
		return 0, err
	}
	return c.Exec(ctx, t, "destroy in", q, args)
}
