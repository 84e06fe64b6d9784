// Package state holds the state types every part of Pleiades speaks: the nine device states
// (Asterisk's enum ast_device_state) and the extension states of hints (enum
// ast_extension_states), with their names and texts. It is a leaf: it imports nothing of
// Pleiades, so the event bus, the state engines (devstate, hint, mwi) and the front ends (sip,
// ami, httpapi, funcs) share one type without import cycles. What is computed from states (the
// cluster-wide aggregation rule) lives with the engine that computes it, in package devstate.
package state

import "strings"

// Device is a device state. The numeric values are Asterisk's (AST_DEVICE_*), which is also
// what the cluster sends on the wire.
type Device uint8

// The device states, with Asterisk's values.
const (
	Unknown     Device = 0 // UNKNOWN, "Unknown"
	NotInUse    Device = 1 // NOT_INUSE, "Not in use"
	InUse       Device = 2 // INUSE, "In use"
	Busy        Device = 3 // BUSY, "Busy"
	Invalid     Device = 4 // INVALID, "Invalid"
	Unavailable Device = 5 // UNAVAILABLE, "Unavailable"
	Ringing     Device = 6 // RINGING, "Ringing"
	RingInUse   Device = 7 // RINGINUSE, "Ring+Inuse"
	OnHold      Device = 8 // ONHOLD, "On Hold"
)

// DeviceCount is the number of device states; valid states are 0..DeviceCount-1.
const DeviceCount = 9

var names = [DeviceCount]string{"UNKNOWN", "NOT_INUSE", "INUSE", "BUSY", "INVALID", "UNAVAILABLE", "RINGING", "RINGINUSE", "ONHOLD"}

var texts = [DeviceCount]string{"Unknown", "Not in use", "In use", "Busy", "Invalid", "Unavailable", "Ringing", "Ring+Inuse", "On Hold"}

// Devices returns the nine device states in value order.
func Devices() []Device {
	out := make([]Device, DeviceCount)
	for i := range out {
		out[i] = Device(i)
	}
	return out
}

// Valid reports whether d is one of the nine states.
func (d Device) Valid() bool { return d < DeviceCount }

// String returns the state's name as DEVICE_STATE() reads and writes it ("NOT_INUSE"),
// Asterisk's ast_devstate_str. A value out of range reads as "UNKNOWN".
func (d Device) String() string {
	if d < DeviceCount {
		return names[d]
	}
	return names[Unknown]
}

// Text returns the state's text as the CLI and AMI show it ("Not in use"), Asterisk's
// ast_devstate2str. A value out of range reads as "Unknown".
func (d Device) Text() string {
	if d < DeviceCount {
		return texts[d]
	}
	return texts[Unknown]
}

// ParseDevice reads a state name ("INUSE", case-insensitive, as Asterisk's ast_devstate_val).
// ok is false for anything else; the state returned then is Unknown, which is what Asterisk
// makes of an unknown string.
func ParseDevice(s string) (d Device, ok bool) {
	s = strings.TrimSpace(s)
	for i, n := range names {
		if strings.EqualFold(s, n) {
			return Device(i), true
		}
	}
	return Unknown, false
}

// Extension maps a device state (for a hint, the aggregate of its devices) to the extension
// state of a hint (Asterisk's ast_devstate_to_extenstate).
func (d Device) Extension() Extension {
	switch d {
	case NotInUse, Unknown:
		return ExtNotInUse
	case InUse:
		return ExtInUse
	case Busy:
		return ExtBusy
	case Unavailable, Invalid:
		return ExtUnavailable
	case Ringing:
		return ExtRinging
	case RingInUse:
		return ExtInUse | ExtRinging
	case OnHold:
		return ExtOnHold
	}
	return ExtNotInUse
}
