// Package odbc is the "odbc" realtime driver: Asterisk's res_odbc + res_config_odbc, over
// database/sql and package unixodbc (unixODBC's libodbc.so.2 loaded at run time, no cgo). A
// res_odbc.conf with an enabled connection fails to load where the library is missing, with
// one line: "odbc: libodbc.so.2 not found (install Debian package unixodbc)".
//
// # Configuration: res_odbc.conf
//
// One [name] section per connection; the database part of an extconfig.conf mapping
// ("sippeers => odbc,asterisk,sippeers") names the section, as in Asterisk. [ENV] sets
// environment variables (e.g. ODBCINI, ORACLE_HOME) before any connection is made.
//
//	[asterisk]
//	enabled => yes                 ; no: the section is ignored; mappings to it are unavailable
//	dsn => asterisk                ; a data source of odbc.ini ...
//	;connstr => Driver=PostgreSQL Unicode\;Server=db1\;Port=5432\;Database=asterisk\;
//	                               ; ... or (Pleiades) a full DSN-less connection string
//	username => asterisk           ; appended as UID= (no default: Asterisk passes none either)
//	password => secret             ; appended as PWD=
//	pre-connect => yes             ; connect while configuring (a failure is only logged)
//	max_connections => 20          ; pool size (default 1, as in Asterisk)
//	sanitysql => select 1          ; run on each new connection and on reuse after 30 s idle
//	connect_timeout => 10          ; seconds
//	negative_connection_cache => 300 ; seconds (may be fractional) without connect attempts
//	                                 ; after a failed one; calls fail fast meanwhile
//	backslash_is_escape => yes     ; yes/no as Asterisk; unset or "auto": detected (see below)
//	logging => yes                 ; count queries, keep the longest, for "odbc show"
//	slow_query_limit => 5000       ; ms; with logging, warn about slower statements (0: never)
//	isolation => read_committed    ; accepted and validated, see below
//	forcecommit => no              ; accepted and validated, see below
//	cache_type => stack            ; accepted and validated; database/sql manages the pool
//	cache_size => -1               ; idle connections kept (-1: up to max_connections)
//
// Every value is checked; a bad one is an error naming the file, line, section and key
// ("res_odbc.conf:12: [asterisk] max_connections: ..."), and the running configuration stays.
// Unknown keys are logged and ignored. dsn and connstr are alternatives: exactly one is required.
// In a .conf file ';' starts a comment, so the separators of a connstr are written "\;":
//
//	connstr => Driver=MariaDB Unicode\;Server=db1\;Port=3306\;Database=asterisk\;
//
// # Differences from Asterisk
//
//   - Pleiades always pools: max_connections is the size of a database/sql pool, and statements
//     never share a connection, so no setting is needed for drivers (FreeTDS) that allow one
//     active statement per connection. Asterisk's default of 1 is kept, which serialises every
//     query of a connection: raise it.
//   - connect_timeout is enforced by Pleiades around SQLDriverConnect, whatever the ODBC driver
//     supports. A connect that fails (or times out, or fails sanitysql) starts the negative
//     connection cache; until it ends every call that needs a new connection fails at once with
//     realtime.ErrUnavailable and no attempt is made. Errors that break an established connection
//     (SQLSTATE 08xxx, MySQL "server has gone away") are also ErrUnavailable; the broken
//     connection is dropped and the next connect decides.
//   - backslash_is_escape says whether the database treats '\' in string literals as an escape.
//     It decides how the ESCAPE clause of LIKE is written: ESCAPE '\\' for yes (MySQL, MariaDB)
//     and ESCAPE '\' for no (PostgreSQL with standard_conforming_strings, SQL Server). Asterisk's
//     default (yes) is wrong for PostgreSQL, so when the key is absent Pleiades asks the database
//     (SELECT '\\') on the first connect. In a LIKE value, '\' escapes '_' and '%'.
//   - Every statement is one autocommit statement: isolation and forcecommit (which in Asterisk
//     affect func_odbc transactions) change nothing here; they are validated and kept.
//   - Every operation fails over (in the engine) on ErrUnavailable only; no rows is an answer.
//   - res_config_odbc.conf's order_multi_row_results_by_initial_column is not read: LoadMulti
//     always orders by the first field's column.
//   - Identifiers: column names are quoted as the database spells them ("session-timers"); the
//     quote character (" or `) is detected on the first connect. Table names are written as
//     given when they are plain identifiers (so the database folds their case), quoted otherwise.
//
// # Behaviour
//
// Column names (and their order) are read once per table with SELECT * ... WHERE 1=0; types,
// lengths and nullability come from information_schema where the database has one. The result
// is cached until Unload or a reload that changes the connection. Statements, lookups and the
// requirements check are the SQL core every SQL driver shares (internal/realtime/sqltable): the
// dialect learnt on the first connect is what this driver gives it (quote, LIKE's escape, no
// LIMIT: a single-row load reads the first row only). Column names match as in every driver:
// the exact spelling first, then ignoring case; a field that names no column is an error
// wrapping realtime.ErrUnknownField and nothing is sent. Every value is a bound parameter. As in Asterisk, ';' and '^' in bound
// values are written as ^3B and ^5E, and ^XX sequences are decoded in values read back; an empty
// value stored into a nullable non-character column is written as NULL. Rows leave out NULL and
// empty columns.
//
// On MySQL/MariaDB an UPDATE that changes nothing reports 0 rows unless the ODBC driver is told
// to return found rows (MariaDB Connector/ODBC and MyODBC: OPTION=2 in the connection string).
//
// # CLI
//
// Driver.Commands returns "odbc show [name|all]", with Asterisk's layout followed by Pleiades'
// lines: connections in use, connect attempts, last error, negative connection cache end.
package odbc
