package odbc

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/pleiades-pbx/pleiades/internal/cli"
)

const timeLayout = "2006-01-02 15:04:05"

// Commands returns the driver's CLI commands: "odbc show [name|all]".
func (d *Driver) Commands() []*cli.Command {
	return []*cli.Command{{
		Words:   []string{"odbc", "show"},
		Summary: "List ODBC DSN(s)",
		Usage: "Usage: odbc show [class]\n" +
			"       List settings of a specified ODBC class or, if not specified, all classes.\n",
		Handler: d.cliShow,
		Complete: func(a *cli.Args, n int, word string) []string {
			if n != 0 {
				return nil
			}
			var out []string
			for _, name := range append([]string{"all"}, d.connNames()...) {
				if strings.HasPrefix(strings.ToLower(name), strings.ToLower(word)) {
					out = append(out, name)
				}
			}
			return out
		},
	}}
}

// connNames returns the configured connection names, sorted.
func (d *Driver) connNames() []string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := make([]string, 0, len(d.conns))
	for _, c := range d.conns {
		out = append(out, c.cfg.Name)
	}
	sort.Strings(out)
	return out
}

func (d *Driver) cliShow(ctx context.Context, a *cli.Args) error {
	if len(a.Rest) > 1 {
		return cli.ErrUsage
	}
	which := ""
	if len(a.Rest) == 1 && !strings.EqualFold(a.Rest[0], "all") {
		which = a.Rest[0]
	}
	d.writeShow(a.Out, which)
	return nil
}

// writeShow prints Asterisk's "odbc show" layout, then Pleiades' extra lines.
func (d *Driver) writeShow(w io.Writer, which string) {
	fmt.Fprint(w, "\nODBC DSN Settings\n-----------------\n\n")
	d.mu.RLock()
	var conns []*conn
	for _, c := range d.conns {
		if which == "" || strings.EqualFold(which, c.cfg.Name) {
			conns = append(conns, c)
		}
	}
	d.mu.RUnlock()
	sort.Slice(conns, func(i, j int) bool { return conns[i].cfg.Name < conns[j].cfg.Name })
	for _, c := range conns {
		s := c.stats()
		fmt.Fprintf(w, "  Name:   %s\n  DSN:    %s\n", c.cfg.Name, c.cfg.display())
		if !s.lastFail.IsZero() {
			fmt.Fprintf(w, "    Last fail connection attempt: %s\n", s.lastFail.Format(timeLayout))
		}
		fmt.Fprintf(w, "    Number of active connections: %d (out of %d)\n", s.open, s.max)
		fmt.Fprintf(w, "    Logging: %s\n", map[bool]string{true: "Enabled", false: "Disabled"}[c.cfg.Logging])
		if c.cfg.Logging {
			fmt.Fprintf(w, "    Number of prepares executed: %d\n", s.queries)
			fmt.Fprintf(w, "    Number of queries executed: %d\n", s.queries)
			if s.longestSQL != "" {
				fmt.Fprintf(w, "    Longest running SQL query: %s (%d milliseconds)\n", s.longestSQL, s.longestTime.Milliseconds())
			}
		}
		// Pleiades extras.
		fmt.Fprintf(w, "    Connections in use: %d\n", s.inUse)
		fmt.Fprintf(w, "    Connect attempts: %d (failed: %d)\n", s.attempts, s.fails)
		if s.lastErr != "" {
			fmt.Fprintf(w, "    Last error: %s (%s)\n", s.lastErr, s.lastErrAt.Format(timeLayout))
		}
		if !s.negUntil.IsZero() && s.negUntil.After(timeNow()) {
			fmt.Fprintf(w, "    Negative connection cache until: %s\n", s.negUntil.Format(timeLayout))
		}
		fmt.Fprint(w, "\n")
	}
}
