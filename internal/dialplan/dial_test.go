package dialplan

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// An originated Local channel's ;1 half (the application or extension) runs only when the
// ;2 half's dialplan answers; the dial's outcome is Asterisk's originate reason: 4 answered,
// 0 ended without answering (Hangup(), falling off the dialplan), 5 Busy(), 8 Congestion(),
// 3 no answer within the timeout. A failed dial hangs the ;2 half up.
func TestOriginateDialResults(t *testing.T) {
	e, _ := newTestEngine(t, `
[far]
exten => answer,1,Answer()
exten => slow,1,Wait(0.05)
 same => n,Answer()
 same => n,Wait(0.05)
exten => noop,1,NoOp()
exten => hangup,1,Hangup(17)
exten => busy,1,Busy()
exten => busywait,1,Busy(10)
exten => congestion,1,Congestion()
exten => ring,1,Ringing()
 same => n,Wait(10)
 same => n,Set(GLOBAL(HUNG_ring)=no)
exten => late,1,Wait(10)
 same => n,Answer()
 same => n,Set(GLOBAL(HUNG_late)=no)
exten => answerbusy,1,Answer()
 same => n,Busy()
[dest]
exten => s,1,Set(GLOBAL(RAN_${X})=exten)
`)
	for _, tc := range []struct {
		exten string
		want  DialResult
	}{
		{"answer", DialAnswered},
		{"slow", DialAnswered},
		{"noop", DialFailed},
		{"hangup", DialFailed},
		{"busy", DialBusy},
		{"busywait", DialBusy},
		{"congestion", DialCongestion},
		{"ring", DialNoAnswer},
		{"late", DialNoAnswer},
		{"answerbusy", DialAnswered},
	} {
		for _, viaApp := range []bool{true, false} {
			name := fmt.Sprintf("%s/app=%v", tc.exten, viaApp)
			t.Run(name, func(t *testing.T) {
				got := make(chan DialResult, 2)
				o := Originate{Channel: "Local/" + tc.exten + "@far", Timeout: 300 * time.Millisecond,
					Vars: map[string]string{"X": tc.exten}, Dialled: func(r DialResult) { got <- r }}
				if viaApp {
					o.App, o.Data = "Set", "GLOBAL(RAN_"+tc.exten+")=app"
				} else {
					o.Exten, o.Context, o.Priority = "s", "dest", 1
				}
				e.SetGlobal("RAN_"+tc.exten, "")
				start := time.Now()
				if _, _, err := e.Originate(context.Background(), o); err != nil {
					t.Fatal(err)
				}
				var r DialResult
				select {
				case r = <-got:
				case <-time.After(5 * time.Second):
					t.Fatal("no dial result")
				}
				if r != tc.want {
					t.Fatalf("dial result %d (%s), want %d (%s)", r, r, tc.want, tc.want)
				}
				if tc.want == DialNoAnswer && time.Since(start) > 3*time.Second {
					t.Errorf("the timeout took %v", time.Since(start))
				}
				ran := func() string { v, _ := e.Global("RAN_" + tc.exten); return v }
				if tc.want == DialAnswered {
					deadline := time.Now().Add(5 * time.Second)
					for ran() == "" && time.Now().Before(deadline) {
						time.Sleep(5 * time.Millisecond)
					}
					want := map[bool]string{true: "app", false: "exten"}[viaApp]
					if ran() != want {
						t.Errorf("the ;1 half did not run after the answer: %q", ran())
					}
				} else {
					time.Sleep(50 * time.Millisecond)
					if ran() != "" {
						t.Errorf("the ;1 half ran without an answer: %q", ran())
					}
				}
				select {
				case r2 := <-got:
					t.Errorf("a second result %v", r2)
				default:
				}
			})
		}
	}
	// Every failed dial hung its ;2 half up: nothing is left waiting 10 s.
	done := make(chan struct{})
	go func() { e.bg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("a ;2 half still runs after its dial failed")
	}
	for _, x := range []string{"ring", "late"} {
		if v, _ := e.Global("HUNG_" + x); v != "" {
			t.Errorf("%s: the ;2 half went on after the timeout (%q)", x, v)
		}
	}
}

// Busy() and Congestion() end a call that nobody dials at once (no caller could hang up),
// or after their timeout; the channel is Busy with Asterisk's hangup cause.
func TestBusyAndCongestionApps(t *testing.T) {
	e, _ := newTestEngine(t, "[c]\nexten => b,1,Busy()\n same => n,Set(AFTER=1)\nexten => c,1,Congestion(0.05)\nexten => r,1,Ringing()\n")
	for _, tc := range []struct{ exten, state, cause string }{{"b", "Busy", "17"}, {"c", "Busy", "34"}, {"r", "Ringing", ""}} {
		start := time.Now()
		ch, err := runAt(t, e, "c", tc.exten)
		if err != nil {
			t.Fatal(err)
		}
		if ch.State() != tc.state {
			t.Errorf("%s: state %s", tc.exten, ch.State())
		}
		if v, _ := ch.Var("HANGUPCAUSE"); v != tc.cause {
			t.Errorf("%s: HANGUPCAUSE %q", tc.exten, v)
		}
		if v, _ := ch.Var("AFTER"); v != "" {
			t.Errorf("%s: the call went on after Busy()", tc.exten)
		}
		if time.Since(start) > 2*time.Second {
			t.Errorf("%s took %v", tc.exten, time.Since(start))
		}
	}
}
