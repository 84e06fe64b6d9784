package sip

import (
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// goPool runs functions on goroutines that stay, for spareFor after their last one, to take
// the next: a call's goroutines (the dialplan's, its INVITE handler's) run deep stacks that a
// new goroutine grows from 8 KB by copying itself over and over; at 1,000 calls/s that
// copying (runtime.newstack, copystack) took ~10 % of the server's CPU (docs/performance.md,
// call detail records). A goroutine that waits keeps the stack it grew (the collector halves
// an idle one at most once a cycle). When none waits, a new one starts: the pool never makes a
// function wait for another.
type goPool struct {
	work chan func() // unbuffered: a send succeeds only when a spare goroutine takes it
	mu   sync.Mutex
	stop chan struct{} // closed by close: the spare goroutines end
}

// spareFor is how long a goroutine waits for more work before it ends.
const spareFor = 2 * time.Second

func newGoPool() *goPool {
	return &goPool{work: make(chan func()), stop: make(chan struct{})}
}

// run runs fn on a spare goroutine, or a new one (always a new one on a nil pool).
func (p *goPool) run(fn func()) {
	if p == nil {
		go fn()
		return
	}
	select {
	case p.work <- fn:
	default:
		go p.loop(fn)
	}
}

func (p *goPool) loop(fn func()) {
	var idle *time.Timer
	for {
		fn()
		fn = nil
		p.mu.Lock()
		stop := p.stop
		p.mu.Unlock()
		if idle == nil {
			idle = time.NewTimer(spareFor)
		} else {
			idle.Reset(spareFor)
		}
		select {
		case fn = <-p.work:
		case <-idle.C:
			return
		case <-stop:
			idle.Stop()
			return
		}
	}
}

// close ends the spare goroutines (the running ones end with their function); run still
// works after it.
func (p *goPool) close() {
	if p == nil {
		return
	}
	p.mu.Lock()
	close(p.stop)
	p.stop = make(chan struct{})
	p.mu.Unlock()
}

// pooled runs a request handler on the pool, and returns when it has: sipgo starts a
// goroutine for every request and ends the request's server transaction when its handler
// returns, so the handler's own goroutine stays the pool's (and its grown stack), while
// sipgo's stays shallow.
func (s *Server) pooled(h func(*sip.Request, sip.ServerTransaction)) func(*sip.Request, sip.ServerTransaction) {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		done := make(chan struct{})
		s.pool.run(func() {
			defer close(done)
			h(req, tx)
		})
		<-done
	}
}
