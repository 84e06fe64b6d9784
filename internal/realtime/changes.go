package realtime

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Sources of a Change.
const (
	// SourceNotify: the database said the row changed (PostgreSQL NOTIFY through listen_channel).
	SourceNotify = "notify"
	// SourceReconnect: a driver's change listener (re)connected; anything may have changed
	// while it was down, so the change is the whole family.
	SourceReconnect = "reconnect"
	// SourceLocal: an explicit invalidation on this server (CLI, AMI, HTTP).
	SourceLocal = "local"
	// SourceCluster: an explicit invalidation made on another server of the cluster.
	SourceCluster = "cluster"
)

// Change says that rows of a family changed: the row(s) of Key, or any row when Key is "".
// Key is the row's identifying value(s) as contrib/pgsql_realtime_notify.sql writes them:
// the name for sippeers and queues, mailbox@context for voicemail, exten@context for
// extensions, queue_name for queue_members.
type Change struct {
	Family string // lower-case
	Key    string
	Source string
	At     time.Time // when this server learnt of it
}

// Notifier is implemented by a driver that hears changes from its database (pgsql with
// listen_channel). fn gets the table and key of a changed row, or ("", "") after the
// listener (re)connected. Callbacks must not block.
type Notifier interface {
	OnChange(fn func(table, key string)) (cancel func())
	// Listening reports whether the driver is listening now.
	Listening() bool
}

// Apply drops what c invalidates from the cache: one key, or every key of the family. A
// consumer whose cache keys are the family's row keys can pass it to Subscribe as is.
func (c *Cache[V]) Apply(ch Change) {
	if ch.Key == "" {
		c.InvalidateFamily(ch.Family)
		return
	}
	c.Invalidate(ch.Family, ch.Key)
}

type subscriber struct {
	id     int
	family string // "" every family
	fn     func(Change)
}

// changeFeed is the engine's part that fans changes out to subscribers.
type changeFeed struct {
	mu       sync.Mutex
	snapshot []*subscriber // copy-on-write under mu
	nextID   int
	cancels  map[string]func() // driver name -> its OnChange cancel
	seen     map[string]bool   // driver name -> its listener connected once
	publish  func(Change)      // explicit local invalidations go here too (the cluster)
}

// Subscribe calls fn for every change of family ("" every family) heard by this server:
// notifications, flushes after a listener reconnected, explicit invalidations made here or on
// another server. fn runs on the goroutine that heard the change (a driver's listener, a CLI,
// AMI or HTTP request, the cluster) and must not block. The returned function unsubscribes.
func (e *Engine) Subscribe(family string, fn func(Change)) (cancel func()) {
	f := &e.feed
	f.mu.Lock()
	f.nextID++
	s := &subscriber{id: f.nextID, family: strings.ToLower(family), fn: fn}
	f.snapshot = append(slices.Clone(f.snapshot), s)
	f.mu.Unlock()
	return func() {
		f.mu.Lock()
		f.snapshot = slices.DeleteFunc(slices.Clone(f.snapshot), func(o *subscriber) bool { return o.id == s.id })
		f.mu.Unlock()
	}
}

// OnInvalidate sets where this server's explicit invalidations go after they were applied
// here (the cluster publishes them to every other server). nil: nowhere.
func (e *Engine) OnInvalidate(fn func(Change)) {
	e.feed.mu.Lock()
	e.feed.publish = fn
	e.feed.mu.Unlock()
}

// expandFamily maps "sipfriends" and "iaxfriends" to their two families, as mappings do.
func expandFamily(family string) []string {
	switch f := strings.ToLower(family); f {
	case "sipfriends":
		return []string{"sippeers", "sipusers"}
	case "iaxfriends":
		return []string{"iaxpeers", "iaxusers"}
	default:
		return []string{f}
	}
}

// Invalidate tells every cache of this server that the row key of family changed (key "":
// any row), and hands the change to OnInvalidate's function so that every other server of
// the cluster applies it too. It is the way to keep caches fresh for drivers that cannot
// notify (mysql, sqlite3, odbc): call it after changing a row. A family that no mapping
// names is an error wrapping ErrNoMapping.
func (e *Engine) Invalidate(family, key string) error {
	fams := expandFamily(family)
	mapped := false
	for _, f := range fams {
		mapped = mapped || e.Mapped(f)
	}
	if !mapped {
		return fmt.Errorf("%w: %s", ErrNoMapping, family)
	}
	e.feed.mu.Lock()
	publish := e.feed.publish
	e.feed.mu.Unlock()
	for _, f := range fams {
		c := Change{Family: f, Key: key, Source: SourceLocal, At: time.Now()}
		e.dispatch(c)
		if publish != nil {
			publish(c)
		}
	}
	return nil
}

// ApplyRemote applies an invalidation made on another server (from the cluster); it is not
// published again. The family need not be mapped here.
func (e *Engine) ApplyRemote(family, key string) {
	for _, f := range expandFamily(family) {
		e.dispatch(Change{Family: f, Key: key, Source: SourceCluster, At: time.Now()})
	}
}

// dispatch counts c and calls every subscriber of its family.
func (e *Engine) dispatch(c Change) {
	st := e.statsFor(c.Family)
	switch c.Source {
	case SourceNotify:
		st.notified.Add(1)
	case SourceReconnect:
		st.flushes.Add(1)
	default:
		st.invalidated.Add(1)
	}
	st.mu.Lock()
	if c.Source == SourceNotify {
		st.lastNotify = c.At
	}
	st.lastChange, st.lastSource = c.At, c.Source
	st.mu.Unlock()
	e.feed.mu.Lock()
	subs := e.feed.snapshot
	e.feed.mu.Unlock()
	for _, s := range subs {
		if s.family == "" || s.family == c.Family {
			s.fn(c)
		}
	}
}

// watchDriver subscribes to a Notifier driver's changes (Register calls it).
func (e *Engine) watchDriver(d Driver) {
	name := d.Name()
	f := &e.feed
	f.mu.Lock()
	if cancel := f.cancels[name]; cancel != nil {
		cancel()
		delete(f.cancels, name)
	}
	f.mu.Unlock()
	n, ok := d.(Notifier)
	if !ok {
		return
	}
	cancel := n.OnChange(func(table, key string) { e.driverChanged(name, table, key) })
	f.mu.Lock()
	if f.cancels == nil {
		f.cancels = map[string]func(){}
	}
	f.cancels[name] = cancel
	f.mu.Unlock()
}

// tableIs reports whether a mapping's table (perhaps schema-qualified) is the notified table
// (PostgreSQL's TG_TABLE_NAME, without schema).
func tableIs(mapped, notified string) bool {
	if i := strings.LastIndexByte(mapped, '.'); i >= 0 {
		mapped = mapped[i+1:]
	}
	return strings.EqualFold(strings.Trim(mapped, `"`), notified)
}

// driverChanged turns a driver's (table, key) into changes of the families mapped to that
// table through that driver; ("", "") flushes every family the driver serves.
func (e *Engine) driverChanged(driver, table, key string) {
	st := e.st.Load()
	names := make([]string, 0, len(st.families))
	for n := range st.families {
		names = append(names, n)
	}
	slices.Sort(names)
	var hit []string
	for _, n := range names {
		for _, m := range st.families[n].mappings {
			if m.Driver == driver && (table == "" || tableIs(m.Table, table)) {
				hit = append(hit, n)
				break
			}
		}
	}
	now := time.Now()
	if table == "" {
		e.feed.mu.Lock()
		if e.feed.seen == nil {
			e.feed.seen = map[string]bool{}
		}
		again := e.feed.seen[driver]
		e.feed.seen[driver] = true
		e.feed.mu.Unlock()
		fams := strings.Join(hit, ", ")
		switch {
		case again && fams != "":
			e.log.Warn(fmt.Sprintf("realtime: %s change listener reconnected; flushing cached %s (changes made while it was down are unknown)", driver, fams))
		case again:
			e.log.Warn(fmt.Sprintf("realtime: %s change listener reconnected (no family mapped to it)", driver))
		case fams != "":
			e.log.Info(fmt.Sprintf("realtime: %s change listener connected; flushing cached %s", driver, fams))
		default:
			e.log.Info(fmt.Sprintf("realtime: %s change listener connected", driver))
		}
		for _, n := range hit {
			e.dispatch(Change{Family: n, Source: SourceReconnect, At: now})
		}
		return
	}
	for _, n := range hit {
		e.dispatch(Change{Family: n, Key: key, Source: SourceNotify, At: now})
	}
}

// live reports whether a mapping of the family is served by a driver listening for changes.
func (r *route) live() bool {
	for _, d := range r.drivers {
		if n, ok := d.(Notifier); ok && n.Listening() {
			return true
		}
	}
	return false
}
