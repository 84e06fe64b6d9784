package queue

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/astdb"
	"github.com/pleiades-pbx/pleiades/internal/cli"
	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/dialplan"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
	"github.com/pleiades-pbx/pleiades/internal/realtime/sqlite"
	"github.com/pleiades-pbx/pleiades/internal/state"
)

// fakeDevices is a device state table.
type fakeDevices struct {
	mu sync.Mutex
	m  map[string]state.Device
}

func (f *fakeDevices) State(d string) state.Device {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.m[d]; ok {
		return s
	}
	return state.Unknown
}

type testEnv struct {
	t    *testing.T
	e    *Engine
	dp   *dialplan.Engine
	dir  string
	devs *fakeDevices
	evs  []Event
	evMu sync.Mutex
	sh   []Share
}

func newTestEnv(t *testing.T, queuesConf string, d Deps) *testEnv {
	t.Helper()
	te := &testEnv{t: t, dir: t.TempDir(), devs: &fakeDevices{m: map[string]state.Device{}}}
	if d.Devices == nil {
		d.Devices = te.devs
	}
	d.LogDir = te.dir
	d.AMI = func(ev Event) { te.evMu.Lock(); te.evs = append(te.evs, ev); te.evMu.Unlock() }
	d.Share = func(s Share) { te.evMu.Lock(); te.sh = append(te.sh, s); te.evMu.Unlock() }
	te.e = New(d)
	t.Cleanup(func() { te.e.Close() })
	cfg, err := conf.Parse("queues.conf", []byte(queuesConf), conf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	te.e.Apply(c)
	te.dp = dialplan.New(nil, nil)
	te.e.Register(te.dp)
	t.Cleanup(func() { te.dp.Close() })
	return te
}

// run runs app(data) on a console channel and returns it.
func (te *testEnv) run(app, data string) *dialplan.Channel {
	te.t.Helper()
	cfg, err := conf.Parse("extensions.conf", []byte("[t]\nexten => s,1,"+app+"("+data+")\n"), conf.Options{})
	if err != nil {
		te.t.Fatal(err)
	}
	if err := te.dp.Load(cfg); err != nil {
		te.t.Fatal(err)
	}
	ch := te.dp.NewChannel("Console/dsp", "t", "s", 1)
	ch.UniqueID = "1700000000.1"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	te.dp.Run(ctx, ch)
	return ch
}

func (te *testEnv) read(fn string) string {
	te.t.Helper()
	ch := te.dp.NewChannel("Console/dsp", "t", "s", 1)
	f := te.dp.LookupFunction(strings.SplitN(fn, "(", 2)[0])
	if f == nil {
		te.t.Fatalf("no function %s", fn)
	}
	args := strings.TrimSuffix(strings.SplitN(fn, "(", 2)[1], ")")
	v, err := f.Read(context.Background(), ch, args)
	if err != nil {
		return "error: " + err.Error()
	}
	return v
}

func (te *testEnv) log() []string {
	te.t.Helper()
	b, err := os.ReadFile(filepath.Join(te.dir, "queue_log"))
	if err != nil {
		te.t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		_, rest, _ := strings.Cut(l, "|")
		out = append(out, rest)
	}
	return out
}

func (te *testEnv) cli(line string) (string, error) {
	reg := cli.NewRegistry()
	reg.MustRegister(te.e.Commands(nil)...)
	var b bytes.Buffer
	err := reg.Run(context.Background(), line, &b, nil)
	return b.String(), err
}

func varOf(ch *dialplan.Channel, name string) string { v, _ := ch.Var(name); return v }

func TestQueueJoinRefusals(t *testing.T) {
	te := newTestEnv(t, `
[empty]
joinempty = strict
[full]
maxlen = 1
member => SIP/a
[gone]
joinempty = unavailable,invalid
member => SIP/x
[open]
setqueuevar = yes
`, Deps{})
	te.devs.m["SIP/x"] = state.Unavailable
	for _, tc := range []struct{ data, want string }{
		{"nosuch", "UNKNOWN"},
		{"empty", "JOINEMPTY"},
		{"gone", "JOINUNAVAIL"},
		{"open,,,,1", "TIMEOUT"},
	} {
		ch := te.run("Queue", tc.data)
		if got := varOf(ch, "QUEUESTATUS"); got != tc.want {
			t.Errorf("Queue(%s): QUEUESTATUS %q, want %q", tc.data, got, tc.want)
		}
		if got := varOf(ch, "QUEUENAME"); (tc.data == "open,,,,1") != (got == "open") {
			t.Errorf("Queue(%s): setqueuevar QUEUENAME=%q", tc.data, got)
		}
	}
	// maxlen: one caller waits, the next is refused FULL.
	done := make(chan struct{})
	go func() { te.run("Queue", "full,,,,2"); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for te.read("QUEUE_WAITING_COUNT(full)") != "1" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := varOf(te.run("Queue", "full"), "QUEUESTATUS"); got != "FULL" {
		t.Errorf("maxlen reached: %q", got)
	}
	<-done
	log := te.log()
	if !contains(log, "1700000000.1|open|NONE|ENTERQUEUE|||1") || !containsPrefix(log, "1700000000.1|open|NONE|EXITWITHTIMEOUT|1|1|") {
		t.Errorf("queue_log:\n%s", strings.Join(log, "\n"))
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func containsPrefix(s []string, p string) bool {
	for _, x := range s {
		if strings.HasPrefix(x, p) {
			return true
		}
	}
	return false
}

func TestMemberAppsAndFunctions(t *testing.T) {
	te := newTestEnv(t, `
[q]
wrapuptime = 60
member => SIP/a,1,Alice
member => SIP/b,0,,Custom:b,no
`, Deps{})
	te.devs.m["SIP/a"] = state.NotInUse
	te.devs.m["Custom:b"] = state.InUse
	for _, tc := range []struct{ app, data, v, want string }{
		{"AddQueueMember", "q,SIP/c,2,,Carol,Custom:c", "AQMSTATUS", "ADDED"},
		{"AddQueueMember", "q,SIP/c", "AQMSTATUS", "MEMBERALREADY"},
		{"AddQueueMember", "nosuch,SIP/c", "AQMSTATUS", "NOSUCHQUEUE"},
		{"PauseQueueMember", "q,SIP/c,,break", "PQMSTATUS", "PAUSED"},
		{"PauseQueueMember", ",SIP/zz", "PQMSTATUS", "NOTFOUND"},
		{"UnpauseQueueMember", ",SIP/c", "UPQMSTATUS", "UNPAUSED"},
		{"RemoveQueueMember", "q,SIP/a", "RQMSTATUS", "NOTDYNAMIC"},
		{"RemoveQueueMember", "q,SIP/zz", "RQMSTATUS", "NOTINQUEUE"},
		{"RemoveQueueMember", "nosuch,SIP/c", "RQMSTATUS", "NOSUCHQUEUE"},
	} {
		if got := varOf(te.run(tc.app, tc.data), tc.v); got != tc.want {
			t.Errorf("%s(%s): %s=%q, want %q", tc.app, tc.data, tc.v, got, tc.want)
		}
	}
	// a NOT_INUSE, b INUSE, c UNKNOWN (not paused any more).
	for fn, want := range map[string]string{
		"QUEUE_MEMBER(q,count)":              "3",
		"QUEUE_MEMBER(q,logged)":             "3",
		"QUEUE_MEMBER(q,free)":               "2",
		"QUEUE_MEMBER(q,ready)":              "2",
		"QUEUE_MEMBER(q,penalty,SIP/a)":      "1",
		"QUEUE_MEMBER(q,paused,SIP/c)":       "0",
		"QUEUE_MEMBER(q,ringinuse,SIP/b)":    "0",
		"QUEUE_MEMBER(q,ringinuse,SIP/a)":    "1",
		"QUEUE_MEMBER_COUNT(q)":              "3",
		"QUEUE_WAITING_COUNT(q)":             "0",
		"QUEUE_MEMBER(q,bogus)":              `error: QUEUE_MEMBER: invalid option "bogus"`,
		"QUEUE_MEMBER(nosuch,count)":         "error: QUEUE_MEMBER: queue nosuch not found",
		"QUEUE_MEMBER(q,penalty,SIP/nobody)": `error: QUEUE_MEMBER: invalid interface "SIP/nobody" for queue q`,
	} {
		if got := te.read(fn); got != want {
			t.Errorf("%s = %q, want %q", fn, got, want)
		}
	}
	ch := te.run("Set", "R=${QUEUE_VARIABLES(q)}")
	for k, want := range map[string]string{"R": "0", "QUEUENAME": "q", "QUEUESTRATEGY": "ringall", "QUEUECALLS": "0", "QUEUEMAX": "0", "QUEUESRVLEVELPERF": "0.0"} {
		if got := varOf(ch, k); got != want {
			t.Errorf("QUEUE_VARIABLES: %s=%q, want %q", k, got, want)
		}
	}
	te.devs.m["SIP/a"] = state.Unavailable
	te.e.DeviceChanged("SIP/a", state.Unavailable)
	if got := te.read("QUEUE_MEMBER(q,logged)"); got != "2" {
		t.Errorf("logged after SIP/a went unavailable: %s", got)
	}
	te.run("QueueLog", "q,1700000000.9,SIP/a,CUSTOM,x|y")
	te.run("RemoveQueueMember", "q,SIP/c")
	want := []string{
		"NONE|NONE|NONE|QUEUESTART|",
		"1700000000.1|q|SIP/c|ADDMEMBER|",
		"NONE|q|Carol|PAUSE|break",
		"NONE|NONE|Carol|UNPAUSEALL|",
		"NONE|q|Carol|UNPAUSE|",
		"1700000000.9|q|SIP/a|CUSTOM|x|y",
		"1700000000.1|q|SIP/c|REMOVEMEMBER|",
	}
	if got := te.log(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("queue_log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var names []string
	for _, ev := range te.evs {
		names = append(names, ev.Name)
	}
	if got := strings.Join(names, " "); got != "QueueMemberAdded QueueMemberPause QueueMemberPause QueueMemberStatus QueueMemberRemoved" {
		t.Errorf("AMI events: %s", got)
	}
	var ops []string
	for _, s := range te.sh {
		ops = append(ops, s.Op)
	}
	if got := strings.Join(ops, " "); got != "add pause unpause remove" {
		t.Errorf("shares: %s", got)
	}
}

func TestShareRoundTripAndApply(t *testing.T) {
	s := Share{Op: "call", Queue: "q", Interface: "SIP/a", Penalty: 3, Name: "A", StateInterface: "Custom:a", Reason: "r",
		LastCall: time.Unix(1700000000, 5), Calls: 7}
	got, ok := ParseShare("q", s.Fields())
	if !ok || got != s {
		t.Fatalf("round trip: %+v %v", got, ok)
	}
	for _, bad := range [][]string{nil, {"add"}, {"add", "", "0", "", "", "", "", "0"}, {"add", "SIP/a", "x", "", "", "", "", "0"}} {
		if _, ok := ParseShare("q", bad); ok {
			t.Errorf("accepted %q", bad)
		}
	}
	te := newTestEnv(t, "[general]\nshared_lastcall = yes\n[q]\nstrategy = leastrecent\nmember => SIP/a\nmember => SIP/b\n[r]\nmember => SIP/a\n", Deps{})
	te.e.ApplyShare(Share{Op: "add", Queue: "Q", Interface: "SIP/c", Penalty: 1})
	te.e.ApplyShare(Share{Op: "pause", Queue: "q", Interface: "SIP/b", Reason: "lunch"})
	te.e.ApplyShare(Share{Op: "call", Queue: "q", Interface: "SIP/a", LastCall: time.Now(), Calls: 4})
	te.e.ApplyShare(Share{Op: "add", Queue: "other", Interface: "SIP/c"}) // no such queue here: ignored
	out, _ := te.cli("queue show q")
	for _, want := range []string{"SIP/c with penalty 1 (ringinuse enabled) (dynamic)", "SIP/b (ringinuse enabled) (paused:lunch", "SIP/a (ringinuse enabled) (Unknown) has taken 4 calls"} {
		if !strings.Contains(out, want) {
			t.Errorf("queue show q lacks %q:\n%s", want, out)
		}
	}
	if len(te.sh) != 0 {
		t.Errorf("applied shares were sent on: %+v", te.sh)
	}
	// A repeated pause changes nothing and says nothing.
	n := len(te.evs)
	te.e.ApplyShare(Share{Op: "pause", Queue: "q", Interface: "SIP/b", Reason: "lunch"})
	if len(te.evs) != n {
		t.Errorf("a repeated pause made an event: %+v", te.evs[n:])
	}
	// A sync request is answered with this server's state.
	te.e.ApplyShare(SyncRequest())
	var ops []string
	for _, s := range te.sh {
		ops = append(ops, s.Op+" "+s.Interface)
	}
	slices.Sort(ops)
	if strings.Join(ops, ",") != "add SIP/c,call SIP/a,pause SIP/b" {
		t.Errorf("resync: %v", ops)
	}
	// shared_lastcall: queue r sees SIP/a's last call made through q.
	te.e.mu.Lock()
	r := te.e.queues["r"]
	c := te.e.candidate(r, r.members[0], time.Now(), nil)
	te.e.mu.Unlock()
	if c.LastCall == 0 || c.Calls != 4 {
		t.Errorf("shared_lastcall: %+v", c)
	}
}

func TestPersistentMembers(t *testing.T) {
	db, err := astdb.Open(filepath.Join(t.TempDir(), "astdb.sqlite3"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const text = "[general]\npersistentmembers = yes\n[q]\nmember => SIP/a\n[r]\n"
	te := newTestEnv(t, text, Deps{DB: db})
	ctx := context.Background()
	if err := te.e.AddMember(ctx, "q", MemberConfig{Interface: "SIP/d", Penalty: 2, Name: "Dee"}, "NONE"); err != nil {
		t.Fatal(err)
	}
	if err := te.e.Pause(ctx, "q", "SIP/d", true, "away"); err != nil {
		t.Fatal(err)
	}
	if v, _ := db.Get("Queue/PersistentMembers", "q"); v != `[{"interface":"SIP/d","penalty":2,"paused":1,"membername":"Dee","state_interface":"SIP/d","reason_paused":"away","wrapuptime":0}]` {
		t.Errorf("astdb: %q", v)
	}
	// Asterisk's older format is read too.
	if err := db.Put("Queue/PersistentMembers", "r", "SIP/old;3;0;Old;Custom:old|SIP/p;0;1;;"); err != nil {
		t.Fatal(err)
	}
	te2 := newTestEnv(t, text, Deps{DB: db})
	out, _ := te2.cli("queue show q")
	if !strings.Contains(out, "Dee (SIP/d) with penalty 2 (ringinuse enabled) (dynamic) (paused:away") {
		t.Errorf("after a restart:\n%s", out)
	}
	out, _ = te2.cli("queue show r")
	if !strings.Contains(out, "Old (SIP/old from Custom:old) with penalty 3 (ringinuse enabled) (dynamic) (Unknown)") || !strings.Contains(out, "SIP/p (ringinuse enabled) (dynamic) (paused") {
		t.Errorf("older format after a restart:\n%s", out)
	}
}

func TestCLI(t *testing.T) {
	te := newTestEnv(t, "[q]\nmaxlen = 5\nmember => SIP/a,0,Alice,Custom:a\n", Deps{})
	for _, tc := range []struct{ line, want string }{
		{"queue show", "q has 0 calls (max 5) in 'ringall' strategy (0s holdtime, 0s talktime), W:0, C:0, A:0, SL:0.0%, SL2:0.0% within 0s\n   Members: \n      Alice (SIP/a from Custom:a) (ringinuse enabled) (Unknown) has taken no calls yet (login was 0 secs ago)\n   No Callers\n\n"},
		{"queue show nosuch", "No such queue: nosuch.\n"},
		{"queue add member SIP/b to q penalty 1 as Bee state_interface Custom:b", "Added interface 'SIP/b' to queue 'q'\n"},
		{"queue add member SIP/b to q", "Unable to add interface 'SIP/b' to queue 'q': Already there\nCommand 'queue add member SIP/b to q' failed.\n"},
		{"queue pause member SIP/b", "paused interface 'SIP/b'\n"},
		{"queue unpause member SIP/b queue q reason back", "unpaused interface 'SIP/b' in queue 'q' for reason 'back'\n"},
		{"queue remove member SIP/b from q", "Removed interface SIP/b from queue 'q'\n"},
		{"queue remove member SIP/b from q", "Unable to remove interface 'SIP/b' from queue 'q': Not there\nCommand 'queue remove member SIP/b from q' failed.\n"},
	} {
		out, _ := te.cli(tc.line)
		if out != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.line, out, tc.want)
		}
	}
	e := New(Deps{})
	defer e.Close()
	reg := cli.NewRegistry()
	reg.MustRegister(e.Commands(nil)...)
	var b bytes.Buffer
	reg.Run(context.Background(), "queue show", &b, nil)
	if b.String() != "No queues.\n" {
		t.Errorf("no queues: %q", b.String())
	}
}

// newRealtime is a realtime engine on a fresh SQLite database with queues and
// queue_members mapped; queries counts the queries it answered.
func newRealtime(t *testing.T) (*realtime.Engine, *atomic.Int64) {
	t.Helper()
	db := filepath.Join(t.TempDir(), "rt.sqlite3")
	ctx := context.Background()
	if err := sqlite.CreateDefaultSchema(ctx, db); err != nil {
		t.Fatal(err)
	}
	rt := realtime.New(nil)
	rt.Register(sqlite.New(nil))
	ext, _ := conf.Parse("extconfig.conf", []byte("[settings]\nqueues => sqlite3,db,queues\nqueue_members => sqlite3,db,queue_members\n"), conf.Options{})
	err := rt.Configure(ctx, ext, func(file string) (*conf.Config, error) {
		if file == "res_config_sqlite3.conf" {
			return conf.Parse(file, []byte(fmt.Sprintf("[db]\ndbfile => %s\n", db)), conf.Options{})
		}
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	var n atomic.Int64
	rt.OnQuery(func(driver, family string, d time.Duration, err error) { n.Add(1) })
	return rt, &n
}

func TestRealtimeQueues(t *testing.T) {
	rt, queries := newRealtime(t)
	ctx := context.Background()
	store := func(family string, kv ...string) {
		t.Helper()
		var fs []realtime.Field
		for i := 0; i+1 < len(kv); i += 2 {
			fs = append(fs, realtime.Field{Name: kv[i], Value: kv[i+1]})
		}
		if _, err := rt.Store(ctx, family, fs...); err != nil {
			t.Fatal(err)
		}
	}
	store("queues", "name", "rtq", "strategy", "linear", "timeout", "7", "announce_frequency", "30", "ringinuse", "no")
	store("queue_members", "queue_name", "rtq", "interface", "SIP/r1", "uniqueid", "1", "membername", "Rita", "penalty", "1")
	store("queue_members", "queue_name", "rtq", "interface", "SIP/r2", "uniqueid", "2", "paused", "1")
	te := newTestEnv(t, "[static]\nmember => SIP/s\n", Deps{Realtime: rt, RealtimeTTL: time.Hour})
	out, _ := te.cli("queue show rtq")
	for _, want := range []string{"rtq has 0 calls (max unlimited) in 'linear' strategy",
		"Rita (SIP/r1) with penalty 1 (ringinuse disabled) (realtime) (Unknown)",
		"SIP/r2 (ringinuse disabled) (realtime) (paused) (Unknown)"} {
		if !strings.Contains(out, want) {
			t.Errorf("queue show rtq lacks %q:\n%s", want, out)
		}
	}
	// queue show, many times: the queries are bounded by the cache, not by the runs.
	before := queries.Load()
	for range 50 {
		out, _ = te.cli("queue show")
	}
	if n := queries.Load() - before; n > 1 {
		t.Errorf("50 × queue show cost %d queries (want at most the queue list once)", n)
	}
	if !strings.Contains(out, "rtq has") || !strings.Contains(out, "static has") {
		t.Errorf("queue show:\n%s", out)
	}
	// A member row added: used after the change is heard (no reload).
	store("queue_members", "queue_name", "rtq", "interface", "SIP/r3", "uniqueid", "3")
	if err := rt.Invalidate("queue_members", "rtq"); err != nil {
		t.Fatal(err)
	}
	out, _ = te.cli("queue show rtq")
	if !strings.Contains(out, "SIP/r3 (ringinuse disabled) (realtime)") {
		t.Errorf("member row added, not seen:\n%s", out)
	}
	// A dynamic member of a realtime queue survives the re-read.
	if err := te.e.AddMember(ctx, "rtq", MemberConfig{Interface: "SIP/dyn"}, "NONE"); err != nil {
		t.Fatal(err)
	}
	rt.Invalidate("queues", "rtq")
	out, _ = te.cli("queue show rtq")
	if !strings.Contains(out, "SIP/dyn (ringinuse disabled) (dynamic)") || !strings.Contains(out, "SIP/r3") {
		t.Errorf("after a re-read:\n%s", out)
	}
	if got := varOf(te.run("Queue", "rtq,,,,1"), "QUEUESTATUS"); got != "TIMEOUT" {
		t.Errorf("Queue(rtq) with members that cannot be rung: %q", got)
	}
	// A caller waiting in a realtime queue gets a member added to the table meanwhile.
	store("queues", "name", "wait", "retry", "1")
	store("queue_members", "queue_name", "wait", "interface", "SIP/x", "uniqueid", "10")
	te.devs.mu.Lock()
	te.devs.m["SIP/x"] = state.Unavailable
	te.devs.mu.Unlock()
	done := make(chan struct{})
	go func() { te.run("Queue", "wait,,,,3"); close(done) }()
	time.Sleep(300 * time.Millisecond)
	store("queue_members", "queue_name", "wait", "interface", "SIP/y", "uniqueid", "11")
	rt.Invalidate("queue_members", "wait")
	<-done
	if log := te.log(); !containsPrefix(log, "1700000000.1|wait|SIP/y|RINGNOANSWER|") {
		t.Errorf("the member added while the caller waited was not rung:\n%s", strings.Join(log, "\n"))
	}
}

// TestQueueLogToRealtime: with a realtime queue_log mapping every line is also stored there
// (time, callid, queuename, agent, event, data1..data5), and Close waits for the writer.
func TestQueueLogToRealtime(t *testing.T) {
	dbfile := filepath.Join(t.TempDir(), "rt.sqlite3")
	ctx := context.Background()
	if err := sqlite.CreateDefaultSchema(ctx, dbfile); err != nil {
		t.Fatal(err)
	}
	drv := sqlite.New(nil)
	rt := realtime.New(nil)
	rt.Register(drv)
	ext, _ := conf.Parse("extconfig.conf", []byte("[settings]\nqueue_log => sqlite3,db,queue_log\n"), conf.Options{})
	err := rt.Configure(ctx, ext, func(file string) (*conf.Config, error) {
		if file == "res_config_sqlite3.conf" {
			return conf.Parse(file, []byte(fmt.Sprintf("[db]\ndbfile => %s\n", dbfile)), conf.Options{})
		}
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	if _, err := drv.Exec(ctx, "db", `CREATE TABLE queue_log (id INTEGER PRIMARY KEY, time TEXT, callid TEXT, queuename TEXT, agent TEXT, event TEXT,
		data1 TEXT, data2 TEXT, data3 TEXT, data4 TEXT, data5 TEXT)`); err != nil {
		t.Fatal(err)
	}
	te := newTestEnv(t, "[q]\n", Deps{Realtime: rt})
	te.run("QueueLog", "q,1700000000.3,SIP/a,CUSTOM,one|two|three")
	te.e.Close()
	rows, err := rt.LoadMulti(ctx, "queue_log", realtime.Field{Name: "event", Value: "CUSTOM"})
	if err != nil || len(rows) != 1 {
		t.Fatalf("queue_log rows: %v %v", rows, err)
	}
	for k, want := range map[string]string{"callid": "1700000000.3", "queuename": "q", "agent": "SIP/a", "data1": "one", "data2": "two", "data3": "three"} {
		if got, _ := rows[0].Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if v, _ := rows[0].Get("time"); len(v) != len("2006-01-02 15:04:05") {
		t.Errorf("time %q", v)
	}
}

// TestSharedLastCallWrapup: with shared_lastcall the wrapuptime of the queue a member's last
// call came through applies in every queue of the member (Asterisk's lastqueue), not the
// wrapuptime of the queue deciding; without it each queue keeps its own.
func TestSharedLastCallWrapup(t *testing.T) {
	for _, shared := range []bool{true, false} {
		te := newTestEnv(t, fmt.Sprintf("[general]\nshared_lastcall = %v\n[Long]\nwrapuptime = 60\nmember => SIP/a\n[short]\nmember => SIP/a\n", shared), Deps{})
		te.e.ApplyShare(Share{Op: "call", Queue: "Long", Interface: "SIP/a", LastCall: time.Now().Add(-10 * time.Second), Calls: 1})
		te.e.mu.Lock()
		s := te.e.queues["short"]
		c := te.e.candidate(s, s.members[0], time.Now(), nil)
		te.e.mu.Unlock()
		if c.InWrapup != shared {
			t.Errorf("shared_lastcall=%v: SIP/a in wrapup in queue short = %v (call through Long, wrapuptime 60, 10 s ago)", shared, c.InWrapup)
		}
	}
}
