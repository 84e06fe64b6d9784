// Package rttest gives the tests of the Realtime switch and func_odbc scratch databases behind
// a realtime.Engine: a fresh SQLite file, a PostgreSQL schema (127.0.0.1:5432, user postgres,
// database test; PLEIADES_TEST_PGSQL_DSN overrides) or a MariaDB/MySQL database (127.0.0.1:3306,
// root, test; PLEIADES_TEST_MYSQL_DSN overrides), each holding Asterisk's own tables (sippeers,
// extensions, voicemail, ast_config; see realtimetest.Statements) and mapped as the families
// "extensions", "sippeers" and "voicemail". An unreachable server skips the test, or fails it
// when CI=true. Everything is dropped at the end of the test.
package rttest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/test/testenv"

	my "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
	"github.com/pleiades-pbx/pleiades/internal/realtime/mysql"
	"github.com/pleiades-pbx/pleiades/internal/realtime/pgsql"
	"github.com/pleiades-pbx/pleiades/internal/realtime/realtimetest"
	"github.com/pleiades-pbx/pleiades/internal/realtime/sqlite"
)

// Backend is one scratch database mapped in a realtime engine.
type Backend struct {
	Name    string // "sqlite", "pgsql", "mysql"
	Dialect string // realtimetest dialect
	Driver  realtime.Driver
	// DriverName is the driver's extconfig.conf name ("sqlite3", "pgsql", "mysql").
	DriverName string
	// DB is the connection name the mappings use.
	DB     string
	Engine *realtime.Engine
	// Exec runs one statement on the scratch database (setup).
	Exec func(t testing.TB, sql string)
}

// Backends are the constructors, by name, in test order.
var Backends = []struct {
	Name string
	New  func(t testing.TB) *Backend
}{{"sqlite", SQLite}, {"pgsql", Postgres}, {"mysql", MySQL}}

// Conf parses .conf text a test writes (it must parse).
func Conf(file, text string) *conf.Config {
	cfg, err := conf.Parse(file, []byte(text), conf.Options{})
	if err != nil {
		panic(err)
	}
	return cfg
}

func randName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// Log is a logger writing warnings and errors to the test log.
func Log(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{tb}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ tb testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func ctx(tb testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	tb.Cleanup(cancel)
	return c
}

// finish creates the tables and maps the families.
func (b *Backend) finish(tb testing.TB) *Backend {
	tb.Helper()
	dir := realtimetest.SchemaDir()
	if dir == "" && b.Dialect != "sqlite" {
		testenv.Unavailable(tb, "../shared/asterisk-schema not found next to go.mod")
	}
	create, drop, err := realtimetest.Statements(dir, b.Dialect)
	if err != nil {
		tb.Fatal(err)
	}
	for _, s := range drop {
		b.Exec(tb, s)
	}
	for _, s := range create {
		b.Exec(tb, s)
	}
	b.Engine = realtime.New(Log(tb))
	b.Engine.Register(b.Driver)
	ext := Conf("extconfig.conf", fmt.Sprintf("[settings]\nextensions => %s,%s\nsippeers => %s,%s\nvoicemail => %s,%s\n",
		b.DriverName, b.DB, b.DriverName, b.DB, b.DriverName, b.DB))
	if err := b.Engine.Configure(ctx(tb), ext, nil); err != nil {
		tb.Fatal(err)
	}
	return b
}

// Queries returns the engine's query counter of family.
func (b *Backend) Queries(family string) uint64 {
	for _, s := range b.Engine.Status() {
		if s.Family == family {
			return s.Queries
		}
	}
	return 0
}

// AddColumn adds a VARCHAR(40) NOT NULL DEFAULT ” column to table and makes the driver
// forget the table's cached columns.
func (b *Backend) AddColumn(tb testing.TB, table, column string) {
	tb.Helper()
	b.Exec(tb, fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s VARCHAR(40) NOT NULL DEFAULT ''", table, column))
	if err := b.Driver.Unload(ctx(tb), b.DB, table); err != nil {
		tb.Fatal(err)
	}
}

var sqliteSeq atomic.Int64

// SQLite returns a backend on a fresh SQLite file; the connection is "asterisk".
func SQLite(tb testing.TB) *Backend {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), fmt.Sprintf("rt%d.sqlite3", sqliteSeq.Add(1)))
	d := sqlite.New(Log(tb))
	if err := d.Configure(ctx(tb), Conf("res_config_sqlite3.conf", "[asterisk]\ndbfile => "+path+"\n")); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close() })
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { raw.Close() })
	b := &Backend{Name: "sqlite", Dialect: "sqlite", Driver: d, DriverName: "sqlite3", DB: "asterisk",
		Exec: func(tb testing.TB, q string) {
			tb.Helper()
			if _, err := raw.Exec(q); err != nil {
				tb.Fatalf("%v\n%s", err, q)
			}
		}}
	return b.finish(tb)
}

const (
	defaultPgDSN    = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	defaultMySQLDSN = "root@tcp(127.0.0.1:3306)/test"
)

// PgDSN returns the PostgreSQL test server's DSN.
func PgDSN() string {
	if v := os.Getenv("PLEIADES_TEST_PGSQL_DSN"); v != "" {
		return v
	}
	return defaultPgDSN
}

// Postgres returns a backend on a scratch schema of the PostgreSQL test server (the driver's
// search_path); the connection is "general".
func Postgres(tb testing.TB) *Backend {
	tb.Helper()
	cc, err := pgx.ParseConfig(PgDSN())
	if err != nil {
		tb.Fatalf("PLEIADES_TEST_PGSQL_DSN: %v", err)
	}
	c := ctx(tb)
	boot, err := pgx.ConnectConfig(c, cc)
	if err != nil {
		testenv.Unavailable(tb, "PostgreSQL not reachable at %s: %v", PgDSN(), err)
	}
	defer boot.Close(c)
	schema := randName("pleiades_rts_")
	if _, err := boot.Exec(c, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.ConnectConfig(c, cc)
		if err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(c)
		if _, err := conn.Exec(c, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	ac := cc.Copy()
	ac.RuntimeParams["search_path"] = schema
	admin, err := pgx.ConnectConfig(c, ac)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { admin.Close(context.Background()) })

	var cf strings.Builder
	fmt.Fprintf(&cf, "[general]\ndbhost=%s\ndbport=%d\ndbname=%s\ndbuser=%s\n", cc.Host, cc.Port, cc.Database, cc.User)
	if cc.Password != "" {
		fmt.Fprintf(&cf, "dbpass=%s\n", cc.Password)
	}
	fmt.Fprintf(&cf, "search_path=%s\nrequirements=warn\n", schema)
	d := pgsql.New(Log(tb))
	if err := d.Configure(c, Conf(pgsql.ConfigFile, cf.String())); err != nil {
		tb.Fatalf("pgsql Configure: %v", err)
	}
	tb.Cleanup(func() { d.Close() })
	b := &Backend{Name: "pgsql", Dialect: "postgres", Driver: d, DriverName: "pgsql", DB: "general",
		Exec: func(tb testing.TB, q string) {
			tb.Helper()
			c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := admin.Exec(c, q); err != nil {
				tb.Fatalf("%v\n%s", err, q)
			}
		}}
	return b.finish(tb)
}

// MySQL returns a backend on a scratch database of the MariaDB/MySQL test server; the
// connection (res_config_mysql.conf section) is "scratch".
func MySQL(tb testing.TB) *Backend {
	tb.Helper()
	dsn := defaultMySQLDSN
	if v := os.Getenv("PLEIADES_TEST_MYSQL_DSN"); v != "" {
		dsn = v
	}
	mc, err := my.ParseDSN(dsn)
	if err != nil {
		tb.Fatalf("PLEIADES_TEST_MYSQL_DSN: %v", err)
	}
	mc.Timeout = 3 * time.Second
	c := ctx(tb)
	boot, err := sql.Open("mysql", mc.FormatDSN())
	if err != nil {
		tb.Fatal(err)
	}
	defer boot.Close()
	if err := boot.PingContext(c); err != nil {
		testenv.Unavailable(tb, "MySQL/MariaDB not reachable at %s: %v", dsn, err)
	}
	dbname := randName("pleiades_rts_")
	if _, err := boot.ExecContext(c, "CREATE DATABASE `"+dbname+"` CHARACTER SET utf8mb4"); err != nil {
		tb.Fatalf("create database: %v", err)
	}
	tb.Cleanup(func() {
		db, err := sql.Open("mysql", mc.FormatDSN())
		if err == nil {
			_, err = db.Exec("DROP DATABASE `" + dbname + "`")
			db.Close()
		}
		if err != nil {
			tb.Errorf("drop database %s: %v", dbname, err)
		}
	})
	ac := mc.Clone()
	ac.DBName = dbname
	admin, err := sql.Open("mysql", ac.FormatDSN())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { admin.Close() })

	var cf strings.Builder
	cf.WriteString("[scratch]\n")
	if mc.Net == "unix" {
		fmt.Fprintf(&cf, "dbsock=%s\n", mc.Addr)
	} else {
		host, port, _ := net.SplitHostPort(mc.Addr)
		fmt.Fprintf(&cf, "dbhost=%s\ndbport=%s\n", host, port)
	}
	fmt.Fprintf(&cf, "dbname=%s\ndbuser=%s\n", dbname, mc.User)
	if mc.Passwd != "" {
		fmt.Fprintf(&cf, "dbpass=%s\n", mc.Passwd)
	}
	cf.WriteString("dbcharset=utf8mb4\nrequirements=warn\n")
	d := mysql.New(Log(tb))
	if err := d.Configure(c, Conf(mysql.ConfigFile, cf.String())); err != nil {
		tb.Fatalf("mysql Configure: %v", err)
	}
	tb.Cleanup(func() { d.Close() })
	b := &Backend{Name: "mysql", Dialect: "mysql", Driver: d, DriverName: "mysql", DB: "scratch",
		Exec: func(tb testing.TB, q string) {
			tb.Helper()
			c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if _, err := admin.ExecContext(c, q); err != nil {
				tb.Fatalf("%v\n%s", err, q)
			}
		}}
	return b.finish(tb)
}
