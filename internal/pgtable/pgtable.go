// Package pgtable writes rows into a PostgreSQL table the way Asterisk's cdr_pgsql and
// cel_pgsql do, for both of Pleiades' ports of them (internal/cdr, internal/cel): the
// connection settings come from the [global] section of the module's .conf file
// (hostname, port, dbname, user, password, appname, table, encoding); when it connects the
// Writer reads which columns the table has and fills those of the module's columns it
// finds (the others are reported once in the log and left out, a column the module does
// not know stays NULL, as cdr_pgsql does); rows are inserted in one transaction per call,
// up to 50 rows a statement (INSERT ... VALUES (...), (...)), and a failed insert drops the
// connection so the next one connects again.
//
// Queues, retries and what a row holds stay with the modules: a Writer only connects and
// inserts, guarded by its own mutex.
//
// A transaction whose connection breaks while it commits may have committed or not; the
// caller, retrying the same rows, would then insert them twice. With Key set (columns that
// identify a row: cdr_pgsql's uniqueid and sequence), the Writer remembers the last row of
// a failed batch and, at the next Insert, looks for it first: when it is there, the batch
// did commit and its rows (the first ones of the retry) are not inserted again. That holds
// within one run of the server; a crash in that instant can still leave a duplicate.
package pgtable

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/pleiades-pbx/pleiades/internal/conf"
)

// Conn is where the table is: the [global] settings of cdr_pgsql.conf and cel_pgsql.conf.
type Conn struct {
	Host, Port, DBName, User, Password, AppName string
	Encoding                                    string // client_encoding, "" for the server's
	Table                                       string // "schema.table" allowed
}

// ParseGlobal reads the [global] section of cfg with table as the default table name. It
// returns nils (no error) when cfg or its [global] is absent: the module is off, as
// Asterisk's modules decline to load without it. The section is returned for the
// module's own settings. A port that is not a number is an error naming file:line.
func ParseGlobal(cfg *conf.Config, table string) (*Conn, *conf.Category, error) {
	if cfg == nil {
		return nil, nil, nil
	}
	g := cfg.Category("global")
	if g == nil {
		return nil, nil, nil
	}
	c := &Conn{Host: g.Get("hostname"), Port: g.Get("port"), DBName: g.Get("dbname"), User: g.Get("user"),
		Password: g.Get("password"), AppName: g.Get("appname"), Table: g.Get("table"), Encoding: g.Get("encoding")}
	if c.Port != "" {
		if _, err := strconv.Atoi(c.Port); err != nil {
			v := g.All("port")
			last := v[len(v)-1]
			return nil, nil, &conf.Error{File: last.File, Line: last.Line, Msg: "\"port\": " + strconv.Quote(c.Port) + " is not a port number"}
		}
	}
	if c.Table == "" {
		c.Table = table
	}
	if c.DBName == "" {
		c.DBName = "asterisk"
	}
	if c.User == "" {
		c.User = "asterisk"
	}
	return c, g, nil
}

// Writer inserts rows into Conn's table.
type Writer struct {
	Conn
	Module     string   // the module's name, for errors and the log: "cdr_pgsql"
	Columns    []string // the columns the module fills, in order
	Timestamps []string // those of Columns given as text to be cast to timestamp
	Key        []string // columns that identify a row, for retries (see the package doc); nil: none
	Log        *slog.Logger

	mu       sync.Mutex
	conn     *pgx.Conn
	cols     []string       // the columns of Columns the table has
	head     string         // "INSERT INTO table (cols) VALUES "
	inserts  map[int]string // the INSERT of k rows, made once for each k
	reported bool

	// After a failed Insert of n rows: the first known of them are in the table for sure,
	// and lastKey (the Key values of the last one) tells whether all n are.
	failedN, known int
	lastKey        []any
}

func (w *Writer) connConfig() (*pgx.ConnConfig, error) {
	cc, err := pgx.ParseConfig("sslmode=disable connect_timeout=5")
	if err != nil {
		return nil, err
	}
	if w.Host != "" {
		cc.Host = w.Host
	}
	if w.Port != "" {
		n, _ := strconv.Atoi(w.Port)
		cc.Port = uint16(n)
	}
	cc.Database, cc.User, cc.Password = w.DBName, w.User, w.Password
	if w.AppName != "" {
		cc.RuntimeParams["application_name"] = w.AppName
	}
	if w.Encoding != "" {
		cc.RuntimeParams["client_encoding"] = w.Encoding
	}
	return cc, nil
}

// connect opens the connection and reads the table's columns (the caller holds w.mu).
func (w *Writer) connect(ctx context.Context) error {
	cc, err := w.connConfig()
	if err != nil {
		return err
	}
	c, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return fmt.Errorf("%s: %w", w.Module, err)
	}
	schema, table := "", w.Table
	if i := strings.LastIndexByte(w.Table, '.'); i >= 0 {
		schema, table = w.Table[:i], w.Table[i+1:]
	}
	q := `SELECT column_name FROM information_schema.columns WHERE table_name = $1 AND table_schema = `
	args := []any{table}
	if schema == "" {
		q += `current_schema()`
	} else {
		q += `$2`
		args = append(args, schema)
	}
	rows, err := c.Query(ctx, q, args...)
	if err != nil {
		c.Close(ctx)
		return fmt.Errorf("%s: columns of %s: %w", w.Module, w.Table, err)
	}
	have := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err == nil {
			have[strings.ToLower(n)] = true
		}
	}
	rows.Close()
	if len(have) == 0 {
		c.Close(ctx)
		return fmt.Errorf("%s: table %s not found", w.Module, w.Table)
	}
	var cols, missing []string
	for _, col := range w.Columns {
		if have[col] {
			cols = append(cols, col)
		} else {
			missing = append(missing, col)
		}
	}
	if len(missing) > 0 && !w.reported && w.Log != nil {
		w.Log.Warn(w.Module+": the table lacks columns, they are not written", "table", w.Table, "columns", strings.Join(missing, ","))
		w.reported = true
	}
	idents := make([]string, len(cols))
	for i, col := range cols {
		idents[i] = pgx.Identifier{col}.Sanitize()
	}
	w.head = "INSERT INTO " + pgx.Identifier(strings.Split(w.Table, ".")).Sanitize() + " (" + strings.Join(idents, ",") + ") VALUES "
	w.inserts = map[int]string{}
	w.conn, w.cols = c, cols
	return nil
}

// rowsPerStatement is the most rows one INSERT carries: the server parses, plans and
// runs one statement for them where it ran one a row (docs/performance.md, call detail
// records). PostgreSQL takes at most 65,535 parameters in a statement.
const rowsPerStatement = 50

// rowsPer is how many rows an INSERT carries for the table's columns.
func (w *Writer) rowsPer() int { return max(1, min(rowsPerStatement, 65535/max(1, len(w.cols)))) }

// insertRows is the INSERT of k rows: VALUES ($1, $2::timestamp, ...), ($n+1, ...).
func (w *Writer) insertRows(k int) string {
	if q, ok := w.inserts[k]; ok {
		return q
	}
	var b strings.Builder
	b.WriteString(w.head)
	p := 1
	for r := range k {
		if r > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for j, col := range w.cols {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(p))
			p++
			if slices.Contains(w.Timestamps, col) {
				b.WriteString("::timestamp")
			}
		}
		b.WriteByte(')')
	}
	q := b.String()
	w.inserts[k] = q
	return q
}

// Insert inserts n rows in one transaction, in order; value gives row i's value of a
// column. It connects first when there is no connection. After a failed Insert, the caller
// must offer the same rows first again (see the package doc).
func (w *Writer) Insert(ctx context.Context, n int, value func(i int, col string) any) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.conn == nil || w.conn.IsClosed() {
		if err := w.connect(ctx); err != nil {
			return err
		}
	}
	skip := 0
	if w.failedN > 0 {
		skip = w.known
		if w.lastKey != nil {
			in, err := w.has(ctx, w.lastKey)
			if err != nil {
				return w.fail(err)
			}
			if in {
				skip = w.failedN
			}
		}
		w.failedN, w.known, w.lastKey = 0, 0, nil
		skip = min(skip, n)
	}
	if skip == n {
		return nil
	}
	err := pgx.BeginFunc(ctx, w.conn, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		per := w.rowsPer()
		for i := skip; i < n; {
			k := min(n-i, per)
			args := make([]any, 0, k*len(w.cols))
			for r := i; r < i+k; r++ {
				for _, col := range w.cols {
					args = append(args, value(r, col))
				}
			}
			b.Queue(w.insertRows(k), args...)
			i += k
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		w.failedN, w.known = n, skip
		if w.keyed() {
			w.lastKey = make([]any, len(w.Key))
			for j, col := range w.Key {
				w.lastKey[j] = value(n-1, col)
			}
		}
		return w.fail(err)
	}
	return nil
}

func (w *Writer) fail(err error) error {
	w.conn.Close(context.Background())
	w.conn = nil
	return fmt.Errorf("%s: %w", w.Module, err)
}

// keyed reports whether the table has every Key column.
func (w *Writer) keyed() bool {
	if len(w.Key) == 0 {
		return false
	}
	for _, k := range w.Key {
		if !slices.Contains(w.cols, k) {
			return false
		}
	}
	return true
}

// has reports whether a row with these Key values is in the table.
func (w *Writer) has(ctx context.Context, key []any) (bool, error) {
	where := make([]string, len(w.Key))
	for j, col := range w.Key {
		where[j] = pgx.Identifier{col}.Sanitize() + " = $" + strconv.Itoa(j+1)
	}
	var one int
	err := w.conn.QueryRow(ctx, "SELECT 1 FROM "+pgx.Identifier(strings.Split(w.Table, ".")).Sanitize()+
		" WHERE "+strings.Join(where, " AND ")+" LIMIT 1", key...).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// Close closes the connection.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.conn == nil {
		return nil
	}
	err := w.conn.Close(context.Background())
	w.conn = nil
	return err
}
