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
