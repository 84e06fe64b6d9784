package sip

import (
	"fmt"
	"testing"

	"github.com/pleiades-pbx/pleiades/internal/state"
	"github.com/pleiades-pbx/pleiades/test/golden"
)

// extension states as the hint engine reports them (Asterisk's enum ast_extension_states)
var goldenStates = []struct {
	name string
	st   state.Extension
}{
	{"removed", -2}, {"deactivated", -1}, {"idle", 0}, {"inuse", 1}, {"busy", 2},
	{"unavailable", 4}, {"ringing", 8}, {"ringinuse", 9}, {"hold", 16}, {"holdinuse", 17},
}

// checkGolden compares got with testdata/notify/name (or writes it, with -update).
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	golden.Check(t, "notify/"+name, string(got))
}

// TestNotifyBodiesGolden pins the NOTIFY bodies (dialog-info, PIDF, message-summary) byte for
// byte: both the sipgo path (dialogInfoBody, pidfBody, mwiBody) and the prepared UDP path
// (the append functions with pre-escaped values) must give the files under testdata/notify.
// Regenerate with: go test -run TestNotifyBodiesGolden ./internal/sip/ -update
func TestNotifyBodiesGolden(t *testing.T) {
	// the extension, the SUBSCRIBE's To URI and the subscriber's From URI (without parameters)
	const exten, to, from = "100&<x>", "sip:100&<x>@192.0.2.1:5060", "sip:alice@192.0.2.9"
	check := func(name string, got []byte) { t.Helper(); checkGolden(t, name, got) }
	e, et, ef := xmlEscaper.Replace(exten), xmlEscaper.Replace(to), xmlEscaper.Replace(from)
	for _, gs := range goldenStates {
		d := dialogInfoBody(7, exten, to, gs.st)
		if a := appendDialogInfo(nil, 7, e, et, gs.st); string(a) != string(d) {
			t.Errorf("dialog-info %s: the two paths differ", gs.name)
		}
		check("dialog-"+gs.name+".xml", d)
		p := pidfBody(exten, from, to, gs.st)
		if a := appendPIDF(nil, e, ef, et, gs.st); string(a) != string(p) {
			t.Errorf("pidf %s: the two paths differ", gs.name)
		}
		check("pidf-"+gs.name+".xml", p)
	}
	for _, c := range [][3]int{{0, 0, 0}, {2, 5, 1}} {
		name := fmt.Sprintf("mwi-%d-%d-%d.txt", c[0], c[1], c[2])
		m := mwiBody(c[0], c[1], c[2], "sip:asterisk@192.0.2.1")
		if a := appendMWI(nil, c[0], c[1], c[2], "sip:asterisk@192.0.2.1"); string(a) != string(m) {
			t.Errorf("%s: the two paths differ", name)
		}
		check(name, m)
	}
	for _, c := range []struct {
		name       string
		terminated bool
		reason     string
		expires    int
	}{{"substate-active.txt", false, "", 3600}, {"substate-timeout.txt", true, "timeout", 0}, {"substate-terminated.txt", true, "", 0}} {
		check(c.name, appendSubState(nil, c.terminated, c.reason, c.expires))
	}
}

// TestEffectiveStateGolden: what a subscriber is told for each state under notifyringing and
// notifyhold (the state then rendered by the bodies above).
func TestEffectiveStateGolden(t *testing.T) {
	var out []byte
	for _, ring := range []struct {
		name string
		v    int
	}{{"no", ringingNo}, {"yes", ringingYes}, {"notinuse", ringingNotInUse}} {
		for _, hold := range []bool{false, true} {
			set := &settings{notifyRinging: ring.v, notifyHold: hold}
			for _, gs := range goldenStates {
				eff, skip := effectiveState(gs.st, set)
				out = fmt.Appendf(out, "notifyringing=%s notifyhold=%v %s(%d) -> %d skip=%v\n", ring.name, hold, gs.name, gs.st, eff, skip)
			}
		}
	}
	checkGolden(t, "effective-states.txt", out)
}
