package odbc

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/realtime"
	"github.com/pleiades-pbx/pleiades/internal/realtime/odbc/unixodbc"
)

// odbcDriver is the cgo-free database/sql driver over unixODBC's libodbc.so.2, loaded at run
// time (package unixodbc); it also registers itself with database/sql as "odbc".
var odbcDriver driver.Driver = unixodbc.Driver{}

// timeNow is the clock of the negative connection cache (tests replace it).
var timeNow = time.Now

// sanityIdle is how long a pooled connection may sit idle before sanitysql is run on it again
// when it is taken from the pool.
const sanityIdle = 30 * time.Second

// dialect is what was learnt about the database behind a connection on its first connect.
type dialect struct {
	quote      byte   // identifier quote: '"' or '`'
	backslash  bool   // a backslash escapes in string literals (MySQL/MariaDB)
	schemaExpr string // SQL expression for the current schema, for information_schema ("" unknown)
}

// escapeClause is the ESCAPE clause naming the backslash, written for the database's literals.
func (d *dialect) escapeClause() string {
	if d.backslash {
		return ` ESCAPE '\\'`
	}
	return ` ESCAPE '\'`
}

func (d *dialect) quoteIdent(s string) string {
	q := string(d.quote)
	return q + strings.ReplaceAll(s, q, q+q) + q
}

// conn is one res_odbc.conf connection (Asterisk's "class"): a database/sql pool.
type conn struct {
	cfg *connConfig
	log *slog.Logger
	db  *sql.DB

	dialect atomic.Pointer[dialect]

	stateMu      sync.Mutex
	negUntil     time.Time // no connect attempts before this
	lastFail     time.Time
	lastErr      string
	lastErrAt    time.Time
	attempts     atomic.Int64 // connect attempts that reached the ODBC driver
	failures     atomic.Int64
	fastFailures atomic.Int64 // attempts refused by the negative cache

	metaMu sync.Mutex
	meta   map[string]*tableMeta

	// logging=yes
	queries     atomic.Int64
	longestMu   sync.Mutex
	longestSQL  string
	longestTime time.Duration
}

func newConn(cfg *connConfig, log *slog.Logger) *conn {
	c := &conn{cfg: cfg, log: log.With("connection", cfg.Name), meta: map[string]*tableMeta{}}
	c.db = sql.OpenDB(&connector{c: c})
	c.db.SetMaxOpenConns(cfg.MaxConnections)
	idle := cfg.MaxConnections
	if cfg.CacheSize >= 0 && cfg.CacheSize < idle {
		idle = cfg.CacheSize
	}
	if idle == 0 {
		idle = -1 // database/sql: <0 keeps no idle connection (0 would mean its default of 2)
	}
	c.db.SetMaxIdleConns(idle)
	return c
}

func (c *conn) close() error { return c.db.Close() }

// unavailable builds an error wrapping realtime.ErrUnavailable.
func (c *conn) unavailable(format string, args ...any) error {
	return &unavailableError{msg: fmt.Sprintf("odbc: [%s] ", c.cfg.Name) + fmt.Sprintf(format, args...)}
}

type unavailableError struct{ msg string }

func (e *unavailableError) Error() string { return e.msg }
func (e *unavailableError) Unwrap() error { return realtime.ErrUnavailable }

// recordFailure notes a failed connect and starts the negative connection cache.
func (c *conn) recordFailure(err error) {
	now := timeNow()
	c.failures.Add(1)
	c.stateMu.Lock()
	c.lastFail = now
	c.lastErr = err.Error()
	c.lastErrAt = now
	if c.cfg.NegativeCache > 0 {
		c.negUntil = now.Add(c.cfg.NegativeCache)
	}
	c.stateMu.Unlock()
	c.log.Warn("odbc connect failed", "error", err, "retry_after", c.cfg.NegativeCache)
}

// recordError notes an error seen on an established connection (for "odbc show").
func (c *conn) recordError(err error) {
	c.stateMu.Lock()
	c.lastErr = err.Error()
	c.lastErrAt = time.Now()
	c.stateMu.Unlock()
}

// connector opens ODBC connections for a conn's pool: it applies connect_timeout, the negative
// connection cache and sanitysql, and detects the dialect on the first connect.
type connector struct{ c *conn }

func (k *connector) Driver() driver.Driver { return odbcDriver }

func (k *connector) Connect(ctx context.Context) (driver.Conn, error) {
	c := k.c
	c.stateMu.Lock()
	until := c.negUntil
	c.stateMu.Unlock()
	if timeNow().Before(until) {
		c.fastFailures.Add(1)
		return nil, c.unavailable("not connecting until %s (negative_connection_cache after: %s)",
			until.Format("2006-01-02 15:04:05"), c.lastError())
	}
	c.attempts.Add(1)
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ConnectTimeout)
	defer cancel()
	type result struct {
		dc  driver.Conn
		err error
	}
	ch := make(chan result, 1)
	cs := c.cfg.connectString()
	go func() {
		dc, err := odbcDriver.Open(cs)
		ch <- result{dc, err}
	}()
	var dc driver.Conn
	select {
	case r := <-ch:
		if r.err != nil {
			err := c.unavailable("connect: %v", r.err)
			c.recordFailure(err)
			return nil, err
		}
		dc = r.dc
	case <-ctx.Done():
		go func() { // the ODBC call cannot be interrupted: close what it eventually returns
			if r := <-ch; r.dc != nil {
				r.dc.Close()
			}
		}()
		if parent.Err() != nil { // the caller gave up: says nothing about the database
			return nil, parent.Err()
		}
		err := c.unavailable("connect: %v (connect_timeout %s)", ctx.Err(), c.cfg.ConnectTimeout)
		c.recordFailure(err)
		return nil, err
	}
	w := &wrappedConn{Conn: dc, c: c, last: time.Now()}
	if err := w.sanity(ctx); err != nil {
		dc.Close()
		if parent.Err() != nil {
			return nil, parent.Err()
		}
		err = c.unavailable("sanitysql %q: %v", c.cfg.SanitySQL, err)
		c.recordFailure(err)
		return nil, err
	}
	if c.dialect.Load() == nil {
		c.dialect.Store(detectDialect(ctx, dc, c.cfg))
	}
	c.stateMu.Lock()
	c.negUntil = time.Time{}
	c.stateMu.Unlock()
	return w, nil
}

func (c *conn) lastError() string {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	return c.lastErr
}

// wrappedConn is an ODBC connection that re-checks itself with sanitysql when it is reused after
// sitting idle.
type wrappedConn struct {
	driver.Conn
	c    *conn
	last time.Time
}

var (
	_ driver.QueryerContext  = (*wrappedConn)(nil)
	_ driver.SessionResetter = (*wrappedConn)(nil)
)

func (w *wrappedConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	w.last = time.Now()
	if q, ok := w.Conn.(driver.QueryerContext); ok {
		return q.QueryContext(ctx, query, args)
	}
	return nil, driver.ErrSkip
}

func (w *wrappedConn) Prepare(query string) (driver.Stmt, error) {
	w.last = time.Now()
	return w.Conn.Prepare(query)
}

// ResetSession runs before database/sql reuses the connection.
func (w *wrappedConn) ResetSession(ctx context.Context) error {
	if time.Since(w.last) < sanityIdle {
		return nil
	}
	if err := w.sanity(ctx); err != nil {
		w.c.log.Info("odbc connection failed its sanity check; reconnecting", "error", err)
		return driver.ErrBadConn
	}
	return nil
}

func (w *wrappedConn) sanity(ctx context.Context) error {
	w.last = time.Now()
	if w.c.cfg.SanitySQL == "" {
		return nil
	}
	_, err := queryFirst(ctx, w.Conn, w.c.cfg.SanitySQL)
	return err
}

// queryFirst runs q on a raw driver connection and returns the first column of its first row.
func queryFirst(ctx context.Context, dc driver.Conn, q string) (driver.Value, error) {
	qc, ok := dc.(driver.QueryerContext)
	if !ok {
		return nil, errors.New("driver cannot query")
	}
	rows, err := qc.QueryContext(ctx, q, nil)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	dest := make([]driver.Value, len(rows.Columns()))
	if len(dest) == 0 {
		return nil, nil
	}
	if err := rows.Next(dest); err != nil {
		if err == io.EOF {
			return nil, nil
		}
		return nil, err
	}
	return dest[0], nil
}

// detectDialect learns the identifier quote, whether backslashes escape in literals (unless
// backslash_is_escape says) and how to name the current schema. Each probe that fails falls back
// to the standard SQL answer.
func detectDialect(ctx context.Context, dc driver.Conn, cfg *connConfig) *dialect {
	d := &dialect{quote: '"'}
	if _, err := queryFirst(ctx, dc, "SELECT 1 AS `x`"); err == nil {
		d.quote = '`'
	}
	switch cfg.BackslashEsc {
	case triYes:
		d.backslash = true
	case triNo:
		d.backslash = false
	default:
		// '\\' is one character where backslash escapes, two where literals are standard.
		if v, err := queryFirst(ctx, dc, `SELECT '\\'`); err == nil {
			d.backslash = len(valueString(v)) == 1
		} else {
			d.backslash = true // Asterisk's default
		}
	}
	for _, expr := range []string{"current_schema()", "DATABASE()", "SCHEMA_NAME()"} {
		if v, err := queryFirst(ctx, dc, "SELECT "+expr); err == nil && v != nil {
			d.schemaExpr = expr
			break
		}
	}
	return d
}

// isConnError reports whether err means the connection itself is broken.
func isConnError(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, realtime.ErrUnavailable) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) {
		return true
	}
	var oe *unixodbc.Error
	if errors.As(err, &oe) {
		for _, d := range oe.Diag {
			if strings.HasPrefix(d.State, "08") {
				return true
			}
			switch d.NativeError {
			case 2006, 2013, 2055: // MySQL client: server has gone away, lost connection
				return true
			}
		}
	}
	return false
}

// stats is a snapshot for "odbc show".
type connStats struct {
	open, inUse, max int
	attempts, fails  int64
	lastFail         time.Time
	lastErr          string
	lastErrAt        time.Time
	negUntil         time.Time
	queries          int64
	longestSQL       string
	longestTime      time.Duration
}

func (c *conn) stats() connStats {
	st := c.db.Stats()
	s := connStats{open: st.OpenConnections, inUse: st.InUse, max: c.cfg.MaxConnections,
		attempts: c.attempts.Load(), fails: c.failures.Load(), queries: c.queries.Load()}
	c.stateMu.Lock()
	s.lastFail, s.lastErr, s.lastErrAt, s.negUntil = c.lastFail, c.lastErr, c.lastErrAt, c.negUntil
	c.stateMu.Unlock()
	c.longestMu.Lock()
	s.longestSQL, s.longestTime = c.longestSQL, c.longestTime
	c.longestMu.Unlock()
	return s
}
