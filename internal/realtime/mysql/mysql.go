package mysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	my "github.com/go-sql-driver/mysql"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
	"github.com/pleiades-pbx/pleiades/internal/realtime/sqltable"
)

// Driver is the mysql realtime driver. It is safe for concurrent use.
//
// Lock order: Driver.mu, then Driver.tables' (a leaf), then conn.mu.
type Driver struct {
	log *slog.Logger

	mu       sync.RWMutex
	sections map[string]Section
	conns    map[string]*conn // by section name, opened on first use
	closed   bool

	tables sqltable.Tables[*table] // by section + "\x00" + table

	sessionVars map[string]string // tests: session variables set on every connection
}

// conn is the pool of one section.
type conn struct {
	drv *Driver
	sec Section
	db  *sql.DB

	mu        sync.Mutex
	stmts     map[string]*sql.Stmt
	since     time.Time
	lastErr   error
	errAt     time.Time
	failUntil time.Time

	calls atomic.Int64
}

// maxStmts bounds the prepared statement cache of one connection pool.
const maxStmts = 512

var _ realtime.Driver = (*Driver)(nil)

// New returns an unconfigured driver; log receives warnings.
func New(log *slog.Logger) *Driver {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Driver{
		log:      log.With("driver", "mysql"),
		sections: map[string]Section{},
		conns:    map[string]*conn{},
	}
}

// Name implements realtime.Driver.
func (d *Driver) Name() string { return "mysql" }

// ConfigFile implements realtime.Driver.
func (d *Driver) ConfigFile() string { return ConfigFile }

// Configure implements realtime.Driver. Sections whose settings did not change keep their
// pool and metadata; changed or removed ones are closed; new ones open on first use.
func (d *Driver) Configure(ctx context.Context, cfg *conf.Config) error {
	secs, warnings, err := ParseConfig(cfg)
	for _, w := range warnings {
		d.log.Warn(w)
	}
	if err != nil {
		return err
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return errors.New("mysql: driver closed")
	}
	var drop []*conn
	for name, c := range d.conns {
		if s, ok := secs[name]; !ok || s != c.sec {
			drop = append(drop, c)
			delete(d.conns, name)
			d.forget(name)
		}
	}
	d.sections = secs
	d.mu.Unlock()
	for _, c := range drop {
		c.close()
	}
	return nil
}

// forget drops the cached metadata of a section; d.mu is held.
func (d *Driver) forget(section string) {
	d.tables.ForgetIf(func(k string) bool { return strings.HasPrefix(k, section+"\x00") })
}

func (c *conn) close() {
	c.mu.Lock()
	for _, st := range c.stmts {
		st.Close()
	}
	c.stmts = nil
	c.mu.Unlock()
	c.db.Close()
}

// Close implements realtime.Driver.
func (d *Driver) Close() error {
	d.mu.Lock()
	conns := d.conns
	d.conns = map[string]*conn{}
	d.closed = true
	d.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
	return nil
}

type mysqlLogger struct{ log *slog.Logger }

func (l mysqlLogger) Print(v ...any) { l.log.Debug(strings.TrimSpace(fmt.Sprint(v...))) }

// conn returns the pool of a section, opening it on first use. Asterisk's read/write split
// is honoured: a database argument "readsec/writesec" reads through the first section and
// writes through the second.
func (d *Driver) conn(dbArg string, write bool) (*conn, error) {
	name := dbArg
	if r, w, ok := strings.Cut(dbArg, "/"); ok {
		name = r
		if write {
			name = w
		}
	}
	d.mu.RLock()
	c, ok := d.conns[name]
	sec, known := d.sections[name]
	closed := d.closed
	d.mu.RUnlock()
	if !ok {
		if closed {
			return nil, fmt.Errorf("mysql: %w: driver closed", realtime.ErrUnavailable)
		}
		if !known {
			return nil, fmt.Errorf("mysql: %w: no section [%s] in %s", realtime.ErrUnknownDatabase, name, ConfigFile)
		}
		d.mu.Lock()
		if c, ok = d.conns[name]; !ok {
			mc := my.NewConfig()
			mc.User, mc.Passwd, mc.DBName = sec.User, sec.Pass, sec.DBName
			mc.Net, mc.Addr = sec.network()
			mc.Timeout = sec.ConnectTimeout
			mc.Logger = mysqlLogger{d.log}
			if len(d.sessionVars) > 0 {
				mc.Params = d.sessionVars
			}
			if sec.Charset != "" {
				if err := mc.Apply(my.Charset(sec.Charset, "")); err != nil {
					d.mu.Unlock()
					return nil, fmt.Errorf("mysql: [%s]: %w", name, err)
				}
			}
			connector, err := my.NewConnector(mc)
			if err != nil {
				d.mu.Unlock()
				return nil, fmt.Errorf("mysql: [%s]: %w", name, err)
			}
			db := sql.OpenDB(connector)
			db.SetMaxOpenConns(sec.MaxConns)
			db.SetMaxIdleConns(sec.MaxConns)
			db.SetConnMaxIdleTime(5 * time.Minute)
			c = &conn{drv: d, sec: sec, db: db, stmts: map[string]*sql.Stmt{}}
			d.conns[name] = c
		}
		d.mu.Unlock()
	}
	c.mu.Lock()
	until := c.failUntil
	lastErr := c.lastErr
	c.mu.Unlock()
	if time.Now().Before(until) {
		return nil, fmt.Errorf("mysql: [%s]: %w (connect failed, retrying after %s): %v", name, realtime.ErrUnavailable, c.sec.NegativeCache, lastErr)
	}
	return c, nil
}

// stmt returns a cached prepared statement for query (database/sql re-prepares it on each
// pooled connection as needed): one round trip per call instead of prepare/execute/close.
func (c *conn) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	c.calls.Add(1)
	c.mu.Lock()
	st, ok := c.stmts[query]
	c.mu.Unlock()
	if ok {
		return st, nil
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if have, ok := c.stmts[query]; ok {
		st.Close()
		return have, nil
	}
	if c.stmts != nil && len(c.stmts) < maxStmts {
		c.stmts[query] = st
	}
	return st, nil
}

// fail turns err into the error returned: connectivity problems wrap realtime.ErrUnavailable
// (and start the negative connection cache), SQL errors stay plain errors naming the table.
func (d *Driver) fail(c *conn, what string, err error) error {
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("mysql: %s: %w", what, err)
	}
	if unavailable(err) {
		c.mu.Lock()
		c.lastErr, c.errAt, c.since = err, time.Now(), time.Time{}
		if c.sec.NegativeCache > 0 {
			c.failUntil = time.Now().Add(c.sec.NegativeCache)
		}
		c.mu.Unlock()
		return fmt.Errorf("mysql: %s: %w: %w", what, realtime.ErrUnavailable, err)
	}
	return fmt.Errorf("mysql: %s: %w", what, err)
}

func (c *conn) ok() {
	c.mu.Lock()
	if c.since.IsZero() {
		c.since = time.Now()
	}
	c.mu.Unlock()
}

// unavailable reports whether err means the server could not be reached, refused the login
// or dropped the connection, as opposed to an error in the statement.
func unavailable(err error) bool {
	var me *my.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1040, // too many connections
			1044, 1045, // access denied
			1049,       // unknown database (the section's dbname)
			1053,       // server shutdown
			1129, 1130, // host blocked / not allowed
			1203, 1226, // user connection limits
			1927, // connection killed
			4031: // disconnected for inactivity
			return true
		}
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, my.ErrInvalidConn) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, sql.ErrConnDone)
}

func describe(op, section, tbl string) string {
	return fmt.Sprintf("%s table %q in [%s]", op, tbl, section)
}

// Load implements realtime.Driver.
func (d *Driver) Load(ctx context.Context, dbArg, tbl string, fields []realtime.Field) (realtime.Row, error) {
	c, err := d.conn(dbArg, false)
	if err != nil {
		return nil, err
	}
	return sqltable.Load(ctx, "mysql", c, tbl, fields)
}

// LoadMulti implements realtime.Driver.
func (d *Driver) LoadMulti(ctx context.Context, dbArg, tbl string, fields []realtime.Field) ([]realtime.Row, error) {
	c, err := d.conn(dbArg, false)
	if err != nil {
		return nil, err
	}
	return sqltable.LoadMulti(ctx, "mysql", c, tbl, fields)
}

var _ sqltable.Conn[*table] = (*conn)(nil)

// Table implements sqltable.Conn.
func (c *conn) Table(ctx context.Context, tbl string) (*table, error) {
	return c.drv.table(ctx, c, tbl)
}

// Select implements sqltable.Conn.
func (c *conn) Select(ctx context.Context, t *table, query string, args []any, one bool) ([]realtime.Row, error) {
	d := c.drv
	what := describe("load from", c.sec.Name, t.name)
	st, err := c.stmt(ctx, query)
	if err != nil {
		return nil, d.fail(c, what, err)
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, d.fail(c, what, err)
	}
	defer rows.Close()
	vals := make([]sql.NullString, len(t.cols))
	ptrs := make([]any, len(t.cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var out []realtime.Row
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, d.fail(c, what, err)
		}
		row := make(realtime.Row, 0, len(vals))
		for i, v := range vals {
			if v.Valid && v.String != "" {
				row = append(row, realtime.Field{Name: t.cols[i].name, Value: realtime.DecodeValue(v.String)})
			}
		}
		out = append(out, row)
		if one {
			break
		}
	}
	if err := rows.Err(); err != nil {
		return nil, d.fail(c, what, err)
	}
	c.ok()
	return out, nil
}

// Exec implements sqltable.Conn.
func (c *conn) Exec(ctx context.Context, t *table, op, query string, args []any) (int64, error) {
	return c.drv.exec(ctx, c, describe(op, c.sec.Name, t.name), query, args)
}

func (d *Driver) exec(ctx context.Context, c *conn, what, query string, args []any) (int64, error) {
	st, err := c.stmt(ctx, query)
	if err != nil {
		return 0, d.fail(c, what, err)
	}
	res, err := st.ExecContext(ctx, args...)
	if err != nil {
		return 0, d.fail(c, what, err)
	}
	c.ok()
	n, err := res.RowsAffected()
	if err != nil {
		return 0, d.fail(c, what, err)
	}
	return n, nil
}

// Update implements realtime.Driver.
func (d *Driver) Update(ctx context.Context, dbArg, tbl, keyField, keyValue string, fields []realtime.Field) (int64, error) {
	return d.Update2(ctx, dbArg, tbl, []realtime.Field{{Name: keyField, Value: keyValue}}, fields)
}

// Update2 implements realtime.Driver.
func (d *Driver) Update2(ctx context.Context, dbArg, tbl string, lookup, update []realtime.Field) (int64, error) {
	c, err := d.conn(dbArg, true)
	if err != nil {
		return 0, err
	}
	return sqltable.Update(ctx, "mysql", c, tbl, lookup, update)
}

// Store implements realtime.Driver.
func (d *Driver) Store(ctx context.Context, dbArg, tbl string, fields []realtime.Field) (int64, error) {
	c, err := d.conn(dbArg, true)
	if err != nil {
		return 0, err
	}
	return sqltable.Store(ctx, "mysql", c, tbl, fields)
}

// Destroy implements realtime.Driver.
func (d *Driver) Destroy(ctx context.Context, dbArg, tbl, keyField, keyValue string, fields []realtime.Field) (int64, error) {
	c, err := d.conn(dbArg, true)
	if err != nil {
		return 0, err
	}
	return sqltable.Destroy(ctx, c, tbl, keyField, keyValue, fields)
}

// StaticLoad implements realtime.Driver.
func (d *Driver) StaticLoad(ctx context.Context, dbArg, tbl, filename string) ([]realtime.StaticRow, error) {
	c, err := d.conn(dbArg, false)
	if err != nil {
		return nil, err
	}
	q := "SELECT category, var_name, var_val, cat_metric, var_metric FROM " + quoteTable(tbl) +
		" WHERE filename = ? AND commented = 0 ORDER BY cat_metric DESC, var_metric ASC, category, var_name"
	what := describe("static load of "+strconv.Quote(filename)+" from", c.sec.Name, tbl)
	st, err := c.stmt(ctx, q)
	if err != nil {
		return nil, d.fail(c, what, err)
	}
	rows, err := st.QueryContext(ctx, filename)
	if err != nil {
		return nil, d.fail(c, what, err)
	}
	defer rows.Close()
	var out []realtime.StaticRow
	for rows.Next() {
		var r realtime.StaticRow
		var val sql.NullString
		if err := rows.Scan(&r.Category, &r.Name, &val, &r.CatMetric, &r.VarMetric); err != nil {
			return nil, d.fail(c, what, err)
		}
		r.Value = val.String
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, d.fail(c, what, err)
	}
	c.ok()
	return out, nil
}

// Unload implements realtime.Driver.
func (d *Driver) Unload(ctx context.Context, dbArg, tbl string) error {
	for _, name := range strings.Split(dbArg, "/") {
		d.tables.Forget(name + "\x00" + tbl)
	}
	return nil
}
