package hint

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/pleiades-pbx/pleiades/internal/cli"
)

// Commands returns "core show hints" and "core show hint".
func (e *Engine) Commands() []*cli.Command {
	return []*cli.Command{
		{Words: []string{"core", "show", "hints"}, Summary: "Show dialplan hints",
			Usage:   "Usage: core show hints\n       List registered hints.\n       Hint details are shown in five columns. In order from left to right, they are:\n       1. Hint extension URI.\n       2. List of mapped device or presence state identifiers.\n       3. Current extension state. The aggregate of mapped device states.\n       4. Current presence state for the mapped presence state provider.\n       5. Watchers - number of subscriptions and other entities watching this hint.\n",
			Handler: e.cmdShowHints},
		{Words: []string{"core", "show", "hint"}, Summary: "Show dialplan hint",
			Usage:   "Usage: core show hint <exten>\n       List registered hint.\n       Hint details are shown in five columns. In order from left to right, they are:\n       1. Hint extension URI.\n       2. List of mapped device or presence state identifiers.\n       3. Current extension state. The aggregate of mapped device states.\n       4. Current presence state for the mapped presence state provider.\n       5. Watchers - number of subscriptions and other entities watching this hint.\n",
			Handler: e.cmdShowHint, Complete: e.completeHint},
	}
}

func (e *Engine) line(w io.Writer, h State) {
	presence := "not_set"
	fmt.Fprintf(w, "%-30.30s: %-60.60s  State:%-15.15s Presence:%-15.15s Watchers %2d\n",
		h.Key(), h.Devices, h.State.String(), presence, e.Watchers(h.Exten, h.Context))
}

func (e *Engine) cmdShowHints(_ context.Context, a *cli.Args) error {
	if len(a.Rest) != 0 {
		return cli.ErrUsage
	}
	all := e.All()
	if len(all) == 0 {
		fmt.Fprintf(a.Out, "There are no registered dialplan hints\n")
		return nil
	}
	fmt.Fprintf(a.Out, "\n    -= Registered Asterisk Dial Plan Hints =-\n")
	for _, h := range all {
		e.line(a.Out, h)
	}
	fmt.Fprintf(a.Out, "----------------\n- %d hints registered\n", len(all))
	return nil
}

func (e *Engine) cmdShowHint(_ context.Context, a *cli.Args) error {
	if len(a.Rest) != 1 {
		return cli.ErrUsage
	}
	want := a.Rest[0]
	exten, ctx, hasCtx := strings.Cut(want, "@")
	n := 0
	for _, h := range e.All() {
		if !strings.HasPrefix(h.Exten, exten) || (hasCtx && !strings.HasPrefix(h.Context, ctx)) {
			continue
		}
		e.line(a.Out, h)
		n++
	}
	if n == 0 {
		fmt.Fprintf(a.Out, "No hints matching extension %s\n", want)
		return cli.ErrFailed
	}
	// Asterisk's handle_show_hint: the hint lines alone, then this count line.
	s := "s"
	if n == 1 {
		s = ""
	}
	fmt.Fprintf(a.Out, "%d hint%s matching extension %s\n", n, s, want)
	return nil
}

func (e *Engine) completeHint(_ *cli.Args, n int, word string) []string {
	if n != 0 {
		return nil
	}
	var out []string
	for _, h := range e.All() {
		if strings.HasPrefix(h.Key(), word) {
			out = append(out, h.Key())
		}
	}
	return out
}
