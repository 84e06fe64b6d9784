package dialplan

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Channel is a call leg running the dialplan. Its location (Context, Exten, Priority) is
// owned by the goroutine running it (Engine.Run); variables may be read and written from any
// goroutine.
type Channel struct {
	Name     string
	UniqueID string
	Context  string
	Exten    string
	Priority int

	mu      sync.Mutex
	vars    map[string]string
	cidNum  string
	cidName string
	engine  *Engine
	frames  []*gosubFrame
	whiles  []whileFrame
	jumped  bool
	steps   int
	echo    func(line string)
	state   string
}

// State returns the channel state: "Ring" until Answer(), then "Up".
func (ch *Channel) State() string {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.state == "" {
		return "Ring"
	}
	return ch.state
}

type gosubFrame struct {
	context, exten string
	priority       int // where Return goes
	saved          map[string]*string
	argc           int
}

type whileFrame struct {
	context, exten string
	priority       int
}

// NewChannel returns a channel that will start at context/exten/priority.
func NewChannel(name, context, exten string, priority int) *Channel {
	if priority < 1 {
		priority = 1
	}
	return &Channel{Name: name, Context: context, Exten: exten, Priority: priority, vars: map[string]string{}}
}

// Engine returns the engine running the channel (nil before Run).
func (ch *Channel) Engine() *Engine { return ch.engine }

// SetEcho makes every log line about the channel that a console at verbose 3 would show
// also go to fn (console dial on a console that does not receive verbose lines).
func (ch *Channel) SetEcho(fn func(line string)) { ch.echo = fn }

// SetCallerID sets the Caller ID number and name.
func (ch *Channel) SetCallerID(num, name string) {
	ch.mu.Lock()
	ch.cidNum, ch.cidName = num, name
	ch.mu.Unlock()
}

// CallerID returns the Caller ID number and name.
func (ch *Channel) CallerID() (num, name string) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.cidNum, ch.cidName
}

// Var returns a channel variable (names are case-sensitive, as in Asterisk).
func (ch *Channel) Var(name string) (string, bool) {
	ch.mu.Lock()
	v, ok := ch.vars[name]
	ch.mu.Unlock()
	return v, ok
}

// SetVar sets a channel variable; an empty value deletes it. Leading underscores (Asterisk's
// inheritance marks) are dropped: Pleiades has no child channels to inherit them yet.
func (ch *Channel) SetVar(name, value string) {
	name = strings.TrimLeft(name, "_")
	ch.mu.Lock()
	if value == "" {
		delete(ch.vars, name)
	} else {
		ch.vars[name] = value
	}
	ch.mu.Unlock()
}

// Vars returns a copy of the channel variables.
func (ch *Channel) Vars() map[string]string {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	out := make(map[string]string, len(ch.vars))
	for k, v := range ch.vars {
		out[k] = v
	}
	return out
}

// setLocal sets a variable local to the current Gosub frame, remembering its old value.
func (ch *Channel) setLocal(name, value string) bool {
	if len(ch.frames) == 0 {
		return false
	}
	f := ch.frames[len(ch.frames)-1]
	if _, saved := f.saved[name]; !saved {
		if old, ok := ch.Var(name); ok {
			f.saved[name] = &old
		} else {
			f.saved[name] = nil
		}
	}
	ch.SetVar(name, value)
	return true
}

// lookupVar resolves ${name}: the channel's built-in variables, then channel variables,
// then globals, then EPOCH (the order of Asterisk's pbx_retrieve_variable).
func (ch *Channel) lookupVar(name string) (string, bool) {
	switch name {
	case "EXTEN":
		return ch.Exten, true
	case "CONTEXT":
		return ch.Context, true
	case "PRIORITY":
		return strconv.Itoa(ch.Priority), true
	case "CHANNEL":
		return ch.Name, true
	case "UNIQUEID":
		return ch.UniqueID, true
	}
	if v, ok := ch.Var(name); ok {
		return v, true
	}
	if ch.engine != nil {
		if v, ok := ch.engine.Global(name); ok {
			return v, true
		}
	}
	if name == "EPOCH" {
		return strconv.FormatInt(ch.now().Unix(), 10), true
	}
	return "", false
}

func (ch *Channel) now() time.Time {
	if ch.engine != nil {
		return ch.engine.Now()
	}
	return time.Now()
}

// chanEnv is the expr.Env of a channel.
type chanEnv struct{ ch *Channel }

func (e chanEnv) Var(name string) (string, bool) { return e.ch.lookupVar(name) }

func (e chanEnv) Func(ctx context.Context, name, args string) (string, error) {
	return e.ch.ReadFunction(ctx, name, args)
}

func (ch *Channel) env() chanEnv { return chanEnv{ch} }

// Substitute expands ${...} and $[...] in s with the channel's variables and functions.
func (ch *Channel) Substitute(ctx context.Context, s string) (string, error) {
	if strings.IndexByte(s, '$') < 0 {
		return s, nil
	}
	return substitute(ctx, s, ch.env())
}

// ReadFunction calls a dialplan function's Read.
func (ch *Channel) ReadFunction(ctx context.Context, name, args string) (string, error) {
	name = strings.TrimSpace(name)
	f := LookupFunction(name)
	if f == nil {
		return "", &FunctionError{Name: name, Msg: "Function " + name + " not registered"}
	}
	if f.Read == nil {
		return "", &FunctionError{Name: name, Msg: "Function " + name + " cannot be read"}
	}
	return f.Read(ctx, ch, args)
}

// WriteFunction calls a dialplan function's Write: name is "NAME(args)".
func (ch *Channel) WriteFunction(ctx context.Context, call, value string) error {
	name, args, ok := splitCall(call)
	if !ok {
		return &FunctionError{Name: call, Msg: "Function '" + call + "' is malformed"}
	}
	f := LookupFunction(name)
	if f == nil {
		return &FunctionError{Name: name, Msg: "Function " + name + " not registered"}
	}
	if f.Write == nil {
		return &FunctionError{Name: name, Msg: "Function " + name + " cannot be written to"}
	}
	return f.Write(ctx, ch, args, value)
}

// FunctionError is a failed function call.
type FunctionError struct {
	Name string
	Msg  string
}

func (e *FunctionError) Error() string { return e.Msg }

// splitCall splits "NAME(args)" into NAME and args (up to the last ')').
func splitCall(s string) (name, args string, ok bool) {
	i := strings.IndexByte(s, '(')
	if i < 0 {
		return "", "", false
	}
	name, args = strings.TrimSpace(s[:i]), s[i+1:]
	j := strings.LastIndexByte(args, ')')
	if j < 0 {
		return "", "", false
	}
	return name, args[:j], true
}
