package sip

import (
	"sync"
	"time"
)

// tasks tracks the goroutines the server starts while it runs, besides the listeners and
// workers Start starts itself (s.wg): hint fan-outs, the settling of NOTIFY transactions, MWI
// sends and every timer callback (qualify, keepalive, registration and subscription expiry).
// Close waits for all of them; once Close has begun none starts (a timer that fires then
// does nothing), until the next Start.
type tasks struct {
	mu      sync.Mutex
	idle    sync.Cond
	n       int
	closing bool
}

func (t *tasks) enter() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing {
		return false
	}
	t.n++
	return true
}

func (t *tasks) leave() {
	t.mu.Lock()
	t.n--
	if t.n == 0 && t.idle.L != nil {
		t.idle.Broadcast()
	}
	t.mu.Unlock()
}

// close refuses new tasks and waits for the running ones.
func (t *tasks) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closing = true
	if t.idle.L == nil {
		t.idle.L = &t.mu
	}
	for t.n > 0 {
		t.idle.Wait()
	}
}

// open accepts tasks again (Start).
func (t *tasks) open() {
	t.mu.Lock()
	t.closing = false
	t.mu.Unlock()
}

// spawn runs fn in a goroutine Close waits for; it reports false (fn not run) once Close has
// begun.
func (s *Server) spawn(fn func()) bool {
	if !s.tasks.enter() {
		return false
	}
	s.pool.run(func() {
		defer s.tasks.leave()
		fn()
	})
	return true
}

// afterFunc is time.AfterFunc for a callback Close waits for (and that does not run once
// Close has begun).
func (s *Server) afterFunc(d time.Duration, fn func()) *time.Timer {
	return time.AfterFunc(d, func() {
		if !s.tasks.enter() {
			return
		}
		defer s.tasks.leave()
		fn()
	})
}
