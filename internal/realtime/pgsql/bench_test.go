package pgsql

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

// benchEnv is a scratch schema holding Asterisk's sippeers table with 10,000 rows.
func benchEnv(b *testing.B, extra ...string) *env {
	e := newEnv(b, extra...)
	e.loadAsteriskSchema(b)
	e.exec(b, `INSERT INTO sippeers (name, secret, context, host, type, port, callerid, allow, trustrpid)
		SELECT 'peer' || i, 'secret' || i, 'default', 'dynamic', 'friend', 5060, '"Peer ' || i || '" <' || i || '>', 'ulaw;alaw', 'yes'
		FROM generate_series(1, 10000) AS i; ANALYZE sippeers`)
	return e
}

// BenchmarkLoad compares Load by name through the driver with the same SELECT issued on a
// plain pgx connection (same SQL text, text results, values copied to strings).
func BenchmarkLoad(b *testing.B) {
	e := benchEnv(b)
	ctx := context.Background()
	fields := func(i int) []realtime.Field {
		return []realtime.Field{{Name: "name", Value: "peer" + strconv.Itoa(i%10000+1)}}
	}
	if _, err := e.drv.Load(ctx, e.db, "sippeers", fields(0)); err != nil {
		b.Fatal(err)
	}
	b.Run("driver", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := e.drv.Load(ctx, e.db, "sippeers", fields(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("direct", func(b *testing.B) {
		db, _ := e.drv.database(e.db)
		t, _ := e.drv.table(ctx, db, "sippeers")
		sql := t.Select + ` WHERE "name" = $1 LIMIT 1`
		cc := e.cc.Copy()
		cc.RuntimeParams["search_path"] = e.schema
		c, err := pgx.ConnectConfig(ctx, cc)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close(ctx)
		for i := 0; b.Loop(); i++ {
			rows, err := c.Query(ctx, sql, textResults, "peer"+strconv.Itoa(i%10000+1))
			if err != nil {
				b.Fatal(err)
			}
			var out []string
			for rows.Next() {
				for _, v := range rows.RawValues() {
					if v != nil {
						out = append(out, string(v))
					}
				}
			}
			rows.Close()
			if rows.Err() != nil || len(out) == 0 {
				b.Fatal(rows.Err())
			}
		}
	})
}

// BenchmarkLoadParallel runs Loads from many goroutines: with the pool (max_connections=8)
// and with one connection (Asterisk's res_config_pgsql: one connection behind one lock).
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
					if _, err := e.drv.Load(ctx, e.db, "sippeers", []realtime.Field{{Name: "name", Value: "peer" + strconv.FormatInt(i%10000+1, 10)}}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
