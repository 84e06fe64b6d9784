package odbc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/cli"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

func F(kv ...string) []realtime.Field {
	out := make([]realtime.Field, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, realtime.Field{Name: kv[i], Value: kv[i+1]})
	}
	return out
}

// peersDDL is a cut-down sippeers (as Asterisk's scripts create it, hyphenated columns and all)
// plus a table of other column types.
func peersDDL(tg target) string {
	if tg.name == "pgsql" {
		return `CREATE TYPE yes_no_values AS ENUM ('yes', 'no');
CREATE TABLE sippeers (id SERIAL PRIMARY KEY, name VARCHAR(40) NOT NULL UNIQUE, host VARCHAR(40), context VARCHAR(40),
  secret VARCHAR(40), port INTEGER, regseconds INTEGER, callerid VARCHAR(40), allow VARCHAR(200),
  "call-limit" INTEGER, "session-timers" VARCHAR(20), nat yes_no_values);
CREATE TABLE kinds (id SERIAL PRIMARY KEY, d DATE, ts TIMESTAMP, n NUMERIC(10,2), f DOUBLE PRECISION, b BOOLEAN, t TEXT)`
	}
	return "CREATE TABLE sippeers (id INTEGER NOT NULL AUTO_INCREMENT PRIMARY KEY, name VARCHAR(40) NOT NULL UNIQUE, host VARCHAR(40), context VARCHAR(40),\n" +
		"  secret VARCHAR(40), port INTEGER, regseconds INTEGER, callerid VARCHAR(40), allow VARCHAR(200),\n" +
		"  `call-limit` INTEGER, `session-timers` VARCHAR(20), nat ENUM('yes','no'));\n" +
		"CREATE TABLE kinds (id INTEGER NOT NULL AUTO_INCREMENT PRIMARY KEY, d DATE, ts DATETIME, n NUMERIC(10,2), f DOUBLE, b BOOLEAN, t TEXT)"
}

// setup makes a scratch area with the test tables and a driver connected to it as [asterisk].
func setup(t *testing.T, tg target, extra string) (*scratch, *Driver) {
	t.Helper()
	s := newScratch(t, tg)
	s.exec(t, peersDDL(tg))
	d := newDriver(t, fmt.Sprintf("[asterisk]\nconnstr => %s\nmax_connections => 4\nlogging => yes\n%s", confEscape(s.connStr), extra))
	return s, d
}

func forTargets(t *testing.T, f func(t *testing.T, tg target)) {
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) { f(t, tg) })
	}
}

func TestDialectAndIsolation(t *testing.T) {
	forTargets(t, func(t *testing.T, tg target) {
		s, d := setup(t, tg, "")
		c, _ := d.conn("asterisk")
		dia, err := c.ensureDialect(tctx(t))
		if err != nil {
			t.Fatal(err)
		}
		wantQuote, wantBS := byte('"'), false
		if tg.name == "mysql" {
			wantQuote, wantBS = '`', true
		}
		if dia.quote != wantQuote || dia.backslash != wantBS || dia.schemaExpr == "" {
			t.Errorf("dialect = %+v", dia)
		}
		// Both the driver's pool and the admin pool work inside the scratch area.
		var where string
		if err := s.admin.QueryRow("SELECT " + dia.schemaExpr).Scan(&where); err != nil || !strings.HasPrefix(where, "pleiades_odbc_") {
			t.Errorf("admin connection works in %q (%v)", where, err)
		}
		_, tm, err := c.table(tctx(t), "sippeers")
		if err != nil {
			t.Fatal(err)
		}
		if cl := tm.column("call-limit"); cl == nil || cl.dataType != "integer" && cl.dataType != "int" || !cl.nullable {
			t.Errorf("call-limit metadata: %+v", cl)
		}
		if cl := tm.column("NAME"); cl == nil || cl.length != 40 || cl.nullable {
			t.Errorf("name metadata: %+v", cl)
		}
	})
}

func TestCRUD(t *testing.T) {
	forTargets(t, func(t *testing.T, tg target) {
		_, d := setup(t, tg, "")
		ctx := tctx(t)
		n, err := d.Store(ctx, "asterisk", "sippeers", F("name", "alice", "secret", "pw", "context", "internal",
			"port", "5060", "call-limit", "2", "session-timers", "accept", "nat", "yes", "host", "dynamic"))
		if err != nil || n != 1 {
			t.Fatalf("Store = %d, %v", n, err)
		}
		r, err := d.Load(ctx, "asterisk", "sippeers", F("name", "alice"))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, f := range r {
			names = append(names, f.Name)
		}
		if !slices.Equal(names, []string{"id", "name", "host", "context", "secret", "port", "call-limit", "session-timers", "nat"}) {
			t.Errorf("Load = %v", r)
		}
		if v, _ := r.Get("call-limit"); v != "2" {
			t.Errorf("call-limit = %q", v)
		}
		// Empty value into nullable integer and enum columns: NULL, left out on read.
		if n, err := d.Update(ctx, "asterisk", "sippeers", "name", "alice", F("port", "", "nat", "", "call-limit", "", "host", "")); err != nil || n != 1 {
			t.Fatalf("Update(blank) = %d, %v", n, err)
		}
		r, _ = d.Load(ctx, "asterisk", "sippeers", F("name", "alice"))
		for _, c := range []string{"port", "nat", "call-limit", "host"} {
			if v, ok := r.Get(c); ok {
				t.Errorf("%s = %q after blanking", c, v)
			}
		}
		if n, err := d.Store(ctx, "asterisk", "sippeers", F("name", "bob", "regseconds", "", "nat", "")); err != nil || n != 1 {
			t.Fatalf("Store(blank int) = %d, %v", n, err)
		}
		if n, err := d.Destroy(ctx, "asterisk", "sippeers", "name", "bob", F("regseconds >", "5")); err != nil || n != 0 {
			t.Errorf("Destroy(NULL regseconds > 5) = %d, %v", n, err)
		}
		if n, err := d.Destroy(ctx, "asterisk", "sippeers", "name", "bob", nil); err != nil || n != 1 {
			t.Errorf("Destroy = %d, %v", n, err)
		}
		if _, err := d.Load(ctx, "asterisk", "sippeers", F("name", "bob")); !errors.Is(err, realtime.ErrNotFound) {
			t.Errorf("Load(destroyed) = %v", err)
		}
	})
}

func TestValuesRoundTrip(t *testing.T) {
	forTargets(t, func(t *testing.T, tg target) {
		_, d := setup(t, tg, "")
		ctx := tctx(t)
		for i, v := range []string{`'; DROP TABLE sippeers; --`, `O'Brien "q" \ \\`, `Ünïcødé 日本 😀`, `a;b^c`, `50% _x_`, "\t\n"} {
			name := fmt.Sprintf("v%d", i)
			if _, err := d.Store(ctx, "asterisk", "sippeers", F("name", name, "callerid", v)); err != nil {
				t.Fatalf("Store(%q): %v", v, err)
			}
			r, err := d.Load(ctx, "asterisk", "sippeers", F("callerid", v))
			if err != nil {
				t.Fatalf("Load(callerid=%q): %v", v, err)
			}
			if got, _ := r.Get("callerid"); got != v {
				t.Errorf("callerid = %q, want %q", got, v)
			}
			if got, _ := r.Get("name"); got != name {
				t.Errorf("name = %q, want %q", got, name)
			}
		}
		rows, err := d.LoadMulti(ctx, "asterisk", "sippeers", F("name LIKE", "v%"))
		if err != nil || len(rows) != 6 {
			t.Errorf("LoadMulti = %d rows, %v (table intact?)", len(rows), err)
		}
	})
}

// TestLikeLiterals checks that `\_` and `\%` match only a literal '_' / '%', for every way of
// setting backslash_is_escape that is right for the database.
func TestLikeLiterals(t *testing.T) {
	forTargets(t, func(t *testing.T, tg target) {
		settings := map[string]string{"auto": ""}
		if tg.name == "pgsql" {
			settings["no"] = "backslash_is_escape => no\n"
		} else {
			settings["yes"] = "backslash_is_escape => yes\n"
		}
		for label, extra := range settings {
			t.Run(label, func(t *testing.T) {
				_, d := setup(t, tg, extra)
				ctx := tctx(t)
				for _, n := range []string{"a_b", "axb", "a%b", "ayb", `a\b`} {
					if _, err := d.Store(ctx, "asterisk", "sippeers", F("name", n, "context", "like")); err != nil {
						t.Fatal(err)
					}
				}
				for pat, want := range map[string][]string{
					`a\_b`: {"a_b"}, `a_b`: {"a%b", `a\b`, "a_b", "axb", "ayb"}, `a\%b`: {"a%b"},
					`a\\b`: {`a\b`}, `%\_%`: {"a_b"},
				} {
					rows, err := d.LoadMulti(ctx, "asterisk", "sippeers", F("name LIKE", pat, "context", "like"))
					if err != nil {
						t.Fatalf("LIKE %s: %v", pat, err)
					}
					var got []string
					for _, r := range rows {
						v, _ := r.Get("name")
						got = append(got, v)
					}
					slices.Sort(got)
					w := slices.Clone(want)
					slices.Sort(w)
					if !slices.Equal(got, w) {
						t.Errorf("LIKE %s = %v, want %v", pat, got, w)
					}
				}
			})
		}
		// The wrong setting is the database's error, not a silent mismatch.
		wrong := "backslash_is_escape => yes\n"
		if tg.name == "mysql" {
			wrong = "backslash_is_escape => no\n"
		}
		_, d := setup(t, tg, wrong)
		if _, err := d.LoadMulti(tctx(t), "asterisk", "sippeers", F("name LIKE", `a\_b`)); err == nil || errors.Is(err, realtime.ErrUnavailable) {
			t.Errorf("wrong backslash_is_escape: %v, want a query error", err)
		}
	})
}

func TestColumnKinds(t *testing.T) {
	forTargets(t, func(t *testing.T, tg target) {
		s, d := setup(t, tg, "")
		s.exec(t, "INSERT INTO kinds (d, ts, n, f, b, t) VALUES ('2024-02-29', '2024-02-29 13:14:15', 12.5, 0.25, TRUE, 'x')")
		r, err := d.Load(tctx(t), "asterisk", "kinds", F("t", "x"))
		if err != nil {
			t.Fatal(err)
		}
		for col, want := range map[string]string{"d": "2024-02-29", "ts": "2024-02-29 13:14:15", "n": "12.5", "f": "0.25", "b": "1"} {
			if got, _ := r.Get(col); got != want {
				t.Errorf("%s = %q, want %q", col, got, want)
			}
		}
		if _, err := d.Load(tctx(t), "asterisk", "kinds", F("d >=", "2024-01-01", "n >", "12")); err != nil {
			t.Errorf("compare date and numeric: %v", err)
		}
	})
}

func TestUnknownFieldNotSent(t *testing.T) {
	forTargets(t, func(t *testing.T, tg target) {
		_, d := setup(t, tg, "")
		ctx := tctx(t)
		if _, err := d.Load(ctx, "asterisk", "sippeers", F("name", "x")); !errors.Is(err, realtime.ErrNotFound) {
			t.Fatal(err)
		}
		c, _ := d.conn("asterisk")
		before := c.queries.Load()
		for _, call := range []func() error{
			func() error { _, err := d.Load(ctx, "asterisk", "sippeers", F("name", "x", "bogus", "y")); return err },
			func() error { _, err := d.Store(ctx, "asterisk", "sippeers", F("name", "x", "bogus", "y")); return err },
			func() error {
				_, err := d.Update(ctx, "asterisk", "sippeers", "name", "x", F("bogus", "y"))
				return err
			},
			func() error { _, err := d.Destroy(ctx, "asterisk", "sippeers", "bogus", "x", nil); return err },
		} {
			if err := call(); !errors.Is(err, realtime.ErrUnknownField) || !strings.Contains(err.Error(), "bogus") {
				t.Errorf("err = %v, want ErrUnknownField naming bogus", err)
			}
		}
		if after := c.queries.Load(); after != before {
			t.Errorf("%d statements sent for unknown fields", after-before)
		}
	})
}

func TestMissingTable(t *testing.T) {
	forTargets(t, func(t *testing.T, tg target) {
		s, d := setup(t, tg, "")
		_, err := d.Load(tctx(t), "asterisk", "nosuchtable", F("name", "x"))
		if err == nil || errors.Is(err, realtime.ErrUnavailable) || errors.Is(err, realtime.ErrNotFound) {
			t.Fatalf("missing table: %v", err)
		}
		// Not cached: once it exists it works.
		s.exec(t, "CREATE TABLE nosuchtable (name VARCHAR(10))")
		if _, err := d.Load(tctx(t), "asterisk", "nosuchtable", F("name", "x")); !errors.Is(err, realtime.ErrNotFound) {
			t.Errorf("after CREATE: %v", err)
		}
	})
}

// unreachableConnStr points the target's driver at a closed port.
func unreachableConnStr(tg target) string {
	return setConnKey(tg.connStr(), "1", "Port")
}

func TestUnreachable(t *testing.T) {
	forTargets(t, func(t *testing.T, tg target) {
		newScratch(t, tg) // skip (or fail in CI) when the real server is not there either
		d := newDriver(t, fmt.Sprintf("[down]\nconnstr => %s\nconnect_timeout => 5\n", confEscape(unreachableConnStr(tg))))
		start := time.Now()
		_, err := d.Load(tctx(t), "down", "sippeers", F("name", "x"))
		if !errors.Is(err, realtime.ErrUnavailable) {
			t.Fatalf("err = %v, want ErrUnavailable", err)
		}
		if time.Since(start) > 5*time.Second {
			t.Errorf("took %s", time.Since(start))
		}
		_, err = d.Store(tctx(t), "down", "sippeers", F("name", "x"))
		if !errors.Is(err, realtime.ErrUnavailable) {
			t.Errorf("Store err = %v, want ErrUnavailable", err)
		}
	})
}

func TestNegativeConnectionCache(t *testing.T) {
	tg := targets[0]
	newScratch(t, tg)
	now := time.Now()
	timeNow = func() time.Time { return now }
	t.Cleanup(func() { timeNow = time.Now })

	d := newDriver(t, fmt.Sprintf("[down]\nconnstr => %s\nnegative_connection_cache => 60\nmax_connections => 4\n", confEscape(unreachableConnStr(tg))))
	c, _ := d.conn("down")
	for i := 0; i < 10; i++ {
		if _, err := d.Load(tctx(t), "down", "sippeers", F("name", "x")); !errors.Is(err, realtime.ErrUnavailable) {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if got := c.attempts.Load(); got != 1 {
		t.Errorf("%d connect attempts within the negative cache, want 1", got)
	}
	if got := c.fastFailures.Load(); got != 9 {
		t.Errorf("%d fast failures, want 9", got)
	}
	now = now.Add(61 * time.Second)
	_, err := d.Load(tctx(t), "down", "sippeers", F("name", "x"))
	if !errors.Is(err, realtime.ErrUnavailable) || c.attempts.Load() != 2 {
		t.Errorf("after the cache expired: %v, %d attempts (want 2)", err, c.attempts.Load())
	}

	// negative_connection_cache => 0: every call tries.
	d0 := newDriver(t, fmt.Sprintf("[down]\nconnstr => %s\nnegative_connection_cache => 0\n", confEscape(unreachableConnStr(tg))))
	c0, _ := d0.conn("down")
	for i := 0; i < 3; i++ {
		d0.Load(tctx(t), "down", "sippeers", F("name", "x"))
	}
	if got := c0.attempts.Load(); got != 3 {
		t.Errorf("negative_connection_cache=0: %d attempts, want 3", got)
	}

	// odbc show tells.
	var out bytes.Buffer
	d.writeShow(&out, "down")
	for _, want := range []string{"Last fail connection attempt: ", "Connect attempts: 2 (failed: 2)", "Last error: ", "Negative connection cache until: "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("odbc show lacks %q:\n%s", want, out.String())
		}
	}
}

func TestConnectTimeout(t *testing.T) {
	forTargets(t, func(t *testing.T, tg target) {
		newScratch(t, tg)
		// A server that accepts TCP connections and never says a word: the ODBC driver would
		// wait for the handshake for as long as the OS lets it.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var held []net.Conn
		var mu sync.Mutex
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				held = append(held, c)
				mu.Unlock()
			}
		}()
		t.Cleanup(func() {
			ln.Close()
			mu.Lock()
			for _, c := range held {
				c.Close()
			}
			mu.Unlock()
		})
		port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		cs := setConnKey(tg.connStr(), port, "Port")
		d := newDriver(t, fmt.Sprintf("[slow]\nconnstr => %s\nconnect_timeout => 1\n", confEscape(cs)))
		start := time.Now()
		_, err = d.Load(tctx(t), "slow", "sippeers", F("name", "x"))
		if !errors.Is(err, realtime.ErrUnavailable) || !strings.Contains(err.Error(), "connect_timeout") {
			t.Fatalf("err = %v, want ErrUnavailable after connect_timeout", err)
		}
		if el := time.Since(start); el < 900*time.Millisecond || el > 3*time.Second {
			t.Errorf("connect_timeout=1 took %s", el)
		}
	})
}

func TestReconnectAfterServerDropsConnections(t *testing.T) {
	forTargets(t, func(t *testing.T, tg target) {
		s, d := setup(t, tg, "max_connections => 1\n")
		ctx := tctx(t)
		if _, err := d.Store(ctx, "asterisk", "sippeers", F("name", "alice")); err != nil {
			t.Fatal(err)
		}
		// Kill the driver's connection(s) from the admin connection.
		if tg.name == "pgsql" {
			// max_connections=1: the pool's one connection.
			c, _ := d.conn("asterisk")
			var pid int64
			if err := c.db.QueryRow("SELECT pg_backend_pid()").Scan(&pid); err != nil {
				t.Fatal(err)
			}
			s.exec(t, fmt.Sprintf("SELECT pg_terminate_backend(%d)", pid))
		} else {
			rows, err := s.admin.Query("SELECT id FROM information_schema.processlist WHERE db = DATABASE() AND id <> CONNECTION_ID()")
			if err != nil {
				t.Fatal(err)
			}
			var ids []int64
			for rows.Next() {
				var id int64
				rows.Scan(&id)
				ids = append(ids, id)
			}
			rows.Close()
			for _, id := range ids {
				s.admin.Exec(fmt.Sprintf("KILL %d", id))
			}
		}
		// The first call may see the broken connection (ErrUnavailable); then it recovers.
		var err error
		for i := 0; i < 3; i++ {
			if _, err = d.Load(ctx, "asterisk", "sippeers", F("name", "alice")); err == nil {
				break
			}
			if !errors.Is(err, realtime.ErrUnavailable) {
				t.Fatalf("after the server dropped the connection: %v, want ErrUnavailable or success", err)
			}
		}
		if err != nil {
			t.Errorf("did not recover: %v", err)
		}
		if c, _ := d.conn("asterisk"); c.attempts.Load() < 2 {
			t.Errorf("%d connect attempts: the connection was not dropped and remade", c.attempts.Load())
		}
	})
}

func TestPreConnectAndShow(t *testing.T) {
	forTargets(t, func(t *testing.T, tg target) {
		s := newScratch(t, tg)
		s.exec(t, peersDDL(tg))
		d := newDriver(t, fmt.Sprintf("[asterisk]\nconnstr => %s\npre-connect => yes\nmax_connections => 5\nlogging => yes\n[quiet]\nconnstr => %s\n",
			confEscape(s.connStr), confEscape(s.connStr)))
		c, _ := d.conn("asterisk")
		if st := c.stats(); st.open != 1 || st.attempts != 1 {
			t.Errorf("after pre-connect: %d open, %d attempts", st.open, st.attempts)
		}
		if _, err := d.Load(tctx(t), "asterisk", "sippeers", F("name", "x")); !errors.Is(err, realtime.ErrNotFound) {
			t.Fatal(err)
		}
		reg := cli.NewRegistry()
		reg.MustRegister(d.Commands()...)
		var out bytes.Buffer
		if err := reg.Run(context.Background(), "odbc show asterisk", &out, nil); err != nil {
			t.Fatal(err)
		}
		re := regexp.MustCompile(`^\nODBC DSN Settings\n-----------------\n\n  Name:   asterisk\n  DSN:    Driver=[^\n]+\n` +
			`    Number of active connections: 1 \(out of 5\)\n    Logging: Enabled\n    Number of prepares executed: \d+\n` +
			`    Number of queries executed: \d+\n    Longest running SQL query: [^\n]+ \(\d+ milliseconds\)\n` +
			`    Connections in use: 0\n    Connect attempts: 1 \(failed: 0\)\n\n$`)
		if !re.MatchString(out.String()) {
			t.Errorf("odbc show asterisk:\n%q", out.String())
		}
		out.Reset()
		reg.Run(context.Background(), "odbc show", &out, nil)
		if !strings.Contains(out.String(), "  Name:   quiet\n") || !strings.Contains(out.String(), "    Number of active connections: 0 (out of 1)\n    Logging: Disabled\n") {
			t.Errorf("odbc show:\n%s", out.String())
		}
		out.Reset()
		reg.Run(context.Background(), "odbc show all", &out, nil)
		if strings.Count(out.String(), "  Name:") != 2 {
			t.Errorf("odbc show all:\n%s", out.String())
		}
		if got := reg.Complete("odbc show q"); !slices.Equal(got, []string{"quiet"}) {
			t.Errorf("complete = %v", got)
		}
	})
}
