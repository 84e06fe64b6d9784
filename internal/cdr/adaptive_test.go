package cdr

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pleiades-pbx/pleiades/internal/conf"
)

// sqlQuerier runs the backend's SQL on a real SQLite database.
type sqlQuerier struct{ db *sql.DB }

func (q sqlQuerier) Query(ctx context.Context, _ string, s string, _ int, args ...any) ([]string, [][]*string, error) {
	rows, err := q.db.QueryContext(ctx, s, args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	return cols, nil, err
}

func (q sqlQuerier) Exec(ctx context.Context, _ string, s string, args ...any) (int64, error) {
	res, err := q.db.ExecContext(ctx, s, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func TestAdaptive(t *testing.T) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE cdr (calldate TEXT, source TEXT, dst TEXT, disposition TEXT, billsec INTEGER, rate TEXT, ident TEXT)`); err != nil {
		t.Fatal(err)
	}
	text := "[first]\nconnection=asterisk\ntable=cdr\nalias start => calldate\nalias src => source\nfilter accountcode => acct1\nfilter dst != 999\nstatic \"node-1\" => ident\n"
	cfg, err := conf.Parse("cdr_adaptive_odbc.conf", []byte(text), conf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	as, err := ParseAdaptive(cfg)
	if err != nil || len(as) != 1 {
		t.Fatalf("%v %v", as, err)
	}
	a := as[0]
	a.Q, a.UseGMTime = sqlQuerier{db}, true
	keep := sampleRecord()
	keep.Vars = map[string]string{"rate": "0.02"}
	other := sampleRecord()
	other.AccountCode = "acct2"
	nine := sampleRecord()
	nine.Dst = "999"
	e := New(nil, DefaultSettings())
	defer e.Close(context.Background())
	e.AddBackend(a, "")
	e.deliver([]*Record{keep, other, nine})
	e.Flush(t.Context())
	rows, err := db.Query(`SELECT calldate, source, dst, disposition, billsec, rate, ident FROM cdr`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var c [7]sql.NullString
		rows.Scan(&c[0], &c[1], &c[2], &c[3], &c[4], &c[5], &c[6])
		var f []string
		for _, x := range c {
			f = append(f, x.String)
		}
		got = append(got, strings.Join(f, "|"))
	}
	want := "2026-12-07 04:30:00|100|200|ANSWERED|12|0.02|node-1"
	if strings.Join(got, "\n") != want {
		t.Fatalf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
	}

	bad := "[x]\ntable=cdr\n[y]\nconnection=c\ntable=t\nstatic nope => col\nbogus=1\n"
	cfg, _ = conf.Parse("cdr_adaptive_odbc.conf", []byte(bad), conf.Options{})
	_, err = ParseAdaptive(cfg)
	if err == nil || !strings.Contains(err.Error(), "cdr_adaptive_odbc.conf:1: [x] needs connection=") ||
		!strings.Contains(err.Error(), "cdr_adaptive_odbc.conf:6: static") || !strings.Contains(err.Error(), "cdr_adaptive_odbc.conf:7: unknown option") {
		t.Fatalf("error %v", err)
	}
}
