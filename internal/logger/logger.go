// Package logger is Pleiades' logging core, shaped like Asterisk's main/logger.c.
//
// Every package logs through a *slog.Logger whose handler is this package's Handler. The slog
// levels map onto Asterisk's: Error -> ERROR, Warn -> WARNING, Info -> NOTICE, Debug -> DEBUG
// (level 1). Verbose(n) and DebugLevel(n) are extra slog levels for Asterisk's "verbose N" and
// "debug N" messages.
//
// Messages go to the channels of logger.conf [logfiles] (files under the log directory and the
// "console" channel) and to every attached console (the local console and each remote console),
// which keeps its own verbose level as Asterisk 11+ does. Debug messages are shown when the
// server's debug level (core set debug N) is at least the message's level.
//
// Line shapes: files get "[Nov 25 12:32:51] NOTICE[1234] file.go: message"; consoles get the same
// for notices, warnings, errors and debug, and Asterisk's verbose prefixes for verbose messages
// ("    -- " for level 3, "  == " for level 2, "       > " for 4 and above).
package logger

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Kind is Asterisk's log level names (a channel's level list).
type Kind int

// The kinds of message, as logger.conf names them.
const (
	KindDebug Kind = iota
	KindNotice
	KindWarning
	KindError
	KindVerbose
	KindDTMF
	KindSecurity
	numKinds
)

var kindNames = [...]string{"DEBUG", "NOTICE", "WARNING", "ERROR", "VERBOSE", "DTMF", "SECURITY"}

func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "UNKNOWN"
}

// slog levels used for Asterisk's verbose and debug levels. Verbose(n) and DebugLevel(n) are
// below slog.LevelDebug so that plain slog handlers treat them as debug noise.
const (
	levelDebugBase   = -10
	levelVerboseBase = -30
	// LevelSecurity marks security events (failed logins): shown like NOTICE, kept in the
	// "security" channel.
	LevelSecurity = slog.Level(1)
)

// Verbose returns the slog level of a verbose message of level n (1..10).
func Verbose(n int) slog.Level { return slog.Level(levelVerboseBase - n) }

// DebugLevel returns the slog level of a debug message of level n (1..10).
func DebugLevel(n int) slog.Level { return slog.Level(levelDebugBase - n) }

// classify maps a slog level to an Asterisk kind and, for verbose and debug, its level.
func classify(l slog.Level) (Kind, int) {
	switch {
	case l >= slog.LevelError:
		return KindError, 0
	case l >= slog.LevelWarn:
		return KindWarning, 0
	case l == LevelSecurity:
		return KindSecurity, 0
	case l >= slog.LevelInfo:
		return KindNotice, 0
	case l > levelDebugBase:
		return KindDebug, 1
	case l > levelVerboseBase:
		return KindDebug, int(levelDebugBase - l)
	default:
		return KindVerbose, int(levelVerboseBase - l)
	}
}

// Entry is one formatted message.
type Entry struct {
	Time  time.Time
	Kind  Kind
	Level int // verbose or debug level; 0 otherwise
	// Source is "file.go:line function" of the caller, when known: Asterisk's
	// "manager.c:2324 authenticate", which log readers such as fail2ban's asterisk filter
	// expect before the message.
	Source string
	Msg    string
}

// FileLine is the entry as written to a log file.
func (e *Entry) FileLine(dateFormat string) string {
	if e.Kind == KindVerbose {
		return fmt.Sprintf("[%s] VERBOSE[%d] %s: %s%s\n", formatTime(e.Time, dateFormat), os.Getpid(), e.Source, verbosePrefix(e.Level), e.Msg)
	}
	return fmt.Sprintf("[%s] %s[%d] %s: %s\n", formatTime(e.Time, dateFormat), e.Kind, os.Getpid(), e.Source, e.Msg)
}

// ConsoleLine is the entry as shown on a console.
func (e *Entry) ConsoleLine() string {
	if e.Kind == KindVerbose {
		return verbosePrefix(e.Level) + e.Msg + "\n"
	}
	return fmt.Sprintf("[%s] %s[%d]: %s %s\n", e.Time.Format("Jan  2 15:04:05"), e.Kind, os.Getpid(), e.Source, e.Msg)
}

func verbosePrefix(level int) string {
	switch {
	case level <= 1:
		return ""
	case level == 2:
		return "  == "
	case level == 3:
		return "    -- "
	default:
		return "       > "
	}
}

// Console is a place log lines are shown: the local console or a remote console.
type Console struct {
	verbose atomic.Int32
	write   func(line string)
}

// SetVerbose sets the console's own verbose level.
func (c *Console) SetVerbose(n int) { c.verbose.Store(int32(n)) }

// Verbose returns the console's verbose level.
func (c *Console) Verbose() int { return int(c.verbose.Load()) }

// Logger routes entries to channels and consoles. It is safe for concurrent use.
type Logger struct {
	debug   atomic.Int32
	verbose atomic.Int32 // the server's own verbose level (file channels' "verbose" limit)

	mu       sync.RWMutex
	cfg      *Settings
	files    []*fileChannel
	consoles map[*Console]struct{}
	// consoleKinds is which kinds the "console" channel shows.
	consoleKinds [numKinds]bool
}

// New returns a logger with Asterisk's defaults (console => notice,warning,error) and no files.
func New() *Logger {
	l := &Logger{consoles: map[*Console]struct{}{}}
	l.cfg = DefaultSettings()
	l.consoleKinds = l.cfg.consoleKinds()
	return l
}

// SetDebug sets the server's debug level (core set debug N).
func (l *Logger) SetDebug(n int) { l.debug.Store(int32(n)) }

// Debug returns the server's debug level.
func (l *Logger) Debug() int { return int(l.debug.Load()) }

// SetVerbose sets the server's verbose level, which limits verbose messages in files.
func (l *Logger) SetVerbose(n int) { l.verbose.Store(int32(n)) }

// VerboseLevel returns the server's verbose level.
func (l *Logger) VerboseLevel() int { return int(l.verbose.Load()) }

// AttachConsole adds a console that shows log lines through write, at verbose level verbose.
// The returned function detaches it.
func (l *Logger) AttachConsole(verbose int, write func(line string)) (*Console, func()) {
	c := &Console{write: write}
	c.SetVerbose(verbose)
	l.mu.Lock()
	l.consoles[c] = struct{}{}
	l.mu.Unlock()
	return c, func() {
		l.mu.Lock()
		delete(l.consoles, c)
		l.mu.Unlock()
	}
}

// Consoles returns how many consoles are attached.
func (l *Logger) Consoles() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.consoles)
}

// wanted reports whether anything would show an entry of this kind and level, so callers can
// skip formatting.
func (l *Logger) wanted(k Kind, level int) bool {
	switch k {
	case KindDebug:
		return level <= l.Debug()
	case KindVerbose:
		return true // consoles have their own levels; checked per console
	}
	return true
}

// Log routes one entry.
func (l *Logger) Log(e *Entry) {
	if !l.wanted(e.Kind, e.Level) {
		return
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, f := range l.files {
		if f.accepts(e, l.VerboseLevel()) {
			f.write(e, l.cfg.DateFormat)
		}
	}
	if e.Kind != KindVerbose && !l.consoleKinds[e.Kind] {
		return
	}
	var line string
	for c := range l.consoles {
		if e.Kind == KindVerbose && e.Level > c.Verbose() {
			continue
		}
		if line == "" {
			line = e.ConsoleLine()
		}
		c.write(line)
	}
}

// Handler returns a slog.Handler that logs through l.
func (l *Logger) Handler() slog.Handler { return &handler{l: l} }

// Slog returns a *slog.Logger on l.
func (l *Logger) Slog() *slog.Logger { return slog.New(l.Handler()) }

type handler struct {
	l      *Logger
	attrs  []slog.Attr
	groups string
}

func (h *handler) Enabled(_ context.Context, lv slog.Level) bool {
	k, n := classify(lv)
	return h.l.wanted(k, n)
}

func (h *handler) Handle(_ context.Context, r slog.Record) error {
	k, n := classify(r.Level)
	e := &Entry{Time: r.Time, Kind: k, Level: n, Msg: r.Message}
	if r.PC != 0 {
		fs := runtime.CallersFrames([]uintptr{r.PC})
		f, _ := fs.Next()
		e.Source = fmt.Sprintf("%s:%d %s", filepath.Base(f.File), f.Line, funcName(f.Function))
	}
	if len(h.attrs) > 0 || r.NumAttrs() > 0 {
		var b strings.Builder
		b.WriteString(e.Msg)
		write := func(a slog.Attr) bool {
			if a.Equal(slog.Attr{}) {
				return true
			}
			b.WriteByte(' ')
			if h.groups != "" {
				b.WriteString(h.groups)
			}
			b.WriteString(a.Key)
			b.WriteByte('=')
			b.WriteString(a.Value.String())
			return true
		}
		for _, a := range h.attrs {
			write(a)
		}
		r.Attrs(write)
		e.Msg = b.String()
	}
	h.l.Log(e)
	return nil
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append(append([]slog.Attr(nil), h.attrs...), attrs...)
	return &n
}

func (h *handler) WithGroup(name string) slog.Handler {
	n := *h
	n.groups += name + "."
	return &n
}

// funcName is a function's name without its package path: "(*Server).actLogin".
func funcName(full string) string {
	name := full[strings.LastIndexByte(full, '/')+1:]
	if i := strings.IndexByte(name, '.'); i >= 0 {
		name = name[i+1:]
	}
	if name == "" {
		return "?"
	}
	return name
}
