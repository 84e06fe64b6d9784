// Package sqlite is the "sqlite3" realtime driver (Asterisk's res_config_sqlite3) on
// modernc.org/sqlite, a pure-Go SQLite.
//
// Configuration is Asterisk's res_config_sqlite3.conf: one [section] per database, the section
// name being the database name extconfig.conf uses:
//
//	[asterisk]
//	dbfile => /var/lib/pleiades/realtime.sqlite3
//	requirements = warn        ; warn (default), createclose, createchar
//	busy_timeout = 1000        ; ms to wait for a locked database (default 1000)
//	batch = 100                ; accepted and ignored (see below)
//	debug = no                 ; accepted; queries are logged at debug level anyway
//	max_connections = 8        ; Pleiades: size of the connection pool (default 8)
//
// Where Pleiades differs from Asterisk:
//   - Connections are pooled (database/sql) and the file is in WAL mode, so readers run in
//     parallel and never wait for a writer; Asterisk uses one connection per database behind a
//     lock. batch= (Asterisk wraps writes in long transactions for speed, so other processes see
//     them late) is ignored with a notice: every write is committed when the call returns.
//   - Values are written encoded and read decoded (realtime.EncodeValue/DecodeValue: ';' as
//     ^3B, '^' as ^5E) as Asterisk's pgsql and odbc drivers do; Asterisk's sqlite3 does not.
//   - Static mode sorts cat_metric DESC (Asterisk's sqlite3: ASC), like pgsql and odbc.
//   - Every value is a bound parameter and every identifier is quoted; column metadata is read
//     once per table (PRAGMA table_info) and a field that is not a column is an error wrapping
//     realtime.ErrUnknownField, never sent.
//   - LIKE uses ESCAPE '\', so `\_` and `\%` match a literal '_' and '%'.
//   - Lookups, statements and requirements= are the SQL core every SQL driver shares
//     (internal/realtime/sqltable); this driver gives it SQLite's dialect and PRAGMA table_info.
//   - requirements=warn reports a missing column as an error wrapping realtime.ErrUnknownField
//     (after logging a warning); Asterisk returns -1, which its callers ignore.
//   - A database file that cannot be opened does not fail Configure: it is reported, and every
//     query to it fails with an error wrapping realtime.ErrUnavailable so the engine fails over.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
	"github.com/pleiades-pbx/pleiades/internal/realtime/sqlpool"
	"github.com/pleiades-pbx/pleiades/internal/realtime/sqltable"
)

const (
	driverName         = "sqlite" // database/sql name registered by modernc.org/sqlite
	defaultBusyTimeout = 1000     // ms, as Asterisk's busy_timeout default
	defaultMaxConns    = 8
	maxCachedStmts     = 512
)

// Driver is the sqlite3 realtime driver. The zero value is not usable; call New.
type Driver struct {
	log *slog.Logger
	mu  sync.RWMutex
	dbs map[string]*database
}

var _ realtime.Driver = (*Driver)(nil)

// New returns a driver with no database; Configure adds them.
func New(log *slog.Logger) *Driver {
	if log == nil {
		log = slog.Default()
	}
	return &Driver{log: log, dbs: map[string]*database{}}
}

// Name returns "sqlite3", the name extconfig.conf uses.
func (d *Driver) Name() string { return "sqlite3" }

// ConfigFile returns "res_config_sqlite3.conf".
func (d *Driver) ConfigFile() string { return "res_config_sqlite3.conf" }

type settings struct {
	name         string
	path         string
	requirements string
	busyTimeout  int
	maxConns     int
	file         string
	line         int
}

type database struct {
	settings
	db *sql.DB

	meta sqltable.Tables[*tableMeta] // by lower-case table name

	stmtMu sync.RWMutex
	stmts  map[string]*sql.Stmt

	lastErr atomic.Pointer[errRecord]
	queries atomic.Uint64
	errors  atomic.Uint64
}

type errRecord struct {
	at  time.Time
	err string
}

// Configure applies res_config_sqlite3.conf (nil: no databases). On error the running
// configuration stays. A database whose file cannot be opened is kept (queries to it fail with
// ErrUnavailable) and reported with a warning.
func (d *Driver) Configure(ctx context.Context, cfg *conf.Config) error {
	var want []settings
	var errs []string
	if cfg != nil {
		for _, cat := range cfg.Categories {
			if cat.Template {
				continue
			}
			s := settings{name: cat.Name, requirements: sqlpool.RequireWarn, busyTimeout: defaultBusyTimeout,
				maxConns: defaultMaxConns, file: cat.File, line: cat.Line}
			for _, v := range cat.Vars {
				val := strings.TrimSpace(v.Value)
				switch strings.ToLower(v.Name) {
				case "dbfile":
					s.path = val
				case "requirements":
					if p, ok := sqlpool.Requirements(val); ok {
						s.requirements = p
					} else {
						errs = append(errs, fmt.Sprintf("%s:%d: requirements=%s: want warn, createclose or createchar", v.File, v.Line, val))
					}
				case "busy_timeout":
					n, err := strconv.Atoi(val)
					if err != nil || n < 0 {
						errs = append(errs, fmt.Sprintf("%s:%d: busy_timeout=%s: not a number of milliseconds", v.File, v.Line, val))
					}
					s.busyTimeout = n
				case "max_connections":
					n, err := strconv.Atoi(val)
					if err != nil || n < 1 {
						errs = append(errs, fmt.Sprintf("%s:%d: max_connections=%s: want a number >= 1", v.File, v.Line, val))
					}
					s.maxConns = n
				case "batch":
					if n, err := strconv.Atoi(val); err != nil || n != 0 {
						d.log.Info("sqlite3: batch= is ignored: every write is committed when it returns (WAL keeps writes fast)",
							"database", cat.Name, "at", fmt.Sprintf("%s:%d", v.File, v.Line))
					}
				case "debug":
				default:
					d.log.Warn("sqlite3: unknown setting ignored", "setting", v.Name, "at", fmt.Sprintf("%s:%d", v.File, v.Line))
				}
			}
			switch {
			case s.path == "":
				errs = append(errs, fmt.Sprintf("%s:%d: [%s] has no dbfile", cat.File, cat.Line, cat.Name))
			case strings.ContainsAny(s.path, "?#"):
				errs = append(errs, fmt.Sprintf("%s:%d: [%s] dbfile %q: '?' and '#' are not supported in a file name", cat.File, cat.Line, cat.Name, s.path))
			}
			if s.path == ":memory:" {
				s.maxConns = 1 // every connection would get its own database
			}
			want = append(want, s)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("sqlite3: %s", strings.Join(errs, "; "))
	}

	d.mu.Lock()
	old := d.dbs
	next := make(map[string]*database, len(want))
	for _, s := range want {
		if o, ok := old[s.name]; ok && o.settings.path == s.path && o.busyTimeout == s.busyTimeout && o.maxConns == s.maxConns {
			o.settings = s
			next[s.name] = o
			continue
		}
		db, err := sql.Open(driverName, dsn(s.path, s.busyTimeout))
		if err != nil { // only for a malformed DSN
			d.mu.Unlock()
			return fmt.Errorf("sqlite3: %s:%d: [%s]: %w", s.file, s.line, s.name, err)
		}
		db.SetMaxOpenConns(s.maxConns)
		db.SetMaxIdleConns(s.maxConns)
		db.SetConnMaxIdleTime(5 * time.Minute)
		next[s.name] = &database{settings: s, db: db, stmts: map[string]*sql.Stmt{}}
	}
	d.dbs = next
	d.mu.Unlock()

	for name, o := range old {
		if next[name] != o {
			o.close()
		}
	}
	for _, db := range next {
		if err := db.db.PingContext(ctx); err != nil {
			err = db.fail(err)
			d.log.Warn("sqlite3: cannot open database; queries to it fail over", "database", db.name, "dbfile", db.path, "error", err)
		}
	}
	return nil
}

func dsn(path string, busyTimeout int) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	return path + "?" + q.Encode()
}

// Databases returns the configured database names (realtime.DatabaseLister).
func (d *Driver) Databases() []string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := make([]string, 0, len(d.dbs))
	for n := range d.dbs {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// DB returns the connection pool of a configured database (for tests and benchmarks).
func (d *Driver) DB(name string) (*sql.DB, bool) {
	db, err := d.get(name)
	if err != nil {
		return nil, false
	}
	return db.db, true
}

// Close releases every connection.
func (d *Driver) Close() error {
	d.mu.Lock()
	old := d.dbs
	d.dbs = map[string]*database{}
	d.mu.Unlock()
	for _, db := range old {
		db.close()
	}
	return nil
}

func (db *database) close() {
	db.stmtMu.Lock()
	for _, s := range db.stmts {
		s.Close()
	}
	db.stmts = map[string]*sql.Stmt{}
	db.stmtMu.Unlock()
	db.db.Close()
}

func (d *Driver) get(name string) (*database, error) {
	d.mu.RLock()
	db := d.dbs[name]
	d.mu.RUnlock()
	if db == nil {
		return nil, fmt.Errorf("%w: sqlite3 has no database [%s] in res_config_sqlite3.conf", realtime.ErrUnknownDatabase, name)
	}
	return db, nil
}

// fail classifies err: connection-level failures (cannot open, I/O error, not a database,
// corrupt, busy or locked past busy_timeout, disk full) wrap realtime.ErrUnavailable.
// Everything else is returned as is. The error is recorded for the status command.
func (db *database) fail(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	db.errors.Add(1)
	var se *msqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT,
			sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_FULL, sqlite3.SQLITE_PROTOCOL:
			err = fmt.Errorf("%w: sqlite3 [%s] %s: %w", realtime.ErrUnavailable, db.name, db.path, err)
		default:
			err = fmt.Errorf("sqlite3 [%s]: %w", db.name, err)
		}
	} else if errors.Is(err, sql.ErrConnDone) {
		err = fmt.Errorf("%w: sqlite3 [%s]: %w", realtime.ErrUnavailable, db.name, err)
	} else {
		err = fmt.Errorf("sqlite3 [%s]: %w", db.name, err)
	}
	db.lastErr.Store(&errRecord{at: time.Now(), err: err.Error()})
	return err
}

func (db *database) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	db.stmtMu.RLock()
	s := db.stmts[query]
	db.stmtMu.RUnlock()
	if s != nil {
		return s, nil
	}
	s, err := db.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, db.fail(err)
	}
	db.stmtMu.Lock()
	if have := db.stmts[query]; have != nil {
		db.stmtMu.Unlock()
		s.Close()
		return have, nil
	}
	if len(db.stmts) >= maxCachedStmts {
		for k, old := range db.stmts {
			old.Close()
			delete(db.stmts, k)
		}
	}
	db.stmts[query] = s
	db.stmtMu.Unlock()
	return s, nil
}

func (db *database) dropStmts() {
	db.stmtMu.Lock()
	for k, s := range db.stmts {
		s.Close()
		delete(db.stmts, k)
	}
	db.stmtMu.Unlock()
}

// Table metadata.

type column struct {
	name string // as declared
	typ  string // declared type, upper case
}

// tableMeta is the cached metadata of one table and its sqltable.Dialect.
type tableMeta struct {
	sqltable.Columns
	cols []column
}

var _ sqltable.Table = (*tableMeta)(nil)

// Cols implements sqltable.Table.
func (m *tableMeta) Cols() *sqltable.Columns { return &m.Columns }

// Shape implements sqltable.Table.
func (m *tableMeta) Shape() sqltable.Shape { return sqltable.Shape{Limit: " LIMIT 1"} }

// Cond implements sqltable.Dialect: `"col" op ?`, with ESCAPE '\' after LIKE so that `\_` and
// `\%` match a literal '_' and '%'.
func (m *tableMeta) Cond(b *strings.Builder, col int, op string, _ int) {
	b.WriteString(m.Ident(col))
	b.WriteByte(' ')
	b.WriteString(op)
	b.WriteString(" ?")
	if strings.HasSuffix(op, "LIKE") {
		b.WriteString(` ESCAPE '\'`)
	}
}

// Param implements sqltable.Dialect.
func (m *tableMeta) Param(b *strings.Builder, _, _ int) { b.WriteByte('?') }

// Value implements sqltable.Dialect: every value is bound as text, encoded.
func (m *tableMeta) Value(_ int, v string) any { return realtime.EncodeValue(v) }

func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

var _ sqltable.Conn[*tableMeta] = (*database)(nil)

// Table implements sqltable.Conn: the cached metadata of table, read on first use (every
// operation on a table starts here, so it counts the operation for the status command).
func (db *database) Table(ctx context.Context, table string) (*tableMeta, error) {
	db.queries.Add(1)
	return db.table(ctx, table)
}

func (db *database) table(ctx context.Context, table string) (*tableMeta, error) {
	key := strings.ToLower(table)
	if m, ok := db.meta.Lookup(key); ok {
		return m, nil
	}
	rows, err := db.db.QueryContext(ctx, "SELECT name, type FROM pragma_table_info(?)", table)
	if err != nil {
		return nil, db.fail(err)
	}
	defer rows.Close()
	m := &tableMeta{}
	var names, idents, sel []string
	for rows.Next() {
		var c column
		if err := rows.Scan(&c.name, &c.typ); err != nil {
			return nil, db.fail(err)
		}
		c.typ = strings.ToUpper(strings.TrimSpace(c.typ))
		q := quoteIdent(c.name)
		s := q
		switch c.typ {
		case "DATE", "DATETIME", "TIMESTAMP":
			// modernc.org/sqlite turns these into time.Time; we want the text as stored.
			s = "CAST(" + q + " AS TEXT)"
		}
		m.cols = append(m.cols, c)
		names, idents, sel = append(names, c.name), append(idents, q), append(sel, s)
	}
	if err := rows.Err(); err != nil {
		return nil, db.fail(err)
	}
	if len(m.cols) == 0 {
		return nil, fmt.Errorf("sqlite3 [%s]: no table %q in %s", db.name, table, db.path)
	}
	m.Columns = sqltable.NewSelect("sqlite3", table, quoteIdent(table), names, idents, sel)
	return db.meta.Store(key, m), nil
}

// Select implements sqltable.Conn.
func (db *database) Select(ctx context.Context, m *tableMeta, query string, args []any, one bool) ([]realtime.Row, error) {
	st, err := db.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, db.fail(err)
	}
	defer rows.Close()
	raw, ptrs := scanBuffers(m.Len())
	var out []realtime.Row
	for rows.Next() {
		r, err := scanRow(rows, m, raw, ptrs)
		if err != nil {
			return nil, db.fail(err)
		}
		out = append(out, r)
		if one {
			break
		}
	}
	if err := rows.Err(); err != nil {
		return nil, db.fail(err)
	}
	return out, nil
}

// Exec implements sqltable.Conn.
func (db *database) Exec(ctx context.Context, _ *tableMeta, _, query string, args []any) (int64, error) {
	st, err := db.stmt(ctx, query)
	if err != nil {
		return 0, err
	}
	return db.affected(st.ExecContext(ctx, args...))
}

// affected is the number of rows a statement changed, errors classified by fail.
func (db *database) affected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, db.fail(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, db.fail(err)
	}
	return n, nil
}

func (d *Driver) prep(ctx context.Context, dbName, table string) (*database, *tableMeta, error) {
	db, err := d.get(dbName)
	if err != nil {
		return nil, nil, err
	}
	m, err := db.Table(ctx, table)
	if err != nil {
		return nil, nil, err
	}
	return db, m, nil
}

// scanRow reads the current row of rows (columns of m, in order) into a realtime.Row, NULL and
// empty columns left out, values decoded.
func scanRow(rows *sql.Rows, m *tableMeta, raw []sql.RawBytes, ptrs []any) (realtime.Row, error) {
	if err := rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	n := 0
	for _, r := range raw {
		if len(r) > 0 {
			n++
		}
	}
	row := make(realtime.Row, 0, n)
	for i, r := range raw {
		if len(r) == 0 {
			continue
		}
		row = append(row, realtime.Field{Name: m.cols[i].name, Value: realtime.DecodeValue(string(r))})
	}
	return row, nil
}

func scanBuffers(n int) ([]sql.RawBytes, []any) {
	raw := make([]sql.RawBytes, n)
	ptrs := make([]any, n)
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	return raw, ptrs
}

// Load returns the first row matching fields.
func (d *Driver) Load(ctx context.Context, dbName, table string, fields []realtime.Field) (realtime.Row, error) {
	db, err := d.get(dbName)
	if err != nil {
		return nil, err
	}
	return sqltable.Load(ctx, "sqlite3", db, table, fields)
}

// LoadMulti returns every row matching fields, ordered by the first field's column.
func (d *Driver) LoadMulti(ctx context.Context, dbName, table string, fields []realtime.Field) ([]realtime.Row, error) {
	db, err := d.get(dbName)
	if err != nil {
		return nil, err
	}
	return sqltable.LoadMulti(ctx, "sqlite3", db, table, fields)
}

// Update sets fields on the rows where keyField = keyValue.
func (d *Driver) Update(ctx context.Context, dbName, table, keyField, keyValue string, fields []realtime.Field) (int64, error) {
	return d.Update2(ctx, dbName, table, []realtime.Field{{Name: keyField, Value: keyValue}}, fields)
}

// Update2 sets update on the rows matching every lookup field.
func (d *Driver) Update2(ctx context.Context, dbName, table string, lookup, update []realtime.Field) (int64, error) {
	db, err := d.get(dbName)
	if err != nil {
		return 0, err
	}
	return sqltable.Update(ctx, "sqlite3", db, table, lookup, update)
}

// Store inserts one row.
func (d *Driver) Store(ctx context.Context, dbName, table string, fields []realtime.Field) (int64, error) {
	db, err := d.get(dbName)
	if err != nil {
		return 0, err
	}
	return sqltable.Store(ctx, "sqlite3", db, table, fields)
}

// Destroy deletes the rows where keyField = keyValue and every other field matches.
func (d *Driver) Destroy(ctx context.Context, dbName, table, keyField, keyValue string, fields []realtime.Field) (int64, error) {
	db, err := d.get(dbName)
	if err != nil {
		return 0, err
	}
	return sqltable.Destroy(ctx, db, table, keyField, keyValue, fields)
}

// Require checks that the table has the columns reqs name, and per requirements= warns about
// (and reports) a missing one or adds it. SQLite enforces no sizes or types: an existing column
// is never changed.
func (d *Driver) Require(ctx context.Context, dbName, table string, reqs []realtime.Requirement) error {
	db, err := d.get(dbName)
	if err != nil {
		return err
	}
	return sqltable.Require(ctx, d.log, "sqlite3", db, table, "["+db.name+"]", db.requirements, reqs)
}

var _ sqltable.Schema[*tableMeta] = (*database)(nil)

// AddColumn implements sqltable.Schema.
func (db *database) AddColumn(m *tableMeta, r realtime.Requirement, policy string) string {
	return "ALTER TABLE " + m.TableIdent() + " ADD COLUMN " + quoteIdent(r.Name) + " " + sqlType(r, policy)
}

// Check implements sqltable.Schema: nothing to check.
func (db *database) Check(*tableMeta, int, realtime.Requirement, string) string { return "" }

// Alter implements sqltable.Schema.
func (db *database) Alter(ctx context.Context, m *tableMeta, stmt string) error {
	if _, err := db.db.ExecContext(ctx, stmt); err != nil {
		return db.fail(fmt.Errorf("changing %s: %w", m.Table(), err))
	}
	return nil
}

// Forget implements sqltable.Schema.
func (db *database) Forget(table string) { db.forget(table) }

func sqlType(r realtime.Requirement, mode string) string {
	char := "TEXT"
	if r.Size > 0 {
		char = fmt.Sprintf("VARCHAR(%d)", r.Size)
	}
	if mode == sqlpool.RequireCreateChar {
		return char
	}
	switch r.Type {
	case realtime.TypeInteger, realtime.TypeUnsignedInteger:
		return "INTEGER"
	case realtime.TypeFloat:
		return "REAL"
	case realtime.TypeDate:
		return "DATE"
	case realtime.TypeDateTime:
		return "DATETIME"
	}
	return char
}

// Unload forgets the cached column metadata (and prepared statements) of the table.
func (d *Driver) Unload(ctx context.Context, dbName, table string) error {
	db, err := d.get(dbName)
	if err != nil {
		return err
	}
	db.forget(table)
	return nil
}

func (db *database) forget(table string) {
	db.meta.Forget(strings.ToLower(table))
	db.dropStmts()
}

// StaticLoad returns the uncommented rows of filename, ordered cat_metric DESC, var_metric
// ASC, category, var_name. Values are returned as stored (static mode never decoded ^XX in
// Asterisk either).
func (d *Driver) StaticLoad(ctx context.Context, dbName, table, filename string) ([]realtime.StaticRow, error) {
	db, m, err := d.prep(ctx, dbName, table)
	if err != nil {
		return nil, err
	}
	for _, c := range []string{"cat_metric", "var_metric", "commented", "filename", "category", "var_name", "var_val"} {
		if _, err := m.Index(c); err != nil {
			return nil, fmt.Errorf("sqlite3: %s is not a static-mode table: %w", table, err)
		}
	}
	q := "SELECT cat_metric, var_metric, category, var_name, var_val FROM " + m.TableIdent() +
		" WHERE filename = ? AND commented = 0 ORDER BY cat_metric DESC, var_metric ASC, category, var_name"
	st, err := db.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, filename)
	if err != nil {
		return nil, db.fail(err)
	}
	defer rows.Close()
	out := []realtime.StaticRow{}
	for rows.Next() {
		var cm, vm sql.NullInt64
		var cat, name, val sql.NullString
		if err := rows.Scan(&cm, &vm, &cat, &name, &val); err != nil {
			return nil, db.fail(err)
		}
		out = append(out, realtime.StaticRow{CatMetric: int(cm.Int64), VarMetric: int(vm.Int64),
			Category: cat.String, Name: name.String, Value: val.String})
	}
	if err := rows.Err(); err != nil {
		return nil, db.fail(err)
	}
	return out, nil
}

// DBStatus is what `realtime show sqlite3 status` shows for one database.
type DBStatus struct {
	Name         string
	Path         string
	Requirements string
	MaxOpen      int
	Open         int
	InUse        int
	Idle         int
	Queries      uint64
	Errors       uint64
	LastError    string
	LastErrorAt  time.Time
}

// Status returns the state of every configured database, sorted by name.
func (d *Driver) Status() []DBStatus {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := make([]DBStatus, 0, len(d.dbs))
	for _, db := range d.dbs {
		st := db.db.Stats()
		s := DBStatus{Name: db.name, Path: db.path, Requirements: db.requirements, MaxOpen: st.MaxOpenConnections,
			Open: st.OpenConnections, InUse: st.InUse, Idle: st.Idle, Queries: db.queries.Load(), Errors: db.errors.Load()}
		if e := db.lastErr.Load(); e != nil {
			s.LastError, s.LastErrorAt = e.err, e.at
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b DBStatus) int { return strings.Compare(a.Name, b.Name) })
	return out
}
