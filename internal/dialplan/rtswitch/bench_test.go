package rtswitch_test

import (
	"context"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/dialplan/rtswitch"
	"github.com/pleiades-pbx/pleiades/internal/dialplan/rtswitch/rttest"
)

// BenchmarkLookup compares a lookup answered by the cache with one that queries the database
// (cache off), for an exact row and for a pattern row, on every reachable backend. It also
// checks that a repeated lookup within the window issues no query.
func BenchmarkLookup(b *testing.B) {
	for _, bk := range rttest.Backends {
		b.Run(bk.Name, func(b *testing.B) {
			be := bk.New(b)
			row(b, be, "rtctx", "201", 1, "NoOp", "")
			row(b, be, "rtctx", "_5XX", 1, "NoOp", "")
			for _, tc := range []struct{ name, exten string }{{"exact", "201"}, {"pattern", "555"}} {
				for _, cached := range []bool{true, false} {
					name := tc.name + "/uncached"
					if cached {
						name = tc.name + "/cached"
					}
					b.Run(name, func(b *testing.B) {
						s := rtswitch.New(nil, be.Engine)
						if !cached {
							s.SetCacheTTL(0)
						} else {
							s.SetCacheTTL(time.Hour)
						}
						ctx := context.Background()
						if ok, err := s.Exists(ctx, "rtctx", tc.exten, 1, "", ""); err != nil || !ok {
							b.Fatal(ok, err)
						}
						before := be.Queries("extensions")
						b.ResetTimer()
						for b.Loop() {
							if ok, err := s.Exists(ctx, "rtctx", tc.exten, 1, "", ""); err != nil || !ok {
								b.Fatal(ok, err)
							}
						}
						b.StopTimer()
						q := be.Queries("extensions") - before
						if cached && q != 0 {
							b.Fatalf("cached lookups issued %d queries", q)
						}
						b.ReportMetric(float64(q)/float64(b.N), "queries/op")
					})
				}
			}
		})
	}
}
