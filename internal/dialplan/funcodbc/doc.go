// Package funcodbc is func_odbc (Asterisk's funcs/func_odbc.c): dialplan functions defined in
// func_odbc.conf whose SQL, written by the operator, runs on the realtime drivers' connection
// pools (realtime.Querier), plus SQL_ESC(), SQL_ESC_BACKSLASHES(), ODBC_FETCH() and the
// ODBCFinish application.
//
// # Wiring (for internal/core)
//
//	m := funcodbc.New(log *slog.Logger, rt *realtime.Engine)
//	m.Register(e *dialplan.Engine)   // SQL_ESC, SQL_ESC_BACKSLASHES, ODBC_FETCH, ODBCFinish on e
//	err := m.Configure(cfg *conf.Config) // func_odbc.conf; after the realtime drivers are configured
//	m.Functions() []string           // the functions the file defines
//	m.Close()                        // unregister everything from e
//
// # func_odbc.conf
//
//	[PRESENCE]                       ; the function ODBC_PRESENCE
//	dsn=pg1,pg2                      ; = writehandle; readhandle= defaults to it
//	readsql=SELECT location FROM presence WHERE id='${SQL_ESC(${ARG1})}'
//	writesql=UPDATE presence SET location='${SQL_ESC(${VAL1})}' WHERE id='${SQL_ESC(${ARG1})}'
//	insertsql=INSERT INTO presence (id, location) VALUES ('${SQL_ESC(${ARG1})}', '${SQL_ESC(${VAL1})}')
//	prefix=ODBC   synopsis=...   syntax=...   minargs=1   escapecommas=yes
//	mode=multirow   rowlimit=100
//
// The SQL is text the operator writes with ${ARGn}, ${ARGC}, ${VALn} and ${VALUE} substituted
// into it, as in Asterisk: every value that comes from a caller must be wrapped in
// ${SQL_ESC(...)} (and ${SQL_ESC_BACKSLASHES(...)} for MySQL/MariaDB, where '\' escapes in
// string literals), or the caller can change the statement. ARGn/VALn are restored after the
// substitution.
//
// Connection names (dsn=, readhandle=, writehandle=, comma-separated, tried in order):
//   - a bare name is a res_odbc.conf section (the odbc driver) first, then a connection of
//     another realtime driver that defines it by name (res_config_sqlite3.conf and
//     res_config_mysql.conf sections; for pgsql "general" or the configured dbname);
//   - driver:connection picks the driver explicitly: pgsql:general, sqlite3:asterisk,
//     mysql:general, odbc:asterisk.
//
// The next connection is tried only when one is unavailable (an error wrapping
// realtime.ErrUnavailable); an SQL error is an answer (Asterisk tries the next on any error).
//
// Results as in Asterisk: a read returns the first row's columns joined with ',' ('\' and ','
// escaped unless escapecommas=no, NULL as empty) and sets ODBCROWS, ODBCSTATUS (SUCCESS,
// NODATA, FAILURE) and ~ODBCFIELDS~ (column names, for HASH()). mode=multirow returns an id
// instead; ODBC_FETCH(id) returns the next row and sets ODBC_FETCH_STATUS (SUCCESS/FAILURE),
// ODBCFinish(id) drops what is left. rowlimit=N without multirow returns the first row and
// keeps rows 2..N for ODBC_FETCH(<function name>). A write sets ODBCROWS (rows changed, -1 on
// failure) and ODBCSTATUS: SUCCESS, FAILOVER (writesql changed no row, insertsql ran — Asterisk's
// word) or FAILURE.
//
// # Where Pleiades differs
//
//   - The file is checked as a whole: an unknown option, a bad mode/rowlimit/minargs, SQL
//     without a connection, a connection that resolves nowhere, insertsql without writesql, a
//     section defining a function that exists already (another section, or a function of
//     another module) are errors naming file:line, and the running functions stay (a failed
//     reload changes nothing). A successful reload unregisters the functions that disappeared.
//   - rowlimit= is read in every mode (Asterisk reads it only when mode= is present).
//   - [general] single_db_connection is accepted and ignored: every statement runs on a pooled
//     connection. Transactions (ODBC(transaction)) do not exist.
//   - Multirow results belong to the channel that ran the query and are freed when the channel
//     is garbage (no leak without ODBCFinish).
//   - Up to five connections per list in Asterisk; no limit here.
package funcodbc
