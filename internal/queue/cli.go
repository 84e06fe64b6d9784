package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/cli"
)

const (
	usageShow  = "Usage: queue show\n       Provides summary information on a specified queue.\n"
	usageAdd   = "Usage: queue add member <dial string> to <queue> [penalty <penalty> [as <membername> [state_interface <interface>]]]\n"
	usageRem   = "Usage: queue remove member <channel> from <queue>\n"
	usagePause = "Usage: queue {pause|unpause} member <member> [queue <queue> [reason <reason>]]\n" +
		"\tPause or unpause a queue member. Not specifying a particular queue\n" +
		"\twill pause or unpause a member across all queues to which the member\n" +
		"\tbelongs.\n"
	usageReload = "Usage: queue reload {parameters|members|rules|all}\n" +
		"Reload queues. If <queuenames> are specified, only reload information pertaining\n" +
		"to <queuenames>. One of 'parameters,' 'members,' or 'rules' may be specified in order\n" +
		"to reload only specific aspects of the queues.\n"
)

// Commands returns queue show, queue add member, queue remove member, queue pause member,
// queue unpause member and queue reload (reload re-reads queues.conf through reload).
func (e *Engine) Commands(reload func(ctx context.Context) error) []*cli.Command {
	return []*cli.Command{
		{Words: []string{"queue", "show"}, Summary: "Show status of a specified queue", Usage: usageShow,
			Handler: e.cliShow, Complete: e.completeQueue(0)},
		{Words: []string{"queue", "add", "member"}, Summary: "Add a channel to a specified queue", Usage: usageAdd, Handler: e.cliAdd},
		{Words: []string{"queue", "remove", "member"}, Summary: "Removes a channel from a specified queue", Usage: usageRem, Handler: e.cliRemove},
		{Words: []string{"queue", "pause", "member"}, Summary: "Pause a queue member", Usage: usagePause,
			Handler: func(ctx context.Context, a *cli.Args) error { return e.cliPause(ctx, a, true) }},
		{Words: []string{"queue", "unpause", "member"}, Summary: "Unpause a queue member", Usage: usagePause,
			Handler: func(ctx context.Context, a *cli.Args) error { return e.cliPause(ctx, a, false) }},
		{Words: []string{"queue", "reload"}, Summary: "Reload queues, members, queue rules, or parameters", Usage: usageReload,
			Handler: func(ctx context.Context, a *cli.Args) error {
				if len(a.Rest) > 0 {
					switch strings.ToLower(a.Rest[0]) {
					case "all", "members", "parameters", "rules":
					default:
						return cli.ErrUsage
					}
				}
				if reload == nil {
					return errors.New("queue reload: not available")
				}
				if err := reload(ctx); err != nil {
					fmt.Fprintf(a.Out, "%v\n", err)
					return cli.ErrFailed
				}
				return nil
			}},
	}
}

func (e *Engine) completeQueue(pos int) func(a *cli.Args, n int, word string) []string {
	return func(_ *cli.Args, n int, word string) []string {
		if n != pos {
			return nil
		}
		var out []string
		for _, name := range e.Names(context.Background()) {
			if strings.HasPrefix(strings.ToLower(name), strings.ToLower(word)) {
				out = append(out, name)
			}
		}
		return out
	}
}

func (e *Engine) cliShow(ctx context.Context, a *cli.Args) error {
	if len(a.Rest) > 1 {
		return cli.ErrUsage
	}
	if len(a.Rest) == 1 {
		q, err := e.queue(ctx, a.Rest[0])
		if err != nil {
			fmt.Fprintf(a.Out, "No such queue: %s.\n", a.Rest[0])
			return nil
		}
		e.printQueue(a.Out, q)
		return nil
	}
	names := e.Names(ctx)
	if len(names) == 0 {
		fmt.Fprintln(a.Out, "No queues.")
		return nil
	}
	for _, n := range names {
		if q, err := e.queue(ctx, n); err == nil {
			e.printQueue(a.Out, q)
		}
	}
	return nil
}

// printQueue writes one queue as Asterisk's "queue show" does.
func (e *Engine) printQueue(w io.Writer, q *Queue) {
	now := e.d.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	max := "unlimited"
	if q.cfg.MaxLen > 0 {
		max = strconv.Itoa(q.cfg.MaxLen)
	}
	var sl float64
	if q.completed > 0 {
		sl = 100 * float64(q.completedInSL) / float64(q.completed)
	}
	fmt.Fprintf(w, "%s has %d calls (max %s) in '%s' strategy (%ds holdtime, %ds talktime), W:%d, C:%d, A:%d, SL:%2.1f%%, SL2:%2.1f%% within %ds\n",
		q.cfg.Name, len(q.callers), max, q.cfg.Strategy, q.avgHold, q.avgTalk, q.cfg.Weight, q.completed, q.abandoned, sl, 0.0, q.cfg.ServiceLevel)
	if len(q.members) == 0 {
		fmt.Fprintln(w, "   No Members")
	} else {
		fmt.Fprintln(w, "   Members: ")
		for _, m := range q.members {
			var b strings.Builder
			b.WriteString("      " + m.MemberName())
			if !strings.EqualFold(m.MemberName(), m.Interface) {
				b.WriteString(" (" + m.Interface)
				if m.StateInterface != "" && m.StateInterface != m.Interface {
					b.WriteString(" from " + m.StateInterface)
				}
				b.WriteString(")")
			}
			if m.Penalty != 0 {
				fmt.Fprintf(&b, " with penalty %d", m.Penalty)
			}
			c := e.candidate(q, m, now, nil)
			if c.RingInUse {
				b.WriteString(" (ringinuse enabled)")
			} else {
				b.WriteString(" (ringinuse disabled)")
			}
			if m.Dynamic {
				b.WriteString(" (dynamic)")
			}
			if m.Realtime {
				b.WriteString(" (realtime)")
			}
			if m.Paused {
				b.WriteString(" (paused")
				if m.PausedReason != "" {
					b.WriteString(":" + m.PausedReason)
				}
				if !m.LastPause.IsZero() {
					fmt.Fprintf(&b, " was %d secs ago", int(now.Sub(m.LastPause).Seconds()))
				}
				b.WriteString(")")
			}
			if m.InCall {
				b.WriteString(" (in call)")
			}
			fmt.Fprintf(&b, " (%s)", c.State.Text())
			if m.Calls > 0 {
				fmt.Fprintf(&b, " has taken %d calls (last was %d secs ago)", m.Calls, int(now.Sub(m.LastCall).Seconds()))
			} else {
				b.WriteString(" has taken no calls yet")
			}
			fmt.Fprintf(&b, " (login was %d secs ago)", int(now.Sub(m.LoginTime).Seconds()))
			fmt.Fprintln(w, b.String())
		}
	}
	if len(q.callers) == 0 {
		fmt.Fprintln(w, "   No Callers")
	} else {
		fmt.Fprintln(w, "   Callers: ")
		for i, c := range q.callers {
			wait := now.Sub(c.Joined) / time.Second
			fmt.Fprintf(w, "      %d. %s (wait: %d:%02d, prio: 0)\n", i+1, c.Channel, wait/60, wait%60)
		}
	}
	fmt.Fprintln(w)
}

func (e *Engine) cliAdd(ctx context.Context, a *cli.Args) error {
	r := a.Rest
	// <dial string> to <queue> [penalty <p> [as <name> [state_interface <iface>]]]
	if len(r) != 3 && len(r) != 5 && len(r) != 7 && len(r) != 9 || !strings.EqualFold(r[1], "to") {
		return cli.ErrUsage
	}
	mc := MemberConfig{Interface: r[0]}
	if len(r) >= 5 {
		if !strings.EqualFold(r[3], "penalty") {
			return cli.ErrUsage
		}
		n, err := strconv.Atoi(r[4])
		if err != nil || n < 0 {
			fmt.Fprintf(a.Out, "Penalty must be an integer >= 0\n")
			n = 0
		}
		mc.Penalty = n
	}
	if len(r) >= 7 {
		if !strings.EqualFold(r[5], "as") {
			return cli.ErrUsage
		}
		mc.Name = r[6]
	}
	if len(r) == 9 {
		if !strings.EqualFold(r[7], "state_interface") {
			return cli.ErrUsage
		}
		mc.StateInterface = r[8]
	}
	err := e.AddMember(ctx, r[2], mc, "CLI")
	switch {
	case err == nil:
		fmt.Fprintf(a.Out, "Added interface '%s' to queue '%s'\n", mc.Interface, r[2])
		return nil
	case errors.Is(err, ErrMemberExists):
		fmt.Fprintf(a.Out, "Unable to add interface '%s' to queue '%s': Already there\n", mc.Interface, r[2])
	case errors.Is(err, ErrNoSuchQueue):
		fmt.Fprintf(a.Out, "Unable to add interface to queue '%s': No such queue\n", r[2])
	default:
		fmt.Fprintf(a.Out, "Unable to add interface to queue '%s': Out of memory\n", r[2])
	}
	return cli.ErrCommandFailed
}

func (e *Engine) cliRemove(ctx context.Context, a *cli.Args) error {
	r := a.Rest
	if len(r) != 3 || !strings.EqualFold(r[1], "from") {
		return cli.ErrUsage
	}
	err := e.RemoveMember(ctx, r[2], r[0], "CLI")
	switch {
	case err == nil:
		fmt.Fprintf(a.Out, "Removed interface %s from queue '%s'\n", r[0], r[2])
		return nil
	case errors.Is(err, ErrNoSuchMember):
		fmt.Fprintf(a.Out, "Unable to remove interface '%s' from queue '%s': Not there\n", r[0], r[2])
	case errors.Is(err, ErrNotDynamic):
		fmt.Fprintf(a.Out, "Unable to remove interface '%s' from queue '%s': Member is not dynamic\n", r[0], r[2])
	default:
		fmt.Fprintf(a.Out, "Unable to remove interface from queue '%s': No such queue\n", r[2])
	}
	return cli.ErrCommandFailed
}

func (e *Engine) cliPause(ctx context.Context, a *cli.Args, paused bool) error {
	r := a.Rest
	if len(r) != 1 && len(r) != 3 && len(r) != 5 {
		return cli.ErrUsage
	}
	var queue, reason string
	if len(r) >= 3 {
		if !strings.EqualFold(r[1], "queue") {
			return cli.ErrUsage
		}
		queue = r[2]
	}
	if len(r) == 5 {
		if !strings.EqualFold(r[3], "reason") {
			return cli.ErrUsage
		}
		reason = r[4]
	}
	err := e.Pause(ctx, queue, r[0], paused, reason)
	un := "un"
	if paused {
		un = ""
	}
	var b strings.Builder
	if err != nil {
		fmt.Fprintf(&b, "Unable to %spause interface '%s'", un, r[0])
	} else {
		fmt.Fprintf(&b, "%spaused interface '%s'", un, r[0])
	}
	if queue != "" {
		fmt.Fprintf(&b, " in queue '%s'", queue)
	}
	if reason != "" {
		fmt.Fprintf(&b, " for reason '%s'", reason)
	}
	fmt.Fprintln(a.Out, b.String())
	if err != nil {
		return cli.ErrCommandFailed
	}
	return nil
}
