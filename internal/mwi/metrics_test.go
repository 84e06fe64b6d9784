package mwi

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pleiades-pbx/pleiades/internal/eid"
	"github.com/pleiades-pbx/pleiades/internal/event"
)

func TestCollector(t *testing.T) {
	bus := event.NewBus(nil, eid.EID{2, 0, 0, 0, 0, 1})
	defer bus.Close()
	e, err := New(nil, bus, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	e.Update("1", 1, 0, 0)
	e.Update("2@other", 0, 3, 0)
	e.Update("3", 1, 0, 0)
	e.Delete("3") // a deleted mailbox has no state
	bus.WaitIdle(context.Background())
	want := `
# HELP pleiades_mailboxes Mailboxes with a state.
# TYPE pleiades_mailboxes gauge
pleiades_mailboxes 2
`
	if err := testutil.CollectAndCompare(e.Collector(), strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}
