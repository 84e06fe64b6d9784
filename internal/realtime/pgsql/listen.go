package pgsql

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// OnChange registers fn to be called for every change notification (see the package
// documentation: listen_channel and contrib/pgsql_realtime_notify.sql). fn gets the table and the row's key
// from a NOTIFY payload "table:key"; after the listening connection is (re)established it gets
// ("", "") meaning "anything may have changed while nobody listened: flush everything".
// Callbacks run one at a time on the listener's goroutine and must not block. The returned
// function unregisters fn.
func (d *Driver) OnChange(fn func(table, key string)) (cancel func()) {
	d.cbMu.Lock()
	id := d.nextCB
	d.nextCB++
	d.callbacks[id] = fn
	d.cbMu.Unlock()
	return func() {
		d.cbMu.Lock()
		delete(d.callbacks, id)
		d.cbMu.Unlock()
	}
}

func (d *Driver) notify(table, key string) {
	d.cbMu.Lock()
	fns := make([]func(string, string), 0, len(d.callbacks))
	for _, fn := range d.callbacks {
		fns = append(fns, fn)
	}
	d.cbMu.Unlock()
	for _, fn := range fns {
		fn(table, key)
	}
}

// ParsePayload splits a notification payload "table:key" at the first ':' (a table name has
// no ':', a key may). A payload without ':' is a table name alone: every row may have changed.
func ParsePayload(p string) (table, key string) {
	table, key, _ = strings.Cut(p, ":")
	return table, key
}

// listener keeps one dedicated connection LISTENing on a channel, reconnecting with backoff.
type listener struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu        sync.Mutex
	channel   string
	listening bool
	since     time.Time
	received  int64
	lastErr   error
	ready     chan struct{} // closed when LISTEN first succeeded (tests)
	readyOnce sync.Once
}

func (d *Driver) startListener(cc *pgx.ConnConfig, db, channel string) *listener {
	ctx, cancel := context.WithCancel(context.Background())
	l := &listener{cancel: cancel, done: make(chan struct{}), channel: channel, ready: make(chan struct{})}
	go l.run(ctx, d, cc, db)
	return l
}

func (l *listener) stop() {
	l.cancel()
	<-l.done
}

func (l *listener) run(ctx context.Context, d *Driver, cc *pgx.ConnConfig, db string) {
	defer close(l.done)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := l.listenOnce(ctx, d, cc)
		if ctx.Err() != nil {
			return
		}
		l.mu.Lock()
		l.listening, l.lastErr = false, err
		l.mu.Unlock()
		d.log.Warn("LISTEN connection lost; reconnecting", "database", db, "channel", l.channel, "error", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

func (l *listener) listenOnce(ctx context.Context, d *Driver, cc *pgx.ConnConfig) error {
	c, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		c.Close(cctx)
	}()
	if _, err := c.Exec(ctx, "LISTEN "+pgx.Identifier{l.channel}.Sanitize()); err != nil {
		return err
	}
	l.mu.Lock()
	l.listening, l.since, l.lastErr = true, time.Now(), nil
	l.mu.Unlock()
	l.readyOnce.Do(func() { close(l.ready) })
	d.notify("", "") // whatever happened while not listening is unknown
	for {
		n, err := c.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		l.mu.Lock()
		l.received++
		l.mu.Unlock()
		d.notify(ParsePayload(n.Payload))
	}
}

type listenerStats struct {
	Channel   string
	Listening bool
	Since     time.Time
	Received  int64
	LastErr   error
}

func (l *listener) stats() listenerStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return listenerStats{l.channel, l.listening, l.since, l.received, l.lastErr}
}

// Listening reports whether a LISTEN connection is up now (realtime.Notifier: families
// mapped to this driver are "live" in realtime show status).
func (d *Driver) Listening() bool {
	d.mu.RLock()
	dbs := make([]*database, 0, len(d.dbs))
	for _, db := range d.dbs {
		dbs = append(dbs, db)
	}
	d.mu.RUnlock()
	for _, db := range dbs {
		if db.listener != nil && db.listener.stats().Listening {
			return true
		}
	}
	return false
}
