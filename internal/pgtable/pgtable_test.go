package pgtable

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/test/testenv"
)

func TestParseGlobal(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       *Conn
		err        string
	}{
		{"absent", "[other]\nx=1\n", nil, ""},
		{"defaults", "[global]\nhostname=db\n", &Conn{Host: "db", DBName: "asterisk", User: "asterisk", Table: "cdr"}, ""},
		{"all", "[global]\nhostname=h\nport=5433\ndbname=d\nuser=u\npassword=p\nappname=a\ntable=s.t\nencoding=LATIN9\n",
			&Conn{Host: "h", Port: "5433", DBName: "d", User: "u", Password: "p", AppName: "a", Table: "s.t", Encoding: "LATIN9"}, ""},
		{"bad port", "[global]\nhostname=h\nport=fivefourthreetwo\n", nil, "cdr_pgsql.conf:3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := conf.Parse("cdr_pgsql.conf", []byte(tc.text), conf.Options{})
			if err != nil {
				t.Fatal(err)
			}
			c, g, err := ParseGlobal(cfg, "cdr")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one naming %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == nil {
				if c != nil || g != nil {
					t.Fatalf("got %+v for a file without [global]", c)
				}
				return
			}
			if *c != *tc.want || g == nil {
				t.Fatalf("got %+v, want %+v", c, tc.want)
			}
		})
	}
	if c, _, err := ParseGlobal(nil, "cel"); c != nil || err != nil {
		t.Fatalf("no file: %v %v", c, err)
	}
}

// scratch connects to the local PostgreSQL as its administrator and makes a scratch schema
// holding table ("t (columns)"), dropped at the test's end; ok is false (the test reported
// unavailable) without PostgreSQL.
func scratch(t *testing.T, table string) (admin *pgx.Conn, schema string, ok bool) {
	t.Helper()
	admin, err := pgx.Connect(t.Context(), "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	if err != nil {
		testenv.Unavailable(t, "PostgreSQL not reachable: %v", err)
		return nil, "", false
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	schema = "pgtable_" + strconv.Itoa(rand.IntN(1e9))
	if _, err := admin.Exec(t.Context(), "CREATE SCHEMA "+schema+"; CREATE TABLE "+schema+"."+table); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE") })
	return admin, schema, true
}

// Rows go into the columns the table has; a missing one is reported once; a connection
// lost between inserts is made again; a missing table is an error naming it.
func TestInsert(t *testing.T) {
	ctx := t.Context()
	admin, schema, ok := scratch(t, "t (a TEXT, at TIMESTAMP, extra TEXT)")
	if !ok {
		return
	}
	var log bytes.Buffer
	w := &Writer{Conn: Conn{Host: "127.0.0.1", Port: "5432", DBName: "test", User: "postgres", Table: schema + ".t"},
		Module: "test_pgsql", Columns: []string{"a", "at", "gone"},
		Log: slog.New(slog.NewTextHandler(&log, nil))}
	defer w.Close()
	rows := [][]any{{"one", "2026-12-07 10:00:00.000000", "x"}, {"two", nil, "y"}}
	value := func(i int, col string) any {
		switch col {
		case "a":
			return rows[i][0]
		case "at":
			return rows[i][1]
		}
		t.Errorf("asked for column %q the table lacks", col)
		return nil
	}
	if err := w.Insert(ctx, 2, value); err != nil {
		t.Fatal(err)
	}
	w.Close() // the next insert connects again
	if err := w.Insert(ctx, 1, value); err != nil {
		t.Fatal(err)
	}
	var n, stamped int
	if err := admin.QueryRow(ctx, "SELECT count(*), count(at) FROM "+schema+".t").Scan(&n, &stamped); err != nil {
		t.Fatal(err)
	}
	if n != 3 || stamped != 2 {
		t.Fatalf("%d rows, %d with a time; want 3, 2", n, stamped)
	}
	if got := strings.Count(log.String(), "lacks columns"); got != 1 || !strings.Contains(log.String(), "columns=gone") {
		t.Fatalf("log: %q", log.String())
	}
	missing := &Writer{Conn: Conn{Host: "127.0.0.1", Port: "5432", DBName: "test", User: "postgres", Table: schema + ".nope"}, Module: "test_pgsql", Columns: []string{"a"}}
	if err := missing.Insert(ctx, 1, value); err == nil || !strings.Contains(err.Error(), "test_pgsql: table "+schema+".nope not found") {
		t.Fatalf("missing table: %v", err)
	}
}

// cutAtCommit is a proxy to PostgreSQL that passes the end of a COPY (its CopyDone
// message, which commits the statement's implicit transaction) on once, then cuts that
// connection before the answer comes back: the client cannot know it committed.
type cutAtCommit struct {
	ln  net.Listener
	cut atomic.Bool // set once the cut happened
}

func newCutAtCommit(t *testing.T) *cutAtCommit {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutAtCommit{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", "127.0.0.1:5432")
			if err != nil {
				c.Close()
				continue
			}
			var lost atomic.Bool // this connection's answers are lost from its COMMIT on
			go func() {
				defer c.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := up.Read(buf)
					if lost.Load() {
						return
					}
					if n > 0 {
						c.Write(buf[:n])
					}
					if err != nil {
						return
					}
				}
			}()
			go func() {
				defer up.Close()
				defer c.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						commit := !p.cut.Load() && bytes.Contains(buf[:n], []byte{'c', 0, 0, 0, 4})
						if commit {
							lost.Store(true)
							p.cut.Store(true)
						}
						up.Write(buf[:n])
						if commit {
							time.Sleep(200 * time.Millisecond) // the server commits; its answer is lost
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return p
}

// A batch whose COMMIT went through but whose answer was lost is not inserted again when
// the caller retries it (with more rows behind it).
func TestInsertRetryAfterLostCommit(t *testing.T) {
	ctx := t.Context()
	w, proxy, admin, schema, ok := behindCut(t)
	if !ok {
		return
	}
	if err := w.Insert(ctx, 3, uidRows(0)); err == nil || !proxy.cut.Load() {
		t.Fatalf("the first insert: %v (cut %v), want an error after its commit", err, proxy.cut.Load())
	}
	if err := w.Insert(ctx, 5, uidRows(0)); err != nil {
		t.Fatal(err)
	}
	if got := uids(t, admin, schema); got != "u0,u1,u2,u3,u4" {
		t.Fatalf("rows %s, want u0..u4 once each", got)
	}
}

// behindCut makes a scratch table t (uid, seq) and a Writer keyed on both that reaches
// PostgreSQL through a cutAtCommit proxy; ok is false without PostgreSQL.
func behindCut(t *testing.T) (w *Writer, proxy *cutAtCommit, admin *pgx.Conn, schema string, ok bool) {
	admin, schema, ok = scratch(t, "t (uid TEXT, seq INTEGER)")
	if !ok {
		return
	}
	proxy = newCutAtCommit(t)
	port := strconv.Itoa(proxy.ln.Addr().(*net.TCPAddr).Port)
	w = &Writer{Conn: Conn{Host: "127.0.0.1", Port: port, DBName: "test", User: "postgres", Table: schema + ".t"},
		Module: "test_pgsql", Columns: []string{"uid", "seq"}, Key: []string{"uid", "seq"}}
	t.Cleanup(func() { w.Close() })
	return
}

// Batches of many rows and of one: every row once and in order, NULLs and timestamps given
// as text in every row.
func TestInsertManyRows(t *testing.T) {
	ctx := t.Context()
	admin, schema, ok := scratch(t, "t (uid TEXT, seq INTEGER, at TIMESTAMP)")
	if !ok {
		return
	}
	w := &Writer{Conn: Conn{Host: "127.0.0.1", Port: "5432", DBName: "test", User: "postgres", Table: schema + ".t"},
		Module: "test_pgsql", Columns: []string{"uid", "seq", "at"}}
	defer w.Close()
	from := 0
	value := func(i int, col string) any {
		switch col {
		case "uid":
			return "u" + strconv.Itoa(from+i)
		case "seq":
			return from + i
		}
		if (from+i)%2 == 1 {
			return nil
		}
		return "2026-12-07 10:00:" + fmt.Sprintf("%02d", (from+i)%60) + ".000000"
	}
	total := 0
	for _, n := range []int{107, 1, 50, 3} {
		if err := w.Insert(ctx, n, value); err != nil {
			t.Fatal(err)
		}
		from += n
		total += n
	}
	var n, stamped, inOrder int
	if err := admin.QueryRow(ctx, `SELECT count(*), count(at), count(*) FILTER (WHERE uid = 'u' || seq AND
		(seq % 2 = 1 OR at = '2026-12-07 10:00:00'::timestamp + make_interval(secs => seq % 60))) FROM `+schema+".t").Scan(&n, &stamped, &inOrder); err != nil {
		t.Fatal(err)
	}
	if n != total || stamped != (total+1)/2 || inOrder != total {
		t.Fatalf("%d rows (%d with a time, %d right), want %d (%d)", n, stamped, inOrder, total, (total+1)/2)
	}
	var seqs string
	if err := admin.QueryRow(ctx, "SELECT string_agg(seq::text, ',' ORDER BY ctid) FROM "+schema+".t").Scan(&seqs); err != nil {
		t.Fatal(err)
	}
	want := make([]string, total)
	for i := range want {
		want[i] = strconv.Itoa(i)
	}
	if seqs != strings.Join(want, ",") {
		t.Fatalf("rows in the order %s", seqs)
	}
}

// Text reaches the table as it was given, whatever COPY's text format gives a meaning to
// (tab, newline, carriage return, backslash, a literal \N), and a nil is NULL.
func TestInsertText(t *testing.T) {
	ctx := t.Context()
	admin, schema, ok := scratch(t, "t (i INTEGER, v TEXT, n BIGINT)")
	if !ok {
		return
	}
	w := &Writer{Conn: Conn{Host: "127.0.0.1", Port: "5432", DBName: "test", User: "postgres", Table: schema + ".t"},
		Module: "test_pgsql", Columns: []string{"i", "v", "n"}}
	defer w.Close()
	texts := []any{"plain", "a\tb", "line\nbreak", "cr\rhere", `back\slash`, `\N`, "", nil, "\\.", "é ☎ \x01", `\\t`}
	value := func(i int, col string) any {
		switch col {
		case "i":
			return i
		case "v":
			return texts[i]
		}
		return int64(-1) << 40
	}
	if err := w.Insert(ctx, len(texts), value); err != nil {
		t.Fatal(err)
	}
	rows, err := admin.Query(ctx, "SELECT i, v, n FROM "+schema+".t ORDER BY i")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	k := 0
	for rows.Next() {
		var i int
		var v *string
		var n int64
		if err := rows.Scan(&i, &v, &n); err != nil {
			t.Fatal(err)
		}
		want := texts[i]
		switch {
		case want == nil && v != nil:
			t.Errorf("row %d: %q, want NULL", i, *v)
		case want != nil && (v == nil || *v != want.(string)):
			t.Errorf("row %d: %v, want %q", i, v, want)
		}
		if n != -1<<40 {
			t.Errorf("row %d: n = %d", i, n)
		}
		k++
	}
	if k != len(texts) {
		t.Fatalf("%d rows, want %d", k, len(texts))
	}
}

func TestAppendCopyValue(t *testing.T) {
	for _, c := range []struct {
		v    any
		want string
	}{
		{nil, `\N`}, {"", ""}, {"a\tb\nc\rd\\e", `a\tb\nc\rd\\e`}, {`\N`, `\\N`}, {7, "7"}, {int64(-3), "-3"},
		{uint32(4), "4"}, {true, "true"}, {[]byte("x\ty"), `x\ty`}, {1.5, "1.5"},
	} {
		if got := string(appendCopyValue(nil, c.v)); got != c.want {
			t.Errorf("%#v: %q, want %q", c.v, got, c.want)
		}
	}
}

// A transaction's rows, given in several pieces, are in the table only once it commits; an
// aborted one leaves none and the next transaction writes them.
func TestTx(t *testing.T) {
	ctx := t.Context()
	admin, schema, ok := scratch(t, "t (uid TEXT, seq INTEGER)")
	if !ok {
		return
	}
	w := &Writer{Conn: Conn{Host: "127.0.0.1", Port: "5432", DBName: "test", User: "postgres", Table: schema + ".t"},
		Module: "test_pgsql", Columns: []string{"uid", "seq"}, Key: []string{"uid", "seq"}}
	defer w.Close()
	count := func() (n int) {
		t.Helper()
		if err := admin.QueryRow(ctx, "SELECT count(*) FROM "+schema+".t").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	tx, err := w.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	insertPieces(t, tx, [2]int{0, 2}, [2]int{2, 3})
	if n := count(); n != 0 {
		t.Fatalf("%d rows visible before the commit", n)
	}
	tx.Abort()
	tx.Abort() // a second one does nothing
	if n := count(); n != 0 {
		t.Fatalf("%d rows after an abort", n)
	}
	tx, err = w.Begin(ctx) // connects again
	if err != nil {
		t.Fatal(err)
	}
	insertPieces(t, tx, [2]int{0, 2}, [2]int{2, 1}, [2]int{3, 2})
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err == nil {
		t.Fatal("a second Commit succeeded")
	}
	if got := uids(t, admin, schema); got != "u0,u1,u2,u3,u4" {
		t.Fatalf("rows %s, want u0..u4 once each", got)
	}
	// The Writer is free again: a plain Insert goes through.
	if err := w.Insert(ctx, 1, uidRows(5)); err != nil || count() != 6 {
		t.Fatalf("insert after the transaction: %v, %d rows", err, count())
	}
}

// A transaction whose COMMIT went through but whose answer was lost is not written again
// when its rows are offered first in the next one, in other pieces.
func TestTxRetryAfterLostCommit(t *testing.T) {
	ctx := t.Context()
	w, proxy, admin, schema, ok := behindCut(t)
	if !ok {
		return
	}
	tx, err := w.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	insertPieces(t, tx, [2]int{0, 2}, [2]int{2, 1})
	if err := tx.Commit(ctx); err == nil || !proxy.cut.Load() {
		t.Fatalf("the first commit: %v (cut %v), want an error after it went through", err, proxy.cut.Load())
	}
	tx.Abort() // after a failure: nothing more
	// The retry: the same three rows first (cut differently), then two more.
	if tx, err = w.Begin(ctx); err != nil {
		t.Fatal(err)
	}
	insertPieces(t, tx, [2]int{0, 1}, [2]int{1, 3}, [2]int{4, 1})
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := uids(t, admin, schema); got != "u0,u1,u2,u3,u4" {
		t.Fatalf("rows %s, want u0..u4 once each", got)
	}
}

// uidRows gives rows from, from+1...: uid "u<n>", seq n.
func uidRows(from int) func(i int, col string) any {
	return func(i int, col string) any {
		if col == "uid" {
			return "u" + strconv.Itoa(from+i)
		}
		return from + i
	}
}

// insertPieces inserts into tx each piece {from, n}: n rows of uidRows(from).
func insertPieces(t *testing.T, tx *Tx, pieces ...[2]int) {
	t.Helper()
	for _, p := range pieces {
		if err := tx.Insert(t.Context(), p[1], uidRows(p[0])); err != nil {
			t.Fatal(err)
		}
	}
}

// uids is the uid column of schema.t in the order the rows were written.
func uids(t *testing.T, admin *pgx.Conn, schema string) string {
	t.Helper()
	var got string
	if err := admin.QueryRow(t.Context(), "SELECT string_agg(uid, ',' ORDER BY ctid) FROM "+schema+".t").Scan(&got); err != nil {
		t.Fatal(err)
	}
	return got
}
