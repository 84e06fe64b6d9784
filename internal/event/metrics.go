package event

import "github.com/prometheus/client_golang/prometheus"

var (
	descQueueDepth     = prometheus.NewDesc("pleiades_event_queue_depth", "Events waiting in an event-bus subscription's queue.", []string{"subscription", "kind"}, nil)
	descQueueHigh      = prometheus.NewDesc("pleiades_event_queue_high_water", "Most events ever waiting in a subscription's queue.", []string{"subscription", "kind"}, nil)
	descQueueDelivered = prometheus.NewDesc("pleiades_event_queue_delivered_total", "Events handed to a subscription's handler.", []string{"subscription", "kind"}, nil)
	descQueueCoalesced = prometheus.NewDesc("pleiades_event_queue_coalesced_total", "Events replaced by a newer state of their key while waiting.", []string{"subscription", "kind"}, nil)
	descQueueDropped   = prometheus.NewDesc("pleiades_event_queue_dropped_total", "Events dropped at a subscription's hard bound.", []string{"subscription", "kind"}, nil)
	descBusPublished   = prometheus.NewDesc("pleiades_event_bus_published_total", "Events handed to subscribers by the bus.", nil, nil)
	descBusUnchanged   = prometheus.NewDesc("pleiades_event_bus_unchanged_total", "Cached-kind events dropped for repeating the cached state.", nil, nil)
)

// Collector returns the bus's Prometheus metrics, read at scrape time: per subscription name
// and kind (subscriptions of one name summed, the high-water mark the highest of them) the
// queue depth, high-water mark, delivered, coalesced and dropped counts; and the bus's
// published and unchanged counters.
func (b *Bus) Collector() prometheus.Collector { return busCollector{b} }

type busCollector struct{ b *Bus }

func (busCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descQueueDepth, descQueueHigh, descQueueDelivered, descQueueCoalesced,
		descQueueDropped, descBusPublished, descBusUnchanged} {
		ch <- d
	}
}

func (c busCollector) Collect(ch chan<- prometheus.Metric) {
	type qk struct {
		name string
		kind Kind
	}
	sums := map[qk]*QueueStats{}
	var order []qk
	for _, st := range c.b.Stats() {
		k := qk{st.Name, st.Kind}
		if sum, ok := sums[k]; ok {
			sum.Depth += st.Depth
			sum.HighWater = max(sum.HighWater, st.HighWater)
			sum.Delivered += st.Delivered
			sum.Coalesced += st.Coalesced
			sum.Dropped += st.Dropped
			continue
		}
		st := st
		sums[k] = &st
		order = append(order, k)
	}
	for _, k := range order {
		st := sums[k]
		kind := k.kind.String()
		ch <- prometheus.MustNewConstMetric(descQueueDepth, prometheus.GaugeValue, float64(st.Depth), k.name, kind)
		ch <- prometheus.MustNewConstMetric(descQueueHigh, prometheus.GaugeValue, float64(st.HighWater), k.name, kind)
		ch <- prometheus.MustNewConstMetric(descQueueDelivered, prometheus.CounterValue, float64(st.Delivered), k.name, kind)
		ch <- prometheus.MustNewConstMetric(descQueueCoalesced, prometheus.CounterValue, float64(st.Coalesced), k.name, kind)
		ch <- prometheus.MustNewConstMetric(descQueueDropped, prometheus.CounterValue, float64(st.Dropped), k.name, kind)
	}
	pub, unch := c.b.Counters()
	ch <- prometheus.MustNewConstMetric(descBusPublished, prometheus.CounterValue, float64(pub))
	ch <- prometheus.MustNewConstMetric(descBusUnchanged, prometheus.CounterValue, float64(unch))
}
