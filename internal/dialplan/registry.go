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
}

// Function is a dialplan function: ${NAME(args)} calls Read, Set(NAME(args)=value) calls
// Write. Either may be nil (a read-only or write-only function).
type Function struct {
	Name     string
	Synopsis string
	Read     func(ctx context.Context, ch *Channel, args string) (string, error)
	Write    func(ctx context.Context, ch *Channel, args, value string) error
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

var registry = struct {
	sync.RWMutex
	apps     map[string]*App
	funcs    map[string]*Function
	switches map[string]Switch
}{apps: map[string]*App{}, funcs: map[string]*Function{}, switches: map[string]Switch{}}

// RegisterApp adds (or replaces) an application; names are case-insensitive.
func RegisterApp(a *App) {
	registry.Lock()
	registry.apps[strings.ToLower(a.Name)] = a
	registry.Unlock()
}

// UnregisterApp removes an application.
func UnregisterApp(name string) {
	registry.Lock()
	delete(registry.apps, strings.ToLower(name))
	registry.Unlock()
}

// LookupApp returns the application named name (any case), or nil.
func LookupApp(name string) *App {
	registry.RLock()
	a := registry.apps[strings.ToLower(name)]
	registry.RUnlock()
	return a
}

// Apps returns the registered applications sorted by name.
func Apps() []*App {
	registry.RLock()
	out := make([]*App, 0, len(registry.apps))
	for _, a := range registry.apps {
		out = append(out, a)
	}
	registry.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// RegisterFunction adds (or replaces) a dialplan function; names are case-insensitive.
func RegisterFunction(f *Function) {
	registry.Lock()
	registry.funcs[strings.ToLower(f.Name)] = f
	registry.Unlock()
}

// UnregisterFunction removes a function.
func UnregisterFunction(name string) {
	registry.Lock()
	delete(registry.funcs, strings.ToLower(name))
	registry.Unlock()
}

// LookupFunction returns the function named name (any case), or nil.
func LookupFunction(name string) *Function {
	registry.RLock()
	f := registry.funcs[strings.ToLower(name)]
	registry.RUnlock()
	return f
}

// Functions returns the registered functions sorted by name.
func Functions() []*Function {
	registry.RLock()
	out := make([]*Function, 0, len(registry.funcs))
	for _, f := range registry.funcs {
		out = append(out, f)
	}
	registry.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// RegisterSwitch adds (or, with s nil, removes) the switch type used by "switch => name/...".
// Names are case-insensitive.
func RegisterSwitch(name string, s Switch) {
	registry.Lock()
	if s == nil {
		delete(registry.switches, strings.ToLower(name))
	} else {
		registry.switches[strings.ToLower(name)] = s
	}
	registry.Unlock()
}

// LookupSwitch returns the switch registered as name, or nil.
func LookupSwitch(name string) Switch {
	registry.RLock()
	s := registry.switches[strings.ToLower(name)]
	registry.RUnlock()
	return s
}
