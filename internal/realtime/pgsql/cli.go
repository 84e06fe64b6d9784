package pgsql

import (
	"context"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pleiades-pbx/pleiades/internal/cli"
	"github.com/pleiades-pbx/pleiades/internal/realtime/sqlpool"
)

// Commands returns the driver's CLI commands: "realtime show pgsql status".
func (d *Driver) Commands() []*cli.Command {
	return []*cli.Command{{
		Words:   []string{"realtime", "show", "pgsql", "status"},
		Summary: "Shows connection information for the PostgreSQL RealTime driver",
		Usage: "Usage: realtime show pgsql status\n" +
			"       Shows connection information for the PostgreSQL RealTime driver:\n" +
			"       one line per database in use, with its pool and LISTEN state.\n",
		Handler: d.status,
	}}
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
		return cli.ErrFailed
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
