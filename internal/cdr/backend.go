package cdr

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/diskqueue"
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
const writeBatch = 500

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
// before it writes: at 1,000 calls/s a database gets one transaction of ~250 records where
// it would get 250 of one (each a commit: a WAL flush in PostgreSQL, an fsync in SQLite).
// Against 50 ms (~50 records) that halves a record's CPU in cdr_sqlite3 (16 -> 9 µs),
// cdr_pgsql (10 -> 4 µs) and PostgreSQL's process (13 -> 4 µs); a record reaches its
// database at most ~0.3 s after the call ended (docs/performance.md).
const lingerFor = 250 * time.Millisecond

// stepEvery is how often a backend that takes its batch piece by piece (cdr_pgsql,
// master.db and Master.csv: diskqueue.Streamer) is handed the records that came meanwhile, inside the
// transaction that commits them lingerFor after it began: its work is spread over the
// linger in ~0.1 ms pieces at 1,000 records/s, where a whole batch at once took a
// processor for several ms while calls waited for it (docs/performance.md, stop 31).
const stepEvery = 10 * time.Millisecond

// sink runs one backend: its named, bounded queue (in memory, or mirrored in a spool file
// for a backend that must not lose records, see package diskqueue) and the goroutine that
// drains it in order.
type sink struct {
	*diskqueue.Queue[*Record]
	b Backend
}

func newSink(b Backend, log *slog.Logger, spool string, left []*Record) (*sink, error) {
	q, err := diskqueue.New[*Record](b, log, spool, left, diskqueue.Options{What: "CDR", Limit: QueueLimit, Batch: writeBatch, Linger: lingerFor, Step: stepEvery})
	if err != nil {
		return nil, err
	}
	return &sink{Queue: q, b: b}, nil
}

// add queues records; it never blocks on the backend.
func (s *sink) add(recs []*Record) { s.Queue.Add(recs) }

func (s *sink) flush(ctx context.Context) error { return s.Queue.Flush(ctx) }

func (s *sink) close() { s.Queue.Close() }

func (s *sink) status() BackendStatus { return BackendStatus(s.Queue.Status()) }

// AddBackend starts posting records to b. spool, when not empty, is the file that mirrors
// its queue on disk (records a stop left there are written first); "" keeps the queue in
// memory only. A backend of the same name is replaced (a reload): the old one is stopped
// (and closed, when it is an io.Closer) and its memory queue handed to the new one; the
// records posted meanwhile are held and go to the new one after those, so a reload loses
// none. If the new queue cannot start (its spool cannot be read), the backend goes on with
// a memory queue, and the error is returned.
func (e *Engine) AddBackend(b Backend, spool string) error {
	name := b.Name()
	old := e.takeSink(name, true)
	var left []*Record
	if old != nil {
		old.close()
		if old.Spool() == "" || old.Spool() != spool {
			left = old.Pending()
			if old.Spool() != "" {
				os.Remove(old.Spool())
			}
		}
	}
	s, err := newSink(b, e.log, spool, left)
	if err != nil && old != nil {
		s, _ = newSink(b, e.log, "", left) // a memory queue cannot fail to start
	}
	e.mu.Lock()
	if s != nil {
		e.sinks = append(e.sinks, s)
		if h := e.held[name]; len(h) > 0 {
			s.add(h)
		}
	}
	delete(e.held, name)
	e.mu.Unlock()
	return err
}

// takeSink removes the backend named name from those posted to and returns it (nil if
// none); with hold, records posted from now on are held for its replacement.
func (e *Engine) takeSink(name string, hold bool) *sink {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, s := range e.sinks {
		if s.b.Name() == name {
			e.sinks = append(e.sinks[:i:i], e.sinks[i+1:]...)
			if hold {
				if e.held == nil {
					e.held = map[string][]*Record{}
				}
				e.held[name] = nil
			}
			return s
		}
	}
	return nil
}

// RemoveBackend stops the backend named name; what its queue holds stays in its spool file
// (a memory queue is lost).
func (e *Engine) RemoveBackend(name string) {
	if s := e.takeSink(name, false); s != nil {
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
