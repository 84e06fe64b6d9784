package mysql

import (
	"context"
	"database/sql"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

const digits = "(SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)"

// benchEnv is a scratch database holding Asterisk's sippeers table with 10,000 rows.
func benchEnv(b *testing.B, extra ...string) *env {
	e := newEnv(b, extra...)
	e.loadAsteriskSchema(b)
	e.exec(b, `INSERT INTO sippeers (name, secret, context, host, type, port, callerid, allow, trustrpid)
		SELECT CONCAT('peer', i), CONCAT('secret', i), 'default', 'dynamic', 'friend', 5060,
		       CONCAT('"Peer ', i, '" <', i, '>'), 'ulaw;alaw', 'yes'
		FROM (SELECT a.d * 1000 + b.d * 100 + c.d * 10 + e.d + 1 AS i FROM `+digits+` a, `+digits+` b, `+digits+` c, `+digits+` e) seq;
		ANALYZE TABLE sippeers`)
	return e
}

// BenchmarkLoad compares Load by name through the driver with the same SELECT issued through
// database/sql directly: once as db.Query (go-sql-driver prepares, executes and closes a
// statement per call) and once on a prepared *sql.Stmt, which is what the driver caches.
func BenchmarkLoad(b *testing.B) {
	e := benchEnv(b)
	ctx := context.Background()
	if _, err := e.drv.Load(ctx, e.section, "sippeers", []realtime.Field{{Name: "name", Value: "peer1"}}); err != nil {
		b.Fatal(err)
	}
	b.Run("driver", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := e.drv.Load(ctx, e.section, "sippeers", []realtime.Field{{Name: "name", Value: "peer" + strconv.Itoa(i%10000+1)}}); err != nil {
				b.Fatal(err)
			}
		}
	})
	c, _ := e.drv.conn(e.section, false)
	t, _ := e.drv.table(ctx, c, "sippeers")
	q := t.Select + " WHERE `name` = ? LIMIT 1"
	direct := func(b *testing.B, query func(ctx context.Context, args ...any) (*sql.Rows, error)) {
		vals := make([]sql.NullString, len(t.cols))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for i := 0; b.Loop(); i++ {
			rows, err := query(ctx, "peer"+strconv.Itoa(i%10000+1))
			if err != nil {
				b.Fatal(err)
			}
			var out []string
			for rows.Next() {
				if err := rows.Scan(ptrs...); err != nil {
					b.Fatal(err)
				}
				for _, v := range vals {
					if v.Valid {
						out = append(out, v.String)
					}
				}
			}
			rows.Close()
			if len(out) == 0 {
				b.Fatal("no row")
			}
		}
	}
	b.Run("direct-query", func(b *testing.B) {
		direct(b, func(ctx context.Context, args ...any) (*sql.Rows, error) {
			return e.admin.QueryContext(ctx, q, args...)
		})
	})
	b.Run("direct-prepared", func(b *testing.B) {
		st, err := e.admin.PrepareContext(ctx, q)
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		direct(b, st.QueryContext)
	})
}

// BenchmarkLoadParallel runs Loads from many goroutines with one pooled connection and with
// eight.
func BenchmarkLoadParallel(b *testing.B) {
	for _, pool := range []int{1, 8} {
		b.Run("max_connections="+strconv.Itoa(pool), func(b *testing.B) {
			e := benchEnv(b, "max_connections="+strconv.Itoa(pool))
			ctx := context.Background()
			var n atomic.Int64
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					if _, err := e.drv.Load(ctx, e.section, "sippeers", []realtime.Field{{Name: "name", Value: "peer" + strconv.FormatInt(i%10000+1, 10)}}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
