// Package devstate holds device states: the nine states, the aggregation rule, the map to
// extension states, device-state providers, and the Engine that keeps this server's states and
// the cluster-wide aggregate of every device (Asterisk's main/devicestate.c and
// funcs/func_devstate.c).
//
// # How a state change flows
//
//	Engine.Set(device, state)                     this server's state (SIP, DEVICE_STATE(), devstate change)
//	  -> bus: event.DeviceState{device, state, local EID}    cached per (device, EID); the cluster publishes it
//	remote servers' states arrive on the same bus as event.DeviceState{device, state, their EID}
//	  -> the engine's subscription "devstate" (all EIDs): aggregate over the cached per-EID states
//	  -> event.DeviceStateChange{device, aggregate}          published only when the aggregate changed
//
// The engine's handler recomputes from the cache, not from the event it was handed, so a
// DeviceStateChange always carries the current aggregate; when changes come faster than
// subscribers take them, intermediate aggregates are skipped (states are idempotent), never
// the latest.
//
// State(device) reads the cluster-wide aggregate straight from the cache, so it is current as
// soon as Set returns. A device that no server has a state for is asked of the provider of its
// prefix ("Custom:", "SIP/"): a never-set Custom device is UNKNOWN; a device of a prefix nobody
// provides is INVALID, as in Asterisk. When a server leaves, the cluster purges its events
// (event.Bus.Purge); the engine recomputes each device it touched and announces the new
// aggregate (falling back to the provider when no server has a state left).
//
// With "core set debug 1" every aggregation is logged, naming each server's contribution, with
// Asterisk's words:
//
//	Adding per-server state of 'In use' for '02:00:00:00:00:0a'
//	Adding per-server state of 'Not in use' for '02:00:00:00:00:0b'
//	Aggregate devstate result is 'In use' for 'Custom:mystate'
//	Aggregate state for device 'Custom:mystate' has changed to 'In use'
//
// # Custom device states
//
// "Custom:NAME" devices are set by DEVICE_STATE(Custom:NAME)=STATE (SetCustom) and by the CLI
// "devstate change". They persist in the astdb family CustomDevstate (key NAME, value the state
// name) and are published again, as this server's states, when the Engine starts.
//
// # Wiring (for internal/core)
//
//	eng, err := devstate.New(log, bus, db)   // log *slog.Logger, bus *event.Bus, db *astdb.DB (nil: no persistence)
//	cliRegistry.MustRegister(eng.Commands()...)   // devstate list, devstate change, devstate show
//	eng.RegisterProvider("SIP/", p)          // by the SIP module; "Custom:" is built in
//	eng.Close()                              // before bus.Close() and db.Close()
//
// Consumers of the cluster-wide state subscribe to event.KindDeviceStateChange on the bus
// (SubscribeKeys for the devices of a hint) and read Engine.State for the current value.
package devstate

import "github.com/pleiades-pbx/pleiades/internal/devstate/state"

// State is a device state (Asterisk's enum ast_device_state).
type State = state.State

// The nine device states. String() gives the name ("NOT_INUSE"), Text() the CLI/AMI text
// ("Not in use").
const (
	Unknown     = state.Unknown     // UNKNOWN, "Unknown"
	NotInUse    = state.NotInUse    // NOT_INUSE, "Not in use"
	InUse       = state.InUse       // INUSE, "In use"
	Busy        = state.Busy        // BUSY, "Busy"
	Invalid     = state.Invalid     // INVALID, "Invalid"
	Unavailable = state.Unavailable // UNAVAILABLE, "Unavailable"
	Ringing     = state.Ringing     // RINGING, "Ringing"
	RingInUse   = state.RingInUse   // RINGINUSE, "Ring+Inuse"
	OnHold      = state.OnHold      // ONHOLD, "On Hold"
)

// NumStates is the number of device states.
const NumStates = state.Count

// States returns the nine states in value order.
func States() []State {
	out := make([]State, NumStates)
	for i := range out {
		out[i] = State(i)
	}
	return out
}

// ParseState reads a state name ("INUSE", case-insensitive). For anything else it returns
// UNKNOWN and false (Asterisk's ast_devstate_val makes UNKNOWN of an unknown string).
func ParseState(s string) (State, bool) { return state.Parse(s) }

// rank orders states for aggregation: INVALID < UNKNOWN < UNAVAILABLE < NOT_INUSE < ONHOLD <
// RINGING < INUSE < BUSY < RINGINUSE (Asterisk's state_order in ast_devstate_aggregate_add).
var rank = [NumStates]uint8{
	Unknown:     1,
	NotInUse:    3,
	InUse:       6,
	Busy:        7,
	Invalid:     0,
	Unavailable: 2,
	Ringing:     5,
	RingInUse:   8,
	OnHold:      4,
}

// Aggregator combines several states into one, for one device across servers and for the
// devices of a hint. The zero value is ready (it starts from INVALID, as Asterisk's
// ast_devstate_aggregate_init).
//
// The rule: RINGING sets a ringing flag; INUSE, BUSY or ONHOLD set an in-use flag; when both
// flags are set the result is RINGINUSE, otherwise the result becomes the added state if that
// ranks higher. The result does not depend on the order states are added in.
type Aggregator struct {
	state   State // meaningful when n > 0; the zero value is UNKNOWN, so track INVALID by n
	ringing bool
	inuse   bool
	n       int
}

// Add adds one state. A value out of range counts as UNKNOWN.
func (a *Aggregator) Add(s State) {
	if !s.Valid() {
		s = Unknown
	}
	if a.n == 0 {
		a.state = Invalid
	}
	a.n++
	switch s {
	case Ringing:
		a.ringing = true
	case InUse, Busy, OnHold:
		a.inuse = true
	}
	if a.ringing && a.inuse {
		a.state = RingInUse
	} else if rank[s] > rank[a.state] {
		a.state = s
	}
}

// Result returns the aggregate: INVALID when nothing was added (Asterisk's result for an empty
// aggregate; use Len to tell "absent").
func (a *Aggregator) Result() State {
	if a.n == 0 {
		return Invalid
	}
	return a.state
}

// Len returns how many states were added.
func (a *Aggregator) Len() int { return a.n }

// Reset empties the aggregator.
func (a *Aggregator) Reset() { *a = Aggregator{} }

// Aggregate returns the aggregate of states (INVALID for none).
func Aggregate(states ...State) State {
	var a Aggregator
	for _, s := range states {
		a.Add(s)
	}
	return a.Result()
}

// ExtensionState is a hint's extension state (Asterisk's enum ast_extension_states): bit flags
// INUSE 1, BUSY 2, UNAVAILABLE 4, RINGING 8, ONHOLD 16, plus -1 and -2.
type ExtensionState int

// The extension states.
const (
	ExtensionRemoved     ExtensionState = -2 // the hint was removed
	ExtensionDeactivated ExtensionState = -1 // the extension was removed from the dialplan
	ExtensionNotInUse    ExtensionState = 0  // "Idle"
	ExtensionInUse       ExtensionState = 1  // "InUse"
	ExtensionBusy        ExtensionState = 2  // "Busy"
	ExtensionUnavailable ExtensionState = 4  // "Unavailable"
	ExtensionRinging     ExtensionState = 8  // "Ringing"
	ExtensionOnHold      ExtensionState = 16 // "Hold"
)

// String returns the state's text as "core show hints" and AMI show it (Asterisk's
// ast_extension_state2str, with texts for -1 and -2 that Asterisk prints as "Unknown").
func (x ExtensionState) String() string {
	switch x {
	case ExtensionRemoved:
		return "Removed"
	case ExtensionDeactivated:
		return "Deactivated"
	case ExtensionNotInUse:
		return "Idle"
	case ExtensionInUse:
		return "InUse"
	case ExtensionBusy:
		return "Busy"
	case ExtensionUnavailable:
		return "Unavailable"
	case ExtensionRinging:
		return "Ringing"
	case ExtensionInUse | ExtensionRinging:
		return "InUse&Ringing"
	case ExtensionOnHold:
		return "Hold"
	case ExtensionInUse | ExtensionOnHold:
		return "InUse&Hold"
	}
	return "Unknown"
}

// ToExtensionState maps an (aggregate) device state to the extension state of a hint
// (Asterisk's ast_devstate_to_extenstate).
func ToExtensionState(s State) ExtensionState {
	switch s {
	case NotInUse, Unknown:
		return ExtensionNotInUse
	case InUse:
		return ExtensionInUse
	case Busy:
		return ExtensionBusy
	case Unavailable, Invalid:
		return ExtensionUnavailable
	case Ringing:
		return ExtensionRinging
	case RingInUse:
		return ExtensionInUse | ExtensionRinging
	case OnHold:
		return ExtensionOnHold
	}
	return ExtensionNotInUse
}
