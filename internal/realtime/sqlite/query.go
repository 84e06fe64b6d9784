package sqlite

import (
	"context"

	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

var _ realtime.Querier = (*Driver)(nil)

// Query runs raw SQL (func_odbc) on the pool of database dbName ('?' placeholders for args)
// and returns up to maxRows rows as text (realtime.Querier).
func (d *Driver) Query(ctx context.Context, dbName, sql string, maxRows int, args ...any) ([]string, [][]*string, error) {
	db, err := d.get(dbName)
	if err != nil {
		return nil, nil, err
	}
	db.queries.Add(1)
	rows, err := db.db.QueryContext(ctx, sql, args...)
	if err != nil {
		return nil, nil, db.fail(err)
	}
	cols, out, err := realtime.ScanRows(rows, maxRows)
	if err != nil {
		return nil, nil, db.fail(err)
	}
	return cols, out, nil
}

// Exec runs a raw SQL statement on database dbName and returns the rows it affected
// (realtime.Querier).
func (d *Driver) Exec(ctx context.Context, dbName, sql string, args ...any) (int64, error) {
	db, err := d.get(dbName)
	if err != nil {
		return 0, err
	}
	db.queries.Add(1)
	return db.affected(db.db.ExecContext(ctx, sql, args...))
}

// HasDatabase reports whether res_config_sqlite3.conf has a [name] section (realtime.Querier).
func (d *Driver) HasDatabase(name string) bool {
	_, err := d.get(name)
	return err == nil
}
