// Package devstate keeps device states: the aggregation rule, device-state providers, and the
// Engine that keeps this server's states and the cluster-wide aggregate of every device
// (Asterisk's main/devicestate.c and funcs/func_devstate.c). The states themselves, and their
// map to extension states, are package state's.
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
// # MWI: devices
//
// "MWI:mailbox@context" (e.g. "MWI:100@default") is INUSE while the mailbox has new messages
// and NOT_INUSE otherwise, as Asterisk's res_mwi_devstate sets it; package mwi publishes it.
// It is derived, not aggregated: each server publishes it as its own state from the
// mailbox's cluster-wide counts (which the cluster already shares, newest update winning),
// and WireCodec never sends it. Two other ways were weighed and refused:
//   - only the server that took the MWIUpdate publishes it, and the cluster aggregates: the
//     aggregate keeps the highest state of any server, so server 1's INUSE would survive
//     server 2's newer update to 0 new messages (the mailbox rule is "newest wins", the
//     device rule "highest wins"; they disagree);
//   - every server derives it and shares it too: every server's copy would be counted in
//     every aggregate ("devstate show" listing N equal entries), and while an update spreads
//     a lagging server's old copy would hold the aggregate back.
//
// So the aggregate of an MWI: device has exactly one entry, this server's, and it follows the
// mailbox on every server as soon as the mailbox's counts arrive there. A device never derived
// has no provider and reads INVALID, as in Asterisk.
//
// # Wiring (for internal/core)
//
//	eng, err := devstate.New(log, bus, db)   // log *slog.Logger, bus *event.Bus, db *astdb.DB (nil: no persistence)
//	cliRegistry.MustRegister(eng.Commands()...)   // devstate list, devstate change, devstate show
//	eng.RegisterProvider("SIP/", p)          // by the SIP module; "Custom:" is built in
//	eng.Close()                              // before bus.Close() and db.Close()
//	registry.MustRegister(eng.Collector())   // pleiades_device_states
//	cluster.NewBridge(bus, devstate.WireCodec{}, ...) // the device_state payload between servers
//
// Consumers of the cluster-wide state subscribe to event.KindDeviceStateChange on the bus
// (SubscribeKeys for the devices of a hint) and read Engine.State for the current value.
package devstate

import "github.com/pleiades-pbx/pleiades/internal/state"

// rank orders states for aggregation: INVALID < UNKNOWN < UNAVAILABLE < NOT_INUSE < ONHOLD <
// RINGING < INUSE < BUSY < RINGINUSE (Asterisk's state_order in ast_devstate_aggregate_add).
var rank = [state.DeviceCount]uint8{
	state.Unknown:     1,
	state.NotInUse:    3,
	state.InUse:       6,
	state.Busy:        7,
	state.Invalid:     0,
	state.Unavailable: 2,
	state.Ringing:     5,
	state.RingInUse:   8,
	state.OnHold:      4,
}

// Aggregator combines several states into one, for one device across servers and for the
// devices of a hint. The zero value is ready (it starts from INVALID, as Asterisk's
// ast_devstate_aggregate_init).
//
// The rule: RINGING sets a ringing flag; INUSE, BUSY or ONHOLD set an in-use flag; when both
// flags are set the result is RINGINUSE, otherwise the result becomes the added state if that
// ranks higher. The result does not depend on the order states are added in.
type Aggregator struct {
	state   state.Device // meaningful when n > 0; the zero value is UNKNOWN, so track INVALID by n
	ringing bool
	inuse   bool
	n       int
}

// Add adds one state. A value out of range counts as UNKNOWN.
func (a *Aggregator) Add(s state.Device) {
	if !s.Valid() {
		s = state.Unknown
	}
	if a.n == 0 {
		a.state = state.Invalid
	}
	a.n++
	switch s {
	case state.Ringing:
		a.ringing = true
	case state.InUse, state.Busy, state.OnHold:
		a.inuse = true
	}
	if a.ringing && a.inuse {
		a.state = state.RingInUse
	} else if rank[s] > rank[a.state] {
		a.state = s
	}
}

// Result returns the aggregate: INVALID when nothing was added (Asterisk's result for an empty
// aggregate; use Len to tell "absent").
func (a *Aggregator) Result() state.Device {
	if a.n == 0 {
		return state.Invalid
	}
	return a.state
}

// Len returns how many states were added.
func (a *Aggregator) Len() int { return a.n }

// Reset empties the aggregator.
func (a *Aggregator) Reset() { *a = Aggregator{} }

// Aggregate returns the aggregate of states (INVALID for none).
func Aggregate(states ...state.Device) state.Device {
	var a Aggregator
	for _, s := range states {
		a.Add(s)
	}
	return a.Result()
}
