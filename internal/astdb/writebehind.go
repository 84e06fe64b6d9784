package astdb

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"
)

// WriteBehind writes one family's changes in the background, for state that changes often and
// must survive a restart (Custom device states, external MWI counts): Put and Del return at
// once, and every key's latest change reaches the file in one transaction at most window after
// the first change of the batch (Asterisk's astdb likewise commits from a background thread,
// about once a second). Close writes what is pending and ends the writer goroutine. A failed
// batch is reported to the onError function given to NewWriteBehind; its changes are not
// retried (the running state is not affected).
type WriteBehind struct {
	db      *DB
	family  string
	window  time.Duration
	onError func(n int, err error)

	flushMu sync.Mutex // held while a batch is taken and written, so Family sees it whole
	mu      sync.Mutex
	pending map[string]change // key -> latest change not yet written

	kick chan struct{}
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

type change struct {
	value string
	del   bool
}

// NewWriteBehind starts a writer of family (onError may be nil).
func (db *DB) NewWriteBehind(family string, window time.Duration, onError func(n int, err error)) *WriteBehind {
	if onError == nil {
		onError = func(int, error) {}
	}
	w := &WriteBehind{db: db, family: family, window: window, onError: onError, pending: map[string]change{},
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

// Put records family/key = value.
func (w *WriteBehind) Put(key, value string) { w.record(key, change{value: value}) }

// Del records the removal of family/key (a key that is not there is no error).
func (w *WriteBehind) Del(key string) { w.record(key, change{del: true}) }

func (w *WriteBehind) record(key string, c change) {
	w.mu.Lock()
	w.pending[key] = c
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Family returns the family as it is once the pending changes are written: what the file
// holds with the changes not written yet on top, sorted by key (Keys without the family, as
// DB.Family gives them).
func (w *WriteBehind) Family() ([]Entry, error) {
	w.flushMu.Lock()
	defer w.flushMu.Unlock()
	entries, err := w.db.Family(w.family)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.pending) == 0 {
		return entries, nil
	}
	out := entries[:0]
	for _, en := range entries {
		if _, changed := w.pending[en.Key]; !changed {
			out = append(out, en)
		}
	}
	for k, c := range w.pending {
		if !c.del {
			out = append(out, Entry{Key: k, Value: c.value})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

func (w *WriteBehind) run() {
	defer close(w.done)
	for {
		select {
		case <-w.kick:
		case <-w.stop:
			w.flush()
			return
		}
		t := time.NewTimer(w.window)
		select {
		case <-t.C:
		case <-w.stop:
			t.Stop()
			w.flush()
			return
		}
		w.flush()
	}
}

func (w *WriteBehind) flush() {
	w.flushMu.Lock()
	defer w.flushMu.Unlock()
	w.mu.Lock()
	batch := w.pending
	w.pending = map[string]change{}
	w.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	if err := w.db.write(w.family, batch); err != nil {
		w.onError(len(batch), err)
	}
}

// Close writes the pending changes and stops the writer. Call it before closing the DB.
func (w *WriteBehind) Close() {
	w.once.Do(func() { close(w.stop) })
	<-w.done
}

// write applies a batch of changes to family in one transaction.
func (db *DB) write(family string, batch map[string]change) error {
	ctx := context.Background()
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("astdb: write: %w", err)
	}
	put, del := tx.StmtContext(ctx, db.put), tx.StmtContext(ctx, db.del)
	for k, c := range batch {
		if c.del {
			_, err = del.ExecContext(ctx, fullKey(family, k))
		} else {
			_, err = put.ExecContext(ctx, fullKey(family, k), c.value)
		}
		if err != nil {
			tx.Rollback()
			return fmt.Errorf("astdb: write: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("astdb: write: %w", err)
	}
	return nil
}
