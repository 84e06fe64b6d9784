package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
	"github.com/pleiades-pbx/pleiades/internal/realtime/sqlite"
)

// benchEnv creates a database with the default schema, fills it with fill and returns an
// engine mapping sippeers and static file big.conf to it, plus the driver's own *sql.DB.
func benchEnv(b *testing.B, fill func(tx *sql.Tx)) (*realtime.Engine, *sql.DB, string) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "bench.sqlite3")
	ctx := context.Background()
	if err := sqlite.CreateDefaultSchema(ctx, path); err != nil {
		b.Fatal(err)
	}
	d := newDriver(b, path)
	db, _ := d.DB("asterisk")
	tx, err := db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	fill(tx)
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	e := realtime.New(quietLog())
	e.Register(d)
	ext := &conf.Config{File: "extconfig.conf"}
	cat := &conf.Category{Name: "settings", File: ext.File, Line: 1}
	cat.Vars = []*conf.Variable{
		{Name: "sippeers", Value: "sqlite3,asterisk", File: ext.File, Line: 2},
		{Name: "big.conf", Value: "sqlite3,asterisk,ast_config", File: ext.File, Line: 3},
	}
	ext.Categories = []*conf.Category{cat}
	if err := e.Configure(ctx, ext, nil); err != nil {
		b.Fatal(err)
	}
	return e, db, path
}

func fillPeers(n int) func(tx *sql.Tx) {
	return func(tx *sql.Tx) {
		st, _ := tx.Prepare("INSERT INTO sippeers (name, secret, context, host, type, allow, disallow, nat, ipaddr, port, regseconds, callerid) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)")
		for i := 0; i < n; i++ {
			st.Exec(fmt.Sprintf("peer%05d", i), "secret", "from-internal", "dynamic", "friend", "ulaw;alaw", "all", "force_rport,comedia",
				"192.0.2.1", 5060, 1700000000+i, fmt.Sprintf(`"Peer %d" <%d>`, i, i))
		}
		st.Close()
	}
}

// BenchmarkLoad10k compares Engine.Load on a 10k-row sippeers table with the same query issued
// directly through database/sql on the same file (all 96 columns, NULLs skipped).
func BenchmarkLoad10k(b *testing.B) {
	e, _, path := benchEnv(b, fillPeers(10000))
	ctx := context.Background()
	direct, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(1000)&_pragma=journal_mode(WAL)")
	if err != nil {
		b.Fatal(err)
	}
	defer direct.Close()
	direct.SetMaxOpenConns(8)
	direct.SetMaxIdleConns(8)
	names := make([]string, 1024)
	for i := range names {
		names[i] = fmt.Sprintf("peer%05d", (i*7919)%10000)
	}
	b.Run("Engine", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			r, err := e.Load(ctx, "sippeers", realtime.Field{Name: "name", Value: names[i%len(names)]})
			if err != nil || len(r) < 10 {
				b.Fatal(err, r)
			}
		}
	})
	scan := func(rows *sql.Rows) int {
		cols, _ := rows.Columns()
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		n := 0
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				b.Fatal(err)
			}
			out := make([][2]string, 0, 16)
			for i, v := range vals {
				if v.Valid && v.String != "" {
					out = append(out, [2]string{cols[i], v.String})
				}
			}
			n = len(out)
		}
		rows.Close()
		return n
	}
	b.Run("Direct", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			rows, err := direct.QueryContext(ctx, "SELECT * FROM sippeers WHERE name = ? LIMIT 1", names[i%len(names)])
			if err != nil {
				b.Fatal(err)
			}
			if scan(rows) < 10 {
				b.Fatal("short row")
			}
		}
	})
	b.Run("DirectPrepared", func(b *testing.B) {
		st, err := direct.Prepare("SELECT * FROM sippeers WHERE name = ? LIMIT 1")
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		for i := 0; b.Loop(); i++ {
			rows, err := st.QueryContext(ctx, names[i%len(names)])
			if err != nil {
				b.Fatal(err)
			}
			if scan(rows) < 10 {
				b.Fatal("short row")
			}
		}
	})
	b.Run("EngineParallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				i++
				if _, err := e.Load(ctx, "sippeers", realtime.Field{Name: "name", Value: names[i%len(names)]}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkStatic100k builds a configuration from a 100k-row static table.
func BenchmarkStatic100k(b *testing.B) {
	e, _, _ := benchEnv(b, func(tx *sql.Tx) {
		st, _ := tx.Prepare("INSERT INTO ast_config (cat_metric, var_metric, commented, filename, category, var_name, var_val) VALUES (?,?,0,'big.conf',?,?,?)")
		for i := 0; i < 100000; i++ {
			st.Exec(i/20, i%20, fmt.Sprintf("cat%05d", i/20), fmt.Sprintf("var%02d", i%20), fmt.Sprintf("value %d", i))
		}
		st.Close()
	})
	ctx := context.Background()
	for b.Loop() {
		start := time.Now()
		cfg, mapped, err := e.LoadStatic(ctx, "big.conf")
		if err != nil || !mapped || len(cfg.Categories) != 5000 {
			b.Fatal(err, mapped)
		}
		b.ReportMetric(float64(time.Since(start).Milliseconds()), "ms/load")
	}
}
