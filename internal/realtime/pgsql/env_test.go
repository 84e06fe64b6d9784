package pgsql

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/realtime/realtimetest"
	"github.com/pleiades-pbx/pleiades/test/testenv"

	"github.com/jackc/pgx/v5"
)

const defaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

func testDSN() string {
	if v := os.Getenv("PLEIADES_TEST_PGSQL_DSN"); v != "" {
		return v
	}
	return defaultDSN
}

func randName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// env is a scratch schema on the test server and a driver whose pool uses it.
type env struct {
	cc     *pgx.ConnConfig // the test DSN
	schema string
	admin  *pgx.Conn // search_path = schema
	drv    *Driver
	db     string // database argument for the driver
}

// newEnv creates a scratch schema, drops it at the end, and configures a driver for it with
// the extra res_pgsql.conf lines.
func newEnv(tb testing.TB, extra ...string) *env {
	tb.Helper()
	cc, err := pgx.ParseConfig(testDSN())
	if err != nil {
		tb.Fatalf("PLEIADES_TEST_PGSQL_DSN: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	boot, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		testenv.Unavailable(tb, "PostgreSQL not reachable at %s: %v", testDSN(), err)
	}
	defer boot.Close(ctx)
	e := &env{cc: cc, schema: randName("pleiades_t_"), db: cc.Database}
	if _, err := boot.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{e.schema}.Sanitize()); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := pgx.ConnectConfig(ctx, cc)
		if err != nil {
			tb.Errorf("drop schema %s: %v", e.schema, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{e.schema}.Sanitize()+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", e.schema, err)
		}
	})
	ac := cc.Copy()
	ac.RuntimeParams["search_path"] = e.schema
	if e.admin, err = pgx.ConnectConfig(ctx, ac); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.admin.Close(context.Background()) })

	e.drv = New(realtimetest.Logger(tb))
	tb.Cleanup(func() { e.drv.Close() })
	if err := e.drv.Configure(ctx, realtimetest.Conf(ConfigFile, e.confText(extra...))); err != nil {
		tb.Fatalf("Configure: %v", err)
	}
	return e
}

// confText is a res_pgsql.conf for the test server and scratch schema.
func (e *env) confText(extra ...string) string {
	var b strings.Builder
	b.WriteString("[general]\n")
	fmt.Fprintf(&b, "dbhost=%s\ndbport=%d\ndbname=%s\ndbuser=%s\n", e.cc.Host, e.cc.Port, e.cc.Database, e.cc.User)
	if e.cc.Password != "" {
		fmt.Fprintf(&b, "dbpass=%s\n", e.cc.Password)
	}
	fmt.Fprintf(&b, "search_path=%s\nrequirements=warn\n", e.schema)
	for _, l := range extra {
		b.WriteString(l + "\n")
	}
	return b.String()
}

// exec runs SQL (several statements allowed) in the scratch schema.
func (e *env) exec(tb testing.TB, sql string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := e.admin.PgConn().Exec(ctx, sql).ReadAll(); err != nil {
		tb.Fatalf("exec %.80q: %v", sql, err)
	}
}

// loadAsteriskSchema runs Asterisk's whole postgresql_config.sql (every alembic migration,
// so the tables end up exactly as an up-to-date Asterisk install has them) in the scratch
// schema.
func (e *env) loadAsteriskSchema(tb testing.TB) {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.SharedPath(tb, "asterisk-schema"), "postgresql_config.sql"))
	if err != nil {
		tb.Fatal(err)
	}
	e.exec(tb, string(b))
}
