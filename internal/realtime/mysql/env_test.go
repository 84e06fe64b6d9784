package mysql

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/realtime/realtimetest"
	"github.com/pleiades-pbx/pleiades/test/testenv"

	my "github.com/go-sql-driver/mysql"
)

const defaultDSN = "root@tcp(127.0.0.1:3306)/test"

func testDSN() string {
	if v := os.Getenv("PLEIADES_TEST_MYSQL_DSN"); v != "" {
		return v
	}
	return defaultDSN
}

func randName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

type env struct {
	mc      *my.Config // the test DSN
	dbname  string     // scratch database
	admin   *sql.DB    // on the scratch database, multiStatements
	drv     *Driver
	section string
}

func newEnv(tb testing.TB, extra ...string) *env {
	tb.Helper()
	mc, err := my.ParseDSN(testDSN())
	if err != nil {
		tb.Fatalf("PLEIADES_TEST_MYSQL_DSN: %v", err)
	}
	mc.Timeout = 3 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	boot, err := sql.Open("mysql", mc.FormatDSN())
	if err != nil {
		tb.Fatal(err)
	}
	defer boot.Close()
	if err := boot.PingContext(ctx); err != nil {
		testenv.Unavailable(tb, "MySQL/MariaDB not reachable at %s: %v", testDSN(), err)
	}
	e := &env{mc: mc, dbname: randName("pleiades_t_"), section: "scratch"}
	if _, err := boot.ExecContext(ctx, "CREATE DATABASE "+quoteIdent(e.dbname)+" CHARACTER SET utf8mb4"); err != nil {
		tb.Fatalf("create database: %v", err)
	}
	tb.Cleanup(func() {
		db, err := sql.Open("mysql", mc.FormatDSN())
		if err == nil {
			_, err = db.Exec("DROP DATABASE " + quoteIdent(e.dbname))
			db.Close()
		}
		if err != nil {
			tb.Errorf("drop database %s: %v", e.dbname, err)
		}
	})
	ac := mc.Clone()
	ac.DBName = e.dbname
	ac.MultiStatements = true
	if e.admin, err = sql.Open("mysql", ac.FormatDSN()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.admin.Close() })
	e.drv = New(realtimetest.Logger(tb))
	tb.Cleanup(func() { e.drv.Close() })
	if err := e.drv.Configure(ctx, realtimetest.Conf(ConfigFile, e.confText(extra...))); err != nil {
		tb.Fatalf("Configure: %v", err)
	}
	return e
}

func (e *env) confText(extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%s]\n", e.section)
	if e.mc.Net == "unix" {
		fmt.Fprintf(&b, "dbsock=%s\n", e.mc.Addr)
	} else {
		host, port, _ := net.SplitHostPort(e.mc.Addr)
		fmt.Fprintf(&b, "dbhost=%s\ndbport=%s\n", host, port)
	}
	fmt.Fprintf(&b, "dbname=%s\ndbuser=%s\n", e.dbname, e.mc.User)
	if e.mc.Passwd != "" {
		fmt.Fprintf(&b, "dbpass=%s\n", e.mc.Passwd)
	}
	b.WriteString("dbcharset=utf8mb4\nrequirements=warn\n")
	for _, l := range extra {
		b.WriteString(l + "\n")
	}
	return b.String()
}

func (e *env) exec(tb testing.TB, q string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := e.admin.ExecContext(ctx, q); err != nil {
		tb.Fatalf("exec %.80q: %v", q, err)
	}
}

// loadAsteriskSchema runs Asterisk's whole mysql_config.sql (every alembic migration) in the
// scratch database.
func (e *env) loadAsteriskSchema(tb testing.TB) {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.SharedPath(tb, "asterisk-schema"), "mysql_config.sql"))
	if err != nil {
		tb.Fatal(err)
	}
	e.exec(tb, string(b))
}
