package odbc

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
	"github.com/pleiades-pbx/pleiades/internal/realtime/realtimetest"
)

func TestParseConfig(t *testing.T) {
	for _, c := range []struct {
		name    string
		text    string
		wantErr string // substring; "" = no error
		check   func(t *testing.T, pc *parsedConfig)
	}{
		{name: "defaults", text: "[asterisk]\ndsn => asterisk\n", check: func(t *testing.T, pc *parsedConfig) {
			c := pc.Conns[0]
			if c.MaxConnections != 1 || c.SanitySQL != "select 1" || c.ConnectTimeout != 10*time.Second ||
				c.NegativeCache != 300*time.Second || c.Isolation != "read_committed" || c.BackslashEsc != triAuto ||
				c.Logging || c.PreConnect || c.ForceCommit || c.SlowQueryLimit != 5*time.Second {
				t.Errorf("defaults: %+v", c)
			}
			if got := c.connectString(); got != "DSN=asterisk;" {
				t.Errorf("connectString = %q", got)
			}
		}},
		{name: "everything", text: `
[ENV]
ODBCSYSINI => /tmp/x
[pg]
enabled => yes
dsn => my dsn
username => ast\;user
password => p}w
pre-connect => yes
max_connections => 20
sanitysql => select 2
connect_timeout => 3
negative_connection_cache => 0.5
forcecommit => yes
isolation => SERIALIZABLE
backslash_is_escape => no
logging => on
slow_query_limit => 0
cache_type => roundrobin
cache_size => 5
`, check: func(t *testing.T, pc *parsedConfig) {
			c := pc.Conns[0]
			if c.MaxConnections != 20 || c.SanitySQL != "select 2" || c.ConnectTimeout != 3*time.Second ||
				c.NegativeCache != 500*time.Millisecond || c.Isolation != "serializable" || c.BackslashEsc != triNo ||
				!c.Logging || !c.PreConnect || !c.ForceCommit || c.SlowQueryLimit != 0 || c.CacheType != "roundrobin" || c.CacheSize != 5 {
				t.Errorf("parsed: %+v", c)
			}
			if got, want := c.connectString(), "DSN=my dsn;UID={ast;user};PWD={p}}w};"; got != want {
				t.Errorf("connectString = %q, want %q", got, want)
			}
			if len(pc.Env) != 1 || pc.Env[0].Name != "ODBCSYSINI" {
				t.Errorf("env = %v", pc.Env)
			}
		}},
		{name: "connstr", text: "[a]\nconnstr => Driver=PostgreSQL Unicode\\;Server=h\\;PWD=secret\\;\nusername => u\n", check: func(t *testing.T, pc *parsedConfig) {
			c := pc.Conns[0]
			if got, want := c.connectString(), "Driver=PostgreSQL Unicode;Server=h;PWD=secret;UID=u;"; got != want {
				t.Errorf("connectString = %q, want %q", got, want)
			}
			if got := c.display(); strings.Contains(got, "secret") {
				t.Errorf("display shows the password: %q", got)
			}
		}},
		{name: "disabled", text: "[a]\nenabled => no\n[b]\ndsn => b\n", check: func(t *testing.T, pc *parsedConfig) {
			if len(pc.Conns) != 1 || pc.Conns[0].Name != "b" || !pc.Disabled["a"] {
				t.Errorf("conns %v disabled %v", pc.Conns, pc.Disabled)
			}
		}},
		{name: "template skipped", text: "[t](!)\nmax_connections => x\n[a]\ndsn => a\n", check: func(t *testing.T, pc *parsedConfig) {
			if len(pc.Conns) != 1 {
				t.Errorf("conns %v", pc.Conns)
			}
		}},
		{name: "unknown key is only a warning", text: "[a]\ndsn => a\nfrobnicate => 1\n"},
		{name: "bad bool", text: "[a]\ndsn => a\npre-connect => maybe\n", wantErr: "res_odbc.conf:3: [a] pre-connect: \"maybe\" is not a boolean"},
		{name: "bad enabled", text: "[a]\nenabled => sure\ndsn => a\n", wantErr: "res_odbc.conf:2: [a] enabled:"},
		{name: "bad max", text: "[a]\ndsn => a\nmax_connections => 0\n", wantErr: "res_odbc.conf:3: [a] max_connections:"},
		{name: "max not a number", text: "[a]\ndsn => a\nmax_connections => many\n", wantErr: "res_odbc.conf:3: [a] max_connections:"},
		{name: "bad timeout", text: "[a]\ndsn => a\nconnect_timeout => -1\n", wantErr: "res_odbc.conf:3: [a] connect_timeout:"},
		{name: "bad negative cache", text: "[a]\ndsn => a\nnegative_connection_cache => soon\n", wantErr: "res_odbc.conf:3: [a] negative_connection_cache:"},
		{name: "bad isolation", text: "[a]\ndsn => a\nisolation => chaos\n", wantErr: "res_odbc.conf:3: [a] isolation:"},
		{name: "bad backslash", text: "[a]\ndsn => a\nbackslash_is_escape => perhaps\n", wantErr: "res_odbc.conf:3: [a] backslash_is_escape:"},
		{name: "bad logging", text: "[a]\ndsn => a\nlogging => loud\n", wantErr: "res_odbc.conf:3: [a] logging:"},
		{name: "bad slow limit", text: "[a]\ndsn => a\nslow_query_limit => -5\n", wantErr: "res_odbc.conf:3: [a] slow_query_limit:"},
		{name: "bad cache type", text: "[a]\ndsn => a\ncache_type => heap\n", wantErr: "res_odbc.conf:3: [a] cache_type:"},
		{name: "no dsn", text: "[a]\nusername => u\n", wantErr: "res_odbc.conf:1: [a] has neither dsn nor connstr"},
		{name: "both", text: "[a]\ndsn => a\nconnstr => Driver=x\n", wantErr: "res_odbc.conf:3: [a] connstr: dsn (line 2) and connstr are alternatives"},
		{name: "empty dsn", text: "[a]\ndsn =>\n", wantErr: "res_odbc.conf:2: [a] dsn: empty"},
		{name: "twice", text: "[a]\ndsn => a\n[A]\ndsn => b\n", wantErr: "res_odbc.conf:3: [A] defined twice (first at res_odbc.conf:1)"},
		{name: "all errors reported", text: "[a]\ndsn => a\nlogging => x\n[b]\ndsn => b\nisolation => y\n", wantErr: "res_odbc.conf:6: [b] isolation:"},
	} {
		t.Run(c.name, func(t *testing.T) {
			pc, _, err := parseConfig(realtimetest.Conf("res_odbc.conf", c.text))
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, c.wantErr)
				}
				var el conf.ErrorList
				if !errors.As(err, &el) || len(el) == 0 {
					t.Errorf("err %T is not a conf.ErrorList", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.check != nil {
				c.check(t, pc)
			}
		})
	}
}

func TestParseConfigWarnings(t *testing.T) {
	_, warns, err := parseConfig(realtimetest.Conf("res_odbc.conf", "[a]\ndsn => a\nfrobnicate => 1\n"))
	if err != nil || len(warns) != 1 || !strings.Contains(warns[0], `res_odbc.conf:3: [a] unknown key "frobnicate"`) {
		t.Errorf("warns %q err %v", warns, err)
	}
}

func TestConfigureKeepsRunningConfigOnError(t *testing.T) {
	d := newDriver(t, "[a]\ndsn => a\n")
	if err := d.Configure(context.Background(), realtimetest.Conf("res_odbc.conf", "[b]\ndsn => b\nmax_connections => -1\n")); err == nil {
		t.Fatal("no error")
	}
	if _, err := d.conn("a"); err != nil {
		t.Errorf("[a] lost after a failed reload: %v", err)
	}
	if _, err := d.conn("b"); !errors.Is(err, realtime.ErrUnknownDatabase) {
		t.Errorf("[b]: %v, want ErrUnknownDatabase", err)
	}
}

func TestConfigureReload(t *testing.T) {
	d := newDriver(t, "[a]\ndsn => a\n[b]\ndsn => b\n[c]\nenabled => no\n")
	a1, _ := d.conn("a")
	b1, _ := d.conn("b")
	// Same settings on other lines: kept. Changed settings: replaced.
	if err := d.Configure(context.Background(), realtimetest.Conf("res_odbc.conf", "\n[a]\ndsn => a\n[b]\ndsn => b\nmax_connections => 4\n")); err != nil {
		t.Fatal(err)
	}
	a2, _ := d.conn("A")
	b2, _ := d.conn("b")
	if a1 != a2 || a2.cfg.Line != 2 {
		t.Errorf("[a] not kept across a reload that did not change it")
	}
	if b1 == b2 || b2.cfg.MaxConnections != 4 {
		t.Errorf("[b] not replaced")
	}
	if err := b1.db.Ping(); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("old [b] pool still open: %v", err)
	}
	if _, err := d.conn("c"); !errors.Is(err, realtime.ErrUnknownDatabase) {
		t.Errorf("[c] after reload: %v", err)
	}
	// nil config: no connections.
	if err := d.Configure(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := d.conn("a"); !errors.Is(err, realtime.ErrUnknownDatabase) {
		t.Errorf("[a] after nil config: %v", err)
	}
}

func TestDisabledAndUnknown(t *testing.T) {
	d := newDriver(t, "[off]\nenabled => no\ndsn => x\n")
	ctx := context.Background()
	if _, err := d.Load(ctx, "off", "sippeers", []realtime.Field{{Name: "name", Value: "x"}}); !errors.Is(err, realtime.ErrUnavailable) {
		t.Errorf("disabled: %v, want ErrUnavailable", err)
	}
	if _, err := d.Load(ctx, "nosuch", "sippeers", []realtime.Field{{Name: "name", Value: "x"}}); !errors.Is(err, realtime.ErrUnknownDatabase) {
		t.Errorf("unknown: %v, want ErrUnknownDatabase", err)
	}
	if err := d.Unload(ctx, "nosuch", "sippeers"); !errors.Is(err, realtime.ErrUnknownDatabase) {
		t.Errorf("Unload unknown: %v, want ErrUnknownDatabase", err)
	}
}

func TestConnStrHelpers(t *testing.T) {
	if got := maskPassword("Driver=x;PWD={a;b};Server=y"); got != "Driver=x;PWD=****;Server=y" {
		t.Errorf("maskPassword = %q", got)
	}
	if got := odbcValue("plain"); got != "plain" {
		t.Errorf("odbcValue(plain) = %q", got)
	}
	if got := odbcValue(" a;b}"); got != "{ a;b}}}" {
		t.Errorf("odbcValue = %q", got)
	}
}

func TestSQLBuilding(t *testing.T) {
	cols := []column{{name: "name", dataType: "character varying"}, {name: "port", dataType: "integer", nullable: true},
		{name: "session-timers", dataType: "user-defined", nullable: true}}
	pg := &dialect{quote: '"'}
	my := &dialect{quote: '`', backslash: true}
	tm := newTableMeta(pg, "sippeers", "sippeers", cols)
	where := func(tm *tableMeta, fields []realtime.Field) (string, []any, error) {
		var b strings.Builder
		var args []any
		err := tm.Where(&b, &args, 0, fields, tm)
		return b.String(), args, err
	}
	w, args, err := where(tm, []realtime.Field{{Name: "NAME LIKE", Value: `a\_%;`}, {Name: "port !=", Value: "5"}})
	if err != nil || w != ` WHERE "name" LIKE ? ESCAPE '\' AND "port" <> ?` || len(args) != 2 || args[0] != `a\_%^3B` {
		t.Errorf("where(pg) = %q %q %v", w, args, err)
	}
	w, _, _ = where(newTableMeta(my, "sippeers", "sippeers", cols), []realtime.Field{{Name: "name like", Value: "x"}, {Name: "session-timers", Value: "x"}})
	if w != " WHERE `name` LIKE ? ESCAPE '\\\\' AND `session-timers` = ?" {
		t.Errorf("where(mysql) = %q", w)
	}
	set, args, err := tm.Update(tm, []realtime.Field{{Name: "name", Value: "x"}}, []realtime.Field{{Name: "port", Value: ""}, {Name: "name", Value: ""}, {Name: "session-timers", Value: ""}})
	if err != nil || set != `UPDATE sippeers SET "port" = NULL, "name" = ?, "session-timers" = NULL WHERE "name" = ?` || len(args) != 2 {
		t.Errorf("update = %q %v %v", set, args, err)
	}
	ins, args, err := tm.Insert(tm, []realtime.Field{{Name: "name", Value: "x"}, {Name: "port", Value: ""}})
	if err != nil || ins != `INSERT INTO sippeers ("name", "port") VALUES (?, NULL)` || len(args) != 1 {
		t.Errorf("insert = %q %v %v", ins, args, err)
	}
	if _, _, err := tm.Update(tm, []realtime.Field{{Name: "name", Value: "x"}}, []realtime.Field{{Name: "port >", Value: "1"}}); err == nil {
		t.Error("update accepted an operator in SET")
	}
	if _, _, err := where(tm, []realtime.Field{{Name: "nosuch", Value: "1"}}); !errors.Is(err, realtime.ErrUnknownField) || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("unknown field: %v", err)
	}
	if _, _, err := where(tm, []realtime.Field{{Name: "port ; DROP TABLE x", Value: "1"}}); err == nil {
		t.Error("bad operator accepted")
	}
	for in, want := range map[string]string{"sippeers": "sippeers", "asterisk.sippeers": "asterisk.sippeers",
		"my-table": `"my-table"`, `a"b`: `"a""b"`, "1abc": `"1abc"`} {
		if got, _ := tableRef(pg, in); got != want {
			t.Errorf("tableRef(%q) = %q, want %q", in, got, want)
		}
	}
}

// HasConnection (extconfig.conf's check of a mapping) names sections case-insensitively,
// disabled ones included; without res_odbc.conf there is none.
func TestHasConnection(t *testing.T) {
	d := New(testLogger())
	if d.HasConnection("asterisk") {
		t.Error("unconfigured driver has [asterisk]")
	}
	d = newDriver(t, "[Asterisk]\ndsn => x\n[off]\nenabled => no\n")
	if !d.HasConnection("asterisk") || !d.HasConnection("off") || d.HasConnection("other") {
		t.Errorf("HasConnection: asterisk %v, off %v, other %v", d.HasConnection("asterisk"), d.HasConnection("off"), d.HasConnection("other"))
	}
}
