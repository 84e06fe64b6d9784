package dialplan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/callerid"
	"github.com/pleiades-pbx/pleiades/internal/cli"
	"github.com/pleiades-pbx/pleiades/internal/logesc"
)

// Commands returns the engine's CLI commands: dialplan show, dialplan reload, console dial
// and channel originate.
func (e *Engine) Commands() []*cli.Command {
	return []*cli.Command{
		{Words: []string{"dialplan", "show"}, Summary: "Show dialplan",
			Usage:   "Usage: dialplan show [[exten@]context]\n       Show dialplan\n",
			Handler: e.cliShow, Complete: e.completeContext},
		{Words: []string{"dialplan", "reload"}, Summary: "Reload extensions and *only* extensions",
			Usage:   "Usage: dialplan reload\n       reload extensions.conf without reloading any other\n       modules.  This command does not delete global variables\n       unless clearglobalvars is set to yes in extensions.conf\n",
			Handler: e.cliReload},
		{Words: []string{"console", "dial"}, Summary: "Dial an extension on the console",
			Usage:   "Usage: console dial [extension[@context]]\n       Dials a given extension (and context if specified)\n       (default s@default); the dialplan runs on channel Console/dsp until it hangs up.\n",
			Handler: e.cliConsoleDial, Complete: e.completeContext, Streams: true},
		{Words: []string{"channel", "originate"}, Summary: "Originate a call",
			Usage: "Usage: channel originate <tech/data> application <appname> [appdata]\n" +
				"       channel originate <tech/data> extension [exten@][context]\n" +
				"  Originate a call: the first form runs an application, the second an extension.\n" +
				"  <tech/data> is Local/exten@context or a channel technology's (SIP/alice), called\n" +
				"  first; the call runs in the background.\n",
			Handler: e.cliOriginate},
	}
}

func (e *Engine) completeContext(a *cli.Args, n int, word string) []string {
	if n != 0 {
		return nil
	}
	prefix := ""
	if i := strings.IndexByte(word, '@'); i >= 0 {
		prefix, word = word[:i+1], word[i+1:]
	}
	var out []string
	for _, c := range e.dp.Load().order {
		if strings.HasPrefix(c.Name, word) {
			out = append(out, prefix+c.Name)
		}
	}
	return out
}

type showCounters struct {
	exts, prios, contexts int
	contextExists         bool
	extenExists           bool
}

func (e *Engine) cliShow(ctx context.Context, a *cli.Args) error {
	if len(a.Rest) > 1 {
		return cli.ErrUsage
	}
	var exten, contextName string
	if len(a.Rest) == 1 {
		if strings.Contains(a.Rest[0], "@") {
			exten, contextName = ParseExtenContext(a.Rest[0])
		} else {
			contextName = a.Rest[0]
		}
	}
	return ShowDialplan(a.Out, e.dp.Load(), exten, contextName)
}

// ShowDialplan writes `dialplan show [[exten@]context]` for dp to w in Asterisk's layout
// (show_dialplan_helper). It returns cli.ErrCommandFailed, Asterisk's CLI_FAILURE, when the
// context or extension does not exist (after printing why).
func ShowDialplan(w io.Writer, dp *Dialplan, exten, contextName string) error {
	var n showCounters
	showHelper(w, dp, contextName, exten, &n, nil, nil)
	if contextName != "" && !n.contextExists {
		fmt.Fprintf(w, "There is no existence of '%s' context\n", contextName)
		return cli.ErrCommandFailed
	}
	if exten != "" && !n.extenExists {
		if contextName != "" {
			fmt.Fprintf(w, "There is no existence of %s@%s extension\n", exten, contextName)
		} else {
			fmt.Fprintf(w, "There is no existence of '%s' extension in all contexts\n", exten)
		}
		return cli.ErrCommandFailed
	}
	fmt.Fprintf(w, "-= %d %s (%d %s) in %d %s. =-\n",
		n.exts, plural(n.exts, "extension", "extensions"),
		n.prios, plural(n.prios, "priority", "priorities"),
		n.contexts, plural(n.contexts, "context", "contexts"))
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func printExt(p *Priority) string {
	if p.Priority == PriorityHint {
		return "hint: " + p.App
	}
	return fmt.Sprintf("%d. %s(%s)", p.Priority, p.App, p.Data)
}

func showExtLine(w io.Writer, col1, col2 string, p *Priority) {
	if p.File != "" {
		fmt.Fprintf(w, "  %-17s %-45s [%s:%d]\n", col1, col2, filepath.Base(p.File), p.Line)
		return
	}
	fmt.Fprintf(w, "  %-17s %-45s [%s]\n", col1, col2, Registrar)
}

func showHelper(w io.Writer, dp *Dialplan, contextName, exten string, n *showCounters, rinclude *Include, includes []string) {
	for _, c := range dp.order {
		if contextName != "" && c.Name != contextName {
			continue
		}
		n.contextExists = true
		printed := false
		header := func() {
			n.contexts++
			if rinclude != nil {
				fmt.Fprintf(w, "[ Included context '%s' created by '%s' ]\n", c.Name, c.Registrar)
			} else {
				fmt.Fprintf(w, "[ Context '%s' created by '%s' ]\n", c.Name, c.Registrar)
			}
			printed = true
		}
		if exten == "" {
			header()
		}
		for _, e := range c.exts {
			if exten != "" && !MatchExtension(e.Name, exten) {
				continue
			}
			n.extenExists = true
			if !printed {
				header()
			}
			var col1 string
			if e.MatchCID {
				col1 = fmt.Sprintf("'%s' (CID match '%s') => ", e.Name, e.CID)
			} else {
				col1 = fmt.Sprintf("'%s' =>", e.Name)
			}
			n.exts++
			for i, p := range e.prios {
				n.prios++
				if i > 0 {
					col1 = ""
					if p.Label != "" {
						col1 = "   [" + p.Label + "]"
					}
				}
				showExtLine(w, col1, printExt(p), p)
			}
		}
		for _, inc := range c.Includes {
			if exten == "" {
				fmt.Fprintf(w, "  Include =>        %-45s [%s]\n", "'"+inc.Spec+"'", Registrar)
				continue
			}
			if len(includes) >= maxStack {
				continue
			}
			dupe := false
			for _, s := range includes {
				if strings.EqualFold(s, inc.Name) {
					dupe = true
				}
			}
			if !dupe {
				showHelper(w, dp, inc.Name, exten, n, inc, append(includes, inc.Name))
			}
		}
		for _, ip := range c.IgnorePats {
			if exten == "" || MatchExtension("_"+ip.Pattern+".", exten) {
				fmt.Fprintf(w, "  Ignore pattern => %-45s [%s]\n", "'"+ip.Pattern+"'", Registrar)
			}
		}
		if rinclude == nil {
			for _, sw := range c.Switches {
				fmt.Fprintf(w, "  Alt. Switch =>    %-45s [%s]\n", "'"+sw.Name+"/"+sw.Data+"'", Registrar)
			}
		}
		if printed {
			fmt.Fprintln(w)
		}
	}
}

func (e *Engine) cliReload(ctx context.Context, a *cli.Args) error {
	if len(a.Rest) != 0 {
		return cli.ErrUsage
	}
	lp := e.loader.Load()
	if lp == nil {
		fmt.Fprintln(a.Out, "Dialplan reload is not available: no extensions.conf loader is set.")
		return cli.ErrFailed
	}
	cfg, err := (*lp)(ctx)
	if err != nil {
		fmt.Fprintf(a.Out, "Dialplan not reloaded; the running dialplan stays:\n%v\n", err)
		return cli.ErrFailed
	}
	if err := e.Load(cfg); err != nil {
		fmt.Fprintf(a.Out, "Dialplan not reloaded; the running dialplan stays:\n%v\n", err)
		return cli.ErrFailed
	}
	fmt.Fprintln(a.Out, "Dialplan reloaded.")
	return nil
}

// ConsoleChannelName is the name of the channel `console dial` runs.
const ConsoleChannelName = "Console/dsp"

func (e *Engine) cliConsoleDial(ctx context.Context, a *cli.Args) error {
	if len(a.Rest) > 1 {
		return cli.ErrUsage
	}
	exten, contextName := "s", "default"
	if len(a.Rest) == 1 {
		x, c := ParseExtenContext(a.Rest[0])
		if x != "" {
			exten = x
		}
		if c != "" {
			contextName = c
		}
	}
	if !e.Exists(ctx, contextName, exten, 1, "") {
		fmt.Fprintf(a.Out, "No such extension '%s' in context '%s'\n", exten, contextName)
		return cli.ErrFailed
	}
	done, err := e.admit(1)
	if err != nil {
		fmt.Fprintf(a.Out, "Unable to dial: %s\n", err)
		return cli.ErrFailed
	}
	defer done()
	ch := NewChannel(ConsoleChannelName, contextName, exten, 1)
	if a.Session == nil || a.Session.Verbose() < 3 {
		ch.SetEcho(func(line string) { io.WriteString(a.Out, line) })
	}
	// The call's own failures (an unknown application, the loop bound) are logged on the
	// channel; the command itself succeeded in placing the call.
	_ = e.Run(ctx, ch)
	return nil
}

func (e *Engine) cliOriginate(ctx context.Context, a *cli.Args) error {
	if len(a.Rest) < 2 {
		return cli.ErrUsage
	}
	o := Originate{Channel: a.Rest[0]}
	switch strings.ToLower(a.Rest[1]) {
	case "application":
		if len(a.Rest) < 3 {
			return cli.ErrUsage
		}
		o.App, o.Data = a.Rest[2], strings.Join(a.Rest[3:], " ")
	case "extension":
		o.Exten, o.Context = "s", "default"
		if len(a.Rest) > 2 {
			if strings.Contains(a.Rest[2], "@") {
				xx, cc := ParseExtenContext(a.Rest[2])
				if xx != "" {
					o.Exten = xx
				}
				if cc != "" {
					o.Context = cc
				}
			} else {
				o.Context = a.Rest[2]
			}
		}
	default:
		return cli.ErrUsage
	}
	if _, _, err := e.Originate(ctx, o); err != nil {
		msg := strings.TrimPrefix(err.Error(), ErrOriginate.Error()+": ")
		fmt.Fprintf(a.Out, "%s%s\n", strings.ToUpper(msg[:1]), msg[1:])
		return cli.ErrFailed
	}
	return nil
}

// Originate describes a call to start: a Local channel whose ;2 half runs the dialplan at
// its exten@context, and whose ;1 half runs either an application (App, Data) or the
// dialplan at Exten@Context, priority Priority (1 when 0).
type Originate struct {
	Channel        string // "Local/exten@context[/options]"
	App, Data      string
	Exten, Context string
	Priority       int
	// Vars are set on both halves before they run.
	Vars map[string]string
	// CallerID is a Caller ID string: `"Name" <number>`, a number or a name (callerid.Split).
	CallerID string
	// InhibitEscalations places the call for an external, unprivileged origin (an AMI
	// user without the system class): App and Data are checked by CheckExternal before
	// anything starts, and the ;1 half that runs App inhibits escalations. A call to
	// Exten@Context runs the operator's dialplan and is not restricted (as in Asterisk,
	// where only the manager's own thread is).
	InhibitEscalations bool
	// Timeout is how long the ;2 half's dialplan has to answer (DefaultOriginateTimeout
	// when 0); then the dial gives up (DialNoAnswer) and hangs the ;2 half up.
	Timeout time.Duration
	// Dialled, when set, is called once with the dial's outcome, on another goroutine:
	// DialAnswered when the ;2 half answers (Answer()), and only then does the ;1 half
	// start; DialBusy, DialCongestion when it runs Busy() or Congestion(); DialFailed when
	// its dialplan ends without answering; DialNoAnswer when Timeout passes first.
	Dialled func(DialResult)
}

// ErrOriginate is wrapped by Originate's errors.
var ErrOriginate = errors.New("originate")

// Originate starts o in the background and returns the ;1 channel's name and unique ID. As
// Asterisk dials the Local channel and runs the application or extension on the ;1 half
// only once the far end answers, the ;2 half runs its dialplan first and the ;1 half starts
// when that answers (o.Dialled tells the outcome); a dial that fails (no answer within
// o.Timeout, Busy(), Congestion(), the dialplan ending unanswered) never starts the ;1 half
// and hangs the ;2 half up. After the answer the halves run independently (no media, no
// bridge).
func (e *Engine) Originate(ctx context.Context, o Originate) (name, uniqueID string, err error) {
	if !isLocal(o.Channel) && e.Channels() != nil {
		return e.originateLeg(ctx, o)
	}
	tech, dest, ok := strings.Cut(o.Channel, "/")
	if !ok || !strings.EqualFold(tech, "Local") {
		return "", "", fmt.Errorf("%w: unable to request channel %s: only Local/exten@context channels are available", ErrOriginate, o.Channel)
	}
	dest, _, _ = strings.Cut(dest, "/") // options such as /n
	lexten, lcontext := ParseExtenContext(dest)
	if lcontext == "" {
		lcontext = "default"
	}
	if lexten == "" {
		lexten = "s"
	}
	var run1 func(ctx context.Context, ch *Channel)
	if o.App != "" {
		if o.InhibitEscalations {
			if err := e.CheckExternal(o.App, o.Data); err != nil {
				return "", "", fmt.Errorf("%w: %w", ErrOriginate, err)
			}
		}
		appName, appData := o.App, o.Data
		run1 = func(ctx context.Context, ch *Channel) {
			app := ch.LookupApp(appName)
			if app == nil {
				ch.logf(slog.LevelWarn, "No such application '%s'", appName)
				return
			}
			// The data may come from outside (an AMI Originate): escaped in the log line.
			ch.verbosef(4, "Launching %s(%s) on %s", app.Name, logesc.Escape(appData), ch.Name)
			if err := ch.ExecApp(ctx, app, appData); err != nil && !errors.Is(err, ErrHangup) {
				ch.logf(slog.LevelError, "%s(%s) on %s failed: %v", app.Name, appData, ch.Name, err)
			}
		}
	} else {
		x, c, p := o.Exten, o.Context, o.Priority
		if x == "" {
			x = "s"
		}
		if c == "" {
			c = "default"
		}
		if p <= 0 {
			p = 1
		}
		run1 = func(ctx context.Context, ch *Channel) {
			ch.Context, ch.Exten, ch.Priority = c, x, p
			e.Run(ctx, ch)
		}
	}
	if !e.Exists(ctx, lcontext, lexten, 1, "") {
		return "", "", fmt.Errorf("%w: no such extension/context %s@%s while calling Local channel", ErrOriginate, lexten, lcontext)
	}
	id := e.seq.Add(1)
	base := fmt.Sprintf("Local/%s@%s-%08x", lexten, lcontext, id)
	ch1 := NewChannel(base+";1", "", "", 1)
	ch2 := NewChannel(base+";2", lcontext, lexten, 1)
	ch1.engine = e
	ch1.UniqueID = e.newUniqueID()
	if o.InhibitEscalations && o.App != "" {
		ch1.InhibitEscalations()
	}
	for _, ch := range []*Channel{ch1, ch2} {
		for k, v := range o.Vars {
			ch.SetVar(k, v)
		}
		if o.CallerID != "" {
			nm, num := callerid.Split(o.CallerID)
			ch.SetCallerID(num, nm)
		}
	}
	done, err := e.admit(2)
	if err != nil {
		return "", "", fmt.Errorf("%w: %w", ErrOriginate, err)
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = DefaultOriginateTimeout
	}
	ctx2, hangup2 := context.WithCancel(e.base)
	start1 := make(chan bool, 1)
	var timer atomic.Pointer[time.Timer]
	ch2.dial = &dialWatch{fn: func(r DialResult) {
		if t := timer.Load(); t != nil {
			t.Stop()
		}
		if r == DialAnswered {
			ch1.mu.Lock()
			ch1.state = "Up"
			ch1.mu.Unlock()
		} else {
			hangup2() // the dial hangs the ;1 leg up, and with it the ;2 half
		}
		start1 <- r == DialAnswered
		if o.Dialled != nil {
			o.Dialled(r)
		}
	}}
	timer.Store(time.AfterFunc(timeout, func() { ch2.dial.report(DialNoAnswer) }))
	e.bg.Add(2)
	go func() {
		defer e.bg.Done()
		defer done()
		defer hangup2()
		e.Run(ctx2, ch2)
		ch2.dial.report(DialFailed) // ended without answering (nothing when it answered)
	}()
	go func() {
		defer e.bg.Done()
		defer done()
		if <-start1 {
			run1(e.base, ch1)
		}
	}()
	return ch1.Name, ch1.UniqueID, nil
}

// CheckExternal is the early answer to an external, unprivileged origin that wants to run
// app with data (an AMI Originate's Application and Data): nil, or an error wrapping
// ErrEscalation when the application escalates, or when the data names (NAME followed by
// '(') a function or application that escalates. The channel that runs the application
// still checks every function and application as it meets them. With live_dangerously
// everything passes.
func (e *Engine) CheckExternal(app, data string) error {
	if e.LiveDangerously() {
		return nil
	}
	if a := e.LookupApp(app); a != nil && a.Escalates {
		return fmt.Errorf("%w: application %s", ErrEscalation, a.Name)
	}
	if name, ok := e.escalatingName(data); ok {
		return fmt.Errorf("%w: %s in the data", ErrEscalation, name)
	}
	return nil
}

// escalatingName finds the first NAME( in s that names a function or application that
// escalates.
func (e *Engine) escalatingName(s string) (string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] != '(' {
			continue
		}
		end := i
		for end > 0 && (s[end-1] == ' ' || s[end-1] == '\t') {
			end--
		}
		start := end
		for start > 0 && isNameByte(s[start-1]) {
			start--
		}
		if start == end {
			continue
		}
		name := s[start:end]
		if f := e.LookupFunction(name); f != nil && f.Escalates != 0 {
			return f.Name, true
		}
		if a := e.LookupApp(name); a != nil && a.Escalates {
			return a.Name, true
		}
	}
	return "", false
}

func isNameByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
