package unixodbc

import (
	"database/sql/driver"
	"fmt"
	"strings"
	"unsafe"

	"github.com/ebitengine/purego"
)

// ptr is the address of Go memory handed to the driver manager. p must point into the heap
// (a field of a struct that escapes, a slice made at run time): a goroutine's stack may move
// while the call is being made (its stack grows on the way to the C function), and the heap
// does not move. Where that is not sure, the conversion is written in the purego.SyscallN call
// itself, whose go:uintptrescapes moves the memory to the heap.
func ptr[T any](p *T) uintptr { return uintptr(unsafe.Pointer(p)) }

// DiagRecord is one diagnostic record of SQLGetDiagRec.
type DiagRecord struct {
	State       string // SQLSTATE, e.g. "42S02"
	NativeError int    // the database's own error number
	Message     string
}

func (r *DiagRecord) String() string { return "{" + r.State + "} " + r.Message }

// Error is a failed ODBC call with its diagnostic records. An error that says the connection is
// gone (SQLSTATE class 08, PostgreSQL's 57P0x) matches driver.ErrBadConn with errors.Is.
type Error struct {
	APIName string
	Return  int // the SQLRETURN
	Diag    []DiagRecord
}

func (e *Error) Error() string {
	if len(e.Diag) == 0 {
		return fmt.Sprintf("%s: returned %d", e.APIName, e.Return)
	}
	ss := make([]string, len(e.Diag))
	for i := range e.Diag {
		ss[i] = e.Diag[i].String()
	}
	return e.APIName + ": " + strings.Join(ss, "; ")
}

// connLost reports whether a record says the connection is gone: SQLSTATE class 08, or
// PostgreSQL's 57P01-57P03 (the server shut the session down: administrator command, crash
// shutdown, cannot connect now), which psqlODBC passes on as they are.
func (e *Error) connLost() bool {
	for _, d := range e.Diag {
		if strings.HasPrefix(d.State, "08") || strings.HasPrefix(d.State, "57P0") {
			return true
		}
	}
	return false
}

// Is makes a lost connection match driver.ErrBadConn, so database/sql retries on a new one.
func (e *Error) Is(target error) bool { return target == driver.ErrBadConn && e.connLost() }

// oneLine keeps a driver's message on one line (psqlODBC ends the server's with ";\n...").
var oneLine = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ")

// diag reads the diagnostic records of handle h after a failed call of api.
func (l *lib) diag(api string, htype int, h uintptr) *Error {
	e := &Error{APIName: api, Return: -1}
	var state [6]uint16
	var msg [1024]uint16
	for i := 1; i <= 16; i++ {
		var native int32
		var n int16
		r1, _, _ := purego.SyscallN(l.getDiagRec, uintptr(htype), h, uintptr(i), uintptr(unsafe.Pointer(&state[0])),
			uintptr(unsafe.Pointer(&native)), uintptr(unsafe.Pointer(&msg[0])), uintptr(len(msg)), uintptr(unsafe.Pointer(&n)))
		if !ok(int16(r1)) {
			break
		}
		m := int(n)
		if m < 0 {
			m = 0
		}
		if m > len(msg)-1 {
			m = len(msg) - 1
		}
		e.Diag = append(e.Diag, DiagRecord{
			State:       decodeUTF16(state[:5]),
			NativeError: int(native),
			Message:     oneLine.Replace(strings.TrimSpace(decodeUTF16(msg[:m]))),
		})
	}
	return e
}

// check turns an SQLRETURN into an error (nil for SQL_SUCCESS and SQL_SUCCESS_WITH_INFO).
func (l *lib) check(ret int16, api string, htype int, h uintptr) error {
	if ok(ret) {
		return nil
	}
	e := l.diag(api, htype, h)
	e.Return = int(ret)
	return e
}
