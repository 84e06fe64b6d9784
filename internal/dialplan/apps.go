package dialplan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

func init() {
	for _, a := range []*App{
		{Name: "Answer", Synopsis: "Answer a channel if ringing", Exec: appAnswer},
		{Name: "Hangup", Synopsis: "Hang up the calling channel", Exec: appHangup},
		{Name: "NoOp", Synopsis: "Do Nothing (No Operation)", Exec: func(context.Context, *Channel, string) error { return nil }},
		{Name: "Verbose", Synopsis: "Send arbitrary text to verbose output", Exec: appVerbose},
		{Name: "Log", Synopsis: "Send arbitrary text to a selected log level", Exec: appLog},
		{Name: "Set", Synopsis: "Set channel variable or function value", Exec: appSet},
		{Name: "MSet", Synopsis: "Set channel variable(s) or function value(s)", Exec: appMSet},
		{Name: "Goto", Synopsis: "Jump to a particular priority, extension, or context", Exec: appGoto},
		{Name: "GotoIf", Synopsis: "Conditional goto", Exec: appGotoIf},
		{Name: "GotoIfTime", Synopsis: "Conditional Goto based on the current time", Exec: appGotoIfTime},
		{Name: "Gosub", Synopsis: "Jump to label, saving return address", Exec: appGosub},
		{Name: "GosubIf", Synopsis: "Conditionally jump to label, saving return address", Exec: appGosubIf},
		{Name: "Return", Synopsis: "Return from gosub routine", Exec: appReturn},
		// ExecIf runs an application its data names: it escalates (Asterisk's manager
		// refuses every "exec" application to an Originate without the system class).
		{Name: "ExecIf", Synopsis: "Executes dialplan application, conditionally", Exec: appExecIf, Escalates: true},
		{Name: "While", Synopsis: "Start a while loop", Exec: appWhile},
		{Name: "EndWhile", Synopsis: "End a while loop", Exec: appEndWhile},
		{Name: "ExitWhile", Synopsis: "End a While loop", Exec: appExitWhile},
		{Name: "ContinueWhile", Synopsis: "Restart a While loop", Exec: appEndWhile},
		{Name: "Wait", Synopsis: "Waits for some time", Exec: appWait},
	} {
		builtins.apps.put(a.Name, a)
	}
}

// CheckCondition is Asterisk's pbx_checkcondition: empty is false, a leading integer is its
// value, any other text is true.
func CheckCondition(s string) bool {
	s = strings.TrimSpace(s)
	if s == "" {
		return false
	}
	end := 0
	if end < len(s) && (s[0] == '-' || s[0] == '+') {
		end++
	}
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	if n, err := strconv.Atoi(s[:end]); err == nil {
		return n != 0
	}
	return true
}

// splitTop splits s at the first sep that is outside parentheses, brackets and double
// quotes (Asterisk's non-standard argument separation, which keeps quotes).
func splitTop(s string, sep byte) (before, after string, found bool) {
	depth, quote := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
		case c == '"':
			quote = !quote
		case quote:
		case c == '(' || c == '[':
			depth++
		case (c == ')' || c == ']') && depth > 0:
			depth--
		case c == sep && depth == 0:
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func appAnswer(ctx context.Context, ch *Channel, data string) error {
	if ch.leg != nil {
		// A real leg: the technology answers (SIP 200 OK) and the leg goes Up.
		if err := ch.leg.Answer(ctx); err != nil {
			return ErrHangup
		}
		return nil
	}
	// No media yet: answering marks the channel up and tells the dial waiting for it (the
	// ;2 half of an originated Local channel).
	ch.answer()
	return nil
}

func appHangup(ctx context.Context, ch *Channel, data string) error {
	if data = strings.TrimSpace(data); data != "" {
		if n, err := strconv.Atoi(data); err == nil && n > 0 {
			ch.SetVar("HANGUPCAUSE", data)
		}
	}
	return ErrHangup
}

func appVerbose(ctx context.Context, ch *Channel, data string) error {
	level, msg := 0, data
	if l, m, ok := strings.Cut(data, ","); ok {
		n, err := strconv.Atoi(strings.TrimSpace(l))
		if err != nil {
			ch.logf(slog.LevelWarn, "'%s' is not a verboser number", l)
		}
		level, msg = n, m
	}
	if level < 0 || level > 4 {
		ch.logf(slog.LevelWarn, "Verbose level %d out of range 0-4", level)
		level = max(0, min(level, 4))
	}
	ch.Verbose(level, msg)
	return nil
}

func appLog(ctx context.Context, ch *Channel, data string) error {
	lv, msg, ok := strings.Cut(data, ",")
	if !ok || strings.TrimSpace(msg) == "" {
		return nil
	}
	switch strings.ToUpper(strings.TrimSpace(lv)) {
	case "ERROR":
		ch.Log(slog.LevelError, msg)
	case "WARNING":
		ch.Log(slog.LevelWarn, msg)
	case "NOTICE":
		ch.Log(slog.LevelInfo, msg)
	case "DEBUG":
		ch.Log(slog.LevelDebug, msg)
	case "VERBOSE":
		ch.Verbose(1, msg)
	case "DTMF":
		ch.Log(slog.LevelInfo, msg)
	default:
		ch.logf(slog.LevelError, "Unknown log level: '%s'", lv)
	}
	return nil
}

// setOne is one "name=value" of Set or MSet.
func setOne(ctx context.Context, ch *Channel, app, pair string) {
	name, value, ok := strings.Cut(pair, "=")
	name = strings.TrimSpace(name)
	if !ok || name == "" {
		ch.logf(slog.LevelWarn, "%s requires an argument (variable=value)", app)
		return
	}
	if strings.HasSuffix(name, ")") {
		if err := ch.WriteFunction(ctx, name, value); err != nil {
			ch.logf(slog.LevelError, "%v", err)
		}
		return
	}
	ch.SetVar(name, value)
}

func appSet(ctx context.Context, ch *Channel, data string) error {
	setOne(ctx, ch, "Set", data)
	return nil
}

func appMSet(ctx context.Context, ch *Channel, data string) error {
	for _, pair := range splitArgs(data, ',') {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		setOne(ctx, ch, "MSet", pair)
	}
	return nil
}

func appGoto(ctx context.Context, ch *Channel, data string) error {
	if err := ch.GotoSpec(ctx, data); err != nil {
		return err
	}
	ch.verbosef(3, "Goto (%s,%s,%d)", ch.Context, ch.Exten, ch.Priority)
	return nil
}

// condBranches splits "cond?a:b" at the first '?' and the first ':' after it.
func condBranches(data string) (cond, ifTrue, ifFalse string, ok bool) {
	cond, rest, ok := strings.Cut(data, "?")
	if !ok {
		return "", "", "", false
	}
	ifTrue, ifFalse, _ = strings.Cut(rest, ":")
	return cond, ifTrue, ifFalse, true
}

func appGotoIf(ctx context.Context, ch *Channel, data string) error {
	cond, t, f, ok := condBranches(data)
	if !ok {
		ch.logf(slog.LevelWarn, "GotoIf requires an argument (condition ? label1 : label2)")
		return nil
	}
	branch := f
	if CheckCondition(cond) {
		branch = t
	}
	if strings.TrimSpace(branch) == "" {
		ch.Verbose(3, "Not taking any branch")
		return nil
	}
	return appGoto(ctx, ch, branch)
}

func appGotoIfTime(ctx context.Context, ch *Channel, data string) error {
	spec, t, f, ok := condBranches(data)
	if !ok {
		ch.logf(slog.LevelWarn, "GotoIfTime requires an argument:\n  <time range>,<days of week>,<days of month>,<months>[,<timezone>]?'labeliftrue':'labeliffalse'")
		return errors.New("gotoiftime without arguments")
	}
	tm, _, err := ParseTiming(strings.TrimSpace(spec))
	branch := f
	if err == nil && tm.Check(ch.now()) {
		branch = t
	}
	if strings.TrimSpace(branch) == "" {
		return nil
	}
	return appGoto(ctx, ch, branch)
}

func appGosub(ctx context.Context, ch *Channel, data string) error {
	return ch.Gosub(ctx, data)
}

// Gosub jumps to "[[context,]exten,]priority[(arg1,...)]" saving the return address.
func (ch *Channel) Gosub(ctx context.Context, data string) error {
	if strings.TrimSpace(data) == "" {
		ch.logf(slog.LevelError, "Gosub requires an argument: Gosub([[context,]exten,]priority[(arg1[,...][,argN])])")
		return errors.New("gosub without arguments")
	}
	loc, args, hasArgs := data, "", false
	if i := strings.IndexByte(data, '('); i >= 0 {
		loc, args, hasArgs = data[:i], data[i+1:], true
		if j := strings.LastIndexByte(args, ')'); j >= 0 {
			args = args[:j]
		} else {
			ch.logf(slog.LevelWarn, "Ouch.  No closing paren: '%s'?", data)
		}
	}
	retContext, retExten, retPrio := ch.Context, ch.Exten, ch.Priority
	if err := ch.GotoSpec(ctx, loc); err != nil {
		ch.logf(slog.LevelError, "Gosub address is invalid: '%s'", data)
		return err
	}
	cid, _ := ch.CallerID()
	if ch.engine == nil || !ch.engine.Exists(ctx, ch.Context, ch.Exten, ch.Priority, cid) {
		ch.logf(slog.LevelError, "Gosub attempted to reach non-existent destination '%s,%s,%d' from '%s,%s,%d'", ch.Context, ch.Exten, ch.Priority, retContext, retExten, retPrio)
		ch.Context, ch.Exten, ch.Priority = retContext, retExten, retPrio
		ch.jumped = false
		return errors.New("gosub to a non-existent destination")
	}
	var argv []string
	if hasArgs {
		argv = splitArgs(args, ',')
	}
	prevArgc := 0
	if n := len(ch.frames); n > 0 {
		prevArgc = ch.frames[n-1].argc
	}
	f := &gosubFrame{context: retContext, exten: retExten, priority: retPrio + 1, saved: map[string]*string{}, argc: len(argv)}
	ch.frames = append(ch.frames, f)
	for i, a := range argv {
		ch.setLocal("ARG"+strconv.Itoa(i+1), a)
	}
	for i := prevArgc; i > len(argv); i-- {
		ch.setLocal("ARG"+strconv.Itoa(i), "")
	}
	ch.setLocal("ARGC", strconv.Itoa(len(argv)))
	return nil
}

func appGosubIf(ctx context.Context, ch *Channel, data string) error {
	cond, rest, ok := splitTop(data, '?')
	if !ok || strings.TrimSpace(data) == "" {
		ch.logf(slog.LevelWarn, "GosubIf requires an argument: GosubIf(cond?label1(args):label2(args)")
		return nil
	}
	t, f, _ := splitTop(rest, ':')
	branch := f
	if CheckCondition(cond) {
		branch = t
	}
	if strings.TrimSpace(branch) == "" {
		return nil
	}
	return ch.Gosub(ctx, branch)
}

func appReturn(ctx context.Context, ch *Channel, data string) error {
	n := len(ch.frames)
	if n == 0 {
		ch.logf(slog.LevelError, "Return without Gosub: stack is empty")
		return errors.New("return without gosub")
	}
	f := ch.frames[n-1]
	ch.frames = ch.frames[:n-1]
	for name, old := range f.saved {
		if old == nil {
			ch.SetVar(name, "")
		} else {
			ch.SetVar(name, *old)
		}
	}
	ch.SetVar("GOSUB_RETVAL", data)
	ch.Context, ch.Exten, ch.Priority = f.context, f.exten, f.priority
	ch.jumped = true
	return nil
}

func appExecIf(ctx context.Context, ch *Channel, data string) error {
	cond, rest, ok := splitTop(data, '?')
	if !ok {
		ch.logf(slog.LevelWarn, "ExecIf requires an argument: ExecIf(cond?app1(args):app2(args))")
		return errors.New("execif without '?'")
	}
	t, f, _ := splitTop(rest, ':')
	branch := f
	if CheckCondition(cond) {
		branch = t
	}
	branch = strings.TrimSpace(branch)
	if branch == "" {
		return nil
	}
	name, args := splitAppData(branch)
	app := ch.LookupApp(name)
	if app == nil {
		ch.logf(slog.LevelWarn, "Could not find application! (%s)", name)
		return fmt.Errorf("no application %q", name)
	}
	return ch.ExecApp(ctx, app, args)
}

func (ch *Channel) findApp(ctx context.Context, prio int) (string, bool) {
	if ch.engine == nil {
		return "", false
	}
	cid, _ := ch.CallerID()
	f, ok := ch.engine.find(ctx, ch, ch.Context, ch.Exten, prio, "", cid, modeMatch)
	if !ok || f.Priority == nil {
		return "", false
	}
	return f.Priority.App, true
}

// findEndWhile returns the priority of the EndWhile matching a While before from.
func (ch *Channel) findEndWhile(ctx context.Context, from int) int {
	depth := 0
	for p := from; ; p++ {
		app, ok := ch.findApp(ctx, p)
		if !ok {
			return -1
		}
		switch {
		case strings.EqualFold(app, "While"):
			depth++
		case strings.EqualFold(app, "EndWhile"):
			if depth == 0 {
				return p
			}
			depth--
		}
	}
}

func appWhile(ctx context.Context, ch *Channel, data string) error {
	here := whileFrame{ch.Context, ch.Exten, ch.Priority}
	top := len(ch.whiles) > 0 && ch.whiles[len(ch.whiles)-1] == here
	if CheckCondition(data) {
		if !top {
			ch.whiles = append(ch.whiles, here)
		}
		return nil
	}
	if top {
		ch.whiles = ch.whiles[:len(ch.whiles)-1]
	}
	end := ch.findEndWhile(ctx, ch.Priority+1)
	if end < 0 {
		ch.logf(slog.LevelWarn, "Couldn't find matching EndWhile? (While at %s@%s:%d)", ch.Exten, ch.Context, ch.Priority)
		return errors.New("while without endwhile")
	}
	ch.Priority = end + 1
	ch.jumped = true
	return nil
}

// appEndWhile goes back to the innermost While, which tests its condition again; ContinueWhile
// does exactly the same (as in Asterisk).
func appEndWhile(ctx context.Context, ch *Channel, data string) error {
	if len(ch.whiles) == 0 {
		ch.logf(slog.LevelWarn, "Not in a While Loop!")
		return nil
	}
	w := ch.whiles[len(ch.whiles)-1]
	ch.Context, ch.Exten, ch.Priority = w.context, w.exten, w.priority
	ch.jumped = true
	return nil
}

func appExitWhile(ctx context.Context, ch *Channel, data string) error {
	if len(ch.whiles) == 0 {
		ch.logf(slog.LevelWarn, "Not in a While Loop!")
		return nil
	}
	w := ch.whiles[len(ch.whiles)-1]
	ch.whiles = ch.whiles[:len(ch.whiles)-1]
	ch.Context, ch.Exten = w.context, w.exten
	end := ch.findEndWhile(ctx, w.priority+1)
	if end < 0 {
		ch.logf(slog.LevelWarn, "Couldn't find matching EndWhile?")
		return errors.New("exitwhile without endwhile")
	}
	ch.Priority = end + 1
	ch.jumped = true
	return nil
}

func appWait(ctx context.Context, ch *Channel, data string) error {
	ch.ResetSteps()
	secs, err := strconv.ParseFloat(strings.TrimSpace(data), 64)
	if err != nil || secs <= 0 {
		return nil
	}
	t := time.NewTimer(time.Duration(secs * float64(time.Second)))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ErrHangup
	case <-t.C:
		return nil
	}
}
