package dialplan

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
)

// App is a dialplan application. Exec gets the priority's data after ${...} substitution.
// It returns nil to continue with the next priority (or wherever it jumped, see
// Channel.Goto), ErrHangup to end the call normally, or another error, which is logged and
// hangs the channel up (Asterisk's non-zero return).
type App struct {
	Name     string
	Synopsis string
	Exec     func(ctx context.Context, ch *Channel, data string) error
	// Escalates marks an application that reaches beyond the dialplan on the word of its
	// data: it runs a shell command or another application named in the data (System,
	// Exec, ExecIf, AGI...). A channel running for an external, unprivileged origin may not
	// run it (see Channel.InhibitEscalations).
	Escalates bool
}

// Escalation says which directions of a dialplan function give more than the dialplan
// itself allows an outsider: reading secrets or arbitrary rows, writing configuration or
// stored data (Asterisk's AST_CFE_READ, AST_CFE_WRITE, AST_CFE_BOTH).
type Escalation uint8

// The escalation flags.
const (
	EscalatesRead  Escalation = 1 << iota // reading the function escalates
	EscalatesWrite                        // writing the function escalates
	EscalatesBoth  = EscalatesRead | EscalatesWrite
)

// String names the flags as Asterisk's enum does ("none", "read", "write", "both").
func (e Escalation) String() string {
	switch e {
	case 0:
		return "none"
	case EscalatesRead:
		return "read"
	case EscalatesWrite:
		return "write"
	}
	return "both"
}

// Function is a dialplan function: ${NAME(args)} calls Read, Set(NAME(args)=value) calls
// Write. Either may be nil (a read-only or write-only function).
type Function struct {
	Name     string
	Synopsis string
	Read     func(ctx context.Context, ch *Channel, args string) (string, error)
	Write    func(ctx context.Context, ch *Channel, args, value string) error
	// Escalates says whether reading and/or writing the function is refused to a channel
	// running for an external, unprivileged origin (see Channel.InhibitEscalations).
	Escalates Escalation
}

// Switch is an alternative switch (switch => Name/data): a source of extensions outside the
// static dialplan, such as the Realtime switch. A lookup asks a context's switches after
// the context's own extensions and before its includes, as Asterisk does. context is the
// context the switch line is in; data is the text after "Name/". A switch's own
// verbose logging of executed priorities is its business (Asterisk's pbx_realtime logs the
// same "Executing [...]" line the executor does).
type Switch interface {
	Exists(ctx context.Context, context, exten string, priority int, callerID, data string) (bool, error)
	CanMatch(ctx context.Context, context, exten string, priority int, callerID, data string) (bool, error)
	MatchMore(ctx context.Context, context, exten string, priority int, callerID, data string) (bool, error)
	Exec(ctx context.Context, ch *Channel, context, exten string, priority int, callerID, data string) error
}

// ErrHangup is returned by an application to end the call (Hangup()).
var ErrHangup = errors.New("dialplan: hangup")

// table holds one kind of registered thing by lower-case name. It is safe for concurrent
// use.
type table[T comparable] struct {
	mu sync.RWMutex
	m  map[string]T
}

func (t *table[T]) put(name string, v T) {
	t.mu.Lock()
	if t.m == nil {
		t.m = map[string]T{}
	}
	t.m[strings.ToLower(name)] = v
	t.mu.Unlock()
}

func (t *table[T]) del(name string) {
	t.mu.Lock()
	delete(t.m, strings.ToLower(name))
	t.mu.Unlock()
}

func (t *table[T]) get(name string) T {
	t.mu.RLock()
	v := t.m[strings.ToLower(name)]
	t.mu.RUnlock()
	return v
}

func (t *table[T]) clear() {
	t.mu.Lock()
	clear(t.m)
	t.mu.Unlock()
}

// lookup returns the engine's own entry of name, else the built-in one.
func lookup[T comparable](own, builtin *table[T], name string) T {
	var zero T
	if v := own.get(name); v != zero {
		return v
	}
	return builtin.get(name)
}

// merged lists the built-ins and the engine's own entries (the engine's win), sorted by name.
func merged[T comparable](builtin, own *table[T], name func(T) string) []T {
	seen := map[string]T{}
	for _, t := range []*table[T]{builtin, own} {
		t.mu.RLock()
		for k, v := range t.m {
			seen[k] = v
		}
		t.mu.RUnlock()
	}
	out := make([]T, 0, len(seen))
	for _, v := range seen {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return name(out[i]) < name(out[j]) })
	return out
}

// registry holds applications, functions and switches.
type registry struct {
	apps     table[*App]
	funcs    table[*Function]
	switches table[Switch]
}

// builtins are this package's own applications and functions, added by its init functions
// and never changed afterwards. Every engine sees them; what an engine registers itself
// comes first (and may replace one of them for that engine only).
var builtins = &registry{}

// RegisterApp adds (or replaces) an application of this engine; names are case-insensitive.
func (e *Engine) RegisterApp(a *App) { e.reg.apps.put(a.Name, a) }

// UnregisterApp removes an application the engine registered (built-ins stay).
func (e *Engine) UnregisterApp(name string) { e.reg.apps.del(name) }

// LookupApp returns the application named name (any case): the engine's own, else the
// built-in one, else nil.
func (e *Engine) LookupApp(name string) *App { return lookup(&e.reg.apps, &builtins.apps, name) }

// Apps returns the applications the engine knows, sorted by name.
func (e *Engine) Apps() []*App {
	return merged(&builtins.apps, &e.reg.apps, func(a *App) string { return a.Name })
}

// RegisterFunction adds (or replaces) a dialplan function of this engine; names are
// case-insensitive.
func (e *Engine) RegisterFunction(f *Function) { e.reg.funcs.put(f.Name, f) }

// UnregisterFunction removes a function the engine registered (built-ins stay).
func (e *Engine) UnregisterFunction(name string) { e.reg.funcs.del(name) }

// LookupFunction returns the function named name (any case): the engine's own, else the
// built-in one, else nil.
func (e *Engine) LookupFunction(name string) *Function {
	return lookup(&e.reg.funcs, &builtins.funcs, name)
}

// Functions returns the functions the engine knows, sorted by name.
func (e *Engine) Functions() []*Function {
	return merged(&builtins.funcs, &e.reg.funcs, func(f *Function) string { return f.Name })
}

// RegisterSwitch adds (or, with s nil, removes) the switch type used by "switch => name/..."
// in this engine's dialplan. Names are case-insensitive.
func (e *Engine) RegisterSwitch(name string, s Switch) {
	if s == nil {
		e.reg.switches.del(name)
	} else {
		e.reg.switches.put(name, s)
	}
}

// LookupSwitch returns the switch registered as name, or nil.
func (e *Engine) LookupSwitch(name string) Switch { return e.reg.switches.get(name) }
