package cdr

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/pgtable"
	"github.com/pleiades-pbx/pleiades/test/testenv"
)

const pgAddr = "127.0.0.1:5432"

// pgSchema makes a scratch schema holding Asterisk's cdr table (the shared schema file's
// CREATE TABLE and column changes) and drops it at the end.
func pgSchema(t testing.TB, dropColumn string) (schema string, admin *pgx.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, "postgres://postgres@"+pgAddr+"/test?sslmode=disable")
	if err != nil {
		testenv.Unavailable(t, "PostgreSQL not reachable at %s: %v", pgAddr, err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema = "pleiades_cdr_" + hex.EncodeToString(b)
	sqlText, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "asterisk-schema", "postgresql_cdr.sql"))
	if err != nil {
		testenv.Unavailable(t, "the Asterisk schema: %v", err)
	}
	var stmts []string
	for _, s := range strings.Split(string(sqlText), ";") {
		s = strings.TrimSpace(s)
		for strings.HasPrefix(s, "--") {
			_, s, _ = strings.Cut(s, "\n")
			s = strings.TrimSpace(s)
		}
		if strings.HasPrefix(s, "CREATE TABLE cdr") || strings.HasPrefix(s, "ALTER TABLE cdr") {
			stmts = append(stmts, s)
		}
	}
	if _, err := c.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		c.Close(context.Background())
	})
	for _, s := range stmts {
		s = strings.Replace(s, "TABLE cdr", "TABLE "+schema+".cdr", 1)
		if _, err := c.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	if dropColumn != "" {
		if _, err := c.Exec(ctx, "ALTER TABLE "+schema+".cdr DROP COLUMN "+dropColumn); err != nil {
			t.Fatal(err)
		}
	}
	return schema, c
}

// proxy forwards a port to PostgreSQL once started: before, the port is closed (the
// database is "down").
type proxy struct {
	addr string
	ln   net.Listener
	wg   sync.WaitGroup
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func (p *proxy) start(t *testing.T) {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	p.ln = ln
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", pgAddr)
			if err != nil {
				c.Close()
				continue
			}
			p.wg.Add(2)
			go func() { defer p.wg.Done(); io.Copy(up, c); up.Close() }()
			go func() { defer p.wg.Done(); io.Copy(c, up); c.Close() }()
		}
	}()
}

func parsePg(t *testing.T, text string) *PgSQL {
	t.Helper()
	cfg, err := conf.Parse("cdr_pgsql.conf", []byte(text), conf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParsePgSQL(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The database is down (its port closed) while calls end: the records wait in the spooled
// queue, no post blocks, and when the database comes back every record arrives once, in
// order.
func TestPgSQLDownThenUp(t *testing.T) {
	schema, admin := pgSchema(t, "")
	addr := freePort(t)
	host, port, _ := net.SplitHostPort(addr)
	pg := parsePg(t, "[global]\nhostname="+host+"\nport="+port+"\ndbname=test\nuser=postgres\ntable="+schema+".cdr\n")
	e := New(nil, DefaultSettings())
	defer e.Close(context.Background())
	spool := filepath.Join(t.TempDir(), "cdr", "pgsql.queue")
	if err := e.AddBackend(pg, spool); err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	const n = 200
	start := time.Now()
	t0 := time.Date(2026, 12, 7, 4, 0, 0, 0, time.Local)
	for i := range n {
		e.deliver([]*Record{{Channel: "SIP/alice-" + strconv.Itoa(i), UniqueID: "u" + strconv.Itoa(i), Sequence: i + 1,
			Start: t0, Answer: t0.Add(time.Second), End: t0.Add(11 * time.Second), Disposition: DispAnswered, AMAFlags: AMADocumentation}})
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("posting blocked while the database was down")
	}
	waitUntil(t, "the backend to fail", func() bool { return e.Status()[0].LastErr != "" })
	if st := e.Status()[0]; st.Backlog != n {
		t.Fatalf("backlog %d, want %d", st.Backlog, n)
	}
	if _, err := os.Stat(spool); err != nil {
		t.Fatalf("no spool file: %v", err)
	}
	(&proxy{addr: addr}).start(t)
	waitUntil(t, "the backlog to drain", func() bool { return e.Status()[0].Backlog == 0 })
	rows, err := admin.Query(t.Context(), "SELECT sequence, uniqueid, duration, billsec, disposition, amaflags, start::text, \"end\"::text FROM "+schema+".cdr ORDER BY ctid")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	i := 0
	for rows.Next() {
		var seq, dur, bill int
		var uid, disp, ama, st, end string
		if err := rows.Scan(&seq, &uid, &dur, &bill, &disp, &ama, &st, &end); err != nil {
			t.Fatal(err)
		}
		if seq != i+1 || uid != "u"+strconv.Itoa(i) || dur != 11 || bill != 10 || disp != "ANSWERED" || ama != "DOCUMENTATION" ||
			st != "2026-12-07 04:00:00" || end != "2026-12-07 04:00:11" {
			t.Fatalf("row %d: %d %s %d %d %s %s %s %s", i, seq, uid, dur, bill, disp, ama, st, end)
		}
		i++
	}
	if i != n {
		t.Fatalf("%d rows, want %d (each once)", i, n)
	}
	if _, err := os.Stat(spool); !os.IsNotExist(err) {
		t.Fatalf("spool file left after the drain: %v", err)
	}
}

// A cdr table missing a column: the others are written.
func TestPgSQLMissingColumn(t *testing.T) {
	schema, admin := pgSchema(t, "userfield")
	pg := parsePg(t, "[global]\nhostname=127.0.0.1\nport=5432\ndbname=test\nuser=postgres\ntable="+schema+".cdr\n")
	defer pg.Close()
	r := sampleRecord()
	if err := pg.Write(t.Context(), []*Record{r}); err != nil {
		t.Fatal(err)
	}
	var src, lastdata string
	var answer *time.Time
	if err := admin.QueryRow(t.Context(), "SELECT src, lastdata, answer FROM "+schema+".cdr").Scan(&src, &lastdata, &answer); err != nil {
		t.Fatal(err)
	}
	if src != "100" || lastdata != r.LastData || answer == nil {
		t.Fatalf("row: %q %q %v", src, lastdata, answer)
	}
}

// BenchmarkPgSQLThroughQueue posts b.N records through the spooled queue to PostgreSQL and
// reports records/s written and the time a post takes on the call's side.
func BenchmarkPgSQLThroughQueue(b *testing.B) {
	schema, _ := pgSchema(b, "")
	pg := NewPgSQL(pgtable.Conn{Host: "127.0.0.1", Port: "5432", DBName: "test", User: "postgres", Table: schema + ".cdr"})
	e := New(nil, DefaultSettings())
	defer e.Close(context.Background())
	if err := e.AddBackend(pg, filepath.Join(b.TempDir(), "pgsql.queue")); err != nil {
		b.Fatal(err)
	}
	r := sampleRecord()
	var post time.Duration
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		t0 := time.Now()
		e.deliver([]*Record{r})
		post += time.Since(t0)
	}
	if err := e.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	el := time.Since(start)
	b.ReportMetric(float64(b.N)/el.Seconds(), "records/s")
	b.ReportMetric(float64(post.Nanoseconds())/float64(b.N), "ns/post")
}
