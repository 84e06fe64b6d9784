package hint

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestCollector(t *testing.T) {
	f := newFixture(t)
	f.e.Sync("extensions.conf", []Spec{
		{Exten: "1", Context: "c", Devices: "Custom:a"},
		{Exten: "2", Context: "c", Devices: "Custom:a&Custom:b"},
		{Exten: "3", Context: "c", Devices: "Custom:c"},
	})
	f.ds.SetCustom("Custom:a", "INUSE")
	f.idle(t)
	for range 2 {
		defer f.e.Watch("1", "c", func(State) {})()
	}
	defer f.e.Watch("3", "c", func(State) {})()
	defer f.e.WatchAll(func(State) {})() // not a watcher of a single hint
	want := `
# HELP pleiades_hints Dialplan hints by extension state.
# TYPE pleiades_hints gauge
pleiades_hints{state="InUse"} 2
pleiades_hints{state="Idle"} 1
# HELP pleiades_hint_watchers Watchers of single hints (AMI, SIP subscriptions), summed over every hint.
# TYPE pleiades_hint_watchers gauge
pleiades_hint_watchers 3
`
	if err := testutil.CollectAndCompare(f.e.Collector(), strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}
