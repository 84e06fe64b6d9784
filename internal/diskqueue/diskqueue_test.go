package diskqueue

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type item struct {
	Seq  int
	Text string
}

type memWriter struct {
	name  string
	mu    sync.Mutex
	items []item
	fail  bool
	calls int
	once  bool // write the first batch, fail after
}

var errDown = errors.New("down")

func (m *memWriter) Name() string { return m.name }

func (m *memWriter) Write(_ context.Context, items []item) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if m.fail || (m.once && m.calls > 1) {
		return errDown
	}
	m.items = append(m.items, items...)
	return nil
}

func (m *memWriter) written() []item {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]item(nil), m.items...)
}

func (m *memWriter) setFail(f bool) {
	m.mu.Lock()
	m.fail = f
	m.mu.Unlock()
}

func numbered(n, from int) []item {
	var out []item
	for i := range n {
		out = append(out, item{Seq: from + i, Text: "x"})
	}
	return out
}

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

func inOrder(t *testing.T, got []item, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("%d items written, want %d", len(got), n)
	}
	for i, it := range got {
		if it.Seq != i {
			t.Fatalf("item %d has seq %d: out of order or twice", i, it.Seq)
		}
	}
}

// A Writer that is down keeps its items queued on disk, never blocks Add, and a stop with
// the backlog leaves it in the spool; the next queue on the same spool writes it first, in
// order, once.
func TestOutageAndRestart(t *testing.T) {
	spool := filepath.Join(t.TempDir(), "q", "w.queue")
	w := &memWriter{name: "w", fail: true}
	q, err := New[item](w, nil, spool, nil, Options{What: "TEST"})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := range 50 {
		q.Add(numbered(1, i))
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("Add blocked on a failing writer")
	}
	waitUntil(t, "the error in the status", func() bool { return q.Status().LastErr != "" })
	if st := q.Status(); st.Backlog != 50 || st.Spool != spool || st.Name != "w" {
		t.Fatalf("status %+v", st)
	}
	q.Close()
	b, _ := os.ReadFile(spool)
	if n := strings.Count(string(b), "\n"); n != 50 {
		t.Fatalf("spool holds %d items after the stop, want 50", n)
	}
	w2 := &memWriter{name: "w", fail: true}
	q2, err := New[item](w2, nil, spool, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q2.Close()
	q2.Add(numbered(10, 50))
	w2.setFail(false)
	if err := q2.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	inOrder(t, w2.written(), 60)
	if st := q2.Status(); st.Backlog != 0 || st.Written != 60 || st.LastErr != "" {
		t.Fatalf("status after drain %+v", st)
	}
	if _, err := os.Stat(spool); !os.IsNotExist(err) {
		t.Fatalf("spool left after the drain: %v", err)
	}
}

// A stop after part of the backlog was written: the next start writes only the rest (the
// spool's head is counted in <spool>.done, not rewritten after each batch).
func TestSpoolHeadWritten(t *testing.T) {
	spool := filepath.Join(t.TempDir(), "q", "x.queue")
	o := &memWriter{name: "x", once: true}
	// Queue 150 before the writer starts draining: its first batch is 100.
	q, err := New[item](o, nil, spool, numbered(150, 0), Options{})
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the first batch", func() bool { return len(o.written()) == 100 && q.Status().LastErr != "" })
	q.Close()
	if d := readDone(spool); d != 100 {
		t.Fatalf("done count %d, want 100", d)
	}
	m := &memWriter{name: "x"}
	q2, err := New[item](m, nil, spool, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q2.Close()
	q2.Flush(t.Context())
	got := m.written()
	if len(got) != 50 || got[0].Seq != 100 || got[49].Seq != 149 {
		t.Fatalf("%d items after the restart (first %v)", len(got), got[0])
	}
}

// A full queue drops new items and counts them; a memory queue hands what it holds to its
// replacement through Pending.
func TestLimitAndPending(t *testing.T) {
	w := &memWriter{name: "m", fail: true}
	q, err := New[item](w, nil, "", nil, Options{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	q.Add(numbered(8, 0))
	q.Add(numbered(5, 8))
	q.Close()
	if st := q.Status(); st.Backlog != 10 || st.Dropped != 3 || st.Spool != "" {
		t.Fatalf("status %+v", st)
	}
	left := q.Pending()
	w2 := &memWriter{name: "m"}
	q2, err := New[item](w2, nil, "", left, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q2.Close()
	q2.Flush(t.Context())
	inOrder(t, w2.written(), 10)
}

// A spool that cannot be written: logged, and the queue goes on in memory.
func TestUnwritableSpool(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "q")
	spool := filepath.Join(dir, "w.queue")
	w := &memWriter{name: "w"}
	q, err := New[item](w, nil, spool, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	// The spool's directory is taken away and a file put in its place.
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	q.Add(numbered(3, 0))
	if err := q.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	inOrder(t, w.written(), 3)
	if st := q.Status(); st.Spool != "" {
		t.Fatalf("status %+v: the spool should be given up", st)
	}
}

// Items that keep coming: the spool file a write emptied is emptied in place (the same
// file, truncated) when the queue also emptied less than KeepEmpty before, not removed
// and made again for every batch; it is removed at Close, and once no item came for
// KeepEmpty.
func TestSpoolKeptWhileItemsCome(t *testing.T) {
	spool := filepath.Join(t.TempDir(), "q", "k.queue")
	w := &memWriter{name: "k"}
	q, err := New[item](w, nil, spool, nil, Options{KeepEmpty: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	// The first drain removes the file (nothing came before it).
	q.Add(numbered(3, 0))
	waitUntil(t, "a batch written", func() bool { return len(w.written()) == 3 })
	waitUntil(t, "the first file removed", func() bool { _, err := os.Stat(spool); return os.IsNotExist(err) })
	var first os.FileInfo
	for i := range 5 {
		q.Add(numbered(3, 3+3*i))
		waitUntil(t, "a batch written", func() bool { return len(w.written()) == 6+3*i })
		waitUntil(t, "the batch's file emptied", func() bool { fi, err := os.Stat(spool); return err == nil && fi.Size() == 0 })
		fi, _ := os.Stat(spool)
		if i == 0 {
			first = fi
		} else if !os.SameFile(first, fi) {
			t.Fatalf("batch %d: the spool file was made again", i)
		}
	}
	q.Close()
	if _, err := os.Stat(spool); !os.IsNotExist(err) {
		t.Fatalf("spool left after the stop: %v", err)
	}
	inOrder(t, w.written(), 18)

	// Removed when no item came for KeepEmpty.
	w2 := &memWriter{name: "k"}
	q2, err := New[item](w2, nil, spool, nil, Options{KeepEmpty: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer q2.Close()
	for i := range 3 {
		q2.Add(numbered(1, i))
		waitUntil(t, "a batch written", func() bool { return len(w2.written()) == i+1 })
	}
	waitUntil(t, "the idle file removed", func() bool { _, err := os.Stat(spool); return os.IsNotExist(err) })
	inOrder(t, w2.written(), 3)
}

// slowWriter writes its items, then takes a while to report it, as a commit whose answer is
// on its way: a cancelled ctx in that moment makes it fail although the items are written.
type slowWriter struct {
	memWriter
	started chan struct{}
}

func (s *slowWriter) Write(ctx context.Context, items []item) error {
	s.mu.Lock()
	s.items = append(s.items, items...)
	s.mu.Unlock()
	close(s.started)
	select {
	case <-time.After(200 * time.Millisecond):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close while a write is under way lets it finish: its items are not left in the spool for
// the next queue (a reload's) to write a second time.
func TestCloseLetsWriteFinish(t *testing.T) {
	spool := filepath.Join(t.TempDir(), "s.queue")
	w := &slowWriter{memWriter: memWriter{name: "s"}, started: make(chan struct{})}
	q, err := New[item](w, nil, spool, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	q.Add(numbered(5, 0))
	<-w.started
	q.Close()
	w2 := drainSpool(t, spool)
	if a, b := len(w.written()), len(w2.written()); a != 5 || b != 0 {
		t.Fatalf("written %d by the closed queue, %d again by the next; want 5 and 0", a, b)
	}
}

// drainSpool starts a queue on spool (as the next start or a reload does) and returns its
// writer once the queue has written what the file held.
func drainSpool(t *testing.T, spool string) *memWriter {
	t.Helper()
	w := &memWriter{name: "s"}
	q, err := New[item](w, nil, spool, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if err := q.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	return w
}
