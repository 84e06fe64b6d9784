package cdr

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

// Backend writes records somewhere (Master.csv, AMI, a database). Write is called from the
// backend's own goroutine, never from a call's, with records in the order they were
// posted; an error means none of them is known written and the same records are offered
// again later (a backend that wrote some must not fail the batch).
type Backend interface {
	Name() string
	Write(ctx context.Context, recs []*Record) error
}

// QueueLimit is how many records a backend's queue holds before it drops new ones.
const QueueLimit = 100000

// writeBatch is the most records handed to one Write.
const writeBatch = 100

// BackendStatus is one backend's line of "cdr show status".
type BackendStatus struct {
	Name    string
	Backlog int    // records waiting
	Written uint64 // records written since start
	Dropped uint64 // records lost to a full queue
	Spool   string // the on-disk queue, "" for a memory queue
	LastErr string // the last write error while the backlog is not empty
}

// lingerFor is how long a backend's goroutine waits, when woken for a record, for more
// before it writes: at 1,000 calls/s a database gets one transaction of ~50 records where
// it would get 50 of one (each a commit, a WAL flush in PostgreSQL).
const lingerFor = 50 * time.Millisecond

// sink runs one backend: a named, bounded queue (in memory, or mirrored in a spool file
// for a backend that must not lose records) and the goroutine that drains it in order.
type sink struct {
	b     Backend
	log   *slog.Logger
	spool string

	mu       sync.Mutex
	queue    []*Record
	file     *os.File // the spool file open for appending, nil until the first append
	unsaved  int      // records at the tail of the queue not yet appended to the spool
	headDone int      // records at the head of the spool file already written (in <spool>.done)
	written  uint64
	dropped  uint64
	lastErr  error
	wake     chan struct{}
	stop     chan struct{}
	done     chan struct{}
	drained  *sync.Cond
}

// spooled is a record as the spool file holds it (one JSON object a line).
type spooled struct {
	Record
}

func newSink(b Backend, log *slog.Logger, spool string, left []*Record) (*sink, error) {
	s := &sink{b: b, log: log, spool: spool, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	s.drained = sync.NewCond(&s.mu)
	if spool != "" {
		if err := os.MkdirAll(filepath.Dir(spool), 0o750); err != nil {
			return nil, fmt.Errorf("cdr: %s queue: %w", b.Name(), err)
		}
		recs, err := readSpool(spool)
		if err != nil {
			return nil, fmt.Errorf("cdr: %s queue %s: %w", b.Name(), spool, err)
		}
		if d := readDone(spool); d > 0 {
			recs = recs[min(d, len(recs)):]
			s.queue = recs
			s.rewriteSpool() // start from a compact file
		}
		s.queue = recs
		if len(left) > 0 {
			if err := appendSpool(spool, left); err != nil {
				return nil, fmt.Errorf("cdr: %s queue %s: %w", b.Name(), spool, err)
			}
			s.queue = append(s.queue, left...)
		}
		if len(recs) > 0 {
			log.Info("CDR records left from the last run", "backend", b.Name(), "count", len(recs), "queue", spool)
		}
	}
	if spool == "" {
		s.queue = left
	}
	go s.run()
	return s, nil
}

func readSpool(path string) ([]*Record, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []*Record
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		var r spooled
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			continue // a line cut by a crash
		}
		rec := r.Record
		out = append(out, &rec)
	}
	return out, sc.Err()
}

// add queues records; it never blocks on the backend.
func (s *sink) add(recs []*Record) {
	s.mu.Lock()
	room := QueueLimit - len(s.queue)
	if room < len(recs) {
		s.dropped += uint64(len(recs) - max(room, 0))
		s.log.Error("CDR queue full, records dropped", "backend", s.b.Name(), "dropped", len(recs)-max(room, 0))
		recs = recs[:max(room, 0)]
	}
	if s.spool != "" {
		s.unsaved += len(recs) // appended to the spool by the backend's goroutine (save)
	}
	s.queue = append(s.queue, recs...)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func appendSpool(path string, recs []*Record) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, r := range recs {
		if err := enc.Encode(spooled{*r}); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// readDone reads how many records at the head of the spool were written already.
func readDone(spool string) int {
	b, err := os.ReadFile(spool + ".done")
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

// compactAfter is how many written records the spool file keeps at its head (counted in
// <spool>.done) before it is rewritten without them: a backlog drains in linear time.
const compactAfter = 5000

// wrote notes that n records at the head of the queue were written and removed from it
// (the backend's goroutine, without s.mu: file I/O never holds up a post).
func (s *sink) wrote(n int) {
	if s.spool == "" {
		return
	}
	s.headDone += n
	s.mu.Lock()
	empty := len(s.queue) == 0
	s.mu.Unlock()
	if empty || s.headDone >= compactAfter {
		s.rewriteSpool()
		return
	}
	tmp := s.spool + ".done.tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(s.headDone)+"\n"), 0o640); err == nil {
		os.Rename(tmp, s.spool+".done")
	}
}

// save appends the records posted since the last save to the spool: on the backend's
// goroutine, in one write, before each write attempt, while it waits to retry, and at a
// stop. A post only queues in memory; a crash loses what was posted since the last save.
func (s *sink) save() {
	if s.spool == "" {
		return
	}
	s.mu.Lock()
	u := s.unsaved
	tail := append([]*Record(nil), s.queue[len(s.queue)-u:]...)
	s.mu.Unlock()
	if u == 0 {
		return
	}
	if err := s.appendOpen(tail); err != nil {
		// The queue goes on in memory: the backend still gets every record.
		s.log.Error("CDR queue file cannot be written; the queue stays in memory", "backend", s.b.Name(), "queue", s.spool, "err", err)
		s.closeFile()
		s.mu.Lock()
		s.spool, s.unsaved = "", 0
		s.mu.Unlock()
		return
	}
	s.mu.Lock()
	s.unsaved -= u
	s.mu.Unlock()
}

// appendOpen appends records to the spool through the open file, in one write (the
// backend's goroutine only).
func (s *sink) appendOpen(recs []*Record) error {
	if s.file == nil {
		f, err := os.OpenFile(s.spool, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
		if err != nil {
			return err
		}
		s.file = f
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for _, r := range recs {
		if err := enc.Encode(spooled{*r}); err != nil {
			return err
		}
	}
	_, err := s.file.Write(b.Bytes())
	return err
}

func (s *sink) closeFile() {
	if s.file != nil {
		s.file.Close()
		s.file = nil
	}
}

// rewriteSpool replaces the spool file with what is queued now (the backend's goroutine,
// without s.mu).
func (s *sink) rewriteSpool() {
	if s.spool == "" {
		return
	}
	s.closeFile()
	s.headDone = 0
	os.Remove(s.spool + ".done")
	s.mu.Lock()
	q := append([]*Record(nil), s.queue...)
	u := s.unsaved
	s.mu.Unlock()
	if len(q) == 0 {
		if err := os.Remove(s.spool); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Error("CDR queue file not removed", "queue", s.spool, "err", err)
		}
		return
	}
	tmp := s.spool + ".tmp"
	os.Remove(tmp)
	if err := appendSpool(tmp, q); err != nil {
		s.log.Error("CDR queue file not written", "queue", tmp, "err", err)
		return
	}
	if err := os.Rename(tmp, s.spool); err != nil {
		s.log.Error("CDR queue file not replaced", "queue", s.spool, "err", err)
		return
	}
	s.mu.Lock()
	s.unsaved -= u
	s.mu.Unlock()
}

func (s *sink) run() {
	defer close(s.done)
	backoff := 100 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-s.stop
		cancel()
	}()
	limit := writeBatch
	if mb, ok := s.b.(interface{ MaxBatch() int }); ok && mb.MaxBatch() > 0 {
		limit = mb.MaxBatch()
	}
	for {
		s.save()
		s.mu.Lock()
		// Only records already in the spool are offered: the spool's head is the queue's.
		n := min(len(s.queue)-s.unsaved, limit)
		batch := append([]*Record(nil), s.queue[:n]...)
		if n == 0 {
			s.drained.Broadcast()
		}
		s.mu.Unlock()
		if n == 0 {
			select {
			case <-s.wake:
			case <-s.stop:
				return
			}
			// Let records gather for a moment: one write (one transaction) for many.
			linger := time.NewTimer(lingerFor)
			select {
			case <-linger.C:
			case <-s.stop:
				linger.Stop()
			}
			continue
		}
		if err := s.b.Write(ctx, batch); err != nil {
			s.mu.Lock()
			if s.lastErr == nil {
				s.log.Error("CDR backend failed, records kept in its queue", "backend", s.b.Name(), "err", err)
			}
			s.lastErr = err
			s.mu.Unlock()
			// Wait before the retry; what is posted meanwhile still goes to the spool now.
			timer := time.NewTimer(backoff)
		wait:
			for {
				select {
				case <-timer.C:
					break wait
				case <-s.wake:
					s.save()
				case <-s.stop:
					timer.Stop()
					return
				}
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		s.mu.Lock()
		if s.lastErr != nil {
			s.log.Info("CDR backend back, queue draining", "backend", s.b.Name(), "backlog", len(s.queue))
		}
		s.lastErr = nil
		backoff = 100 * time.Millisecond
		s.queue = s.queue[n:]
		s.written += uint64(n)
		s.mu.Unlock()
		s.wrote(n)
	}
}

// flush waits until the queue is empty or ctx ends.
func (s *sink) flush(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.drained.Broadcast()
		s.mu.Unlock()
	})
	defer stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.queue) > 0 {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.drained.Wait()
	}
	return nil
}

func (s *sink) close() {
	close(s.stop)
	<-s.done
	s.save()
	s.closeFile()
	if c, ok := s.b.(io.Closer); ok {
		c.Close()
	}
}

func (s *sink) status() BackendStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := BackendStatus{Name: s.b.Name(), Backlog: len(s.queue), Written: s.written, Dropped: s.dropped, Spool: s.spool}
	if s.lastErr != nil {
		st.LastErr = s.lastErr.Error()
	}
	return st
}

// AddBackend starts posting records to b. spool, when not empty, is the file that mirrors
// its queue on disk (records a stop left there are written first); "" keeps the queue in
// memory only. A backend of the same name is replaced (a reload): the old one is stopped
// (and closed, when it is an io.Closer) and its memory queue handed to the new one.
func (e *Engine) AddBackend(b Backend, spool string) error {
	old := e.takeSink(b.Name())
	var left []*Record
	if old != nil {
		old.close()
		if old.spool == "" || old.spool != spool {
			left = old.queue
			if old.spool != "" {
				os.Remove(old.spool)
			}
		}
	}
	s, err := newSink(b, e.log, spool, left)
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.sinks = append(e.sinks, s)
	e.mu.Unlock()
	return nil
}

func (e *Engine) takeSink(name string) *sink {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, s := range e.sinks {
		if s.b.Name() == name {
			e.sinks = append(e.sinks[:i:i], e.sinks[i+1:]...)
			return s
		}
	}
	return nil
}

// RemoveBackend stops the backend named name; what its queue holds stays in its spool file
// (a memory queue is lost).
func (e *Engine) RemoveBackend(name string) {
	if s := e.takeSink(name); s != nil {
		s.close()
	}
}

// Status returns each backend's queue, in the order they were added.
func (e *Engine) Status() []BackendStatus {
	e.mu.Lock()
	sinks := append([]*sink(nil), e.sinks...)
	e.mu.Unlock()
	out := make([]BackendStatus, len(sinks))
	for i, s := range sinks {
		out[i] = s.status()
	}
	return out
}

// Flush applies the channel events queued so far and waits until every backend has written
// what it was given (or ctx ends).
func (e *Engine) Flush(ctx context.Context) error {
	e.lock()
	sinks := append([]*sink(nil), e.sinks...)
	e.unlock()
	for _, s := range sinks {
		if err := s.flush(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Close posts the batch waiting when safeshutdown is on, gives the backends with a memory
// queue until ctx ends to write it, and stops them all (spooled records are saved and wait
// for the next start).
func (e *Engine) Close(ctx context.Context) {
	if !e.stopped.Swap(true) {
		close(e.stop)
		e.start.Do(func() { close(e.done) }) // no goroutine was started
		<-e.done
	}
	e.lock()
	if e.set.SafeShutdown {
		e.outbox = append(e.outbox, e.takeBatch()...)
	} else if e.timer != nil {
		e.timer.Stop()
	}
	e.unlock()
	// Memory queues are given until ctx ends to drain; spooled ones keep their records on
	// disk for the next start, so a database that is down does not hold up a stop.
	e.mu.Lock()
	mem := []*sink{}
	for _, s := range e.sinks {
		if s.status().Spool == "" {
			mem = append(mem, s)
		}
	}
	e.mu.Unlock()
	for _, s := range mem {
		if s.flush(ctx) != nil {
			break
		}
	}
	e.mu.Lock()
	sinks := e.sinks
	e.sinks = nil
	e.mu.Unlock()
	for _, s := range sinks {
		s.close()
	}
}
