package dialplan

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

	"github.com/pleiades-pbx/pleiades/internal/astdb"
	"github.com/pleiades-pbx/pleiades/internal/channel"
	"github.com/pleiades-pbx/pleiades/internal/conf"
)

// DefaultMaxSteps bounds how many priorities one channel may execute without passing
// through an application that waits (Wait()): a dialplan loop such as
// "exten => s,1,Goto(s,1)" hangs the channel up with an error instead of spinning forever.
const DefaultMaxSteps = 100000

// Engine holds the running dialplan, the global variables and the executor.
// It is safe for concurrent use.
type Engine struct {
	log *slog.Logger
	db  *astdb.DB

	dp       atomic.Pointer[Dialplan]
	loadMu   sync.Mutex // serialises Load
	loader   atomic.Pointer[func(context.Context) (*conf.Config, error)]
	now      atomic.Pointer[func() time.Time]
	onLoad   []func(*Dialplan)
	onLoadMu sync.Mutex
	onApp    atomic.Pointer[[]func(leg *channel.Channel, app, data string)]

	globalsMu sync.RWMutex
	globals   map[string]string

	reg             *registry // this engine's applications, functions and switches
	liveDangerously atomic.Bool

	// MaxSteps is the per-channel bound on priorities executed without a wait; 0 means
	// DefaultMaxSteps. Set it before running channels.
	MaxSteps int

	seq    atomic.Uint64
	calls  calls
	legs   legs // real call legs running the dialplan (RunChannel)
	base   context.Context
	cancel context.CancelFunc
	bg     sync.WaitGroup
}

// New returns an engine with an empty dialplan. db may be nil (the DB functions then fail).
func New(log *slog.Logger, db *astdb.DB) *Engine {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{log: log, db: db, globals: map[string]string{}, reg: &registry{}}
	e.dp.Store(&Dialplan{contexts: map[string]*Context{}, Settings: Settings{AutoFallthrough: true, UsersContext: "default"}})
	e.base, e.cancel = context.WithCancel(context.Background())
	return e
}

// Close hangs up the channels started in the background (channel originate), waits for
// them to end, and drops what was registered on the engine (the module unloads; the
// built-ins stay).
func (e *Engine) Close() {
	e.cancel()
	e.bg.Wait()
	e.reg.apps.clear()
	e.reg.funcs.clear()
	e.reg.switches.clear()
}

// SetLiveDangerously is asterisk.conf's live_dangerously: with on, functions and
// applications that escalate privileges are allowed even to channels that inhibit
// escalations (external origins). The default is off, as in Asterisk; turning it on logs
// Asterisk's warning.
func (e *Engine) SetLiveDangerously(on bool) {
	was := e.liveDangerously.Swap(on)
	switch {
	case on && !was:
		e.log.Warn("Privilege escalation protection disabled! (asterisk.conf live_dangerously=yes: AMI and HTTP users may call every dialplan function and application)")
	case !on && was:
		e.log.Info("Privilege escalation protection enabled.")
	}
}

// LiveDangerously reports whether SetLiveDangerously turned the protection off.
func (e *Engine) LiveDangerously() bool { return e.liveDangerously.Load() }

// NewChannel returns a channel bound to this engine (its functions and applications are
// the engine's), starting at context/exten/priority; it need not be Run.
func (e *Engine) NewChannel(name, context, exten string, priority int) *Channel {
	ch := NewChannel(name, context, exten, priority)
	ch.engine = e
	ch.UniqueID = e.newUniqueID()
	return ch
}

// DB returns the astdb handle given to New (maybe nil).
func (e *Engine) DB() *astdb.DB { return e.db }

// Logger returns the engine's logger.
func (e *Engine) Logger() *slog.Logger { return e.log }

// SetClock replaces the clock used for time conditions (tests).
func (e *Engine) SetClock(now func() time.Time) { e.now.Store(&now) }

// Now returns the engine clock's time.
func (e *Engine) Now() time.Time {
	if f := e.now.Load(); f != nil {
		return (*f)()
	}
	return time.Now()
}

// SetLoader sets the function `dialplan reload` uses to read extensions.conf again.
func (e *Engine) SetLoader(load func(ctx context.Context) (*conf.Config, error)) {
	e.loader.Store(&load)
}

// OnLoad registers fn to be called (synchronously, after the swap) with every dialplan
// Load installs: the hint engine uses it to pick up changed hints.
func (e *Engine) OnLoad(fn func(*Dialplan)) {
	e.onLoadMu.Lock()
	e.onLoad = append(e.onLoad, fn)
	e.onLoadMu.Unlock()
}

// OnApp registers fn to be called, on the channel's goroutine, each time the dialplan starts
// an application on a real call leg (after leg.SetApplication; the leg's location is the
// priority's): CDR's lastapp/lastdata follow it, as Asterisk's CDR engine follows the
// channel snapshot updates of each application. fn must not block.
func (e *Engine) OnApp(fn func(leg *channel.Channel, app, data string)) {
	e.onLoadMu.Lock()
	defer e.onLoadMu.Unlock()
	var fns []func(*channel.Channel, string, string)
	if p := e.onApp.Load(); p != nil {
		fns = append(fns, *p...)
	}
	fns = append(fns, fn)
	e.onApp.Store(&fns)
}

func (e *Engine) appStarted(leg *channel.Channel, app, data string) {
	if p := e.onApp.Load(); p != nil {
		for _, fn := range *p {
			fn(leg, app, data)
		}
	}
}

// Dialplan returns the running dialplan.
func (e *Engine) Dialplan() *Dialplan { return e.dp.Load() }

// Load builds a dialplan from cfg, logs each problem found as a warning with its file and
// line, sets the globals, and installs the new dialplan atomically. Problems in the content
// never fail a load (as in Asterisk, the offending line is skipped); Load fails only
// without a configuration, and then the running dialplan stays.
func (e *Engine) Load(cfg *conf.Config) error {
	_, err := e.load(cfg)
	return err
}

func (e *Engine) load(cfg *conf.Config) (conf.ErrorList, error) {
	if cfg == nil {
		return nil, errors.New("dialplan: no configuration to load")
	}
	e.loadMu.Lock()
	defer e.loadMu.Unlock()
	dp, warns := build(cfg, e.Global, func(app string) bool { return e.LookupApp(app) != nil })
	for _, w := range warns {
		e.log.Warn(w.Error())
	}
	e.globalsMu.Lock()
	if dp.Settings.ClearGlobalVars {
		e.globals = map[string]string{}
	}
	for _, g := range dp.Globals {
		e.globals[g[0]] = g[1]
	}
	e.globalsMu.Unlock()
	e.dp.Store(dp)
	e.onLoadMu.Lock()
	hooks := slices.Clone(e.onLoad)
	e.onLoadMu.Unlock()
	for _, fn := range hooks {
		fn(dp)
	}
	return warns, nil
}

// Global returns a global variable.
func (e *Engine) Global(name string) (string, bool) {
	e.globalsMu.RLock()
	v, ok := e.globals[name]
	e.globalsMu.RUnlock()
	return v, ok
}

// SetGlobal sets a global variable; an empty value deletes it (as Set(GLOBAL(x)=) does).
func (e *Engine) SetGlobal(name, value string) {
	e.globalsMu.Lock()
	if value == "" {
		delete(e.globals, name)
	} else {
		e.globals[name] = value
	}
	e.globalsMu.Unlock()
}

// Hints returns the hints of the running dialplan.
func (e *Engine) Hints() []Hint { return e.dp.Load().Hints() }

// Hint returns the hint of exten@context as a call would find it: through includes and
// patterns, the Caller ID not considered.
func (e *Engine) Hint(exten, contextName string) (Hint, bool) {
	f, ok := e.find(context.Background(), nil, contextName, exten, PriorityHint, "", "", modeMatch)
	if !ok || f.Priority == nil {
		return Hint{}, false
	}
	p := f.Priority
	dev, pres := splitHint(p.App)
	return Hint{Exten: exten, Context: f.Context, Devices: dev, Presence: pres, File: p.File, Line: p.Line}, true
}

func (e *Engine) find(ctx context.Context, ch *Channel, contextName, exten string, prio int, label, callerID string, mode matchMode) (Found, bool) {
	q := queryPool.Get().(*query)
	*q = query{e: e, log: e.log, ch: ch, now: e.Now(), visited: q.visited[:0]}
	f, ok := e.dp.Load().find(ctx, q, contextName, exten, prio, label, callerID, mode)
	clear(q.visited)
	q.ctx, q.ch, q.dp, q.e = nil, nil, nil, nil
	queryPool.Put(q)
	return f, ok
}

// queryPool recycles lookups' visited-context lists, so a lookup does not allocate.
var queryPool = sync.Pool{New: func() any { return &query{visited: make([]*Context, 0, 16)} }}

// Exists reports whether context has exten at priority for callerID (ast_exists_extension).
func (e *Engine) Exists(ctx context.Context, context, exten string, priority int, callerID string) bool {
	_, ok := e.find(ctx, nil, context, exten, priority, "", callerID, modeMatch)
	return ok
}

// CanMatch reports whether exten matches or could match with more digits
// (ast_canmatch_extension).
func (e *Engine) CanMatch(ctx context.Context, context, exten string, priority int, callerID string) bool {
	_, ok := e.find(ctx, nil, context, exten, priority, "", callerID, modeCanMatch)
	return ok
}

// MatchMore reports whether exten could match with more digits (ast_matchmore_extension).
func (e *Engine) MatchMore(ctx context.Context, context, exten string, priority int, callerID string) bool {
	_, ok := e.find(ctx, nil, context, exten, priority, "", callerID, modeMatchMore)
	return ok
}

// Find returns the priority (or switch) context/exten/priority resolves to.
func (e *Engine) Find(ctx context.Context, context, exten string, priority int, callerID string) (Found, bool) {
	return e.find(ctx, nil, context, exten, priority, "", callerID, modeMatch)
}

// FindPriority resolves a priority given as a number or a label (ast_findlabel_extension):
// it returns the priority number, or false when there is none.
func (e *Engine) FindPriority(ctx context.Context, context, exten, priorityOrLabel, callerID string) (int, bool) {
	if n, err := strconv.Atoi(priorityOrLabel); err == nil {
		if e.Exists(ctx, context, exten, n, callerID) {
			return n, true
		}
		return 0, false
	}
	f, ok := e.find(ctx, nil, context, exten, 0, priorityOrLabel, callerID, modeMatch)
	if !ok || f.Priority == nil {
		return 0, false
	}
	return f.Priority.Priority, true
}

func (e *Engine) newUniqueID() string {
	return fmt.Sprintf("%d.%d", time.Now().Unix(), e.seq.Add(1))
}

// ParseExtenContext splits "exten@context" (either part may be empty).
func ParseExtenContext(s string) (exten, context string) {
	exten, context, _ = strings.Cut(s, "@")
	return exten, context
}
