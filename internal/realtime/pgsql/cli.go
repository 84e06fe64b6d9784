package pgsql

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pleiades-pbx/pleiades/internal/cli"
	"github.com/pleiades-pbx/pleiades/internal/realtime/sqlpool"
)

// Commands returns the driver's CLI commands: "realtime show pgsql status" and "realtime
// show pgsql cache".
func (d *Driver) Commands() []*cli.Command {
	return []*cli.Command{{
		Words:   []string{"realtime", "show", "pgsql", "status"},
		Summary: "Shows connection information for the PostgreSQL RealTime driver",
		Usage: "Usage: realtime show pgsql status\n" +
			"       Shows connection information for the PostgreSQL RealTime driver,\n" +
			"       with its pool and LISTEN state.\n",
		Handler: d.status,
	}, {
		Words:   []string{"realtime", "show", "pgsql", "cache"},
		Summary: "Shows cached tables within the PostgreSQL realtime driver",
		Usage: "Usage: realtime show pgsql cache [<table>]\n" +
			"       Shows table cache for the PostgreSQL RealTime driver\n",
		Handler:  d.cache,
		Complete: d.completeCached,
	}}
}

// cached returns the cached tables by name, sorted.
func (d *Driver) cached() []*table {
	out := d.tables.All()
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func (d *Driver) completeCached(_ *cli.Args, n int, word string) []string {
	if n != 0 {
		return nil
	}
	var out []string
	for _, t := range d.cached() {
		if strings.HasPrefix(strings.ToLower(t.name), strings.ToLower(word)) {
			out = append(out, t.name)
		}
	}
	return out
}

// catalogSQL reads a table's columns as res_config_pgsql's find_table does: the type's name,
// attlen (or, for variable-length types, atttypmod-4, the declared length) and NOT NULL.
const catalogSQL = `SELECT a.attname, t.typname, a.attlen, a.atttypmod, a.attnotnull
  FROM pg_catalog.pg_attribute a
  JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
 WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attnum`

// cache is res_config_pgsql's "realtime show pgsql cache [<table>]".
func (d *Driver) cache(ctx context.Context, a *cli.Args) error {
	if len(a.Rest) > 1 {
		return cli.ErrUsage
	}
	tables := d.cached()
	if len(a.Rest) == 0 {
		for _, t := range tables {
			fmt.Fprintf(a.Out, "%s\n", t.name)
		}
		return nil
	}
	var t *table
	for _, c := range tables {
		if strings.EqualFold(c.name, a.Rest[0]) {
			t = c
			break
		}
	}
	if t == nil {
		fmt.Fprintf(a.Out, "No such table '%s'\n", a.Rest[0])
		return nil
	}
	db, err := d.use("")
	if err != nil {
		fmt.Fprintf(a.Out, "Unable to read the columns of table '%s': %v\n", a.Rest[0], err)
		return cli.ErrFailed
	}
	type col struct {
		name, typ      string
		length, typmod int
		notNull        bool
	}
	var cols []col
	err = db.pool.with(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, catalogSQL, t.ident)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c col
			var attlen int16
			var typmod int32
			if err := rows.Scan(&c.name, &c.typ, &attlen, &typmod, &c.notNull); err != nil {
				return err
			}
			c.length, c.typmod = int(attlen), int(typmod)
			cols = append(cols, c)
		}
		return rows.Err()
	})
	if err != nil {
		fmt.Fprintf(a.Out, "Unable to read the columns of table '%s': %v\n", a.Rest[0], d.fail(db, describe("read columns of", db.name, t.name), err))
		return cli.ErrFailed
	}
	fmt.Fprintf(a.Out, "Columns for Table Cache '%s':\n", a.Rest[0])
	fmt.Fprintf(a.Out, "%-20.20s %-20.20s %-3.3s %-8.8s\n", "Name", "Type", "Len", "Nullable")
	for _, c := range cols {
		n := c.length
		if n == -1 {
			n = c.typmod - 4
		}
		nullable := ""
		if c.notNull {
			nullable = "NOT NULL"
		}
		fmt.Fprintf(a.Out, "%-20.20s %-20.20s %3d %-8.8s\n", c.name, c.typ, n, nullable)
	}
	return nil
}

func (d *Driver) status(ctx context.Context, a *cli.Args) error {
	if len(a.Rest) != 0 {
		return cli.ErrUsage
	}
	d.mu.RLock()
	s, configured := d.set, d.configured
	d.mu.RUnlock()
	if !configured {
		fmt.Fprintf(a.Out, "PostgreSQL RealTime driver not configured (%s not loaded).\n", ConfigFile)
		return cli.ErrFailed
	}
	// Make sure the default database is tried, as Asterisk's command shows its one connection.
	if db, err := d.use(""); err == nil {
		pctx, cancel := context.WithTimeout(ctx, s.ConnectTimeout)
		if err := db.pool.with(pctx, func(*pgx.Conn) error { return nil }); err != nil {
			_ = d.fail(db, "status", err)
		}
		cancel()
	}
	d.mu.RLock()
	dbs := make([]*database, 0, len(d.dbs))
	for _, db := range d.dbs {
		dbs = append(dbs, db)
	}
	d.mu.RUnlock()
	sort.Slice(dbs, func(i, j int) bool { return dbs[i].name < dbs[j].name })
	failed := false
	for _, db := range dbs {
		if !writeStatus(a.Out, db) {
			failed = true
		}
	}
	if failed {
		return cli.ErrCommandFailed // res_config_pgsql: CLI_FAILURE after "Unable to connect"
	}
	return nil
}

func writeStatus(w io.Writer, db *database) bool {
	s := db.set
	st := db.pool.stats()
	creds := ""
	if s.User != "" {
		creds = " with username " + s.User
	}
	ok := !st.Since.IsZero()
	if ok {
		fmt.Fprintf(w, "Connected to %s%s for %s.\n", s.describe(db.name), creds, sqlpool.Uptime(time.Since(st.Since)))
	} else {
		fmt.Fprintf(w, "Unable to connect %s%s\n", s.describe(db.name), creds)
	}
	last := "none"
	if st.LastErr != nil {
		last = fmt.Sprintf("%s (%s ago)", st.LastErr, time.Since(st.ErrAt).Round(time.Second))
	}
	fmt.Fprintf(w, "  Pool: %d total, %d idle, %d in use, max %d; %d acquires, %d waited; %d connects; last error: %s\n",
		st.Total, st.Idle, st.InUse, st.Max, st.Acquires, st.EmptyAcquires, st.Dials, last)
	if db.listener != nil {
		ls := db.listener.stats()
		if ls.Listening {
			fmt.Fprintf(w, "  Listening on channel %s for %s, %d notifications received.\n", ls.Channel, sqlpool.Uptime(time.Since(ls.Since)), ls.Received)
		} else {
			fmt.Fprintf(w, "  Not listening on channel %s (last error: %v).\n", ls.Channel, ls.LastErr)
		}
	}
	return ok
}
