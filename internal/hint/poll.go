package hint

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// LoadFunc reads a source's hints now (e.g. the realtime hints the dialplan's switches reach).
// It may return some hints with an error (what it could read).
type LoadFunc func(ctx context.Context) ([]Spec, error)

// Poller keeps one source's hints in step with a LoadFunc: every interval, and when asked
// (Now). It belongs to the engine that made it: Close, or Engine.Close, stops it and waits
// for its goroutine.
type Poller struct {
	e        *Engine
	source   string
	interval time.Duration
	load     LoadFunc

	mu     sync.Mutex // one load at a time, so an older read never overwrites a newer one
	closed bool       // under mu: Close has run, no load may start
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// Poll starts a Poller that syncs source with what load returns every interval; each load
// gets at most interval to answer. Poll does not load at once: call Now for that.
func (e *Engine) Poll(source string, interval time.Duration, load LoadFunc) *Poller {
	ctx, cancel := context.WithCancel(context.Background())
	p := &Poller{e: e, source: source, interval: interval, load: load, ctx: ctx, cancel: cancel, done: make(chan struct{})}
	e.pollMu.Lock()
	e.pollers[p] = struct{}{}
	e.pollMu.Unlock()
	go p.run()
	return p
}

func (p *Poller) run() {
	defer close(p.done)
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
			p.Now(p.ctx)
		}
	}
}

// Now loads the source's hints and syncs them (bounded by ctx, by the interval and by Close).
// When the load fails, the hints known so far are kept unless it still returned some.
func (p *Poller) Now(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, p.interval)
	defer cancel()
	stop := context.AfterFunc(p.ctx, cancel)
	defer stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.ctx.Err() != nil {
		return
	}
	specs, err := p.load(ctx)
	if err != nil {
		p.e.log.Warn(fmt.Sprintf("Reading %s hints: %s", p.source, err))
		if len(specs) == 0 {
			return
		}
	}
	p.e.Sync(p.source, specs)
}

// Close stops the poller and waits for its goroutine (and a load in progress).
func (p *Poller) Close() {
	p.once.Do(func() {
		p.cancel()
		<-p.done
		p.mu.Lock() // a Now from another goroutine finishes first
		p.closed = true
		p.mu.Unlock()
		p.e.pollMu.Lock()
		delete(p.e.pollers, p)
		p.e.pollMu.Unlock()
	})
}
