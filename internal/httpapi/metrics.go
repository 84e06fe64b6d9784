package httpapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pleiades-pbx/pleiades/internal/event"
)

// Metrics holds the server's Prometheus registry (its own, not the global one) and the
// collectors other modules feed. Its methods are safe for concurrent use and on a nil *Metrics.
type Metrics struct {
	reg *prometheus.Registry

	sessions         prometheus.Gauge
	sessionsRejected prometheus.Counter
	sessionsEvicted  prometheus.Counter
	requests         *prometheus.CounterVec
	authFailures     prometheus.Counter
	wsClients        prometheus.Gauge
	wsSent           *prometheus.CounterVec
	wsDropped        *prometheus.CounterVec
	memberChanges    *prometheus.CounterVec
	propagation      *prometheus.HistogramVec
	realtimeQuery    *prometheus.HistogramVec
}

// Metrics returns the server's metrics, for the hooks below.
func (s *Server) Metrics() *Metrics { return s.metrics }

// Registry returns the registry /metrics serves; other modules may register their own
// collectors on it.
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.reg
}

// ObservePropagation records the time an event of type typ ("device_state", "mwi") took from
// its origin server to this one (the cluster calls it for every live event it receives).
func (m *Metrics) ObservePropagation(typ string, d time.Duration) {
	if m == nil {
		return
	}
	m.propagation.WithLabelValues(typ).Observe(d.Seconds())
}

// ObserveRealtimeQuery records one realtime call's latency (the realtime engine or its
// drivers call it).
func (m *Metrics) ObserveRealtimeQuery(driver, family string, d time.Duration, err error) {
	if m == nil {
		return
	}
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.realtimeQuery.WithLabelValues(driver, family, result).Observe(d.Seconds())
}

func newMetrics(s *Server) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.sessions = prometheus.NewGauge(prometheus.GaugeOpts{Name: "pleiades_http_sessions",
		Help: "Open HTTP connections (sessionlimit bounds them)."})
	m.sessionsRejected = prometheus.NewCounter(prometheus.CounterOpts{Name: "pleiades_http_sessions_rejected_total",
		Help: "HTTP connections closed at once: sessionlimit reached with no connection to evict, or sessionlimit_per_address reached."})
	m.sessionsEvicted = prometheus.NewCounter(prometheus.CounterOpts{Name: "pleiades_http_sessions_evicted_total",
		Help: "HTTP connections closed to make room at sessionlimit: the one waiting longest without a request in progress."})
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pleiades_http_requests_total",
		Help: "REST, WebSocket and metrics requests by method."}, []string{"method"})
	m.authFailures = prometheus.NewCounter(prometheus.CounterOpts{Name: "pleiades_http_auth_failures_total",
		Help: "Requests with a wrong user name or password."})
	m.wsClients = prometheus.NewGauge(prometheus.GaugeOpts{Name: "pleiades_websocket_clients",
		Help: "Connected WebSocket event clients."})
	m.wsSent = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pleiades_websocket_messages_sent_total",
		Help: "WebSocket event messages written, by type."}, []string{"type"})
	m.wsDropped = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pleiades_websocket_clients_dropped_total",
		Help: "WebSocket clients dropped by the server, by reason (slow consumer: queue overflow; write timeout)."}, []string{"reason"})
	m.memberChanges = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pleiades_cluster_membership_changes_total",
		Help: "Cluster membership changes seen, by change (joined, left, updated)."}, []string{"change"})
	m.propagation = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "pleiades_cluster_propagation_latency_seconds",
		Help:    "Time from an event's origin server to this server (includes clock offsets), by event type.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}, []string{"type"})
	m.realtimeQuery = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "pleiades_realtime_query_duration_seconds",
		Help:    "Realtime call latency by driver, family and result (ok, error).",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}, []string{"driver", "family", "result"})
	m.reg.MustRegister(m.sessions, m.sessionsRejected, m.sessionsEvicted, m.requests, m.authFailures, m.wsClients, m.wsSent,
		m.wsDropped, m.memberChanges, m.propagation, m.realtimeQuery,
		&scrapeCollector{s: s},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}).ServeHTTP(w, r)
}

// scrapeCollector reads the engines at scrape time. It is an unchecked collector (Describe
// sends nothing): which label sets exist depends on the moment.
type scrapeCollector struct{ s *Server }

func (c *scrapeCollector) Describe(chan<- *prometheus.Desc) {}

var (
	descMembers        = prometheus.NewDesc("pleiades_cluster_members", "Servers in the cluster, this one included.", nil, nil)
	descMemberUp       = prometheus.NewDesc("pleiades_cluster_member_up", "1 when the member is up (or is this server), 0 otherwise.", []string{"name", "eid", "state"}, nil)
	descEvSent         = prometheus.NewDesc("pleiades_cluster_events_sent_total", "Events sent to the cluster, by type.", []string{"type"}, nil)
	descEvReceived     = prometheus.NewDesc("pleiades_cluster_events_received_total", "Events received from the cluster, by type.", []string{"type"}, nil)
	descEvDropped      = prometheus.NewDesc("pleiades_cluster_events_dropped_total", "Events received from the cluster and dropped, by type.", []string{"type"}, nil)
	descRTQueries      = prometheus.NewDesc("pleiades_realtime_queries_total", "Realtime calls by family (driver: its priority-1 mapping).", []string{"family", "driver"}, nil)
	descRTErrors       = prometheus.NewDesc("pleiades_realtime_errors_total", "Realtime calls that failed (not counting 'not found'), by family.", []string{"family", "driver"}, nil)
	descRTFailovers    = prometheus.NewDesc("pleiades_realtime_failovers_total", "Realtime calls that moved on to the next mapping, by family.", []string{"family", "driver"}, nil)
	descRTMappings     = prometheus.NewDesc("pleiades_realtime_mappings", "extconfig.conf mappings in force, by kind (family, static).", []string{"kind"}, nil)
	descCacheHits      = prometheus.NewDesc("pleiades_realtime_cache_hits_total", "Realtime cache lookups answered from the cache.", []string{"cache"}, nil)
	descCacheMisses    = prometheus.NewDesc("pleiades_realtime_cache_misses_total", "Realtime cache lookups that missed.", []string{"cache"}, nil)
	descCacheRatio     = prometheus.NewDesc("pleiades_realtime_cache_hit_ratio", "hits / (hits + misses) since start (0 before any lookup).", []string{"cache"}, nil)
	descCacheEntries   = prometheus.NewDesc("pleiades_realtime_cache_entries", "Objects in the realtime cache.", []string{"cache"}, nil)
	descCacheLoadErr   = prometheus.NewDesc("pleiades_realtime_cache_load_errors_total", "Cache loads that failed.", []string{"cache"}, nil)
	descAMIConns       = prometheus.NewDesc("pleiades_ami_connections", "Open AMI connections.", nil, nil)
	descAMIAuth        = prometheus.NewDesc("pleiades_ami_authenticated_sessions", "Logged-in AMI sessions.", nil, nil)
	descAMIFailed      = prometheus.NewDesc("pleiades_ami_failed_logins_total", "Failed AMI logins.", nil, nil)
	descSIPRegs        = prometheus.NewDesc("pleiades_sip_registrations", "Current SIP registrations (contacts).", nil, nil)
	descSIPConns       = prometheus.NewDesc("pleiades_sip_connections", "Open SIP connections (TCP, TLS, WS).", nil, nil)
	descSIPSubs        = prometheus.NewDesc("pleiades_sip_subscriptions", "Active SIP subscriptions (dialog, presence, message-summary).", nil, nil)
	descSIPNotifies    = prometheus.NewDesc("pleiades_sip_notifies_total", "NOTIFYs sent.", nil, nil)
	descSIPNotifyFail  = prometheus.NewDesc("pleiades_sip_notify_failures_total", "NOTIFYs not sent, or answered with an error or not at all.", nil, nil)
	descSIPFanout      = prometheus.NewDesc("pleiades_sip_notify_fanout_last_seconds", "Time the last hint change took to send the NOTIFYs of every subscription to it.", nil, nil)
	descHints          = prometheus.NewDesc("pleiades_hints", "Dialplan hints by extension state.", []string{"state"}, nil)
	descHintWatchers   = prometheus.NewDesc("pleiades_hint_watchers", "Watchers of single hints (AMI, SIP subscriptions), summed over every hint.", nil, nil)
	descDevices        = prometheus.NewDesc("pleiades_device_states", "Devices some server has a state for.", nil, nil)
	descMailboxes      = prometheus.NewDesc("pleiades_mailboxes", "Mailboxes with a state.", nil, nil)
	descQueueDepth     = prometheus.NewDesc("pleiades_event_queue_depth", "Events waiting in an event-bus subscription's queue.", []string{"subscription", "kind"}, nil)
	descQueueHigh      = prometheus.NewDesc("pleiades_event_queue_high_water", "Most events ever waiting in a subscription's queue.", []string{"subscription", "kind"}, nil)
	descQueueDelivered = prometheus.NewDesc("pleiades_event_queue_delivered_total", "Events handed to a subscription's handler.", []string{"subscription", "kind"}, nil)
	descQueueCoalesced = prometheus.NewDesc("pleiades_event_queue_coalesced_total", "Events replaced by a newer state of their key while waiting.", []string{"subscription", "kind"}, nil)
	descQueueDropped   = prometheus.NewDesc("pleiades_event_queue_dropped_total", "Events dropped at a subscription's hard bound.", []string{"subscription", "kind"}, nil)
	descBusPublished   = prometheus.NewDesc("pleiades_event_bus_published_total", "Events handed to subscribers by the bus.", nil, nil)
	descBusUnchanged   = prometheus.NewDesc("pleiades_event_bus_unchanged_total", "Cached-kind events dropped for repeating the cached state.", nil, nil)
)

func (c *scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	d := s.deps
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	counter := func(desc *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), labels...)
	}

	ms := s.members()
	gauge(descMembers, float64(len(ms)))
	for _, m := range ms {
		up := 0.0
		if m.Self || strings.EqualFold(m.State, "up") {
			up = 1
		}
		gauge(descMemberUp, up, m.Name, m.EID.String(), m.State)
	}
	if f := d.Sources.ClusterEvents; f != nil {
		for typ, n := range f() {
			counter(descEvSent, n.Sent, typ)
			counter(descEvReceived, n.Received, typ)
			counter(descEvDropped, n.Dropped, typ)
		}
	}

	if rt := d.Realtime; rt != nil {
		static, families := rt.Mappings()
		gauge(descRTMappings, float64(len(families)), "family")
		gauge(descRTMappings, float64(len(static)), "static")
		driver := map[string]string{}
		for _, m := range append(static, families...) {
			if m.Priority <= 1 {
				driver[strings.ToLower(m.Name)] = m.Driver
			}
		}
		for _, st := range rt.Status() {
			drv := driver[strings.ToLower(st.Family)]
			counter(descRTQueries, st.Queries, st.Family, drv)
			counter(descRTErrors, st.Errors, st.Family, drv)
			counter(descRTFailovers, st.Failovers, st.Family, drv)
		}
	}
	if f := d.Sources.RealtimeCaches; f != nil {
		for name, st := range f() {
			counter(descCacheHits, st.Hits, name)
			counter(descCacheMisses, st.Misses, name)
			ratio := 0.0
			if st.Hits+st.Misses > 0 {
				ratio = float64(st.Hits) / float64(st.Hits+st.Misses)
			}
			gauge(descCacheRatio, ratio, name)
			gauge(descCacheEntries, float64(st.Entries), name)
			counter(descCacheLoadErr, st.LoadErrors, name)
		}
	}
	if f := d.Sources.AMI; f != nil {
		st := f()
		gauge(descAMIConns, float64(st.Sessions))
		gauge(descAMIAuth, float64(st.Authenticated))
		counter(descAMIFailed, st.FailedLogins)
	}
	if f := d.Sources.SIP; f != nil {
		st := f()
		gauge(descSIPRegs, float64(st.Registrations))
		gauge(descSIPConns, float64(st.Connections))
		gauge(descSIPSubs, float64(st.Subscriptions))
		counter(descSIPNotifies, st.Notifies)
		counter(descSIPNotifyFail, st.NotifyFailures)
		gauge(descSIPFanout, st.LastFanout.Seconds())
	}

	if hs := d.Hints; hs != nil {
		byState := map[string]int{}
		watchers := 0
		for _, h := range hs.All() {
			byState[h.State.String()]++
			watchers += hs.Watchers(h.Exten, h.Context)
		}
		for st, n := range byState {
			gauge(descHints, float64(n), st)
		}
		gauge(descHintWatchers, float64(watchers))
	}
	gauge(descDevices, float64(len(d.DevState.Devices())))
	if d.MWI != nil {
		gauge(descMailboxes, float64(len(d.MWI.Mailboxes())))
	}

	type qk struct {
		name string
		kind event.Kind
	}
	sums := map[qk]*event.QueueStats{}
	var order []qk
	for _, st := range d.Bus.Stats() {
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
		gauge(descQueueDepth, float64(st.Depth), k.name, kind)
		gauge(descQueueHigh, float64(st.HighWater), k.name, kind)
		counter(descQueueDelivered, st.Delivered, k.name, kind)
		counter(descQueueCoalesced, st.Coalesced, k.name, kind)
		counter(descQueueDropped, st.Dropped, k.name, kind)
	}
	pub, unch := d.Bus.Counters()
	counter(descBusPublished, pub)
	counter(descBusUnchanged, unch)
}
