package cel

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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

// Asterisk's cel table (contrib/ast-db-manage cel: the columns cel_pgsql fills).
const celTable = `CREATE TABLE %s.cel (id SERIAL PRIMARY KEY, eventtype VARCHAR(30) NOT NULL, eventtime TIMESTAMP NOT NULL,
	userdeftype VARCHAR(255), cid_name VARCHAR(80), cid_num VARCHAR(80), cid_ani VARCHAR(80), cid_rdnis VARCHAR(80),
	cid_dnid VARCHAR(80), exten VARCHAR(80), context VARCHAR(80), channame VARCHAR(80), appname VARCHAR(80),
	appdata VARCHAR(80), amaflags INTEGER, accountcode VARCHAR(20), peeraccount VARCHAR(20), uniqueid VARCHAR(150),
	linkedid VARCHAR(150), userfield VARCHAR(255), peer VARCHAR(80), extra VARCHAR(512))`

func flush(t *testing.T, q *Queue) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	if err := q.Flush(ctx); err != nil {
		t.Fatalf("queue not drained: %v (%+v)", err, q.Status())
	}
}

// pgCELTable makes a scratch schema holding Asterisk's cel table; admin is connected to it.
func pgCELTable(t *testing.T) (schema string, admin *pgx.Conn) {
	t.Helper()
	ctx := t.Context()
	admin, err := pgx.Connect(ctx, "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	if err != nil {
		testenv.Unavailable(t, "PostgreSQL not reachable: %v", err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	b := make([]byte, 6)
	rand.Read(b)
	schema = "pleiades_cel_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE") })
	if _, err := admin.Exec(ctx, strings.ReplaceAll(celTable, "%s", schema)); err != nil {
		t.Fatal(err)
	}
	return schema, admin
}

func TestPgSQL(t *testing.T) {
	ctx := t.Context()
	schema, admin := pgCELTable(t)
	cfg, _ := conf.Parse("cel_pgsql.conf", []byte("[global]\nhostname=127.0.0.1\nport=5432\ndbname=test\nuser=postgres\ntable="+schema+".cel\nusegmtime=yes\n"), conf.Options{})
	p, err := ParsePgSQL(cfg)
	if err != nil {
		t.Fatal(err)
	}
	q, err := Start(p, nil, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	tm := time.Date(2026, 12, 7, 4, 5, 6, 0, time.UTC)
	for _, typ := range []string{ChanStart, Answer, Hangup, ChanEnd} {
		q.Sink(Event{Type: typ, Time: tm, CIDNum: "100", Channel: "SIP/alice-00000001", UniqueID: "1.1", LinkedID: "1.1", AMAFlags: 3,
			Extra: `{"hangupcause":16}`})
	}
	flush(t, q)
	rows, err := admin.Query(ctx, "SELECT eventtype, eventtime::text, cid_num, channame, amaflags FROM "+schema+".cel ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var typ, tmv, num, ch string
		var ama int
		rows.Scan(&typ, &tmv, &num, &ch, &ama)
		got = append(got, strings.Join([]string{typ, tmv, num, ch}, "|"))
	}
	want := "CHAN_START|2026-12-07 04:05:06|100|SIP/alice-00000001\nANSWER|2026-12-07 04:05:06|100|SIP/alice-00000001\n" +
		"HANGUP|2026-12-07 04:05:06|100|SIP/alice-00000001\nCHAN_END|2026-12-07 04:05:06|100|SIP/alice-00000001"
	if strings.Join(got, "\n") != want {
		t.Fatalf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
	}
}

// cel_pgsql's queue is on disk: events made while the database is away wait in the spool,
// a stop with that backlog leaves them there, and the next start writes them first, once
// each, in order, before the events made after it.
func TestPgSQLQueueSurvivesStop(t *testing.T) {
	schema, admin := pgCELTable(t)
	spool := filepath.Join(t.TempDir(), "cel", "pgsql.queue")
	down := NewPgSQL(pgtable.Conn{Host: "127.0.0.1", Port: "1", DBName: "test", User: "postgres", Table: schema + ".cel"})
	q, err := Start(down, nil, spool, nil)
	if err != nil {
		t.Fatal(err)
	}
	tm := time.Date(2026, 12, 7, 4, 5, 6, 0, time.UTC)
	ev := func(i int) Event {
		return Event{Type: ChanStart, Time: tm, Channel: "SIP/alice-" + strconv.Itoa(i), UniqueID: strconv.Itoa(i), LinkedID: "1"}
	}
	start := time.Now()
	for i := range 30 {
		q.Sink(ev(i))
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("30 events took %v to queue with the database down", d)
	}
	deadline := time.Now().Add(15 * time.Second)
	for q.Status().LastErr == "" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if st := q.Status(); st.LastErr == "" || st.Backlog != 30 || st.Spool != spool {
		t.Fatalf("status with the database down: %+v", st)
	}
	q.Close()
	if b, err := os.ReadFile(spool); err != nil || strings.Count(string(b), "\n") != 30 {
		t.Fatalf("spool after the stop: %v, %d events", err, strings.Count(string(b), "\n"))
	}
	up := NewPgSQL(pgtable.Conn{Host: "127.0.0.1", Port: "5432", DBName: "test", User: "postgres", Table: schema + ".cel"})
	q2, err := Start(up, nil, spool, nil)
	if err != nil {
		t.Fatal(err)
	}
	closeQ2 := sync.OnceFunc(q2.Close)
	defer closeQ2()
	for i := 30; i < 35; i++ {
		q2.Sink(ev(i))
	}
	flush(t, q2)
	rows, err := admin.Query(t.Context(), "SELECT uniqueid FROM "+schema+".cel ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var u string
		rows.Scan(&u)
		got = append(got, u)
	}
	var want []string
	for i := range 35 {
		want = append(want, strconv.Itoa(i))
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("rows (uniqueid) %v, want %v", got, want)
	}
	// drained: the file holds nothing (diskqueue truncates it while events keep coming and
	// removes it after a second without any, or at the stop)
	if fi, err := os.Stat(spool); err == nil && fi.Size() != 0 {
		t.Fatalf("spool after the drain: %d bytes", fi.Size())
	}
	closeQ2()
	if _, err := os.Stat(spool); !os.IsNotExist(err) {
		t.Fatalf("spool left after the drain and the stop: %v", err)
	}
}

// Queuing an event costs the call's goroutine no allocation.
func TestSinkAllocates(t *testing.T) {
	q, err := Start(NewPgSQL(pgtable.Conn{Host: "127.0.0.1", Port: "1"}), nil, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	x := Event{Type: ChanStart, Time: time.Now(), Channel: "SIP/alice-00000001"}
	for range 1000 { // let the queue's slice grow first
		q.Sink(x)
	}
	if n := testing.AllocsPerRun(100, func() { q.Sink(x) }); n > 0.5 {
		t.Fatalf("%v allocations per event", n)
	}
}
