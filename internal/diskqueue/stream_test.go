package diskqueue

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// streamWriter is a Streamer in memory: what a batch appended is written at its Commit;
// failAppend/failCommit make the next Append/Commit fail once.
type streamWriter struct {
	memWriter
	open                   bool
	batches                int   // batches committed
	pieces                 []int // items of each Append of committed batches
	cur                    []item
	curPieces              []int
	aborts                 int
	failAppend, failCommit bool
}

type memStream struct{ w *streamWriter }

func (s *streamWriter) Begin(context.Context) (Stream[item], error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open {
		panic("a second batch opened while one is open")
	}
	s.open, s.cur, s.curPieces = true, nil, nil
	return memStream{s}, nil
}

func (m memStream) Append(_ context.Context, items []item) error {
	s := m.w
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failAppend {
		s.failAppend = false
		return errDown
	}
	s.cur = append(s.cur, items...)
	s.curPieces = append(s.curPieces, len(items))
	return nil
}

func (m memStream) Commit(context.Context) error {
	s := m.w
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failCommit {
		s.failCommit = false
		return errDown
	}
	s.items = append(s.items, s.cur...)
	s.pieces = append(s.pieces, s.curPieces...)
	s.batches++
	s.open = false
	return nil
}

func (m memStream) Abort() {
	s := m.w
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open {
		s.aborts++
		s.open = false
	}
}

func (s *streamWriter) counts() (batches, pieces, aborts int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.batches, len(s.pieces), s.aborts
}

// A Streamer gets items while its batch is open, piece by piece every Step, and commits
// them once a Linger after the batch opened: every item once, in order, few commits for
// many pieces.
func TestStreamerGetsPieces(t *testing.T) {
	w := &streamWriter{memWriter: memWriter{name: "s"}}
	q, err := New[item](w, nil, filepath.Join(t.TempDir(), "s.queue"), nil,
		Options{Linger: 200 * time.Millisecond, Step: 10 * time.Millisecond, Batch: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	// 300 items, one every millisecond: ~1.5 lingers.
	for i := range 300 {
		q.Add(numbered(1, i))
		time.Sleep(time.Millisecond)
	}
	if err := q.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	inOrder(t, w.written(), 300)
	batches, pieces, aborts := w.counts()
	// ~2 batches of ~200 ms, each of ~20 pieces (sleeps on a loaded machine run long: the
	// bounds are loose, the point is many pieces a batch and few commits).
	if batches < 1 || batches > 6 || pieces < 4*batches || aborts != 0 {
		t.Fatalf("%d batches of %d pieces in all, %d aborted; want a few batches of many pieces", batches, pieces, aborts)
	}
}

// A failed Append or Commit aborts the batch; the same items are offered again first, and
// every item is written once, in order.
func TestStreamerFailureRetries(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(w *streamWriter)
	}{
		{"append", func(w *streamWriter) { w.failAppend = true }},
		{"commit", func(w *streamWriter) { w.failCommit = true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &streamWriter{memWriter: memWriter{name: "s"}}
			tc.set(w)
			q, err := New[item](w, nil, filepath.Join(t.TempDir(), "s.queue"), nil,
				Options{Linger: 50 * time.Millisecond, Step: 5 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer q.Close()
			for i := range 40 {
				q.Add(numbered(1, i))
				time.Sleep(time.Millisecond)
			}
			if err := q.Flush(t.Context()); err != nil {
				t.Fatal(err)
			}
			inOrder(t, w.written(), 40)
			if _, _, aborts := w.counts(); aborts != 1 {
				t.Fatalf("%d batches aborted, want 1", aborts)
			}
			if st := q.Status(); st.Written != 40 || st.LastErr != "" {
				t.Fatalf("status %+v", st)
			}
		})
	}
}

// A stop while a batch is open aborts it: its items stay in the spool for the next start,
// which writes them once.
func TestStreamerStopWhileOpen(t *testing.T) {
	spool := filepath.Join(t.TempDir(), "s.queue")
	w := &streamWriter{memWriter: memWriter{name: "s"}}
	q, err := New[item](w, nil, spool, nil, Options{Linger: time.Hour, Step: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	q.Add(numbered(5, 0))
	waitUntil(t, "the items appended", func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return len(w.cur) == 5
	})
	q.Close()
	if b, _, aborts := w.counts(); b != 0 || aborts != 1 {
		t.Fatalf("%d batches committed, %d aborted; want 0 and 1", b, aborts)
	}
	inOrder(t, drainSpool(t, spool).written(), 5)
}
