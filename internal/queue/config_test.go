package queue

import (
	"strings"
	"testing"

	"github.com/pleiades-pbx/pleiades/internal/conf"
)

func parseString(t *testing.T, text string) (*Config, error) {
	t.Helper()
	cfg, err := conf.Parse("queues.conf", []byte(text), conf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return Parse(cfg, nil)
}

func TestParse(t *testing.T) {
	c, err := parseString(t, `[general]
persistentmembers = yes
autofill = yes
shared_lastcall = yes
monitor-type = MixMonitor

[support]
strategy = leastrecent
timeout = 20
retry = 2
wrapuptime = 10
maxlen = 3
weight = 2
servicelevel = 60
joinempty = paused,unavailable
leavewhenempty = strict
ringinuse = no
announce-frequency = 30
periodic-announce = queue-periodic-announce,silence/1
musicclass = jazz
member => SIP/alice,1,Alice,Custom:alice,yes
member => SIP/bob

[sales]
`)
	if err != nil {
		t.Fatal(err)
	}
	if !c.General.PersistentMembers || !c.General.Autofill || !c.General.SharedLastCall {
		t.Errorf("general: %+v", c.General)
	}
	q := c.Queue("SUPPORT")
	if q == nil {
		t.Fatal("no queue support")
	}
	want := QueueConfig{Name: "support", Strategy: LeastRecent, Timeout: 20, Retry: 2, WrapupTime: 10, MaxLen: 3, Weight: 2,
		ServiceLevel: 60, JoinEmpty: EmptyPaused | EmptyUnavailable, LeaveWhenEmpty: EmptyPenalty | EmptyInvalid | EmptyPaused | EmptyUnavailable,
		RingInUse: false, Autofill: true, AnnounceFrequency: 30, MusicClass: "jazz"}
	got := *q
	got.Members, got.PeriodicAnnounce, got.File, got.Line = nil, nil, "", 0
	if got.Name != want.Name || got.Strategy != want.Strategy || got.Timeout != want.Timeout || got.Retry != want.Retry ||
		got.WrapupTime != want.WrapupTime || got.MaxLen != want.MaxLen || got.Weight != want.Weight || got.ServiceLevel != want.ServiceLevel ||
		got.JoinEmpty != want.JoinEmpty || got.LeaveWhenEmpty != want.LeaveWhenEmpty || got.RingInUse != want.RingInUse ||
		got.Autofill != want.Autofill || got.AnnounceFrequency != want.AnnounceFrequency || got.MusicClass != want.MusicClass {
		t.Errorf("queue:\n got %+v\nwant %+v", got, want)
	}
	if strings.Join(q.PeriodicAnnounce, "|") != "queue-periodic-announce|silence/1" {
		t.Errorf("periodic-announce %q", q.PeriodicAnnounce)
	}
	if len(q.Members) != 2 {
		t.Fatalf("members %+v", q.Members)
	}
	a := q.Members[0]
	if a.Interface != "SIP/alice" || a.Penalty != 1 || a.Name != "Alice" || a.StateInterface != "Custom:alice" || a.RingInUse == nil || !*a.RingInUse || a.Line != 21 {
		t.Errorf("alice %+v", a)
	}
	if b := q.Members[1]; b.MemberName() != "SIP/bob" || b.Device() != "SIP/bob" || b.RingInUse != nil {
		t.Errorf("bob %+v", b)
	}
	s := c.Queue("sales")
	if s.Strategy != RingAll || s.Timeout != 15 || s.Retry != 5 || !s.RingInUse || s.JoinEmpty != 0 || !s.Autofill || s.MusicClass != "default" {
		t.Errorf("sales defaults %+v", s)
	}
}

func TestParseStrategies(t *testing.T) {
	for _, name := range []string{"ringall", "leastrecent", "fewestcalls", "random", "rrmemory", "rrordered", "linear", "wrandom"} {
		s, ok := ParseStrategy(name)
		if !ok || s.String() != name {
			t.Errorf("%s: %v %v", name, s, ok)
		}
	}
	if s, ok := ParseStrategy("roundrobin"); !ok || s != RRMemory {
		t.Error("roundrobin")
	}
}

func TestParseErrorsNameFileLine(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"[q]\nstrategy = fastest\n", "queues.conf:2: strategy: unknown strategy \"fastest\""},
		{"[q]\ntimeout = soon\n", "queues.conf:2: timeout: \"soon\" is not an integer"},
		{"[q]\nmaxlen = -1\n", "queues.conf:2: maxlen: -1 is below 0"},
		{"[q]\nmember => alice\n", "queues.conf:2: member: interface \"alice\" is not Technology/resource"},
		{"[q]\nmember => SIP/a,x\n", "queues.conf:2: member: penalty \"x\" is not an integer"},
		{"[q]\nmember => SIP/a,1,A,SIP/a,maybe\n", "queues.conf:2: member: ringinuse \"maybe\" is not a boolean"},
		{"[q]\nmember => SIP/a\nmember => SIP/a\n", "queues.conf:3: member SIP/a given twice"},
		{"[q]\njoinempty = sometimes\n", "queues.conf:2: joinempty: unknown condition \"sometimes\""},
		{"[q]\nringinuse = perhaps\n", "queues.conf:2: ringinuse: \"perhaps\" is not a boolean"},
		{"[q]\nfrobnicate = 1\n", "queues.conf:2: unknown setting \"frobnicate\" in queue q"},
		{"[general]\nautofill = often\n", "queues.conf:2: autofill: \"often\" is not a boolean"},
		{"[q]\n[Q]\n", "queues.conf:2: queue \"Q\" defined twice"},
	} {
		_, err := parseString(t, tc.text)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.text, err, tc.want)
		}
	}
}

func TestParseEmpty(t *testing.T) {
	for _, tc := range []struct {
		v    string
		join bool
		want Empty
	}{
		{"yes", true, 0},
		{"no", true, EmptyPenalty | EmptyInvalid | EmptyPaused},
		{"yes", false, EmptyPenalty | EmptyInvalid | EmptyPaused},
		{"no", false, 0},
		{"loose", true, EmptyPenalty | EmptyInvalid},
		{"strict", false, EmptyPenalty | EmptyInvalid | EmptyPaused | EmptyUnavailable},
		{"inuse,ringing,wrapup,unknown", true, EmptyInUse | EmptyRinging | EmptyWrapup | EmptyUnknown},
	} {
		got, err := parseEmpty(tc.v, tc.join)
		if err != nil || got != tc.want {
			t.Errorf("%q join=%v: %v (%v), want %v", tc.v, tc.join, got, err, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("[general]\nautofill=yes\n[q]\nstrategy=linear\nmember => SIP/a,1,A,SIP/a,no\n")
	f.Add("[q]\njoinempty=paused,strict\nperiodic-announce=a|b\n")
	f.Fuzz(func(t *testing.T, text string) {
		cfg, err := conf.Parse("queues.conf", []byte(text), conf.Options{})
		if err != nil {
			return
		}
		c, err := Parse(cfg, nil)
		if err != nil {
			for _, e := range err.(conf.ErrorList) {
				if e.File != "queues.conf" || e.Line <= 0 {
					t.Fatalf("error without file:line: %v", e)
				}
			}
			return
		}
		_ = c
	})
}
