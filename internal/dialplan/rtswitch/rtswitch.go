package rtswitch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/dialplan"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

// Name is the switch type name used in extensions.conf: switch => Realtime/...
const Name = "Realtime"

// DefaultFamily is the family used when the switch data names none.
const DefaultFamily = "extensions"

// DefaultCacheTTL is how long a lookup result is reused (Asterisk's pbx_realtime: 1 s).
const DefaultCacheTTL = time.Second

// HintPriority is the priority column value of a realtime hint row (dialplan.PriorityHint).
const HintPriority = dialplan.PriorityHint

// Switch is the Realtime switch. It is safe for concurrent use.
type Switch struct {
	log *slog.Logger
	rt  *realtime.Engine

	ttl    atomic.Int64 // nanoseconds; <= 0: no cache
	caches atomic.Pointer[caches]

	cidMu  sync.Mutex
	hasCID map[string]bool // lower-case family -> table has a cidmatch column

	warned sync.Map // family -> struct{}: "not mapped" logged once

	hintFamilies sync.Map // lower-case family -> struct{}: hint rows were read from it
	families     sync.Map // lower-case family -> struct{}: something of it was cached
}

// cachedFamily returns the cache's name of family (lower-case) and notes that the caches
// hold something of it, so that Changed skips the families they never held (a realtime
// peer's every registration write-back notifies sippeers).
func (s *Switch) cachedFamily(family string) string {
	fam := strings.ToLower(family)
	if _, ok := s.families.Load(fam); !ok {
		s.families.Store(fam, struct{}{})
	}
	return fam
}

type caches struct {
	rows     *realtime.Cache[[]realtime.Row] // exact / canmatch / matchmore answers
	patterns *realtime.Cache[[]patRow]       // pattern rows of (context, priority)
	hints    *realtime.Cache[[]realtime.Row] // hint rows of a context
}

// patRow is one pattern row, in match order.
type patRow struct {
	exten string
	cid   string // "" when the row has no Caller ID match
	row   realtime.Row
}

// New returns a Realtime switch reading through rt, with the default 1-second cache.
func New(log *slog.Logger, rt *realtime.Engine) *Switch {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Switch{log: log, rt: rt, hasCID: map[string]bool{}}
	s.SetCacheTTL(DefaultCacheTTL)
	return s
}

// SetCacheTTL sets how long lookup results are reused (d <= 0: every lookup queries the
// database, as Asterisk's broken cache effectively does). It drops what is cached.
func (s *Switch) SetCacheTTL(d time.Duration) {
	s.ttl.Store(int64(d))
	s.Flush()
}

// CacheTTL returns the cache time set by SetCacheTTL.
func (s *Switch) CacheTTL() time.Duration { return time.Duration(s.ttl.Load()) }

// Flush forgets every cached result and what was learnt about cidmatch columns (call it when
// the extensions table changed shape, or after `realtime` reloads).
func (s *Switch) Flush() {
	ttl := time.Duration(s.ttl.Load())
	if ttl <= 0 {
		s.caches.Store(nil)
	} else {
		s.caches.Store(&caches{
			rows:     realtime.NewCache[[]realtime.Row](ttl),
			patterns: realtime.NewCache[[]patRow](ttl),
			hints:    realtime.NewCache[[]realtime.Row](ttl),
		})
	}
	s.cidMu.Lock()
	s.hasCID = map[string]bool{}
	s.cidMu.Unlock()
}

// Changed drops what the caches hold for the family of c; it is the switch's subscriber to the
// realtime change feed (realtime.Engine.Subscribe("", sw.Changed)). A pattern or hint answer
// depends on every row of its context and an exact answer on rows of other extens (a pattern
// row, a cidmatch), so a change of one row drops the whole family, whatever its key: the
// next lookup reads the table again. It reports whether the family is one the switch has read
// hints from (the server then reads its realtime hints again at once rather than at the next
// poll).
func (s *Switch) Changed(c realtime.Change) (hints bool) {
	fam := strings.ToLower(c.Family)
	_, hints = s.hintFamilies.Load(fam)
	cs := s.caches.Load()
	if _, held := s.families.Load(fam); !held || cs == nil {
		return hints
	}
	cs.rows.InvalidateFamily(fam)
	cs.patterns.InvalidateFamily(fam)
	cs.hints.InvalidateFamily(fam)
	return hints
}

// CacheStats returns the counters of the row, pattern and hint caches (zero when the cache is
// off).
func (s *Switch) CacheStats() (rows, patterns, hints realtime.CacheStats) {
	c := s.caches.Load()
	if c == nil {
		return
	}
	return c.rows.Stats(), c.patterns.Stats(), c.hints.Stats()
}

// Register registers the switch as "Realtime" and the REALTIME, REALTIME_STORE,
// REALTIME_DESTROY, REALTIME_FIELD and REALTIME_HASH dialplan functions over the same
// realtime engine on the dialplan engine e.
func (s *Switch) Register(e *dialplan.Engine) {
	e.RegisterSwitch(Name, s)
	RegisterFunctions(e, s.rt)
}

// Unregister removes from e what Register registered.
func (s *Switch) Unregister(e *dialplan.Engine) {
	e.RegisterSwitch(Name, nil)
	UnregisterFunctions(e)
}

// Spec is a parsed switch data string: [[db_context@]family][/options].
type Spec struct {
	// Context is the db_context, "" for the context holding the switch line.
	Context string
	// Family defaults to "extensions".
	Family string
	// NoPatterns is option 'p'.
	NoPatterns bool
}

// ParseSpec parses the text after "Realtime/".
func ParseSpec(data string) Spec {
	data = strings.TrimSpace(data)
	head, opts, _ := strings.Cut(data, "/")
	var sp Spec
	if c, fam, ok := strings.Cut(head, "@"); ok {
		sp.Context, sp.Family = strings.TrimSpace(c), strings.TrimSpace(fam)
	} else {
		sp.Family = strings.TrimSpace(head)
	}
	if sp.Family == "" {
		sp.Family = DefaultFamily
	}
	sp.NoPatterns = strings.ContainsAny(opts, "p")
	return sp
}

func (sp Spec) dbContext(context string) string {
	if sp.Context != "" {
		return sp.Context
	}
	return context
}

type mode uint8

const (
	modeMatch mode = iota
	modeCanMatch
	modeMatchMore
)

// Exists implements dialplan.Switch.
func (s *Switch) Exists(ctx context.Context, context, exten string, priority int, callerID, data string) (bool, error) {
	if priority == HintPriority {
		_, ok, err := s.Hint(ctx, context, exten, data)
		return ok, err
	}
	r, err := s.find(ctx, modeMatch, context, exten, priority, callerID, data)
	return r != nil, err
}

// CanMatch implements dialplan.Switch.
func (s *Switch) CanMatch(ctx context.Context, context, exten string, priority int, callerID, data string) (bool, error) {
	if priority < 0 {
		return false, nil
	}
	r, err := s.find(ctx, modeCanMatch, context, exten, priority, callerID, data)
	return r != nil, err
}

// MatchMore implements dialplan.Switch.
func (s *Switch) MatchMore(ctx context.Context, context, exten string, priority int, callerID, data string) (bool, error) {
	if priority < 0 {
		return false, nil
	}
	r, err := s.find(ctx, modeMatchMore, context, exten, priority, callerID, data)
	return r != nil, err
}

// Exec implements dialplan.Switch: it runs the row's application with its appdata substituted,
// logged as a static priority is.
func (s *Switch) Exec(ctx context.Context, ch *dialplan.Channel, context, exten string, priority int, callerID, data string) error {
	row, err := s.find(ctx, modeMatch, context, exten, priority, callerID, data)
	if err != nil {
		return err
	}
	if row == nil {
		return fmt.Errorf("realtime extension '%s' priority %d in context '%s' no longer exists", exten, priority, context)
	}
	appName, _ := row.Get("app")
	appdata, _ := row.Get("appdata")
	if strings.TrimSpace(appName) == "" {
		ch.Log(slog.LevelWarn, fmt.Sprintf("No application specified for realtime extension '%s' in context '%s'", exten, context))
		return fmt.Errorf("no application for realtime extension '%s' in context '%s'", exten, context)
	}
	app := ch.LookupApp(strings.TrimSpace(appName))
	if app == nil {
		ch.Log(slog.LevelInfo, fmt.Sprintf("No such application '%s' for extension '%s' in context '%s'", appName, exten, context))
		return fmt.Errorf("%w: '%s' (realtime extension '%s' in context '%s')", dialplan.ErrNoApp, appName, exten, context)
	}
	if strings.IndexByte(appdata, '$') >= 0 {
		if sub, err := ch.Substitute(ctx, appdata); err != nil {
			ch.Log(slog.LevelWarn, fmt.Sprintf("realtime %s@%s:%d: %v", exten, context, priority, err))
		} else {
			appdata = sub
		}
	}
	ch.Verbose(3, fmt.Sprintf("Executing [%s@%s:%d] %s(\"%s\", \"%s\") in new stack", ch.Exten, ch.Context, ch.Priority, app.Name, ch.Name, appdata))
	return ch.ExecApp(ctx, app, appdata)
}

// Row returns the row a call to exten@context at priority would execute (nil when there is
// none), for diagnostics and tests.
func (s *Switch) Row(ctx context.Context, context, exten string, priority int, callerID, data string) (realtime.Row, error) {
	return s.find(ctx, modeMatch, context, exten, priority, callerID, data)
}

// find is Asterisk's realtime_switch_common: the exact (or LIKE, for canmatch/matchmore) rows
// first, then the context's pattern rows at that priority, longest first.
func (s *Switch) find(ctx context.Context, m mode, context, exten string, priority int, callerID, data string) (realtime.Row, error) {
	sp := ParseSpec(data)
	if !s.mapped(sp.Family) {
		return nil, nil
	}
	dbctx := sp.dbContext(context)
	prio := strconv.Itoa(priority)
	cidCol := s.cidColumn(ctx, sp.Family)
	rows, err := s.direct(ctx, m, sp.Family, dbctx, exten, prio, cidCol)
	if err != nil {
		return nil, err
	}
	if r := pickRow(rows, callerID); r != nil {
		return r, nil
	}
	if sp.NoPatterns {
		return nil, nil
	}
	pats, err := s.patterns(ctx, sp.Family, dbctx, prio)
	if err != nil {
		return nil, err
	}
	for i := range pats {
		p := &pats[i]
		if !matchPattern(p.exten, exten, m) {
			continue
		}
		if p.cid != "" && !cidMatches(p.cid, callerID) {
			continue
		}
		return p.row, nil
	}
	return nil, nil
}

// pickRow returns the first row whose Caller ID match fits: rows with a cidmatch first.
func pickRow(rows []realtime.Row, callerID string) realtime.Row {
	var plain realtime.Row
	for _, r := range rows {
		cid, _ := r.Get("cidmatch")
		if cid == "" {
			if plain == nil {
				plain = r
			}
			continue
		}
		if cidMatches(cid, callerID) {
			return r
		}
	}
	return plain
}

// cidMatches is the dialplan's Caller ID match: a caller without a number never matches a
// non-empty cidmatch; otherwise the cidmatch is an extension name or a "_" pattern.
func cidMatches(cidmatch, callerID string) bool {
	if callerID == "" {
		return false
	}
	return dialplan.MatchExtension(cidmatch, callerID)
}

func (s *Switch) mapped(family string) bool {
	if s.rt.Mapped(family) {
		return true
	}
	if _, dup := s.warned.LoadOrStore(strings.ToLower(family), struct{}{}); !dup {
		s.log.Warn(fmt.Sprintf("Realtime switch: family '%s' is not mapped in extconfig.conf; its lookups find nothing", family))
	}
	return false
}

// cidColumn reports whether the family's table has a cidmatch column, asking once per family
// (until Flush): a lookup on cidmatch either runs (the column exists) or fails with
// realtime.ErrUnknownField before anything is sent.
func (s *Switch) cidColumn(ctx context.Context, family string) bool {
	key := strings.ToLower(family)
	s.cidMu.Lock()
	has, known := s.hasCID[key]
	s.cidMu.Unlock()
	if known {
		return has
	}
	_, err := s.rt.Load(ctx, family, realtime.Field{Name: "cidmatch", Value: "-"}, realtime.Field{Name: "context", Value: ""})
	switch {
	case err == nil, errors.Is(err, realtime.ErrNotFound):
		has = true
	case errors.Is(err, realtime.ErrUnknownField):
		has = false
	default:
		return false // unknown: ask again next time
	}
	s.cidMu.Lock()
	s.hasCID[key] = has
	s.cidMu.Unlock()
	return has
}

// likeEscape escapes LIKE's wildcards and its escape character with '\'.
func likeEscape(s string) string {
	if !strings.ContainsAny(s, `\_%`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\\' || c == '_' || c == '%' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// direct returns the rows of the exact query (modeMatch: exten = X) or the prefix query
// (canmatch: exten LIKE 'X%', matchmore: exten LIKE 'X_%'). Without a cidmatch column only the
// first row is read (LIMIT 1, as Asterisk); with one, every row, to pick by Caller ID.
func (s *Switch) direct(ctx context.Context, m mode, family, dbctx, exten, prio string, cidCol bool) ([]realtime.Row, error) {
	var f realtime.Field
	var kind string
	switch m {
	case modeCanMatch:
		f, kind = realtime.Field{Name: "exten LIKE", Value: likeEscape(exten) + "%"}, "C"
	case modeMatchMore:
		f, kind = realtime.Field{Name: "exten LIKE", Value: likeEscape(exten) + "_%"}, "M"
	default:
		f, kind = realtime.Field{Name: "exten", Value: exten}, "E"
	}
	load := func(ctx context.Context) ([]realtime.Row, error) {
		fields := []realtime.Field{f, {Name: "context", Value: dbctx}, {Name: "priority", Value: prio}}
		if cidCol {
			return s.rt.LoadMulti(ctx, family, fields...)
		}
		r, err := s.rt.Load(ctx, family, fields...)
		if errors.Is(err, realtime.ErrNotFound) {
			return []realtime.Row{}, nil
		}
		if err != nil {
			return nil, err
		}
		return []realtime.Row{r}, nil
	}
	c := s.caches.Load()
	if c == nil {
		return load(ctx)
	}
	return c.rows.GetOrLoad(ctx, s.cachedFamily(family), cacheKey(kind, dbctx, exten, prio), load)
}

func cacheKey(parts ...string) string {
	return strings.Join(parts, "\x00")
}

// patterns returns the pattern rows of dbctx at prio, longest first (rows of equal length in
// the database's exten order, a row with a cidmatch before one without).
func (s *Switch) patterns(ctx context.Context, family, dbctx, prio string) ([]patRow, error) {
	load := func(ctx context.Context) ([]patRow, error) {
		rows, err := s.rt.LoadMulti(ctx, family,
			realtime.Field{Name: "exten LIKE", Value: `\_%`},
			realtime.Field{Name: "context", Value: dbctx},
			realtime.Field{Name: "priority", Value: prio})
		if err != nil {
			return nil, err
		}
		out := make([]patRow, 0, len(rows))
		for _, r := range rows {
			ext, _ := r.Get("exten")
			cid, _ := r.Get("cidmatch")
			out = append(out, patRow{exten: ext, cid: cid, row: r})
		}
		slices.SortStableFunc(out, func(a, b patRow) int {
			if d := len(b.exten) - len(a.exten); d != 0 {
				return d
			}
			switch {
			case a.cid != "" && b.cid == "":
				return -1
			case a.cid == "" && b.cid != "":
				return 1
			}
			return 0
		})
		return out, nil
	}
	c := s.caches.Load()
	if c == nil {
		return load(ctx)
	}
	return c.patterns.GetOrLoad(ctx, s.cachedFamily(family), cacheKey("P", dbctx, prio), load)
}

// matchPattern matches one pattern row against the dialled number with the dialplan's matcher.
func matchPattern(pattern, exten string, m mode) bool {
	switch m {
	case modeCanMatch:
		return closeMatch(pattern, exten, false)
	case modeMatchMore:
		return closeMatch(pattern, exten, true)
	}
	return dialplan.MatchExtension(pattern, exten)
}

// closeMatch answers canmatch (more=false) and matchmore (more=true) for one pattern row
// with the dialplan's own matcher.
func closeMatch(pattern, exten string, more bool) bool {
	if more {
		return dialplan.MatchMoreExtension(pattern, exten)
	}
	return dialplan.CanMatchExtension(pattern, exten)
}
