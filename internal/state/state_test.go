package state

import "testing"

func TestExtensionStateTexts(t *testing.T) {
	for x, want := range map[Extension]string{
		-2: "Removed", -1: "Deactivated", 0: "Idle", 1: "InUse", 2: "Busy", 4: "Unavailable",
		8: "Ringing", 9: "InUse&Ringing", 16: "Hold", 17: "InUse&Hold", 3: "Unknown",
	} {
		if x.String() != want {
			t.Errorf("ExtensionState(%d) = %q, want %q", int(x), x, want)
		}
	}
}

func TestStateNamesAndTexts(t *testing.T) {
	names := "UNKNOWN NOT_INUSE INUSE BUSY INVALID UNAVAILABLE RINGING RINGINUSE ONHOLD"
	texts := []string{"Unknown", "Not in use", "In use", "Busy", "Invalid", "Unavailable", "Ringing", "Ring+Inuse", "On Hold"}
	got := ""
	for i, s := range Devices() {
		if i > 0 {
			got += " "
		}
		got += s.String()
		if s.Text() != texts[i] {
			t.Errorf("%v.Text() = %q, want %q", s, s.Text(), texts[i])
		}
		if p, ok := ParseDevice(s.String()); !ok || p != s {
			t.Errorf("ParseState(%q) = %v, %v", s, p, ok)
		}
	}
	if got != names {
		t.Errorf("names %q", got)
	}
	if s, ok := ParseDevice("inuse"); !ok || s != InUse {
		t.Error("ParseState is not case-insensitive")
	}
	if s, ok := ParseDevice("bogus"); ok || s != Unknown {
		t.Error("ParseState(bogus)")
	}
	if Device(42).String() != "UNKNOWN" || Device(42).Text() != "Unknown" || Device(42).Valid() {
		t.Error("out-of-range state")
	}
}

func TestExtensionNames(t *testing.T) {
	for st, want := range map[Extension]string{
		ExtNotInUse:           "NOT_INUSE",
		ExtInUse:              "INUSE",
		ExtBusy:               "BUSY",
		ExtUnavailable:        "UNAVAILABLE",
		ExtRinging:            "RINGING",
		ExtInUse | ExtRinging: "RINGINUSE",
		ExtInUse | ExtOnHold:  "HOLDINUSE",
		ExtOnHold:             "ONHOLD",
		ExtRemoved:            "UNKNOWN",
		ExtDeactivated:        "UNKNOWN",
	} {
		if got := st.Name(); got != want {
			t.Errorf("Extension(%d).Name() = %q, want %q", st, got, want)
		}
	}
}

func TestExtensionHas(t *testing.T) {
	x := ExtInUse | ExtRinging
	if !x.Has(ExtRinging) || !x.Has(ExtInUse) || x.Has(ExtOnHold) {
		t.Errorf("%v flags", x)
	}
	for _, neg := range []Extension{ExtRemoved, ExtDeactivated} {
		if neg.Has(ExtRinging) || neg.Has(ExtInUse) || neg.Has(ExtOnHold) {
			t.Errorf("%v has flags", neg)
		}
	}
}

func TestDeviceToExtension(t *testing.T) {
	want := map[Device]Extension{Unknown: ExtNotInUse, NotInUse: ExtNotInUse, InUse: ExtInUse, Busy: ExtBusy,
		Invalid: ExtUnavailable, Unavailable: ExtUnavailable, Ringing: ExtRinging, RingInUse: ExtInUse | ExtRinging,
		OnHold: ExtOnHold, Device(99): ExtNotInUse}
	for d, x := range want {
		if d.Extension() != x {
			t.Errorf("%v.Extension() = %v, want %v", d, d.Extension(), x)
		}
	}
}
