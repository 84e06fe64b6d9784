package state

// Extension is a hint's extension state (Asterisk's enum ast_extension_states): the bit flags
// ExtInUse, ExtBusy, ExtUnavailable, ExtRinging and ExtOnHold (combined as InUse&Ringing and
// InUse&Hold), ExtNotInUse (0), and the negative ExtDeactivated and ExtRemoved. The numbers are
// Asterisk's, as AMI's Status header and the REST API's "state" carry them.
type Extension int

// The extension states.
const (
	ExtRemoved     Extension = -2 // the hint was removed
	ExtDeactivated Extension = -1 // the extension was removed from the dialplan
	ExtNotInUse    Extension = 0  // "Idle"
	ExtInUse       Extension = 1  // "InUse"
	ExtBusy        Extension = 2  // "Busy"
	ExtUnavailable Extension = 4  // "Unavailable"
	ExtRinging     Extension = 8  // "Ringing"
	ExtOnHold      Extension = 16 // "Hold"
)

// Has reports whether the flag f is set in x. Negative states (removed, deactivated) have no
// flags.
func (x Extension) Has(f Extension) bool { return x >= 0 && x&f != 0 }

// String returns the state's text as "core show hints" and AMI's StatusText show it
// (Asterisk's ast_extension_state2str, with texts for -1 and -2 that Asterisk prints as
// "Unknown").
func (x Extension) String() string {
	switch x {
	case ExtRemoved:
		return "Removed"
	case ExtDeactivated:
		return "Deactivated"
	case ExtNotInUse:
		return "Idle"
	case ExtInUse:
		return "InUse"
	case ExtBusy:
		return "Busy"
	case ExtUnavailable:
		return "Unavailable"
	case ExtRinging:
		return "Ringing"
	case ExtInUse | ExtRinging:
		return "InUse&Ringing"
	case ExtOnHold:
		return "Hold"
	case ExtInUse | ExtOnHold:
		return "InUse&Hold"
	}
	return "Unknown"
}

// Name returns the name EXTENSION_STATE() gives the state ("NOT_INUSE", "RINGINUSE",
// "HOLDINUSE", ..., "UNKNOWN" for removed and deactivated hints), Asterisk's func_extstate.
func (x Extension) Name() string {
	switch x {
	case ExtNotInUse:
		return "NOT_INUSE"
	case ExtInUse:
		return "INUSE"
	case ExtBusy:
		return "BUSY"
	case ExtUnavailable:
		return "UNAVAILABLE"
	case ExtRinging:
		return "RINGING"
	case ExtInUse | ExtRinging:
		return "RINGINUSE"
	case ExtInUse | ExtOnHold:
		return "HOLDINUSE"
	case ExtOnHold:
		return "ONHOLD"
	}
	return "UNKNOWN"
}
