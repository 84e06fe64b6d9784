package hint

import "github.com/prometheus/client_golang/prometheus"

var (
	descHints        = prometheus.NewDesc("pleiades_hints", "Dialplan hints by extension state.", []string{"state"}, nil)
	descHintWatchers = prometheus.NewDesc("pleiades_hint_watchers", "Watchers of single hints (AMI, SIP subscriptions), summed over every hint.", nil, nil)
)

// Collector returns the engine's Prometheus metrics, read at scrape time: hints by extension
// state (only the states some hint has) and the watchers of single hints.
func (e *Engine) Collector() prometheus.Collector { return collector{e} }

type collector struct{ e *Engine }

func (collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descHints
	ch <- descHintWatchers
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	byState := map[string]int{}
	watchers := 0
	for _, h := range c.e.All() {
		byState[h.State.String()]++
		watchers += c.e.Watchers(h.Exten, h.Context)
	}
	for st, n := range byState {
		ch <- prometheus.MustNewConstMetric(descHints, prometheus.GaugeValue, float64(n), st)
	}
	ch <- prometheus.MustNewConstMetric(descHintWatchers, prometheus.GaugeValue, float64(watchers))
}
