package event

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pleiades-pbx/pleiades/internal/state"
)

func TestCollector(t *testing.T) {
	b := NewBus(nil, local)
	defer b.Close()
	// Two subscriptions of one name are summed.
	for range 2 {
		b.Subscribe("watch", KindDeviceState, func(Event) {})
	}
	b.Publish(DeviceState{Device: "Custom:a", State: state.InUse, EID: local})
	b.Publish(DeviceState{Device: "Custom:a", State: state.InUse, EID: local}) // unchanged
	if err := b.WaitIdle(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP pleiades_event_bus_published_total Events handed to subscribers by the bus.
# TYPE pleiades_event_bus_published_total counter
pleiades_event_bus_published_total 1
# HELP pleiades_event_bus_unchanged_total Cached-kind events dropped for repeating the cached state.
# TYPE pleiades_event_bus_unchanged_total counter
pleiades_event_bus_unchanged_total 1
# HELP pleiades_event_queue_delivered_total Events handed to a subscription's handler.
# TYPE pleiades_event_queue_delivered_total counter
pleiades_event_queue_delivered_total{kind="device_state",subscription="watch"} 2
# HELP pleiades_event_queue_depth Events waiting in an event-bus subscription's queue.
# TYPE pleiades_event_queue_depth gauge
pleiades_event_queue_depth{kind="device_state",subscription="watch"} 0
# HELP pleiades_event_queue_dropped_total Events dropped at a subscription's hard bound.
# TYPE pleiades_event_queue_dropped_total counter
pleiades_event_queue_dropped_total{kind="device_state",subscription="watch"} 0
# HELP pleiades_event_queue_coalesced_total Events replaced by a newer state of their key while waiting.
# TYPE pleiades_event_queue_coalesced_total counter
pleiades_event_queue_coalesced_total{kind="device_state",subscription="watch"} 0
# HELP pleiades_event_queue_high_water Most events ever waiting in a subscription's queue.
# TYPE pleiades_event_queue_high_water gauge
pleiades_event_queue_high_water{kind="device_state",subscription="watch"} 1
`
	if err := testutil.CollectAndCompare(b.Collector(), strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.CollectAndLint(b.Collector()); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}
