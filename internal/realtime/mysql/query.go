package mysql

import (
	"context"

	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

var _ realtime.Querier = (*Driver)(nil)

// Query runs raw SQL (func_odbc) through the section dbArg ("read/write" sections: the read
// one) with '?' placeholders for args, and returns up to maxRows rows as text
// (realtime.Querier). The statement is not prepared when there are no args (text protocol).
func (d *Driver) Query(ctx context.Context, dbArg, sql string, maxRows int, args ...any) ([]string, [][]*string, error) {
	c, err := d.conn(dbArg, false)
	if err != nil {
		return nil, nil, err
	}
	c.calls.Add(1)
	what := "query [" + c.sec.Name + "]"
	rows, err := c.db.QueryContext(ctx, sql, args...)
	if err != nil {
		return nil, nil, d.fail(c, what, err)
	}
	cols, out, err := realtime.ScanRows(rows, maxRows)
	if err != nil {
		return nil, nil, d.fail(c, what, err)
	}
	c.ok()
	return cols, out, nil
}

// Exec runs a raw SQL statement through the section dbArg ("read/write": the write one) and
// returns the rows it affected (realtime.Querier).
func (d *Driver) Exec(ctx context.Context, dbArg, sql string, args ...any) (int64, error) {
	c, err := d.conn(dbArg, true)
	if err != nil {
		return 0, err
	}
	c.calls.Add(1)
	what := "exec [" + c.sec.Name + "]"
	res, err := c.db.ExecContext(ctx, sql, args...)
	if err != nil {
		return 0, d.fail(c, what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, d.fail(c, what, err)
	}
	c.ok()
	return n, nil
}

// HasDatabase reports whether res_config_mysql.conf has the section name (realtime.Querier).
func (d *Driver) HasDatabase(name string) bool {
	if r, w, ok := splitRW(name); ok {
		return d.HasDatabase(r) && d.HasDatabase(w)
	}
	d.mu.RLock()
	_, ok := d.sections[name]
	d.mu.RUnlock()
	return ok
}

func splitRW(s string) (r, w string, ok bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			return s[:i], s[i+1:], true
		}
	}
	return "", "", false
}

// HasConnection implements realtime.ConnectionChecker: a mapping's database field names a
// section of the file (for a "read/write" pair, both).
func (d *Driver) HasConnection(db string) bool { return d.HasDatabase(db) }
