package mwi

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/astdb"
	"github.com/pleiades-pbx/pleiades/internal/devstate"
	"github.com/pleiades-pbx/pleiades/internal/event"
	"github.com/pleiades-pbx/pleiades/internal/state"
)

func TestDeviceStateMapping(t *testing.T) {
	for _, c := range []struct {
		name string
		mw   event.MessageWaiting
		want state.Device
	}{
		{"new messages", event.MessageWaiting{Mailbox: "100@default", Waiting: true, New: 1}, state.InUse},
		{"new and old", event.MessageWaiting{Mailbox: "100@default", Waiting: true, New: 3, Old: 7, Urgent: 1}, state.InUse},
		{"old only", event.MessageWaiting{Mailbox: "100@default", Old: 5}, state.NotInUse},
		{"empty mailbox", event.MessageWaiting{Mailbox: "100@default"}, state.NotInUse},
		// Waiting follows the new count, as AMI MessageWaiting says it: urgent alone does not light.
		{"urgent only", event.MessageWaiting{Mailbox: "100@default", Urgent: 2}, state.NotInUse},
		// A deleted mailbox is announced with Waiting false and no counts: the lamp goes off.
		{"deleted", event.MessageWaiting{Mailbox: "100@default"}, state.NotInUse},
	} {
		if got := DeviceState(c.mw); got != c.want {
			t.Errorf("%s: DeviceState(%+v) = %v, want %v", c.name, c.mw, got, c.want)
		}
	}
	for in, want := range map[string]string{"100@default": "MWI:100@default", "1234@sales": "MWI:1234@sales"} {
		if got := Device(in); got != want {
			t.Errorf("Device(%q) = %q, want %q", in, got, want)
		}
	}
}

// dsFixture runs the mwi engine with a devstate engine on one bus, as a server does.
func dsFixture(t *testing.T) (*fixture, *devstate.Engine, *[]event.DeviceStateChange) {
	f := newFixture(t)
	ds, err := devstate.New(nil, f.bus, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ds.Close() })
	var changes []event.DeviceStateChange
	f.bus.Subscribe("changes", event.KindDeviceStateChange, func(ev event.Event) {
		f.mu.Lock()
		changes = append(changes, ev.(event.DeviceStateChange))
		f.mu.Unlock()
	})
	return f, ds, &changes
}

func TestMWIDeviceFollowsTheMailbox(t *testing.T) {
	f, ds, changes := dsFixture(t)
	const dev = "MWI:100@default"
	if got := ds.State(dev); got != state.Invalid {
		t.Fatalf("never updated: %v, want INVALID (no provider, as Asterisk)", got)
	}
	step := func(what string, do func(), want state.Device) {
		t.Helper()
		do()
		f.idle()
		if got := ds.State(dev); got != want {
			t.Fatalf("%s: %s is %v, want %v", what, dev, got, want)
		}
		per := ds.PerEID(dev)
		if len(per) != 1 || !per[0].Local {
			t.Fatalf("%s: per-server entries %+v, want this server's only", what, per)
		}
	}
	step("2 new", func() { f.m.Update("100", 2, 0, 0) }, state.InUse)
	step("old only", func() { f.m.Update("100", 0, 2, 0) }, state.NotInUse)
	step("1 new again", func() { f.m.Update("100@default", 1, 2, 0) }, state.InUse)
	// Another server's newer update wins the mailbox, and so the device: still one entry, ours.
	step("remote newer, 0 new", func() { f.remote("100@default", 0, 3, 0, t0.Add(time.Hour)) }, state.NotInUse)
	step("remote newer, 4 new", func() { f.remote("100@default", 4, 3, 0, t0.Add(2*time.Hour)) }, state.InUse)
	// The remote server leaves: this server's own (older) counts, 1 new, show again.
	step("remote left", func() { f.bus.Purge(serverB) }, state.InUse)
	step("0 new", func() { f.m.Update("100", 0, 0, 0) }, state.NotInUse)
	step("1 new", func() { f.m.Update("100", 1, 0, 0) }, state.InUse)
	step("deleted", func() { f.m.Delete("100") }, state.NotInUse)
	// A mailbox only another server had counts for: its lamp goes off when that server leaves.
	step("remote 5 new", func() { f.remote("100@default", 5, 0, 0, t0.Add(3*time.Hour)) }, state.InUse)
	step("remote left again", func() { f.bus.Purge(serverB) }, state.NotInUse)

	f.mu.Lock()
	defer f.mu.Unlock()
	var got []string
	for _, c := range *changes {
		if c.Device != dev {
			t.Errorf("change of another device: %+v", c)
		}
		got = append(got, c.State.String())
	}
	want := "INUSE NOT_INUSE INUSE NOT_INUSE INUSE NOT_INUSE INUSE NOT_INUSE INUSE NOT_INUSE"
	if s := strings.Join(got, " "); s != want {
		t.Fatalf("DeviceStateChange sequence %q, want %q", s, want)
	}
}

// A restarted server has its restored mailboxes' devices as soon as New returns.
func TestRestoredMailboxesSetTheirDevicesAtStart(t *testing.T) {
	db, err := astdb.Open(filepath.Join(t.TempDir(), astdb.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Put(Family, "100@default", `{"msgs_new":"2","msgs_old":"5"}`); err != nil {
		t.Fatal(err)
	}
	if err := db.Put(Family, "200@default", `{"msgs_new":"0","msgs_old":"5"}`); err != nil {
		t.Fatal(err)
	}
	for range 20 { // the old race would lose some of these
		bus := event.NewBus(nil, serverA)
		ds, err := devstate.New(nil, bus, nil)
		if err != nil {
			t.Fatal(err)
		}
		m, err := New(nil, bus, db)
		if err != nil {
			t.Fatal(err)
		}
		// No wait here: New itself waits.
		a, b := ds.State("MWI:100@default"), ds.State("MWI:200@default")
		m.Close()
		ds.Close()
		bus.Close()
		if a != state.InUse || b != state.NotInUse {
			t.Fatalf("right after start: MWI:100@default %v, MWI:200@default %v; want INUSE, NOT_INUSE", a, b)
		}
	}
}
