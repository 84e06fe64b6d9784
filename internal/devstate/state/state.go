// Package state holds the nine device states (Asterisk's enum ast_device_state) as a leaf
// package, so that both the event bus (internal/event, whose DeviceState events carry a state)
// and the device-state engine (internal/devstate, which re-exports everything here) can use
// one type without an import cycle. Use the names through package devstate.
package state

import "strings"

// State is a device state. The numeric values are Asterisk's (AST_DEVICE_*), which is also
// what the cluster sends on the wire when it sends numbers.
type State uint8

// The device states, with Asterisk's values.
const (
	Unknown     State = 0 // UNKNOWN, "Unknown"
	NotInUse    State = 1 // NOT_INUSE, "Not in use"
	InUse       State = 2 // INUSE, "In use"
	Busy        State = 3 // BUSY, "Busy"
	Invalid     State = 4 // INVALID, "Invalid"
	Unavailable State = 5 // UNAVAILABLE, "Unavailable"
	Ringing     State = 6 // RINGING, "Ringing"
	RingInUse   State = 7 // RINGINUSE, "Ring+Inuse"
	OnHold      State = 8 // ONHOLD, "On Hold"
)

// Count is the number of device states; valid states are 0..Count-1.
const Count = 9

var names = [Count]string{"UNKNOWN", "NOT_INUSE", "INUSE", "BUSY", "INVALID", "UNAVAILABLE", "RINGING", "RINGINUSE", "ONHOLD"}

var texts = [Count]string{"Unknown", "Not in use", "In use", "Busy", "Invalid", "Unavailable", "Ringing", "Ring+Inuse", "On Hold"}

// Valid reports whether s is one of the nine states.
func (s State) Valid() bool { return s < Count }

// String returns the state's name as DEVICE_STATE() reads and writes it ("NOT_INUSE"),
// Asterisk's ast_devstate_str. A value out of range reads as "UNKNOWN".
func (s State) String() string {
	if s < Count {
		return names[s]
	}
	return names[Unknown]
}

// Text returns the state's text as the CLI and AMI show it ("Not in use"), Asterisk's
// ast_devstate2str. A value out of range reads as "Unknown".
func (s State) Text() string {
	if s < Count {
		return texts[s]
	}
	return texts[Unknown]
}

// Parse reads a state name ("INUSE", case-insensitive, as Asterisk's ast_devstate_val). ok is
// false for anything else; the state returned then is Unknown, which is what Asterisk makes of
// an unknown string.
func Parse(s string) (st State, ok bool) {
	s = strings.TrimSpace(s)
	for i, n := range names {
		if strings.EqualFold(s, n) {
			return State(i), true
		}
	}
	return Unknown, false
}
