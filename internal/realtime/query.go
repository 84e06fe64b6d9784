package realtime

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Querier is implemented by drivers that can run raw SQL written by the operator (func_odbc's
// readsql/writesql/insertsql) over the same connection pools as their realtime calls. It is
// optional: the engine and the realtime API never need it.
//
// The SQL is sent as is; args (if any) are bound as the driver's placeholders ('?' for
// sqlite3, mysql and odbc; $1, $2, ... for pgsql). Nothing is encoded or decoded
// (EncodeValue/DecodeValue are not applied): a raw query sees the table exactly as stored.
//
// Errors follow the Driver contract: a backend that cannot be reached wraps ErrUnavailable (a
// caller with several connections fails over on it), an unknown connection wraps
// ErrUnknownDatabase, and an SQL error is a plain error.
type Querier interface {
	// Query runs a statement that returns rows and gives the column names and up to maxRows
	// rows (maxRows <= 0: all). A nil *string is SQL NULL.
	Query(ctx context.Context, db, sql string, maxRows int, args ...any) (cols []string, rows [][]*string, err error)
	// Exec runs a statement that returns no rows and gives the number of rows affected.
	Exec(ctx context.Context, db, sql string, args ...any) (int64, error)
	// HasDatabase reports whether db names a connection of the driver's configuration (for
	// pgsql: "general", "" or the configured dbname).
	HasDatabase(db string) bool
}

// Querier returns the registered driver named name ("odbc", "pgsql", "mysql", "sqlite3") as a
// Querier; the error says whether the driver is missing or cannot run raw SQL.
func (e *Engine) Querier(name string) (Querier, error) {
	e.mu.Lock()
	d, ok := e.drivers[name]
	names := e.driverNames()
	e.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("realtime: no driver %q (registered: %v)", name, names)
	}
	q, ok := d.(Querier)
	if !ok {
		return nil, fmt.Errorf("realtime: driver %q cannot run raw SQL", name)
	}
	return q, nil
}

// Queriers returns the names of the registered drivers that implement Querier, sorted.
func (e *Engine) Queriers() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for n, d := range e.drivers {
		if _, ok := d.(Querier); ok {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// ScanRows reads up to maxRows rows (maxRows <= 0: all) of a database/sql result as text, for
// the Querier of drivers built on database/sql. NULL is a nil *string; time values are
// rendered "2006-01-02 15:04:05[.999999]"; rows is closed.
func ScanRows(rows *sql.Rows, maxRows int) (cols []string, out [][]*string, err error) {
	defer rows.Close()
	cols, err = rows.Columns()
	if err != nil {
		return nil, nil, err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, nil, err
		}
		row := make([]*string, len(cols))
		for i, v := range vals {
			if v != nil {
				s := sqlText(v)
				row[i] = &s
			}
			vals[i] = nil
		}
		out = append(out, row)
		if maxRows > 0 && len(out) >= maxRows {
			break
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	return cols, out, nil
}

// sqlText renders a value scanned from database/sql as text.
func sqlText(v any) string {
	switch v := v.(type) {
	case []byte:
		return string(v)
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case int32:
		return strconv.FormatInt(int64(v), 10)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(v), 'f', -1, 32)
	case bool:
		if v {
			return "1"
		}
		return "0"
	case time.Time:
		return v.Format("2006-01-02 15:04:05.999999")
	}
	return fmt.Sprint(v)
}
