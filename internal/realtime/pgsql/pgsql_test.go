package pgsql

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/cli"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
	"github.com/pleiades-pbx/pleiades/internal/realtime/realtimetest"
	"github.com/pleiades-pbx/pleiades/test/golden"
)

func ctxT(tb testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	tb.Cleanup(cancel)
	return c
}

func F(kv ...string) []realtime.Field { return realtimetest.F(kv...) }

func TestConformance(t *testing.T) {
	e := newEnv(t)
	realtimetest.Run(t, realtimetest.Backend{
		Driver:  e.drv,
		DB:      e.db,
		Dialect: "postgres",
		Exec:    e.exec,
	})
}

func TestConfig(t *testing.T) {
	for _, c := range []struct {
		name, text string
		err        []string // substrings of the error, nil: no error
		check      func(t *testing.T, s Settings)
	}{
		{"defaults", "[general]\n", nil, func(t *testing.T, s Settings) {
			if s.DBName != "asterisk" || s.User != "asterisk" || s.Port != 5432 || s.Socket != "/tmp" ||
				s.Requirements != "warn" || s.MaxConns != 8 || !s.OrderMulti || s.ListenChannel != "" {
				t.Errorf("defaults = %+v", s)
			}
		}},
		{"asterisk keys", "[general]\ndbhost=db.example\ndbport=6543\ndbname=pbx\ndbuser=ast\ndbpass= p w \ndbappname=pleiades\nrequirements=createclose\n",
			nil, func(t *testing.T, s Settings) {
				if s.Host != "db.example" || s.Port != 6543 || s.DBName != "pbx" || s.User != "ast" ||
					s.AppName != "pleiades" || s.Requirements != "createclose" {
					t.Errorf("got %+v", s)
				}
			}},
		{"sample short keys", "[general]\nhostname=h\nport=5433\nuser=u\npassword=pw\nappname=a\nsocket=/run/postgresql\norder_multi_row_results_by_initial_column=no\n",
			nil, func(t *testing.T, s Settings) {
				if s.Host != "h" || s.Port != 5433 || s.User != "u" || s.Pass != "pw" || s.AppName != "a" ||
					s.Socket != "/run/postgresql" || s.OrderMulti {
					t.Errorf("got %+v", s)
				}
			}},
		{"pleiades options", "[general]\nmax_connections=32\nlisten_channel=pleiades_realtime\nconnect_timeout=1.5\nnegative_connection_cache=0\nsearch_path=asterisk,public\n",
			nil, func(t *testing.T, s Settings) {
				if s.MaxConns != 32 || s.ListenChannel != "pleiades_realtime" || s.ConnectTimeout != 1500*time.Millisecond ||
					s.NegativeCache != 0 || s.SearchPath != "asterisk,public" {
					t.Errorf("got %+v", s)
				}
			}},
		{"bad port", "[general]\ndbport=abc\n", []string{"res_pgsql.conf:2: dbport: invalid port"}, nil},
		{"port range", "[general]\ndbport=70000\n", []string{"res_pgsql.conf:2:"}, nil},
		{"bad requirements", "[general]\nrequirements=create\n", []string{"res_pgsql.conf:2: requirements"}, nil},
		{"bad pool", "[general]\nmax_connections=0\n", []string{"max_connections"}, nil},
		{"appname space", "[general]\ndbappname=my app\n", []string{"whitespace"}, nil},
		{"every error at once", "[general]\ndbport=x\nmax_connections=-1\nrequirements=?\n",
			[]string{":2:", ":3:", ":4:"}, nil},
		{"bad bool", "[general]\norder_multi_row_results_by_initial_column=maybe\n", []string{"yes/no"}, nil},
		{"unknown key is a warning", "[general]\ndbflavour=vanilla\n", nil, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, _, err := ParseConfig(realtimetest.Conf(ConfigFile, c.text))
			if c.err == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if c.check != nil {
					c.check(t, s)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", c.err)
			}
			for _, w := range c.err {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	_, warn, _ := ParseConfig(realtimetest.Conf(ConfigFile, "[general]\ndbflavour=x\n[other]\n"))
	if len(warn) != 2 {
		t.Errorf("warnings = %q, want 2", warn)
	}
}

func TestConnString(t *testing.T) {
	s := defaults()
	s.Pass = `it's a \ pass`
	got := s.connString("asterisk")
	want := `host='/tmp' port='5432' dbname='asterisk' user='asterisk' password='it\'s a \\ pass'`
	if got != want {
		t.Errorf("connString = %s\nwant %s", got, want)
	}
}

// TestAsteriskSchema runs against tables made by Asterisk's complete postgresql_config.sql.
func TestAsteriskSchema(t *testing.T) {
	e := newEnv(t)
	e.loadAsteriskSchema(t)
	d, ctx := e.drv, ctxT(t)

	// Enum columns (type_values, yes_no_values, sip_directmedia_values_v2), integers, varchar.
	n, err := d.Store(ctx, e.db, "sippeers", F("name", "alice", "type", "friend", "host", "dynamic",
		"trustrpid", "yes", "directmedia", "outgoing", "port", "5060", "call-limit", "2",
		"session-timers", "accept", "callerid", `"Zoë" <100>`, "regseconds", ""))
	if err != nil || n != 1 {
		t.Fatalf("Store = %d, %v", n, err)
	}
	r, err := d.Load(ctx, e.db, "sippeers", F("name", "alice"))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"type": "friend", "trustrpid": "yes", "directmedia": "outgoing",
		"port": "5060", "call-limit": "2", "session-timers": "accept", "callerid": `"Zoë" <100>`} {
		if got, _ := r.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if _, ok := r.Get("regseconds"); ok {
		t.Errorf("regseconds stored from an empty value: %v", r)
	}
	// Lookups on enum and integer columns, with operators.
	if _, err := d.Load(ctx, e.db, "sippeers", F("type", "friend", "port >=", "5000", "trustrpid !=", "no")); err != nil {
		t.Errorf("Load by enum/integer: %v", err)
	}
	if _, err := d.Load(ctx, e.db, "sippeers", F("directmedia LIKE", "out%")); err != nil {
		t.Errorf("LIKE on an enum column: %v", err)
	}
	// Update enum columns.
	if n, err := d.Update(ctx, e.db, "sippeers", "name", "alice", F("trustrpid", "no", "type", "peer", "lastms", "12")); err != nil || n != 1 {
		t.Fatalf("Update enum = %d, %v", n, err)
	}
	r, _ = d.Load(ctx, e.db, "sippeers", F("name", "alice"))
	if v, _ := r.Get("trustrpid"); v != "no" {
		t.Errorf("trustrpid = %q after update", v)
	}
	// A value outside the enum is the database's error: plain, not ErrUnavailable.
	_, err = d.Update(ctx, e.db, "sippeers", "name", "alice", F("trustrpid", "maybe"))
	if err == nil || errors.Is(err, realtime.ErrUnavailable) || !strings.Contains(err.Error(), "sippeers") {
		t.Errorf("bad enum value: %v", err)
	}
	// Too long for VARCHAR(40): an error, not a silent cut.
	if _, err := d.Update(ctx, e.db, "sippeers", "name", "alice", F("context", strings.Repeat("x", 41))); err == nil {
		t.Errorf("over-long value accepted")
	}

	// Injection text, quotes, unicode.
	evil := `'; DROP TABLE sippeers; --`
	for _, v := range []string{evil, `O'Brien "q" \n \\`, "日本語 ✓ 😀", "a;b^c"} {
		if _, err := d.Store(ctx, e.db, "sippeers", F("name", v, "secret", v)); err != nil {
			t.Fatalf("Store(%q): %v", v, err)
		}
		r, err := d.Load(ctx, e.db, "sippeers", F("name", v))
		if err != nil {
			t.Fatalf("Load(%q): %v", v, err)
		}
		if got, _ := r.Get("secret"); got != v {
			t.Errorf("secret = %q, want %q", got, v)
		}
	}
	if _, err := d.Load(ctx, e.db, "sippeers", F("name", "alice")); err != nil {
		t.Errorf("table damaged: %v", err)
	}
	// The encoded form is what is stored (Asterisk pgsql/odbc compatible).
	var raw string
	if err := e.admin.QueryRow(ctx, "SELECT secret FROM sippeers WHERE name = 'a^3Bb^5Ec'").Scan(&raw); err != nil || raw != "a^3Bb^5Ec" {
		t.Errorf("stored form = %q, %v", raw, err)
	}

	// Realtime switch queries on extensions.
	for _, x := range [][]string{{"201", "1", "Answer", ""}, {"_2XX", "1", "Dial", "PJSIP/${EXTEN}"}, {"2_1", "1", "NoOp", "x"}} {
		if _, err := d.Store(ctx, e.db, "extensions", F("context", "rtctx", "exten", x[0], "priority", x[1], "app", x[2], "appdata", x[3])); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := d.LoadMulti(ctx, e.db, "extensions", F("exten LIKE", `\_%`, "priority", "1", "context", "rtctx"))
	if err != nil || len(rows) != 1 {
		t.Fatalf("pattern rows = %v, %v", rows, err)
	}
	rows, _ = d.LoadMulti(ctx, e.db, "extensions", F("exten LIKE", `2\_%`, "context", "rtctx"))
	if len(rows) != 1 {
		t.Errorf(`2\_%% matched %v`, rows)
	}
	if r, _ := d.Load(ctx, e.db, "extensions", F("exten", "201", "priority", "1", "context", "rtctx")); len(r) == 0 {
		t.Errorf("exact extension not found")
	}

	// Unknown column: reported, not sent.
	_, err = d.Load(ctx, e.db, "sippeers", F("nosuch", "x"))
	if !errors.Is(err, realtime.ErrUnknownField) {
		t.Errorf("unknown column: %v", err)
	}
	// Missing table: a clear error naming it, not ErrUnavailable.
	_, err = d.Load(ctx, e.db, "no_such_table", F("name", "x"))
	if err == nil || errors.Is(err, realtime.ErrUnavailable) || !strings.Contains(err.Error(), "no_such_table") {
		t.Errorf("missing table: %v", err)
	}
	_, err = d.StaticLoad(ctx, e.db, "no_such_static", "x.conf")
	if err == nil || errors.Is(err, realtime.ErrUnavailable) || !strings.Contains(err.Error(), "no_such_static") {
		t.Errorf("missing static table: %v", err)
	}

	// Voicemail, queues (yesno_values enum), queue_members (integer paused).
	if _, err := d.Store(ctx, e.db, "queues", F("name", "support", "strategy", "rrmemory", "ringinuse", "no", "timeout", "15")); err != nil {
		t.Errorf("store queue: %v", err)
	}
	if _, err := d.Store(ctx, e.db, "queue_members", F("queue_name", "support", "interface", "PJSIP/100", "uniqueid", "1", "paused", "0", "penalty", "")); err != nil {
		t.Errorf("store member: %v", err)
	}
	if n, err := d.Update2(ctx, e.db, "queue_members", F("queue_name", "support", "interface", "PJSIP/100"), F("paused", "1")); err != nil || n != 1 {
		t.Errorf("pause member = %d, %v", n, err)
	}
}

func TestRequireCreate(t *testing.T) {
	e := newEnv(t, "requirements=createclose")
	e.exec(t, "CREATE TABLE rq (name VARCHAR(10))")
	ctx := ctxT(t)
	err := e.drv.Require(ctx, e.db, "rq", []realtime.Requirement{
		{Name: "name", Type: realtime.TypeChar, Size: 40},
		{Name: "regseconds", Type: realtime.TypeInteger, Size: 11},
		{Name: "lastms", Type: realtime.TypeInteger, Size: 5},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got string
	if err := e.admin.QueryRow(ctx, `SELECT string_agg(column_name || ' ' || data_type || COALESCE('(' || character_maximum_length || ')', ''), ', ' ORDER BY ordinal_position)
		FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'rq'`, e.schema).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != "name character varying(40), regseconds bigint, lastms integer" {
		t.Errorf("columns = %s", got)
	}
	if _, err := e.drv.Store(ctx, e.db, "rq", F("name", strings.Repeat("n", 30), "regseconds", "1700000000")); err != nil {
		t.Errorf("store after require: %v", err)
	}
}

func TestUnavailable(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	for _, c := range []struct {
		name, conf string
		want       error
	}{
		{"refused", "[general]\ndbhost=127.0.0.1\ndbport=1\ndbname=test\n", realtime.ErrUnavailable},
		{"bad user", "[general]\ndbhost=" + e.cc.Host + "\ndbport=" + strconv.Itoa(int(e.cc.Port)) + "\ndbname=" + e.cc.Database + "\ndbuser=pleiades_no_such_role\n", realtime.ErrUnavailable},
		{"no socket", "[general]\ndbsock=/nonexistent\n", realtime.ErrUnavailable},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := New(nil)
			defer d.Close()
			if err := d.Configure(ctx, realtimetest.Conf(ConfigFile, c.conf)); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err := d.Load(ctx, "", "sippeers", F("name", "x"))
			if !errors.Is(err, c.want) {
				t.Fatalf("Load: %v, want %v", err, c.want)
			}
			if el := time.Since(start); el > 2*time.Second {
				t.Errorf("took %s", el)
			}
			// Negative connection cache: the next call fails at once.
			start = time.Now()
			_, err = d.Load(ctx, "", "sippeers", F("name", "x"))
			if !errors.Is(err, realtime.ErrUnavailable) || time.Since(start) > 50*time.Millisecond {
				t.Errorf("second Load: %v after %s", err, time.Since(start))
			}
		})
	}
	// A dbname that does not exist on the server.
	nodb := New(nil)
	defer nodb.Close()
	if err := nodb.Configure(ctx, realtimetest.Conf(ConfigFile, strings.Replace(e.confText(), "dbname="+e.cc.Database+"\n", "dbname=pleiades_no_such_db\n", 1))); err != nil {
		t.Fatal(err)
	}
	_, err := nodb.Load(ctx, "", "sippeers", F("name", "x"))
	if !errors.Is(err, realtime.ErrUnknownDatabase) {
		t.Errorf("unknown database: %v", err)
	}
	// Unconfigured driver.
	d := New(nil)
	if _, err := d.Load(ctx, "", "sippeers", F("name", "x")); !errors.Is(err, realtime.ErrUnavailable) {
		t.Errorf("unconfigured: %v", err)
	}
}

func TestListen(t *testing.T) {
	channel := randName("pleiades_rt_")
	e := newEnv(t, "listen_channel="+channel)
	e.loadAsteriskSchema(t)
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "contrib", "pgsql_realtime_notify.sql"))
	if err != nil {
		t.Fatal(err)
	}
	e.exec(t, strings.ReplaceAll(string(b), "'pleiades_realtime'", "'"+channel+"'"))

	type change struct{ table, key string }
	got := make(chan change, 16)
	cancel := e.drv.OnChange(func(table, key string) {
		if table != "" {
			got <- change{table, key}
		}
	})
	defer cancel()
	db, err := e.drv.database(e.db)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-db.listener.ready:
	case <-time.After(5 * time.Second):
		t.Fatal("listener not ready")
	}
	ctx := ctxT(t)
	e.exec(t, "INSERT INTO sippeers (name) VALUES ('bob')")
	expect := func(want change) {
		t.Helper()
		select {
		case c := <-got:
			if c != want {
				t.Errorf("notification %+v, want %+v", c, want)
			}
		case <-time.After(time.Second):
			t.Fatalf("no notification for %+v within 1s", want)
		}
	}
	expect(change{"sippeers", "bob"})
	start := time.Now()
	if _, err := e.drv.Update(ctx, e.db, "sippeers", "name", "bob", F("ipaddr", "192.0.2.1")); err != nil {
		t.Fatal(err)
	}
	expect(change{"sippeers", "bob"})
	t.Logf("update to callback: %s", time.Since(start))
	e.exec(t, "INSERT INTO voicemail (context, mailbox, password) VALUES ('default', '1000', '1')")
	expect(change{"voicemail", "1000@default"})
	e.exec(t, "UPDATE sippeers SET name = 'robert' WHERE name = 'bob'")
	a, b2 := <-got, <-got
	if !(a == change{"sippeers", "robert"} && b2 == change{"sippeers", "bob"}) {
		t.Errorf("rename notifications %v %v", a, b2)
	}
	e.exec(t, "DELETE FROM sippeers WHERE name = 'robert'")
	expect(change{"sippeers", "robert"})

	var out bytes.Buffer
	if err := e.drv.status(ctx, &cli.Args{Out: &out}); err != nil {
		t.Fatalf("status: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "Listening on channel "+channel) || !strings.Contains(out.String(), "notifications received") {
		t.Errorf("status:\n%s", out.String())
	}
}

func TestParsePayload(t *testing.T) {
	for p, want := range map[string][2]string{
		"sippeers:alice":           {"sippeers", "alice"},
		"extensions:_X.@ctx:colon": {"extensions", "_X.@ctx:colon"},
		"queues":                   {"queues", ""},
	} {
		if a, b := ParsePayload(p); a != want[0] || b != want[1] {
			t.Errorf("ParsePayload(%q) = %q, %q", p, a, b)
		}
	}
}

func TestStatus(t *testing.T) {
	e := newEnv(t, "max_connections=4")
	r := cli.NewRegistry()
	r.MustRegister(e.drv.Commands()...)
	var out bytes.Buffer
	if err := r.Run(ctxT(t), "realtime show pgsql status", &out, nil); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	s := out.String()
	want := "Connected to " + e.cc.Database + "@" + e.cc.Host + ", port " + strconv.Itoa(int(e.cc.Port)) + " with username " + e.cc.User + " for "
	if !strings.HasPrefix(s, want) || !strings.Contains(s, "seconds.\n") || !strings.Contains(s, "max 4") {
		t.Errorf("status output:\n%s\nwant prefix %q", s, want)
	}
	// Unreachable.
	d := New(nil)
	defer d.Close()
	_ = d.Configure(ctxT(t), realtimetest.Conf(ConfigFile, "[general]\ndbhost=127.0.0.1\ndbport=1\ndbname=x\ndbuser=u\n"))
	out.Reset()
	err := d.status(ctxT(t), &cli.Args{Out: &out})
	if !errors.Is(err, cli.ErrCommandFailed) || !strings.HasPrefix(out.String(), "Unable to connect x@127.0.0.1, port 1 with username u\n") ||
		!strings.Contains(out.String(), "last error: failed to connect") {
		t.Errorf("status: %v\n%s", err, out.String())
	}
}

// TestPoolConcurrency checks that parallel calls use several connections and never more than
// max_connections.
func TestPoolConcurrency(t *testing.T) {
	e := newEnv(t, "max_connections=3")
	e.exec(t, "CREATE TABLE slow (name VARCHAR(10)); INSERT INTO slow VALUES ('a')")
	ctx := ctxT(t)
	var wg sync.WaitGroup
	for i := 0; i < 12; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.drv.Load(ctx, e.db, "slow", F("name", "a")); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	db, _ := e.drv.database(e.db)
	st := db.pool.stats()
	if st.Total > 3 || st.Total < 1 || st.InUse != 0 || st.Acquires < 13 {
		t.Errorf("pool stats %+v", st)
	}
}

func TestReconfigure(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.exec(t, "CREATE TABLE rc (name VARCHAR(10)); INSERT INTO rc VALUES ('a')")
	if _, err := e.drv.Load(ctx, e.db, "rc", F("name", "a")); err != nil {
		t.Fatal(err)
	}
	// Same settings: pools kept.
	db1, _ := e.drv.database(e.db)
	if err := e.drv.Configure(ctx, realtimetest.Conf(ConfigFile, e.confText())); err != nil {
		t.Fatal(err)
	}
	if db2, _ := e.drv.database(e.db); db2 != db1 {
		t.Errorf("pool replaced on an unchanged reload")
	}
	// A bad file keeps the running configuration.
	if err := e.drv.Configure(ctx, realtimetest.Conf(ConfigFile, "[general]\ndbport=x\n")); err == nil {
		t.Errorf("bad config accepted")
	}
	if _, err := e.drv.Load(ctx, e.db, "rc", F("name", "a")); err != nil {
		t.Errorf("after failed reload: %v", err)
	}
	// Changed settings: new pool.
	if err := e.drv.Configure(ctx, realtimetest.Conf(ConfigFile, e.confText("max_connections=2"))); err != nil {
		t.Fatal(err)
	}
	if _, err := e.drv.Load(ctx, e.db, "rc", F("name", "a")); err != nil {
		t.Errorf("after reload: %v", err)
	}
	if db3, _ := e.drv.database(e.db); db3 == db1 || db3.pool.max != 2 {
		t.Errorf("pool not replaced")
	}
}

// The database field of a mapping is ignored, as res_config_pgsql ignores it: every call goes
// to res_pgsql.conf's dbname, so "sippeers => pgsql,asterisk,sippeers" (the sample's wording)
// works with dbname=test, even though no database "asterisk" exists.
func TestDatabaseFieldIsIgnored(t *testing.T) {
	e := newEnv(t)
	e.loadAsteriskSchema(t)
	ctx := context.Background()
	if _, err := e.drv.Store(ctx, "asterisk", "sippeers", F("name", "alice", "context", "phones")); err != nil {
		t.Fatal(err)
	}
	for _, db := range []string{"asterisk", "pleiades_no_such_db", "general", "", e.cc.Database} {
		row, err := e.drv.Load(ctx, db, "sippeers", F("name", "alice"))
		if err != nil {
			t.Fatalf("database field %q: %v", db, err)
		}
		if v, _ := row.Get("context"); v != "phones" {
			t.Fatalf("database field %q: %v", db, row)
		}
	}
	e.drv.mu.RLock()
	n := len(e.drv.dbs)
	e.drv.mu.RUnlock()
	if n != 1 {
		t.Errorf("%d pools for one res_pgsql.conf, want 1", n)
	}
}

// "realtime show pgsql cache [table]" prints what res_config_pgsql prints: the cached tables,
// then one table's columns with PostgreSQL's type names and lengths (attlen, or atttypmod-4).
func TestCacheCLIGolden(t *testing.T) {
	e := newEnv(t)
	e.exec(t, `CREATE TYPE yn AS ENUM ('yes', 'no');
CREATE TABLE peers (id SERIAL PRIMARY KEY, name VARCHAR(40) NOT NULL, port INTEGER, nat yn,
  note TEXT, regseconds BIGINT, seen TIMESTAMP, ok BOOLEAN, code CHAR(3));
CREATE TABLE aliases (name VARCHAR(10))`)
	r := cli.NewRegistry()
	r.MustRegister(e.drv.Commands()...)
	var out bytes.Buffer
	run := func(line string) {
		fmt.Fprintf(&out, "> %s\n", line)
		if err := r.Run(ctxT(t), line, &out, nil); err != nil {
			fmt.Fprintf(&out, "[%v]\n", err)
		}
	}
	run("realtime show pgsql cache")
	for _, tbl := range []string{"peers", "aliases"} {
		if _, err := e.drv.LoadMulti(ctxT(t), "", tbl, F("name", "x")); err != nil {
			t.Fatal(err)
		}
	}
	run("realtime show pgsql cache")
	run("realtime show pgsql cache peers")
	run("realtime show pgsql cache PEERS")
	run("realtime show pgsql cache nosuch")
	golden.Check(t, "cache.golden", out.String())
}
