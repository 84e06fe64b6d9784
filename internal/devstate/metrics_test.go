package devstate

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pleiades-pbx/pleiades/internal/eid"
	"github.com/pleiades-pbx/pleiades/internal/event"
	"github.com/pleiades-pbx/pleiades/internal/state"
)

func TestCollector(t *testing.T) {
	bus := event.NewBus(nil, eid.EID{2, 0, 0, 0, 0, 1})
	defer bus.Close()
	e, err := New(nil, bus, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	e.SetCustom("Custom:a", "INUSE")
	e.Set("SIP/alice", state.Ringing)
	bus.Publish(event.DeviceState{Device: "SIP/alice", State: state.InUse, EID: eid.EID{2, 0, 0, 0, 0, 2}})
	bus.WaitIdle(context.Background())
	want := `
# HELP pleiades_device_states Devices some server has a state for.
# TYPE pleiades_device_states gauge
pleiades_device_states 2
`
	if err := testutil.CollectAndCompare(e.Collector(), strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}
