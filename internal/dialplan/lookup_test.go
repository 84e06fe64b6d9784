package dialplan

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

const includesConf = `
[main]
exten => 100,1,NoOp(main)
include => day,09:00-17:00,mon-fri,*,*
include => night|17:01-08:59|*|*|*
include => loop
include => shared
exten => _1XX,1,NoOp(main-pattern)

[day]
exten => 200,1,NoOp(day)
exten => 300,1,NoOp(day)

[night]
exten => 200,1,NoOp(night)

[loop]
include => loop2
exten => 400,1,NoOp(loop)

[loop2]
include => loop
include => main
exten => 401,1,NoOp(loop2)

[shared]
exten => 500,1,NoOp(shared)
exten => 500,n(next),NoOp(shared 2)
`

func TestIncludes(t *testing.T) {
	e, _ := newTestEngine(t, includesConf)
	var now time.Time
	e.SetClock(func() time.Time { return now })
	at := func(s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04", s, time.Local)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	cases := []struct {
		when, exten, want string
	}{
		{"2026-11-25 10:00", "200", "day"},   // Wednesday, office hours
		{"2026-11-25 18:00", "200", "night"}, // Wednesday evening
		{"2026-11-28 10:00", "200", ""},      // Saturday morning: both closed
		{"2026-11-28 08:00", "200", "night"}, // Saturday early
		{"2026-11-28 10:00", "300", ""},      // only in day
		{"2026-11-25 09:00", "300", "day"},   // range start inclusive
		{"2026-11-25 17:00", "300", "day"},   // range end inclusive
		{"2026-11-25 17:01", "300", ""},
		{"2026-11-25 10:00", "100", "main"},         // own extension before includes
		{"2026-11-25 10:00", "150", "main-pattern"}, // own pattern before includes
		{"2026-11-25 10:00", "401", "loop2"},        // through loop -> loop2 (which includes loop and main again)
		{"2026-11-25 10:00", "500", "shared"},
		{"2026-11-25 10:00", "999", ""},
	}
	for _, c := range cases {
		now = at(c.when)
		f, ok := e.Find(context.Background(), "main", c.exten, 1, "")
		got := ""
		if ok {
			got = f.Priority.Data
		}
		if got != c.want {
			t.Errorf("%s %s: got %q, want %q", c.when, c.exten, got, c.want)
		}
	}
	if n, ok := e.FindPriority(context.Background(), "main", "500", "next", ""); !ok || n != 2 {
		t.Errorf("label through include: %d %v", n, ok)
	}
	if !e.CanMatch(context.Background(), "main", "40", 1, "") || !e.MatchMore(context.Background(), "main", "40", 1, "") {
		t.Error("CanMatch/MatchMore through includes")
	}
	if e.MatchMore(context.Background(), "main", "500", 1, "") {
		t.Error("500 is complete")
	}
}

func TestTiming(t *testing.T) {
	loc := time.UTC
	cases := []struct {
		spec string
		when string
		want bool
	}{
		{"*,*,*,*", "2026-01-01 00:00", true},
		{"09:00-17:00,mon-fri,*,*", "2026-11-27 12:00", true}, // Friday
		{"09:00-17:00,mon-fri,*,*", "2026-11-29 12:00", false},
		{"22:00-02:00,*,*,*", "2026-11-29 01:30", true}, // wraps midnight
		{"22:00-02:00,*,*,*", "2026-11-29 03:00", false},
		{"*,fri-mon,*,*", "2026-11-30 12:00", true}, // Monday: cyclic range
		{"*,fri-mon,*,*", "2026-12-01 12:00", false},
		{"*,*,1&15,*", "2026-12-15 12:00", true},
		{"*,*,1-7,dec", "2026-12-08 12:00", false},
		{"*,*,*,nov-jan", "2026-01-08 12:00", true},
		{"*|*|25|dec", "2026-12-25 12:00", true},
		{"*,*,*,*,America/New_York", "2026-12-25 12:00", true},
		{"12:00-12:59,*,*,*,America/New_York", "2026-12-25 17:30", true}, // 12:30 in New York
	}
	for _, c := range cases {
		tm, _, err := ParseTiming(c.spec)
		if err != nil {
			t.Errorf("%s: %v", c.spec, err)
			continue
		}
		when, _ := time.ParseInLocation("2006-01-02 15:04", c.when, loc)
		if tm.Location == time.Local {
			when, _ = time.ParseInLocation("2006-01-02 15:04", c.when, time.Local)
		}
		if got := tm.Check(when); got != c.want {
			t.Errorf("%s at %s: %v, want %v", c.spec, c.when, got, c.want)
		}
	}
	if _, _, err := ParseTiming("*,*,*,*,No/Such_Zone"); err == nil {
		t.Error("unknown zone accepted")
	}
}

func TestCallerIDMatch(t *testing.T) {
	e, _ := newTestEngine(t, `
[in]
exten => 100/_2XX,1,NoOp(internal)
exten => 100/5551212,1,NoOp(boss)
exten => 100,1,NoOp(anyone)
exten => 101/,1,NoOp(anonymous only)
exten => _1XX/_9X.,1,NoOp(pattern cid)
`)
	cases := []struct{ exten, cid, want string }{
		{"100", "201", "internal"},
		{"100", "555-1212", "boss"},
		{"100", "5551213", "anyone"},
		{"100", "", "anyone"},
		{"101", "", "anonymous only"},
		{"101", "991", "pattern cid"},
		{"101", "12", ""},
		{"150", "912", "pattern cid"},
	}
	for _, c := range cases {
		f, ok := e.Find(context.Background(), "in", c.exten, 1, c.cid)
		got := ""
		if ok {
			got = f.Priority.Data
		}
		if got != c.want {
			t.Errorf("%s from %q: got %q, want %q", c.exten, c.cid, got, c.want)
		}
	}
	out, _ := runCLI(t, e, "dialplan show in", nil)
	if !strings.Contains(out, "'100' (CID match '_2XX') =>  1. NoOp(internal)") {
		t.Errorf("CID match not shown:\n%s", out)
	}
}

// A pattern that matches but lacks the priority lets the next matching one answer, as
// Asterisk's walk through the sorted extensions does.
func TestPriorityFallsToNextMatch(t *testing.T) {
	e, _ := newTestEngine(t, `
[c]
exten => _12X,1,NoOp(specific)
exten => _1XX,1,NoOp(general 1)
exten => _1XX,2,NoOp(general 2)
`)
	f, ok := e.Find(context.Background(), "c", "123", 2, "")
	if !ok || f.Priority.Data != "general 2" {
		t.Fatalf("got %+v %v", f.Priority, ok)
	}
}

type testSwitch struct {
	mu    sync.Mutex
	calls []string
	exts  map[string]bool
}

func (s *testSwitch) record(op, ctxName, exten, data string) {
	s.mu.Lock()
	s.calls = append(s.calls, op+" "+exten+"@"+ctxName+" "+data)
	s.mu.Unlock()
}

func (s *testSwitch) Exists(_ context.Context, c, exten string, prio int, cid, data string) (bool, error) {
	s.record("exists", c, exten, data)
	return s.exts[exten] && prio <= 2, nil
}
func (s *testSwitch) CanMatch(_ context.Context, c, exten string, prio int, cid, data string) (bool, error) {
	s.record("canmatch", c, exten, data)
	for k := range s.exts {
		if strings.HasPrefix(k, exten) {
			return true, nil
		}
	}
	return false, nil
}
func (s *testSwitch) MatchMore(_ context.Context, c, exten string, prio int, cid, data string) (bool, error) {
	s.record("matchmore", c, exten, data)
	return false, nil
}
func (s *testSwitch) Exec(_ context.Context, ch *Channel, c, exten string, prio int, cid, data string) error {
	s.record("exec", c, exten, data)
	ch.SetVar("SWITCHED"+ch.strPriority(), data)
	return nil
}

func (ch *Channel) strPriority() string { v, _ := ch.lookupVar("PRIORITY"); return v }

func TestSwitch(t *testing.T) {
	sw := &testSwitch{exts: map[string]bool{"777": true, "100": true}}
	e, _ := newTestEngine(t, `
[c]
exten => 100,1,NoOp(static wins)
switch => TestSwitch/rtctx@extensions
include => inc

[inc]
exten => 777,1,NoOp(include loses to the switch)
exten => 888,1,NoOp(include)
`)
	e.RegisterSwitch("Testswitch", sw)
	ctx := context.Background()
	f, ok := e.Find(ctx, "c", "100", 1, "")
	if !ok || f.Priority == nil || f.Priority.Data != "static wins" {
		t.Errorf("100: %+v", f)
	}
	f, ok = e.Find(ctx, "c", "777", 1, "")
	if !ok || f.Switch == nil || f.SwitchData != "rtctx@extensions" || f.Context != "c" {
		t.Errorf("777 should come from the switch: %+v", f)
	}
	f, ok = e.Find(ctx, "c", "888", 1, "")
	if !ok || f.Priority == nil {
		t.Errorf("888: %+v", f)
	}
	if !e.CanMatch(ctx, "c", "77", 1, "") {
		t.Error("canmatch through switch")
	}
	ch, err := runAt(t, e, "c", "777")
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := ch.Var("SWITCHED1"); v != "rtctx@extensions" {
		t.Errorf("exec: %v", ch.Vars())
	}
	if v, _ := ch.Var("SWITCHED2"); v != "rtctx@extensions" {
		t.Errorf("exec 2: %v", ch.Vars())
	}
	out, _ := runCLI(t, e, "dialplan show c", nil)
	if !strings.Contains(out, "  Alt. Switch =>    'TestSwitch/rtctx@extensions'") {
		t.Errorf("switch not shown:\n%s", out)
	}
}

func TestHints(t *testing.T) {
	e, _ := newTestEngine(t, `
[devstate_test]
exten => 1234,hint,Custom:mystate
exten => 1235,hint,SIP/alice&Custom:x,CustomPresence:alice
exten => _9XX,hint,SIP/${EXTEN}
include => more
[more]
exten => 2000,hint,SIP/bob
`)
	hs := e.Hints()
	if len(hs) != 3 || hs[0].Exten != "1234" || hs[0].Devices != "Custom:mystate" || hs[1].Devices != "SIP/alice&Custom:x" || hs[1].Presence != "CustomPresence:alice" || hs[0].Line != 3 {
		t.Fatalf("hints: %+v", hs)
	}
	if h, ok := e.Hint("2000", "devstate_test"); !ok || h.Devices != "SIP/bob" || h.Context != "more" {
		t.Errorf("hint through include: %+v %v", h, ok)
	}
	if h, ok := e.Hint("901", "devstate_test"); !ok || h.Devices != "SIP/${EXTEN}" {
		t.Errorf("pattern hint: %+v %v", h, ok)
	}
	if _, ok := e.Hint("1236", "devstate_test"); ok {
		t.Error("no such hint")
	}
	if e.Exists(context.Background(), "devstate_test", "1234", 1, "") {
		t.Error("a hint is not priority 1")
	}
}

func TestReloadSwapsAtomically(t *testing.T) {
	e, _ := newTestEngine(t, "[a]\nexten => 1,1,NoOp()\n")
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				e.Exists(context.Background(), "a", "1", 1, "")
				d := e.Dialplan()
				if (d.Context("a") == nil) == (d.Context("b") == nil) {
					t.Error("saw a mix of two dialplans")
					return
				}
			}
		}()
	}
	for i := range 200 {
		text := "[a]\nexten => 1,1,NoOp()\n"
		if i%2 == 0 {
			text = "[b]\nexten => 1,1,NoOp()\n"
		}
		cfg := mustParse(t, text)
		if err := e.Load(cfg); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}
