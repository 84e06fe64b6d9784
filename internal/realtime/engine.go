// Package realtime is Pleiades' Realtime Architecture: objects (SIP peers, voicemail boxes,
// queues, dialplan extensions, ...) and whole configuration files read from databases, as
// configured in extconfig.conf, with Asterisk's API (load, load multi, update, update2, store,
// destroy, require, unload) and its drivers (sqlite3, pgsql, mysql, odbc).
//
// The Engine maps families and static files to drivers (extconfig.conf [settings]), routes every
// call to the mapping of priority 1, 2, ... and builds static-mode configurations. Cache[V] is a
// small object cache for consumers.
//
// Where Pleiades deliberately differs from Asterisk (main/config.c):
//
//   - Failover: a call goes to priority 2 only when priority 1 returned an error wrapping
//     ErrUnavailable (the backend could not be reached), then to 3, and so on. ErrNotFound and
//     every other error are answers and are returned as is. Every operation has this one rule.
//     Asterisk instead falls through on a single-row load that finds nothing, stops a multi-row
//     load at the first non-error result, and runs update2 on the next backend unless exactly 0
//     rows changed. Writes in Pleiades go to exactly one backend.
//   - Field order: the caller's order is kept. Asterisk sends the first pair first and the rest
//     reversed. The first field is still the ORDER BY column of LoadMulti.
//   - A field name with an operator ("name LIKE", "regseconds >") is passed to the driver as is;
//     every driver binds every value as a parameter and rejects a field that is not a column.
//   - Mappings: an unknown driver, an undefined connection (for drivers implementing
//     DatabaseLister or ConnectionChecker: sqlite3, mysql and odbc sections, pgsql's
//     res_pgsql.conf), a malformed line or a mapping of asterisk.conf, extconfig.conf or
//     logger.conf is an error naming the file:line of the line, and a failed Configure keeps the
//     mappings in force and gives every driver it reconfigured its previous file back (a failed
//     reload keeps the running configuration). Asterisk logs and
//     skips. A gap in priorities (1, 2, 4) ends the list, with a warning naming the line, as in
//     Asterisk. "sipfriends" and "iaxfriends" map both halves as in Asterisk.
//   - Static mode: failover applies too (Asterisk only ever asks priority 1); cat_metric is sorted
//     DESC by every driver; an #include row loads the named file through the mapped driver when
//     that file is mapped, otherwise through the file loader (SetFileLoader); include loops are
//     an error. A mapped file with no row loads as an empty configuration, with a warning.
//   - Multi-valued columns: see SplitList, EncodeValue and DecodeValue (every driver encodes).
//
// Change feed (changes.go). Caches subscribe (Engine.Subscribe) per family and learn of every
// change this server hears, as (family, key) — key "" meaning any row:
//
//   - from a driver that notifies (Notifier: pgsql with listen_channel and the triggers of
//     contrib/pgsql_realtime_notify.sql), each server hearing its own database. The payload's
//     table is matched against the table of every mapping served by that driver (schema
//     ignored), so "sipfriends" reaches sippeers and sipusers. When the listener
//     (re)connects, every family the driver serves is flushed — changes made while nobody
//     listened are unknown — and the reconnect is logged (a WARNING; the first connect is
//     an INFO line).
//   - from an explicit invalidation (Invalidate: "realtime invalidate <family> [key]", AMI
//     RealtimeInvalidate, POST /api/realtime/invalidate/...), for the drivers that cannot
//     notify; OnInvalidate hands it to the cluster, and ApplyRemote applies one made on
//     another server (never published again).
//
// Subscribers run on the goroutine that heard the change and must not block. Per family,
// Status counts notifications (and the last one's time), invalidations and flushes, and says
// whether the family is live (a driver listening now) or TTL-only; "realtime show status"
// and /api/realtime/mappings show it. There is no per-row ordering guarantee between sources:
// a cache that re-reads after a change (sip) reads the committed row, which is what matters.
//
// The database field of a mapping is passed to the driver as is, and each driver reads it as
// Asterisk's does: pgsql ignores it (res_pgsql.conf's dbname), mysql and sqlite3 take it as a
// section of their file, odbc as a connection of res_odbc.conf. "core show config mappings"
// is Asterisk's: the engines Asterisk would have loaded (see Loaded), each with its mappings
// newest line first.
package realtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/conf"
)

// Mapping is one line of extconfig.conf [settings].
type Mapping struct {
	// Name is the family ("sippeers") or, for a static mapping, the file ("extensions.conf").
	Name string
	// Static is true for a file mapping (name ending in ".conf", or "global").
	Static   bool
	Driver   string
	Database string
	Table    string
	Priority int
	// File and Line locate the mapping in extconfig.conf.
	File string
	Line int
}

func (m *Mapping) where() string { return fmt.Sprintf("%s:%d", m.File, m.Line) }

// Status holds the counters of one family (or static file).
type Status struct {
	Family string
	// Queries counts calls; Errors the calls that ended with an error other than ErrNotFound;
	// Failovers the times a call moved on to the next priority.
	Queries, Errors, Failovers uint64
	LastError                  string
	LastErrorAt                time.Time
	// Live is true when a mapping's driver is listening for changes now (pgsql with
	// listen_channel); otherwise cached objects of the family follow only their TTL and
	// explicit invalidations.
	Live bool
	// Notifications counts changes the database announced, LastNotification the newest;
	// Invalidations the explicit ones (here or from another server); Flushes the times the
	// change listener (re)connected and every cached object of the family was dropped.
	Notifications, Invalidations, Flushes uint64
	LastNotification                      time.Time
	// LastChange is when the newest change of any source was heard, LastSource its source.
	LastChange time.Time
	LastSource string
}

type familyStats struct {
	queries, errors, failovers        atomic.Uint64
	notified, invalidated, flushes    atomic.Uint64
	mu                                sync.Mutex
	lastErr                           string
	lastErrAt, lastNotify, lastChange time.Time
	lastSource                        string
}

func (s *familyStats) fail(err error) {
	s.mu.Lock()
	s.lastErr, s.lastErrAt = err.Error(), time.Now()
	s.mu.Unlock()
}

type route struct {
	mappings []Mapping // priority 1, 2, ... without gaps
	drivers  []Driver  // resolved at Configure
	stats    *familyStats
	observe  *atomic.Pointer[QueryObserver]
}

// QueryObserver is told of every query a mapping answered or failed: the driver, the family
// (or static file), how long it took and its error (nil, or ErrNotFound for "no rows").
type QueryObserver func(driver, family string, d time.Duration, err error)

type state struct {
	families map[string]*route // lower-case family
	static   map[string]*route // file name as written
	lines    []Mapping         // every mapping in force, in extconfig.conf order
}

// Engine routes realtime calls to drivers. It is safe for concurrent use.
type Engine struct {
	log *slog.Logger

	mu      sync.Mutex // serialises Register/Configure
	drivers map[string]Driver
	hasConf map[string]bool // driver name -> its configuration file existed at its last Configure
	// applied is the configuration each driver was last given by a Configure that succeeded,
	// to give back when a later one fails after reconfiguring it.
	applied map[string]*conf.Config
	st      atomic.Pointer[state]

	statsMu sync.Mutex
	stats   map[string]*familyStats // kept across reloads

	fileLoader atomic.Pointer[func(ctx context.Context, name string) (*conf.Config, error)]
	observe    atomic.Pointer[QueryObserver]

	feed changeFeed // see changes.go
}

// OnQuery sets the observer of every query (metrics). Safe to call at any time.
func (e *Engine) OnQuery(f QueryObserver) { e.observe.Store(&f) }

// New returns an engine with no driver and no mapping.
func New(log *slog.Logger) *Engine {
	if log == nil {
		log = slog.Default()
	}
	e := &Engine{log: log, drivers: map[string]Driver{}, hasConf: map[string]bool{}, applied: map[string]*conf.Config{}, stats: map[string]*familyStats{}}
	e.st.Store(&state{families: map[string]*route{}, static: map[string]*route{}})
	e.SetFileLoader(func(ctx context.Context, name string) (*conf.Config, error) {
		return conf.LoadContext(ctx, name, conf.Options{Static: e})
	})
	return e
}

// Register adds a driver under its Name(); a later driver of the same name replaces it.
func (e *Engine) Register(d Driver) {
	e.mu.Lock()
	e.drivers[d.Name()] = d
	e.mu.Unlock()
	e.watchDriver(d)
}

// Driver returns the registered driver named name.
func (e *Engine) Driver(name string) (Driver, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	d, ok := e.drivers[name]
	return d, ok
}

// Drivers returns the registered drivers sorted by name.
func (e *Engine) Drivers() []Driver {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Driver, 0, len(e.drivers))
	for _, d := range e.drivers {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b Driver) int { return strings.Compare(a.Name(), b.Name()) })
	return out
}

// SetFileLoader sets how static mode loads a file named by an #include row that is not itself
// mapped. The default is conf.LoadContext(ctx, name, conf.Options{Static: engine}) relative to
// the working directory; the server sets one with its configuration directory (Options.Dir) and
// Static set to the engine, so that files it includes can come from a database again.
func (e *Engine) SetFileLoader(load func(ctx context.Context, name string) (*conf.Config, error)) {
	e.fileLoader.Store(&load)
}

// Close closes every registered driver.
func (e *Engine) Close() error {
	var errs []error
	for _, d := range e.Drivers() {
		errs = append(errs, d.Close())
	}
	return errors.Join(errs...)
}

// ParseMapping parses the value of one extconfig.conf line: driver,database[,table[,priority]].
// The database part may be double-quoted (an LDAP DN contains commas).
func ParseMapping(name, value, file string, line int) ([]Mapping, error) {
	where := fmt.Sprintf("%s:%d", file, line)
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, fmt.Errorf("%s: mapping without a name", where)
	}
	if NeverStatic(name) {
		return nil, fmt.Errorf("%s: %s cannot be loaded from a database", where, name)
	}
	parts, err := splitQuoted(value)
	if err != nil {
		return nil, fmt.Errorf("%s: %s => %s: %v", where, name, value, err)
	}
	if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
		return nil, fmt.Errorf("%s: %s => %s: want driver,database[,table[,priority]]", where, name, value)
	}
	if len(parts) > 4 {
		return nil, fmt.Errorf("%s: %s => %s: too many fields (want driver,database[,table[,priority]])", where, name, value)
	}
	m := Mapping{Name: name, Driver: parts[0], Database: parts[1], Priority: 1, File: file, Line: line}
	lower := strings.ToLower(name)
	m.Static = strings.HasSuffix(lower, ".conf") || lower == "global"
	if len(parts) > 2 && parts[2] != "" {
		m.Table = parts[2]
	}
	if len(parts) > 3 && parts[3] != "" {
		p, err := strconv.Atoi(parts[3])
		if err != nil || p < 1 {
			return nil, fmt.Errorf("%s: %s => %s: priority %q: want a number >= 1", where, name, value, parts[3])
		}
		m.Priority = p
	}
	names := []string{name}
	switch lower {
	case "sipfriends":
		names = []string{"sipusers", "sippeers"}
	case "iaxfriends":
		names = []string{"iaxusers", "iaxpeers"}
	}
	out := make([]Mapping, 0, len(names))
	for _, n := range names {
		mm := m
		mm.Name = n
		if mm.Table == "" {
			mm.Table = name // sipfriends => table sipfriends, as in Asterisk
		}
		out = append(out, mm)
	}
	return out, nil
}

// splitQuoted splits on commas outside double quotes, trims each part and removes the quotes.
func splitQuoted(s string) ([]string, error) {
	var parts []string
	var cur strings.Builder
	quoted := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			quoted = !quoted
		case c == ',' && !quoted:
			parts = append(parts, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	if quoted {
		return nil, errors.New("unterminated quote")
	}
	return append(parts, strings.TrimSpace(cur.String())), nil
}

// Configure applies extconfig.conf (nil: no mappings) and gives every registered driver its own
// configuration file, read through driverConfs (nil config: the file does not exist; a nil
// driverConfs leaves the drivers alone). On any error the previous mappings stay in force and the
// error names the file:line of every bad line. A gap in priorities is only a warning.
func (e *Engine) Configure(ctx context.Context, ext *conf.Config, driverConfs func(file string) (*conf.Config, error)) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	var errs []error
	newConf := map[string]*conf.Config{} // drivers reconfigured by this call
	prevHas := maps.Clone(e.hasConf)
	if driverConfs != nil {
		names := make([]string, 0, len(e.drivers))
		for n := range e.drivers {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			d := e.drivers[n]
			cfg, err := driverConfs(d.ConfigFile())
			if err == nil {
				err = d.Configure(ctx, cfg)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("realtime: driver %s (%s): %w", n, d.ConfigFile(), err))
				continue
			}
			newConf[n] = cfg
			e.hasConf[n] = cfg != nil
		}
	}
	// A failed Configure keeps the running configuration: the mappings (e.st is only stored
	// at the end) and the drivers' own, given back to those this call changed.
	defer func() {
		if len(errs) == 0 {
			maps.Copy(e.applied, newConf)
			return
		}
		for n := range newConf {
			if err := e.drivers[n].Configure(ctx, e.applied[n]); err != nil {
				e.log.Error("realtime: driver "+n+": restoring its running configuration failed", "error", err)
			}
		}
		e.hasConf = prevHas
	}()

	// Collect mappings: same name and priority, the later line wins.
	type key struct {
		name string
		prio int
	}
	byKey := map[key]Mapping{}
	var order []key     // keys by first appearance
	var lineOrder []key // keys by the line now in force for them
	if ext != nil {
		for _, cat := range ext.Categories {
			if cat.Template || !strings.EqualFold(cat.Name, "settings") {
				continue
			}
			for _, v := range cat.Vars {
				ms, err := ParseMapping(v.Name, v.Value, v.File, v.Line)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				for _, m := range ms {
					d, ok := e.drivers[m.Driver]
					if !ok {
						errs = append(errs, fmt.Errorf("%s: %s => %s: no realtime driver %q (registered: %s)",
							m.where(), v.Name, v.Value, m.Driver, strings.Join(e.driverNames(), ", ")))
						continue
					}
					if !hasConnection(d, m.Database) {
						missing := ""
						if !e.hasConf[m.Driver] {
							missing = " (no such file)"
						}
						errs = append(errs, fmt.Errorf("%s: %s => %s: %w: %s has no connection [%s] in %s%s",
							m.where(), v.Name, v.Value, ErrUnknownDatabase, m.Driver, m.Database, d.ConfigFile(), missing))
						continue
					}
					k := key{strings.ToLower(m.Name), m.Priority}
					if m.Static {
						k.name = m.Name
					}
					if _, dup := byKey[k]; !dup {
						order = append(order, k)
					} else {
						lineOrder = slices.DeleteFunc(lineOrder, func(o key) bool { return o == k })
					}
					lineOrder = append(lineOrder, k)
					byKey[k] = m
				}
			}
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}

	next := &state{families: map[string]*route{}, static: map[string]*route{}}
	inForce := map[key]bool{}
	grouped := map[string][]Mapping{}
	var names []string
	for _, k := range order {
		if _, ok := grouped[k.name]; !ok {
			names = append(names, k.name)
		}
		grouped[k.name] = append(grouped[k.name], byKey[k])
	}
	for _, n := range names {
		ms := grouped[n]
		slices.SortFunc(ms, func(a, b Mapping) int { return a.Priority - b.Priority })
		r := &route{stats: e.statsFor(n), observe: &e.observe}
		for i, m := range ms {
			if m.Priority != i+1 {
				for _, skipped := range ms[i:] {
					e.log.Warn(fmt.Sprintf("realtime: %s: %s priority %d ignored: priorities must start at 1 and be sequential",
						skipped.where(), skipped.Name, skipped.Priority))
				}
				break
			}
			r.mappings = append(r.mappings, m)
			r.drivers = append(r.drivers, e.drivers[m.Driver])
			inForce[key{n, m.Priority}] = true
		}
		if len(r.mappings) == 0 {
			continue
		}
		if ms[0].Static {
			next.static[n] = r
		} else {
			next.families[n] = r
		}
	}
	for _, k := range lineOrder {
		if inForce[key{k.name, k.prio}] {
			next.lines = append(next.lines, byKey[k])
		}
	}
	e.st.Store(next)
	return nil
}

// hasConnection reports whether a mapping's database field names a connection d defines, when d
// can tell (ConnectionChecker, DatabaseLister); true when it cannot.
func hasConnection(d Driver, db string) bool {
	switch d := d.(type) {
	case ConnectionChecker:
		return d.HasConnection(db)
	case DatabaseLister:
		return slices.Contains(d.Databases(), db)
	}
	return true
}

func (e *Engine) driverNames() []string {
	names := make([]string, 0, len(e.drivers))
	for n := range e.drivers {
		names = append(names, n)
	}
	slices.Sort(names)
	if len(names) == 0 {
		return []string{"none"}
	}
	return names
}

func (e *Engine) statsFor(name string) *familyStats {
	e.statsMu.Lock()
	defer e.statsMu.Unlock()
	s := e.stats[name]
	if s == nil {
		s = &familyStats{}
		e.stats[name] = s
	}
	return s
}

// Mappings returns the static mappings (sorted by file) and the family mappings (sorted by
// family, then priority) in force.
func (e *Engine) Mappings() (static, families []Mapping) {
	st := e.st.Load()
	for _, r := range st.static {
		static = append(static, r.mappings...)
	}
	for _, r := range st.families {
		families = append(families, r.mappings...)
	}
	cmp := func(a, b Mapping) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return a.Priority - b.Priority
	}
	slices.SortFunc(static, cmp)
	slices.SortFunc(families, cmp)
	return static, families
}

// Loaded reports whether the driver named name is loaded as Asterisk's module for it would
// be: sqlite3 always (res_config_sqlite3 loads without its file), the others only when their
// configuration file existed at the last Configure (res_config_pgsql declines without
// res_pgsql.conf, res_config_odbc needs res_odbc, which declines without res_odbc.conf;
// res_config_mysql, not built by Asterisk by default, is shown with its file), and a driver
// whose LoadsWhenMapped() says so also while a mapping names it (curl: res_config_curl needs
// no file; shown only when used, so a server without curl mappings lists what it did). "core show
// config mappings" lists the loaded engines and "module show" their modules as Running.
func (e *Engine) Loaded(name string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	d, ok := e.drivers[name]
	if !ok {
		return false
	}
	if name == "sqlite3" || e.hasConf[name] {
		return true
	}
	if l, ok := d.(interface{ LoadsWhenMapped() bool }); ok && l.LoadsWhenMapped() {
		for _, m := range e.st.Load().lines {
			if m.Driver == name {
				return true
			}
		}
	}
	return false
}

// Mapped reports whether family has at least one mapping (Asterisk's ast_check_realtime).
func (e *Engine) Mapped(family string) bool {
	_, ok := e.st.Load().families[strings.ToLower(family)]
	return ok
}

// Status returns the counters of every family and static file used since start, sorted.
func (e *Engine) Status() []Status {
	routes := e.st.Load().families
	e.statsMu.Lock()
	defer e.statsMu.Unlock()
	out := make([]Status, 0, len(e.stats))
	for n, s := range e.stats {
		st := Status{Family: n, Queries: s.queries.Load(), Errors: s.errors.Load(), Failovers: s.failovers.Load(),
			Notifications: s.notified.Load(), Invalidations: s.invalidated.Load(), Flushes: s.flushes.Load()}
		s.mu.Lock()
		st.LastError, st.LastErrorAt = s.lastErr, s.lastErrAt
		st.LastNotification, st.LastChange, st.LastSource = s.lastNotify, s.lastChange, s.lastSource
		s.mu.Unlock()
		if r := routes[n]; r != nil {
			st.Live = r.live()
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b Status) int { return strings.Compare(a.Family, b.Family) })
	return out
}

func (e *Engine) family(family string) (*route, error) {
	st := e.st.Load()
	r := st.families[family]
	if r == nil {
		r = st.families[strings.ToLower(family)]
	}
	if r == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoMapping, family)
	}
	return r, nil
}

// run calls op on each mapping of r in priority order while it fails with ErrUnavailable.
func run[T any](ctx context.Context, name string, r *route, op func(d Driver, m *Mapping) (T, error)) (T, error) {
	r.stats.queries.Add(1)
	var zero T
	var errs []error
	for i := range r.mappings {
		if i > 0 {
			r.stats.failovers.Add(1)
		}
		start := time.Now()
		v, err := op(r.drivers[i], &r.mappings[i])
		if r.observe != nil {
			if f := r.observe.Load(); f != nil {
				(*f)(r.mappings[i].Driver, name, time.Since(start), err)
			}
		}
		if err == nil {
			return v, nil
		}
		if errors.Is(err, ErrNotFound) {
			return v, err
		}
		r.stats.fail(err)
		if !errors.Is(err, ErrUnavailable) || ctx.Err() != nil {
			r.stats.errors.Add(1)
			return v, err
		}
		errs = append(errs, fmt.Errorf("priority %d (%s,%s): %w", r.mappings[i].Priority, r.mappings[i].Driver, r.mappings[i].Database, err))
	}
	r.stats.errors.Add(1)
	if len(errs) == 1 {
		return zero, fmt.Errorf("realtime %s: %w", name, errs[0])
	}
	return zero, fmt.Errorf("realtime %s: every mapping unavailable: %w", name, errors.Join(errs...))
}

// Load returns the first row of family matching every field.
func (e *Engine) Load(ctx context.Context, family string, fields ...Field) (Row, error) {
	r, err := e.family(family)
	if err != nil {
		return nil, err
	}
	return run(ctx, family, r, func(d Driver, m *Mapping) (Row, error) {
		return d.Load(ctx, m.Database, m.Table, fields)
	})
}

// LoadMulti returns every row of family matching every field, ordered by the first field.
// No row is an empty result, not an error.
func (e *Engine) LoadMulti(ctx context.Context, family string, fields ...Field) ([]Row, error) {
	r, err := e.family(family)
	if err != nil {
		return nil, err
	}
	return run(ctx, family, r, func(d Driver, m *Mapping) ([]Row, error) {
		return d.LoadMulti(ctx, m.Database, m.Table, fields)
	})
}

// Update sets fields on the rows of family where keyField = keyValue; it returns the count.
func (e *Engine) Update(ctx context.Context, family, keyField, keyValue string, fields ...Field) (int64, error) {
	r, err := e.family(family)
	if err != nil {
		return 0, err
	}
	return run(ctx, family, r, func(d Driver, m *Mapping) (int64, error) {
		return d.Update(ctx, m.Database, m.Table, keyField, keyValue, fields)
	})
}

// Update2 sets update on the rows of family matching every lookup field.
func (e *Engine) Update2(ctx context.Context, family string, lookup, update []Field) (int64, error) {
	r, err := e.family(family)
	if err != nil {
		return 0, err
	}
	return run(ctx, family, r, func(d Driver, m *Mapping) (int64, error) {
		return d.Update2(ctx, m.Database, m.Table, lookup, update)
	})
}

// Store inserts one row into family.
func (e *Engine) Store(ctx context.Context, family string, fields ...Field) (int64, error) {
	r, err := e.family(family)
	if err != nil {
		return 0, err
	}
	return run(ctx, family, r, func(d Driver, m *Mapping) (int64, error) {
		return d.Store(ctx, m.Database, m.Table, fields)
	})
}

// Destroy deletes the rows of family where keyField = keyValue and every field matches.
func (e *Engine) Destroy(ctx context.Context, family, keyField, keyValue string, fields ...Field) (int64, error) {
	r, err := e.family(family)
	if err != nil {
		return 0, err
	}
	return run(ctx, family, r, func(d Driver, m *Mapping) (int64, error) {
		return d.Destroy(ctx, m.Database, m.Table, keyField, keyValue, fields)
	})
}

// Require declares the columns a consumer of family needs, on every mapping of the family
// (each driver acts per its requirements= setting). Errors of all mappings are joined.
func (e *Engine) Require(ctx context.Context, family string, reqs ...Requirement) error {
	r, err := e.family(family)
	if err != nil {
		return err
	}
	var errs []error
	for i, m := range r.mappings {
		if err := r.drivers[i].Require(ctx, m.Database, m.Table, reqs); err != nil {
			errs = append(errs, fmt.Errorf("realtime %s priority %d (%s,%s): %w", family, m.Priority, m.Driver, m.Database, err))
		}
	}
	return errors.Join(errs...)
}

// Unload makes every mapping of family forget its cached column metadata.
func (e *Engine) Unload(ctx context.Context, family string) error {
	r, err := e.family(family)
	if err != nil {
		return err
	}
	var errs []error
	for i, m := range r.mappings {
		errs = append(errs, r.drivers[i].Unload(ctx, m.Database, m.Table))
	}
	return errors.Join(errs...)
}
