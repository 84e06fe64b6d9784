package devstate

import (
	"time"

	"github.com/pleiades-pbx/pleiades/internal/eid"
	"github.com/pleiades-pbx/pleiades/internal/event"
	"github.com/pleiades-pbx/pleiades/internal/state"
)

// WireCodec is the payload of a device_state event between servers (a cluster.Codec): one
// field, the state's name as DEVICE_STATE() writes it ("INUSE"). A name this server does not
// know arrives as UNKNOWN; no fields means the origin forgot the device.
type WireCodec struct{}

// Kind is event.KindDeviceState.
func (WireCodec) Kind() event.Kind { return event.KindDeviceState }

// Encode returns [state name] of a DeviceState (the time is left to the sender).
func (WireCodec) Encode(ev event.Event) ([]string, time.Time, bool) {
	ds, ok := ev.(event.DeviceState)
	if !ok {
		return nil, time.Time{}, false
	}
	return []string{ds.State.String()}, time.Time{}, true
}

// Decode rebuilds origin's DeviceState of device; false for a removal (no fields).
func (WireCodec) Decode(device string, fields []string, origin eid.EID, _ time.Time) (event.Event, bool) {
	if len(fields) == 0 {
		return nil, false
	}
	st, ok := state.ParseDevice(fields[0])
	if !ok {
		st = state.Unknown
	}
	return event.DeviceState{Device: device, State: st, EID: origin}, true
}
