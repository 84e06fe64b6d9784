// Package unixodbc is a database/sql driver for ODBC that needs no cgo: it loads unixODBC's
// driver manager (libodbc.so.2, Debian package unixodbc) at run time with
// github.com/ebitengine/purego and calls its C API directly. `CGO_ENABLED=0 go build` works and
// no ODBC headers (unixodbc-dev) are needed to build; at run time the library and an ODBC driver
// (odbc-postgresql, odbc-mariadb, ...) must be installed. The driver registers itself with
// database/sql as "odbc"; a data source name is an ODBC connection string ("DSN=asterisk;" or
// "Driver=PostgreSQL Unicode;Server=...;").
//
// When the library cannot be loaded, connecting fails with one line saying what is missing and
// which package brings it: "odbc: libodbc.so.2 not found (install Debian package unixodbc)".
// The environment variable PLEIADES_ODBC_LIBRARY names another library (file name or path) to
// load instead, e.g. a driver manager built elsewhere.
//
// # Choices
//
//   - Wide characters. Statement text, connection strings, diagnostics and character data go
//     through the W entry points (SQLDriverConnectW, SQLExecDirectW, SQLDescribeColW,
//     SQLGetDiagRecW) and SQL_C_WCHAR, as UTF-16. With the narrow (ANSI) API, the "Unicode"
//     drivers Debian registers (PostgreSQL Unicode, MariaDB Unicode) convert text to a client
//     character set that depends on the driver and the process locale (a Go program never
//     calls setlocale: it runs in the "C" locale). UTF-16 means the same for every driver and
//     locale, so every character arrives as it was sent.
//   - One environment handle per loaded library, ODBC 3 behaviour (SQL_OV_ODBC3), no driver
//     manager connection pooling: database/sql pools, and a second pool underneath would keep
//     connections database/sql has closed (after an error, or beyond SetMaxIdleConns).
//   - Statements are sent with SQLExecDirect after SQLBindParameter: database/sql prepares a
//     statement per call, and SQLPrepare would cost a round trip for nothing. Prepare only
//     records the text; NumInput is -1 (the driver counts the markers).
//   - Values are read with SQLGetData, column by column, into one reused buffer, in chunks for
//     long values (no truncation, whatever size the driver announced). Binding columns
//     (SQLBindCol) would need sizes known in advance, which drivers do not always give
//     (PostgreSQL text and unbounded varchar).
//   - SQL types become Go values as follows: character types and unknown types string; BIT
//     bool; TINYINT, SMALLINT, INTEGER int64; BIGINT int64 (read as text, so an unsigned value
//     beyond int64 stays exact as a string); DECIMAL and NUMERIC the shortest exact text
//     ("12.50" is "12.5", as a float64 prints it, without a float64's rounding); REAL, FLOAT,
//     DOUBLE float64; DATE, TIME, TIMESTAMP time.Time in UTC holding the database's wall clock
//     (TIME on 0001-01-01; UTC so that no wall clock is shifted by a daylight-saving gap);
//     binary types []byte; GUID string; NULL nil.
//   - Parameters: string as SQL_WVARCHAR (WLONGVARCHAR beyond 4000 characters), []byte as
//     VARBINARY, int64 BIGINT, float64 DOUBLE, bool BIT, time.Time TIMESTAMP (microseconds),
//     nil as a NULL WVARCHAR.
//   - Transactions turn autocommit off (SQLSetConnectAttr) and end with SQLEndTran; isolation
//     levels map to SQL_ATTR_TXN_ISOLATION and read-only to SQL_ATTR_ACCESS_MODE.
//   - A cancelled context sends SQLCancel to the running statement. SQLDriverConnect cannot be
//     interrupted; callers that need a connect timeout run it in a goroutine.
//   - An error whose SQLSTATE is of class 08 (connection exception), or PostgreSQL's 57P01-57P03
//     (session ended by the server), marks the connection broken and matches driver.ErrBadConn,
//     so database/sql drops it and retries elsewhere.
//
// Memory handed to the driver manager is on the Go heap (which does not move) for as long as
// the driver manager may use it: bound parameters live until their statement handle is freed.
package unixodbc
