package odbc

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pleiades-pbx/pleiades/internal/realtime/realtimetest"
)

const benchRows = 10000

// benchSetup creates Asterisk's sippeers table with benchRows peers in a scratch area.
func benchSetup(b *testing.B, tg target) *scratch {
	s := newScratch(b, tg)
	create, _, err := realtimetest.Statements(realtimetest.SchemaDir(), tg.dialect)
	if err != nil {
		b.Skip("no Asterisk schema: ", err)
	}
	for _, st := range create {
		if _, err := s.admin.Exec(st); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < benchRows; i += 500 {
		var vals []string
		for j := i; j < i+500; j++ {
			vals = append(vals, fmt.Sprintf("('peer%05d', 'dynamic', 'from-internal', 'secret%d', 'friend', 'ulaw;alaw', %d)", j, j, 5060+j%100))
		}
		if _, err := s.admin.Exec("INSERT INTO sippeers (name, host, context, secret, type, allow, port) VALUES " + strings.Join(vals, ", ")); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

// BenchmarkLoad: a Load by name through the driver, and the same SELECT done directly with
// database/sql on the same connection string; then N parallel Loads with a pool of 1 (Asterisk's
// default) and of 8 connections.
func BenchmarkLoad(b *testing.B) {
	for _, tg := range targets {
		b.Run(tg.name, func(b *testing.B) {
			s := benchSetup(b, tg)
			var n atomic.Int64
			name := func() string { return fmt.Sprintf("peer%05d", n.Add(7919)%benchRows) }
			for _, pool := range []int{1, 8} {
				d := newDriver(b, fmt.Sprintf("[asterisk]\nconnstr => %s\nmax_connections => %d\n", confEscape(s.connStr), pool))
				ctx := context.Background()
				if _, err := d.Load(ctx, "asterisk", "sippeers", F("name", "peer00001")); err != nil {
					b.Fatal(err)
				}
				load := func(b *testing.B) {
					r, err := d.Load(ctx, "asterisk", "sippeers", F("name", name()))
					if err != nil || len(r) < 5 {
						b.Fatal(r, err)
					}
				}
				if pool == 1 {
					b.Run("driver", func(b *testing.B) {
						for b.Loop() {
							load(b)
						}
					})
					direct, err := sql.Open("odbc", s.connStr)
					if err != nil {
						b.Fatal(err)
					}
					direct.SetMaxOpenConns(1)
					b.Run("direct", func(b *testing.B) {
						for b.Loop() {
							rows, err := direct.QueryContext(ctx, "SELECT * FROM sippeers WHERE name = ?", name())
							if err != nil {
								b.Fatal(err)
							}
							cols, _ := rows.Columns()
							vals := make([]any, len(cols))
							ptrs := make([]any, len(cols))
							for i := range vals {
								ptrs[i] = &vals[i]
							}
							if !rows.Next() {
								b.Fatal("no row")
							}
							if err := rows.Scan(ptrs...); err != nil {
								b.Fatal(err)
							}
							rows.Close()
						}
					})
					direct.Close()
				}
				b.Run(fmt.Sprintf("parallel-pool%d", pool), func(b *testing.B) {
					b.SetParallelism(4) // 4 x GOMAXPROCS goroutines
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							load(b)
						}
					})
				})
			}
		})
	}
}
