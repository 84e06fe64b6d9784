package cluster

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/devstate"
	"github.com/pleiades-pbx/pleiades/internal/eid"
	"github.com/pleiades-pbx/pleiades/internal/event"
	"github.com/pleiades-pbx/pleiades/internal/mwi"
	"github.com/pleiades-pbx/pleiades/internal/state"
)

var (
	bridgeLocal  = eid.EID{2, 0, 0, 0, 0, 1}
	bridgeRemote = eid.EID{2, 0, 0, 0, 0, 2}
)

type publisher struct {
	mu  sync.Mutex
	got []Event
}

func (p *publisher) Publish(e Event) {
	p.mu.Lock()
	p.got = append(p.got, e)
	p.mu.Unlock()
}

func (p *publisher) events() []Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Event(nil), p.got...)
}

func newBridge(t *testing.T) (*event.Bus, *Bridge) {
	t.Helper()
	bus := event.NewBus(nil, bridgeLocal)
	br, err := NewBridge(bus, devstate.WireCodec{}, mwi.WireCodec{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { br.Close(); bus.Close() })
	return bus, br
}

func TestBridgeApply(t *testing.T) {
	bus, br := newBridge(t)
	at := time.Unix(1700000000, 5).UTC()
	for _, c := range []struct {
		name string
		in   Event
		kind event.Kind
		key  string
		want event.Event // nil: no entry of bridgeRemote
	}{
		{"device state", Event{Type: TypeDeviceState, Key: "Custom:a", Fields: []string{"INUSE"}, EID: bridgeRemote},
			event.KindDeviceState, "Custom:a", event.DeviceState{Device: "Custom:a", State: state.InUse, EID: bridgeRemote}},
		{"unknown state name", Event{Type: TypeDeviceState, Key: "Custom:b", Fields: []string{"SLEEPY", "x"}, EID: bridgeRemote},
			event.KindDeviceState, "Custom:b", event.DeviceState{Device: "Custom:b", State: state.Unknown, EID: bridgeRemote}},
		{"device removed", Event{Type: TypeDeviceState, Key: "Custom:a", EID: bridgeRemote},
			event.KindDeviceState, "Custom:a", nil},
		{"mwi counts", Event{Type: TypeMWI, Key: "1@default", Fields: []string{"2", "5", "1", "later"}, EID: bridgeRemote, Time: at},
			event.KindMWI, "1@default", event.MWI{Mailbox: "1@default", New: 2, Old: 5, Urgent: 1, Time: at, EID: bridgeRemote}},
		{"mwi short and malformed", Event{Type: TypeMWI, Key: "2@default", Fields: []string{"x", "3"}, EID: bridgeRemote, Time: at},
			event.KindMWI, "2@default", event.MWI{Mailbox: "2@default", Old: 3, Time: at, EID: bridgeRemote}},
		{"mwi deletion is kept", Event{Type: TypeMWI, Key: "1@default", EID: bridgeRemote, Time: at.Add(time.Second)},
			event.KindMWI, "1@default", event.MWI{Mailbox: "1@default", Deleted: true, Time: at.Add(time.Second), EID: bridgeRemote}},
		{"unknown type", Event{Type: "queue_member", Key: "q", Fields: []string{"1"}, EID: bridgeRemote},
			event.KindDeviceState, "q", nil},
	} {
		br.Apply(c.in)
		got, ok := bus.Get(c.kind, c.key, bridgeRemote)
		if c.want == nil {
			if ok {
				t.Errorf("%s: entry %#v left", c.name, got)
			}
			continue
		}
		if !ok || got != c.want {
			t.Errorf("%s: got %#v, want %#v", c.name, got, c.want)
		}
	}
}

func TestBridgeSnapshotAndPurge(t *testing.T) {
	bus, br := newBridge(t)
	at := time.Unix(1700000000, 0).UTC()
	bus.Publish(event.DeviceState{Device: "Custom:a", State: state.Busy, EID: bridgeLocal})
	bus.Publish(event.DeviceState{Device: "Custom:a", State: state.InUse, EID: bridgeRemote})
	bus.Publish(event.DeviceState{Device: "Custom:c", State: state.Ringing, EID: bridgeRemote})
	bus.Publish(event.MWI{Mailbox: "1@default", New: 1, Old: 2, Urgent: 3, Time: at, EID: bridgeLocal})
	bus.Publish(event.MWI{Mailbox: "2@default", Deleted: true, Time: at, EID: bridgeLocal})

	if got, want := br.Snapshot(TypeDeviceState), []Event{{Type: TypeDeviceState, Key: "Custom:a", Fields: []string{"BUSY"}, EID: bridgeLocal}}; !reflect.DeepEqual(got, want) {
		t.Errorf("device_state snapshot: %#v", got)
	}
	got := br.Snapshot(TypeMWI)
	want := []Event{
		{Type: TypeMWI, Key: "1@default", Fields: []string{"1", "2", "3"}, EID: bridgeLocal, Time: at},
		{Type: TypeMWI, Key: "2@default", EID: bridgeLocal, Time: at},
	}
	if len(got) != 2 || !reflect.DeepEqual(map[string]Event{got[0].Key: got[0], got[1].Key: got[1]}, map[string]Event{want[0].Key: want[0], want[1].Key: want[1]}) {
		t.Errorf("mwi snapshot: %#v", got)
	}
	if br.Snapshot("nope") != nil {
		t.Error("snapshot of an unknown type")
	}
	if n := br.Purge(TypeDeviceState, bridgeRemote); n != 2 {
		t.Errorf("purged %d, want 2", n)
	}
	if _, ok := bus.Get(event.KindDeviceState, "Custom:a", bridgeLocal); !ok {
		t.Error("purge took this server's own state")
	}
}

func TestBridgeForwardsOnlyLocalEvents(t *testing.T) {
	bus, br := newBridge(t)
	var p publisher
	br.Forward(&p)
	at := time.Unix(1700000000, 0).UTC()
	bus.Publish(event.DeviceState{Device: "Custom:a", State: state.InUse, EID: bridgeLocal})
	bus.Publish(event.DeviceState{Device: "Custom:r", State: state.InUse, EID: bridgeRemote})
	bus.Clear(event.KindDeviceState, "Custom:a", bridgeLocal)
	bus.Publish(event.MWI{Mailbox: "1@default", New: 4, Time: at, EID: bridgeLocal})
	bus.Publish(event.MWI{Mailbox: "1@default", Deleted: true, Time: at.Add(time.Second), EID: bridgeLocal})
	if err := bus.WaitIdle(context.Background()); err != nil {
		t.Fatal(err)
	}
	byType := map[string][]Event{}
	for _, e := range p.events() {
		byType[e.Type] = append(byType[e.Type], e)
	}
	if want := []Event{
		{Type: TypeDeviceState, Key: "Custom:a", Fields: []string{"INUSE"}, EID: bridgeLocal},
		{Type: TypeDeviceState, Key: "Custom:a", EID: bridgeLocal},
	}; !reflect.DeepEqual(byType[TypeDeviceState], want) {
		t.Errorf("device_state sent: %#v", byType[TypeDeviceState])
	}
	if want := []Event{
		{Type: TypeMWI, Key: "1@default", Fields: []string{"4", "0", "0"}, EID: bridgeLocal, Time: at},
		{Type: TypeMWI, Key: "1@default", EID: bridgeLocal, Time: at.Add(time.Second)},
	}; !reflect.DeepEqual(byType[TypeMWI], want) {
		t.Errorf("mwi sent: %#v", byType[TypeMWI])
	}
}

func TestNewBridgeRefusesBadCodecs(t *testing.T) {
	bus := event.NewBus(nil, bridgeLocal)
	defer bus.Close()
	if _, err := NewBridge(bus, devstate.WireCodec{}, devstate.WireCodec{}); err == nil {
		t.Error("two codecs of one type accepted")
	}
	if _, err := NewBridge(bus, derivedCodec{}); err == nil {
		t.Error("a codec of a local-only kind accepted")
	}
}

type derivedCodec struct{ devstate.WireCodec }

func (derivedCodec) Kind() event.Kind { return event.KindDeviceStateChange }
