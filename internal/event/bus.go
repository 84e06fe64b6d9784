package event

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/pleiades-pbx/pleiades/internal/eid"
)

const numShards = 64

// kkey names a cache entry set: every origin's last event of one kind for one key.
type kkey struct {
	kind Kind
	key  string
}

// shard holds part of the cache. Its mutex also serialises publishing for its keys, so that
// subscribers see the events of one key in the order the cache took them.
type shard struct {
	mu    sync.Mutex
	cache map[kkey][]Event // one event per origin EID, in arrival order of the origins
}

// Bus is the in-process event bus with its state cache. It is safe for concurrent use.
type Bus struct {
	log   *slog.Logger
	local eid.EID
	seed  maphash.Seed

	shards [numShards]shard

	subsMu sync.RWMutex
	byKind [numKinds][]*Subscription
	byKey  map[kkey][]*Subscription
	all    map[*Subscription]struct{}
	closed bool

	published atomic.Uint64 // events delivered to subscribers (after change detection)
	unchanged atomic.Uint64 // cached-kind events that repeated the cached state
}

// ErrClosed is returned for work on a closed bus.
var ErrClosed = errors.New("event: bus closed")

// NewBus returns a bus for the server whose Entity ID is local. log may be nil.
func NewBus(log *slog.Logger, local eid.EID) *Bus {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Bus{log: log, local: local, seed: maphash.MakeSeed(), byKey: map[kkey][]*Subscription{}, all: map[*Subscription]struct{}{}}
	for i := range b.shards {
		b.shards[i].cache = map[kkey][]Event{}
	}
	return b
}

// Local returns this server's Entity ID.
func (b *Bus) Local() eid.EID { return b.local }

func (b *Bus) shard(key string) *shard {
	return &b.shards[maphash.String(b.seed, key)%numShards]
}

// Publish puts ev on the bus, whether it originates here or was received from another server
// (its Origin says which). For a cached kind, the event replaces the cached event of the same
// (kind, key, origin); if it equals that event nothing is delivered and Publish returns false.
// Publish never blocks on subscribers.
func (b *Bus) Publish(ev Event) bool {
	k, key := ev.Kind(), ev.Key()
	sh := b.shard(key)
	sh.mu.Lock()
	if k.Cached() && !sh.put(kkey{k, key}, ev) {
		sh.mu.Unlock()
		b.unchanged.Add(1)
		return false
	}
	b.deliver(k, key, ev)
	sh.mu.Unlock()
	return true
}

// put stores ev; false if it equals what is stored. Called with sh.mu held.
func (sh *shard) put(kk kkey, ev Event) bool {
	list := sh.cache[kk]
	o := ev.Origin()
	for i, old := range list {
		if old.Origin() == o {
			if old == ev {
				return false
			}
			list[i] = ev
			return true
		}
	}
	sh.cache[kk] = append(list, ev)
	return true
}

// remove drops the cached event of origin o; false if there was none. Called with sh.mu held.
func (sh *shard) remove(kk kkey, o eid.EID) bool {
	list := sh.cache[kk]
	for i, old := range list {
		if old.Origin() == o {
			if len(list) == 1 {
				delete(sh.cache, kk)
				return true
			}
			list[i] = list[len(list)-1]
			list[len(list)-1] = nil
			sh.cache[kk] = list[:len(list)-1]
			return true
		}
	}
	return false
}

// deliver offers ev to the subscribers of its kind and key. Called with the key's shard lock
// held (lock order: shard.mu -> subsMu (read) -> Subscription.mu).
func (b *Bus) deliver(k Kind, key string, ev Event) {
	b.subsMu.RLock()
	var subs, ksubs []*Subscription
	if k < numKinds {
		subs = b.byKind[k]
	}
	if len(b.byKey) > 0 {
		ksubs = b.byKey[kkey{k, key}]
	}
	if len(subs)+len(ksubs) > 0 {
		b.published.Add(1)
		o := ev.Origin()
		ck := ckey{kind: k, origin: o, key: key}
		local := o == b.local
		for _, s := range subs {
			if s.wants(local) {
				s.push(ck, ev)
			}
		}
		for _, s := range ksubs {
			if s.wants(local) {
				s.push(ck, ev)
			}
		}
	}
	b.subsMu.RUnlock()
}

func (s *Subscription) wants(local bool) bool {
	switch s.cfg.origin {
	case localOrigin:
		return local
	case remoteOrigin:
		return !local
	}
	return true
}

// Clear removes the cached event of kind for (key, origin) and delivers a Cleared event to the
// kind's subscribers. It reports whether there was such an event.
func (b *Bus) Clear(kind Kind, key string, origin eid.EID) bool {
	sh := b.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if !sh.remove(kkey{kind, key}, origin) {
		return false
	}
	b.deliver(kind, key, Cleared{Type: kind, Item: key, EID: origin})
	return true
}

// Purge removes every cached event that origin originated (a server left the cluster) and
// delivers a Cleared event for each to the subscribers of its kind, so that aggregates are
// recomputed. It returns how many events of each kind were removed, for the cluster's
// "Clearing N events of type T of node X" log line.
func (b *Bus) Purge(origin eid.EID) map[Kind]int {
	counts := map[Kind]int{}
	for i := range b.shards {
		sh := &b.shards[i]
		sh.mu.Lock()
		for kk := range sh.cache {
			if sh.remove(kk, origin) {
				counts[kk.kind]++
				b.deliver(kk.kind, kk.key, Cleared{Type: kk.kind, Item: kk.key, EID: origin})
			}
		}
		sh.mu.Unlock()
	}
	for k, n := range counts {
		b.log.Log(context.Background(), slog.LevelDebug, fmt.Sprintf("Purged %d cached events of type %s of %s", n, k, origin))
	}
	return counts
}

// Dump returns the cached events of kind that origin originated, sorted by key: what a server
// sends a server that joins (Dump(kind, bus.Local())).
func (b *Bus) Dump(kind Kind, origin eid.EID) []Event {
	var out []Event
	for i := range b.shards {
		sh := &b.shards[i]
		sh.mu.Lock()
		for kk, list := range sh.cache {
			if kk.kind != kind {
				continue
			}
			for _, ev := range list {
				if ev.Origin() == origin {
					out = append(out, ev)
				}
			}
		}
		sh.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out
}

// Cached returns the cached events of kind for key, one per origin, sorted by origin EID.
func (b *Bus) Cached(kind Kind, key string) []Event {
	out := b.AppendCached(nil, kind, key)
	sort.Slice(out, func(i, j int) bool { return lessEID(out[i].Origin(), out[j].Origin()) })
	return out
}

// AppendCached appends the cached events of kind for key to dst, one per origin in no
// particular order, without allocating when dst has room (for hot paths).
func (b *Bus) AppendCached(dst []Event, kind Kind, key string) []Event {
	sh := b.shard(key)
	sh.mu.Lock()
	dst = append(dst, sh.cache[kkey{kind, key}]...)
	sh.mu.Unlock()
	return dst
}

// Get returns the cached event of kind for (key, origin).
func (b *Bus) Get(kind Kind, key string, origin eid.EID) (Event, bool) {
	sh := b.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for _, ev := range sh.cache[kkey{kind, key}] {
		if ev.Origin() == origin {
			return ev, true
		}
	}
	return nil, false
}

// Keys returns every key that has a cached event of kind (from any origin), sorted.
func (b *Bus) Keys(kind Kind) []string {
	var out []string
	for i := range b.shards {
		sh := &b.shards[i]
		sh.mu.Lock()
		for kk := range sh.cache {
			if kk.kind == kind {
				out = append(out, kk.key)
			}
		}
		sh.mu.Unlock()
	}
	sort.Strings(out)
	return out
}

// CacheCount is how many events of one kind one origin has in the cache.
type CacheCount struct {
	Kind   Kind
	Origin eid.EID
	Events int
}

// CacheCounts returns the cache's size per (kind, origin), sorted by kind then origin.
func (b *Bus) CacheCounts() []CacheCount {
	type ko struct {
		k Kind
		o eid.EID
	}
	m := map[ko]int{}
	for i := range b.shards {
		sh := &b.shards[i]
		sh.mu.Lock()
		for kk, list := range sh.cache {
			for _, ev := range list {
				m[ko{kk.kind, ev.Origin()}]++
			}
		}
		sh.mu.Unlock()
	}
	out := make([]CacheCount, 0, len(m))
	for k, n := range m {
		out = append(out, CacheCount{Kind: k.k, Origin: k.o, Events: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return lessEID(out[i].Origin, out[j].Origin)
	})
	return out
}

func lessEID(a, b eid.EID) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

// Subscribe delivers every event of kind (and the Cleared events of kind) to h, in order per
// (key, origin). name shows in "event show queues". To get current state too, subscribe first
// and then read the cache (Cached, Dump): states are idempotent, a duplicate does no harm.
func (b *Bus) Subscribe(name string, kind Kind, h Handler, opts ...Option) *Subscription {
	return b.subscribe(name, kind, nil, h, opts)
}

// SubscribeKeys delivers only the events of kind whose key is one of keys: a hint watches its
// own devices, so that an event nobody watches costs one map lookup.
func (b *Bus) SubscribeKeys(name string, kind Kind, keys []string, h Handler, opts ...Option) *Subscription {
	if keys == nil {
		keys = []string{}
	}
	return b.subscribe(name, kind, keys, h, opts)
}

func (b *Bus) subscribe(name string, kind Kind, keys []string, h Handler, opts []Option) *Subscription {
	cfg := subConfig{queueLen: DefaultQueueLen, maxPending: DefaultMaxPending}
	for _, o := range opts {
		o(&cfg)
	}
	cfg.maxPending = max(cfg.maxPending, cfg.queueLen)
	s := &Subscription{bus: b, name: name, kind: kind, h: h, cfg: cfg,
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	if keys != nil {
		s.keys = dedup(keys)
	}
	b.subsMu.Lock()
	if b.closed || kind >= numKinds {
		b.subsMu.Unlock()
		s.closed = true
		close(s.done)
		return s
	}
	if s.keys == nil {
		b.byKind[kind] = appendSub(b.byKind[kind], s)
	} else {
		for _, k := range s.keys {
			kk := kkey{kind, k}
			b.byKey[kk] = appendSub(b.byKey[kk], s)
		}
	}
	b.all[s] = struct{}{}
	b.subsMu.Unlock()
	go s.run()
	return s
}

func dedup(keys []string) []string {
	seen := make(map[string]bool, len(keys))
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// appendSub returns a new slice: deliverers may still range over the old one.
func appendSub(list []*Subscription, s *Subscription) []*Subscription {
	return append(list[:len(list):len(list)], s)
}

func removeSub(list []*Subscription, s *Subscription) []*Subscription {
	out := make([]*Subscription, 0, len(list))
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

func (b *Bus) remove(s *Subscription) {
	b.subsMu.Lock()
	defer b.subsMu.Unlock()
	if _, ok := b.all[s]; !ok {
		return
	}
	delete(b.all, s)
	if s.keys == nil {
		b.byKind[s.kind] = removeSub(b.byKind[s.kind], s)
		return
	}
	for _, k := range s.keys {
		kk := kkey{s.kind, k}
		if l := removeSub(b.byKey[kk], s); len(l) > 0 {
			b.byKey[kk] = l
		} else {
			delete(b.byKey, kk)
		}
	}
}

func (b *Bus) subscriptions() []*Subscription {
	b.subsMu.RLock()
	defer b.subsMu.RUnlock()
	out := make([]*Subscription, 0, len(b.all))
	for s := range b.all {
		out = append(out, s)
	}
	return out
}

// Stats returns every subscription's queue statistics, sorted by name.
func (b *Bus) Stats() []QueueStats {
	subs := b.subscriptions()
	out := make([]QueueStats, 0, len(subs))
	for _, s := range subs {
		out = append(out, s.Stats())
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Kind < out[j].Kind
	})
	return out
}

// Counters returns how many events were handed to subscribers and how many cached-kind
// events were dropped for repeating the cached state.
func (b *Bus) Counters() (published, unchanged uint64) {
	return b.published.Load(), b.unchanged.Load()
}

// WaitIdle waits until every event published before the call, and every event those caused
// subscribers to publish, has been handled (or coalesced or dropped). For tests and orderly
// shutdown; a handler must not call it.
func (b *Bus) WaitIdle(ctx context.Context) error {
	for {
		busy := false
		for _, s := range b.subscriptions() {
			w, err := s.waitFinished(ctx)
			if err != nil {
				return err
			}
			busy = busy || w
		}
		if !busy {
			return nil
		}
	}
}

// Close ends every subscription and waits for their goroutines (so it must not be called from
// a handler). The cache stays readable; new subscriptions are closed at once.
func (b *Bus) Close() {
	b.subsMu.Lock()
	b.closed = true
	b.subsMu.Unlock()
	subs := b.subscriptions()
	for _, s := range subs {
		s.Close()
	}
	for _, s := range subs {
		<-s.done
	}
}
