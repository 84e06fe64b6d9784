package media

import "github.com/prometheus/client_golang/prometheus"

var (
	descSessions   = prometheus.NewDesc("pleiades_rtp_sessions", "RTP sessions open.", nil, nil)
	descPortsUsed  = prometheus.NewDesc("pleiades_rtp_ports_in_use", "RTP and RTCP ports held by sessions.", nil, nil)
	descPortsTotal = prometheus.NewDesc("pleiades_rtp_ports", "RTP and RTCP ports of rtp.conf's range.", nil, nil)
	descRelayed    = prometheus.NewDesc("pleiades_rtp_relayed_packets_total", "RTP packets forwarded by bridges and echo.", nil, nil)
	descTranscoded = prometheus.NewDesc("pleiades_rtp_transcoded_packets_total", "Relayed RTP packets converted between µ-law and A-law.", nil, nil)
	descStrangers  = prometheus.NewDesc("pleiades_rtp_strict_dropped_packets_total", "RTP packets dropped by strictrtp (from a source not accepted).", nil, nil)
	descDropped    = prometheus.NewDesc("pleiades_rtp_dropped_packets_total", "Other RTP packets dropped: malformed, unknown payload type, nowhere to send.", nil, nil)
)

// Collector returns the engine's Prometheus metrics, read from Stats at scrape time.
func (e *Engine) Collector() prometheus.Collector { return collector{e} }

type collector struct{ e *Engine }

func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSessions, descPortsUsed, descPortsTotal, descRelayed, descTranscoded, descStrangers, descDropped} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	st := c.e.Stats()
	gauge := func(d *prometheus.Desc, v int) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge(descSessions, st.Sessions)
	gauge(descPortsUsed, st.PortsInUse)
	gauge(descPortsTotal, st.PortsTotal)
	counter(descRelayed, st.Relayed)
	counter(descTranscoded, st.Transcoded)
	counter(descStrangers, st.Strangers)
	counter(descDropped, st.Dropped)
}
