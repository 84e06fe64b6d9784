package unixodbc

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
)

// DefaultLibrary is the unixODBC driver manager loaded at run time (Debian package unixodbc).
const DefaultLibrary = "libodbc.so.2"

// LibraryEnv names an environment variable that, when set, names the driver manager library to
// load instead of DefaultLibrary (a file name searched as dlopen(3) does, or a path).
const LibraryEnv = "PLEIADES_ODBC_LIBRARY"

// LibraryName is the library the next connection loads: $PLEIADES_ODBC_LIBRARY or DefaultLibrary.
func LibraryName() string {
	if v := strings.TrimSpace(os.Getenv(LibraryEnv)); v != "" {
		return v
	}
	return DefaultLibrary
}

// lib is one loaded driver manager: its entry points and the environment handle every
// connection made through it shares.
type lib struct {
	name string
	env  uintptr

	allocHandle, freeHandle, setEnvAttr, setConnectAttr, driverConnect, disconnect  uintptr
	execDirect, bindParameter, numResultCols, describeCol, fetch, getData, rowCount uintptr
	getDiagRec, endTran, cancel                                                     uintptr
}

var (
	libMu sync.Mutex
	libs  = map[string]*lib{}
)

// LoadError says that the driver manager library could not be loaded.
type LoadError struct {
	Library string
	Detail  string // what dlopen/dlsym said
	missing bool
}

func (e *LoadError) Error() string {
	if e.missing {
		return fmt.Sprintf("odbc: %s not found (install Debian package unixodbc)", e.Library)
	}
	return fmt.Sprintf("odbc: cannot load %s: %s (install Debian package unixodbc)", e.Library, e.Detail)
}

// Load loads the driver manager named by LibraryName (once per name) and allocates the ODBC 3
// environment handle. It returns a *LoadError when the library is missing or unusable.
func Load() error {
	_, err := loadLib(LibraryName())
	return err
}

func loadLib(name string) (*lib, error) {
	libMu.Lock()
	defer libMu.Unlock()
	if l := libs[name]; l != nil {
		return l, nil
	}
	// dlerror's message belongs to the thread that called dlopen: keep the goroutine on it
	// so that purego reads the message of this dlopen (it came back empty otherwise, now
	// and then, when the goroutine moved between the two calls).
	runtime.LockOSThread()
	h, err := purego.Dlopen(name, purego.RTLD_NOW|purego.RTLD_GLOBAL)
	runtime.UnlockOSThread()
	if err != nil {
		msg := err.Error()
		// "libodbc.so.2: cannot open shared object file: ..." is the library itself; a library
		// it needs that is missing is named first instead, and said as it is.
		return nil, &LoadError{Library: name, Detail: msg,
			missing: strings.HasPrefix(msg, name+": cannot open shared object file")}
	}
	l := &lib{name: name}
	for _, s := range []struct {
		p    *uintptr
		name string
	}{
		{&l.allocHandle, "SQLAllocHandle"}, {&l.freeHandle, "SQLFreeHandle"},
		{&l.setEnvAttr, "SQLSetEnvAttr"}, {&l.setConnectAttr, "SQLSetConnectAttrW"},
		{&l.driverConnect, "SQLDriverConnectW"}, {&l.disconnect, "SQLDisconnect"},
		{&l.execDirect, "SQLExecDirectW"}, {&l.bindParameter, "SQLBindParameter"},
		{&l.numResultCols, "SQLNumResultCols"}, {&l.describeCol, "SQLDescribeColW"},
		{&l.fetch, "SQLFetch"}, {&l.getData, "SQLGetData"}, {&l.rowCount, "SQLRowCount"},
		{&l.getDiagRec, "SQLGetDiagRecW"}, {&l.endTran, "SQLEndTran"}, {&l.cancel, "SQLCancel"},
	} {
		p, err := purego.Dlsym(h, s.name)
		if err != nil || p == 0 {
			_ = purego.Dlclose(h)
			return nil, &LoadError{Library: name, Detail: "no symbol " + s.name}
		}
		*s.p = p
	}
	var env uintptr
	if r1, _, _ := purego.SyscallN(l.allocHandle, sqlHandleEnv, 0, uintptr(unsafe.Pointer(&env))); !ok(int16(r1)) {
		ret := int16(r1)
		_ = purego.Dlclose(h)
		return nil, &LoadError{Library: name, Detail: fmt.Sprintf("SQLAllocHandle(ENV) returned %d", ret)}
	}
	if ret := l.call(l.setEnvAttr, env, sqlAttrODBCVersion, sqlOVODBC3, 0); !ok(ret) {
		err := l.diag("SQLSetEnvAttr(ODBC_VERSION)", sqlHandleEnv, env)
		l.call(l.freeHandle, sqlHandleEnv, env)
		_ = purego.Dlclose(h)
		return nil, &LoadError{Library: name, Detail: err.Error()}
	}
	l.env = env
	libs[name] = l
	return l, nil
}

// call calls the C function fn and returns its SQLRETURN. (purego.SyscallN's arguments
// escape, by its go:uintptrescapes: one small allocation per call, whatever the wrapper.)
func (l *lib) call(fn uintptr, args ...uintptr) int16 {
	r, _, _ := purego.SyscallN(fn, args...)
	return int16(r)
}

func ok(ret int16) bool { return ret == sqlSuccess || ret == sqlSuccessWithInfo }
