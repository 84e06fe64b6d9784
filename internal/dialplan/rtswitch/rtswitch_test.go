package rtswitch_test

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/dialplan"
	"github.com/pleiades-pbx/pleiades/internal/dialplan/rtswitch"
	"github.com/pleiades-pbx/pleiades/internal/dialplan/rtswitch/rttest"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

func tctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// row stores one extensions row.
func row(t testing.TB, b *rttest.Backend, context, exten string, prio int, app, appdata string, extra ...realtime.Field) {
	t.Helper()
	f := []realtime.Field{{Name: "context", Value: context}, {Name: "exten", Value: exten},
		{Name: "priority", Value: strconv.Itoa(prio)}, {Name: "app", Value: app}, {Name: "appdata", Value: appdata}}
	if _, err := b.Engine.Store(tctx(t), "extensions", append(f, extra...)...); err != nil {
		t.Fatalf("store %s@%s:%d: %v", exten, context, prio, err)
	}
}

// forEach runs fn against every backend.
func forEach(t *testing.T, fn func(t *testing.T, b *rttest.Backend)) {
	for _, bk := range rttest.Backends {
		t.Run(bk.Name, func(t *testing.T) { fn(t, bk.New(t)) })
	}
}

func must(t testing.TB) func(bool, error) bool {
	return func(ok bool, err error) bool {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
}

func TestLookups(t *testing.T) {
	forEach(t, func(t *testing.T, b *rttest.Backend) {
		c := tctx(t)
		row(t, b, "rtctx", "201", 1, "NoOp", "exact 201")
		row(t, b, "rtctx", "_X.", 1, "NoOp", "any")
		row(t, b, "rtctx", "_20X", 1, "NoOp", "20X")
		row(t, b, "rtctx", "_2XXX", 1, "NoOp", "2XXX")
		row(t, b, "rtctx", "_30X", 2, "NoOp", "30X prio 2")
		row(t, b, "rtctx", "a_b", 1, "NoOp", "literal underscore")
		row(t, b, "other", "201", 1, "NoOp", "other 201")
		s := rtswitch.New(rttest.Log(t), b.Engine)

		appdata := func(context, exten string, prio int, data string) string {
			t.Helper()
			r, err := s.Row(c, context, exten, prio, "", data)
			if err != nil {
				t.Fatal(err)
			}
			if r == nil {
				return "<none>"
			}
			v, _ := r.Get("appdata")
			return v
		}
		// Exact row first; then patterns longest first.
		for _, tc := range []struct {
			ctx, exten string
			prio       int
			data, want string
		}{
			{"rtctx", "201", 1, "", "exact 201"},
			{"rtctx", "205", 1, "", "20X"},        // _20X (4) before _X. (3)
			{"rtctx", "2055", 1, "", "2XXX"},      // _2XXX (5) first
			{"rtctx", "999", 1, "", "any"},        // only _X.
			{"rtctx", "301", 2, "", "30X prio 2"}, // priority is part of the query
			{"rtctx", "301", 3, "", "<none>"},
			{"rtctx", "205", 1, "extensions/p", "<none>"},            // p: no patterns
			{"rtctx", "201", 1, "extensions/p", "exact 201"},         // exact still works
			{"x", "201", 1, "other@extensions", "other 201"},         // db_context
			{"x", "201", 1, "other@", "other 201"},                   // family defaults
			{"other", "201", 1, "", "other 201"},                     // db_context defaults to the context
			{"rtctx", "a_b", 1, "", "literal underscore"},            // '_' in a plain exten
			{"rtctx", "201", 1, "nosuchfamily", "<none>"},            // not mapped: nothing
			{"rtctx", "201", dialplan.PriorityHint, "", "<none>"},    // no hints stored
			{"rtctx", "205", 1, "rtctx@extensions/p", "<none>"},      // both
			{"rtctx", "20-5", 1, "", "20X"},                          // dashes ignored by the matcher
			{"rtctx", "", 1, "", "<none>"},                           // nothing dialled
			{"rtctx", "201", 1, "rtctx@extensions/xyz", "exact 201"}, // unknown options ignored
			{"rtctx", "201", 1, " rtctx@extensions ", "exact 201"},   // blanks trimmed
			{"rtctx", "2055", 1, "rtctx@extensions", "2XXX"},         // explicit = default
			{"rtctx", "20555", 1, "rtctx@extensions", "any"},         // too long for _2XXX
			{"rtctx", "205", 1, "extensions", "20X"},                 // family only
			{"rtctx", "205", 1, "@extensions", "20X"},                // empty db_context
			{"rtctx", "205", 1, "", "20X"},                           // cached answer is the same
			{"rtctx", "201", 1, "", "exact 201"},                     // cached
			{"rtctx", "a_c", 1, "", "<none>"},                        // '=': '_' is no wildcard
			{"rtctx", "a%", 1, "", "<none>"},                         // nor is '%'
			{"rtctx", "301", 1, "", "any"},                           // _30X is priority 2 only
			{"rtctx", "2", 2, "", "<none>"},                          // nothing at priority 2 matches
			{"rtctx", "2", 1, "extensions/p", "<none>"},              // p again
			{"rtctx", "xyz", 1, "", "<none>"},                        // _X. wants digits
			{"rtctx", "1", 1, "", "<none>"},                          // _X. wants two characters
			{"rtctx", "12", 1, "", "any"},                            // and gets them
			{"rtctx", "202", 1, "", "20X"},                           // another
			{"rtctx", "201", 1, "", "exact 201"},                     // still exact
			{"rtctx", "201", 2, "", "<none>"},                        // no priority 2
			{"rtctx", "3011", 2, "", "<none>"},                       // _30X: too long
			{"rtctx", "30", 2, "", "<none>"},                         // _30X: too short
			{"rtctx", "309", 2, "", "30X prio 2"},                    // another
			{"rtctx", "309", 2, "extensions/p", "<none>"},            // p
			{"rtctx", "309", 2, "other@extensions", "<none>"},        // other context has none
			{"rtctx", "201", 1, "other@extensions/p", "other 201"},   // other context, exact
			{"rtctx", "209", 1, "other@extensions", "<none>"},        // other context, no patterns
			{"rtctx", "201", 1, "OTHER@extensions", "<none>"},        // contexts are case-sensitive... (see below)
			{"rtctx", "201", 1, "rtctx@EXTENSIONS", "exact 201"},     // families are not
			{"rtctx", "205", 1, "rtctx@extensions/P", "20X"},         // options are case-sensitive
			{"rtctx", "205", 1, "rtctx@extensions/pp", "<none>"},     // repeated option
			{"rtctx", "205", 1, "rtctx@extensions//p", "<none>"},     // stray slash
			{"rtctx", "205", 1, "rtctx@extensions/p/", "<none>"},     // trailing slash
			{"rtctx", "205", 1, "rtctx@extensions/", "20X"},          // empty options
			{"rtctx", "205", 1, "rtctx@/p", "<none>"},                // empty family, p
			{"rtctx", "205", 1, "/p", "<none>"},                      // only options
			{"rtctx", "205", 1, "/", "20X"},                          // nothing at all
			{"rtctx", "205", 1, "@", "20X"},                          // still nothing
			{"rtctx", "205", 1, "@/", "20X"},                         // and again
			{"rtctx", "205", 1, "rtctx@extensions/p", "<none>"},      // p, cached
			{"rtctx", "205", 1, "rtctx@extensions", "20X"},           // not p, cached
			{"rtctx", "205", 1, "rtctx@sippeers", "<none>"},          // another family's table has no such rows
			{"rtctx", "205", 1, "rtctx@voicemail/p", "<none>"},       // a table without these columns: an error, see below
		} {
			if tc.data == "rtctx@sippeers" || tc.data == "rtctx@voicemail/p" || tc.data == "OTHER@extensions" && b.Name == "mysql" {
				continue // sippeers/voicemail lack the columns (error); MySQL compares case-insensitively
			}
			if got := appdata(tc.ctx, tc.exten, tc.prio, tc.data); got != tc.want {
				t.Errorf("%s@%s:%d data %q: got %q, want %q", tc.exten, tc.ctx, tc.prio, tc.data, got, tc.want)
			}
		}
		// A family whose table has no such columns is an error, not "no".
		if _, err := s.Exists(c, "rtctx", "205", 1, "", "rtctx@voicemail"); err == nil {
			t.Error("lookup in voicemail: no error")
		}
	})
}

func TestCanMatchMatchMore(t *testing.T) {
	forEach(t, func(t *testing.T, b *rttest.Backend) {
		c := tctx(t)
		row(t, b, "cm", "301", 1, "NoOp", "")
		row(t, b, "cm", "_4XX", 1, "NoOp", "")
		row(t, b, "cm", "5_%", 1, "NoOp", "") // LIKE metacharacters in a plain name
		s := rtswitch.New(rttest.Log(t), b.Engine)
		for _, tc := range []struct {
			exten                  string
			exists, canMore, match bool // Exists, MatchMore, CanMatch
		}{
			{"3", false, true, true},
			{"30", false, true, true},
			{"301", true, false, true},
			{"3011", false, false, false},
			{"4", false, true, true},
			{"40", false, true, true},
			{"401", true, false, true},
			{"4011", false, false, false},
			{"5", false, true, true},
			{"5_", false, true, true},
			{"5x", false, false, false}, // '_' must not act as a wildcard
			{"6", false, false, false},
		} {
			ex := must(t)(s.Exists(c, "cm", tc.exten, 1, "", ""))
			mm := must(t)(s.MatchMore(c, "cm", tc.exten, 1, "", ""))
			cm := must(t)(s.CanMatch(c, "cm", tc.exten, 1, "", ""))
			if ex != tc.exists || mm != tc.canMore || cm != tc.match {
				t.Errorf("%s: exists/matchmore/canmatch = %v/%v/%v, want %v/%v/%v", tc.exten, ex, mm, cm, tc.exists, tc.canMore, tc.match)
			}
			// Without patterns only the plain rows answer.
			if strings.HasPrefix(tc.exten, "4") {
				if cm := must(t)(s.CanMatch(c, "cm", tc.exten, 1, "", "extensions/p")); cm {
					t.Errorf("%s with p: canmatch true", tc.exten)
				}
			}
		}
	})
}

func TestCache(t *testing.T) {
	forEach(t, func(t *testing.T, b *rttest.Backend) {
		c := tctx(t)
		row(t, b, "rtctx", "201", 1, "NoOp", "")
		row(t, b, "rtctx", "_5XX", 1, "NoOp", "")
		s := rtswitch.New(rttest.Log(t), b.Engine)
		s.SetCacheTTL(300 * time.Millisecond)
		lookup := func(exten string) uint64 {
			t.Helper()
			before := b.Queries("extensions")
			if !must(t)(s.Exists(c, "rtctx", exten, 1, "", "")) {
				t.Fatalf("%s does not exist", exten)
			}
			return b.Queries("extensions") - before
		}
		if n := lookup("201"); n == 0 {
			t.Fatal("first lookup of 201 issued no query")
		}
		if n := lookup("201"); n != 0 {
			t.Errorf("second lookup of 201 within the window: %d queries, want 0", n)
		}
		// A pattern hit: exact (miss) + pattern list, then nothing.
		if n := lookup("555"); n != 2 {
			t.Errorf("first lookup of 555: %d queries, want 2 (exact, patterns)", n)
		}
		if n := lookup("555"); n != 0 {
			t.Errorf("second lookup of 555: %d queries, want 0", n)
		}
		// The pattern rows are shared by every number of the context and priority.
		if n := lookup("556"); n != 1 {
			t.Errorf("lookup of 556: %d queries, want 1 (exact only)", n)
		}
		// Exec after Exists (what the executor does) costs nothing.
		ch := dialplan.NewChannel("Test/1", "rtctx", "201", 1)
		before := b.Queries("extensions")
		if err := s.Exec(c, ch, "rtctx", "201", 1, "", ""); err != nil {
			t.Fatal(err)
		}
		if n := b.Queries("extensions") - before; n != 0 {
			t.Errorf("exec after exists: %d queries, want 0", n)
		}
		time.Sleep(400 * time.Millisecond)
		if n := lookup("201"); n == 0 {
			t.Error("lookup after the window issued no query")
		}
		// Cache off: every lookup queries.
		s.SetCacheTTL(0)
		lookup("201")
		if n := lookup("201"); n == 0 {
			t.Error("cache off: second lookup issued no query")
		}
	})
}

func TestCallerID(t *testing.T) {
	forEach(t, func(t *testing.T, b *rttest.Backend) {
		c := tctx(t)
		b.AddColumn(t, "extensions", "cidmatch")
		cid := func(v string) realtime.Field { return realtime.Field{Name: "cidmatch", Value: v} }
		row(t, b, "cid", "600", 1, "NoOp", "only 100", cid("100"))
		row(t, b, "cid", "601", 1, "NoOp", "anyone")
		row(t, b, "cid", "_7XX", 1, "NoOp", "7XX from 1XX", cid("_1XX"))
		row(t, b, "cid", "_7X.", 1, "NoOp", "7X. from anyone")
		s := rtswitch.New(rttest.Log(t), b.Engine)
		for _, tc := range []struct{ exten, cid, want string }{
			{"600", "100", "only 100"},
			{"600", "200", "<none>"},
			{"600", "", "<none>"},
			{"601", "", "anyone"},
			{"601", "555", "anyone"},
			{"700", "123", "7XX from 1XX"},
			{"700", "223", "7X. from anyone"},
			{"700", "", "7X. from anyone"},
		} {
			r, err := s.Row(c, "cid", tc.exten, 1, tc.cid, "")
			if err != nil {
				t.Fatal(err)
			}
			got := "<none>"
			if r != nil {
				got, _ = r.Get("appdata")
			}
			if got != tc.want {
				t.Errorf("%s from %q: got %q, want %q", tc.exten, tc.cid, got, tc.want)
			}
		}
	})
}

func TestHints(t *testing.T) {
	forEach(t, func(t *testing.T, b *rttest.Backend) {
		c := tctx(t)
		row(t, b, "rtctx", "201", dialplan.PriorityHint, "hint", "PJSIP/alice&Custom:alice,CustomPresence:alice")
		row(t, b, "rtctx", "201", 1, "NoOp", "")
		row(t, b, "rtctx", "202", dialplan.PriorityHint, "PJSIP/bob", "")
		row(t, b, "rtctx", "203", 0, "hint", "PJSIP/carol")
		row(t, b, "rtctx", "204", 0, "NoOp", "not a hint")
		row(t, b, "rtctx", "_9XX", dialplan.PriorityHint, "hint", "PJSIP/pattern")
		s := rtswitch.New(rttest.Log(t), b.Engine)

		hs, err := s.Hints(c, "rtctx", "")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, h := range hs {
			got = append(got, h.Exten+"@"+h.Context+"="+h.Devices+"|"+h.Presence)
		}
		want := "201@rtctx=PJSIP/alice&Custom:alice|CustomPresence:alice 202@rtctx=PJSIP/bob| 203@rtctx=PJSIP/carol|"
		if strings.Join(got, " ") != want {
			t.Errorf("Hints:\n got %s\nwant %s", strings.Join(got, " "), want)
		}
		h, ok, err := s.Hint(c, "rtctx", "950", "")
		if err != nil || !ok || h.Devices != "PJSIP/pattern" {
			t.Errorf("Hint 950: %+v %v %v", h, ok, err)
		}
		if _, ok, _ := s.Hint(c, "rtctx", "950", "extensions/p"); ok {
			t.Error("Hint 950 with p: found")
		}
		if !must(t)(s.Exists(c, "rtctx", "202", dialplan.PriorityHint, "", "")) {
			t.Error("Exists(202, hint) false")
		}
		if must(t)(s.Exists(c, "rtctx", "204", dialplan.PriorityHint, "", "")) {
			t.Error("Exists(204, hint) true")
		}

		// Through a dialplan: Engine.Find reaches the switch, LookupHint answers; and the
		// hints of every switch line for `core show hints`.
		e := loadDialplan(t, `
[from-internal]
exten => 100,hint,PJSIP/static
exten => 201,hint,PJSIP/static201
include => more

[more]
switch => Realtime/rtctx@extensions
`)
		s.Register(e)
		h, ok, err = s.LookupHint(c, e, "from-internal", "202")
		if err != nil || !ok || h.Devices != "PJSIP/bob" || h.Context != "more" {
			t.Errorf("LookupHint 202: %+v %v %v", h, ok, err)
		}
		all, err := s.DialplanHints(c, e.Dialplan())
		if err != nil {
			t.Fatal(err)
		}
		got = got[:0]
		for _, h := range all {
			got = append(got, h.Exten+"@"+h.Context+" "+h.File)
		}
		if w := "201@more realtime:extensions, 202@more realtime:extensions, 203@more realtime:extensions"; strings.Join(got, ", ") != w {
			t.Errorf("DialplanHints: %q", got)
		}
	})
}

// sink collects log lines.
type sink struct {
	mu    sync.Mutex
	lines []string
}

func (s *sink) Enabled(context.Context, slog.Level) bool { return true }
func (s *sink) Handle(_ context.Context, r slog.Record) error {
	s.mu.Lock()
	s.lines = append(s.lines, r.Message)
	s.mu.Unlock()
	return nil
}
func (s *sink) WithAttrs([]slog.Attr) slog.Handler { return s }
func (s *sink) WithGroup(string) slog.Handler      { return s }
func (s *sink) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.lines, "\n")
}

func loadDialplanLog(t testing.TB, text string) (*dialplan.Engine, *sink) {
	t.Helper()
	sk := &sink{}
	e := dialplan.New(slog.New(sk), nil)
	t.Cleanup(e.Close)
	cfg, err := conf.Parse("extensions.conf", []byte(text), conf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Load(cfg); err != nil {
		t.Fatal(err)
	}
	return e, sk
}

func loadDialplan(t testing.TB, text string) *dialplan.Engine {
	e, _ := loadDialplanLog(t, text)
	return e
}

func TestDialplanRun(t *testing.T) {
	forEach(t, func(t *testing.T, b *rttest.Backend) {
		c := tctx(t)
		s := rtswitch.New(rttest.Log(t), b.Engine)
		row(t, b, "rtctx", "201", 1, "Set", "FOO=${EXTEN}-${CALLERID(num)}")
		row(t, b, "rtctx", "201", 2, "Goto", "static,s,1")
		row(t, b, "rtctx", "_3XX", 1, "Set", "PAT=${EXTEN}")
		row(t, b, "rtctx", "_3XX", 2, "Hangup", "")
		row(t, b, "rtctx", "400", 1, "NoSuchApp", "x")
		row(t, b, "rtctx", "back", 1, "Set", "BACK=yes")
		e, sk := loadDialplanLog(t, `
[from-internal]
exten => 100,1,NoOp(static)
switch => Realtime/rtctx@extensions

[static]
exten => s,1,Set(STATIC=${FOO})
 same => n,Goto(from-internal,back,1)
`)
		s.Register(e)
		ch := dialplan.NewChannel("Test/1", "from-internal", "201", 1)
		ch.SetCallerID("5551212", "Alice")
		if err := e.Run(c, ch); err != nil {
			t.Fatal(err)
		}
		for name, want := range map[string]string{"FOO": "201-5551212", "STATIC": "201-5551212", "BACK": "yes"} {
			if v, _ := ch.Var(name); v != want {
				t.Errorf("%s = %q, want %q", name, v, want)
			}
		}
		log := sk.text()
		for _, want := range []string{
			`Executing [201@from-internal:1] Set("Test/1", "FOO=201-5551212") in new stack`,
			`Executing [201@from-internal:2] Goto("Test/1", "static,s,1") in new stack`,
			`Executing [s@static:1] Set("Test/1", "STATIC=201-5551212") in new stack`,
			`Executing [back@from-internal:1] Set("Test/1", "BACK=yes") in new stack`,
		} {
			if !strings.Contains(log, want) {
				t.Errorf("log lacks %q:\n%s", want, log)
			}
		}

		ch = dialplan.NewChannel("Test/2", "from-internal", "350", 1)
		if err := e.Run(c, ch); err != nil {
			t.Fatal(err)
		}
		if v, _ := ch.Var("PAT"); v != "350" {
			t.Errorf("PAT = %q", v)
		}
		if !strings.Contains(sk.text(), `Executing [350@from-internal:2] Hangup("Test/2", "") in new stack`) {
			t.Errorf("no Hangup line:\n%s", sk.text())
		}

		ch = dialplan.NewChannel("Test/3", "from-internal", "400", 1)
		if err := e.Run(c, ch); !errors.Is(err, dialplan.ErrNoApp) {
			t.Errorf("unknown app: Run = %v, want ErrNoApp", err)
		}
		if !strings.Contains(sk.text(), "No such application 'NoSuchApp' for extension '400' in context 'from-internal'") {
			t.Errorf("no notice about NoSuchApp:\n%s", sk.text())
		}
		// The static dialplan still answers first.
		if !e.Exists(c, "from-internal", "100", 1, "") || !e.Exists(c, "from-internal", "399", 1, "") || e.Exists(c, "from-internal", "999", 1, "") {
			t.Error("Exists through the engine")
		}
		if !e.CanMatch(c, "from-internal", "3", 1, "") || !e.MatchMore(c, "from-internal", "20", 1, "") {
			t.Error("CanMatch/MatchMore through the engine")
		}
	})
}

func TestParseSpec(t *testing.T) {
	for in, want := range map[string]rtswitch.Spec{
		"":                  {Family: "extensions"},
		"fam":               {Family: "fam"},
		"ctx@fam":           {Context: "ctx", Family: "fam"},
		"ctx@":              {Context: "ctx", Family: "extensions"},
		"ctx@fam/p":         {Context: "ctx", Family: "fam", NoPatterns: true},
		"/p":                {Family: "extensions", NoPatterns: true},
		"@/":                {Family: "extensions"},
		" ctx @ fam / p ":   {Context: "ctx", Family: "fam", NoPatterns: true},
		"ctx@fam/P":         {Context: "ctx", Family: "fam"},
		"ctx@fam/xp":        {Context: "ctx", Family: "fam", NoPatterns: true},
		"ctx@fam@x":         {Context: "ctx", Family: "fam@x"},
		"realtime@ext/opts": {Context: "realtime", Family: "ext", NoPatterns: true},
	} {
		if got := rtswitch.ParseSpec(in); got != want {
			t.Errorf("ParseSpec(%q) = %+v, want %+v", in, got, want)
		}
	}
}

func TestFunctions(t *testing.T) {
	forEach(t, func(t *testing.T, b *rttest.Backend) {
		c := tctx(t)
		e := dialplan.New(rttest.Log(t), nil)
		t.Cleanup(e.Close)
		rtswitch.RegisterFunctions(e, b.Engine)
		ch := e.NewChannel("Test/1", "x", "s", 1)
		read := func(call string) string {
			t.Helper()
			name, args, _ := strings.Cut(call, "(")
			v, err := ch.ReadFunction(c, name, strings.TrimSuffix(args, ")"))
			if err != nil {
				t.Fatalf("%s: %v", call, err)
			}
			return v
		}
		write := func(call, value string) {
			t.Helper()
			if err := ch.WriteFunction(c, call, value); err != nil {
				t.Fatalf("%s=%s: %v", call, value, err)
			}
		}
		write("REALTIME_STORE(sippeers,name,secret,context)", "alice,s3cret,default")
		if v, _ := ch.Var("RTSTOREID"); v != "1" {
			t.Errorf("RTSTOREID = %q, want 1 (rows stored)", v)
		}
		got := read("REALTIME(sippeers,name,alice)")
		for _, want := range []string{"name=alice,", "secret=s3cret,", "context=default,"} {
			if !strings.Contains(got, want) {
				t.Errorf("REALTIME read %q lacks %q", got, want)
			}
		}
		if !strings.HasSuffix(got, ",") {
			t.Errorf("REALTIME read %q: no trailing delimiter", got)
		}
		got = read("REALTIME(sippeers,name,alice,|,:)")
		if !strings.Contains("|"+got, "|name:alice|") || !strings.Contains(got, "|secret:s3cret|") {
			t.Errorf("REALTIME with delimiters: %q", got)
		}
		if !strings.HasSuffix(got, "|") {
			t.Errorf("REALTIME with delimiters %q: no trailing delimiter", got)
		}
		write("REALTIME(sippeers,name,alice,secret)", "n3w")
		if v := read("REALTIME_FIELD(sippeers,name,alice,secret)"); v != "n3w" {
			t.Errorf("REALTIME_FIELD after write = %q", v)
		}
		write("REALTIME_FIELD(sippeers,name,alice,context)", "internal")
		if v := read("REALTIME_FIELD(sippeers,name,alice,CONTEXT)"); v != "internal" {
			t.Errorf("REALTIME_FIELD context = %q", v)
		}
		if v := read("REALTIME(sippeers,name,nobody)"); v != "" {
			t.Errorf("REALTIME of no row = %q", v)
		}
		write("REALTIME_STORE(sippeers,name,callerid)", `bob,"Bob\, Jr" <200>`)
		h := read("REALTIME_HASH(sippeers,name,bob)")
		fields, _ := ch.Var("~ODBCFIELDS~")
		if !strings.Contains(h, `Bob\, Jr <200>`) && !strings.Contains(h, `"Bob\, Jr" <200>`) {
			t.Errorf("REALTIME_HASH values %q: comma not escaped", h)
		}
		if !strings.Contains(fields, "name") || !strings.Contains(fields, "callerid") || strings.HasPrefix(fields, ",") {
			t.Errorf("~ODBCFIELDS~ = %q", fields)
		}
		if n, v := len(strings.Split(fields, ",")), len(splitEscaped(h)); n != v {
			t.Errorf("REALTIME_HASH: %d names, %d values", n, v)
		}
		got = read("REALTIME_DESTROY(sippeers,name,bob)")
		if !strings.Contains(got, "name=bob,") {
			t.Errorf("REALTIME_DESTROY returned %q", got)
		}
		if v := read("REALTIME(sippeers,name,bob)"); v != "" {
			t.Errorf("bob still there after REALTIME_DESTROY: %q", v)
		}
		write("REALTIME_DESTROY(sippeers,name,alice)", "ignored")
		if v := read("REALTIME(sippeers,name,alice)"); v != "" {
			t.Errorf("alice still there after write to REALTIME_DESTROY: %q", v)
		}
		// Syntax errors are errors.
		for _, bad := range []string{"REALTIME()", "REALTIME(sippeers)", "REALTIME_FIELD(sippeers,name,alice)", "REALTIME_HASH(sippeers,name)"} {
			name, args, _ := strings.Cut(bad, "(")
			if _, err := ch.ReadFunction(c, name, strings.TrimSuffix(args, ")")); err == nil {
				t.Errorf("%s: no error", bad)
			}
		}
		if err := ch.WriteFunction(c, "REALTIME(sippeers,name,alice)", "x"); err == nil {
			t.Error("REALTIME write without updatecol: no error")
		}
		if err := ch.WriteFunction(c, "REALTIME_STORE(sippeers,nosuchcolumn)", "x"); err == nil {
			t.Error("REALTIME_STORE of an unknown column: no error")
		}
	})
}

// splitEscaped splits on ',' not preceded by '\'.
func splitEscaped(s string) []string {
	var out []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case s[i] == ',':
			out = append(out, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(s[i])
		}
	}
	return append(out, cur.String())
}

// A change of the family (a NOTIFY or an explicit invalidation, through the engine's change
// feed) drops cached answers at once, whatever the TTL.
func TestCacheFollowsChanges(t *testing.T) {
	forEach(t, func(t *testing.T, b *rttest.Backend) {
		c := tctx(t)
		row(t, b, "rtctx", "201", 1, "NoOp", "old")
		s := rtswitch.New(rttest.Log(t), b.Engine)
		s.SetCacheTTL(time.Hour)
		hintFamily := make(chan bool, 4)
		cancel := b.Engine.Subscribe("", func(c realtime.Change) { hintFamily <- s.Changed(c) })
		defer cancel()
		if must(t)(s.Exists(c, "rtctx", "202", 1, "", "")) {
			t.Fatal("202 exists before it was added")
		}
		row(t, b, "rtctx", "202", 1, "NoOp", "new")
		if must(t)(s.Exists(c, "rtctx", "202", 1, "", "")) {
			t.Fatal("cached 'no row' not used: the test proves nothing")
		}
		if err := b.Engine.Invalidate("extensions", "202@rtctx"); err != nil {
			t.Fatal(err)
		}
		if !must(t)(s.Exists(c, "rtctx", "202", 1, "", "")) {
			t.Error("202 not found after the invalidation")
		}
		if <-hintFamily {
			t.Error("Changed: hints read from a family the switch read no hint from")
		}
		// Once hints were read from the family, Changed says so (the server reads them again).
		if _, err := s.Hints(c, "rtctx", "extensions"); err != nil {
			t.Fatal(err)
		}
		if err := b.Engine.Invalidate("extensions", ""); err != nil {
			t.Fatal(err)
		}
		if !<-hintFamily {
			t.Error("Changed: the family holds hints the switch read")
		}
	})
}
