package cluster

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestCollector(t *testing.T) {
	a := newNode(t, "alpha", 1).start(t)
	b := newNode(t, "beta", 2, withRoutes(a.routeURL())).start(t)
	meshed(t, 5*time.Second, a, b)
	waitFor(t, 5*time.Second, "b synced with a", func() bool {
		for _, m := range b.c.Members() {
			if !m.Synced {
				return false
			}
		}
		return true
	})
	a.set(TypeDeviceState, "Custom:mystate", "INUSE")
	waitFor(t, time.Second, "b applies a's INUSE", func() bool {
		return b.local.state(TypeDeviceState, "Custom:mystate", a.eid) == "INUSE"
	})
	c := b.c.Collector()
	want := `
# HELP pleiades_cluster_members Servers in the cluster, this one included.
# TYPE pleiades_cluster_members gauge
pleiades_cluster_members 2
# HELP pleiades_cluster_member_up 1 when the member is up (or is this server), 0 otherwise.
# TYPE pleiades_cluster_member_up gauge
pleiades_cluster_member_up{eid="02:00:00:00:00:01",name="alpha",state="up"} 1
pleiades_cluster_member_up{eid="02:00:00:00:00:02",name="beta",state="up"} 1
# HELP pleiades_cluster_events_received_total Events received from the cluster, by type.
# TYPE pleiades_cluster_events_received_total counter
pleiades_cluster_events_received_total{type="device_state"} 1
pleiades_cluster_events_received_total{type="mwi"} 0
pleiades_cluster_events_received_total{type="realtime"} 0
pleiades_cluster_events_received_total{type="sip_location"} 0
pleiades_cluster_events_received_total{type="queue"} 0
# HELP pleiades_cluster_membership_changes_total Cluster membership changes seen, by change (joined, left, updated).
# TYPE pleiades_cluster_membership_changes_total counter
pleiades_cluster_membership_changes_total{change="joined"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "pleiades_cluster_members", "pleiades_cluster_member_up",
		"pleiades_cluster_events_received_total", "pleiades_cluster_membership_changes_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(c, "pleiades_cluster_propagation_latency_seconds"); n != 1 {
		t.Errorf("%d propagation series, want 1 (device_state)", n)
	}
	if n := testutil.CollectAndCount(a.c.Collector(), "pleiades_cluster_propagation_latency_seconds"); n != 0 {
		t.Errorf("a observed the latency of its own event")
	}
	sent := `
# HELP pleiades_cluster_events_sent_total Events sent to the cluster, by type.
# TYPE pleiades_cluster_events_sent_total counter
pleiades_cluster_events_sent_total{type="device_state"} 1
pleiades_cluster_events_sent_total{type="mwi"} 0
pleiades_cluster_events_sent_total{type="realtime"} 0
pleiades_cluster_events_sent_total{type="sip_location"} 0
pleiades_cluster_events_sent_total{type="queue"} 0
`
	if err := testutil.CollectAndCompare(a.c.Collector(), strings.NewReader(sent), "pleiades_cluster_events_sent_total"); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}
