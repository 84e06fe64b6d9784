package unixodbc

import (
	"context"
	"database/sql/driver"
	"fmt"
	"math"
	"sync"
	"time"
	"unsafe"
)

// stmt is a statement text; every Exec or Query runs it on a fresh statement handle.
type stmt struct {
	c     *conn
	query string
}

var (
	_ driver.Stmt             = (*stmt)(nil)
	_ driver.StmtQueryContext = (*stmt)(nil)
	_ driver.StmtExecContext  = (*stmt)(nil)
)

func (s *stmt) Close() error  { return nil }
func (s *stmt) NumInput() int { return -1 }

func (s *stmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.c.ExecContext(context.Background(), s.query, named(args))
}

func (s *stmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.c.QueryContext(context.Background(), s.query, named(args))
}

func (s *stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return s.c.ExecContext(ctx, s.query, args)
}

func (s *stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return s.c.QueryContext(ctx, s.query, args)
}

func named(args []driver.Value) []driver.NamedValue {
	nv := make([]driver.NamedValue, len(args))
	for i, a := range args {
		nv[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}
	return nv
}

// param is the memory of one bound parameter; it stays referenced (so in place) until the
// statement handle is freed.
type param struct {
	ind  int // StrLen_or_IndPtr (SQLLEN)
	i64  int64
	f64  float64
	bit  byte
	ts   sqlTimestampStruct
	wbuf []uint16
	bbuf []byte
}

// handle is one statement handle on its way through a query or an exec.
type handle struct {
	c      *conn
	h      uintptr
	params []param
	count  int // SQLRowCount's answer

	cancelMu sync.Mutex // guards h against a concurrent SQLCancel
	stop     func() bool
}

// run allocates a statement handle, binds args and executes query. On error the handle is
// already freed.
func (c *conn) run(ctx context.Context, query string, args []driver.NamedValue) (*handle, error) {
	if c.bad {
		return nil, driver.ErrBadConn
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l := c.l
	hs := &handle{c: c}
	if err := c.noteErr(l.check(l.call(l.allocHandle, sqlHandleStmt, c.h, ptr(&hs.h)), "SQLAllocHandle(STMT)", sqlHandleDbc, c.h)); err != nil {
		return nil, err
	}
	if len(args) > 0 {
		hs.params = make([]param, len(args))
		for i := range args {
			if err := hs.bind(i, args[i].Value); err != nil {
				hs.free()
				return nil, err
			}
		}
	}
	c.sbuf = append(appendUTF16(c.sbuf[:0], query), 0)
	if ctx.Done() != nil {
		hs.stop = context.AfterFunc(ctx, func() {
			hs.cancelMu.Lock()
			if hs.h != 0 {
				l.call(l.cancel, hs.h)
			}
			hs.cancelMu.Unlock()
		})
	}
	ret := l.call(l.execDirect, hs.h, uintptr(unsafe.Pointer(&c.sbuf[0])), uintptr(len(c.sbuf)-1))
	if ret != sqlNoData { // SQL_NO_DATA: a searched UPDATE or DELETE that matched nothing
		if err := l.check(ret, "SQLExecDirect", sqlHandleStmt, hs.h); err != nil {
			hs.free()
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%w (%v)", ctx.Err(), err)
			}
			return nil, c.noteErr(err)
		}
	}
	return hs, nil
}

// free releases the statement handle (waiting for a SQLCancel in progress).
func (hs *handle) free() {
	if hs.stop != nil {
		hs.stop()
	}
	hs.cancelMu.Lock()
	h := hs.h
	hs.h = 0
	hs.cancelMu.Unlock()
	if h != 0 {
		hs.c.l.call(hs.c.l.freeHandle, sqlHandleStmt, h)
	}
	hs.params = nil
}

// bind binds args[i] (a value database/sql's default converter made) as input parameter i+1.
func (hs *handle) bind(i int, v driver.Value) error {
	p := &hs.params[i]
	var ctype, sqltype int16
	var size uintptr
	var digits int16
	var buf uintptr
	var buflen int
	switch v := v.(type) {
	case nil:
		ctype, sqltype, size = sqlCWChar, sqlWVarchar, 1
		p.wbuf = []uint16{0}
		buf, p.ind = uintptr(unsafe.Pointer(&p.wbuf[0])), sqlNullData
	case string:
		p.wbuf = append(appendUTF16(make([]uint16, 0, len(v)+1), v), 0)
		n := len(p.wbuf) - 1
		ctype, sqltype, size = sqlCWChar, sqlWVarchar, uintptr(max(n, 1))
		if n > 4000 {
			sqltype = sqlWLongVarchar
		}
		buf, buflen, p.ind = uintptr(unsafe.Pointer(&p.wbuf[0])), 2*len(p.wbuf), 2*n
	case []byte:
		p.bbuf = append(make([]byte, 0, len(v)+1), v...)
		p.bbuf = append(p.bbuf, 0) // never a nil pointer, even for an empty value
		ctype, sqltype, size = sqlCBinary, sqlVarbinary, uintptr(max(len(v), 1))
		if len(v) > 8000 {
			sqltype = sqlLongVarbinary
		}
		buf, buflen, p.ind = uintptr(unsafe.Pointer(&p.bbuf[0])), len(v), len(v)
	case int64:
		p.i64 = v
		ctype, sqltype, size = sqlCSBigint, sqlBigint, 19
		buf, buflen = uintptr(unsafe.Pointer(&p.i64)), 8
	case float64:
		p.f64 = v
		ctype, sqltype, size = sqlCDouble, sqlDouble, 15
		buf, buflen = uintptr(unsafe.Pointer(&p.f64)), 8
	case bool:
		if v {
			p.bit = 1
		}
		ctype, sqltype, size = sqlCBit, sqlBit, 1
		buf, buflen = uintptr(unsafe.Pointer(&p.bit)), 1
	case time.Time:
		p.ts = sqlTimestampStruct{Year: int16(v.Year()), Month: uint16(v.Month()), Day: uint16(v.Day()),
			Hour: uint16(v.Hour()), Minute: uint16(v.Minute()), Second: uint16(v.Second()),
			Fraction: uint32(v.Nanosecond() / 1000 * 1000)}
		ctype, sqltype, size, digits = sqlCTypeTimestamp, sqlTypeTimestamp, 26, 6
		buf, buflen = uintptr(unsafe.Pointer(&p.ts)), int(unsafe.Sizeof(p.ts))
	default:
		return fmt.Errorf("odbc: parameter %d: unsupported type %T", i+1, v)
	}
	if size > math.MaxInt32 {
		return fmt.Errorf("odbc: parameter %d too long", i+1)
	}
	l := hs.c.l
	ret := l.call(l.bindParameter, hs.h, uintptr(i+1), sqlParamInput, uintptr(ctype), uintptr(sqltype),
		size, uintptr(digits), buf, uintptr(buflen), uintptr(unsafe.Pointer(&p.ind)))
	return hs.c.noteErr(l.check(ret, fmt.Sprintf("SQLBindParameter(%d)", i+1), sqlHandleStmt, hs.h))
}

// ExecContext runs a statement and reports the rows it affected.
func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	hs, err := c.run(ctx, query, args)
	if err != nil {
		return nil, err
	}
	defer hs.free()
	l := c.l
	if err := c.noteErr(l.check(l.call(l.rowCount, hs.h, ptr(&hs.count)), "SQLRowCount", sqlHandleStmt, hs.h)); err != nil {
		return nil, err
	}
	n := hs.count
	if n < 0 {
		n = 0
	}
	return driver.RowsAffected(n), nil
}

// QueryContext runs a statement and returns its result set.
func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	hs, err := c.run(ctx, query, args)
	if err != nil {
		return nil, err
	}
	r, err := newRows(hs)
	if err != nil {
		hs.free()
		return nil, c.noteErr(err)
	}
	return r, nil
}
