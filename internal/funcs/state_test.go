package funcs

import (
	"testing"

	"github.com/pleiades-pbx/pleiades/internal/devstate"
)

func TestExtStateName(t *testing.T) {
	for st, want := range map[devstate.ExtensionState]string{
		devstate.ExtensionNotInUse:                          "NOT_INUSE",
		devstate.ExtensionInUse:                             "INUSE",
		devstate.ExtensionBusy:                              "BUSY",
		devstate.ExtensionUnavailable:                       "UNAVAILABLE",
		devstate.ExtensionRinging:                           "RINGING",
		devstate.ExtensionInUse | devstate.ExtensionRinging: "RINGINUSE",
		devstate.ExtensionInUse | devstate.ExtensionOnHold:  "HOLDINUSE",
		devstate.ExtensionOnHold:                            "ONHOLD",
		devstate.ExtensionRemoved:                           "UNKNOWN",
		devstate.ExtensionDeactivated:                       "UNKNOWN",
	} {
		if got := ExtStateName(st); got != want {
			t.Errorf("ExtStateName(%d) = %q, want %q", st, got, want)
		}
	}
}

func TestSplitExten(t *testing.T) {
	for in, want := range map[string][2]string{
		"1234@devstate_test": {"1234", "devstate_test"},
		"1234":               {"1234", "default"},
		" 5@x ":              {"5", "x"},
	} {
		if x, c := splitExten(in); x != want[0] || c != want[1] {
			t.Errorf("splitExten(%q) = %q, %q", in, x, c)
		}
	}
}
