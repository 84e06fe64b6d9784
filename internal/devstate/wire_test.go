package devstate

import (
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/eid"
	"github.com/pleiades-pbx/pleiades/internal/event"
	"github.com/pleiades-pbx/pleiades/internal/state"
)

func TestWireCodecRoundTrip(t *testing.T) {
	origin := eid.EID{2, 0, 0, 0, 0, 9}
	var c WireCodec
	for s := range state.Device(state.DeviceCount) {
		in := event.DeviceState{Device: "SIP/alice", State: s, EID: origin}
		fields, at, ok := c.Encode(in)
		if !ok || len(fields) != 1 || fields[0] != s.String() || !at.IsZero() {
			t.Fatalf("Encode(%v) = %q %v %v", s, fields, at, ok)
		}
		out, ok := c.Decode("SIP/alice", fields, origin, time.Time{})
		if !ok || out != in {
			t.Errorf("%v: decoded %#v", s, out)
		}
	}
	if _, ok := c.Decode("SIP/alice", nil, origin, time.Time{}); ok {
		t.Error("no fields must be a removal")
	}
	if _, _, ok := c.Encode(event.MWI{}); ok {
		t.Error("encoded an event of another kind")
	}
}

// MWI: devices are derived on every server: never sent, and a copy that arrives is dropped
// (no second entry in the aggregate).
func TestWireCodecKeepsDerivedDevicesLocal(t *testing.T) {
	origin := eid.EID{2, 0, 0, 0, 0, 9}
	var c WireCodec
	for _, dev := range []string{"MWI:100@default", "mwi:100@default", "Mwi:x"} {
		if f, _, ok := c.Encode(event.DeviceState{Device: dev, State: state.InUse, EID: origin}); ok {
			t.Errorf("Encode(%s) sent %q", dev, f)
		}
		if ev, ok := c.Decode(dev, []string{"INUSE"}, origin, time.Time{}); ok {
			t.Errorf("Decode(%s) kept %#v", dev, ev)
		}
	}
	for _, dev := range []string{"Custom:MWI:x", "SIP/mwi", "MW:1", "MWIx:1"} {
		if !Derived(dev) {
			if _, _, ok := c.Encode(event.DeviceState{Device: dev, State: state.InUse, EID: origin}); !ok {
				t.Errorf("Encode(%s) not sent", dev)
			}
		} else {
			t.Errorf("Derived(%s)", dev)
		}
	}
}
