package dialplan

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// Two engines in one process: what one registers, the other does not see; both see the
// built-ins; unregistering removes only the engine's own.
func TestEnginesDoNotShareRegistrations(t *testing.T) {
	e1, _ := newTestEngine(t, "[c]\nexten => s,1,Set(V=${MINE(x)})\n")
	e2, _ := newTestEngine(t, "[c]\nexten => s,1,Set(V=${MINE(x)})\n")
	e1.RegisterFunction(&Function{Name: "MINE", Read: func(context.Context, *Channel, string) (string, error) { return "one", nil }})
	e1.RegisterApp(&App{Name: "MyApp", Exec: func(context.Context, *Channel, string) error { return nil }})
	e1.RegisterSwitch("MySwitch", &testSwitch{})
	// e1 replaces a built-in for itself only.
	e1.RegisterFunction(&Function{Name: "LEN", Read: func(context.Context, *Channel, string) (string, error) { return "mine", nil }})

	if e2.LookupFunction("mine") != nil || e2.LookupApp("myapp") != nil || e2.LookupSwitch("myswitch") != nil {
		t.Fatal("e2 sees e1's registrations")
	}
	if e1.LookupFunction("mine") == nil || e1.LookupApp("MYAPP") == nil || e1.LookupSwitch("MySwitch") == nil {
		t.Fatal("e1 lost its registrations")
	}
	for _, e := range []*Engine{e1, e2} {
		if e.LookupApp("Set") == nil || e.LookupFunction("CUT") == nil {
			t.Fatal("a built-in is missing")
		}
	}
	ch1, _ := runAt(t, e1, "c", "s")
	ch2, _ := runAt(t, e2, "c", "s")
	if v, _ := ch1.Var("V"); v != "one" {
		t.Errorf("e1: V = %q", v)
	}
	if v, _ := ch2.Var("V"); v == "one" {
		t.Errorf("e2 ran e1's function: V = %q", v)
	}
	if v, _ := e1.NewChannel("x", "c", "s", 1).ReadFunction(context.Background(), "LEN", "abc"); v != "mine" {
		t.Errorf("e1 LEN = %q", v)
	}
	if v, _ := e2.NewChannel("x", "c", "s", 1).ReadFunction(context.Background(), "LEN", "abc"); v != "3" {
		t.Errorf("e2 LEN = %q (the built-in)", v)
	}
	if len(e1.Functions()) != len(e2.Functions())+1 || len(e1.Apps()) != len(e2.Apps())+1 {
		t.Errorf("listings: e1 %d functions %d apps, e2 %d, %d", len(e1.Functions()), len(e1.Apps()), len(e2.Functions()), len(e2.Apps()))
	}
	e1.UnregisterFunction("MINE")
	e1.UnregisterFunction("LEN")
	e1.UnregisterApp("MyApp")
	e1.UnregisterApp("Set") // a built-in: stays
	e1.RegisterSwitch("MySwitch", nil)
	if e1.LookupFunction("MINE") != nil || e1.LookupApp("MyApp") != nil || e1.LookupSwitch("MySwitch") != nil {
		t.Error("unregister left something")
	}
	if e1.LookupApp("Set") == nil || e1.LookupFunction("LEN") == nil {
		t.Error("unregistering removed a built-in")
	}
	// Unloading (Close) drops what was registered on the engine.
	e2.RegisterFunction(&Function{Name: "ALSO", Read: func(context.Context, *Channel, string) (string, error) { return "", nil }})
	e2.RegisterSwitch("S2", &testSwitch{})
	e2.Close()
	if e2.LookupFunction("ALSO") != nil || e2.LookupSwitch("S2") != nil || e2.LookupFunction("LEN") == nil {
		t.Error("Close: registrations kept, or a built-in lost")
	}
}

// escalationEngine registers one function per escalation flag and an escalating app on a
// fresh engine, counting the calls that got through.
func escalationEngine(t *testing.T, text string) (*Engine, *atomic.Int32) {
	t.Helper()
	e, _ := newTestEngine(t, text)
	var calls atomic.Int32
	read := func(context.Context, *Channel, string) (string, error) { calls.Add(1); return "v", nil }
	write := func(context.Context, *Channel, string, string) error { calls.Add(1); return nil }
	for name, esc := range map[string]Escalation{"F_NONE": 0, "F_READ": EscalatesRead, "F_WRITE": EscalatesWrite, "F_BOTH": EscalatesBoth} {
		e.RegisterFunction(&Function{Name: name, Read: read, Write: write, Escalates: esc})
	}
	e.RegisterApp(&App{Name: "Danger", Escalates: true, Exec: func(context.Context, *Channel, string) error { calls.Add(1); return nil }})
	e.RegisterApp(&App{Name: "Safe", Exec: func(context.Context, *Channel, string) error { calls.Add(1); return nil }})
	return e, &calls
}

// The one check: a function direction that escalates, or an application that does, is
// refused to a channel that inhibits escalations, unless the engine lives dangerously;
// everything else runs.
func TestEscalationCheck(t *testing.T) {
	e, calls := escalationEngine(t, "")
	ctx := context.Background()
	for _, tc := range []struct {
		fn      string
		inhibit bool
		live    bool
		readOK  bool
		writeOK bool
	}{
		{"F_NONE", true, false, true, true},
		{"F_READ", true, false, false, true},
		{"F_WRITE", true, false, true, false},
		{"F_BOTH", true, false, false, false},
		{"F_BOTH", false, false, true, true},
		{"F_BOTH", true, true, true, true},
		{"f_both", true, false, false, false}, // names in any case
	} {
		e.SetLiveDangerously(tc.live)
		ch := e.NewChannel("Test/1", "c", "s", 1)
		if tc.inhibit {
			ch.InhibitEscalations()
		}
		before := calls.Load()
		_, rerr := ch.ReadFunction(ctx, tc.fn, "")
		werr := ch.WriteFunction(ctx, tc.fn+"(x)", "1")
		if (rerr == nil) != tc.readOK || (!tc.readOK && !errors.Is(rerr, ErrEscalation)) {
			t.Errorf("%+v: read err %v", tc, rerr)
		}
		if (werr == nil) != tc.writeOK || (!tc.writeOK && !errors.Is(werr, ErrEscalation)) {
			t.Errorf("%+v: write err %v", tc, werr)
		}
		want := int32(0)
		if tc.readOK {
			want++
		}
		if tc.writeOK {
			want++
		}
		if got := calls.Load() - before; got != want {
			t.Errorf("%+v: %d calls reached the function, want %d", tc, got, want)
		}
		for app, ok := range map[string]bool{"Danger": !tc.inhibit || tc.live, "Safe": true} {
			err := ch.ExecApp(ctx, ch.LookupApp(app), "")
			if (err == nil) != ok || (!ok && !errors.Is(err, ErrEscalation)) {
				t.Errorf("%+v: %s: %v", tc, app, err)
			}
		}
	}
}

// An inhibited channel is checked wherever a function or application is met: functions in
// substituted data, Set/MSet writes, ExecIf's application, ExecIf itself.
func TestEscalationInhibitedChannelInDialplan(t *testing.T) {
	e, calls := escalationEngine(t, `
[c]
exten => read,1,Set(R=${F_READ(x)})
exten => write,1,Set(F_WRITE(x)=1)
exten => mset,1,MSet(A=1,F_BOTH(x)=2)
exten => setfn,1,NoOp(${SET(F_WRITE(x)=3)})
exten => execif,1,ExecIf(1?Safe())
exten => ok,1,Set(R=${F_WRITE(x)})
 same => n,Set(F_READ(x)=1)
 same => n,Safe()
`)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for exten, wantCalls := range map[string]int32{"read": 0, "write": 0, "mset": 0, "setfn": 0, "execif": 0, "ok": 3} {
		ch := NewChannel("Test/1", "c", exten, 1)
		ch.InhibitEscalations()
		before := calls.Load()
		e.Run(ctx, ch)
		if got := calls.Load() - before; got != wantCalls {
			t.Errorf("%s: %d calls got through, want %d", exten, got, wantCalls)
		}
		// The same dialplan on a channel of the operator's own runs everything.
		before = calls.Load()
		e.Run(ctx, NewChannel("Test/2", "c", exten, 1))
		if exten != "ok" && calls.Load() == before {
			t.Errorf("%s: an uninhibited channel was refused", exten)
		}
	}
}

// CheckExternal answers an external origin's application and data before anything runs:
// the application, or any NAME( in the data, that escalates is refused.
func TestCheckExternal(t *testing.T) {
	e, _ := escalationEngine(t, "")
	for _, tc := range []struct {
		app, data string
		ok        bool
	}{
		{"NoOp", "hello", true},
		{"Set", "X=1", true},
		{"Set", "F_NONE(x)=1", true},
		{"Set", "F_WRITE(x)=1", false},
		{"Set", "X=${F_READ(a)}", false},
		{"Set", "f_both (x)=1", false},
		{"Set", "X=${DB(fam/key)}", false},
		{"MSet", "A=1,DB_DELETE\t(f/k)", false},
		{"Danger", "", false},
		{"danger", "", false},
		{"ExecIf", "1?NoOp()", false},
		{"NoOp", "Danger(x)", false},
		{"NoOp", "(not a name", true},
		{"NoOp", "UNKNOWN_FN(x)", true},
	} {
		err := e.CheckExternal(tc.app, tc.data)
		if (err == nil) != tc.ok || (!tc.ok && !errors.Is(err, ErrEscalation)) {
			t.Errorf("%s(%s): %v", tc.app, tc.data, err)
		}
	}
	e.SetLiveDangerously(true)
	if err := e.CheckExternal("Danger", "F_BOTH(x)"); err != nil {
		t.Errorf("live_dangerously: %v", err)
	}
}

// Originate for an external origin: refused before anything starts when the application
// or its data escalates; the half running the application inhibits escalations; a call to
// an extension runs the operator's dialplan unrestricted.
func TestOriginateInhibitsEscalations(t *testing.T) {
	e, calls := escalationEngine(t, `
[c]
exten => s,1,Answer()
exten => dp,1,Set(F_WRITE(x)=1)
`)
	inhibited := make(chan bool, 1)
	e.RegisterApp(&App{Name: "Probe", Exec: func(_ context.Context, ch *Channel, _ string) error {
		inhibited <- ch.EscalationsInhibited()
		return nil
	}})
	ctx := context.Background()
	_, _, err := e.Originate(ctx, Originate{Channel: "Local/s@c", App: "Set", Data: "F_WRITE(x)=1", InhibitEscalations: true})
	if !errors.Is(err, ErrEscalation) || !errors.Is(err, ErrOriginate) {
		t.Fatalf("escalating data: %v", err)
	}
	if _, _, err := e.Originate(ctx, Originate{Channel: "Local/s@c", App: "Danger", InhibitEscalations: true}); !errors.Is(err, ErrEscalation) {
		t.Fatalf("escalating app: %v", err)
	}
	if _, _, err := e.Originate(ctx, Originate{Channel: "Local/s@c", App: "Probe", InhibitEscalations: true}); err != nil {
		t.Fatal(err)
	}
	if !<-inhibited {
		t.Error("the application's half does not inhibit escalations")
	}
	if _, _, err := e.Originate(ctx, Originate{Channel: "Local/s@c", App: "Probe"}); err != nil {
		t.Fatal(err)
	}
	if <-inhibited {
		t.Error("a console's originate inhibits escalations")
	}
	before := calls.Load()
	if _, _, err := e.Originate(ctx, Originate{Channel: "Local/s@c", Exten: "dp", Context: "c", Priority: 1, InhibitEscalations: true}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for calls.Load() == before && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if calls.Load() == before {
		t.Error("the operator's dialplan reached through Exten was refused")
	}
}
