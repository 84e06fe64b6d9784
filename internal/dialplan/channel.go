package dialplan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/channel"
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

	mu         sync.Mutex
	vars       map[string]string
	cidNum     string
	cidName    string
	engine     *Engine
	frames     []*gosubFrame
	whiles     []whileFrame
	jumped     bool
	steps      int
	echo       func(line string)
	state      string
	dial       *dialWatch       // the dial waiting for this channel to answer (an originate's ;2 half)
	leg        *channel.Channel // the real call leg (RunChannel), nil for console and Local channels
	endCause   channel.Cause    // the cause the dialplan's end gives the leg (0: HANGUPCAUSE or normal)
	inhibit    atomic.Bool      // escalations refused (an external, unprivileged origin)
	musicClass string           // CHANNEL(musicclass) without a leg (a leg keeps its own)
}

// State returns the channel state: "Ring" until Answer(), then "Up" ("Ringing" after
// Ringing(), "Busy" after Busy() or Congestion() before an answer).
func (ch *Channel) State() string {
	if ch.leg != nil {
		return ch.leg.State().String()
	}
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
	if ch.leg != nil {
		ch.leg.SetCallerID(num, name)
		return
	}
	ch.mu.Lock()
	ch.cidNum, ch.cidName = num, name
	ch.mu.Unlock()
}

// CallerID returns the Caller ID number and name.
func (ch *Channel) CallerID() (num, name string) {
	if ch.leg != nil {
		s := ch.leg.Snapshot()
		return s.CallerNum, s.CallerName
	}
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
	if v, ok := ch.legValue(name); ok {
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

// ErrEscalation is wrapped by the errors of a function or application refused to a channel
// that inhibits escalations.
var ErrEscalation = errors.New("dialplan: privilege escalation refused to an external origin")

// InhibitEscalations marks the channel as acting for an external, unprivileged origin (an
// AMI user without the system class, an HTTP user, the application an AMI Originate
// names; Asterisk's thread-local "inhibit escalations" of manager and HTTP threads): from
// now on every function read or written and every application run on it is checked, and
// those that escalate are refused unless the engine lives dangerously. It cannot be undone.
func (ch *Channel) InhibitEscalations() { ch.inhibit.Store(true) }

// EscalationsInhibited reports whether InhibitEscalations was called.
func (ch *Channel) EscalationsInhibited() bool { return ch.inhibit.Load() }

// escalationRefused is the one test of the escalation policy: something that escalates
// may not run on ch.
func (ch *Channel) escalationRefused() bool {
	return ch.inhibit.Load() && (ch.engine == nil || !ch.engine.LiveDangerously())
}

// LookupFunction returns the function named name as the channel sees it: its engine's,
// else the built-in one.
func (ch *Channel) LookupFunction(name string) *Function {
	if ch.engine != nil {
		return ch.engine.LookupFunction(name)
	}
	return builtins.funcs.get(name)
}

// LookupApp returns the application named name as the channel sees it.
func (ch *Channel) LookupApp(name string) *App {
	if ch.engine != nil {
		return ch.engine.LookupApp(name)
	}
	return builtins.apps.get(name)
}

// ExecApp runs app with data on the channel. Every application is started through it (the
// executor, ExecIf, Originate, switches), so that one that escalates is refused to a
// channel that inhibits escalations.
func (ch *Channel) ExecApp(ctx context.Context, app *App, data string) error {
	if app.Escalates && ch.escalationRefused() {
		msg := fmt.Sprintf("Dangerous application %s blocked on channel '%s'", app.Name, ch.Name)
		ch.Log(slog.LevelError, msg)
		return fmt.Errorf("%w: %s", ErrEscalation, msg)
	}
	return app.Exec(ctx, ch, data)
}

// refuse logs and returns the error of a function refused in direction dir ("read" or
// "write"), in Asterisk's wording.
func (ch *Channel) refuse(f *Function, dir string) error {
	msg := "Dangerous function " + f.Name + " " + dir + " blocked"
	ch.Log(slog.LevelError, msg)
	return &FunctionError{Name: f.Name, Msg: msg, Err: ErrEscalation}
}

// ReadFunction calls a dialplan function's Read.
func (ch *Channel) ReadFunction(ctx context.Context, name, args string) (string, error) {
	name = strings.TrimSpace(name)
	f := ch.LookupFunction(name)
	if f == nil {
		return "", &FunctionError{Name: name, Msg: "Function " + name + " not registered"}
	}
	if f.Read == nil {
		return "", &FunctionError{Name: name, Msg: "Function " + name + " cannot be read"}
	}
	if f.Escalates&EscalatesRead != 0 && ch.escalationRefused() {
		return "", ch.refuse(f, "read")
	}
	return f.Read(ctx, ch, args)
}

// WriteFunction calls a dialplan function's Write: name is "NAME(args)".
func (ch *Channel) WriteFunction(ctx context.Context, call, value string) error {
	name, args, ok := splitFunc(call)
	name = strings.TrimSpace(name)
	if !ok {
		return &FunctionError{Name: call, Msg: "Function '" + call + "' is malformed"}
	}
	f := ch.LookupFunction(name)
	if f == nil {
		return &FunctionError{Name: name, Msg: "Function " + name + " not registered"}
	}
	if f.Write == nil {
		return &FunctionError{Name: name, Msg: "Function " + name + " cannot be written to"}
	}
	if f.Escalates&EscalatesWrite != 0 && ch.escalationRefused() {
		return ch.refuse(f, "write")
	}
	return f.Write(ctx, ch, args, value)
}

// FunctionError is a failed function call. Err, when set, is what it wraps (ErrEscalation).
type FunctionError struct {
	Name string
	Msg  string
	Err  error
}

func (e *FunctionError) Error() string { return e.Msg }

func (e *FunctionError) Unwrap() error { return e.Err }
