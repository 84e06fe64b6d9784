package core

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/devstate"
	"github.com/pleiades-pbx/pleiades/internal/dialplan"
	"github.com/pleiades-pbx/pleiades/internal/eid"
	"github.com/pleiades-pbx/pleiades/internal/event"
	"github.com/pleiades-pbx/pleiades/internal/funcs"
	"github.com/pleiades-pbx/pleiades/internal/hint"
	"github.com/pleiades-pbx/pleiades/internal/mwi"
	"github.com/pleiades-pbx/pleiades/internal/state"
)

// TestHintResolutionIsOne pins how a SUBSCRIBE (sipHints), AMI ExtensionState (amiBackend)
// and EXTENSION_STATE()/HINT() find a hint: all three go through hint.Engine.Resolve, so they
// agree. Before, AMI computed a hint reached through an include from its devices at that
// moment while SIP and EXTENSION_STATE() took the state the hint engine holds (what the
// hint's watchers were told); the "Test/" devices below change without telling anyone, so
// the two answers differed.
func TestHintResolutionIsOne(t *testing.T) {
	bus := event.NewBus(nil, eid.EID{2, 0, 0, 0, 0, 1})
	defer bus.Close()
	ds, err := devstate.New(nil, bus, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	var dev atomic.Int32
	dev.Store(int32(state.InUse))
	if err := ds.RegisterProvider("Test/", devstate.ProviderFunc(func(string) state.Device { return state.Device(dev.Load()) })); err != nil {
		t.Fatal(err)
	}
	hints := hint.New(nil, bus, ds, hintsStatic, hintsRealtime)
	defer hints.Close()
	mb, err := mwi.New(nil, bus, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	dp := dialplan.New(nil, nil)
	defer dp.Close()
	cfg, err := conf.Parse("extensions.conf", []byte(`[main]
include => phones
exten => 300,1,NoOp()

[phones]
exten => 100,hint,Test/a,CustomPresence:a
exten => _2XX,hint,Test/p
`), conf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := dp.Load(cfg); err != nil {
		t.Fatal(err)
	}
	funcs.Register(dp, ds, hints, mb)
	m := &dialplanModule{e: dp}
	hints.SetFinder(m.findHint)
	hints.Sync(hintsStatic, hintSpecs(dp.Hints(), fileLine))
	dev.Store(int32(state.Ringing)) // the held 100@phones stays InUse: nobody announced it

	s := &Server{Hints: hints, Dialplan: dp}
	ami := &amiBackend{s: s}
	sip := sipHints{s: s}
	ch := dp.NewChannel("Test/x", "main", "s", 1)
	for _, c := range []struct {
		exten, context string
		found          bool
		devices        string
		presence       string
		want           state.Extension
	}{
		{"100", "phones", true, "Test/a", "CustomPresence:a", state.ExtInUse},
		{"100", "main", true, "Test/a", "CustomPresence:a", state.ExtInUse}, // through the include: the held hint
		{"201", "main", true, "Test/p", "", state.ExtRinging},               // a pattern hint: computed now
		{"300", "main", false, "", "", 0},                                   // an extension without a hint
		{"100", "nowhere", false, "", "", 0},
	} {
		name := c.exten + "@" + c.context
		a, aok := ami.ExtensionState(c.exten, c.context)
		si, sok := sip.Lookup(c.exten, c.context)
		es, err := ch.ReadFunction(context.Background(), "EXTENSION_STATE", name)
		if err != nil {
			t.Fatal(err)
		}
		devs, _ := ch.ReadFunction(context.Background(), "HINT", name)
		pres, _ := ch.ReadFunction(context.Background(), "HINT", name+",n")
		if aok != c.found || sok != c.found {
			t.Errorf("%s: found by AMI %v, by SIP %v; want %v", name, aok, sok, c.found)
			continue
		}
		wantName := "UNKNOWN"
		if c.found {
			wantName = c.want.Name()
		}
		if es != wantName || devs != c.devices || pres != c.presence {
			t.Errorf("%s: EXTENSION_STATE %q HINT %q/%q, want %q %q/%q", name, es, devs, pres, wantName, c.devices, c.presence)
		}
		if !c.found {
			continue
		}
		if a.Exten != c.exten || a.Context != c.context || a.Hint != c.devices || a.Status != c.want || a.StatusText != c.want.String() {
			t.Errorf("%s: AMI %+v, want %s %v", name, a, c.devices, c.want)
		}
		if si.Exten != c.exten || si.Context != c.context || si.State != c.want || si.Presence != c.presence {
			t.Errorf("%s: SIP %+v, want %v %q", name, si, c.want, c.presence)
		}
	}
}
