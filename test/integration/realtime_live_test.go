package integration

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pleiades-pbx/pleiades/test/sipphone"
)

const pgDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// pgConn connects to the test PostgreSQL with search_path set to schema.
func pgConn(t *testing.T, schema string) *pgx.Conn {
	t.Helper()
	dsn := os.Getenv("PLEIADES_TEST_PGSQL_DSN")
	if dsn == "" {
		dsn = pgDSN
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	if _, err := c.Exec(ctx, "SET search_path TO "+schema); err != nil {
		t.Fatal(err)
	}
	return c
}

// installNotify runs contrib/pgsql_realtime_notify.sql in schema, with its channel renamed to
// channel when that is not the script's own (pleiades_realtime).
func installNotify(t *testing.T, c *pgx.Conn, channel string) {
	t.Helper()
	script, err := os.ReadFile(filepath.Join("..", "..", "contrib", "pgsql_realtime_notify.sql"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.ReplaceAll(string(script), "'pleiades_realtime'", "'"+channel+"'")
	if _, err := c.Exec(context.Background(), s); err != nil {
		t.Fatalf("contrib/pgsql_realtime_notify.sql: %v", err)
	}
}

func pgExec(t *testing.T, c *pgx.Conn, q string, args ...any) {
	t.Helper()
	if _, err := c.Exec(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// registerWithin REGISTERs user/pass until it succeeds, for up to d; it returns how long after
// since it succeeded.
func registerWithin(t *testing.T, ph *sipphone.Phone, user, pass string, since time.Time, d time.Duration) time.Duration {
	t.Helper()
	for {
		res := ph.Register(user, pass, 120)
		if res.StatusCode == 200 {
			return time.Since(since)
		}
		if time.Since(since) > d {
			t.Fatalf("REGISTER %s with %q still %d %s after %v", user, pass, res.StatusCode, res.Reason, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// deviceState returns DEVICE_STATE(SIP/name) as node nd sees it (cluster-wide).
func deviceState(t *testing.T, nd *Node, name string) string {
	t.Helper()
	out := nd.MustRX("console dial sip@live")
	m := regexp.MustCompile(name + ` is (\w+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("console dial sip@live:\n%s", out)
	}
	return m[1]
}

const liveDialplan = "[live]\nexten => sip,1,NoOp(alice is ${DEVICE_STATE(SIP/alice)})\n\n[default]\nswitch => Realtime/rtctx@extensions\n"

// TestRealtimeLivePgsqlCluster is the README scenario on a two-server cluster sharing one
// PostgreSQL with contrib/pgsql_realtime_notify.sql installed and listen_channel set: a
// cached realtime friend's new secret works (and the old one no longer does) as soon as the
// UPDATE commits, with no prune and no reload; a DELETE drops the peer and its device goes
// UNAVAILABLE on both servers; a changed extensions row is used by the Realtime switch at the
// next lookup; both families show as live.
func TestRealtimeLivePgsqlCluster(t *testing.T) {
	schema := pgScratch(t)
	db := pgConn(t, schema)
	installNotify(t, db, "pleiades_realtime")
	routes := freePorts(t, 2)
	sipPorts := freePorts(t, 2)
	var n []*Node
	for i := range 2 {
		nd := NewNode(t, fmt.Sprintf("entityid = 02:00:00:00:0a:%02x\nsystemname = live%d", i+1, i+1), map[string]string{
			"extensions.conf": liveDialplan,
			"cluster.conf":    clusterConf(i, routes, ""),
			"extconfig.conf":  "[settings]\nsippeers => pgsql,test,sippeers\nextensions => pgsql,test,extensions\n",
			"res_pgsql.conf": "[general]\ndbhost = 127.0.0.1\ndbport = 5432\ndbname = test\ndbuser = postgres\nsearch_path = " + schema +
				"\nlisten_channel = pleiades_realtime\n",
			"sip.conf": fmt.Sprintf("[general]\nudpbindaddr = 127.0.0.1:%d\nrealm = pleiades\nrtcachefriends = yes\nmaxauthfailures = 0\n", sipPorts[i]),
		})
		nd.Start()
		n = append(n, nd)
	}
	for _, nd := range n {
		waitMembers(t, nd, 2)
	}
	pgExec(t, db, "INSERT INTO sippeers (name, secret, host, type, context) VALUES ('alice', 'old', 'dynamic', 'friend', 'live')")
	ph := sipphone.New(t, fmt.Sprintf("127.0.0.1:%d", sipPorts[1]))
	if res := ph.Register("alice", "old", 120); res.StatusCode != 200 {
		t.Fatalf("register: %d %s", res.StatusCode, res.Reason)
	}
	if out := n[1].MustRX("sip show peers"); !strings.Contains(out, "Cached RT") {
		t.Fatalf("alice not cached:\n%s", out)
	}
	for _, nd := range n {
		eventually(t, 3*time.Second, func() string {
			if st := deviceState(t, nd, "alice"); st != "NOT_INUSE" {
				return "SIP/alice on " + nd.Dir + ": " + st
			}
			return ""
		})
	}
	for _, nd := range n {
		eventually(t, 3*time.Second, func() string {
			out := nd.MustRX("realtime show status")
			if !regexp.MustCompile(`(?m)^sippeers\s+live\b`).MatchString(out) || !regexp.MustCompile(`(?m)^extensions\s+live\b`).MatchString(out) {
				return "realtime show status:\n" + out
			}
			return ""
		})
	}

	// UPDATE of the secret: the new one registers, the old one no longer does.
	pgExec(t, db, "UPDATE sippeers SET secret = 'new' WHERE name = 'alice'")
	committed := time.Now()
	took := registerWithin(t, ph, "alice", "new", committed, 2*time.Second)
	t.Logf("REGISTER with the new secret succeeded %v after the COMMIT (target 100 ms)", took)
	if res := ph.Register("alice", "old", 120); res.StatusCode == 200 {
		t.Fatal("the old secret still registers")
	}
	if out := n[1].MustRX("realtime show status"); !regexp.MustCompile(`(?m)^sippeers\s+live\s+[1-9]`).MatchString(out) {
		t.Errorf("no notification counted:\n%s", out)
	}

	// The Realtime switch: a changed extensions row is used at the next lookup.
	pgExec(t, db, "INSERT INTO extensions (context, exten, priority, app, appdata) VALUES ('rtctx', '500', 1, 'NoOp', 'before')")
	if out := n[0].MustRX("console dial 500@default"); !strings.Contains(out, `"before"`) {
		t.Fatalf("realtime extension:\n%s", out)
	}
	cachedAt := time.Now()
	heard := func() string {
		m := regexp.MustCompile(`(?m)^extensions\s+live\s+(\d+)`).FindStringSubmatch(n[0].MustRX("realtime show status"))
		if m == nil {
			return ""
		}
		return m[1]
	}
	before := heard()
	pgExec(t, db, "UPDATE extensions SET appdata = 'after' WHERE context = 'rtctx' AND exten = '500'")
	eventually(t, 2*time.Second, func() string {
		if h := heard(); h == before {
			return "the extensions change was not heard (" + h + ")"
		}
		return ""
	})
	out := n[0].MustRX("console dial 500@default")
	if !strings.Contains(out, `"after"`) {
		t.Fatalf("the changed row is not used at the next lookup (%v after the old one was cached):\n%s", time.Since(cachedAt), out)
	}
	t.Logf("Realtime switch: the changed row was used %v after the old one was cached (the switch's TTL is 1 s)", time.Since(cachedAt))

	// A hint row added to the table shows at once (realtime hints are otherwise polled every 5 s).
	if out := n[0].MustRX("core show hints"); strings.Contains(out, "Custom:live") {
		t.Fatalf("hint before it was added:\n%s", out)
	}
	pgExec(t, db, "INSERT INTO extensions (context, exten, priority, app, appdata) VALUES ('rtctx', '600', -1, 'hint', 'Custom:live')")
	added := time.Now()
	eventually(t, 2*time.Second, func() string {
		if out := n[0].MustRX("core show hints"); !regexp.MustCompile(`600@default\s+: Custom:live`).MatchString(out) {
			return "realtime hint not shown:\n" + out
		}
		return ""
	})
	t.Logf("a hint row added to extensions showed in core show hints %v after the INSERT", time.Since(added))

	// DELETE: the peer is gone and SIP/alice is UNAVAILABLE on both servers.
	pgExec(t, db, "DELETE FROM sippeers WHERE name = 'alice'")
	deleted := time.Now()
	for _, nd := range n {
		eventually(t, 3*time.Second, func() string {
			if st := deviceState(t, nd, "alice"); st != "UNAVAILABLE" {
				return "SIP/alice on " + nd.Dir + " after DELETE: " + st
			}
			return ""
		})
	}
	t.Logf("SIP/alice UNAVAILABLE on both servers within %v of the DELETE", time.Since(deleted))
	if out := n[1].MustRX("sip show peers"); strings.Contains(out, "alice") {
		t.Fatalf("deleted peer still in memory:\n%s", out)
	}
	if res := ph.Register("alice", "new", 120); res.StatusCode == 200 {
		t.Fatal("a deleted peer registers")
	}
}

// TestRealtimeListenerReconnectFlushes: the listening connection is killed and, in the same
// transaction, a row changes without a NOTIFY (as any change made while nobody listens is
// lost); once the listener is back the cached peer is re-read (the family is flushed) and the
// reconnect is logged.
func TestRealtimeListenerReconnectFlushes(t *testing.T) {
	schema := pgScratch(t)
	db := pgConn(t, schema)
	channel := fmt.Sprintf("plit_listen_%d", rand.Uint32())
	installNotify(t, db, channel)
	sipPort := freePorts(t, 1)[0]
	nd := NewNode(t, "entityid = 02:00:00:00:0b:01", map[string]string{
		"logger.conf":    "[logfiles]\nmessages.log => notice,warning,error\n",
		"extconfig.conf": "[settings]\nsippeers => pgsql,test,sippeers\n",
		"res_pgsql.conf": "[general]\ndbhost = 127.0.0.1\ndbport = 5432\ndbname = test\ndbuser = postgres\nsearch_path = " + schema +
			"\nlisten_channel = " + channel + "\n",
		"sip.conf": fmt.Sprintf("[general]\nudpbindaddr = 127.0.0.1:%d\nrealm = pleiades\nrtcachefriends = yes\nmaxauthfailures = 0\n", sipPort),
	})
	nd.Start()
	pgExec(t, db, "INSERT INTO sippeers (name, secret, host, type) VALUES ('bob', 'b1', 'dynamic', 'friend')")
	ph := sipphone.New(t, fmt.Sprintf("127.0.0.1:%d", sipPort))
	if res := ph.Register("bob", "b1", 120); res.StatusCode != 200 {
		t.Fatalf("register: %d %s", res.StatusCode, res.Reason)
	}
	listener := func() int {
		var pid int
		err := db.QueryRow(context.Background(), "SELECT pid FROM pg_stat_activity WHERE query LIKE 'LISTEN %' AND position($1 in query) > 0", channel).Scan(&pid)
		if err != nil {
			return 0
		}
		return pid
	}
	eventually(t, 5*time.Second, func() string {
		if listener() == 0 {
			return "no LISTEN " + channel + " connection"
		}
		return ""
	})
	old := listener()
	tx, err := db.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ok bool
	if err := tx.QueryRow(context.Background(), "SELECT pg_terminate_backend($1)", old).Scan(&ok); err != nil || !ok {
		t.Fatalf("pg_terminate_backend: %v %v", ok, err)
	}
	// The change sends no NOTIFY at all (its trigger is off for it), so that only the flush
	// after the reconnect can bring it in, however fast the listener comes back.
	for _, q := range []string{"ALTER TABLE sippeers DISABLE TRIGGER pleiades_realtime_notify",
		"UPDATE sippeers SET secret = 'b2' WHERE name = 'bob'",
		"ALTER TABLE sippeers ENABLE TRIGGER pleiades_realtime_notify"} {
		if _, err := tx.Exec(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := tx.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	committed := time.Now()
	took := registerWithin(t, ph, "bob", "b2", committed, 5*time.Second)
	t.Logf("after the listener was killed, REGISTER with the new secret succeeded %v after the COMMIT (reconnect backoff 100 ms)", took)
	// pg_stat_activity shows the new session's LISTEN an instant after its flush has run
	eventually(t, 5*time.Second, func() string {
		if p := listener(); p == 0 || p == old {
			return fmt.Sprintf("listener pid %d (old %d)", p, old)
		}
		return ""
	})
	if res := ph.Register("bob", "b1", 120); res.StatusCode == 200 {
		t.Fatal("the old secret still registers after the reconnect")
	}
	logfile := filepath.Join(nd.Dir, "log", "messages.log")
	eventually(t, 2*time.Second, func() string {
		data, _ := os.ReadFile(logfile)
		if !strings.Contains(string(data), "pgsql change listener reconnected; flushing cached sippeers") {
			return "reconnect not logged:\n" + string(data)
		}
		return ""
	})
	if out := nd.MustRX("realtime show status"); !regexp.MustCompile(`(?m)^sippeers\s+live\s+\d+\s+\S+.*\s[1-9]\s*$`).MatchString(out) {
		t.Errorf("flushes not counted:\n%s", out)
	}
}

// TestRealtimeInvalidateMySQLCluster: MySQL cannot notify; "realtime invalidate sippeers
// alice" on server 1 makes server 2, where alice is cached, read the new row.
func TestRealtimeInvalidateMySQLCluster(t *testing.T) {
	mc, dbname := myScratch(t)
	routes := freePorts(t, 2)
	sipPorts := freePorts(t, 2)
	host, port, _ := strings.Cut(mc.Addr, ":")
	var n []*Node
	for i := range 2 {
		nd := NewNode(t, fmt.Sprintf("entityid = 02:00:00:00:0c:%02x", i+1), map[string]string{
			"cluster.conf":   clusterConf(i, routes, ""),
			"extconfig.conf": "[settings]\nsippeers => mysql,asterisk,sippeers\n",
			"res_config_mysql.conf": fmt.Sprintf("[asterisk]\ndbhost = %s\ndbport = %s\ndbuser = %s\ndbpass = %s\ndbname = %s\n",
				host, port, mc.User, mc.Passwd, dbname),
			"sip.conf": fmt.Sprintf("[general]\nudpbindaddr = 127.0.0.1:%d\nrealm = pleiades\nrtcachefriends = yes\nmaxauthfailures = 0\n", sipPorts[i]),
		})
		nd.Start()
		n = append(n, nd)
	}
	for _, nd := range n {
		waitMembers(t, nd, 2)
	}
	sc := mc.Clone()
	sc.DBName = dbname
	db, err := sql.Open("mysql", sc.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("INSERT INTO sippeers (name, secret, host, type) VALUES ('alice', 'old', 'dynamic', 'friend')"); err != nil {
		t.Fatal(err)
	}
	ph := sipphone.New(t, fmt.Sprintf("127.0.0.1:%d", sipPorts[1]))
	if res := ph.Register("alice", "old", 120); res.StatusCode != 200 {
		t.Fatalf("register: %d %s", res.StatusCode, res.Reason)
	}
	if _, err := db.Exec("UPDATE sippeers SET secret = 'new' WHERE name = 'alice'"); err != nil {
		t.Fatal(err)
	}
	// Cached on server 2 and nobody told it: the old row is still in force there.
	if res := ph.Register("alice", "new", 120); res.StatusCode == 200 {
		t.Fatal("server 2 read the new row before any invalidation: the test proves nothing")
	}
	if out := n[0].MustRX("realtime invalidate sippeers alice"); !strings.Contains(out, "Invalidated sippeers alice") {
		t.Fatalf("realtime invalidate:\n%s", out)
	}
	at := time.Now()
	took := registerWithin(t, ph, "alice", "new", at, 2*time.Second)
	t.Logf("server 2 used the new row %v after 'realtime invalidate' returned on server 1", took)
	if res := ph.Register("alice", "old", 120); res.StatusCode == 200 {
		t.Fatal("the old secret still registers on server 2")
	}
	if out := n[1].MustRX("realtime show status"); !regexp.MustCompile(`(?m)^sippeers\s+TTL only\s+0\s+-\s+1\s+0`).MatchString(out) {
		t.Errorf("server 2 status:\n%s", out)
	}
}
