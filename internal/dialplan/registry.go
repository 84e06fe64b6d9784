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

// registry holds applications, functions and switches by lower-case name. It is safe for
// concurrent use.
type registry struct {
	mu       sync.RWMutex
	apps     map[string]*App
	funcs    map[string]*Function
	switches map[string]Switch
}

func newRegistry() *registry {
	return &registry{apps: map[string]*App{}, funcs: map[string]*Function{}, switches: map[string]Switch{}}
}

// builtins are this package's own applications and functions, added by its init functions
// and never changed afterwards. Every engine sees them; what an engine registers itself
// comes first (and may replace one of them for that engine only).
var builtins = newRegistry()

func (r *registry) addApp(a *App) {
	r.mu.Lock()
	r.apps[strings.ToLower(a.Name)] = a
	r.mu.Unlock()
}

func (r *registry) addFunction(f *Function) {
	r.mu.Lock()
	r.funcs[strings.ToLower(f.Name)] = f
	r.mu.Unlock()
}

func (r *registry) app(name string) *App {
	r.mu.RLock()
	a := r.apps[strings.ToLower(name)]
	r.mu.RUnlock()
	return a
}

func (r *registry) function(name string) *Function {
	r.mu.RLock()
	f := r.funcs[strings.ToLower(name)]
	r.mu.RUnlock()
	return f
}

// RegisterApp adds (or replaces) an application of this engine; names are case-insensitive.
func (e *Engine) RegisterApp(a *App) { e.reg.addApp(a) }

// UnregisterApp removes an application the engine registered (built-ins stay).
func (e *Engine) UnregisterApp(name string) {
	e.reg.mu.Lock()
	delete(e.reg.apps, strings.ToLower(name))
	e.reg.mu.Unlock()
}

// LookupApp returns the application named name (any case): the engine's own, else the
// built-in one, else nil.
func (e *Engine) LookupApp(name string) *App {
	if a := e.reg.app(name); a != nil {
		return a
	}
	return builtins.app(name)
}

// Apps returns the applications the engine knows, sorted by name.
func (e *Engine) Apps() []*App {
	seen := map[string]*App{}
	for _, r := range []*registry{builtins, e.reg} {
		r.mu.RLock()
		for k, a := range r.apps {
			seen[k] = a
		}
		r.mu.RUnlock()
	}
	out := make([]*App, 0, len(seen))
	for _, a := range seen {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// RegisterFunction adds (or replaces) a dialplan function of this engine; names are
// case-insensitive.
func (e *Engine) RegisterFunction(f *Function) { e.reg.addFunction(f) }

// UnregisterFunction removes a function the engine registered (built-ins stay).
func (e *Engine) UnregisterFunction(name string) {
	e.reg.mu.Lock()
	delete(e.reg.funcs, strings.ToLower(name))
	e.reg.mu.Unlock()
}

// LookupFunction returns the function named name (any case): the engine's own, else the
// built-in one, else nil.
func (e *Engine) LookupFunction(name string) *Function {
	if f := e.reg.function(name); f != nil {
		return f
	}
	return builtins.function(name)
}

// Functions returns the functions the engine knows, sorted by name.
func (e *Engine) Functions() []*Function {
	seen := map[string]*Function{}
	for _, r := range []*registry{builtins, e.reg} {
		r.mu.RLock()
		for k, f := range r.funcs {
			seen[k] = f
		}
		r.mu.RUnlock()
	}
	out := make([]*Function, 0, len(seen))
	for _, f := range seen {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// RegisterSwitch adds (or, with s nil, removes) the switch type used by "switch => name/..."
// in this engine's dialplan. Names are case-insensitive.
func (e *Engine) RegisterSwitch(name string, s Switch) {
	e.reg.mu.Lock()
	if s == nil {
		delete(e.reg.switches, strings.ToLower(name))
	} else {
		e.reg.switches[strings.ToLower(name)] = s
	}
	e.reg.mu.Unlock()
}

// LookupSwitch returns the switch registered as name, or nil.
func (e *Engine) LookupSwitch(name string) Switch {
	e.reg.mu.RLock()
	s := e.reg.switches[strings.ToLower(name)]
	e.reg.mu.RUnlock()
	return s
}
