package pgsql

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// pool is a small bounded connection pool over *pgx.Conn.
//
// pgxpool would be the natural choice, but it needs github.com/jackc/puddle/v2, which is not
// in go.mod; this pool does the little the driver needs: at most max connections in use, idle
// connections reused last-in first-out, a ping before reusing a connection that sat idle for
// longer than pingIdle, broken connections dropped, and counters for the status command.
//
// Lock order: pool.mu is a leaf; nothing else is locked while it is held.
type pool struct {
	cfg *pgx.ConnConfig
	max int
	sem chan struct{} // one token per connection in use

	mu      sync.Mutex
	idle    []*pconn
	total   int // idle + in use + being dialed
	closed  bool
	since   time.Time // first successful connect after the last failure; zero: not connected
	lastErr error
	errAt   time.Time

	acquires      int64
	emptyAcquires int64 // acquires that had to wait for a connection to come back
	dials         int64
}

type pconn struct {
	c    *pgx.Conn
	used time.Time
}

const pingIdle = 30 * time.Second

var errPoolClosed = errors.New("pool closed")

func newPool(cfg *pgx.ConnConfig, max int) *pool {
	return &pool{cfg: cfg, max: max, sem: make(chan struct{}, max)}
}

// acquire returns a connection for the caller's exclusive use; release must follow.
func (p *pool) acquire(ctx context.Context) (*pconn, error) {
	select {
	case p.sem <- struct{}{}:
	default:
		p.mu.Lock()
		p.emptyAcquires++
		p.mu.Unlock()
		select {
		case p.sem <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.sem
		return nil, errPoolClosed
	}
	p.acquires++
	for len(p.idle) > 0 {
		pc := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if pc.c.IsClosed() {
			p.total--
			continue
		}
		p.mu.Unlock()
		if time.Since(pc.used) > pingIdle {
			if err := pc.c.Ping(ctx); err != nil {
				p.discard(pc)
				p.mu.Lock()
				continue
			}
		}
		return pc, nil
	}
	p.total++
	p.dials++
	p.mu.Unlock()

	c, err := pgx.ConnectConfig(ctx, p.cfg)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.total--
		p.lastErr, p.errAt = err, time.Now()
		if p.total == 0 {
			p.since = time.Time{}
		}
		<-p.sem
		return nil, err
	}
	if p.since.IsZero() {
		p.since = time.Now()
	}
	return &pconn{c: c}, nil
}

// release gives a connection back; a closed one, one left inside a transaction, or any
// after the pool was closed is dropped.
func (p *pool) release(pc *pconn) {
	if pc.c.IsClosed() || pc.c.PgConn().TxStatus() != 'I' {
		p.discard(pc)
		<-p.sem
		return
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.discard(pc)
		<-p.sem
		return
	}
	pc.used = time.Now()
	if p.since.IsZero() {
		p.since = pc.used
	}
	p.idle = append(p.idle, pc)
	p.mu.Unlock()
	<-p.sem
}

// discard closes a connection that is no longer counted as idle.
func (p *pool) discard(pc *pconn) {
	p.mu.Lock()
	p.total--
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	pc.c.Close(ctx)
}

// noteError records a connectivity failure seen while using a connection.
func (p *pool) noteError(err error) {
	p.mu.Lock()
	p.lastErr, p.errAt = err, time.Now()
	p.since = time.Time{}
	p.mu.Unlock()
}

// with runs fn on a pooled connection.
func (p *pool) with(ctx context.Context, fn func(c *pgx.Conn) error) error {
	pc, err := p.acquire(ctx)
	if err != nil {
		return err
	}
	err = fn(pc.c)
	p.release(pc)
	return err
}

// close closes the idle connections and makes connections in use close on release.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.total -= len(idle)
	p.mu.Unlock()
	for _, pc := range idle {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		pc.c.Close(ctx)
		cancel()
	}
}

// poolStats is a snapshot for the status command.
type poolStats struct {
	Total, Idle, InUse, Max int
	Acquires, EmptyAcquires int64
	Dials                   int64
	Since                   time.Time
	LastErr                 error
	ErrAt                   time.Time
}

func (p *pool) stats() poolStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return poolStats{
		Total: p.total, Idle: len(p.idle), InUse: p.total - len(p.idle), Max: p.max,
		Acquires: p.acquires, EmptyAcquires: p.emptyAcquires, Dials: p.dials,
		Since: p.since, LastErr: p.lastErr, ErrAt: p.errAt,
	}
}
