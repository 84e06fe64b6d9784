package devstate

import (
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/eid"
	"github.com/pleiades-pbx/pleiades/internal/event"
	"github.com/pleiades-pbx/pleiades/internal/state"
)

// WireCodec is the payload of a device_state event between servers (a cluster.Codec): one
// field, the state's name as DEVICE_STATE() writes it ("INUSE"). A name this server does not
// know arrives as UNKNOWN; no fields means the origin forgot the device.
//
// Derived devices (MWI:) are never sent, and one that arrives anyway is dropped (its origin's
// entry cleared): every server derives them itself, so another server's copy would only be
// counted twice in the aggregate (see the package doc).
type WireCodec struct{}

// Kind is event.KindDeviceState.
func (WireCodec) Kind() event.Kind { return event.KindDeviceState }

// Encode returns [state name] of a DeviceState (the time is left to the sender).
func (WireCodec) Encode(ev event.Event) ([]string, time.Time, bool) {
	ds, ok := ev.(event.DeviceState)
	if !ok || Derived(ds.Device) {
		return nil, time.Time{}, false
	}
	return []string{ds.State.String()}, time.Time{}, true
}

// Decode rebuilds origin's DeviceState of device; false for a removal (no fields).
func (WireCodec) Decode(device string, fields []string, origin eid.EID, _ time.Time) (event.Event, bool) {
	if len(fields) == 0 || Derived(device) {
		return nil, false
	}
	st, ok := state.ParseDevice(fields[0])
	if !ok {
		st = state.Unknown
	}
	return event.DeviceState{Device: device, State: st, EID: origin}, true
}

// Derived reports whether device is one every server derives from cluster-wide state of its
// own (an MWI: device, from its mailbox's cluster-wide counts) rather than one whose per-server
// states the cluster aggregates. Its prefix is matched without regard to case.
func Derived(device string) bool {
	return len(device) >= len(MWIPrefix) && strings.EqualFold(device[:len(MWIPrefix)], MWIPrefix)
}
