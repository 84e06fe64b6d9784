package odbc

import (
	"context"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

var _ realtime.Querier = (*Driver)(nil)

// Query runs raw SQL (func_odbc) on the res_odbc.conf connection db ('?' placeholders for
// args) and returns up to maxRows rows as text (realtime.Querier).
func (d *Driver) Query(ctx context.Context, db, sql string, maxRows int, args ...any) ([]string, [][]*string, error) {
	c, err := d.conn(db)
	if err != nil {
		return nil, nil, err
	}
	start := time.Now()
	rows, err := c.db.QueryContext(ctx, sql, args...)
	c.observe(sql, start, err)
	if err != nil {
		return nil, nil, c.wrapErr("query", err)
	}
	cols, out, err := realtime.ScanRows(rows, maxRows)
	if err != nil {
		return nil, nil, c.wrapErr("query", err)
	}
	return cols, out, nil
}

// Exec runs a raw SQL statement on connection db and returns the rows it affected
// (realtime.Querier).
func (d *Driver) Exec(ctx context.Context, db, sql string, args ...any) (int64, error) {
	c, err := d.conn(db)
	if err != nil {
		return 0, err
	}
	return c.exec(ctx, sql, args)
}

// HasDatabase reports whether res_odbc.conf has the (enabled or disabled) connection name
// (realtime.Querier).
func (d *Driver) HasDatabase(name string) bool {
	key := strings.ToLower(name)
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.conns[key] != nil || d.disabled[key]
}

// HasConnection implements realtime.ConnectionChecker: a mapping's database field names a
// section of the file (for a "read/write" pair, both).
func (d *Driver) HasConnection(db string) bool { return d.HasDatabase(db) }
