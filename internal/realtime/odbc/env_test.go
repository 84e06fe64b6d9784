package odbc

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/realtime/realtimetest"
	"github.com/pleiades-pbx/pleiades/test/testenv"
)

// Connection strings of the test servers (DSN-less: no odbc.ini needed). The driver names are
// the ones Debian's odbc-postgresql and odbc-mariadb packages register in /etc/odbcinst.ini.
const (
	defaultPgConnStr    = "Driver=PostgreSQL Unicode;Server=127.0.0.1;Port=5432;Database=test;Uid=postgres;"
	defaultMySQLConnStr = "Driver=MariaDB Unicode;Server=127.0.0.1;Port=3306;Database=test;User=root;"
)

// target is one ODBC backend the tests run against.
type target struct {
	name    string // "pgsql" / "mysql"
	envVar  string
	def     string
	dialect string // realtimetest dialect
}

var targets = []target{
	{"pgsql", "PLEIADES_TEST_ODBC_PGSQL", defaultPgConnStr, "postgres"},
	{"mysql", "PLEIADES_TEST_ODBC_MYSQL", defaultMySQLConnStr, "mysql"},
}

func (tg target) connStr() string {
	cs := tg.def
	if v := os.Getenv(tg.envVar); v != "" {
		cs = v
	}
	if tg.name == "pgsql" && !strings.Contains(strings.ToLower(cs), "commlog") {
		// odbcinst.ini of Debian's odbc-postgresql sets CommLog=1: a log file in /tmp per process.
		cs = setConnKey(cs, "0", "CommLog")
	}
	return cs
}

func randName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// setConnKey sets (or appends) one attribute of a connection string; keys are alternative
// spellings of the same attribute.
func setConnKey(cs, value string, keys ...string) string {
	parts := splitConnStr(strings.TrimSpace(cs))
	var out []string
	for _, p := range parts {
		k, _, _ := strings.Cut(p, "=")
		drop := strings.TrimSpace(p) == ""
		for _, key := range keys {
			if strings.EqualFold(strings.TrimSpace(k), key) {
				drop = true
			}
		}
		if !drop {
			out = append(out, p)
		}
	}
	out = append(out, keys[0]+"="+value)
	return strings.Join(out, ";") + ";"
}

// scratch is a private schema (PostgreSQL) or database (MariaDB) on a test server.
type scratch struct {
	tg      target
	connStr string  // connection string that works inside the scratch area
	admin   *sql.DB // a plain database/sql pool on connStr
}

// newScratch creates the scratch area and drops it when the test ends.
func newScratch(t testing.TB, tg target) *scratch {
	t.Helper()
	base := tg.connStr()
	boot, err := sql.Open("odbc", base)
	if err != nil {
		t.Fatal(err)
	}
	defer boot.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := boot.PingContext(ctx); err != nil {
		testenv.Unavailable(t, "%s test server unreachable (%s=%q): %v", tg.name, tg.envVar, base, err)
	}
	s := &scratch{tg: tg}
	var drop string
	switch tg.name {
	case "pgsql":
		schema := randName("pleiades_odbc_")
		if _, err := boot.Exec("CREATE SCHEMA " + schema); err != nil {
			t.Fatal(err)
		}
		drop = "DROP SCHEMA " + schema + " CASCADE"
		// psqlODBC runs ConnSettings on every new connection: every pooled connection works in
		// the scratch schema.
		s.connStr = setConnKey(base, "{set search_path to "+schema+"}", "ConnSettings")
	default:
		db := randName("pleiades_odbc_")
		if _, err := boot.Exec("CREATE DATABASE " + db + " CHARACTER SET utf8mb4"); err != nil {
			t.Fatal(err)
		}
		drop = "DROP DATABASE " + db
		s.connStr = setConnKey(base, db, "Database", "DB")
	}
	t.Cleanup(func() {
		d, err := sql.Open("odbc", base)
		if err != nil {
			t.Error(err)
			return
		}
		defer d.Close()
		if _, err := d.Exec(drop); err != nil {
			t.Errorf("%s: %v", drop, err)
		}
	})
	s.admin, err = sql.Open("odbc", s.connStr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.admin.Close() })
	return s
}

// exec runs SQL statements (separated by ";" outside quotes) in the scratch area.
func (s *scratch) exec(t testing.TB, script string) {
	t.Helper()
	for _, stmt := range splitSQL(script) {
		if _, err := s.admin.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
}

// splitSQL splits a script on ';' outside quotes and drops "--" comment lines.
func splitSQL(script string) []string {
	var out []string
	var cur strings.Builder
	var quote byte
	for i := 0; i < len(script); i++ {
		c := script[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"' || c == '`':
			quote = c
		case c == '-' && i+1 < len(script) && script[i+1] == '-':
			for i < len(script) && script[i] != '\n' {
				i++
			}
			continue
		case c == ';':
			if s := strings.TrimSpace(cur.String()); s != "" {
				out = append(out, s)
			}
			cur.Reset()
			continue
		}
		cur.WriteByte(c)
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

// confEscape writes a value for parseConf (and Asterisk's parser): ';' as "\;".
func confEscape(v string) string { return strings.ReplaceAll(v, ";", `\;`) }

// quietLogger discards everything (set ODBC_TEST_LOG=1 to see the driver's log).
func testLogger() *slog.Logger {
	if os.Getenv("ODBC_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newDriver configures a driver from res_odbc.conf text and closes it when the test ends.
func newDriver(t testing.TB, text string) *Driver {
	t.Helper()
	d := New(testLogger())
	if err := d.Configure(context.Background(), realtimetest.Conf("res_odbc.conf", text)); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func tctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
