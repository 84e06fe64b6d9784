package realtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/pleiades-pbx/pleiades/internal/cli"
)

// CommandProvider is implemented by a driver that has CLI commands of its own
// ("realtime show sqlite3 status"); Engine.Commands includes them.
type CommandProvider interface {
	Commands() []*cli.Command
}

// Output shapes of res_realtime.c and main/config.c.
const (
	loadFormat     = "%30s  %-30s\n" // CRL_HEADER_FORMAT: the name column is right-aligned
	msgNoRows      = "No rows found matching search criteria.\n"
	msgUpdateFail  = "Failed to update. Check the debug log for possible SQL related entries.\n"
	msgStoreFail   = "Failed to store record. Check the debug log for possible SQL related entries.\n"
	msgDestroyFail = "Failed to remove record. Check the debug log for possible SQL related entries.\n"
)

func ess(n int64) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func pairs(words []string) []Field {
	out := make([]Field, 0, len(words)/2)
	for i := 0; i+1 < len(words); i += 2 {
		out = append(out, Field{Name: words[i], Value: words[i+1]})
	}
	return out
}

// Commands returns the realtime CLI commands (res_realtime.c's and "core show config
// mappings"), followed by the commands of every registered driver that has some.
//
// Differences from Asterisk: any number of name/value pairs is accepted where Asterisk stops
// at five; "realtime update2" splits lookup and update fields at a NULL word as its usage says
// (without one, the last pair is the update, which is what Asterisk's code does); an error other
// than "no rows" in "realtime load" is printed rather than shown as no rows.
func (e *Engine) Commands() []*cli.Command {
	cmds := []*cli.Command{
		{
			Words:   []string{"realtime", "load"},
			Summary: "Used to print out RealTime variables.",
			Usage: "Usage: realtime load <family> <colmatch> <value> [<colmatch2> <value2> ...]\n" +
				"       Prints out a list of variables using the RealTime driver.\n" +
				"       You must supply a family name, a column to match on, and a value to match to.\n",
			Handler:  e.cliLoad,
			Complete: e.completeFamily,
		},
		{
			Words:   []string{"realtime", "update"},
			Summary: "Used to update RealTime variables.",
			Usage: "Usage: realtime update <family> <colmatch> <valuematch> <colupdate> <newvalue>\n" +
				"       Update a single variable using the RealTime driver.\n" +
				"       You must supply a family name, a column to update on, a new value, column to match, and value to match.\n" +
				"       Ex: realtime update sippeers name bobsphone port 4343\n" +
				"       will execute SQL as UPDATE sippeers SET port = 4343 WHERE name = bobsphone\n",
			Handler:  e.cliUpdate,
			Complete: e.completeFamily,
		},
		{
			Words:   []string{"realtime", "update2"},
			Summary: "Used to test the RealTime update2 method",
			Usage: "Usage: realtime update2 <family> <colmatch> <valuematch> [... <colmatch5> <valuematch5>] NULL <colupdate> <newvalue> [...]\n" +
				"   Update a single variable, requiring one or more fields to match using the\n" +
				"   RealTime driver.  You must supply a family name, a column to update, a new\n" +
				"   value, and at least one column and value to match.\n" +
				"   Ex: realtime update2 sippeers name bobsphone ipaddr 127.0.0.1 NULL port 4343\n" +
				"   will execute SQL as\n" +
				"   UPDATE sippeers SET port='4343' WHERE name='bobsphone' and ipaddr='127.0.0.1'\n",
			Handler:  e.cliUpdate2,
			Complete: e.completeFamily,
		},
		{
			Words:   []string{"realtime", "store"},
			Summary: "Store a new row into a RealTime database",
			Usage: "Usage: realtime store <family> <colname1> <value1> [<colname2> <value2> [...]]\n" +
				"       Create a stored row using the RealTime driver.\n" +
				"       You must supply a family name and name/value pairs.\n",
			Handler:  e.cliStore,
			Complete: e.completeFamily,
		},
		{
			Words:   []string{"realtime", "destroy"},
			Summary: "Delete a row from a RealTime database",
			Usage: "Usage: realtime destroy <family> <colmatch1> <valuematch1> [<colmatch2> <valuematch2> [...]]\n" +
				"       Remove a stored row using the RealTime driver.\n" +
				"       You must supply a family name and name/value pairs.\n",
			Handler:  e.cliDestroy,
			Complete: e.completeFamily,
		},
		{
			Words:   []string{"realtime", "show", "status"},
			Summary: "Show RealTime query counters per family",
			Usage: "Usage: realtime show status\n" +
				"       Shows, per family and static file, the queries, errors and failovers since start and the last error,\n" +
				"       then per family whether cached objects follow database changes live (a driver listening for\n" +
				"       notifications) or only their TTL, with the changes heard.\n",
			Handler: e.cliStatus,
		},
		{
			Words:   []string{"realtime", "invalidate"},
			Summary: "Drop cached RealTime objects on every server",
			Usage: "Usage: realtime invalidate <family> [<key>]\n" +
				"       Tells every cache of the family (SIP realtime peers, the Realtime switch, ...) on this server\n" +
				"       and on every server of the cluster that the row <key> changed, or with no key that any row did.\n" +
				"       The key is the row's identifying value: the name for sippeers, exten@context for extensions,\n" +
				"       mailbox@context for voicemail.\n",
			Handler:  e.cliInvalidate,
			Complete: e.completeFamily,
		},
		{
			Words:   []string{"core", "show", "config", "mappings"},
			Summary: "Display config mappings (file names to config engines)",
			Usage: "Usage: core show config mappings\n" +
				"\tShows the filenames to config engines.\n",
			Handler: e.cliMappings,
		},
	}
	for _, d := range e.Drivers() {
		if cp, ok := d.(CommandProvider); ok {
			cmds = append(cmds, cp.Commands()...)
		}
	}
	return cmds
}

func (e *Engine) completeFamily(a *cli.Args, n int, word string) []string {
	if n != 0 {
		return nil
	}
	_, fams := e.Mappings()
	var out []string
	seen := map[string]bool{}
	for _, m := range fams {
		if strings.HasPrefix(m.Name, word) && !seen[m.Name] {
			seen[m.Name] = true
			out = append(out, m.Name)
		}
	}
	return out
}

func (e *Engine) cliLoad(ctx context.Context, a *cli.Args) error {
	if len(a.Rest) < 3 || len(a.Rest)%2 == 0 {
		return cli.ErrUsage
	}
	row, err := e.Load(ctx, a.Rest[0], pairs(a.Rest[1:])...)
	switch {
	case errors.Is(err, ErrNotFound):
		io.WriteString(a.Out, msgNoRows)
		return nil
	case err != nil:
		fmt.Fprintf(a.Out, "Failed to load: %v\n", err)
		return cli.ErrFailed
	}
	fmt.Fprintf(a.Out, loadFormat, "Column Name", "Column Value")
	fmt.Fprintf(a.Out, loadFormat, "--------------------", "--------------------")
	for _, f := range row {
		fmt.Fprintf(a.Out, loadFormat, f.Name, f.Value)
	}
	return nil
}

func (e *Engine) cliUpdate(ctx context.Context, a *cli.Args) error {
	if len(a.Rest) != 5 {
		return cli.ErrUsage
	}
	n, err := e.Update(ctx, a.Rest[0], a.Rest[1], a.Rest[2], Field{Name: a.Rest[3], Value: a.Rest[4]})
	return e.report(a, "update", n, err, msgUpdateFail, "Updated %d RealTime record%s.\n")
}

func (e *Engine) cliUpdate2(ctx context.Context, a *cli.Args) error {
	if len(a.Rest) < 5 {
		return cli.ErrUsage
	}
	words := a.Rest[1:]
	var lookup, update []Field
	if i := indexNULL(words); i >= 0 {
		if i == 0 || i%2 != 0 || (len(words)-i-1) < 2 || (len(words)-i-1)%2 != 0 {
			return cli.ErrUsage
		}
		lookup, update = pairs(words[:i]), pairs(words[i+1:])
	} else {
		if len(words)%2 != 0 {
			return cli.ErrUsage
		}
		lookup, update = pairs(words[:len(words)-2]), pairs(words[len(words)-2:])
	}
	n, err := e.Update2(ctx, a.Rest[0], lookup, update)
	return e.report(a, "update2", n, err, msgUpdateFail, "Updated %d RealTime record%s.\n")
}

// indexNULL finds the NULL separator at an even position (a field name, not a value).
func indexNULL(words []string) int {
	for i := 0; i < len(words); i += 2 {
		if words[i] == "NULL" {
			return i
		}
	}
	return -1
}

func (e *Engine) cliStore(ctx context.Context, a *cli.Args) error {
	if len(a.Rest) < 3 || len(a.Rest)%2 == 0 {
		return cli.ErrUsage
	}
	_, err := e.Store(ctx, a.Rest[0], pairs(a.Rest[1:])...)
	if err != nil {
		e.log.Warn("realtime store failed", "family", a.Rest[0], "error", err)
		io.WriteString(a.Out, msgStoreFail)
		return cli.ErrCommandFailed
	}
	io.WriteString(a.Out, "Stored RealTime record.\n")
	return nil
}

func (e *Engine) cliDestroy(ctx context.Context, a *cli.Args) error {
	if len(a.Rest) < 3 || len(a.Rest)%2 == 0 {
		return cli.ErrUsage
	}
	n, err := e.Destroy(ctx, a.Rest[0], a.Rest[1], a.Rest[2], pairs(a.Rest[3:])...)
	return e.report(a, "destroy", n, err, msgDestroyFail, "Removed %d RealTime record%s.\n")
}

func (e *Engine) report(a *cli.Args, op string, n int64, err error, fail, ok string) error {
	if err != nil {
		e.log.Warn("realtime "+op+" failed", "family", a.Rest[0], "error", err)
		io.WriteString(a.Out, fail)
		return cli.ErrCommandFailed
	}
	fmt.Fprintf(a.Out, ok, n, ess(n))
	return nil
}

// cliMappings is main/config.c's handle_cli_core_show_config_mappings: every loaded engine
// (see Loaded) with the mappings that use it, newest line first (Asterisk prepends each
// mapping to its list).
func (e *Engine) cliMappings(ctx context.Context, a *cli.Args) error {
	if len(a.Rest) != 0 {
		return cli.ErrUsage
	}
	var loaded []Driver
	for _, d := range e.Drivers() {
		if e.Loaded(d.Name()) {
			loaded = append(loaded, d)
		}
	}
	if len(loaded) == 0 {
		io.WriteString(a.Out, "No config mappings found.\n")
		return nil
	}
	lines := e.st.Load().lines
	for _, d := range loaded {
		fmt.Fprintf(a.Out, "Config Engine: %s\n", d.Name())
		for i := len(lines) - 1; i >= 0; i-- {
			if m := lines[i]; strings.EqualFold(m.Driver, d.Name()) {
				fmt.Fprintf(a.Out, "===> %s (db=%s, table=%s)\n", m.Name, m.Database, m.Table)
			}
		}
	}
	return nil
}

func (e *Engine) cliStatus(ctx context.Context, a *cli.Args) error {
	if len(a.Rest) != 0 {
		return cli.ErrUsage
	}
	st := e.Status()
	if len(st) == 0 {
		io.WriteString(a.Out, "No RealTime families used yet.\n")
		return nil
	}
	sort.Slice(st, func(i, j int) bool { return st[i].Family < st[j].Family })
	const f = "%-20s %10s %8s %10s  %s\n"
	fmt.Fprintf(a.Out, f, "Family", "Queries", "Errors", "Failovers", "Last error")
	for _, s := range st {
		last := "-"
		if s.LastError != "" {
			last = s.LastErrorAt.Format("2006-01-02 15:04:05") + " " + s.LastError
		}
		fmt.Fprintf(a.Out, f, s.Family, fmt.Sprint(s.Queries), fmt.Sprint(s.Errors), fmt.Sprint(s.Failovers), last)
	}
	var fams []Status
	for _, s := range st {
		if e.Mapped(s.Family) {
			fams = append(fams, s)
		}
	}
	if len(fams) == 0 {
		return nil
	}
	const g = "%-20s %-9s %13s  %-19s  %13s %8s\n"
	fmt.Fprintf(a.Out, "\n"+g, "Family", "Changes", "Notifications", "Last notification", "Invalidations", "Flushes")
	for _, s := range fams {
		mode, last := "TTL only", "-"
		if s.Live {
			mode = "live"
		}
		if !s.LastNotification.IsZero() {
			last = s.LastNotification.Format("2006-01-02 15:04:05")
		}
		fmt.Fprintf(a.Out, g, s.Family, mode, fmt.Sprint(s.Notifications), last, fmt.Sprint(s.Invalidations), fmt.Sprint(s.Flushes))
	}
	return nil
}

func (e *Engine) cliInvalidate(ctx context.Context, a *cli.Args) error {
	if len(a.Rest) < 1 || len(a.Rest) > 2 {
		return cli.ErrUsage
	}
	key := ""
	if len(a.Rest) == 2 {
		key = a.Rest[1]
	}
	if err := e.Invalidate(a.Rest[0], key); err != nil {
		fmt.Fprintf(a.Out, "Family '%s' is not mapped in extconfig.conf.\n", a.Rest[0])
		return cli.ErrFailed
	}
	if key == "" {
		fmt.Fprintf(a.Out, "Invalidated every cached object of %s.\n", a.Rest[0])
	} else {
		fmt.Fprintf(a.Out, "Invalidated %s %s.\n", a.Rest[0], key)
	}
	return nil
}
