// Package pgsql is the realtime driver for PostgreSQL (Asterisk's res_config_pgsql), name
// "pgsql", configured by res_pgsql.conf. Construct it with New(log) and hand it to the
// realtime engine; Commands returns its CLI command and OnChange its LISTEN callbacks.
//
// # Configuration
//
// res_pgsql.conf has one section, [general], as in Asterisk:
//
//	[general]
//	dbhost=127.0.0.1        ; alias hostname; empty: the Unix socket in dbsock
//	dbport=5432             ; alias port
//	dbname=asterisk         ; the database of every mapping
//	dbuser=asterisk         ; alias user
//	dbpass=secret           ; alias password
//	dbappname=pleiades      ; alias appname: application_name
//	dbsock=/tmp             ; alias socket: directory of .s.PGSQL.<port>
//	requirements=warn       ; warn | createclose | createchar
//	order_multi_row_results_by_initial_column=yes
//	; Pleiades' own:
//	max_connections=8            ; pool size
//	connect_timeout=3            ; seconds
//	negative_connection_cache=1  ; seconds to fail fast after a failed connect
//	search_path=asterisk,public  ; set on every pooled connection
//	listen_channel=pleiades_realtime
//
// Asterisk's code reads the db-prefixed keys while its sample shows the short ones; both are
// accepted. Defaults are Asterisk's (user and database "asterisk", socket /tmp, port 5432).
// Every error of the file is reported at once as "file:line: reason"; unknown keys are
// logged. A reload with unchanged settings keeps pools and metadata; changed settings close
// them (they reopen on demand); a reload that fails keeps the running configuration.
//
// # Databases
//
// As in Asterisk's res_config_pgsql, the database field of an extconfig.conf mapping is
// ignored: every mapping uses the one database of res_pgsql.conf (dbname on dbhost), so
// "sippeers => pgsql,asterisk,sippeers" (the sample's wording) works whatever dbname says.
// A dbname that does not exist on the server is an error wrapping
// realtime.ErrUnknownDatabase. Table names may be schema-qualified ("asterisk.sippeers").
//
// # Queries
//
//   - Every value is a bound parameter ($1...); identifiers come only from the cached column
//     metadata and are quoted, so column names such as "call-limit" work and a field name
//     can never carry SQL. A field that is not a column is an error wrapping
//     realtime.ErrUnknownField and nothing is sent.
//   - Column metadata (name, information_schema data_type, udt type, length) is read once
//     per table from information_schema.columns, for the table the name resolves to through
//     the connection's search_path (to_regclass), and cached until Unload or a reload.
//   - Values are bound as text and, for columns that are not character types, cast in the
//     statement: $1::text::"pg_catalog"."int4", $1::text::"myschema"."yes_no_values". So
//     integer, enum (the Asterisk schema's yes_no_values, type_values, ...), boolean and
//     timestamp columns take the strings the API deals in, PostgreSQL converts them exactly
//     as it would a literal, and an over-long value is an error rather than silently cut.
//   - An empty string written (Store/Update) to a non-character column is stored as NULL:
//     it is not a valid integer or enum, and reading leaves NULL and empty values out alike.
//   - LIKE compares the column's text form with ESCAPE E'\\' (one backslash whatever
//     standard_conforming_strings says), so \_ and \% are literal.
//   - Results are requested in text format and returned as PostgreSQL prints them, in table
//     column order, NULL and empty columns left out. Values are written with
//     realtime.EncodeValue (';' -> ^3B, '^' -> ^5E, as Asterisk's pgsql/odbc do), lookup
//     values are encoded the same way so a stored value can be found again, and read values
//     are decoded with realtime.DecodeValue.
//   - Load adds LIMIT 1; LoadMulti orders by the first field's column (unless
//     order_multi_row_results_by_initial_column=no). StaticLoad runs
//     SELECT category, var_name, var_val, cat_metric, var_metric ... WHERE filename=$1 AND
//     commented=0 ORDER BY cat_metric DESC, var_metric ASC, category, var_name.
//
// # Connections and errors
//
// Asterisk serialises every query through one connection; Pleiades pools (max_connections)
// and shows the gain in BenchmarkLoadParallel. The pool is this package's own
// (pool.go): pgxpool needs github.com/jackc/puddle/v2, which the module does not require.
// Connections use pgx's statement cache, so each distinct statement is prepared once per
// connection. A connection idle for over 30 s is pinged before reuse.
//
// Connection failures (dial, authentication, a lost connection, server shutdown, too many
// connections, a deadline) wrap realtime.ErrUnavailable, so the engine fails over; after
// one, calls fail at once for negative_connection_cache. SQL errors (a missing table, a bad
// enum value) are plain errors naming the table and database.
//
// # Requirements
//
// requirements=warn: a missing column is logged and Require returns an error wrapping
// realtime.ErrUnknownField; a too-narrow or unsuitable column is only logged. createclose
// adds a missing column with the closest type (VARCHAR(n), INTEGER or BIGINT for sizes
// over 9 digits, DOUBLE PRECISION, DATE, TIMESTAMP) and widens a too-narrow VARCHAR;
// createchar adds VARCHAR columns wide enough for the value. Metadata is then re-read.
//
// # Change notifications (LISTEN)
//
// With listen_channel set, the driver keeps one extra connection LISTENing on that channel (reconnecting with backoff) and calls every OnChange callback for each
// notification. The payload is "table:key": the table name without schema, a ':', and the
// row's identifying value(s), several joined with '@' (see contrib/pgsql_realtime_notify.sql, which
// installs a trigger function and triggers for sippeers (name), voicemail
// (mailbox@context), extensions (exten@context), queues (name) and queue_members
// (queue_name)). After every (re)connect of the listener, callbacks get ("", ""): anything
// may have changed while nobody listened. Listening starts at Configure. The realtime engine
// subscribes at Register (realtime.Notifier; Listening says whether a LISTEN connection is up)
// and turns each notification into a change of the families mapped to that table, which
// every cache of the server follows.
//
// # CLI
//
// "realtime show pgsql status" prints Asterisk's line ("Connected to
// asterisk@127.0.0.1, port 5432 with username asterisk for 5 minutes, 3 seconds.", or
// "Unable to connect ...") followed by the pool figures (total, idle, in use, max, acquires,
// acquires that waited, connects, last error) and the LISTEN state. "realtime show pgsql
// cache [table]" is Asterisk's: the tables whose columns are cached, one per line (sorted by
// name; Asterisk lists them in the order they were first used), or one table's columns as
// PostgreSQL's catalog has them (name, type name, length: attlen, or atttypmod-4 for
// variable-length types, and NOT NULL), or "No such table '<table>'" when it is not cached.
package pgsql
