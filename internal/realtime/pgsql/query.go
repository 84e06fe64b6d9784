package pgsql

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

var _ realtime.Querier = (*Driver)(nil)

// Query runs raw SQL (func_odbc) on the pool of database dbArg ("" or "general": the dbname
// of res_pgsql.conf; $1, $2, ... placeholders for args) and returns up to maxRows rows in
// PostgreSQL's text format (realtime.Querier).
func (d *Driver) Query(ctx context.Context, dbArg, sql string, maxRows int, args ...any) ([]string, [][]*string, error) {
	db, err := d.use(dbArg)
	if err != nil {
		return nil, nil, err
	}
	// QueryExecModeExec: one unnamed statement per call. The text of operator SQL changes with
	// every substituted value, so caching prepared statements would only churn the cache.
	qargs := make([]any, 0, len(args)+2)
	qargs = append(qargs, pgx.QueryExecModeExec, textResults)
	qargs = append(qargs, args...)
	var cols []string
	var out [][]*string
	err = db.pool.with(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, sql, qargs...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for _, fd := range rows.FieldDescriptions() {
			cols = append(cols, fd.Name)
		}
		for rows.Next() {
			raw := rows.RawValues()
			row := make([]*string, len(raw))
			for i, v := range raw {
				if v != nil {
					s := string(v)
					row[i] = &s
				}
			}
			out = append(out, row)
			if maxRows > 0 && len(out) >= maxRows {
				break
			}
		}
		rows.Close()
		return rows.Err()
	})
	if err != nil {
		return nil, nil, d.fail(db, "query database "+strconvQuote(db.name), err)
	}
	return cols, out, nil
}

// Exec runs a raw SQL statement on database dbArg and returns the rows it affected
// (realtime.Querier).
func (d *Driver) Exec(ctx context.Context, dbArg, sql string, args ...any) (int64, error) {
	db, err := d.use(dbArg)
	if err != nil {
		return 0, err
	}
	qargs := make([]any, 0, len(args)+1)
	qargs = append(qargs, pgx.QueryExecModeExec)
	qargs = append(qargs, args...)
	return d.exec(ctx, db, "exec in database "+strconvQuote(db.name), sql, qargs)
}

// HasDatabase reports whether name is the database of res_pgsql.conf ("", "general" or its
// dbname); other names are databases on the same server, which a bare func_odbc dsn= does not
// resolve to (realtime.Querier).
func (d *Driver) HasDatabase(name string) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if !d.configured {
		return false
	}
	return name == "" || strings.EqualFold(name, "general") || name == d.set.DBName
}

func strconvQuote(s string) string { return `"` + s + `"` }

// HasConnection implements realtime.ConnectionChecker. The mapping's database field is ignored
// (see dbName), so a mapping reaches a connection exactly when res_pgsql.conf was loaded.
func (d *Driver) HasConnection(string) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.configured
}
