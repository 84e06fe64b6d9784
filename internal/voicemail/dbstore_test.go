package voicemail

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	my "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
	"github.com/pleiades-pbx/pleiades/internal/realtime/mysql"
	"github.com/pleiades-pbx/pleiades/internal/realtime/pgsql"
	"github.com/pleiades-pbx/pleiades/internal/realtime/sqlite"
	"github.com/pleiades-pbx/pleiades/test/testenv"
)

// Asterisk's voicemail_messages (postgresql_voicemail.sql), with the blob type of each
// database.
const messagesTable = `CREATE TABLE voicemail_messages (
    dir VARCHAR(255) NOT NULL,
    msgnum INTEGER NOT NULL,
    context VARCHAR(80),
    macrocontext VARCHAR(80),
    callerid VARCHAR(80),
    origtime INTEGER,
    duration INTEGER,
    recording %s,
    flag VARCHAR(30),
    category VARCHAR(30),
    mailboxuser VARCHAR(30),
    mailboxcontext VARCHAR(30),
    msg_id VARCHAR(40),
    PRIMARY KEY (dir, msgnum)
)`

// configured returns a realtime engine with driver d configured from its file text.
func configured(t *testing.T, d realtime.Driver, file, text string) *realtime.Engine {
	t.Helper()
	rt := realtime.New(nil)
	rt.Register(d)
	ext, _ := conf.Parse("extconfig.conf", []byte("[settings]\n"), conf.Options{})
	err := rt.Configure(context.Background(), ext, func(f string) (*conf.Config, error) {
		if f == file {
			return conf.Parse(f, []byte(text), conf.Options{})
		}
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

func sqliteStore(t *testing.T) Store {
	t.Helper()
	db := filepath.Join(t.TempDir(), "vm.sqlite3")
	if err := sqlite.CreateDefaultSchema(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	rt := configured(t, sqlite.New(nil), "res_config_sqlite3.conf", fmt.Sprintf("[vm]\ndbfile => %s\n", db))
	q, err := rt.Querier("sqlite3")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Exec(context.Background(), "vm", fmt.Sprintf(messagesTable, "BLOB")); err != nil {
		t.Fatal(err)
	}
	s, err := NewDBStore(q, "sqlite3", "vm", "", "/var/spool/asterisk/voicemail")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDBStoreConformanceSQLite(t *testing.T) {
	conformance(t, sqliteStore)
}

const pgDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

func pgStore(t *testing.T) Store {
	t.Helper()
	dsn := pgDSN
	if v := os.Getenv("PLEIADES_TEST_PGSQL_DSN"); v != "" {
		dsn = v
	}
	cc, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		testenv.Unavailable(t, "PostgreSQL not reachable at %s: %v", dsn, err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "pleiades_vm_" + hex.EncodeToString(b)
	if _, err := c.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, "SET search_path = "+schema+"; "+fmt.Sprintf(messagesTable, "BYTEA")); err != nil {
		t.Fatal(err)
	}
	c.Close(ctx)
	t.Cleanup(func() {
		c, err := pgx.ConnectConfig(context.Background(), cc)
		if err == nil {
			c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			c.Close(context.Background())
		}
	})
	rt := configured(t, pgsql.New(nil), "res_pgsql.conf", fmt.Sprintf("[general]\ndbhost = %s\ndbport = %d\ndbname = %s\ndbuser = %s\nsearch_path = %s\n",
		cc.Host, cc.Port, cc.Database, cc.User, schema))
	q, err := rt.Querier("pgsql")
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewDBStore(q, "pgsql", "general", "voicemail_messages", "/var/spool/asterisk/voicemail")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDBStoreConformancePostgreSQL(t *testing.T) {
	conformance(t, pgStore)
}

// The rows are Asterisk's: dir is the folder's spool path, recording the whole WAV file.
func TestDBStoreRowsAreAsterisks(t *testing.T) {
	s := sqliteStore(t).(*DBStore)
	ctx := context.Background()
	if _, err := s.Save(ctx, Box{"default", "1234"}, "INBOX", Meta{CallerID: `"A" <1>`, OrigTime: 1700000000, Duration: 2, MsgID: "m1"}, []byte{1, 0}); err != nil {
		t.Fatal(err)
	}
	_, rows, err := s.q.Query(ctx, "vm", "SELECT dir, msgnum, mailboxuser, mailboxcontext, length(recording), callerid, origtime FROM voicemail_messages", 0)
	if err != nil || len(rows) != 1 {
		t.Fatalf("%v %v", rows, err)
	}
	got := ""
	for _, c := range rows[0] {
		got += str(c) + "|"
	}
	if got != `/var/spool/asterisk/voicemail/default/1234/INBOX|0|1234|default|46|"A" <1>|1700000000|` {
		t.Fatal(got)
	}
	for _, bad := range []string{"x; DROP", ""} {
		if bad == "" {
			continue
		}
		if _, err := NewDBStore(s.q, "sqlite3", "vm", bad, ""); err == nil {
			t.Errorf("table %q accepted", bad)
		}
	}
	if _, err := NewDBStore(s.q, "oracle", "vm", "", ""); err == nil {
		t.Error("driver oracle accepted")
	}
}

func mysqlStore(t *testing.T) Store {
	t.Helper()
	dsn := "root@tcp(127.0.0.1:3306)/test"
	if v := os.Getenv("PLEIADES_TEST_MYSQL_DSN"); v != "" {
		dsn = v
	}
	mc, err := my.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	mc.Timeout = 3 * time.Second
	boot, err := sql.Open("mysql", mc.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer boot.Close()
	if err := boot.Ping(); err != nil {
		testenv.Unavailable(t, "MySQL/MariaDB not reachable at %s: %v", dsn, err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	db := "pleiades_vm_" + hex.EncodeToString(b)
	if _, err := boot.Exec("CREATE DATABASE " + db); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if c, err := sql.Open("mysql", mc.FormatDSN()); err == nil {
			c.Exec("DROP DATABASE " + db)
			c.Close()
		}
	})
	host, port, _ := strings.Cut(mc.Addr, ":")
	rt := configured(t, mysql.New(nil), "res_config_mysql.conf", fmt.Sprintf("[vm]\ndbhost = %s\ndbport = %s\ndbname = %s\ndbuser = %s\ndbpass = %s\n",
		host, port, db, mc.User, mc.Passwd))
	q, err := rt.Querier("mysql")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Exec(context.Background(), "vm", fmt.Sprintf(messagesTable, "LONGBLOB")); err != nil {
		t.Fatal(err)
	}
	s, err := NewDBStore(q, "mysql", "vm", "", "/var/spool/asterisk/voicemail")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDBStoreConformanceMySQL(t *testing.T) {
	conformance(t, mysqlStore)
}

// odbcstorage = sqlite3/vm puts the messages in the table; a connection the driver does not
// have is an error and the running store stays.
func TestConfigureODBCStorage(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "vm.sqlite3")
	rt := configured(t, sqlite.New(nil), "res_config_sqlite3.conf", fmt.Sprintf("[vm]\ndbfile => %s\n", db))
	q, _ := rt.Querier("sqlite3")
	if _, err := q.Exec(ctx, "vm", fmt.Sprintf(messagesTable, "BLOB")); err != nil {
		t.Fatal(err)
	}
	spool := t.TempDir()
	e := New(Options{Realtime: rt, SpoolDir: spool})
	c, err := parse(t, "[general]\nodbcstorage = sqlite3/vm\n[default]\n1234 => 1\n")
	if err != nil || c.General.StorageDriver != "sqlite3" || c.General.StorageDB != "vm" {
		t.Fatalf("%+v %v", c.General, err)
	}
	if err := e.Configure(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.Store().(*DBStore); !ok {
		t.Fatalf("store %T", e.Store())
	}
	e.Store().Save(ctx, Box{"default", "1234"}, "INBOX", Meta{}, []byte{0, 0})
	if n, _, _, _ := e.Counts(ctx, Box{"default", "1234"}); n != 1 {
		t.Fatal(n)
	}
	if _, rows, _ := q.Query(ctx, "vm", "SELECT dir FROM voicemail_messages", 0); len(rows) != 1 || *rows[0][0] != filepath.Join(spool, "default/1234/INBOX") {
		t.Fatalf("rows %v", rows)
	}
	bad, _ := parse(t, "[general]\nodbcstorage = sqlite3/nowhere\n")
	if err := e.Configure(ctx, bad); err == nil || !strings.Contains(err.Error(), "nowhere") {
		t.Fatalf("unknown connection: %v", err)
	}
	if _, ok := e.Store().(*DBStore); !ok || e.Config() != c {
		t.Fatal("a failed configuration replaced the running one")
	}
	asterisk, _ := parse(t, "[general]\nodbcstorage = asterisk\nodbctable = vm_msgs\n")
	if g := asterisk.General; g.StorageDriver != "odbc" || g.StorageDB != "asterisk" || g.StorageTable != "vm_msgs" {
		t.Fatalf("%+v", g)
	}
	file, _ := parse(t, "[general]\n")
	e.Configure(ctx, file)
	if _, ok := e.Store().(*FileStore); !ok {
		t.Fatalf("back to the spool: %T", e.Store())
	}
}
