package mwi

import (
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/eid"
	"github.com/pleiades-pbx/pleiades/internal/event"
)

func TestWireCodecRoundTrip(t *testing.T) {
	origin := eid.EID{2, 0, 0, 0, 0, 9}
	at := time.Unix(1700000000, 42).UTC()
	var c WireCodec
	for _, in := range []event.MWI{
		{Mailbox: "1@default", New: 3, Old: 12, Urgent: 1, Time: at, EID: origin},
		{Mailbox: "1@default", Time: at, EID: origin},
		{Mailbox: "1@default", Deleted: true, Time: at, EID: origin},
	} {
		fields, ts, ok := c.Encode(in)
		if !ok || !ts.Equal(at) || (in.Deleted != (len(fields) == 0)) {
			t.Fatalf("Encode(%+v) = %q %v %v", in, fields, ts, ok)
		}
		out, ok := c.Decode(in.Mailbox, fields, origin, ts)
		if !ok || out != in {
			t.Errorf("%+v: decoded %#v", in, out)
		}
	}
	out, _ := c.Decode("1@default", []string{"7", "bad"}, origin, at)
	if m := out.(event.MWI); m.New != 7 || m.Old != 0 || m.Urgent != 0 || m.Deleted {
		t.Errorf("short/malformed fields: %+v", m)
	}
}
