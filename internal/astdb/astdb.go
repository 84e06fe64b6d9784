// Package astdb is Pleiades' internal database, the Go counterpart of Asterisk's main/db.c
// (the "AstDB"): a persistent family/key -> value store used by dialplan functions (DB(),
// DB_EXISTS(), DB_DELETE()), device state, call forwarding and the like.
//
// The store is a SQLite file laid out exactly as Asterisk's astdb.sqlite3:
//
//	CREATE TABLE astdb(key VARCHAR(256), value VARCHAR(256), PRIMARY KEY(key))
//
// where key is "/family/key". An operator can therefore point Pleiades at a file written by
// Asterisk (or open Pleiades' file with Asterisk or the sqlite3 shell). Open switches the file
// to WAL journalling, which Asterisk also reads.
//
// Unlike Asterisk, which batches writes and commits them from a sync thread once a second,
// every write here is its own transaction committed with synchronous=FULL: when Put, Del or
// DelTree returns, the change is on disk. Writes go through a single connection and are
// serialised; reads use a separate pool of read-only connections and run concurrently with
// writes. A DB is safe for concurrent use.
//
// Prefix matching (Show, DelTree, Family) is done with byte-wise range queries, so '_' and '%'
// in family and key names are literal, and matching is case-sensitive; Asterisk uses LIKE
// there, which treats those characters as wildcards and ignores ASCII case.
//
// Values are stored as TEXT and keep any bytes, including quotes, newlines, NUL and invalid
// UTF-8.
package astdb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"modernc.org/sqlite"
)

// FileName is the name of the database file in astdbdir, as in Asterisk.
const FileName = "astdb.sqlite3"

// ErrNotFound is returned by Get and Del for a family/key that has no entry.
var ErrNotFound = errors.New("astdb: entry not found")

// ErrNoFamily is returned by DelTree and Family when no family is given: as in Asterisk,
// deleting a tree needs a family.
var ErrNoFamily = errors.New("astdb: a family is required")

// ErrNotSelect is returned by Query for a statement that is not a read-only SELECT.
var ErrNotSelect = errors.New("astdb: only read-only SELECT statements are allowed")

// busyTimeoutMS is how long a statement waits for a lock held by another connection or
// process (an Asterisk sharing the file, a sqlite3 shell) before failing with SQLITE_BUSY.
const busyTimeoutMS = 5000

// Entry is one database entry.
type Entry struct {
	// Key is the full key, "/family/key" (for Family, the key part only).
	Key   string
	Value string
}

// DB is an open astdb file.
type DB struct {
	path string
	w    *sql.DB // exactly one connection: all writes, serialised
	r    *sql.DB // read-only connections (mode=ro, query_only, SELECT-only authorizer)

	get, put, del *sql.Stmt

	closeOnce sync.Once
	closeErr  error
}

// Open opens (creating the directory and the file as needed) the astdb file at path, normally
// filepath.Join(astdbdir, FileName).
func Open(path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("astdb: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("astdb: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o750); err != nil {
		return nil, fmt.Errorf("astdb: %w", err)
	}
	// A file: URI, so that '?', '#' and '%' in the path are escaped rather than taken for
	// the start of the DSN's parameters.
	uri := "file:" + (&url.URL{Path: abs}).EscapedPath()
	pragmas := fmt.Sprintf("_pragma=busy_timeout(%d)", busyTimeoutMS)

	db := &DB{path: abs}
	db.w, err = sql.Open("sqlite", uri+"?"+pragmas+"&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)")
	if err != nil {
		return nil, fmt.Errorf("astdb: open %s: %w", abs, err)
	}
	db.w.SetMaxOpenConns(1)
	db.w.SetMaxIdleConns(1)
	db.w.SetConnMaxLifetime(0)
	db.w.SetConnMaxIdleTime(0)
	ctx := context.Background()
	if _, err := db.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS astdb(key VARCHAR(256), value VARCHAR(256), PRIMARY KEY(key))`); err != nil {
		db.w.Close()
		return nil, fmt.Errorf("astdb: open %s: %w", abs, err)
	}

	// The readers only ever run SELECTs: the file is opened read-only, query_only is set and
	// an authorizer refuses anything but reading, so that "database query" cannot write even
	// through a multi-statement script or a PRAGMA.
	drv, ok := db.w.Driver().(*sqlite.Driver)
	if !ok {
		db.w.Close()
		return nil, fmt.Errorf("astdb: unexpected sqlite driver %T", db.w.Driver())
	}
	db.r = sql.OpenDB(&readConnector{drv: drv, dsn: uri + "?mode=ro&" + pragmas + "&_pragma=query_only(1)"})
	n := max(4, runtime.GOMAXPROCS(0))
	db.r.SetMaxOpenConns(n)
	db.r.SetMaxIdleConns(n)

	prep := func(dst **sql.Stmt, on *sql.DB, q string) {
		if err == nil {
			*dst, err = on.PrepareContext(ctx, q)
		}
	}
	prep(&db.get, db.r, `SELECT value FROM astdb WHERE key = ?`)
	prep(&db.put, db.w, `INSERT OR REPLACE INTO astdb (key, value) VALUES (?, ?)`)
	prep(&db.del, db.w, `DELETE FROM astdb WHERE key = ?`)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("astdb: open %s: %w", abs, err)
	}
	return db, nil
}

// readConnector opens read-only connections with a SELECT-only authorizer installed.
type readConnector struct {
	drv *sqlite.Driver
	dsn string
}

func (c *readConnector) Connect(ctx context.Context) (driver.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	reg, ok := conn.(sqlite.AuthorizerRegisterer)
	if !ok {
		conn.Close()
		return nil, errors.New("astdb: sqlite driver has no authorizer")
	}
	if err := reg.RegisterAuthorizer(readOnlyAuthorizer); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

func (c *readConnector) Driver() driver.Driver { return c.drv }

func readOnlyAuthorizer(action sqlite.AuthorizerActionCode, _, _, _, _ string) sqlite.AuthorizerReturnCode {
	switch action {
	case sqlite.AuthSelect, sqlite.AuthRead, sqlite.AuthFunction, sqlite.AuthRecursive:
		return sqlite.AuthorizerOK
	}
	return sqlite.AuthorizerDeny
}

// Path returns the absolute path of the database file.
func (db *DB) Path() string { return db.path }

// Close closes the database. Further calls fail.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		var errs []error
		for _, s := range []*sql.Stmt{db.get, db.put, db.del} {
			if s != nil {
				errs = append(errs, s.Close())
			}
		}
		if db.r != nil {
			errs = append(errs, db.r.Close())
		}
		errs = append(errs, db.w.Close())
		db.closeErr = errors.Join(errs...)
	})
	return db.closeErr
}

func fullKey(family, key string) string { return "/" + family + "/" + key }

// treePrefix is the key prefix Asterisk builds for a family and optional keytree.
func treePrefix(family, keytree string) string {
	if keytree == "" {
		return "/" + family
	}
	return fullKey(family, keytree)
}

// Get returns the value of family/key, or ErrNotFound.
func (db *DB) Get(family, key string) (string, error) {
	var v sql.NullString
	err := db.get.QueryRowContext(context.Background(), fullKey(family, key)).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("astdb: get: %w", err)
	}
	return v.String, nil
}

// Put adds or replaces family/key. The change is durable when Put returns.
// PutMany stores every key/value of family in one transaction: one disk flush for the lot.
func (db *DB) PutMany(family string, kv map[string]string) error {
	if len(kv) == 0 {
		return nil
	}
	ctx := context.Background()
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("astdb: put: %w", err)
	}
	st := tx.StmtContext(ctx, db.put)
	for k, v := range kv {
		if _, err := st.ExecContext(ctx, fullKey(family, k), v); err != nil {
			tx.Rollback()
			return fmt.Errorf("astdb: put: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("astdb: put: %w", err)
	}
	return nil
}

func (db *DB) Put(family, key, value string) error {
	if _, err := db.put.ExecContext(context.Background(), fullKey(family, key), value); err != nil {
		return fmt.Errorf("astdb: put: %w", err)
	}
	return nil
}

// Del removes family/key, or returns ErrNotFound.
func (db *DB) Del(family, key string) error {
	res, err := db.del.ExecContext(context.Background(), fullKey(family, key))
	if err != nil {
		return fmt.Errorf("astdb: del: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("astdb: del: %w", err)
	} else if n == 0 {
		return ErrNotFound
	}
	return nil
}

// treeWhere matches the key prefix itself and every key below it ("prefix/..."), comparing
// bytes: the range [prefix, prefix+"0") holds exactly those keys plus keys continuing with a
// byte below '/', which the second condition drops ('0' is the byte after '/').
const treeWhere = `key >= ?1 AND key < ?2 AND (key = ?1 OR key >= ?3)`

func treeArgs(prefix string) []any { return []any{prefix, prefix + "0", prefix + "/"} }

// DelTree removes family (keytree "") or family/keytree and every key below it, returning
// how many entries it removed. As in Asterisk a family is required (ErrNoFamily).
func (db *DB) DelTree(family, keytree string) (int, error) {
	if family == "" {
		return 0, ErrNoFamily
	}
	res, err := db.w.ExecContext(context.Background(), `DELETE FROM astdb WHERE `+treeWhere, treeArgs(treePrefix(family, keytree))...)
	if err != nil {
		return 0, fmt.Errorf("astdb: deltree: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("astdb: deltree: %w", err)
	}
	return int(n), nil
}

// Show returns the entries of family (all entries when family is ""), or of family/keytree
// and below when keytree is given, sorted by key. Keys are full "/family/key" keys. As in
// Asterisk, keytree is ignored when family is "", and family may itself hold a slash
// ("family/keytree").
func (db *DB) Show(family, keytree string) ([]Entry, error) {
	if family == "" {
		return db.entries(`SELECT key, value FROM astdb ORDER BY key`)
	}
	return db.entries(`SELECT key, value FROM astdb WHERE `+treeWhere+` ORDER BY key`, treeArgs(treePrefix(family, keytree))...)
}

// Family returns the entries of family with Key holding the key part only ("/family/key"
// gives "key"), sorted by key.
func (db *DB) Family(family string) ([]Entry, error) {
	if family == "" {
		return nil, ErrNoFamily
	}
	p := "/" + family + "/"
	es, err := db.entries(`SELECT key, value FROM astdb WHERE key >= ? AND key < ? ORDER BY key`, p, "/"+family+"0")
	for i := range es {
		es[i].Key = es[i].Key[len(p):]
	}
	return es, err
}

// ShowKey returns the entries whose key ends in "/"+keytree, whatever their family, sorted by
// key: Asterisk's "database showkey". The comparison is literal and case-sensitive.
func (db *DB) ShowKey(keytree string) ([]Entry, error) {
	suffix := "/" + keytree
	var out []Entry
	err := db.scan(func(key, value string) {
		if strings.HasSuffix(key, suffix) {
			out = append(out, Entry{Key: key, Value: value})
		}
	}, `SELECT key, value FROM astdb ORDER BY key`)
	return out, err
}

// Families returns the distinct family names (the first path element of each key), sorted.
func (db *DB) Families() ([]string, error) {
	seen := map[string]bool{}
	var out []string
	err := db.scan(func(key, _ string) {
		fam := strings.TrimPrefix(key, "/")
		if i := strings.IndexByte(fam, '/'); i >= 0 {
			fam = fam[:i]
		}
		if !seen[fam] {
			seen[fam] = true
			out = append(out, fam)
		}
	}, `SELECT key, NULL FROM astdb WHERE key >= '/' AND key < '0' ORDER BY key`)
	sort.Strings(out)
	return out, err
}

func (db *DB) entries(q string, args ...any) ([]Entry, error) {
	var out []Entry
	err := db.scan(func(key, value string) { out = append(out, Entry{Key: key, Value: value}) }, q, args...)
	return out, err
}

func (db *DB) scan(fn func(key, value string), q string, args ...any) error {
	rows, err := db.r.QueryContext(context.Background(), q, args...)
	if err != nil {
		return fmt.Errorf("astdb: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k, v sql.NullString
		if err := rows.Scan(&k, &v); err != nil {
			return fmt.Errorf("astdb: %w", err)
		}
		fn(k.String, v.String)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("astdb: %w", err)
	}
	return nil
}

// Query runs a read-only SELECT (or WITH ... SELECT) statement on the database and returns
// its column names and rows; a NULL is a zero sql.NullString. Anything else fails with
// ErrNotSelect, and the statement runs on a read-only connection whose authorizer refuses
// every operation but reading, so that a script smuggling a write after a SELECT fails too.
func (db *DB) Query(ctx context.Context, query string) ([]string, [][]sql.NullString, error) {
	switch firstWord(query) {
	case "SELECT", "WITH", "VALUES":
	default:
		return nil, nil, ErrNotSelect
	}
	rows, err := db.r.QueryContext(ctx, query)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, nil, err
	}
	var out [][]sql.NullString
	for rows.Next() {
		row := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range row {
			ptrs[i] = &row[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, nil, err
		}
		out = append(out, row)
	}
	return cols, out, rows.Err()
}

// firstWord returns the first SQL keyword of q in upper case, skipping white space,
// comments and opening parentheses.
func firstWord(q string) string {
	for {
		q = strings.TrimLeft(q, " \t\r\n\f(")
		switch {
		case strings.HasPrefix(q, "--"):
			if i := strings.IndexByte(q, '\n'); i >= 0 {
				q = q[i+1:]
				continue
			}
			return ""
		case strings.HasPrefix(q, "/*"):
			if i := strings.Index(q[2:], "*/"); i >= 0 {
				q = q[2+i+2:]
				continue
			}
			return ""
		}
		end := strings.IndexFunc(q, func(r rune) bool {
			return !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
		})
		if end < 0 {
			end = len(q)
		}
		return strings.ToUpper(q[:end])
	}
}
