package hint

import (
	"testing"

	"github.com/pleiades-pbx/pleiades/internal/state"
)

// A dialplan in miniature: "main" includes "phones", which holds 100's hint and the pattern
// hint _2XX; "rt" holds a hint only the engine knows (a realtime one).
func miniFinder(exten, context string) (Spec, bool) {
	if context != "main" && context != "phones" {
		return Spec{}, false
	}
	switch {
	case exten == "100":
		return Spec{Exten: "100", Context: "phones", Devices: "Custom:a", Source: "extensions.conf:3"}, true
	case len(exten) == 3 && exten[0] == '2':
		return Spec{Exten: exten, Context: "phones", Devices: "Custom:p&Custom:q", Presence: "CustomPresence:p"}, true
	}
	return Spec{}, false
}

func TestResolve(t *testing.T) {
	f := newFixture(t)
	f.e.Sync("extensions.conf", []Spec{{Exten: "100", Context: "phones", Devices: "Custom:a", Source: "extensions.conf:3"}})
	f.e.Sync("realtime", []Spec{{Exten: "300", Context: "rt", Devices: "Custom:r", Source: "realtime:extensions"}})
	f.ds.SetCustom("Custom:a", "INUSE")
	f.ds.SetCustom("Custom:p", "RINGING")
	f.ds.SetCustom("Custom:r", "BUSY")
	f.idle(t)

	for _, c := range []struct {
		name, exten, context string
		finder               Finder
		ok                   bool
		key, devices         string
		want                 state.Extension
	}{
		{"held hint", "100", "phones", miniFinder, true, "100@phones", "Custom:a", state.ExtInUse},
		{"held hint without a dialplan", "300", "rt", nil, true, "300@rt", "Custom:r", state.ExtBusy},
		{"through an include: the held hint of the context that has it", "100", "main", miniFinder, true, "100@phones", "Custom:a", state.ExtInUse},
		{"pattern hint: computed now, named after the number", "201", "main", miniFinder, true, "201@phones", "Custom:p&Custom:q", state.ExtRinging},
		{"no hint", "999", "main", miniFinder, false, "", "", 0},
		{"no dialplan", "100", "main", nil, false, "", "", 0},
	} {
		f.e.SetFinder(c.finder)
		st, ok := f.e.Resolve(c.exten, c.context)
		if ok != c.ok || (ok && (st.Key() != c.key || st.Devices != c.devices || st.State != c.want)) {
			t.Errorf("%s: Resolve(%s@%s) = %+v %v, want %s %s %v", c.name, c.exten, c.context, st, ok, c.key, c.devices, c.want)
		}
	}
}
