package dialplan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/channel"
	"github.com/pleiades-pbx/pleiades/internal/logger"
)

// ErrLoopBound is returned by Run when a channel executed Engine.MaxSteps priorities
// without waiting.
var ErrLoopBound = errors.New("dialplan: too many priorities executed without a wait (dialplan loop?)")

// ErrNoApp is returned by Run when a priority names an application that is not registered.
var ErrNoApp = errors.New("dialplan: no such application")

// Run executes the dialplan on ch from its current location until the channel hangs up:
// by Hangup(), by falling off the end of an extension (autofallthrough), by an error of an
// application, by ctx being cancelled, or by the loop bound. It returns nil for a normal end.
func (e *Engine) Run(ctx context.Context, ch *Channel) error {
	ch.engine = e
	if ch.UniqueID == "" {
		ch.UniqueID = e.newUniqueID()
	}
	if ch.vars == nil {
		ch.vars = map[string]string{}
	}
	maxSteps := e.MaxSteps
	if maxSteps <= 0 {
		maxSteps = DefaultMaxSteps
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil
		}
		ch.steps++
		if ch.steps > maxSteps {
			ch.logf(slog.LevelError, "Channel '%s' executed %d priorities without waiting (a dialplan loop at %s@%s:%d?); hanging up", ch.Name, maxSteps, ch.Exten, ch.Context, ch.Priority)
			return ErrLoopBound
		}
		cid, _ := ch.CallerID()
		f, ok := e.find(ctx, ch, ch.Context, ch.Exten, ch.Priority, "", cid, modeMatch)
		if !ok {
			if e.noPriority(ctx, ch, cid) {
				continue
			}
			return nil
		}
		ch.jumped = false
		if ch.leg != nil {
			ch.leg.SetLocation(ch.Context, ch.Exten, ch.Priority)
		}
		var err error
		if f.Priority == nil {
			err = f.Switch.Exec(ctx, ch, f.Context, ch.Exten, ch.Priority, cid, f.SwitchData)
		} else {
			err = e.execPriority(ctx, ch, f.Priority)
		}
		if err != nil {
			switch {
			case errors.Is(err, ErrHangup):
				return nil
			case errors.Is(err, ErrNoApp):
				return err
			case ctx.Err() != nil:
				return nil
			}
			ch.logf(slog.LevelWarn, "Spawn extension (%s, %s, %d) exited non-zero on '%s': %v", ch.Context, ch.Exten, ch.Priority, ch.Name, err)
			return err
		}
		if !ch.jumped {
			ch.Priority++
		}
	}
}

// execPriority runs one priority: substitute its data, log it, call the application.
func (e *Engine) execPriority(ctx context.Context, ch *Channel, p *Priority) error {
	data := p.Data
	if strings.IndexByte(data, '$') >= 0 {
		s, err := ch.Substitute(ctx, data)
		if err != nil {
			ch.logf(slog.LevelWarn, "%s:%d: %v", p.File, p.Line, err)
		} else {
			data = s
		}
	}
	app := e.LookupApp(p.App)
	if app == nil {
		ch.logf(slog.LevelWarn, "No application '%s' for extension (%s, %s, %d)", p.App, ch.Context, ch.Exten, ch.Priority)
		return ErrNoApp
	}
	ch.verbosef(3, "Executing [%s@%s:%d] %s(\"%s\", \"%s\") in new stack", ch.Exten, ch.Context, ch.Priority, app.Name, ch.Name, data)
	if ch.leg != nil {
		ch.leg.SetApplication(app.Name, data)
		e.appStarted(ch.leg, app.Name, data)
	}
	return ch.ExecApp(ctx, app, data)
}

// noPriority is what happens when the channel's location does not exist: an unknown
// extension goes to "i" (or "e"), a missing priority of a known extension ends the call
// (autofallthrough).
func (e *Engine) noPriority(ctx context.Context, ch *Channel, cid string) (cont bool) {
	if !e.Exists(ctx, ch.Context, ch.Exten, 1, cid) {
		switch {
		case e.Exists(ctx, ch.Context, "i", 1, cid):
			ch.verbosef(3, "Channel '%s' sent to invalid extension: context,exten,priority=%s,%s,%d", ch.Name, ch.Context, ch.Exten, ch.Priority)
			ch.SetVar("INVALID_EXTEN", ch.Exten)
			ch.Exten, ch.Priority = "i", 1
			return true
		case e.Exists(ctx, ch.Context, "e", 1, cid):
			ch.SetVar("EXCEPTION", "INVALID")
			ch.Exten, ch.Priority = "e", 1
			return true
		}
		ch.logf(slog.LevelWarn, "Channel '%s' sent to invalid extension but no invalid handler: context,exten,priority=%s,%s,%d", ch.Name, ch.Context, ch.Exten, ch.Priority)
		ch.endCause = channel.CauseUnallocated
		return false
	}
	status, ok := ch.Var("DIALSTATUS")
	if !ok {
		status = "UNKNOWN"
	}
	if !e.dp.Load().Settings.AutoFallthrough {
		// Without autofallthrough Asterisk waits for more digits; a channel without media
		// has none to wait for, so it ends the same way.
		ch.verbosef(3, "No more priorities, channel '%s' status is '%s'", ch.Name, status)
		return false
	}
	ch.verbosef(3, "Auto fallthrough, channel '%s' status is '%s'", ch.Name, status)
	// Asterisk indicates busy or congestion to an unanswered caller whose last Dial failed
	// that way (pbx.c's autofallthrough): the call ends with that cause.
	switch status {
	case "BUSY":
		ch.endCause = channel.CauseUserBusy
	case "CONGESTION", "CHANUNAVAIL":
		ch.endCause = channel.CauseCongestion
	}
	return false
}

// Goto moves the channel to context/exten/priority, where priority is a number, a label
// (looked up in the target extension), or "+n"/"-n" relative to the current priority.
// Empty context or exten keep the current ones. It does not check that a numeric target
// exists (the executor handles that as Asterisk does).
func (ch *Channel) Goto(ctx context.Context, context, exten, priority string) error {
	if context == "" {
		context = ch.Context
	}
	if exten == "" {
		exten = ch.Exten
	}
	priority = strings.TrimSpace(priority)
	n, err := strconv.Atoi(strings.TrimPrefix(priority, "+"))
	switch {
	case err == nil && (priority[0] == '+' || priority[0] == '-'):
		n += ch.Priority
	case err != nil:
		cid, _ := ch.CallerID()
		if ch.engine == nil {
			return fmt.Errorf("priority '%s' must be a number > 0, or valid label", priority)
		}
		f, ok := ch.engine.find(ctx, ch, context, exten, 0, priority, cid, modeMatch)
		if !ok || f.Priority == nil {
			ch.logf(slog.LevelWarn, "Priority '%s' must be a number > 0, or valid label", priority)
			return fmt.Errorf("no label '%s' in %s@%s", priority, exten, context)
		}
		n = f.Priority.Priority
	}
	if n < 1 {
		return fmt.Errorf("priority '%s' must be a number > 0, or valid label", priority)
	}
	ch.Context, ch.Exten, ch.Priority = context, exten, n
	ch.jumped = true
	return nil
}

// GotoSpec parses "[[context,]exten,]priority" (Asterisk's ast_parseable_goto) and jumps.
func (ch *Channel) GotoSpec(ctx context.Context, spec string) error {
	parts := strings.Split(spec, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	switch len(parts) {
	case 1:
		if parts[0] == "" {
			return errors.New("goes to nowhere")
		}
		return ch.Goto(ctx, "", "", parts[0])
	case 2:
		return ch.Goto(ctx, "", parts[0], parts[1])
	case 3:
		return ch.Goto(ctx, parts[0], parts[1], parts[2])
	}
	return fmt.Errorf("invalid goto '%s'", spec)
}

// ResetSteps tells the loop bound the channel waited (applications that wait call it).
func (ch *Channel) ResetSteps() { ch.steps = 0 }

// Verbose logs a verbose message of the given level about the channel.
func (ch *Channel) Verbose(level int, msg string) { ch.verbosef(level, "%s", msg) }

func (ch *Channel) verbosef(level int, format string, args ...any) {
	ch.emit(logger.Verbose(level), logger.KindVerbose, level, fmt.Sprintf(format, args...))
}

// Log logs a message about the channel at an slog level.
func (ch *Channel) Log(level slog.Level, msg string) {
	kind := logger.KindNotice
	switch {
	case level >= slog.LevelError:
		kind = logger.KindError
	case level >= slog.LevelWarn:
		kind = logger.KindWarning
	case level < slog.LevelInfo:
		kind = logger.KindDebug
	}
	ch.emit(level, kind, 0, msg)
}

func (ch *Channel) logf(level slog.Level, format string, args ...any) {
	ch.Log(level, fmt.Sprintf(format, args...))
}

func (ch *Channel) emit(level slog.Level, kind logger.Kind, vlevel int, msg string) {
	log := slog.Default()
	if ch.engine != nil {
		log = ch.engine.log
	}
	log.Log(context.Background(), level, msg)
	if ch.echo != nil && kind != logger.KindDebug && (kind != logger.KindVerbose || vlevel <= 3) {
		en := &logger.Entry{Time: time.Now(), Kind: kind, Level: vlevel, Msg: msg}
		if kind != logger.KindVerbose {
			en.Source = "dialplan"
		}
		ch.echo(en.ConsoleLine())
	}
}
