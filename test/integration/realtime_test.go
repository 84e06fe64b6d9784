package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/test/testenv"

	"github.com/jackc/pgx/v5"

	"github.com/pleiades-pbx/pleiades/internal/realtime/realtimetest"
)

// pgScratch makes a scratch schema in the test PostgreSQL with Asterisk's realtime tables, and
// returns its name. Without a database the test is skipped, or fails under CI=true.
func pgScratch(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("PLEIADES_TEST_PGSQL_DSN")
	if dsn == "" {
		dsn = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		testenv.Unavailable(t, "PostgreSQL unreachable: %v", err)
	}
	dir := testenv.SharedPath(t, "asterisk-schema")
	create, _, err := realtimetest.Statements(dir, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	schema := fmt.Sprintf("plit_%d", rand.Uint32())
	exec := func(q string) {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec("CREATE SCHEMA " + schema)
	exec("SET search_path TO " + schema)
	for _, q := range create {
		exec(q)
	}
	conn.Close(ctx)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, dsn); err == nil {
			c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
			c.Close(ctx)
		}
	})
	return schema
}

func TestRealtimeFailoverToPgsqlAndReload(t *testing.T) {
	schema := pgScratch(t)
	n := NewNode(t, "entityid = 02:aa:bb:cc:dd:20", map[string]string{
		// Priority 1 is a MariaDB section on a port where nothing listens: every call fails
		// over to priority 2, PostgreSQL.
		"extconfig.conf":        "[settings]\nsippeers => mysql,dead,sippeers,1\nsippeers => pgsql,test,sippeers,2\n",
		"res_config_mysql.conf": "[dead]\ndbhost = 127.0.0.1\ndbport = 1\ndbname = test\ndbuser = root\n",
		"res_pgsql.conf":        "[general]\ndbhost = 127.0.0.1\ndbport = 5432\ndbname = test\ndbuser = postgres\nsearch_path = " + schema + "\n",
	})
	n.Start()
	out := n.MustRX("core show config mappings")
	if !strings.Contains(out, "===> sippeers (db=dead, table=sippeers)") || !strings.Contains(out, "===> sippeers (db=test, table=sippeers)") {
		t.Fatalf("mappings:\n%s", out)
	}
	if out := n.MustRX("realtime store sippeers name it_alice secret s3cret context from-phones"); !strings.Contains(out, "Stored RealTime record.") {
		t.Fatalf("store: %q", out)
	}
	out = n.MustRX("realtime load sippeers name it_alice")
	if !strings.Contains(out, "from-phones") || !strings.Contains(out, "s3cret") {
		t.Fatalf("load after failover:\n%s", out)
	}
	if out := n.MustRX("realtime load sippeers name it_nobody"); !strings.Contains(out, "No rows found matching search criteria.") {
		t.Fatalf("absent row: %q", out)
	}
	// A broken extconfig.conf does not replace the running mappings.
	n.WriteFile("extconfig.conf", "[settings]\nsippeers => nosuchdriver,x\n")
	out, code := n.RX("reload res_realtime")
	if code == 0 || !strings.Contains(out, "extconfig.conf:2") {
		t.Fatalf("reload of a broken extconfig.conf: %d %q", code, out)
	}
	if out := n.MustRX("realtime load sippeers name it_alice"); !strings.Contains(out, "from-phones") {
		t.Fatalf("running mappings lost after failed reload:\n%s", out)
	}
	if out := n.MustRX("core show config mappings"); !strings.Contains(out, "db=test, table=sippeers") {
		t.Fatalf("mappings after failed reload:\n%s", out)
	}
}

func TestBuiltinRealtimeIsSQLite(t *testing.T) {
	dir, err := os.MkdirTemp("", "plrt")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	env := filteredEnv("XDG_STATE_HOME")
	start := func() {
		out, code := runBinaryEnv(t, dir, env)
		if code != 0 {
			t.Fatalf("start: %s", out)
		}
	}
	rx := func(c string) string {
		out, code := runBinaryEnv(t, dir, env, "-rx", c)
		if code != 0 {
			t.Fatalf("-rx %q: %d %s", c, code, out)
		}
		return out
	}
	start()
	defer runBinaryEnv(t, dir, env, "-rx", "core stop now")
	if out := rx("core show config mappings"); !strings.Contains(out, "Config Engine: sqlite3") || !strings.Contains(out, "===> sippeers (db=pleiades, table=sippeers)") {
		t.Fatalf("built-in mappings:\n%s", out)
	}
	rx("realtime store sippeers name bob secret 'quoted;value' context default")
	rx("core stop now")
	// The data outlives a restart.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(dir + "/var/pleiades/run/pleiades.ctl"); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("server did not stop")
		}
		time.Sleep(20 * time.Millisecond)
	}
	start()
	if out := rx("realtime load sippeers name bob"); !strings.Contains(out, "'quoted;value'") {
		t.Fatalf("after restart:\n%s", out)
	}
}
