package funcodbc

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/dialplan"
	"github.com/pleiades-pbx/pleiades/internal/dialplan/rtswitch/rttest"
)

func tctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func parse(t testing.TB, text string) *conf.Config {
	t.Helper()
	cfg, err := conf.Parse(ConfigFile, []byte(text), conf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// setup makes a presence table on the backend and a module with func_odbc.conf text, where
// DSN stands for the backend's connection.
func setup(t *testing.T, b *rttest.Backend, dsn, text string) *Module {
	t.Helper()
	b.Exec(t, "CREATE TABLE presence (id VARCHAR(40) PRIMARY KEY, location VARCHAR(80), note VARCHAR(80))")
	m := New(rttest.Log(t), b.Engine)
	e := dialplan.New(rttest.Log(t), nil)
	t.Cleanup(e.Close)
	m.Register(e)
	t.Cleanup(m.Close)
	if err := m.Configure(parse(t, strings.ReplaceAll(text, "DSN", dsn))); err != nil {
		t.Fatal(err)
	}
	return m
}

const sample = `
[general]
single_db_connection=no

[PRESENCE]
dsn=DSN
readsql=SELECT location FROM presence WHERE id='${SQL_ESC(${ARG1})}'
writesql=UPDATE presence SET location='${SQL_ESC(${VAL1})}' WHERE id='${SQL_ESC(${ARG1})}'
insertsql=INSERT INTO presence (id, location) VALUES ('${SQL_ESC(${ARG1})}', '${SQL_ESC(${VAL1})}')
synopsis=Retrieve and update presence

[ROW]
dsn=DSN
readsql=SELECT id, location, note FROM presence WHERE id='${SQL_ESC(${ARG1})}'
minargs=1

[LIST]
dsn=DSN
mode=multirow
readsql=SELECT id, location FROM presence ORDER BY id

[FIRST2]
prefix=MY
dsn=DSN
rowlimit=2
readsql=SELECT id FROM presence ORDER BY id

[COUNT]
dsn=DSN
readsql=SELECT COUNT(*) FROM presence WHERE location=${ARG1}
`

func backends(t *testing.T, fn func(t *testing.T, b *rttest.Backend, dsn string)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, rttest.SQLite(t), "asterisk") })
	t.Run("sqlite-explicit", func(t *testing.T) { fn(t, rttest.SQLite(t), "sqlite3:asterisk") })
	t.Run("pgsql", func(t *testing.T) { fn(t, rttest.Postgres(t), "general") })
	t.Run("mysql", func(t *testing.T) { fn(t, rttest.MySQL(t), "mysql:scratch") })
}

func TestReadWriteInsertMultirow(t *testing.T) {
	backends(t, func(t *testing.T, b *rttest.Backend, dsn string) {
		c := tctx(t)
		m := setup(t, b, dsn, sample)
		ch := m.e.NewChannel("Test/1", "x", "s", 1)
		ch.SetVar("ARG1", "outer")
		read := func(call string) string {
			t.Helper()
			name, args, _ := strings.Cut(call, "(")
			v, err := ch.ReadFunction(c, name, strings.TrimSuffix(args, ")"))
			if err != nil {
				t.Fatalf("%s: %v", call, err)
			}
			return v
		}
		vr := func(n string) string { v, _ := ch.Var(n); return v }

		if v := read("ODBC_PRESENCE(alice)"); v != "" || vr("ODBCSTATUS") != "NODATA" || vr("ODBCROWS") != "0" {
			t.Errorf("no row: %q %s %s", v, vr("ODBCSTATUS"), vr("ODBCROWS"))
		}
		// Write: UPDATE changes nothing, so insertsql runs.
		if err := ch.WriteFunction(c, "ODBC_PRESENCE(alice)", "home"); err != nil {
			t.Fatal(err)
		}
		if vr("ODBCSTATUS") != "FAILOVER" || vr("ODBCROWS") != "1" {
			t.Errorf("insert: status %s rows %s", vr("ODBCSTATUS"), vr("ODBCROWS"))
		}
		if err := ch.WriteFunction(c, "ODBC_PRESENCE(alice)", "o'clock, office"); err != nil {
			t.Fatal(err)
		}
		if vr("ODBCSTATUS") != "SUCCESS" || vr("ODBCROWS") != "1" {
			t.Errorf("update: status %s rows %s", vr("ODBCSTATUS"), vr("ODBCROWS"))
		}
		// VAL1 stopped at the comma; SQL_ESC kept the quote harmless.
		if v := read("ODBC_PRESENCE(alice)"); v != "o'clock" || vr("ODBCSTATUS") != "SUCCESS" || vr("ODBCROWS") != "1" {
			t.Errorf("read back %q %s %s", v, vr("ODBCSTATUS"), vr("ODBCROWS"))
		}
		// ARGn were restored.
		if vr("ARG1") != "outer" || vr("VAL1") != "" || vr("VALUE") != "" || vr("ARGC") != "" {
			t.Errorf("ARG1=%q VAL1=%q VALUE=%q ARGC=%q after the calls", vr("ARG1"), vr("VAL1"), vr("VALUE"), vr("ARGC"))
		}
		if err := ch.WriteFunction(c, "ODBC_PRESENCE(bob)", `a\b,c`); err != nil {
			t.Fatal(err)
		}
		if err := ch.WriteFunction(c, "ODBC_PRESENCE(carol)", `"x, y"`); err != nil {
			t.Fatal(err)
		}
		// Commas and backslashes in a column are escaped; NULL is empty.
		if v := read("ODBC_ROW(carol)"); v != `carol,x\, y,` {
			t.Errorf("ODBC_ROW(carol) = %q", v)
		}
		if f := vr("~ODBCFIELDS~"); f != "id,location,note" {
			t.Errorf("~ODBCFIELDS~ = %q", f)
		}
		// The value is split like arguments: the backslash escaped the 'b' and is gone.
		if v := read("ODBC_ROW(bob)"); v != `bob,ab,` {
			t.Errorf("ODBC_ROW(bob) = %q", v)
		}
		// minargs.
		if _, err := ch.ReadFunction(c, "ODBC_ROW", ""); err == nil {
			t.Error("ODBC_ROW() without its argument: no error")
		}

		// Multirow: an id, ODBCROWS, then ODBC_FETCH until FAILURE.
		id := read("ODBC_LIST()")
		if id == "" || vr("ODBCROWS") != "3" {
			t.Fatalf("ODBC_LIST() = %q, ODBCROWS %s", id, vr("ODBCROWS"))
		}
		var got []string
		for i := 0; i < 10; i++ {
			r := read("ODBC_FETCH(" + id + ")")
			if vr("ODBC_FETCH_STATUS") != "SUCCESS" {
				break
			}
			got = append(got, r)
		}
		if strings.Join(got, "|") != `alice,o'clock|bob,ab|carol,x\, y` {
			t.Errorf("fetched %q", got)
		}
		id2 := read("ODBC_LIST()")
		if id2 == id {
			t.Error("same id twice")
		}
		read("ODBC_FETCH(" + id2 + ")")
		if app := m.e.LookupApp("ODBCFinish"); app == nil {
			t.Fatal("ODBCFinish not registered")
		} else if err := app.Exec(c, ch, id2); err != nil {
			t.Fatal(err)
		}
		if read("ODBC_FETCH("+id2+")") != "" || vr("ODBC_FETCH_STATUS") != "FAILURE" {
			t.Error("rows left after ODBCFinish")
		}
		// rowlimit without multirow: the first row, the next through ODBC_FETCH(function name).
		if v := read("MY_FIRST2()"); v != "alice" || vr("ODBCROWS") != "2" {
			t.Errorf("MY_FIRST2() = %q rows %s", v, vr("ODBCROWS"))
		}
		if v := read("ODBC_FETCH(MY_FIRST2)"); v != "bob" {
			t.Errorf("ODBC_FETCH(MY_FIRST2) = %q", v)
		}
		if read("ODBC_FETCH(MY_FIRST2)"); vr("ODBC_FETCH_STATUS") != "FAILURE" {
			t.Error("rowlimit=2 gave a third row")
		}
		// SQL error: FAILURE, -1, an error.
		if _, err := ch.ReadFunction(c, "ODBC_COUNT", "no such column"); err == nil || vr("ODBCSTATUS") != "FAILURE" || vr("ODBCROWS") != "-1" {
			t.Errorf("SQL error: %v %s %s", err, vr("ODBCSTATUS"), vr("ODBCROWS"))
		}
		if v := read("ODBC_COUNT('home')"); v != "0" {
			t.Errorf("ODBC_COUNT('home') = %q", v)
		}
		if err := ch.WriteFunction(c, "ODBC_LIST()", "x"); err == nil {
			t.Error("write to a read-only function: no error")
		}
	})
}

func TestDialplan(t *testing.T) {
	b := rttest.SQLite(t)
	e := setup(t, b, "asterisk", sample).e
	cfg := parse(t, `
[t]
exten => s,1,Set(ODBC_PRESENCE(${CALLERID(num)})=${EXTEN}-room)
 same => n,Set(ODBC_PRESENCE(o'brien)=pub)
 same => n,Set(ID=${ODBC_LIST()})
 same => n,Set(N=0)
 same => n,While($[${N} < 10])
 same => n,Set(ROW=${ODBC_FETCH(${ID})})
 same => n,ExecIf($["${ODBC_FETCH_STATUS}" = "FAILURE"]?ExitWhile())
 same => n,Set(ALL=${ALL}[${ROW}])
 same => n,Set(N=$[${N} + 1])
 same => n,EndWhile()
 same => n,ODBCFinish(${ID})
 same => n,Set(LOC=${ODBC_PRESENCE(o'brien)})
 same => n,Set(ESC=${SQL_ESC(it's)}|${SQL_ESC_BACKSLASHES(a\\b)})
`)
	if err := e.Load(cfg); err != nil {
		t.Fatal(err)
	}
	ch := dialplan.NewChannel("Test/1", "t", "s", 1)
	ch.SetCallerID("200", "")
	if err := e.Run(tctx(t), ch); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"ALL": "[200,s-room][o'brien,pub]", "N": "2", "LOC": "pub", "ESC": `it''s|a\\\\b`} {
		if v, _ := ch.Var(name); v != want {
			t.Errorf("%s = %q, want %q", name, v, want)
		}
	}
}

func TestResultsFreedWithChannel(t *testing.T) {
	b := rttest.SQLite(t)
	m := setup(t, b, "asterisk", sample)
	b.Exec(t, "INSERT INTO presence (id, location) VALUES ('a', 'b')")
	c := tctx(t)
	func() {
		ch := m.e.NewChannel("Test/1", "x", "s", 1)
		if _, err := ch.ReadFunction(c, "ODBC_LIST", ""); err != nil {
			t.Fatal(err)
		}
		if n := m.results.pending(ch); n != 1 {
			t.Fatalf("pending = %d", n)
		}
	}()
	for i := 0; i < 50; i++ {
		runtime.GC()
		m.results.mu.Lock()
		n := len(m.results.m)
		m.results.mu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Error("results of a dropped channel were never freed")
}

func TestConfigErrorsAndReload(t *testing.T) {
	b := rttest.SQLite(t)
	m := setup(t, b, "asterisk", sample)
	before := m.Functions()
	for _, tc := range []struct{ text, want string }{
		{"[A]\nreadsql=SELECT 1\n", "func_odbc.conf:2: [A] readsql: there is SQL, but no connection"},
		{"[A]\ndsn=nosuch\nreadsql=SELECT 1\n", `func_odbc.conf:2: [A] dsn: no connection "nosuch"`},
		{"[A]\ndsn=sqlite3:nosuch\nreadsql=SELECT 1\n", `func_odbc.conf:2: [A] dsn: sqlite3:nosuch: driver sqlite3 has no connection "nosuch"`},
		{"[A]\ndsn=asterisk\n", "func_odbc.conf:1: [A]: neither readsql nor writesql"},
		{"[A]\ndsn=asterisk\nreadsql=SELECT 1\nmode=multi\n", `func_odbc.conf:4: [A] mode: "multi": want multirow`},
		{"[A]\ndsn=asterisk\nreadsql=SELECT 1\nrowlimit=x\n", `func_odbc.conf:4: [A] rowlimit: "x" is not a number`},
		{"[A]\ndsn=asterisk\nreadsql=SELECT 1\nminargs=-1\n", `func_odbc.conf:4: [A] minargs`},
		{"[A]\ndsn=asterisk\nreadsql=SELECT 1\nbogus=1\n", `func_odbc.conf:4: [A] bogus: unknown option`},
		{"[A]\ndsn=asterisk\nreadsql=SELECT 1\ninsertsql=INSERT\n", `func_odbc.conf:4: [A] insertsql: insertsql without writesql`},
		{"[A]\ndsn=asterisk\nreadsql=SELECT 1\n[A]\ndsn=asterisk\nreadsql=SELECT 2\n", "func_odbc.conf:4: [A]: function ODBC_A is already defined at func_odbc.conf:1"},
		{"[FETCH]\ndsn=asterisk\nreadsql=SELECT 1\n", "func_odbc.conf:1: [FETCH]: a function named ODBC_FETCH already exists"},
		{"[X]\nprefix=SQL\ndsn=asterisk\nreadsql=SELECT 1\n[ESC]\nprefix=SQL\ndsn=asterisk\nreadsql=SELECT 1\n", "[ESC]: a function named SQL_ESC already exists"},
	} {
		err := m.Configure(parse(t, tc.text))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q:\n got %v\nwant %s", tc.text, err, tc.want)
		}
		if got := m.Functions(); fmt.Sprint(got) != fmt.Sprint(before) {
			t.Fatalf("a failed Configure changed the functions: %v", got)
		}
	}
	// A reload that drops functions unregisters them; a new one appears.
	if err := m.Configure(parse(t, "[PRESENCE]\ndsn=asterisk\nreadsql=SELECT 1\n[NEW]\nprefix=X\ndsn=asterisk\nreadsql=SELECT 2\n")); err != nil {
		t.Fatal(err)
	}
	if m.e.LookupFunction("ODBC_LIST") != nil || m.e.LookupFunction("MY_FIRST2") != nil {
		t.Error("dropped functions still registered")
	}
	if m.e.LookupFunction("X_NEW") == nil || m.e.LookupFunction("ODBC_PRESENCE") == nil {
		t.Error("functions missing after reload")
	}
	if f := m.e.LookupFunction("ODBC_PRESENCE"); f.Write != nil {
		t.Error("ODBC_PRESENCE kept its writesql")
	}
	m.Close()
	if m.e.LookupFunction("X_NEW") != nil || m.e.LookupFunction("SQL_ESC") != nil {
		t.Error("Close left functions registered")
	}
}
