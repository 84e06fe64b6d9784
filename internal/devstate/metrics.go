package devstate

import "github.com/prometheus/client_golang/prometheus"

var descDevices = prometheus.NewDesc("pleiades_device_states", "Devices some server has a state for.", nil, nil)

// Collector returns the engine's Prometheus metrics, read at scrape time: how many devices
// some server has a state for.
func (e *Engine) Collector() prometheus.Collector { return collector{e} }

type collector struct{ e *Engine }

func (collector) Describe(ch chan<- *prometheus.Desc) { ch <- descDevices }

func (c collector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descDevices, prometheus.GaugeValue, float64(len(c.e.Devices())))
}
