package unixodbc

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/test/testenv"
)

// The test servers, reached through Debian's odbc-postgresql and odbc-mariadb (the same
// connection strings and variables as the realtime odbc driver's tests).
var servers = []struct{ name, envVar, def string }{
	{"pgsql", "PLEIADES_TEST_ODBC_PGSQL", "Driver=PostgreSQL Unicode;Server=127.0.0.1;Port=5432;Database=test;Uid=postgres;CommLog=0;"},
	{"mysql", "PLEIADES_TEST_ODBC_MYSQL", "Driver=MariaDB Unicode;Server=127.0.0.1;Port=3306;Database=test;User=root;CHARSET=utf8mb4;"},
}

// forServers runs f against each test server with a pool of connections to it.
func forServers(t *testing.T, f func(t *testing.T, name string, db *sql.DB)) {
	for _, s := range servers {
		t.Run(s.name, func(t *testing.T) {
			cs := s.def
			if v := os.Getenv(s.envVar); v != "" {
				cs = v
			}
			db, err := sql.Open("odbc", cs)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := db.PingContext(ctx); err != nil {
				testenv.Unavailable(t, "%s test server unreachable (%s=%q): %v", s.name, s.envVar, cs, err)
			}
			f(t, s.name, db)
		})
	}
}

// scratchTable creates a table that is dropped when the test ends.
func scratchTable(t *testing.T, db *sql.DB, cols string) string {
	return scratchTableOpts(t, db, cols, "")
}

func scratchTableOpts(t *testing.T, db *sql.DB, cols, opts string) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "pleiades_uodbc_" + hex.EncodeToString(b)
	if _, err := db.Exec("CREATE TABLE " + name + " (" + cols + ")" + opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := db.Exec("DROP TABLE " + name); err != nil {
			t.Error(err)
		}
	})
	return name
}

// longText is n characters mixing ASCII, 2-byte and 4-byte (surrogate pair) characters, so
// that SQLGetData chunks end inside every kind of character.
func longText(n int) string {
	var b strings.Builder
	parts := []string{"a", "é", "😀", "x", "ß", "€"}
	for i := 0; i < n; i++ {
		b.WriteString(parts[i%len(parts)])
	}
	return b.String()
}

func TestValuesRoundTrip(t *testing.T) {
	forServers(t, func(t *testing.T, name string, db *sql.DB) {
		blob, dt, text, opts := "bytea", "timestamp", "text", ""
		if name == "mysql" {
			blob, dt, text, opts = "longblob", "datetime(6)", "longtext", " CHARACTER SET utf8mb4"
		}
		tbl := scratchTableOpts(t, db, "id integer, s varchar(200), l "+text+", i bigint, f double precision, b boolean, "+
			"n numeric(12,2), d date, ts "+dt+", bin "+blob, opts)
		ts := time.Date(2024, 2, 29, 13, 14, 15, 123456000, time.UTC)
		long := longText(70000)
		bin := []byte{0, 1, 2, 0xff, 0, 'x'}
		ins := "INSERT INTO " + tbl + " (id, s, l, i, f, b, n, d, ts, bin) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
		if _, err := db.Exec(ins, 1, "Jöhn 😀 ' \" ; ^", long, int64(-9007199254740993), 0.25, true, "12.50", "2024-02-29", ts, bin); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(ins, 2, nil, nil, nil, nil, nil, nil, nil, nil, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(ins, 3, "", "", 0, 0.0, false, "-0.50", "0001-01-01", ts, []byte{}); err != nil {
			t.Fatal(err)
		}
		rows, err := db.Query("SELECT id, s, l, i, f, b, n, d, ts, bin FROM " + tbl + " ORDER BY id")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		if strings.Join(cols, ",") != "id,s,l,i,f,b,n,d,ts,bin" {
			t.Errorf("columns %v", cols)
		}
		want := [][]any{
			{int64(1), "Jöhn 😀 ' \" ; ^", long, int64(-9007199254740993), 0.25, true, "12.5",
				time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), ts, bin},
			{int64(2), nil, nil, nil, nil, nil, nil, nil, nil, nil},
			{int64(3), "", "", int64(0), 0.0, false, "-0.5", time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), ts, []byte{}},
		}
		for r := 0; rows.Next(); r++ {
			got := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range got {
				ptrs[i] = &got[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			if r >= len(want) {
				t.Fatalf("extra row %v", got)
			}
			for i, w := range want[r] {
				g := got[i]
				if cols[i] == "b" && g != nil {
					// MariaDB's boolean is TINYINT(1); psqlODBC sends booleans as "1"/"0"
					// (BoolsAsChar, its default).
					g = fmt.Sprint(g) == "1"
				}
				if !equal(g, w) {
					gs, ws := short(g), short(w)
					t.Errorf("row %d %s = %T %s, want %T %s", r+1, cols[i], g, gs, w, ws)
				}
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	})
}

func equal(a, b any) bool {
	switch b := b.(type) {
	case []byte:
		a, ok := a.([]byte)
		return ok && bytes.Equal(a, b)
	case time.Time:
		a, ok := a.(time.Time)
		return ok && a.Equal(b)
	}
	return a == b
}

func short(v any) string {
	s := fmt.Sprintf("%v", v)
	if b, ok := v.([]byte); ok {
		s = hex.EncodeToString(b)
	}
	if len(s) > 60 {
		s = s[:60] + "..."
	}
	return s
}

// TestExactNumbers: DECIMAL and BIGINT values arrive exactly (an unsigned BIGINT beyond int64
// as text).
func TestExactNumbers(t *testing.T) {
	forServers(t, func(t *testing.T, name string, db *sql.DB) {
		q := map[string]any{
			"SELECT CAST(12345678901234567.50 AS DECIMAL(20,2))": "12345678901234567.5",
			"SELECT CAST(100.000 AS DECIMAL(10,3))":              "100",
		}
		if name == "pgsql" {
			q["SELECT CAST(9223372036854775807 AS BIGINT)"] = int64(9223372036854775807)
		} else {
			q["SELECT CAST(-9223372036854775808 AS SIGNED)"] = int64(-9223372036854775808)
			q["SELECT CAST(18446744073709551615 AS UNSIGNED)"] = "18446744073709551615"
		}
		for query, want := range q {
			var got any
			if err := db.QueryRow(query).Scan(&got); err != nil {
				t.Fatalf("%s: %v", query, err)
			}
			if got != want {
				t.Errorf("%s = %T %v, want %T %v", query, got, got, want, want)
			}
		}
	})
}

func TestRowsAffectedAndErrors(t *testing.T) {
	forServers(t, func(t *testing.T, name string, db *sql.DB) {
		tbl := scratchTable(t, db, "k varchar(10), v integer")
		for _, k := range []string{"a", "b", "c"} {
			if _, err := db.Exec("INSERT INTO "+tbl+" (k, v) VALUES (?, 1)", k); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range []struct {
			q    string
			want int64
		}{
			{"UPDATE " + tbl + " SET v = 2 WHERE k <> ?", 2},
			{"UPDATE " + tbl + " SET v = 3 WHERE k = ?", 0}, // SQL_NO_DATA
			{"DELETE FROM " + tbl + " WHERE k = ?", 0},
		} {
			arg := "a"
			if c.want == 0 {
				arg = "none"
			}
			res, err := db.Exec(c.q, arg)
			if err != nil {
				t.Fatalf("%s: %v", c.q, err)
			}
			if n, _ := res.RowsAffected(); n != c.want {
				t.Errorf("%s: %d rows, want %d", c.q, n, c.want)
			}
		}
		_, err := db.Exec("SELECT * FROM pleiades_no_such_table_x")
		var oe *Error
		if !errors.As(err, &oe) || len(oe.Diag) == 0 || !strings.HasPrefix(oe.Diag[0].State, "42") ||
			errors.Is(err, driver.ErrBadConn) || strings.Contains(err.Error(), "\n") {
			t.Errorf("missing table: %v, want one-line *Error with SQLSTATE 42xxx", err)
		}
	})
}

func TestTransactions(t *testing.T) {
	forServers(t, func(t *testing.T, name string, db *sql.DB) {
		tbl := scratchTable(t, db, "k varchar(10)")
		count := func() int {
			var n int
			if err := db.QueryRow("SELECT COUNT(*) FROM " + tbl).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		db.SetMaxOpenConns(2)
		tx, err := db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec("INSERT INTO "+tbl+" VALUES (?)", "rolled"); err != nil {
			t.Fatal(err)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		if n := count(); n != 0 {
			t.Fatalf("after rollback: %d rows", n)
		}
		tx, err = db.BeginTx(context.Background(), &sql.TxOptions{Isolation: sql.LevelSerializable})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec("INSERT INTO "+tbl+" VALUES (?)", "kept"); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		// Autocommit is back on: a statement on the same (only idle) connection is committed
		// without a transaction, as another connection sees.
		db.SetMaxOpenConns(1)
		if _, err := db.Exec("INSERT INTO "+tbl+" VALUES (?)", "auto"); err != nil {
			t.Fatal(err)
		}
		db.SetMaxIdleConns(0) // close it: uncommitted work would be rolled back
		db.SetMaxIdleConns(2)
		if n := count(); n != 2 {
			t.Fatalf("after commit and an autocommit insert: %d rows, want 2", n)
		}
	})
}

// TestCancel: a cancelled context stops a running statement (SQLCancel).
func TestCancel(t *testing.T) {
	forServers(t, func(t *testing.T, name string, db *sql.DB) {
		q := "SELECT pg_sleep(30)"
		if name == "mysql" {
			q = "SELECT SLEEP(30)"
		}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		rows, err := db.QueryContext(ctx, q)
		if err == nil {
			for rows.Next() {
			}
			err = rows.Err()
			rows.Close()
		}
		if took := time.Since(start); took > 20*time.Second {
			t.Errorf("cancelled statement ran %v", took)
		}
		if name == "pgsql" && err == nil {
			t.Errorf("cancelled statement: no error")
		}
		// The connection is usable afterwards.
		var one int
		if err := db.QueryRow("SELECT 1").Scan(&one); err != nil || one != 1 {
			t.Errorf("after cancel: %d, %v", one, err)
		}
	})
}

// TestNamedParameterRefused: ODBC markers are positional; a named argument is an error, not
// silently bound by position.
func TestNamedParameterRefused(t *testing.T) {
	forServers(t, func(t *testing.T, name string, db *sql.DB) {
		var s string
		err := db.QueryRow("SELECT ?", sql.Named("x", "a")).Scan(&s)
		if err == nil || !strings.Contains(err.Error(), "named parameter") {
			t.Errorf("named parameter: %v", err)
		}
	})
}

// TestLostConnection: a connection the server dropped reports an error matching
// driver.ErrBadConn, and the pool does not hand it out again.
func TestLostConnection(t *testing.T) {
	forServers(t, func(t *testing.T, name string, db *sql.DB) {
		ctx := context.Background()
		c1, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c1.Close()
		idQuery, kill := "SELECT pg_backend_pid()", "SELECT pg_terminate_backend(CAST(? AS integer))"
		if name == "mysql" {
			idQuery, kill = "SELECT CONNECTION_ID()", "KILL ?"
		}
		var id int64
		if err := c1.QueryRowContext(ctx, idQuery).Scan(&id); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, kill, id); err != nil {
			t.Fatal(err)
		}
		var one int
		err = c1.QueryRowContext(ctx, "SELECT 1").Scan(&one)
		if !errors.Is(err, driver.ErrBadConn) {
			var oe *Error
			errors.As(err, &oe)
			t.Fatalf("query on a killed connection: %v (%#v), want an error matching driver.ErrBadConn", err, oe)
		}
		c1.Close()
		for i := 0; i < 3; i++ {
			if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
				t.Fatalf("pool after a lost connection: %v", err)
			}
		}
	})
}
