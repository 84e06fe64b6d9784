package realtime

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	descQueries      = prometheus.NewDesc("pleiades_realtime_queries_total", "Realtime calls by family (driver: its priority-1 mapping).", []string{"family", "driver"}, nil)
	descErrors       = prometheus.NewDesc("pleiades_realtime_errors_total", "Realtime calls that failed (not counting 'not found'), by family.", []string{"family", "driver"}, nil)
	descFailovers    = prometheus.NewDesc("pleiades_realtime_failovers_total", "Realtime calls that moved on to the next mapping, by family.", []string{"family", "driver"}, nil)
	descChanges      = prometheus.NewDesc("pleiades_realtime_changes_total", "Changes heard by family and source (notify: the database said so; reconnect: the change listener came back and the family was flushed; invalidate: realtime invalidate here or on another server).", []string{"family", "source"}, nil)
	descLive         = prometheus.NewDesc("pleiades_realtime_live", "1 when a driver of the family listens for database changes now, 0 when cached objects follow only their TTL and explicit invalidations.", []string{"family"}, nil)
	descMappings     = prometheus.NewDesc("pleiades_realtime_mappings", "extconfig.conf mappings in force, by kind (family, static).", []string{"kind"}, nil)
	descCacheHits    = prometheus.NewDesc("pleiades_realtime_cache_hits_total", "Realtime cache lookups answered from the cache.", []string{"cache"}, nil)
	descCacheMisses  = prometheus.NewDesc("pleiades_realtime_cache_misses_total", "Realtime cache lookups that missed.", []string{"cache"}, nil)
	descCacheRatio   = prometheus.NewDesc("pleiades_realtime_cache_hit_ratio", "hits / (hits + misses) since start (0 before any lookup).", []string{"cache"}, nil)
	descCacheEntries = prometheus.NewDesc("pleiades_realtime_cache_entries", "Objects in the realtime cache.", []string{"cache"}, nil)
	descCacheLoadErr = prometheus.NewDesc("pleiades_realtime_cache_load_errors_total", "Cache loads that failed.", []string{"cache"}, nil)
)

// Collector returns the engine's Prometheus metrics: the mappings in force by kind, the calls,
// errors and failovers of every family (labelled with the driver of its priority-1 mapping),
// and the latency of every call by driver, family and result. It becomes the engine's query
// observer (OnQuery); make one per engine.
func (e *Engine) Collector() prometheus.Collector {
	c := &collector{e: e, query: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "pleiades_realtime_query_duration_seconds",
		Help:    "Realtime call latency by driver, family and result (ok, error).",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}, []string{"driver", "family", "result"})}
	e.OnQuery(c.observe)
	return c
}

type collector struct {
	e     *Engine
	query *prometheus.HistogramVec
}

func (c *collector) observe(driver, family string, d time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	c.query.WithLabelValues(driver, family, result).Observe(d.Seconds())
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descQueries, descErrors, descFailovers, descMappings, descChanges, descLive} {
		ch <- d
	}
	c.query.Describe(ch)
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	static, families := c.e.Mappings()
	ch <- prometheus.MustNewConstMetric(descMappings, prometheus.GaugeValue, float64(len(families)), "family")
	ch <- prometheus.MustNewConstMetric(descMappings, prometheus.GaugeValue, float64(len(static)), "static")
	driver := map[string]string{}
	for _, m := range append(static, families...) {
		if m.Priority <= 1 {
			driver[strings.ToLower(m.Name)] = m.Driver
		}
	}
	for _, st := range c.e.Status() {
		drv := driver[strings.ToLower(st.Family)]
		ch <- prometheus.MustNewConstMetric(descQueries, prometheus.CounterValue, float64(st.Queries), st.Family, drv)
		ch <- prometheus.MustNewConstMetric(descErrors, prometheus.CounterValue, float64(st.Errors), st.Family, drv)
		ch <- prometheus.MustNewConstMetric(descFailovers, prometheus.CounterValue, float64(st.Failovers), st.Family, drv)
		if !c.e.Mapped(st.Family) {
			continue // a static file
		}
		ch <- prometheus.MustNewConstMetric(descChanges, prometheus.CounterValue, float64(st.Notifications), st.Family, "notify")
		ch <- prometheus.MustNewConstMetric(descChanges, prometheus.CounterValue, float64(st.Flushes), st.Family, "reconnect")
		ch <- prometheus.MustNewConstMetric(descChanges, prometheus.CounterValue, float64(st.Invalidations), st.Family, "invalidate")
		live := 0.0
		if st.Live {
			live = 1
		}
		ch <- prometheus.MustNewConstMetric(descLive, prometheus.GaugeValue, live, st.Family)
	}
	c.query.Collect(ch)
}

// CacheCollector returns the Prometheus metrics of the caches caches reports at scrape time
// (by cache name, e.g. "rtswitch.rows"): hits, misses, hit ratio, entries and load errors.
func CacheCollector(caches func() map[string]CacheStats) prometheus.Collector {
	return cacheCollector(caches)
}

type cacheCollector func() map[string]CacheStats

func (cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descCacheHits, descCacheMisses, descCacheRatio, descCacheEntries, descCacheLoadErr} {
		ch <- d
	}
}

func (f cacheCollector) Collect(ch chan<- prometheus.Metric) {
	for name, st := range f() {
		ratio := 0.0
		if st.Hits+st.Misses > 0 {
			ratio = float64(st.Hits) / float64(st.Hits+st.Misses)
		}
		ch <- prometheus.MustNewConstMetric(descCacheHits, prometheus.CounterValue, float64(st.Hits), name)
		ch <- prometheus.MustNewConstMetric(descCacheMisses, prometheus.CounterValue, float64(st.Misses), name)
		ch <- prometheus.MustNewConstMetric(descCacheRatio, prometheus.GaugeValue, ratio, name)
		ch <- prometheus.MustNewConstMetric(descCacheEntries, prometheus.GaugeValue, float64(st.Entries), name)
		ch <- prometheus.MustNewConstMetric(descCacheLoadErr, prometheus.CounterValue, float64(st.LoadErrors), name)
	}
}
