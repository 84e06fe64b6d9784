package unixodbc

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

// column is one result column as SQLDescribeCol reports it.
type column struct {
	name     string
	sqlType  int16
	size     uint
	digits   int16
	nullable int16
	ctype    int16 // how its values are read (a C type)
}

// cTypeFor chooses how values of an SQL type are read. Character data is read as UTF-16
// (SQL_C_WCHAR), so the client locale never matters; exact numbers (DECIMAL, NUMERIC and
// BIGINT, which may be unsigned) as text; the rest in their binary C form.
func cTypeFor(sqlType int16) int16 {
	switch sqlType {
	case sqlBit:
		return sqlCBit
	case sqlTinyint, sqlSmallint, sqlInteger:
		return sqlCSBigint
	case sqlReal, sqlFloat, sqlDouble:
		return sqlCDouble
	case sqlBigint, sqlNumeric, sqlDecimal:
		return sqlCChar
	case sqlTypeDate, sqlDate:
		return sqlCTypeDate
	case sqlTypeTime, sqlTime:
		return sqlCTypeTime
	case sqlTypeTimestamp, sqlTimestamp:
		return sqlCTypeTimestamp
	case sqlBinary, sqlVarbinary, sqlLongVarbinary, sqlSSTime2:
		return sqlCBinary
	case sqlGUID:
		return sqlCGUID
	}
	return sqlCWChar // CHAR, VARCHAR, LONGVARCHAR, their W forms and anything unknown
}

// rows reads a result set with SQLFetch and SQLGetData. Values are read column by column into
// one reused buffer; long values come in several SQLGetData calls.
type rows struct {
	hs   *handle
	cols []column
	s    *scratch // the connection's
}

// scratch is the memory a connection reads results into, shared by its result sets (database/sql
// never reads two of them at once: each Next holds the connection).
type scratch struct {
	buf  []byte // SQLGetData target (8-byte aligned: it also holds structs)
	ind  int
	acc  []byte // accumulates a long value
	name []uint16
	n16  int16
}

func newScratch() *scratch {
	return &scratch{
		buf:  unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(make([]uint64, readChunk/8)))), readChunk),
		name: make([]uint16, 256),
	}
}

var _ driver.Rows = (*rows)(nil)

const readChunk = 4096 // bytes per SQLGetData call

func newRows(hs *handle) (*rows, error) {
	l := hs.c.l
	if hs.c.scr == nil {
		hs.c.scr = newScratch()
	}
	r := &rows{hs: hs, s: hs.c.scr}
	if err := l.check(l.call(l.numResultCols, hs.h, ptr(&r.s.n16)), "SQLNumResultCols", sqlHandleStmt, hs.h); err != nil {
		return nil, err
	}
	r.cols = make([]column, max(r.s.n16, 0))
	for i := range r.cols {
		c := &r.cols[i]
		ret := l.call(l.describeCol, hs.h, uintptr(i+1), ptr(&r.s.name[0]), uintptr(len(r.s.name)), ptr(&r.s.n16),
			ptr(&c.sqlType), ptr(&c.size), ptr(&c.digits), ptr(&c.nullable))
		if err := l.check(ret, "SQLDescribeCol", sqlHandleStmt, hs.h); err != nil {
			return nil, err
		}
		nl := min(max(int(r.s.n16), 0), len(r.s.name)-1)
		c.name = hs.c.colName(i, r.s.name[:nl])
		c.ctype = cTypeFor(c.sqlType)
	}
	return r, nil
}

// colName returns column i's name; the names of the previous result set are kept, so that a
// connection that runs the same statements again does not build its column names again.
func (c *conn) colName(i int, u []uint16) string {
	if i < len(c.names) && slices.Equal(c.names[i].u, u) {
		return c.names[i].s
	}
	s := decodeUTF16(u)
	if i < 1024 {
		if i >= len(c.names) {
			c.names = append(c.names, make([]cachedName, i+1-len(c.names))...)
		}
		c.names[i] = cachedName{u: append(c.names[i].u[:0], u...), s: s}
	}
	return s
}

type cachedName struct {
	u []uint16
	s string
}

func (r *rows) Columns() []string {
	names := make([]string, len(r.cols))
	for i := range r.cols {
		names[i] = r.cols[i].name
	}
	return names
}

func (r *rows) Close() error {
	if r.hs != nil {
		r.hs.free()
		r.hs = nil
	}
	return nil
}

func (r *rows) Next(dest []driver.Value) error {
	if r.hs == nil {
		return io.EOF
	}
	l := r.hs.c.l
	ret := l.call(l.fetch, r.hs.h)
	if ret == sqlNoData {
		return io.EOF
	}
	if err := l.check(ret, "SQLFetch", sqlHandleStmt, r.hs.h); err != nil {
		return r.hs.c.noteErr(err)
	}
	for i := range r.cols {
		if i >= len(dest) {
			break
		}
		v, err := r.get(i)
		if err != nil {
			return r.hs.c.noteErr(err)
		}
		dest[i] = v
	}
	return nil
}

// get reads column i of the current row.
func (r *rows) get(i int) (driver.Value, error) {
	l := r.hs.c.l
	c := &r.cols[i]
	r.s.acc = r.s.acc[:0]
	for part := 0; ; part++ {
		ret := l.call(l.getData, r.hs.h, uintptr(i+1), uintptr(c.ctype), uintptr(unsafe.Pointer(&r.s.buf[0])),
			uintptr(len(r.s.buf)), uintptr(unsafe.Pointer(&r.s.ind)))
		if ret == sqlNoData { // every part read
			break
		}
		if err := l.check(ret, "SQLGetData", sqlHandleStmt, r.hs.h); err != nil {
			return nil, fmt.Errorf("column %q: %w", c.name, err)
		}
		if r.s.ind == sqlNullData {
			return nil, nil
		}
		if !variable(c.ctype) {
			return convert(c, r.s.buf[:fixedSize(c.ctype)])
		}
		term := 0 // the terminating NUL character data gets
		switch c.ctype {
		case sqlCWChar:
			term = 2
		case sqlCChar:
			term = 1
		}
		avail := len(r.s.buf) - term
		n := r.s.ind
		if ret == sqlSuccess || (n != sqlNoTotal && n <= avail) { // the last (or only) part
			if n < 0 || n > avail {
				n = avail
			}
			if part == 0 {
				return convert(c, r.s.buf[:n])
			}
			r.s.acc = append(r.s.acc, r.s.buf[:n]...)
			break
		}
		if c.ctype == sqlCWChar {
			avail &^= 1
		}
		r.s.acc = append(r.s.acc, r.s.buf[:avail]...)
	}
	return convert(c, r.s.acc)
}

func variable(ctype int16) bool {
	return ctype == sqlCWChar || ctype == sqlCChar || ctype == sqlCBinary
}

func fixedSize(ctype int16) int {
	switch ctype {
	case sqlCBit:
		return 1
	case sqlCSBigint, sqlCDouble:
		return 8
	case sqlCTypeDate:
		return int(unsafe.Sizeof(sqlDateStruct{}))
	case sqlCTypeTime:
		return int(unsafe.Sizeof(sqlTimeStruct{}))
	case sqlCTypeTimestamp:
		return int(unsafe.Sizeof(sqlTimestampStruct{}))
	case sqlCGUID:
		return int(unsafe.Sizeof(sqlGUIDStruct{}))
	}
	return 0
}

var errShort = errors.New("odbc: value shorter than its type")

// convert turns the bytes SQLGetData wrote for column c into a Go value: string (character
// data, GUIDs, and exact numbers that do not fit an int64), int64, float64, bool, time.Time
// (UTC wall clock as the database gave it; TIME on 0001-01-01) or []byte. It never panics,
// whatever b holds.
func convert(c *column, b []byte) (driver.Value, error) {
	if n := fixedSize(c.ctype); n > 0 && len(b) < n {
		return nil, errShort
	}
	switch c.ctype {
	case sqlCWChar:
		return decodeUTF16LE(b), nil
	case sqlCChar:
		s := strings.TrimRight(string(b), "\x00")
		switch c.sqlType {
		case sqlBigint:
			if v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil {
				return v, nil
			}
		case sqlNumeric, sqlDecimal:
			return trimDecimal(s), nil
		}
		return s, nil
	case sqlCBinary:
		if c.sqlType == sqlSSTime2 && len(b) >= 12 {
			h, m, s := le16(b[0:]), le16(b[2:]), le16(b[4:])
			frac := uint32(b[8]) | uint32(b[9])<<8 | uint32(b[10])<<16 | uint32(b[11])<<24
			return time.Date(1, time.January, 1, int(h), int(m), int(s), int(frac%1e9), time.UTC), nil
		}
		return append([]byte(nil), b...), nil
	case sqlCBit:
		return b[0] != 0, nil
	case sqlCSBigint:
		return int64(le64(b)), nil
	case sqlCDouble:
		return math.Float64frombits(le64(b)), nil
	case sqlCTypeDate:
		return time.Date(int(int16(le16(b[0:]))), time.Month(le16(b[2:])), int(le16(b[4:])), 0, 0, 0, 0, time.UTC), nil
	case sqlCTypeTime:
		return time.Date(1, time.January, 1, int(le16(b[0:])), int(le16(b[2:])), int(le16(b[4:])), 0, time.UTC), nil
	case sqlCTypeTimestamp:
		frac := uint32(le16(b[12:])) | uint32(le16(b[14:]))<<16
		return time.Date(int(int16(le16(b[0:]))), time.Month(le16(b[2:])), int(le16(b[4:])),
			int(le16(b[6:])), int(le16(b[8:])), int(le16(b[10:])), int(frac%1e9), time.UTC), nil
	case sqlCGUID:
		return fmt.Sprintf("%08x-%04x-%04x-%x-%x", uint32(le16(b[0:]))|uint32(le16(b[2:]))<<16,
			le16(b[4:]), le16(b[6:]), b[8:10], b[10:16]), nil
	}
	return nil, fmt.Errorf("odbc: column %q: C type %d not supported", c.name, c.ctype)
}

// trimDecimal writes an exact number as the shortest text of the same value ("12.50" is "12.5",
// "7.000" is "7"), as a float64 would print, without a float64's rounding. Text that is not a
// plain decimal number is returned as it is.
func trimDecimal(s string) string {
	s = strings.TrimSpace(s)
	dot := strings.IndexByte(s, '.')
	if dot < 0 || strings.ContainsAny(s, "eE") {
		return s
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; i != dot && (c < '0' || c > '9') && (i != 0 || c != '-' && c != '+') {
			return s
		}
	}
	s = strings.TrimRight(s, "0")
	s = strings.TrimSuffix(s, ".")
	if i := strings.IndexByte(s, '.'); i == 0 || i == 1 && (s[0] == '-' || s[0] == '+') {
		s = s[:i] + "0" + s[i:] // ".5" is "0.5"
	}
	switch s {
	case "", "-", "+", "-0", "+0":
		return "0"
	}
	return s
}

func le16(b []byte) uint16 { return uint16(b[0]) | uint16(b[1])<<8 }

func le64(b []byte) uint64 {
	return uint64(le16(b[0:])) | uint64(le16(b[2:]))<<16 | uint64(le16(b[4:]))<<32 | uint64(le16(b[6:]))<<48
}
