package cdr

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/ami"
	"github.com/pleiades-pbx/pleiades/internal/diskqueue"
)

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func numbered(n, from int) []*Record {
	var out []*Record
	for i := range n {
		out = append(out, &Record{UniqueID: strconv.Itoa(from + i), Sequence: from + i})
	}
	return out
}

// A backend that fails keeps its records queued (on disk with a spool), never blocks the
// poster, and gets every record once, in order, when it comes back; records a stop left in
// the spool are written at the next start.
func TestQueueSurvivesOutageAndRestart(t *testing.T) {
	spool := filepath.Join(t.TempDir(), "cdr", "mem.queue")
	e := New(nil, DefaultSettings())
	mem := &memBackend{name: "mem", fail: true}
	if err := e.AddBackend(mem, spool); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := range 50 {
		e.deliver(numbered(1, i))
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("posting blocked on a failing backend")
	}
	waitUntil(t, "the error in the status", func() bool { return e.Status()[0].LastErr != "" })
	if st := e.Status()[0]; st.Backlog != 50 || st.Spool != spool {
		t.Fatalf("status %+v", st)
	}
	// Stop with the backlog: the spool keeps it, and the stop does not wait for the backend.
	closed := make(chan struct{})
	go func() { e.Close(context.Background()); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close waited for a backend that is down")
	}
	e2 := New(nil, DefaultSettings())
	defer e2.Close(context.Background())
	mem2 := &memBackend{name: "mem", fail: true}
	if err := e2.AddBackend(mem2, spool); err != nil {
		t.Fatal(err)
	}
	e2.deliver(numbered(10, 50))
	mem2.mu.Lock()
	mem2.fail = false
	mem2.mu.Unlock()
	if err := e2.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := mem2.records()
	if len(got) != 60 {
		t.Fatalf("%d records written, want 60", len(got))
	}
	for i, r := range got {
		if r.Sequence != i {
			t.Fatalf("record %d has sequence %d: out of order or twice", i, r.Sequence)
		}
	}
	if st := e2.Status()[0]; st.Backlog != 0 || st.Written != 60 || st.LastErr != "" {
		t.Fatalf("status after drain %+v", st)
	}
}

type amiSink struct {
	mu  sync.Mutex
	evs []ami.Event
}

func (a *amiSink) Publish(ev ami.Event) {
	a.mu.Lock()
	a.evs = append(a.evs, ev)
	a.mu.Unlock()
}

func TestManagerEvent(t *testing.T) {
	r := sampleRecord()
	r.Vars = map[string]string{"rate": "0.02"}
	sink := &amiSink{}
	m := &Manager{AMI: sink, Mappings: [][2]string{{"rate", "Rate"}}}
	if err := m.Write(context.Background(), []*Record{r}); err != nil {
		t.Fatal(err)
	}
	ev := sink.evs[0]
	var keys []string
	for _, f := range ev.Fields {
		keys = append(keys, f.Key+"="+f.Value)
	}
	got := strings.Join(keys, "|")
	want := "AccountCode=acct1|Source=100|Destination=200|DestinationContext=from-sip|CallerID=\"Alice\" <100>|Channel=SIP/alice-00000001|DestinationChannel=SIP/bob-00000002|LastApplication=Dial|LastData=SIP/bob,20,\"x\"|StartTime=" +
		formatLocal(r.Start) + "|AnswerTime=" + formatLocal(r.Answer) + "|EndTime=" + formatLocal(r.End) +
		"|Duration=15|BillableSeconds=12|Disposition=ANSWERED|AMAFlags=DOCUMENTATION|UniqueID=1765081800.1|UserField=vip|Rate=0.02"
	if ev.Name != "Cdr" || ev.Class != ami.ClassCDR || got != want {
		t.Fatalf("event %s %v:\n%s\nwant\n%s", ev.Name, ev.Class, got, want)
	}
}

func TestSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.db")
	s := &SQLite{Path: path}
	defer s.Close()
	a, b := sampleRecord(), sampleRecord()
	b.Sequence, b.Answer, b.Disposition = 8, time.Time{}, DispNoAnswer
	if err := s.Write(t.Context(), []*Record{a, b}); err != nil {
		t.Fatal(err)
	}
	rows, err := s.db.Query(`SELECT src, lastdata, answer, billsec, disposition, sequence FROM cdr ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var src, data, ans, disp string
		var bill, seq int
		if err := rows.Scan(&src, &data, &ans, &bill, &disp, &seq); err != nil {
			t.Fatal(err)
		}
		got = append(got, strings.Join([]string{src, data, ans, strconv.Itoa(bill), disp, strconv.Itoa(seq)}, "|"))
	}
	want := []string{"100|" + a.LastData + "|" + FormatTime(a.Answer.Local()) + "|12|ANSWERED|7", "100|" + a.LastData + "||0|NO ANSWER|8"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A reload replaces a backend: what its memory queue held goes to the new one.
func TestReplaceBackendKeepsQueue(t *testing.T) {
	e := New(nil, DefaultSettings())
	defer e.Close(context.Background())
	old := &memBackend{name: "mem", fail: true}
	e.AddBackend(old, "")
	e.deliver(numbered(5, 0))
	waitUntil(t, "the failure", func() bool { return e.Status()[0].LastErr != "" })
	repl := &memBackend{name: "mem"}
	if err := e.AddBackend(repl, ""); err != nil {
		t.Fatal(err)
	}
	e.Flush(t.Context())
	if n := len(repl.records()); n != 5 || len(e.Status()) != 1 {
		t.Fatalf("%d records handed over, %d backends", n, len(e.Status()))
	}
}

// Records given to an open SQLite transaction in pieces (of 1, 5 and 20: each INSERT size)
// are in master.db, in order, only once it commits; an aborted one leaves nothing.
func TestSQLiteStream(t *testing.T) {
	ctx := t.Context()
	s := &SQLite{Path: filepath.Join(t.TempDir(), "master.db")}
	defer s.Close()
	recs := make([]*Record, 26)
	for i := range recs {
		recs[i] = sampleRecord()
		recs[i].Sequence = i
	}
	seqs := func() string {
		t.Helper()
		rows, err := s.db.QueryContext(ctx, `SELECT sequence FROM cdr ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []string
		for rows.Next() {
			var n int
			rows.Scan(&n)
			got = append(got, strconv.Itoa(n))
		}
		return strings.Join(got, ",")
	}
	st, err := s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Append(ctx, recs[:3]); err != nil {
		t.Fatal(err)
	}
	st.Abort()
	st.Abort()
	if got := seqs(); got != "" {
		t.Fatalf("rows after an abort: %s", got)
	}
	if st, err = s.Begin(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range [][2]int{{0, 1}, {1, 6}, {6, 26}} {
		if err := st.Append(ctx, recs[p[0]:p[1]]); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	want := make([]string, 26)
	for i := range want {
		want[i] = strconv.Itoa(i)
	}
	if got := seqs(); got != strings.Join(want, ",") {
		t.Fatalf("rows %s, want 0..25 in order", got)
	}
}

// countingStreamer counts how a backend's queue hands it records.
type countingStreamer struct {
	*SQLite
	mu               sync.Mutex
	appends, commits int
}

type countingStream struct {
	diskqueue.Stream[*Record]
	c *countingStreamer
}

func (c *countingStreamer) Begin(ctx context.Context) (diskqueue.Stream[*Record], error) {
	st, err := c.SQLite.Begin(ctx)
	return countingStream{st, c}, err
}

func (s countingStream) Append(ctx context.Context, recs []*Record) error {
	s.c.mu.Lock()
	s.c.appends++
	s.c.mu.Unlock()
	return s.Stream.Append(ctx, recs)
}

func (s countingStream) Commit(ctx context.Context) error {
	s.c.mu.Lock()
	s.c.commits++
	s.c.mu.Unlock()
	return s.Stream.Commit(ctx)
}

// master.db behind its spooled queue gets the records of a transaction as they come, in
// many pieces (every stepEvery), and commits them lingerFor after it began: 300 records
// made 1 ms apart are all there, in order, from a few commits.
func TestSQLiteGetsRecordsAsTheyCome(t *testing.T) {
	dir := t.TempDir()
	c := &countingStreamer{SQLite: &SQLite{Path: filepath.Join(dir, "master.db")}}
	e := New(nil, DefaultSettings())
	defer e.Close(context.Background())
	if err := e.AddBackend(c, filepath.Join(dir, "sqlite3.queue")); err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		r := sampleRecord()
		r.Sequence = i
		e.deliver([]*Record{r})
		time.Sleep(time.Millisecond)
	}
	if err := e.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	var n, ordered int
	if err := c.db.QueryRow(`SELECT count(*), sum(sequence = id - 1) FROM cdr`).Scan(&n, &ordered); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	appends, commits := c.appends, c.commits
	c.mu.Unlock()
	if n != 300 || ordered != 300 {
		t.Fatalf("%d rows, %d in order; want 300", n, ordered)
	}
	// ~300 ms of records: 2 commits of ~25 pieces each (loose bounds for a loaded machine).
	if commits < 1 || commits > 6 || appends < 5*commits {
		t.Fatalf("%d pieces in %d commits; want many pieces a commit", appends, commits)
	}
}

// Records posted while a reload replaces a backend (every "module reload cdr") reach the
// new one: none is lost in the moment the old one is stopped and the new one started, with
// a memory queue or a spooled one.
func TestReplaceBackendWhileRecordsCome(t *testing.T) {
	for _, spooled := range []bool{false, true} {
		t.Run(map[bool]string{false: "memory", true: "spool"}[spooled], func(t *testing.T) {
			spool := ""
			if spooled {
				spool = filepath.Join(t.TempDir(), "mem.queue")
			}
			e := New(nil, DefaultSettings())
			defer e.Close(context.Background())
			backends := []*memBackend{{name: "mem"}}
			if err := e.AddBackend(backends[0], spool); err != nil {
				t.Fatal(err)
			}
			const n = 20000
			done := make(chan struct{})
			go func() {
				defer close(done)
				for i := range n {
					e.deliver(numbered(1, i))
				}
			}()
			for range 20 {
				b := &memBackend{name: "mem"}
				backends = append(backends, b)
				if err := e.AddBackend(b, spool); err != nil {
					t.Fatal(err)
				}
			}
			<-done
			if err := e.Flush(t.Context()); err != nil {
				t.Fatal(err)
			}
			var got []*Record
			for _, b := range backends {
				got = append(got, b.records()...)
			}
			for i, r := range got {
				if r.Sequence != i {
					t.Fatalf("record %d is #%d (%d records in all, want %d once each in order)", i, r.Sequence, len(got), n)
				}
			}
			if len(got) != n {
				t.Fatalf("%d records written, want %d", len(got), n)
			}
		})
	}
}
