package mysql

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/cli"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
	"github.com/pleiades-pbx/pleiades/internal/realtime/realtimetest"
)

func ctxT(tb testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	tb.Cleanup(cancel)
	return c
}

func F(kv ...string) []realtime.Field { return realtimetest.F(kv...) }

func TestConformance(t *testing.T) {
	e := newEnv(t)
	realtimetest.Run(t, realtimetest.Backend{Driver: e.drv, DB: e.section, Dialect: "mysql", Exec: e.exec})
}

func TestConfig(t *testing.T) {
	for _, c := range []struct {
		name, text string
		err        []string
		check      func(t *testing.T, s map[string]Section)
	}{
		{"defaults", "[general]\n", nil, func(t *testing.T, s map[string]Section) {
			g := s["general"]
			if g.DBName != "asterisk" || g.User != "asterisk" || g.Port != 3306 || g.Socket != "/tmp/mysql.sock" ||
				g.Requirements != "warn" || g.MaxConns != 8 || g.Host != "" {
				t.Errorf("defaults = %+v", g)
			}
		}},
		{"two sections", "[general]\ndbhost=127.0.0.1\ndbname=asterisk\ndbuser=myuser\ndbpass=mypass\ndbport=3307\ndbcharset=latin1\nrequirements=createchar\n[other]\ndbsock=/run/mysqld/mysqld.sock\nmax_connections=20\n",
			nil, func(t *testing.T, s map[string]Section) {
				g, o := s["general"], s["other"]
				if g.Host != "127.0.0.1" || g.User != "myuser" || g.Pass != "mypass" || g.Port != 3307 || g.Charset != "latin1" || g.Requirements != "createchar" {
					t.Errorf("general = %+v", g)
				}
				if o.Socket != "/run/mysqld/mysqld.sock" || o.MaxConns != 20 {
					t.Errorf("other = %+v", o)
				}
				if n, a := o.network(); n != "unix" || a != "/run/mysqld/mysqld.sock" {
					t.Errorf("network = %s %s", n, a)
				}
				if n, a := g.network(); n != "tcp" || a != "127.0.0.1:3307" {
					t.Errorf("network = %s %s", n, a)
				}
			}},
		{"bad port", "[general]\ndbport=x\n", []string{"res_config_mysql.conf:2: [general] dbport"}, nil},
		{"bad charset", "[general]\ndbcharset=utf8 DROP\n", []string{"dbcharset"}, nil},
		{"bad requirements", "[a]\nrequirements=always\n", []string{":2: [a] requirements"}, nil},
		{"slash in name", "[read/write]\n", []string{"'/'"}, nil},
		{"all errors", "[a]\ndbport=0\n[b]\nmax_connections=x\nconnect_timeout=-1\n", []string{":2:", ":4:", ":5:"}, nil},
		{"unknown key warns", "[a]\ndbflavour=x\n", nil, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, _, err := ParseConfig(realtimetest.Conf(ConfigFile, c.text))
			if c.err == nil {
				if err != nil {
					t.Fatal(err)
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
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestAsteriskSchema(t *testing.T) {
	e := newEnv(t)
	e.loadAsteriskSchema(t)
	d, ctx, db := e.drv, ctxT(t), e.section

	n, err := d.Store(ctx, db, "sippeers", F("name", "alice", "type", "friend", "host", "dynamic",
		"trustrpid", "yes", "directmedia", "outgoing", "port", "5060", "call-limit", "2",
		"session-timers", "accept", "callerid", `"Zoë" <100>`, "regseconds", ""))
	if err != nil || n != 1 {
		t.Fatalf("Store = %d, %v", n, err)
	}
	r, err := d.Load(ctx, db, "sippeers", F("name", "alice"))
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
	if _, err := d.Load(ctx, db, "sippeers", F("type", "friend", "port >=", "5000", "trustrpid !=", "no")); err != nil {
		t.Errorf("Load by enum/integer: %v", err)
	}
	if n, err := d.Update(ctx, db, "sippeers", "name", "alice", F("trustrpid", "no", "type", "peer", "lastms", "12")); err != nil || n != 1 {
		t.Fatalf("Update enum = %d, %v", n, err)
	}
	r, _ = d.Load(ctx, db, "sippeers", F("name", "alice"))
	if v, _ := r.Get("trustrpid"); v != "no" {
		t.Errorf("trustrpid = %q after update", v)
	}
	_, err = d.Update(ctx, db, "sippeers", "name", "alice", F("trustrpid", "maybe"))
	if err == nil || errors.Is(err, realtime.ErrUnavailable) || !strings.Contains(err.Error(), "sippeers") {
		t.Errorf("bad enum value: %v", err)
	}
	evil := `'; DROP TABLE sippeers; --`
	for _, v := range []string{evil, `O'Brien "q" \n \\ \' \"`, "日本語 ✓ 😀", "a;b^c", "x\x00y"} {
		if _, err := d.Store(ctx, db, "sippeers", F("name", v, "secret", v)); err != nil {
			t.Fatalf("Store(%q): %v", v, err)
		}
		r, err := d.Load(ctx, db, "sippeers", F("name", v))
		if err != nil {
			t.Fatalf("Load(%q): %v", v, err)
		}
		if got, _ := r.Get("secret"); got != v {
			t.Errorf("secret = %q, want %q", got, v)
		}
	}
	var raw string
	if err := e.admin.QueryRowContext(ctx, "SELECT secret FROM sippeers WHERE name = 'a^3Bb^5Ec'").Scan(&raw); err != nil || raw != "a^3Bb^5Ec" {
		t.Errorf("stored form = %q, %v", raw, err)
	}
	// LIKE: \_ is a literal underscore only.
	for _, x := range []string{"2_1", "2x1", "_2XX"} {
		if _, err := d.Store(ctx, db, "extensions", F("context", "rtctx", "exten", x, "priority", "1", "app", "NoOp", "appdata", "")); err != nil {
			t.Fatal(err)
		}
	}
	names := func(pat string) (out []string) {
		rows, err := d.LoadMulti(ctx, db, "extensions", F("exten LIKE", pat, "context", "rtctx"))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			v, _ := r.Get("exten")
			out = append(out, v)
		}
		return out
	}
	if got := names(`2\_1`); len(got) != 1 || got[0] != "2_1" {
		t.Errorf(`2\_1 matched %v`, got)
	}
	if got := names(`\_%`); len(got) != 1 || got[0] != "_2XX" {
		t.Errorf(`\_%% matched %v`, got)
	}
	if got := names(`2_1`); len(got) != 2 {
		t.Errorf(`2_1 matched %v`, got)
	}
	// The same under NO_BACKSLASH_ESCAPES (a server setting some installs use), set for
	// the session only so that nobody else's connections are affected.
	d2 := New(nil)
	d2.sessionVars = map[string]string{"sql_mode": "'STRICT_TRANS_TABLES,NO_BACKSLASH_ESCAPES'"}
	defer d2.Close()
	if err := d2.Configure(ctx, realtimetest.Conf(ConfigFile, e.confText())); err != nil {
		t.Fatal(err)
	}
	rows, err := d2.LoadMulti(ctx, db, "extensions", F("exten LIKE", `2\_1`, "context", "rtctx"))
	if err != nil || len(rows) != 1 {
		t.Errorf("NO_BACKSLASH_ESCAPES: %v, %v", rows, err)
	}
	var mode string
	c2, _ := d2.conn(db, false)
	if err := c2.db.QueryRowContext(ctx, "SELECT @@SESSION.sql_mode").Scan(&mode); err != nil || !strings.Contains(mode, "NO_BACKSLASH_ESCAPES") {
		t.Errorf("session sql_mode = %q, %v", mode, err)
	}

	_, err = d.Load(ctx, db, "sippeers", F("nosuch", "x"))
	if !errors.Is(err, realtime.ErrUnknownField) {
		t.Errorf("unknown column: %v", err)
	}
	_, err = d.Load(ctx, db, "no_such_table", F("name", "x"))
	if err == nil || errors.Is(err, realtime.ErrUnavailable) || !strings.Contains(err.Error(), "no_such_table") {
		t.Errorf("missing table: %v", err)
	}
	_, err = d.StaticLoad(ctx, db, "no_such_static", "x.conf")
	if err == nil || errors.Is(err, realtime.ErrUnavailable) || !strings.Contains(err.Error(), "no_such_static") {
		t.Errorf("missing static table: %v", err)
	}
	if _, err := d.Store(ctx, db, "queues", F("name", "support", "strategy", "rrmemory", "ringinuse", "no", "timeout", "15")); err != nil {
		t.Errorf("store queue: %v", err)
	}
	if _, err := d.Store(ctx, db, "queue_members", F("queue_name", "support", "interface", "PJSIP/100", "uniqueid", "1", "paused", "0", "penalty", "")); err != nil {
		t.Errorf("store member: %v", err)
	}
	if n, err := d.Update2(ctx, db, "queue_members", F("queue_name", "support", "interface", "PJSIP/100"), F("paused", "1")); err != nil || n != 1 {
		t.Errorf("pause member = %d, %v", n, err)
	}
	// Unknown section.
	if _, err := d.Load(ctx, "nosection", "sippeers", F("name", "x")); !errors.Is(err, realtime.ErrUnknownDatabase) {
		t.Errorf("unknown section: %v", err)
	}
}

func TestReadWriteSplit(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	text := e.confText() + strings.Replace(e.confText(), "["+e.section+"]", "[writer]", 1)
	if err := e.drv.Configure(ctx, realtimetest.Conf(ConfigFile, text)); err != nil {
		t.Fatal(err)
	}
	e.exec(t, "CREATE TABLE rw (name VARCHAR(10), v INT)")
	db := e.section + "/writer"
	if _, err := e.drv.Store(ctx, db, "rw", F("name", "a", "v", "1")); err != nil {
		t.Fatal(err)
	}
	if r, err := e.drv.Load(ctx, db, "rw", F("name", "a")); err != nil || len(r) != 2 {
		t.Fatalf("Load = %v, %v", r, err)
	}
	e.drv.mu.RLock()
	_, w := e.drv.conns["writer"]
	_, r := e.drv.conns[e.section]
	e.drv.mu.RUnlock()
	if !w || !r {
		t.Errorf("read/write sections not both used")
	}
}

func TestRequireCreate(t *testing.T) {
	e := newEnv(t, "requirements=createclose")
	e.exec(t, "CREATE TABLE rq (name VARCHAR(10))")
	ctx := ctxT(t)
	err := e.drv.Require(ctx, e.section, "rq", []realtime.Requirement{
		{Name: "name", Type: realtime.TypeChar, Size: 40},
		{Name: "regseconds", Type: realtime.TypeInteger, Size: 11},
		{Name: "lastms", Type: realtime.TypeUnsignedInteger, Size: 5},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got string
	if err := e.admin.QueryRowContext(ctx, `SELECT GROUP_CONCAT(CONCAT(COLUMN_NAME, ' ', COLUMN_TYPE) ORDER BY ORDINAL_POSITION SEPARATOR ', ')
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'rq'`).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != "name varchar(40), regseconds bigint(20), lastms int(10) unsigned" {
		t.Errorf("columns = %s", got)
	}
}

func TestUnavailable(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	host, port := "127.0.0.1", "3306"
	if e.mc.Net == "tcp" {
		host, port, _ = strings.Cut(e.mc.Addr, ":")
	}
	for _, c := range []struct{ name, conf string }{
		{"refused", "[x]\ndbhost=127.0.0.1\ndbport=1\ndbname=test\n"},
		{"bad password", "[x]\ndbhost=" + host + "\ndbport=" + port + "\ndbname=test\ndbuser=pleiades_no_such_user\ndbpass=wrong\n"},
		{"no socket", "[x]\ndbsock=/nonexistent/mysql.sock\n"},
		{"no database", "[x]\ndbhost=" + host + "\ndbport=" + port + "\ndbuser=" + e.mc.User + "\ndbname=pleiades_no_such_db\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := New(nil)
			defer d.Close()
			if err := d.Configure(ctx, realtimetest.Conf(ConfigFile, c.conf)); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err := d.Load(ctx, "x", "sippeers", F("name", "x"))
			if !errors.Is(err, realtime.ErrUnavailable) {
				t.Fatalf("Load: %v, want ErrUnavailable", err)
			}
			if el := time.Since(start); el > 2*time.Second {
				t.Errorf("took %s", el)
			}
			start = time.Now()
			_, err = d.Load(ctx, "x", "sippeers", F("name", "x"))
			if !errors.Is(err, realtime.ErrUnavailable) || time.Since(start) > 50*time.Millisecond {
				t.Errorf("second Load: %v after %s", err, time.Since(start))
			}
		})
	}
}

func TestStatus(t *testing.T) {
	e := newEnv(t, "max_connections=4")
	r := cli.NewRegistry()
	r.MustRegister(e.drv.Commands()...)
	var out bytes.Buffer
	if err := r.Run(ctxT(t), "realtime show mysql status", &out, nil); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	s := out.String()
	if !strings.HasPrefix(s, "scratch: Connected to "+e.dbname+"@") || !strings.Contains(s, " with username "+e.mc.User+" for ") ||
		!strings.Contains(s, "seconds.\n") || !strings.Contains(s, "max 4") {
		t.Errorf("status:\n%s", s)
	}
	out.Reset()
	if err := r.Run(ctxT(t), "realtime mysql status nosuch", &out, nil); !errors.Is(err, cli.ErrFailed) || !strings.Contains(out.String(), "No section [nosuch]") {
		t.Errorf("status nosuch: %v %s", err, out.String())
	}
}

func TestPoolConcurrency(t *testing.T) {
	e := newEnv(t, "max_connections=3")
	e.exec(t, "CREATE TABLE p (name VARCHAR(10)); INSERT INTO p VALUES ('a')")
	ctx := ctxT(t)
	var wg sync.WaitGroup
	for i := 0; i < 12; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.drv.Load(ctx, e.section, "p", F("name", "a")); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	c, _ := e.drv.conn(e.section, false)
	if st := c.db.Stats(); st.OpenConnections > 3 || st.InUse != 0 {
		t.Errorf("pool stats %+v", st)
	}
}
