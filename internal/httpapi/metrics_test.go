package httpapi

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/pleiades-pbx/pleiades/internal/hint"
)

func TestMetricsScrape(t *testing.T) {
	f := newFixture(t, fixtureOpts{deps: func(d *Deps) {
		d.Sources = Sources{
			AMI: func() AMIStats { return AMIStats{Sessions: 3, Authenticated: 2, FailedLogins: 4} },
			SIP: func() SIPStats {
				return SIPStats{Registrations: 12, Connections: 2, Subscriptions: 7, Notifies: 70, NotifyFailures: 1, LastFanout: 25 * time.Millisecond}
			},
		}
	}})
	f.hints.Sync("extensions.conf", []hint.Spec{{Exten: "1", Context: "c", Devices: "Custom:m"}})
	unwatch := f.hints.Watch("1", "c", func(hint.State) {})
	defer unwatch()
	f.ds.SetCustom("Custom:m", "INUSE")
	f.mwi.Update("5", 1, 0, 0)
	// The state core's collectors, as the server assembly registers them (their own tests,
	// in their packages, cover the cluster's and realtime's families).
	f.srv.Metrics().Registry().MustRegister(f.bus.Collector(), f.ds.Collector(), f.mwi.Collector(), f.hints.Collector(), f.rt.Collector())
	f.idle(t)

	_, body, hdr := f.do(t, "GET", "/metrics", "")
	if !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain") {
		t.Fatalf("content type %q", hdr.Get("Content-Type"))
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, body)
	}
	value := func(name string, labels map[string]string) (float64, bool) {
		fam := fams[name]
		if fam == nil {
			return 0, false
		}
	next:
		for _, m := range fam.GetMetric() {
			for k, v := range labels {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == k && lp.GetValue() == v {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			switch {
			case m.Gauge != nil:
				return m.GetGauge().GetValue(), true
			case m.Counter != nil:
				return m.GetCounter().GetValue(), true
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount()), true
			}
		}
		return 0, false
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"pleiades_realtime_mappings", map[string]string{"kind": "family"}, 0},
		{"pleiades_ami_connections", nil, 3},
		{"pleiades_ami_authenticated_sessions", nil, 2},
		{"pleiades_sip_registrations", nil, 12},
		{"pleiades_sip_connections", nil, 2},
		{"pleiades_sip_subscriptions", nil, 7},
		{"pleiades_sip_notifies_total", nil, 70},
		{"pleiades_sip_notify_failures_total", nil, 1},
		{"pleiades_sip_notify_fanout_last_seconds", nil, 0.025},
		{"pleiades_hints", map[string]string{"state": "InUse"}, 1},
		{"pleiades_hint_watchers", nil, 1},
		{"pleiades_device_states", nil, 2}, // Custom:m and the mailbox's MWI:5@default
		{"pleiades_mailboxes", nil, 1},
		{"pleiades_event_queue_depth", map[string]string{"subscription": "hints", "kind": "device_state_change"}, 0},
		{"pleiades_event_queue_delivered_total", map[string]string{"subscription": "devstate", "kind": "device_state"}, 2},
		{"pleiades_event_queue_dropped_total", map[string]string{"subscription": "httpapi:device_state_change"}, 0},
		{"pleiades_event_bus_published_total", nil, -1},
		{"pleiades_websocket_clients", nil, 0},
		{"pleiades_http_sessions", nil, -1},
	} {
		got, ok := value(c.name, c.labels)
		if !ok {
			t.Errorf("no %s%v in the scrape", c.name, c.labels)
			continue
		}
		if c.want >= 0 && got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if fams["go_goroutines"] == nil {
		t.Error("no Go runtime metrics")
	}
	// Descriptor use (the process collector): open descriptors below the limit, both > 0.
	open, max := fams["process_open_fds"], fams["process_max_fds"]
	if open == nil || max == nil {
		t.Fatal("no process_open_fds / process_max_fds")
	}
	if o, m := open.GetMetric()[0].GetGauge().GetValue(), max.GetMetric()[0].GetGauge().GetValue(); o <= 0 || m <= 0 || o >= m {
		t.Errorf("process_open_fds %v, process_max_fds %v", o, m)
	}
}

func TestMetricsAuthOption(t *testing.T) {
	f := newFixture(t, fixtureOpts{httpConf: testHTTPConf + "metrics_auth = yes\n"})
	if code, _, _ := f.do(t, "GET", "/metrics", ""); code != 401 {
		t.Fatalf("metrics_auth=yes without credentials: %d", code)
	}
	f.expect(t, "GET", "/metrics", viewer, 200, nil)
}

// Without metrics_auth, /metrics is open only on a loopback listener: bound to every
// interface (or any other address) it needs an ARI user, unless metrics_auth=no says so
// (with a warning).
func TestMetricsAuthDefault(t *testing.T) {
	for _, tc := range []struct {
		conf     string
		auth     bool
		warnings int
	}{
		{"[general]\nenabled=yes\nbindaddr=127.0.0.1\n", false, 0},
		{"[general]\nenabled=yes\nbindaddr=::1\n", false, 0},
		{"[general]\nenabled=yes\nbindaddr=0.0.0.0\n", true, 0},
		{"[general]\nenabled=yes\nbindaddr=::\n", true, 0},
		{"[general]\nenabled=yes\nbindaddr=192.0.2.10\n", true, 0},
		{"[general]\nenabled=yes\nbindaddr=0.0.0.0\nmetrics_auth=no\n", false, 1},
		{"[general]\nenabled=yes\nbindaddr=127.0.0.1\nmetrics_auth=yes\n", true, 0},
	} {
		st, err := parseSettings(parseConf(t, "http.conf", tc.conf), nil, "")
		if err != nil {
			t.Fatalf("%q: %v", tc.conf, err)
		}
		n := 0
		for _, w := range st.warnings {
			if strings.Contains(w, "metrics_auth") {
				n++
			}
		}
		if st.metricsAuth != tc.auth || n != tc.warnings {
			t.Errorf("%q: metricsAuth %v, warnings %q", tc.conf, st.metricsAuth, st.warnings)
		}
	}
	// A server on every interface: the scrape needs a user.
	f := newFixture(t, fixtureOpts{httpConf: "[general]\nenabled=yes\nbindaddr=0.0.0.0\nbindport=0\n"})
	f.base = strings.Replace(f.base, "0.0.0.0", "127.0.0.1", 1)
	if code, _, _ := f.do(t, "GET", "/metrics", ""); code != 401 {
		t.Fatalf("exposed /metrics without credentials: %d", code)
	}
	f.expect(t, "GET", "/metrics", viewer, 200, nil)
}
