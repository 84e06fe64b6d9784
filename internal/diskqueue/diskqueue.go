// Package diskqueue is the queue between a record maker and a slow consumer that must
// never hold up a call: CDR backends (internal/cdr) and CEL backends (internal/cel) each
// get one. A Queue is named, bounded (Options.Limit: beyond it new items are dropped and
// counted) and drained in order by its own goroutine, which hands batches to a Writer and
// retries a failed batch with backoff (100 ms doubling to 5 s) until it is written.
//
// With a spool path the queue is mirrored in a file, one JSON object a line: items a stop
// left there (or a crash, up to the last save) are written first at the next start. Add
// only appends to memory; the queue's goroutine appends what was added to the file before
// each write attempt, while it waits to retry, and at Close, so file I/O never runs on the
// caller's goroutine. Only saved items are offered to the Writer: the file's head is the
// queue's. How many items at the head of the file were written is kept in <spool>.done
// (a stop after part of a backlog does not write them again) and the file is rewritten
// without them every 5,000 items. When the queue empties the file is removed, unless the
// queue also emptied less than a second before (items keep coming): then the open file
// is emptied in place (truncated), and removed once no item came for a second or at
// Close. Creating and removing a file for every batch costs ten times what truncating
// it does (docs/performance.md, call detail records). A file that cannot be written is
// logged and the queue goes on in memory.
//
// A Writer gets a batch once Options.Linger has passed since a wake-up. A Writer that is
// also a Streamer gets it piece by piece instead: the queue opens its batch (Begin) as soon
// as items are there, appends what was saved every Options.Step, and commits the batch
// Linger after it opened (or once it holds Batch items). The Writer's work is spread over
// the linger and still costs one commit. A failed Append or Commit, or a stop, aborts the
// batch: none of it is known written, and the same items are offered again.
//
// Items are spooled with encoding/json, or with their AppendJSON method when they have
// one (it must write what encoding/json would: the file is read back with it).
package diskqueue

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Writer writes items somewhere (a file, AMI, a database). Write is called from the queue's
// goroutine with items in the order they were added; an error means none of them is known
// written and the same items are offered again later (a writer that wrote some must not
// fail the batch). A Writer that is an io.Closer is closed by Queue.Close.
type Writer[T any] interface {
	Name() string
	Write(ctx context.Context, items []T) error
}

// Streamer is a Writer that can also take a batch piece by piece: Begin opens a batch (a
// transaction), Append adds items to it as they come, in order, and Commit writes them all
// at once or none. The queue then hands items over every Options.Step while the batch is
// open and commits it Options.Linger after it opened: the writer's work is spread over the
// linger instead of done in one burst at its end, and a batch still costs one commit.
type Streamer[T any] interface {
	Writer[T]
	Begin(ctx context.Context) (Stream[T], error)
}

// Stream is a Streamer's open batch. After an error from Append or Commit, nothing of the
// batch is known written: the queue calls Abort and offers the same items again later.
type Stream[T any] interface {
	Append(ctx context.Context, items []T) error
	Commit(ctx context.Context) error
	Abort()
}

// Options tune a Queue; the zero value gives the defaults.
type Options struct {
	What   string        // what the items are, for the log: "CDR", "CEL" (default "queue")
	Limit  int           // most items held (default 100,000)
	Batch  int           // most items per Write (default 100; a Writer's MaxBatch() wins)
	Linger time.Duration // how long to let items gather after a wake-up (default none)
	// Step is how often items are handed to a Streamer's open batch (default Linger/25);
	// a Writer that is not a Streamer gets its batch at the end of the linger.
	Step time.Duration
	// KeepEmpty is how long an emptied spool file is kept for items that keep coming
	// (default 1 s; see the package doc).
	KeepEmpty time.Duration
}

// Status is a queue's state for "cdr show status" and the like.
type Status struct {
	Name    string
	Backlog int    // items waiting
	Written uint64 // items written since start
	Dropped uint64 // items lost to a full queue
	Spool   string // the on-disk queue, "" for a memory queue
	LastErr string // the last write error while the backlog is not empty
}

// keepEmpty is how long the spool file is kept, emptied, for items that keep coming
// (Options.KeepEmpty's default).
const keepEmpty = time.Second

// closeGrace is how long Close lets a write or commit under way finish before it cancels
// it (a database that hangs).
const closeGrace = 5 * time.Second

// compactAfter is how many written items the spool file keeps at its head (counted in
// <spool>.done) before it is rewritten without them: a backlog drains in linear time.
const compactAfter = 5000

// Queue is one Writer's queue.
type Queue[T any] struct {
	w     Writer[T]
	log   *slog.Logger
	opt   Options
	spool string // read and written under mu; the file itself only by the queue's goroutine

	mu       sync.Mutex
	queue    []T
	file     *os.File // the spool file open for appending, nil until the first append
	unsaved  int      // items at the tail of the queue not yet appended to the spool
	headDone int      // items at the head of the spool file already written (in <spool>.done)
	doneFile bool     // <spool>.done was written since the file was last emptied
	emptied  time.Time
	kept     bool   // the file is open and empty, kept for items that keep coming
	buf      []byte // the encoding of the last save, reused
	written  uint64
	dropped  uint64
	lastErr  error
	wake     chan struct{}
	stop     chan struct{}
	done     chan struct{}
	drained  *sync.Cond
}

// New starts a queue for w. spool, when not empty, is the file that mirrors it (items
// found there are queued first); left are items to queue after them (a memory queue
// handed over by a reload).
func New[T any](w Writer[T], log *slog.Logger, spool string, left []T, opt Options) (*Queue[T], error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opt.What == "" {
		opt.What = "queue"
	}
	if opt.Limit <= 0 {
		opt.Limit = 100000
	}
	if opt.Batch <= 0 {
		opt.Batch = 100
	}
	if opt.KeepEmpty <= 0 {
		opt.KeepEmpty = keepEmpty
	}
	if opt.Step <= 0 {
		opt.Step = opt.Linger / 25
	}
	if mb, ok := w.(interface{ MaxBatch() int }); ok && mb.MaxBatch() > 0 {
		opt.Batch = mb.MaxBatch()
	}
	q := &Queue[T]{w: w, log: log, opt: opt, spool: spool, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	q.drained = sync.NewCond(&q.mu)
	if spool == "" {
		q.queue = left
		go q.run()
		return q, nil
	}
	if err := os.MkdirAll(filepath.Dir(spool), 0o750); err != nil {
		return nil, fmt.Errorf("%s: %s queue: %w", strings.ToLower(opt.What), w.Name(), err)
	}
	items, err := readSpool[T](spool)
	if err != nil {
		return nil, fmt.Errorf("%s: %s queue %s: %w", strings.ToLower(opt.What), w.Name(), spool, err)
	}
	if d := readDone(spool); d > 0 {
		items = items[min(d, len(items)):]
		q.queue = items
		q.rewriteSpool() // start from a compact file
	}
	q.queue = items
	if len(left) > 0 {
		if err := appendFile(spool, left); err != nil {
			return nil, fmt.Errorf("%s: %s queue %s: %w", strings.ToLower(opt.What), w.Name(), spool, err)
		}
		q.queue = append(q.queue, left...)
	}
	if len(items) > 0 {
		log.Info(opt.What+" records left from the last run", "backend", w.Name(), "count", len(items), "queue", spool)
	}
	go q.run()
	return q, nil
}

func readSpool[T any](path string) ([]T, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		var it T
		if err := json.Unmarshal(sc.Bytes(), &it); err != nil {
			continue // a line cut by a crash
		}
		out = append(out, it)
	}
	return out, sc.Err()
}

// readDone reads how many items at the head of a spool file were written already.
func readDone(spool string) int {
	b, err := os.ReadFile(spool + ".done")
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

// jsonAppender is an item that spools itself: AppendJSON appends what json.Marshal gives
// for it, without reflection (AppendString and AppendTime help), or fails where it fails.
type jsonAppender interface {
	AppendJSON(b []byte) ([]byte, error)
}

// encode appends items to b, one JSON object a line.
func encode[T any](b []byte, items []T) ([]byte, error) {
	if len(items) > 0 {
		if _, ok := any(items[0]).(jsonAppender); ok {
			for _, it := range items {
				var err error
				if b, err = any(it).(jsonAppender).AppendJSON(b); err != nil {
					return nil, err
				}
				b = append(b, '\n')
			}
			return b, nil
		}
	}
	w := bytes.NewBuffer(b)
	enc := json.NewEncoder(w)
	for _, it := range items {
		if err := enc.Encode(it); err != nil {
			return nil, err
		}
	}
	return w.Bytes(), nil
}

func appendFile[T any](path string, items []T) error {
	b, err := encode(nil, items)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Add queues items; it never blocks on the Writer.
func (q *Queue[T]) Add(items []T) {
	q.mu.Lock()
	room := q.opt.Limit - len(q.queue)
	if room < len(items) {
		q.dropped += uint64(len(items) - max(room, 0))
		q.log.Error(q.opt.What+" queue full, records dropped", "backend", q.w.Name(), "dropped", len(items)-max(room, 0))
		items = items[:max(room, 0)]
	}
	if q.spool != "" {
		q.unsaved += len(items) // appended to the spool by the queue's goroutine (save)
	}
	q.queue = append(q.queue, items...)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// wrote notes that n items at the head of the queue were written and removed from it
// (the queue's goroutine, without q.mu: file I/O never holds up an Add).
func (q *Queue[T]) wrote(n int) {
	if q.spoolPath() == "" {
		return
	}
	q.headDone += n
	q.mu.Lock()
	saved := len(q.queue) - q.unsaved // items in the file not written yet
	q.mu.Unlock()
	if saved == 0 {
		// Everything in the file is written (items added since are in memory only).
		now := time.Now()
		recent := now.Sub(q.emptied) < q.opt.KeepEmpty
		q.emptied = now
		if !recent || !q.truncate() {
			q.removeSpool()
		}
		return
	}
	if q.headDone >= compactAfter {
		q.rewriteSpool()
		return
	}
	tmp := q.spool + ".done.tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(q.headDone)+"\n"), 0o640); err == nil {
		if os.Rename(tmp, q.spool+".done") == nil {
			q.doneFile = true
		}
	}
}

// truncate empties the open spool file in place, every item in it written (the queue's
// goroutine); false when there is no open file or it could not be truncated.
func (q *Queue[T]) truncate() bool {
	if q.file == nil || q.file.Truncate(0) != nil {
		return false
	}
	// The file first, its head count after: a crash in between leaves an empty file
	// and a count that skips nothing of it.
	q.headDone = 0
	if q.doneFile {
		os.Remove(q.spool + ".done")
		q.doneFile = false
	}
	q.kept = true
	return true
}

// removeSpool removes the spool file, every item in it written (the queue's goroutine).
func (q *Queue[T]) removeSpool() {
	q.closeFile()
	q.headDone = 0
	q.kept = false
	os.Remove(q.spool + ".done")
	q.doneFile = false
	if err := os.Remove(q.spool); err != nil && !errors.Is(err, os.ErrNotExist) {
		q.log.Error(q.opt.What+" queue file not removed", "queue", q.spool, "err", err)
	}
}

func (q *Queue[T]) spoolPath() string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.spool
}

// save appends the items added since the last save to the spool, in one write (the
// queue's goroutine). An Add only queues in memory; a crash loses what was added since
// the last save.
func (q *Queue[T]) save() {
	q.mu.Lock()
	u := q.unsaved
	if q.spool == "" || u == 0 {
		q.mu.Unlock()
		return
	}
	tail := append([]T(nil), q.queue[len(q.queue)-u:]...)
	q.mu.Unlock()
	if err := q.appendOpen(tail); err != nil {
		// The queue goes on in memory: the Writer still gets every item.
		q.log.Error(q.opt.What+" queue file cannot be written; the queue stays in memory", "backend", q.w.Name(), "queue", q.spool, "err", err)
		q.closeFile()
		q.mu.Lock()
		q.spool, q.unsaved = "", 0
		q.mu.Unlock()
		return
	}
	q.mu.Lock()
	q.unsaved -= u
	q.mu.Unlock()
}

// appendOpen appends items to the spool through the open file, in one write.
func (q *Queue[T]) appendOpen(items []T) error {
	if q.file == nil {
		f, err := os.OpenFile(q.spool, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
		if err != nil {
			return err
		}
		q.file = f
	}
	b, err := encode(q.buf[:0], items)
	if err != nil {
		return err
	}
	if cap(b) <= 1<<20 {
		q.buf = b
	}
	q.kept = false
	_, err = q.file.Write(b)
	return err
}

func (q *Queue[T]) closeFile() {
	if q.file != nil {
		q.file.Close()
		q.file = nil
	}
}

// rewriteSpool replaces the spool file with what is queued now (the queue's goroutine,
// or New before it starts; without q.mu).
func (q *Queue[T]) rewriteSpool() {
	if q.spool == "" {
		return
	}
	q.closeFile()
	q.headDone = 0
	q.kept = false
	os.Remove(q.spool + ".done")
	q.doneFile = false
	q.mu.Lock()
	items := append([]T(nil), q.queue...)
	u := q.unsaved
	q.mu.Unlock()
	if len(items) == 0 {
		if err := os.Remove(q.spool); err != nil && !errors.Is(err, os.ErrNotExist) {
			q.log.Error(q.opt.What+" queue file not removed", "queue", q.spool, "err", err)
		}
		return
	}
	tmp := q.spool + ".tmp"
	os.Remove(tmp)
	if err := appendFile(tmp, items); err != nil {
		q.log.Error(q.opt.What+" queue file not written", "queue", tmp, "err", err)
		return
	}
	if err := os.Rename(tmp, q.spool); err != nil {
		q.log.Error(q.opt.What+" queue file not replaced", "queue", q.spool, "err", err)
		return
	}
	q.mu.Lock()
	q.unsaved -= u
	q.mu.Unlock()
}

func (q *Queue[T]) run() {
	defer close(q.done)
	backoff := 100 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-q.stop
		// A write or commit under way is let finish: cut off, it may have committed all the
		// same, and the queue's successor (a reload's) would write its items again.
		t := time.NewTimer(closeGrace)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-ctx.Done():
		}
	}()
	streamer, streams := q.w.(Streamer[T])
	streams = streams && q.opt.Linger > 0
	var batch []T
	for {
		q.save()
		q.mu.Lock()
		// Only items already in the spool are offered: the spool's head is the queue's.
		n := min(len(q.queue)-q.unsaved, q.opt.Batch)
		if !streams {
			batch = append([]T(nil), q.queue[:n]...)
		}
		if n == 0 {
			q.drained.Broadcast()
		}
		q.mu.Unlock()
		if n == 0 {
			var idle *time.Timer
			var idleC <-chan time.Time
			if q.kept {
				// The file was kept, emptied, for items that keep coming: removed if none
				// comes for a while.
				idle = time.NewTimer(q.opt.KeepEmpty)
				idleC = idle.C
			}
			select {
			case <-q.wake:
			case <-q.stop:
				return
			case <-idleC:
				q.removeSpool()
				continue
			}
			if idle != nil {
				idle.Stop()
			}
			if q.opt.Linger > 0 && !streams {
				// Let items gather for a moment: one write (one transaction) for many.
				linger := time.NewTimer(q.opt.Linger)
				select {
				case <-linger.C:
				case <-q.stop:
					linger.Stop()
				}
			}
			continue
		}
		select {
		case <-q.stop:
			return // no write begins after Close
		default:
		}
		var err error
		if streams {
			n, err = q.streamBatch(ctx, streamer)
		} else {
			err = q.w.Write(ctx, batch)
		}
		if err != nil {
			select {
			case <-q.stop:
				return
			default:
			}
			q.mu.Lock()
			if q.lastErr == nil {
				q.log.Error(q.opt.What+" backend failed, records kept in its queue", "backend", q.w.Name(), "err", err)
			}
			q.lastErr = err
			q.mu.Unlock()
			// Wait before the retry; what is added meanwhile still goes to the spool now.
			timer := time.NewTimer(backoff)
		wait:
			for {
				select {
				case <-timer.C:
					break wait
				case <-q.wake:
					q.save()
				case <-q.stop:
					timer.Stop()
					return
				}
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		q.mu.Lock()
		if q.lastErr != nil {
			q.log.Info(q.opt.What+" backend back, queue draining", "backend", q.w.Name(), "backlog", len(q.queue))
		}
		q.lastErr = nil
		backoff = 100 * time.Millisecond
		clear(q.queue[:n]) // let the written items go
		q.queue = q.queue[n:]
		q.written += uint64(n)
		q.mu.Unlock()
		q.wrote(n)
	}
}

// streamBatch writes one batch through s (the queue's goroutine): what is saved now, then
// every Step what was saved since, until Linger has passed since it opened or it holds
// Batch items; it returns how many items it committed.
func (q *Queue[T]) streamBatch(ctx context.Context, s Streamer[T]) (int, error) {
	st, err := s.Begin(ctx)
	if err != nil {
		return 0, err
	}
	end := time.Now().Add(q.opt.Linger)
	var timer *time.Timer
	sent := 0
	var piece []T
	for {
		q.mu.Lock()
		n := min(len(q.queue)-q.unsaved, q.opt.Batch)
		piece = append(piece[:0], q.queue[sent:n]...)
		q.mu.Unlock()
		if len(piece) > 0 {
			err := st.Append(ctx, piece)
			clear(piece)
			if err != nil {
				st.Abort()
				return 0, err
			}
			sent = n
		}
		left := time.Until(end)
		if sent >= q.opt.Batch || left <= 0 {
			break
		}
		if timer == nil {
			timer = time.NewTimer(min(q.opt.Step, left))
		} else {
			timer.Reset(min(q.opt.Step, left))
		}
		select {
		case <-timer.C:
		case <-q.stop:
			timer.Stop()
			st.Abort()
			return 0, context.Canceled
		}
		q.save()
	}
	if err := st.Commit(ctx); err != nil {
		st.Abort()
		return 0, err
	}
	return sent, nil
}

// Flush waits until the queue is empty or ctx ends.
func (q *Queue[T]) Flush(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		q.mu.Lock()
		q.drained.Broadcast()
		q.mu.Unlock()
	})
	defer stop()
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.queue) > 0 {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		q.drained.Wait()
	}
	return nil
}

// Close stops the queue's goroutine, saves what waits to the spool (where the next start
// finds it) and closes the Writer when it is an io.Closer. It does not wait for the Writer
// to drain the queue (Flush first for that), and starts no write; a write or commit under
// way is let finish (closeGrace the most), as one cut off may have committed all the same.
func (q *Queue[T]) Close() {
	close(q.stop)
	<-q.done
	q.save()
	if q.kept {
		q.removeSpool() // nothing waits: a stop leaves no empty file
	}
	q.closeFile()
	if c, ok := q.w.(io.Closer); ok {
		c.Close()
	}
}

// Pending returns what the queue holds (after Close: what a replacement should take over).
func (q *Queue[T]) Pending() []T {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]T(nil), q.queue...)
}

// Name is the Writer's name.
func (q *Queue[T]) Name() string { return q.w.Name() }

// Spool is the file mirroring the queue, "" for a memory queue (also after a file that
// could not be written).
func (q *Queue[T]) Spool() string { return q.spoolPath() }

// Status returns the queue's state.
func (q *Queue[T]) Status() Status {
	q.mu.Lock()
	defer q.mu.Unlock()
	st := Status{Name: q.w.Name(), Backlog: len(q.queue), Written: q.written, Dropped: q.dropped, Spool: q.spool}
	if q.lastErr != nil {
		st.LastErr = q.lastErr.Error()
	}
	return st
}
