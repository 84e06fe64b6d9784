package realtime_test

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

func TestCollector(t *testing.T) {
	ctx := context.Background()
	log, _ := newLog()
	e := realtime.New(log)
	e.Register(&countDriver{name: "pgsql"})
	if err := e.Configure(ctx, parse(t, "extconfig.conf", "[settings]\nsippeers => pgsql,db,t,1\nx.conf => pgsql,db,t\n"), nil); err != nil {
		t.Fatal(err)
	}
	c := e.Collector()
	e.Load(ctx, "sippeers", F("name", "alice")...)
	e.Load(ctx, "sippeers", F("name", "bob")...)
	want := `
# HELP pleiades_realtime_mappings extconfig.conf mappings in force, by kind (family, static).
# TYPE pleiades_realtime_mappings gauge
pleiades_realtime_mappings{kind="family"} 1
pleiades_realtime_mappings{kind="static"} 1
# HELP pleiades_realtime_queries_total Realtime calls by family (driver: its priority-1 mapping).
# TYPE pleiades_realtime_queries_total counter
pleiades_realtime_queries_total{driver="pgsql",family="sippeers"} 2
pleiades_realtime_queries_total{driver="pgsql",family="x.conf"} 0
# HELP pleiades_realtime_errors_total Realtime calls that failed (not counting 'not found'), by family.
# TYPE pleiades_realtime_errors_total counter
pleiades_realtime_errors_total{driver="pgsql",family="sippeers"} 0
pleiades_realtime_errors_total{driver="pgsql",family="x.conf"} 0
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "pleiades_realtime_mappings", "pleiades_realtime_queries_total", "pleiades_realtime_errors_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(c, "pleiades_realtime_query_duration_seconds"); n != 1 {
		t.Errorf("%d query-duration series, want 1 (pgsql, sippeers, ok)", n)
	}
	if n := testutil.CollectAndCount(c, "pleiades_realtime_failovers_total"); n != 2 {
		t.Errorf("%d failover series, want 2", n)
	}
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

func TestCacheCollector(t *testing.T) {
	c := realtime.CacheCollector(func() map[string]realtime.CacheStats {
		return map[string]realtime.CacheStats{"rtswitch.rows": {Entries: 4, Hits: 30, Misses: 10, LoadErrors: 2}, "rtswitch.hints": {}}
	})
	want := `
# HELP pleiades_realtime_cache_entries Objects in the realtime cache.
# TYPE pleiades_realtime_cache_entries gauge
pleiades_realtime_cache_entries{cache="rtswitch.hints"} 0
pleiades_realtime_cache_entries{cache="rtswitch.rows"} 4
# HELP pleiades_realtime_cache_hit_ratio hits / (hits + misses) since start (0 before any lookup).
# TYPE pleiades_realtime_cache_hit_ratio gauge
pleiades_realtime_cache_hit_ratio{cache="rtswitch.hints"} 0
pleiades_realtime_cache_hit_ratio{cache="rtswitch.rows"} 0.75
# HELP pleiades_realtime_cache_hits_total Realtime cache lookups answered from the cache.
# TYPE pleiades_realtime_cache_hits_total counter
pleiades_realtime_cache_hits_total{cache="rtswitch.hints"} 0
pleiades_realtime_cache_hits_total{cache="rtswitch.rows"} 30
# HELP pleiades_realtime_cache_load_errors_total Cache loads that failed.
# TYPE pleiades_realtime_cache_load_errors_total counter
pleiades_realtime_cache_load_errors_total{cache="rtswitch.hints"} 0
pleiades_realtime_cache_load_errors_total{cache="rtswitch.rows"} 2
# HELP pleiades_realtime_cache_misses_total Realtime cache lookups that missed.
# TYPE pleiades_realtime_cache_misses_total counter
pleiades_realtime_cache_misses_total{cache="rtswitch.hints"} 0
pleiades_realtime_cache_misses_total{cache="rtswitch.rows"} 10
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}
