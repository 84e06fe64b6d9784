package cluster

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	descMembers    = prometheus.NewDesc("pleiades_cluster_members", "Servers in the cluster, this one included.", nil, nil)
	descMemberUp   = prometheus.NewDesc("pleiades_cluster_member_up", "1 when the member is up (or is this server), 0 otherwise.", []string{"name", "eid", "state"}, nil)
	descEvSent     = prometheus.NewDesc("pleiades_cluster_events_sent_total", "Events sent to the cluster, by type.", []string{"type"}, nil)
	descEvReceived = prometheus.NewDesc("pleiades_cluster_events_received_total", "Events received from the cluster, by type.", []string{"type"}, nil)
	descEvDropped  = prometheus.NewDesc("pleiades_cluster_events_dropped_total", "Events received from the cluster and dropped, by type.", []string{"type"}, nil)
)

// metrics are the cluster's own Prometheus instruments, fed on the receive path.
type metrics struct {
	propagation   *prometheus.HistogramVec
	memberChanges *prometheus.CounterVec
}

func newMetrics() *metrics {
	return &metrics{
		propagation: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "pleiades_cluster_propagation_latency_seconds",
			Help:    "Time from an event's origin server to this server (includes clock offsets), by event type.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}, []string{"type"}),
		memberChanges: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pleiades_cluster_membership_changes_total",
			Help: "Cluster membership changes seen, by change (joined, left, updated)."}, []string{"change"}),
	}
}

func (m *metrics) observePropagation(typ string, d time.Duration) {
	m.propagation.WithLabelValues(typ).Observe(d.Seconds())
}

// Collector returns the cluster's Prometheus metrics: the members (a member is "up" once its
// snapshot arrived, "syncing" before; this server is always up), the events sent, received
// and dropped by type, the propagation latency of live events by type, and the membership
// changes seen since Start (joined, left).
func (c *Cluster) Collector() prometheus.Collector { return collector{c} }

type collector struct{ c *Cluster }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descMembers, descMemberUp, descEvSent, descEvReceived, descEvDropped} {
		ch <- d
	}
	c.c.metrics.propagation.Describe(ch)
	c.c.metrics.memberChanges.Describe(ch)
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	ms := c.c.Members()
	ch <- prometheus.MustNewConstMetric(descMembers, prometheus.GaugeValue, float64(len(ms)))
	for _, m := range ms {
		st, up := "up", 1.0
		if !m.Synced {
			st = "syncing"
			if !m.Self {
				up = 0
			}
		}
		ch <- prometheus.MustNewConstMetric(descMemberUp, prometheus.GaugeValue, up, m.NodeName, m.EID.String(), st)
	}
	for typ, n := range c.c.Stats().Types {
		ch <- prometheus.MustNewConstMetric(descEvSent, prometheus.CounterValue, float64(n.Sent), typ)
		ch <- prometheus.MustNewConstMetric(descEvReceived, prometheus.CounterValue, float64(n.Received), typ)
		ch <- prometheus.MustNewConstMetric(descEvDropped, prometheus.CounterValue, float64(n.Dropped), typ)
	}
	c.c.metrics.propagation.Collect(ch)
	c.c.metrics.memberChanges.Collect(ch)
}
