package pgsql

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
	"github.com/pleiades-pbx/pleiades/internal/realtime/sqltable"
)

// Driver is the pgsql realtime driver. It is safe for concurrent use.
//
// Lock order: Driver.mu, then Driver.tables' (a leaf), then pool.mu; Driver.cbMu is a leaf.
type Driver struct {
	log *slog.Logger

	mu         sync.RWMutex
	set        Settings
	configured bool
	closed     bool
	dbs        map[string]*database // by database name

	tables sqltable.Tables[*table] // by database + "\x00" + table name

	cbMu      sync.Mutex
	callbacks map[int]func(table, key string)
	nextCB    int
}

// database is one pool (and optional listener) per PostgreSQL database name.
type database struct {
	drv      *Driver
	name     string
	set      Settings
	pool     *pool
	listener *listener

	mu        sync.Mutex
	failUntil time.Time // negative connection cache
}

var _ realtime.Driver = (*Driver)(nil)

// New returns an unconfigured driver; log receives warnings (requirements, config, listener).
func New(log *slog.Logger) *Driver {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Driver{
		log:       log.With("driver", "pgsql"),
		dbs:       map[string]*database{},
		callbacks: map[int]func(string, string){},
	}
}

// Name implements realtime.Driver.
func (d *Driver) Name() string { return "pgsql" }

// ConfigFile implements realtime.Driver.
func (d *Driver) ConfigFile() string { return ConfigFile }

// Configure implements realtime.Driver. A nil cfg (no res_pgsql.conf) leaves the driver
// unconfigured: every call then fails with ErrUnavailable, as Asterisk declines to load the
// module. When the connection settings change, existing pools are closed and reopened on
// demand; otherwise they are kept (and so is the metadata cache).
func (d *Driver) Configure(ctx context.Context, cfg *conf.Config) error {
	s, warnings, err := ParseConfig(cfg)
	for _, w := range warnings {
		d.log.Warn(w)
	}
	if err != nil {
		return err
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return errors.New("pgsql: driver closed")
	}
	var old map[string]*database
	if !d.configured || d.set != s || cfg == nil {
		old = d.dbs
		d.dbs = map[string]*database{}
		d.tables.ForgetIf(nil)
	}
	d.set, d.configured = s, cfg != nil
	d.mu.Unlock()
	for _, db := range old {
		db.close()
	}
	if d.configured && s.ListenChannel != "" {
		// Listen on the default database at once, so that notifications are not missed
		// until the first query; other databases start listening with their pool.
		if _, err := d.database(s.DBName); err != nil {
			return err
		}
	}
	return nil
}

func (db *database) close() {
	if db.listener != nil {
		db.listener.stop()
	}
	db.pool.close()
}

// Close implements realtime.Driver.
func (d *Driver) Close() error {
	d.mu.Lock()
	dbs := d.dbs
	d.dbs = map[string]*database{}
	d.closed = true
	d.mu.Unlock()
	for _, db := range dbs {
		db.close()
	}
	return nil
}

// dbName maps the database field of an extconfig.conf mapping to a PostgreSQL database: as
// in Asterisk's res_config_pgsql, which ignores it, always the dbname of res_pgsql.conf.
// ("sippeers => pgsql,asterisk,sippeers", the sample's wording, works whatever dbname says.)
func (d *Driver) dbName(s *Settings, _ string) string {
	return s.DBName
}

// database returns (creating on first use) the pool for database name.
func (d *Driver) database(name string) (*database, error) {
	d.mu.RLock()
	db, ok := d.dbs[name]
	configured, closed := d.configured, d.closed
	d.mu.RUnlock()
	if ok {
		return db, nil
	}
	if closed {
		return nil, fmt.Errorf("pgsql: %w: driver closed", realtime.ErrUnavailable)
	}
	if !configured {
		return nil, fmt.Errorf("pgsql: %w: %s not loaded", realtime.ErrUnavailable, ConfigFile)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if db, ok := d.dbs[name]; ok {
		return db, nil
	}
	s := d.set
	cc, err := pgx.ParseConfig(s.connString(name))
	if err != nil {
		return nil, fmt.Errorf("pgsql: database %q: %w", name, err)
	}
	cc.ConnectTimeout = s.ConnectTimeout
	if s.SearchPath != "" {
		cc.RuntimeParams["search_path"] = s.SearchPath
	}
	db = &database{drv: d, name: name, set: s, pool: newPool(cc, s.MaxConns)}
	if s.ListenChannel != "" {
		db.listener = d.startListener(cc.Copy(), name, s.ListenChannel)
	}
	d.dbs[name] = db
	return db, nil
}

// use resolves the database argument and checks the negative connection cache.
func (d *Driver) use(dbArg string) (*database, error) {
	d.mu.RLock()
	s := d.set
	d.mu.RUnlock()
	db, err := d.database(d.dbName(&s, dbArg))
	if err != nil {
		return nil, err
	}
	db.mu.Lock()
	until := db.failUntil
	db.mu.Unlock()
	if time.Now().Before(until) {
		st := db.pool.stats()
		return nil, fmt.Errorf("pgsql: database %q: %w (connect failed %s ago, retrying after %s): %v",
			db.name, realtime.ErrUnavailable, time.Since(st.ErrAt).Round(time.Millisecond), db.set.NegativeCache, st.LastErr)
	}
	return db, nil
}

// fail turns err from a call on db into the error the driver returns: connectivity
// problems wrap realtime.ErrUnavailable (and start the negative connection cache), a
// database that does not exist wraps realtime.ErrUnknownDatabase, anything else (SQL errors)
// is a plain error naming what was being done.
func (d *Driver) fail(db *database, what string, err error) error {
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("pgsql: %s: %w", what, err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "3D000" {
		return fmt.Errorf("pgsql: %s: %w: %w", what, realtime.ErrUnknownDatabase, err)
	}
	if unavailable(err) {
		db.pool.noteError(err)
		if db.set.NegativeCache > 0 {
			db.mu.Lock()
			db.failUntil = time.Now().Add(db.set.NegativeCache)
			db.mu.Unlock()
		}
		return fmt.Errorf("pgsql: %s: %w: %w", what, realtime.ErrUnavailable, err)
	}
	return fmt.Errorf("pgsql: %s: %w", what, err)
}

// unavailable reports whether err means the server could not be reached or the connection
// was lost, as opposed to an error in the statement.
func unavailable(err error) bool {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || errors.Is(err, errPoolClosed) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"), // connection_exception
			pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03", // shutdown, cannot connect now
			pe.Code == "53300",               // too_many_connections
			strings.HasPrefix(pe.Code, "28"): // invalid authorization
			return true
		}
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) || pgconn.SafeToRetry(err)
}

// textResults asks for every result column in text format: a Row holds the text PostgreSQL
// prints, as Asterisk's PQgetvalue sees it, and nothing is decoded only to be re-encoded.
var textResults = pgx.QueryResultFormats{pgx.TextFormatCode}

// describe names a table for error messages.
func describe(op, db, tbl string) string {
	return fmt.Sprintf("%s table %q in database %q", op, tbl, db)
}

// Load implements realtime.Driver.
func (d *Driver) Load(ctx context.Context, dbArg, tbl string, fields []realtime.Field) (realtime.Row, error) {
	db, err := d.use(dbArg)
	if err != nil {
		return nil, err
	}
	return sqltable.Load(ctx, "pgsql", db, tbl, fields)
}

// LoadMulti implements realtime.Driver.
func (d *Driver) LoadMulti(ctx context.Context, dbArg, tbl string, fields []realtime.Field) ([]realtime.Row, error) {
	db, err := d.use(dbArg)
	if err != nil {
		return nil, err
	}
	return sqltable.LoadMulti(ctx, "pgsql", db, tbl, fields)
}

var _ sqltable.Conn[*table] = (*database)(nil)

// Table implements sqltable.Conn.
func (db *database) Table(ctx context.Context, tbl string) (*table, error) {
	return db.drv.table(ctx, db, tbl)
}

// Select implements sqltable.Conn: the rows in text format (args start with textResults).
func (db *database) Select(ctx context.Context, t *table, query string, args []any, one bool) ([]realtime.Row, error) {
	var out []realtime.Row
	err := db.pool.with(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			raw := rows.RawValues()
			row := make(realtime.Row, 0, len(raw))
			for i, v := range raw {
				if len(v) == 0 || i >= len(t.cols) {
					continue
				}
				row = append(row, realtime.Field{Name: t.cols[i].name, Value: realtime.DecodeValue(string(v))})
			}
			out = append(out, row)
			if one {
				break
			}
		}
		rows.Close()
		return rows.Err()
	})
	if err != nil {
		return nil, db.drv.fail(db, describe("load from", db.name, t.name), err)
	}
	return out, nil
}

// Exec implements sqltable.Conn.
func (db *database) Exec(ctx context.Context, t *table, op, query string, args []any) (int64, error) {
	return db.drv.exec(ctx, db, describe(op, db.name, t.name), query, args)
}

func (d *Driver) exec(ctx context.Context, db *database, what, sql string, args []any) (int64, error) {
	var n int64
	err := db.pool.with(ctx, func(c *pgx.Conn) error {
		tag, err := c.Exec(ctx, sql, args...)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return 0, d.fail(db, what, err)
	}
	return n, nil
}

// Update implements realtime.Driver.
func (d *Driver) Update(ctx context.Context, dbArg, tbl, keyField, keyValue string, fields []realtime.Field) (int64, error) {
	return d.Update2(ctx, dbArg, tbl, []realtime.Field{{Name: keyField, Value: keyValue}}, fields)
}

// Update2 implements realtime.Driver.
func (d *Driver) Update2(ctx context.Context, dbArg, tbl string, lookup, update []realtime.Field) (int64, error) {
	db, err := d.use(dbArg)
	if err != nil {
		return 0, err
	}
	return sqltable.Update(ctx, "pgsql", db, tbl, lookup, update)
}

// Store implements realtime.Driver.
func (d *Driver) Store(ctx context.Context, dbArg, tbl string, fields []realtime.Field) (int64, error) {
	db, err := d.use(dbArg)
	if err != nil {
		return 0, err
	}
	return sqltable.Store(ctx, "pgsql", db, tbl, fields)
}

// Destroy implements realtime.Driver.
func (d *Driver) Destroy(ctx context.Context, dbArg, tbl, keyField, keyValue string, fields []realtime.Field) (int64, error) {
	db, err := d.use(dbArg)
	if err != nil {
		return 0, err
	}
	return sqltable.Destroy(ctx, db, tbl, keyField, keyValue, fields)
}

// StaticLoad implements realtime.Driver.
func (d *Driver) StaticLoad(ctx context.Context, dbArg, tbl, filename string) ([]realtime.StaticRow, error) {
	db, err := d.use(dbArg)
	if err != nil {
		return nil, err
	}
	sql := "SELECT category, var_name, var_val, cat_metric, var_metric FROM " + quoteTable(tbl) +
		" WHERE filename = $1 AND commented = 0 ORDER BY cat_metric DESC, var_metric ASC, category, var_name"
	var out []realtime.StaticRow
	err = db.pool.with(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, sql, textResults, filename)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			raw := rows.RawValues()
			if len(raw) != 5 {
				return fmt.Errorf("static table returned %d columns", len(raw))
			}
			r := realtime.StaticRow{
				Category: string(raw[0]),
				Name:     string(raw[1]),
				Value:    string(raw[2]),
			}
			r.CatMetric, _ = strconv.Atoi(string(raw[3]))
			r.VarMetric, _ = strconv.Atoi(string(raw[4]))
			out = append(out, r)
		}
		rows.Close()
		return rows.Err()
	})
	if err != nil {
		return nil, d.fail(db, describe("static load of "+strconv.Quote(filename)+" from", db.name, tbl), err)
	}
	return out, nil
}

// Unload implements realtime.Driver: the table's cached column metadata is forgotten.
func (d *Driver) Unload(ctx context.Context, dbArg, tbl string) error {
	d.mu.RLock()
	s := d.set
	d.mu.RUnlock()
	key := d.dbName(&s, dbArg) + "\x00" + tbl
	d.tables.Forget(key)
	return nil
}
