package dialplan

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/astdb"
)

func varOf(ch *Channel, name string) string { v, _ := ch.Var(name); return v }

func TestSetAndSubstitution(t *testing.T) {
	e, sink := newTestEngine(t, `
[globals]
G1=one
G2=${G1}-two

[t]
exten => s,1,Set(A=hello)
 same => n,Set(B=${A} world)
 same => n,Set(__INH=x)
 same => n,Set(GLOBAL(NEWG)=g)
 same => n,Set(C=${NEWG}${G2})
 same => n,MSet(M1=1,M2="two, quoted")
 same => n,Set(CALLERID(num)=5551212)
 same => n,Set(CALLERID(name)=Alice)
 same => n,Set(ALL=${CALLERID(all)})
 same => n,Set(CALLERID(all)="Bob" <200>)
 same => n,Set(BOBNUM=${CALLERID(num)})
 same => n,Set(LOC=${EXTEN}@${CONTEXT}:${PRIORITY}/${CHANNEL})
 same => n,Set(SUB=${A:1:3})
 same => n,Set(EXPR=$[${LEN(${A})} * 2])
 same => n,Set(case=lower)
 same => n,Set(R=${SET(S2=setfn)})
 same => n,Set(EMPTY=)
 same => n,Set(UID=${UNIQUEID})
`)
	ch, err := runAt(t, e, "t", "s")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"A": "hello", "B": "hello world", "INH": "x", "C": "gone-two", "M1": "1", "M2": "two, quoted",
		"ALL": `"Alice" <5551212>`, "BOBNUM": "200", "LOC": "s@t:12/Test/1", "SUB": "ell", "EXPR": "10",
		"case": "lower", "R": "setfn", "S2": "setfn", "EMPTY": "",
	}
	for k, v := range want {
		if got := varOf(ch, k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if varOf(ch, "CASE") != "" {
		t.Error("variable names are case-sensitive")
	}
	if varOf(ch, "UID") == "" || varOf(ch, "UID") != ch.UniqueID {
		t.Error("UNIQUEID")
	}
	if g, _ := e.Global("NEWG"); g != "g" {
		t.Error("GLOBAL() write")
	}
	if !sink.has(`Executing [s@t:2] Set("Test/1", "B=hello world") in new stack`) {
		t.Errorf("executing line missing:\n%s", sink.text())
	}
}

func TestGotoFamily(t *testing.T) {
	e, sink := newTestEngine(t, `
[t]
exten => s,1,Goto(target)
 same => n,Set(SKIPPED=1)
 same => n(target),Set(AT_LABEL=1)
 same => n,Goto(other,1)
exten => other,1,Set(IN_OTHER=1)
 same => n,Goto(t2,x,lab)
[t2]
exten => x,1,Set(NOPE=1)
 same => n(lab),GotoIf($[1 = 1]?yes:no)
 same => n(no),Set(NO=1)
 same => n(yes),GotoIf(0?no)
 same => n,GotoIf(0?:t,rel,1)
[t]
exten => rel,1,Goto(+2)
 same => n,Set(SKIPPED2=1)
 same => n,GotoIfTime(*,*,*,*?time,1)
exten => time,1,GotoIfTime(00:00-00:01,*,*,jan?never:t3,s,1)
[t3]
exten => s,1,Set(DONE=1)
`)
	e.SetClock(func() time.Time { return time.Date(2026, 6, 1, 12, 0, 0, 0, time.Local) })
	ch, err := runAt(t, e, "t", "s")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"AT_LABEL", "IN_OTHER", "DONE"} {
		if varOf(ch, v) != "1" {
			t.Errorf("%s not set; vars %v\n%s", v, ch.Vars(), sink.text())
		}
	}
	for _, v := range []string{"SKIPPED", "SKIPPED2", "NOPE", "NO"} {
		if varOf(ch, v) != "" {
			t.Errorf("%s set", v)
		}
	}
	for _, line := range []string{"    -- Goto (t,s,3)", "    -- Goto (t2,x,2)", "    -- Goto (t,rel,3)"} {
		if !sink.has(line) {
			t.Errorf("missing %q:\n%s", line, sink.text())
		}
	}
}

func TestGosub(t *testing.T) {
	e, sink := newTestEngine(t, `
[t]
exten => s,1,Set(X=outer)
 same => n,Set(ARG1=caller-arg)
 same => n,Gosub(sub,s,1(a1,"b, 2",a3))
 same => n,Set(R1=${GOSUB_RETVAL})
 same => n,Set(AFTER_X=${X})
 same => n,Set(AFTER_ARG1=${ARG1})
 same => n,Set(AFTER_ARG2=${ARG2})
 same => n,GosubIf($[1]?sub,s,1(again):sub,s,1(never))
 same => n,Set(R2=${GOSUB_RETVAL})
 same => n,Gosub(nested,1)
 same => n,Set(R3=${GOSUB_RETVAL})
 same => n,GosubIf(0?sub,s,1)
 same => n,Set(END=1)

exten => nested,1,Set(LOCAL(X)=nested)
 same => n,Gosub(sub,s,1(deep))
 same => n,Set(NESTED_SAW=${X}/${ARG1}/${GOSUB_RETVAL})
 same => n,Return(nested-ret)

[sub]
exten => s,1,Set(LOCAL(X)=inner)
 same => n,Set(SEEN=${ARG1}|${ARG2}|${ARG3}|${ARGC}|${X})
 same => n,Set(SEEN_${ARG1}=${ARG1})
 same => n,Return(ret-${ARG1})
`)
	ch, err := runAt(t, e, "t", "s")
	if err != nil {
		t.Fatalf("%v\n%s", err, sink.text())
	}
	want := map[string]string{
		"R1": "ret-a1", "AFTER_X": "outer", "AFTER_ARG1": "caller-arg", "AFTER_ARG2": "",
		"R2": "ret-again", "R3": "nested-ret", "NESTED_SAW": "nested/caller-arg/ret-deep",
		"SEEN_a1": "a1", "SEEN_again": "again", "SEEN_deep": "deep", "END": "1",
		"SEEN": "deep|||1|inner",
	}
	for k, v := range want {
		if got := varOf(ch, k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if varOf(ch, "SEEN_never") != "" {
		t.Error("GosubIf took the false branch")
	}
}

func TestGosubErrors(t *testing.T) {
	e, sink := newTestEngine(t, `
[t]
exten => s,1,Gosub(nowhere,s,1)
 same => n,Set(NOT=1)
exten => r,1,Return()
 same => n,Set(NOT=1)
exten => l,1,Set(LOCAL(x)=1)
 same => n,Set(AFTER=1)
`)
	ch, err := runAt(t, e, "t", "s")
	if err == nil || varOf(ch, "NOT") != "" || !sink.has("Gosub attempted to reach non-existent destination 'nowhere,s,1' from 't,s,1'") {
		t.Errorf("gosub to nowhere: %v\n%s", err, sink.text())
	}
	ch, err = runAt(t, e, "t", "r")
	if err == nil || varOf(ch, "NOT") != "" || !sink.has("Return without Gosub") {
		t.Errorf("return without gosub: %v", err)
	}
	ch, _ = runAt(t, e, "t", "l")
	if varOf(ch, "AFTER") != "1" || varOf(ch, "x") != "" || !sink.has("tried to set LOCAL(x), but we aren't within a Gosub routine") {
		t.Errorf("LOCAL outside gosub: %v\n%s", ch.Vars(), sink.text())
	}
}

func TestWhile(t *testing.T) {
	e, sink := newTestEngine(t, `
[t]
exten => s,1,Set(I=0)
 same => n,While($[${I} < 5])
 same => n,Set(I=$[${I} + 1])
 same => n,Set(J=0)
 same => n,While($[${J} < 3])
 same => n,Set(J=$[${J} + 1])
 same => n,Set(TOTAL=$[${TOTAL} + 1])
 same => n,EndWhile()
 same => n,ExecIf($[${I} = 2]?ContinueWhile())
 same => n,Set(ODD_${I}=1)
 same => n,ExecIf($[${I} = 4]?ExitWhile())
 same => n,EndWhile()
 same => n,Set(DONE=${I})
 same => n,While(0)
 same => n,Set(NEVER=1)
 same => n,EndWhile()
 same => n,Set(END=1)
`)
	ch, err := runAt(t, e, "t", "s")
	if err != nil {
		t.Fatalf("%v\n%s", err, sink.text())
	}
	want := map[string]string{"DONE": "4", "TOTAL": "12", "ODD_1": "1", "ODD_2": "", "ODD_3": "1", "ODD_4": "1", "NEVER": "", "END": "1"}
	for k, v := range want {
		if got := varOf(ch, k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

func TestExecIfAndMisc(t *testing.T) {
	e, sink := newTestEngine(t, `
[t]
exten => s,1,ExecIf($[1]?Set(A=yes):Set(A=no))
 same => n,ExecIf(0?Set(B=yes):Set(B=no(really)))
 same => n,ExecIf(0?Set(C=1))
 same => n,Verbose(2,verbose two)
 same => n,Verbose(just text, with comma)
 same => n,Log(NOTICE,a notice)
 same => n,Log(WARNING,a warning)
 same => n,NoOp(nothing)
 same => n,Answer()
 same => n,Wait(0.01)
 same => n,Hangup()
 same => n,Set(AFTER_HANGUP=1)
`)
	ch, err := runAt(t, e, "t", "s")
	if err != nil {
		t.Fatal(err)
	}
	if varOf(ch, "A") != "yes" || varOf(ch, "B") != "no(really)" || varOf(ch, "C") != "" || varOf(ch, "AFTER_HANGUP") != "" {
		t.Errorf("vars %v", ch.Vars())
	}
	if ch.State() != "Up" {
		t.Error("Answer")
	}
	for _, s := range []string{"verbose two", "just text, with comma", "NOTICE: a notice", "WARNING: a warning"} {
		if !sink.has(s) {
			t.Errorf("missing %q\n%s", s, sink.text())
		}
	}
	if sink.has("Auto fallthrough") {
		t.Error("Hangup() must not fall through")
	}
}

func TestWaitHonoursCancel(t *testing.T) {
	e, _ := newTestEngine(t, "[t]\nexten => s,1,Wait(30)\n same => n,Set(NO=1)\n")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	ch := NewChannel("Test/1", "t", "s", 1)
	start := time.Now()
	if err := e.Run(ctx, ch); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 5*time.Second || varOf(ch, "NO") != "" {
		t.Error("Wait ignored cancellation")
	}
}

func TestFunctions(t *testing.T) {
	e, sink := newTestEngine(t, `
[globals]
GV=global
[t]
exten => s,1,NoOp()
`)
	e.SetClock(func() time.Time { return time.Date(2026, 11, 25, 14, 30, 5, 0, time.UTC) })
	ch := NewChannel("Test/1", "t", "s", 1)
	ch.engine = e
	ch.SetVar("LIST", "a-b-c-d-e")
	ch.SetVar("CSV", "x,y,z")
	ch.SetVar("EMPTY", "")
	ch.SetCallerID("5551212", "Alice")
	cases := []struct{ in, want string }{
		{"${LEN(hello)}", "5"},
		{"${LEN()}", "0"},
		{"${IF($[1 = 1]?yes:no)}", "yes"},
		{"${IF(0?yes:no)}", "no"},
		{"${IF(?yes:no)}", "no"},
		{"${IFTIME(14:00-15:00,wed,*,nov?in:out)}", "in"},
		{"${IFTIME(14:00-15:00,thu,*,*?in:out)}", "out"},
		{"${ISNULL(${EMPTY})}", "1"},
		{"${ISNULL(x)}", "0"},
		{"${EXISTS(x)}", "1"},
		{"${EXISTS()}", "0"},
		{"${CUT(LIST,-,2)}", "b"},
		{"${CUT(LIST,-,2-3)}", "b-c"},
		{"${CUT(LIST,-,4-)}", "d-e"},
		{"${CUT(LIST,-,-2)}", "a-b"},
		{"${CUT(LIST,-,1&5)}", "a-e"},
		{"${CUT(CSV,\\,,2)}", "y"},
		{"${FIELDQTY(LIST,-)}", "5"},
		{"${FIELDQTY(EMPTY,-)}", "0"},
		{"${FILTER(0-9,+1 (555) 121-2)}", "15551212"},
		{"${FILTER(a-c1,abcdef123)}", "abc1"},
		{`${REGEX("^[0-9]+$" 12345)}`, "1"},
		{`${REGEX("^[0-9]+$" 12a45)}`, "0"},
		{"${TOUPPER(abc)}", "ABC"},
		{"${TOLOWER(ABC)}", "abc"},
		{"${GLOBAL(GV)}", "global"},
		{"${GV}", "global"},
		{"${CALLERID(num)}", "5551212"},
		{"${CALLERID(name)}", "Alice"},
		{"${CALLERID(all)}", `"Alice" <5551212>`},
		{"${STRFTIME(0,UTC,%Y-%m-%d %H:%M:%S)}", "1970-01-01 00:00:00"},
		{"${STRFTIME(,UTC,%d/%m %a %b %j)}", "25/11 Wed Nov 329"},
		{"${STRFTIME(1764081005,America/New_York,%H:%M %Z)}", "09:30 EST"},
		{"${EPOCH}", strconv.FormatInt(time.Date(2026, 11, 25, 14, 30, 5, 0, time.UTC).Unix(), 10)},
		{"${EPOCH()}", strconv.FormatInt(time.Date(2026, 11, 25, 14, 30, 5, 0, time.UTC).Unix(), 10)},
		{"${RAND(7,7)}", "7"},
		{"${SET(NEWVAR=v)}/${NEWVAR}", "v/v"},
	}
	for _, c := range cases {
		got, err := ch.Substitute(context.Background(), c.in)
		if err != nil || got != c.want {
			t.Errorf("%s = %q (%v), want %q", c.in, got, err, c.want)
		}
	}
	for range 50 {
		got, _ := ch.Substitute(context.Background(), "${RAND(1,3)}")
		if n, err := strconv.Atoi(got); err != nil || n < 1 || n > 3 {
			t.Fatalf("RAND(1,3) = %q", got)
		}
	}
	if _, err := ch.Substitute(context.Background(), "${NOSUCHFUNC(x)}"); err == nil {
		t.Error("unknown function should report")
	}
	_ = sink
}

func TestDBFunctions(t *testing.T) {
	db, err := astdb.Open(filepath.Join(t.TempDir(), "astdb.sqlite3"))
	if err != nil {
		t.Fatalf("astdb: %v", err)
	}
	defer db.Close()
	sink := &logSink{}
	e := New(slog.New(sink), db)
	defer e.Close()
	if err := e.Load(mustParse(t, `
[t]
exten => s,1,Set(DB(fam/key)=value 1)
 same => n,Set(READ=${DB(fam/key)})
 same => n,Set(EX=${DB_EXISTS(fam/key)}:${DB_RESULT})
 same => n,Set(MISSING=${DB(fam/nokey)})
 same => n,Set(NOEX=${DB_EXISTS(fam/nokey)})
 same => n,Set(DEL=${DB_DELETE(fam/key)})
 same => n,Set(GONE=${DB_EXISTS(fam/key)})
`)); err != nil {
		t.Fatal(err)
	}
	ch, err := runAt(t, e, "t", "s")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"READ": "value 1", "EX": "1:value 1", "MISSING": "", "NOEX": "0", "DEL": "value 1", "GONE": "0"}
	for k, v := range want {
		if got := varOf(ch, k); got != v {
			t.Errorf("%s = %q, want %q\n%s", k, got, v, sink.text())
		}
	}
	if _, err := db.Get("fam", "key"); !errors.Is(err, astdb.ErrNotFound) {
		t.Error("DB_DELETE did not delete")
	}
}

func TestLoopBound(t *testing.T) {
	e, sink := newTestEngine(t, `
[t]
exten => s,1,NoOp(spin)
 same => n,Goto(s,1)
exten => w,1,Wait(0.001)
 same => n,Set(N=$[${N} + 1])
 same => n,GotoIf($[${N} < 300]?1)
`)
	e.MaxSteps = 1000
	start := time.Now()
	_, err := runAt(t, e, "t", "s")
	if !errors.Is(err, ErrLoopBound) || !sink.has("executed 1000 priorities without waiting") {
		t.Fatalf("err %v\n", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Error("too slow")
	}
	// A loop through Wait() is not a runaway: 900 priorities, bound 1000 per wait.
	e.MaxSteps = 10
	ch, err := runAt(t, e, "t", "w")
	if err != nil || varOf(ch, "N") != "300" {
		t.Errorf("waiting loop: %v %v", err, ch.Vars())
	}
}

func TestUnknownApp(t *testing.T) {
	e, sink := newTestEngine(t, `
[t]
exten => s,1,Set(A=1)
 same => n,NoSuchApp(x)
 same => n,Set(B=1)
`)
	if !sink.has("WARNING: extensions.conf:4: Unknown application 'NoSuchApp'") {
		t.Errorf("no load warning:\n%s", sink.text())
	}
	ch, err := runAt(t, e, "t", "s")
	if !errors.Is(err, ErrNoApp) || varOf(ch, "A") != "1" || varOf(ch, "B") != "" {
		t.Errorf("err %v vars %v", err, ch.Vars())
	}
	if !sink.has("No application 'NoSuchApp' for extension (t, s, 2)") {
		t.Errorf("no run error:\n%s", sink.text())
	}
}

func TestFallthroughAndInvalid(t *testing.T) {
	e, sink := newTestEngine(t, `
[t]
exten => s,1,Set(DIALSTATUS=BUSY)
[withi]
exten => i,1,Set(INV=${INVALID_EXTEN})
[plain]
exten => s,1,NoOp()
`)
	runAt(t, e, "t", "s")
	if !sink.has("    -- Auto fallthrough, channel 'Test/1' status is 'BUSY'") {
		t.Errorf("fallthrough:\n%s", sink.text())
	}
	ch, _ := runAt(t, e, "withi", "123")
	if varOf(ch, "INV") != "123" {
		t.Errorf("i extension: %v", ch.Vars())
	}
	runAt(t, e, "plain", "999")
	if !sink.has("sent to invalid extension but no invalid handler") {
		t.Errorf("invalid:\n%s", sink.text())
	}
}

func TestDuplicatePriorityWarning(t *testing.T) {
	_, sink := newTestEngine(t, `
[t]
exten => s,1,NoOp(a)
exten => s,1,NoOp(b)
same => n(l),NoOp(c)
same => n(l),NoOp(d)
include => t2,99:99-10:00,*,*,*
bogus => x
same => n,NoOp()
`)
	for _, w := range []string{
		"extensions.conf:4: Unable to register extension 's' priority 1 in 't', already in use",
		"extensions.conf:6: Extension 's' priority 3 in 't', label 'l' already in use at priority 2",
		"extensions.conf:7: '99:99' isn't a valid start time",
		"extensions.conf:8: ==!!== Unknown directive: bogus -- IGNORING!!!",
	} {
		if !sink.has(w) {
			t.Errorf("missing %q:\n%s", w, sink.text())
		}
	}
}
