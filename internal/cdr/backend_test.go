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
