package cel

import (
	"context"
	"fmt"
	"slices"

	"github.com/pleiades-pbx/pleiades/internal/cli"
	"github.com/pleiades-pbx/pleiades/internal/diskqueue"
)

// Commands returns "cel show status" (Asterisk's lines, and each database backend's queue:
// backlog, written, dropped, its file and the last error while it fails). backends gives
// the running backends' queues.
func (e *Engine) Commands(backends func() []diskqueue.Status) []*cli.Command {
	return []*cli.Command{{Words: []string{"cel", "show", "status"}, Summary: "Display the CEL status",
		Usage: "Usage: cel show status\n       Displays the Channel Event Logging system status.\n",
		Handler: func(_ context.Context, a *cli.Args) error {
			s := e.Settings()
			w := a.Out
			if !s.Enable {
				fmt.Fprintf(w, "CEL Logging: Disabled\n")
			} else {
				fmt.Fprintf(w, "CEL Logging: Enabled\n")
			}
			if s.Events["ALL"] {
				fmt.Fprintf(w, "CEL Tracking Event: ALL\n")
			} else {
				for _, ev := range sortedKeys(s.Events) {
					fmt.Fprintf(w, "CEL Tracking Event: %s\n", ev)
				}
			}
			for _, app := range sortedKeys(s.Apps) {
				fmt.Fprintf(w, "CEL Tracking Application: %s\n", app)
			}
			if s.Manager {
				fmt.Fprintf(w, "CEL Event Subscriber: Manager Event Logging\n")
			}
			if backends == nil {
				return nil
			}
			for _, b := range backends() {
				fmt.Fprintf(w, "CEL Event Subscriber: %s (backlog %d, written %d", b.Name, b.Backlog, b.Written)
				if b.Dropped > 0 {
					fmt.Fprintf(w, ", dropped %d", b.Dropped)
				}
				if b.Spool != "" {
					fmt.Fprintf(w, ", queue %s", b.Spool)
				}
				fmt.Fprintf(w, ")\n")
				if b.LastErr != "" {
					fmt.Fprintf(w, "  last error: %s\n", b.LastErr)
				}
			}
			return nil
		}}}
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k, on := range m {
		if on {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}
