package unixodbc

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
)

// Driver is the database/sql driver; the name of a connection is an ODBC connection string
// ("DSN=asterisk;" or "Driver=PostgreSQL Unicode;Server=...;"). It is registered as "odbc".
type Driver struct{}

var (
	_ driver.Driver        = Driver{}
	_ driver.DriverContext = Driver{}
)

func init() { sql.Register("odbc", Driver{}) }

// Open connects with SQLDriverConnect.
func (Driver) Open(connStr string) (driver.Conn, error) {
	return Connector{ConnStr: connStr}.Connect(context.Background())
}

// OpenConnector returns a Connector for connStr.
func (Driver) OpenConnector(connStr string) (driver.Connector, error) {
	return Connector{ConnStr: connStr}, nil
}

// Connector makes connections to one connection string.
type Connector struct{ ConnStr string }

// Driver returns Driver{}.
func (Connector) Driver() driver.Driver { return Driver{} }

// Connect loads the driver manager (first use) and connects. SQLDriverConnect cannot be
// interrupted: ctx is only checked before it starts.
func (k Connector) Connect(ctx context.Context) (driver.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l, err := loadLib(LibraryName())
	if err != nil {
		return nil, err
	}
	c := &conn{l: l}
	if err := l.check(l.call(l.allocHandle, sqlHandleDbc, l.env, ptr(&c.h)), "SQLAllocHandle(DBC)", sqlHandleEnv, l.env); err != nil {
		return nil, err
	}
	c.sbuf = append(appendUTF16(c.sbuf, k.ConnStr), 0)
	if len(c.sbuf) > 32767 { // SQLSMALLINT
		l.call(l.freeHandle, sqlHandleDbc, c.h)
		return nil, errors.New("odbc: connection string longer than 32766 characters")
	}
	ret := l.call(l.driverConnect, c.h, 0, ptr(&c.sbuf[0]), uintptr(len(c.sbuf)-1), 0, 0, ptr(&c.out16), sqlDriverNoPrompt)
	if err := l.check(ret, "SQLDriverConnect", sqlHandleDbc, c.h); err != nil {
		l.call(l.freeHandle, sqlHandleDbc, c.h)
		return nil, err
	}
	return c, nil
}

// conn is one ODBC connection. database/sql never uses it from two goroutines at once, except
// for the SQLCancel a cancelled context sends.
type conn struct {
	l   *lib
	h   uintptr
	bad bool
	tx  bool

	sbuf  []uint16     // the statement text as UTF-16, reused
	out16 int16        // an output argument
	names []cachedName // column names of recent result sets (colName)
	scr   *scratch     // where results are read
}

var (
	_ driver.Conn               = (*conn)(nil)
	_ driver.QueryerContext     = (*conn)(nil)
	_ driver.ExecerContext      = (*conn)(nil)
	_ driver.ConnBeginTx        = (*conn)(nil)
	_ driver.ConnPrepareContext = (*conn)(nil)
	_ driver.Validator          = (*conn)(nil)
	_ driver.SessionResetter    = (*conn)(nil)
	_ driver.NamedValueChecker  = (*conn)(nil)
)

func (c *conn) Close() error {
	if c.h == 0 {
		return nil
	}
	l, h := c.l, c.h
	c.h = 0
	var err error
	if c.tx {
		l.call(l.endTran, sqlHandleDbc, h, sqlRollback)
	}
	if ret := l.call(l.disconnect, h); !ok(ret) && !c.bad {
		err = l.check(ret, "SQLDisconnect", sqlHandleDbc, h)
	}
	l.call(l.freeHandle, sqlHandleDbc, h)
	return err
}

func (c *conn) IsValid() bool { return !c.bad && c.h != 0 }

func (c *conn) ResetSession(context.Context) error {
	if c.bad {
		return driver.ErrBadConn
	}
	return nil
}

// noteErr marks the connection broken when err says it is.
func (c *conn) noteErr(err error) error {
	if errors.Is(err, driver.ErrBadConn) {
		c.bad = true
	}
	return err
}

// CheckNamedValue accepts what database/sql's default converter makes; it is here so that
// nil, []byte and time.Time need no second conversion.
func (c *conn) CheckNamedValue(nv *driver.NamedValue) error {
	if nv.Name != "" {
		return fmt.Errorf("odbc: named parameter %q: ODBC has only positional ones (?)", nv.Name)
	}
	v, err := driver.DefaultParameterConverter.ConvertValue(nv.Value)
	if err != nil {
		return err
	}
	nv.Value = v
	return nil
}

// Prepare returns a statement that is sent when it is executed (SQLExecDirect with bound
// parameters): nothing is gained from a server round trip now for the one-shot statements
// database/sql prepares.
func (c *conn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	if c.bad {
		return nil, driver.ErrBadConn
	}
	return &stmt{c: c, query: query}, nil
}

func (c *conn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

// BeginTx turns autocommit off (and sets the isolation level and access mode asked for);
// Commit or Rollback ends the transaction with SQLEndTran and turns autocommit back on.
func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if c.bad {
		return nil, driver.ErrBadConn
	}
	if c.tx {
		return nil, errors.New("odbc: a transaction is already open on this connection")
	}
	l := c.l
	setAttr := func(attr, val uintptr, what string) error {
		return c.noteErr(l.check(l.call(l.setConnectAttr, c.h, attr, val, 0), "SQLSetConnectAttr("+what+")", sqlHandleDbc, c.h))
	}
	if opts.Isolation != driver.IsolationLevel(sql.LevelDefault) {
		var lv uintptr
		switch sql.IsolationLevel(opts.Isolation) {
		case sql.LevelReadUncommitted:
			lv = sqlTxnReadUncommitted
		case sql.LevelReadCommitted:
			lv = sqlTxnReadCommitted
		case sql.LevelRepeatableRead:
			lv = sqlTxnRepeatableRead
		case sql.LevelSerializable:
			lv = sqlTxnSerializable
		default:
			return nil, fmt.Errorf("odbc: isolation level %v not supported", sql.IsolationLevel(opts.Isolation))
		}
		if err := setAttr(sqlAttrTxnIsol, lv, "TXN_ISOLATION"); err != nil {
			return nil, err
		}
	}
	if opts.ReadOnly {
		if err := setAttr(sqlAttrAccessMode, sqlModeReadOnly, "ACCESS_MODE"); err != nil {
			return nil, err
		}
	}
	if err := setAttr(sqlAttrAutocommit, sqlAutocommitOff, "AUTOCOMMIT"); err != nil {
		return nil, err
	}
	c.tx = true
	return &tx{c: c, readOnly: opts.ReadOnly}, nil
}

type tx struct {
	c        *conn
	readOnly bool
}

func (t *tx) Commit() error   { return t.end(sqlCommit, "SQLEndTran(COMMIT)") }
func (t *tx) Rollback() error { return t.end(sqlRollback, "SQLEndTran(ROLLBACK)") }

func (t *tx) end(how uintptr, what string) error {
	c := t.c
	if !c.tx {
		return errors.New("odbc: transaction already ended")
	}
	c.tx = false
	l := c.l
	err := c.noteErr(l.check(l.call(l.endTran, sqlHandleDbc, c.h, how), what, sqlHandleDbc, c.h))
	if e := l.check(l.call(l.setConnectAttr, c.h, sqlAttrAutocommit, sqlAutocommitOn, 0), "SQLSetConnectAttr(AUTOCOMMIT)", sqlHandleDbc, c.h); e != nil {
		c.bad = true // the next statement would silently run in a transaction
		if err == nil {
			err = e
		}
	}
	if t.readOnly {
		l.call(l.setConnectAttr, c.h, sqlAttrAccessMode, sqlModeReadWrite, 0)
	}
	return err
}
