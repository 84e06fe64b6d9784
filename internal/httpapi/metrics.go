package httpapi

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
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
}

// Metrics returns the server's metrics, for the hooks below.
func (s *Server) Metrics() *Metrics { return s.metrics }

// Registry returns the registry /metrics serves; the state core's packages (event, devstate,
// mwi, hint, cluster, realtime) register their own collectors on it.
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.reg
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
	m.reg.MustRegister(m.sessions, m.sessionsRejected, m.sessionsEvicted, m.requests, m.authFailures, m.wsClients, m.wsSent,
		m.wsDropped,
		&scrapeCollector{s: s},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}).ServeHTTP(w, r)
}

// scrapeCollector reads the Manager interface's and the registrar's counters at scrape time
// (Deps.Sources). It is an unchecked collector (Describe sends nothing).
type scrapeCollector struct{ s *Server }

func (c *scrapeCollector) Describe(chan<- *prometheus.Desc) {}

var (
	descAMIConns      = prometheus.NewDesc("pleiades_ami_connections", "Open AMI connections.", nil, nil)
	descAMIAuth       = prometheus.NewDesc("pleiades_ami_authenticated_sessions", "Logged-in AMI sessions.", nil, nil)
	descAMIFailed     = prometheus.NewDesc("pleiades_ami_failed_logins_total", "Failed AMI logins.", nil, nil)
	descSIPRegs       = prometheus.NewDesc("pleiades_sip_registrations", "Current SIP registrations (contacts).", nil, nil)
	descSIPConns      = prometheus.NewDesc("pleiades_sip_connections", "Open SIP connections (TCP, TLS, WS).", nil, nil)
	descSIPSubs       = prometheus.NewDesc("pleiades_sip_subscriptions", "Active SIP subscriptions (dialog, presence, message-summary).", nil, nil)
	descSIPNotifies   = prometheus.NewDesc("pleiades_sip_notifies_total", "NOTIFYs sent.", nil, nil)
	descSIPNotifyFail = prometheus.NewDesc("pleiades_sip_notify_failures_total", "NOTIFYs not sent, or answered with an error or not at all.", nil, nil)
	descSIPInProgress = prometheus.NewDesc("pleiades_sip_requests_in_progress", "REGISTER, SUBSCRIBE and OPTIONS requests being processed (the overload rule's measure).", nil, nil)
	descSIPRefused    = prometheus.NewDesc("pleiades_sip_overload_refused_total", "New SIP requests answered 503 Service Unavailable because the server was behind (sip.conf maxrequests, maxrequestwait).", nil, nil)
	descSIPResent     = prometheus.NewDesc("pleiades_sip_register_retransmissions_total", "REGISTER retransmissions answered again with the answer kept for them (not handled twice).", nil, nil)
	descSIPAbsorbed   = prometheus.NewDesc("pleiades_sip_invite_retransmissions_absorbed_total", "Retransmitted INVITEs dropped because they were answered 2xx already (RFC 6026's Accepted state).", nil, nil)
	descSIPFanout     = prometheus.NewDesc("pleiades_sip_notify_fanout_last_seconds", "Time the last hint change took to send the NOTIFYs of every subscription to it.", nil, nil)
)

func (c *scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	d := c.s.deps
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	counter := func(desc *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), labels...)
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
		gauge(descSIPInProgress, float64(st.InProgress))
		counter(descSIPRefused, st.Refused)
		counter(descSIPResent, st.Resent)
		counter(descSIPAbsorbed, st.Absorbed)
	}
}
