package sqltable

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/pleiades-pbx/pleiades/internal/realtime"
	"github.com/pleiades-pbx/pleiades/internal/realtime/sqlpool"
)

// Schema is what Require needs of a driver beyond Conn: its type mapping and what it checks of
// an existing column.
type Schema[T Table] interface {
	Conn[T]
	// AddColumn is the statement that adds a column for r to t under policy (createclose:
	// the closest type, createchar: characters).
	AddColumn(t T, r realtime.Requirement, policy string) string
	// Check looks at column col of t against r: the statement that makes it fit under policy,
	// or "" (having logged a warning where it does not fit and policy changes nothing).
	Check(t T, col int, r realtime.Requirement, policy string) string
	// Alter runs a statement Require built.
	Alter(ctx context.Context, t T, stmt string) error
	// Forget drops the cached metadata of table.
	Forget(table string)
}

// Require is realtime.Driver.Require under a requirements= policy (sqlpool.RequireWarn,
// RequireCreateClose, RequireCreateChar). With warn a missing column is logged and the call
// fails with an error wrapping realtime.ErrUnknownField that names every missing column, and the
// table is not changed; otherwise missing columns are added (and a column the driver finds too
// narrow changed), then the table's metadata is read again on next use. where names the
// connection in messages ("[section]", "database \"x\"").
func Require[T Table](ctx context.Context, log *slog.Logger, driver string, c Schema[T], table, where, policy string, reqs []realtime.Requirement) error {
	t, err := c.Table(ctx, table)
	if err != nil {
		return err
	}
	cols := t.Cols()
	var missing, ddl []string
	for _, r := range reqs {
		col, ok := cols.Find(r.Name)
		switch {
		case !ok && policy == sqlpool.RequireWarn:
			log.Warn("table requires a column that does not exist", "table", table, "in", where, "column", r.Name)
			missing = append(missing, r.Name)
		case !ok:
			ddl = append(ddl, c.AddColumn(t, r, policy))
		default:
			if stmt := c.Check(t, col, r, policy); stmt != "" {
				ddl = append(ddl, stmt)
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s: %w: table %q in %s lacks required column(s) %s", driver, realtime.ErrUnknownField, table, where, strings.Join(missing, ", "))
	}
	for _, stmt := range ddl {
		if err := c.Alter(ctx, t, stmt); err != nil {
			return err
		}
		log.Info("table changed to meet a requirement", "table", table, "in", where, "statement", stmt)
	}
	if len(ddl) > 0 {
		c.Forget(table)
	}
	return nil
}
