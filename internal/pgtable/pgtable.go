// Package pgtable writes rows into a PostgreSQL table the way Asterisk's cdr_pgsql and
// cel_pgsql do, for both of Pleiades' ports of them (internal/cdr, internal/cel): the
// connection settings come from the [global] section of the module's .conf file
// (hostname, port, dbname, user, password, appname, table, encoding); when it connects the
// Writer reads which columns the table has and fills those of the module's columns it
// finds (the others are reported once in the log and left out, a column the module does
// not know stays NULL, as cdr_pgsql does); the rows of a call are written with one
// COPY ... FROM STDIN, one statement and one transaction, and a failed write drops the
// connection so the next one connects again. A Tx (Begin) is such a COPY kept open: its
// rows are sent as they come and it commits when it ends.
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
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
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
	Module  string   // the module's name, for errors and the log: "cdr_pgsql"
	Columns []string // the columns the module fills, in order
	Key     []string // columns that identify a row, for retries (see the package doc); nil: none
	Log     *slog.Logger

	mu       sync.Mutex
	conn     *pgx.Conn
	cols     []string // the columns of Columns the table has
	copy     string   // "COPY table (cols) FROM STDIN"
	buf      []byte   // the rows of the last COPY, kept for the next one
	rd       bytes.Reader
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
	w.copy = "COPY " + pgx.Identifier(strings.Split(w.Table, ".")).Sanitize() + " (" + strings.Join(idents, ",") + ") FROM STDIN"
	w.conn, w.cols = c, cols
	return nil
}

// Insert writes n rows, in order, with one COPY ... FROM STDIN (text format): one statement
// and so one transaction for all of them, the rows encoded straight into a buffer the
// Writer keeps; PostgreSQL parses no INSERT and binds no parameters (docs/performance.md,
// call detail records). value gives row i's value of a column: nil (NULL), a string, an
// integer, or anything else fmt prints; a column typed timestamp takes its text as
// "::timestamp" would. It connects first when there is no connection. After a failed
// Insert, the caller must offer the same rows first again (see the package doc).
func (w *Writer) Insert(ctx context.Context, n int, value func(i int, col string) any) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	skip, err := w.resume(ctx)
	if err != nil {
		return err
	}
	skip = min(skip, n)
	if skip == n {
		return nil
	}
	if err := w.copyRows(ctx, skip, n, value); err != nil {
		w.failed(n, skip, w.rowKey(n-1, value))
		return w.fail(err)
	}
	return nil
}

// resume connects when there is no connection and, after a failed write, returns how many
// rows at the head of the retry are in the table already (the caller holds w.mu).
func (w *Writer) resume(ctx context.Context) (int, error) {
	if w.conn == nil || w.conn.IsClosed() {
		if err := w.connect(ctx); err != nil {
			return 0, err
		}
	}
	if w.failedN == 0 {
		return 0, nil
	}
	skip := w.known
	if w.lastKey != nil {
		in, err := w.has(ctx, w.lastKey)
		if err != nil {
			return 0, w.fail(err)
		}
		if in {
			skip = w.failedN
		}
	}
	w.failedN, w.known, w.lastKey = 0, 0, nil
	return skip, nil
}

// failed notes a failed write of n rows, the first known of them in the table for sure and
// key the Key values of the last one (nil when the table has no key).
func (w *Writer) failed(n, known int, key []any) {
	w.failedN, w.known, w.lastKey = n, known, key
}

// rowKey returns row i's Key values, nil when the table lacks a Key column.
func (w *Writer) rowKey(i int, value func(i int, col string) any) []any {
	if !w.keyed() {
		return nil
	}
	key := make([]any, len(w.Key))
	for j, col := range w.Key {
		key[j] = value(i, col)
	}
	return key
}

// copyRows sends rows from to n-1 with one COPY (the caller holds w.mu).
func (w *Writer) copyRows(ctx context.Context, from, n int, value func(i int, col string) any) error {
	b := w.encodeRows(from, n, value)
	w.rd.Reset(b)
	_, err := w.conn.PgConn().CopyFrom(ctx, &w.rd, w.copy)
	w.keepBuffer(b)
	return err
}

// encodeRows encodes rows from to n-1 in COPY's text format into the Writer's buffer.
func (w *Writer) encodeRows(from, n int, value func(i int, col string) any) []byte {
	b := w.buf[:0]
	for i := from; i < n; i++ {
		for j, col := range w.cols {
			if j > 0 {
				b = append(b, '\t')
			}
			b = appendCopyValue(b, value(i, col))
		}
		b = append(b, '\n')
	}
	return b
}

// keepBuffer keeps b for the next rows, unless it grew too big.
func (w *Writer) keepBuffer(b []byte) {
	if cap(b) <= maxKeptBuffer {
		w.buf = b[:0]
	} else {
		w.buf = nil
	}
}

// Tx is a transaction of a Writer (Begin): one COPY ... FROM STDIN whose rows are sent as
// Insert gets them, each call one CopyData message, and that ends (and so commits, as its
// own transaction) at Commit. A batch's rows reach PostgreSQL as they come, so that both
// sides' work on them is spread over the batch's life, for one statement and one commit.
type Tx struct {
	w       *Writer
	pw      *io.PipeWriter // the COPY's data: CopyFrom, on its own goroutine, reads the other end
	result  chan error     // CopyFrom's answer
	skip    int            // rows still to skip: in the table already (a retry after a lost commit)
	known   int            // rows of the transaction in the table for sure (the skipped ones)
	offered int            // rows given to Insert
	lastKey []any          // Key values of the last row given
	done    bool
}

// errAborted ends the COPY of an aborted Tx (CopyFail: PostgreSQL keeps none of its rows).
var errAborted = errors.New("transaction aborted")

// Begin starts a transaction; the Writer is held until Commit or Abort. After a failed
// write, the caller must offer the same rows first again, as with Insert.
func (w *Writer) Begin(ctx context.Context) (*Tx, error) {
	w.mu.Lock()
	skip, err := w.resume(ctx)
	if err != nil {
		w.mu.Unlock()
		return nil, err
	}
	pr, pw := io.Pipe()
	t := &Tx{w: w, pw: pw, result: make(chan error, 1), skip: skip, known: skip}
	conn := w.conn.PgConn()
	go func() {
		_, err := conn.CopyFrom(ctx, pr, w.copy)
		pr.CloseWithError(cmp.Or(err, errAborted)) // an Insert after the end fails, never waits
		t.result <- err
	}()
	return t, nil
}

// Insert sends n rows, in order; value is as for Writer.Insert.
func (t *Tx) Insert(ctx context.Context, n int, value func(i int, col string) any) error {
	if t.done {
		return fmt.Errorf("%s: transaction is over", t.w.Module)
	}
	skip := min(t.skip, n)
	t.skip -= skip
	t.offered += n
	if n > 0 {
		t.lastKey = t.w.rowKey(n-1, value)
	}
	if skip == n {
		return nil
	}
	b := t.w.encodeRows(skip, n, value)
	_, err := t.pw.Write(b)
	t.w.keepBuffer(b)
	if err != nil {
		t.pw.CloseWithError(err)
		return t.fail(<-t.result, err)
	}
	return nil
}

// Commit ends the COPY, which commits its rows, and releases the Writer.
func (t *Tx) Commit(ctx context.Context) error {
	if t.done {
		return fmt.Errorf("%s: transaction is over", t.w.Module)
	}
	t.pw.Close()
	if err := <-t.result; err != nil {
		return t.fail(err, nil)
	}
	t.release()
	return nil
}

// Abort ends the COPY with CopyFail (PostgreSQL keeps none of its rows), drops the
// connection and releases the Writer; after Commit or a failure it does nothing.
func (t *Tx) Abort() {
	if t.done {
		return
	}
	t.pw.CloseWithError(errAborted)
	<-t.result
	// An abort comes after an error or at a stop: the connection is made again.
	t.w.failed(t.offered, t.known, nil)
	t.w.fail(errAborted)
	t.release()
}

// fail notes the failed transaction (its last row's key tells the retry whether it
// committed after all) and drops the connection; err is the COPY's answer, sent the error
// of sending the data when that came first.
func (t *Tx) fail(err, sent error) error {
	t.w.failed(t.offered, t.known, t.lastKey)
	err = t.w.fail(cmp.Or(err, sent))
	t.release()
	return err
}

func (t *Tx) release() {
	t.done = true
	t.w.mu.Unlock()
}

// maxKeptBuffer is the largest COPY buffer a Writer keeps for the next Insert.
const maxKeptBuffer = 1 << 20

// appendCopyValue appends v as a field of COPY's text format: \N for NULL, and in text the
// backslash, tab, newline and carriage return escaped.
func appendCopyValue(b []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(b, '\\', 'N')
	case string:
		return appendCopyText(b, v)
	case int:
		return strconv.AppendInt(b, int64(v), 10)
	case int64:
		return strconv.AppendInt(b, v, 10)
	case int32:
		return strconv.AppendInt(b, int64(v), 10)
	case uint32:
		return strconv.AppendUint(b, uint64(v), 10)
	case uint64:
		return strconv.AppendUint(b, v, 10)
	case bool:
		return strconv.AppendBool(b, v)
	case []byte:
		return appendCopyText(b, string(v))
	}
	return appendCopyText(b, fmt.Sprint(v))
}

func appendCopyText(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b = append(b, '\\', '\\')
		case '\t':
			b = append(b, '\\', 't')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		default:
			b = append(b, c)
		}
	}
	return b
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
