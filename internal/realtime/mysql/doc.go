// Package mysql is the realtime driver for MySQL and MariaDB (Asterisk's res_config_mysql),
// name "mysql", configured by res_config_mysql.conf, built on go-sql-driver/mysql and
// database/sql's pool. Construct it with New(log); Commands returns its CLI commands.
//
// # Configuration
//
// One [section] per connection; the database argument of an extconfig.conf mapping names
// the section (an unknown one is an error wrapping realtime.ErrUnknownDatabase):
//
//	[general]
//	dbhost=127.0.0.1     ; empty: the Unix socket in dbsock
//	dbname=asterisk
//	dbuser=asterisk
//	dbpass=secret
//	dbport=3306
//	dbsock=/tmp/mysql.sock
//	dbcharset=utf8mb4    ; empty: the server's default is left alone (SET NAMES otherwise)
//	requirements=warn    ; warn | createclose | createchar
//	; Pleiades' own:
//	max_connections=8            ; pool size (database/sql MaxOpenConns and MaxIdleConns)
//	connect_timeout=3            ; seconds
//	negative_connection_cache=1  ; seconds to fail fast after a connection failure
//
// Defaults are Asterisk's. Section names must not contain '/': as in Asterisk, a database
// argument "readsec/writesec" reads through the first section and writes (Store, Update,
// Update2, Destroy, Require) through the second. Every error of the file is reported at
// once as "file:line: reason"; unknown keys are logged. A reload keeps the pools of
// unchanged sections and closes changed or removed ones; a failed reload keeps the running
// configuration.
//
// # Queries
//
//   - Every value is a bound parameter (?), sent with the binary protocol (no client-side
//     interpolation). Each distinct statement is prepared once and cached as a *sql.Stmt
//     (at most 512 per section), which database/sql re-prepares per connection as needed:
//     one round trip per call instead of go-sql-driver's prepare/execute/close.
//   - Column metadata (COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, CHARACTER_MAXIMUM_LENGTH) is read
//     once per table from information_schema.COLUMNS of the section's database (or the one
//     named in "db.table") and cached until Unload or a reload. Identifiers come only from it
//     and are backtick-quoted; a field that is not a column (matched case-insensitively, as
//     MySQL does) is an error wrapping realtime.ErrUnknownField and nothing is sent.
//   - MySQL converts string parameters to the column type itself (integers, ENUM('yes','no'),
//     dates), so no casts are needed; an empty string written to a non-character column is
//     stored as NULL, which strict mode would otherwise refuse and reading leaves out anyway.
//   - LIKE uses ESCAPE CHAR(92): one backslash in every sql_mode. The literal '\\' means one
//     backslash only while backslash escapes are on; under NO_BACKSLASH_ESCAPES it is two
//     characters and MariaDB refuses it. So \_ and \% are literal in both modes (tested).
//   - Rows come back in table column order with NULL and empty columns left out; values are
//     written and looked up through realtime.EncodeValue and read through DecodeValue.
//     Load adds LIMIT 1, LoadMulti orders by the first field's column; StaticLoad runs the
//     same statement as every driver (cat_metric DESC, var_metric ASC, category, var_name).
//
// # Connections and errors
//
// Connection failures (dial errors, access denied, unknown database of the section, too
// many connections, server gone, invalid or bad connection, deadlines) wrap
// realtime.ErrUnavailable so that the engine fails over; for negative_connection_cache
// afterwards, calls on that section fail at once. SQL errors are plain errors naming the
// table and section.
//
// # Requirements
//
// requirements=warn: a missing column is logged and Require returns an error wrapping
// realtime.ErrUnknownField; a too-narrow VARCHAR is logged. createclose adds a missing
// column with the closest type (VARCHAR(n), INT/BIGINT [UNSIGNED], DOUBLE, DATE, DATETIME)
// and widens a too-narrow character column with MODIFY, as Asterisk does; createchar adds
// VARCHAR columns.
//
// # CLI
//
// "realtime show mysql status [section]" (and Asterisk's "realtime mysql status") print, per
// section, "<section>: Connected to <db>@<host>, port <port> with username <user> for <time>."
// or "Unable to connect to ...", then database/sql's pool figures and the last error.
package mysql
