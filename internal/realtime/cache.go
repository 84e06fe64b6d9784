package realtime

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Cache is an object cache for realtime consumers (SIP peers with rtcachefriends, voicemail
// boxes, realtime-switch results, ...), keyed by (family, key), with a time to live and explicit
// invalidation. It is safe for concurrent use; a hit is a lock-free map lookup and a clock read.
// Len is O(n).
//
// Errors are not absence: GetOrLoad never forgets or negatively caches an object because the
// backend failed. When the load fails with anything but ErrNotFound, the cached value (even an
// expired one) keeps serving, the error is counted and kept for Stats, and the next load is tried
// no sooner than RetryAfter. Only ErrNotFound removes an object.
type Cache[V any] struct {
	ttl time.Duration
	// RetryAfter is how long a stale value serves after a failed load before the next load is
	// tried (default 1 s). Set it before first use.
	RetryAfter time.Duration

	m sync.Map // cacheKey -> *cacheEntry[V]; lock-free reads
	// mu serialises writers that must read-modify-write an entry (stale extension).
	mu sync.Mutex

	inflightMu sync.Mutex
	inflight   map[cacheKey]*cacheCall[V]

	hits, misses, loads, loadErrors, stale atomic.Uint64
	lastErr                                atomic.Pointer[cacheErr]
}

type cacheKey struct{ family, key string }

type cacheEntry[V any] struct {
	v       V
	expires int64 // unix nanoseconds
}

type cacheCall[V any] struct {
	done chan struct{}
	v    V
	err  error
}

type cacheErr struct {
	at  time.Time
	err string
}

// CacheStats are a cache's counters.
type CacheStats struct {
	Entries int
	// Hits and Misses count Get and GetOrLoad lookups (a stale value served is a miss).
	Hits, Misses uint64
	// Loads counts load calls, LoadErrors the ones that failed with an error other than
	// ErrNotFound, Stale the lookups answered with an expired value because the load failed.
	Loads, LoadErrors, Stale uint64
	LastError                string
	LastErrorAt              time.Time
}

// NewCache returns a cache whose entries live for ttl (<= 0: until invalidated).
func NewCache[V any](ttl time.Duration) *Cache[V] {
	return &Cache[V]{ttl: ttl, RetryAfter: time.Second, inflight: map[cacheKey]*cacheCall[V]{}}
}

func (c *Cache[V]) deadline(now int64) int64 {
	if c.ttl <= 0 {
		return 1<<63 - 1
	}
	return now + int64(c.ttl)
}

func (c *Cache[V]) lookup(k cacheKey) *cacheEntry[V] {
	e, _ := c.m.Load(k)
	if e == nil {
		return nil
	}
	return e.(*cacheEntry[V])
}

// Get returns the value cached for (family, key) if it has not expired.
func (c *Cache[V]) Get(family, key string) (V, bool) {
	if e := c.lookup(cacheKey{family, key}); e != nil && time.Now().UnixNano() < e.expires {
		c.hits.Add(1)
		return e.v, true
	}
	c.misses.Add(1)
	var zero V
	return zero, false
}

// Put caches v for (family, key) for the cache's TTL.
func (c *Cache[V]) Put(family, key string, v V) {
	e := &cacheEntry[V]{v: v, expires: c.deadline(time.Now().UnixNano())}
	c.m.Store(cacheKey{family, key}, e)
}

// Invalidate removes (family, key).
func (c *Cache[V]) Invalidate(family, key string) {
	c.m.Delete(cacheKey{family, key})
}

// InvalidateFamily removes every key of family.
func (c *Cache[V]) InvalidateFamily(family string) {
	c.m.Range(func(k, _ any) bool {
		if k.(cacheKey).family == family {
			c.m.Delete(k)
		}
		return true
	})
}

// Purge removes expired entries (a caller may run it from a ticker; expired entries are
// otherwise kept so that they can serve while the backend is down).
func (c *Cache[V]) Purge() {
	now := time.Now().UnixNano()
	c.m.Range(func(k, e any) bool {
		if now >= e.(*cacheEntry[V]).expires {
			c.m.Delete(k)
		}
		return true
	})
}

// Len returns the number of entries, expired ones included.
func (c *Cache[V]) Len() int {
	n := 0
	c.m.Range(func(_, _ any) bool { n++; return true })
	return n
}

// Stats returns the counters.
func (c *Cache[V]) Stats() CacheStats {
	s := CacheStats{Entries: c.Len(), Hits: c.hits.Load(), Misses: c.misses.Load(), Loads: c.loads.Load(),
		LoadErrors: c.loadErrors.Load(), Stale: c.stale.Load()}
	if e := c.lastErr.Load(); e != nil {
		s.LastError, s.LastErrorAt = e.err, e.at
	}
	return s
}

// GetOrLoad returns the cached value of (family, key) or loads it. Concurrent loads of one key
// share one call. When load fails:
//   - with ErrNotFound: the entry is removed and the error returned;
//   - with any other error: a cached value, even expired, is returned with a nil error (the
//     error is recorded in Stats and the next load waits RetryAfter); without one, the error is
//     returned. Nothing is cached.
func (c *Cache[V]) GetOrLoad(ctx context.Context, family, key string, load func(ctx context.Context) (V, error)) (V, error) {
	k := cacheKey{family, key}
	now := time.Now().UnixNano()
	e := c.lookup(k)
	if e != nil && now < e.expires {
		c.hits.Add(1)
		return e.v, nil
	}
	c.misses.Add(1)

	c.inflightMu.Lock()
	if call := c.inflight[k]; call != nil {
		c.inflightMu.Unlock()
		select {
		case <-call.done:
			return call.v, call.err
		case <-ctx.Done():
			var zero V
			return zero, ctx.Err()
		}
	}
	call := &cacheCall[V]{done: make(chan struct{})}
	c.inflight[k] = call
	c.inflightMu.Unlock()

	call.v, call.err = c.load(ctx, k, e, load)

	c.inflightMu.Lock()
	delete(c.inflight, k)
	c.inflightMu.Unlock()
	close(call.done)
	return call.v, call.err
}

func (c *Cache[V]) load(ctx context.Context, k cacheKey, old *cacheEntry[V], load func(ctx context.Context) (V, error)) (V, error) {
	c.loads.Add(1)
	v, err := load(ctx)
	switch {
	case err == nil:
		c.Put(k.family, k.key, v)
		return v, nil
	case errors.Is(err, ErrNotFound):
		c.Invalidate(k.family, k.key)
		return v, err
	}
	c.loadErrors.Add(1)
	c.lastErr.Store(&cacheErr{at: time.Now(), err: err.Error()})
	c.mu.Lock()
	cur := c.lookup(k)
	if cur == nil {
		cur = old
	}
	if cur != nil {
		// Keep serving the stale value; try again after RetryAfter.
		retry := c.RetryAfter
		if retry <= 0 {
			retry = time.Second
		}
		c.m.Store(k, &cacheEntry[V]{v: cur.v, expires: time.Now().Add(retry).UnixNano()})
	}
	c.mu.Unlock()
	if cur != nil {
		c.stale.Add(1)
		return cur.v, nil
	}
	return v, err
}
