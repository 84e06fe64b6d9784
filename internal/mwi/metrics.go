package mwi

import "github.com/prometheus/client_golang/prometheus"

var descMailboxes = prometheus.NewDesc("pleiades_mailboxes", "Mailboxes with a state.", nil, nil)

// Collector returns the engine's Prometheus metrics, read at scrape time: how many mailboxes
// have a cluster-wide state.
func (e *Engine) Collector() prometheus.Collector { return collector{e} }

type collector struct{ e *Engine }

func (collector) Describe(ch chan<- *prometheus.Desc) { ch <- descMailboxes }

func (c collector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descMailboxes, prometheus.GaugeValue, float64(len(c.e.Mailboxes())))
}
