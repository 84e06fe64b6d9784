package mysql

import (
	"context"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/cli"
	"github.com/pleiades-pbx/pleiades/internal/realtime/sqlpool"
)

// Commands returns "realtime show mysql status [section]" and Asterisk's own spelling
// "realtime mysql status [section]".
func (d *Driver) Commands() []*cli.Command {
	usage := func(words string) string {
		return "Usage: " + words + " [<section>]\n" +
			"       Shows connection information for the MySQL RealTime driver: every section of\n" +
			"       " + ConfigFile + ", or only the one named, with its pool figures.\n"
	}
	complete := func(a *cli.Args, n int, word string) []string {
		if n != 0 {
			return nil
		}
		d.mu.RLock()
		defer d.mu.RUnlock()
		var out []string
		for name := range d.sections {
			if len(word) <= len(name) && name[:len(word)] == word {
				out = append(out, name)
			}
		}
		return out
	}
	return []*cli.Command{
		{Words: []string{"realtime", "show", "mysql", "status"}, Summary: "Shows connection information for the MySQL RealTime driver",
			Usage: usage("realtime show mysql status"), Handler: d.status, Complete: complete},
		{Words: []string{"realtime", "mysql", "status"}, Summary: "Shows connection information for the MySQL RealTime driver",
			Usage: usage("realtime mysql status"), Handler: d.status, Complete: complete},
	}
}

func (d *Driver) status(ctx context.Context, a *cli.Args) error {
	if len(a.Rest) > 1 {
		return cli.ErrUsage
	}
	d.mu.RLock()
	var names []string
	for name := range d.sections {
		if len(a.Rest) == 0 || a.Rest[0] == name {
			names = append(names, name)
		}
	}
	d.mu.RUnlock()
	sort.Strings(names)
	if len(names) == 0 {
		if len(a.Rest) == 1 {
			fmt.Fprintf(a.Out, "No section [%s] in %s.\n", a.Rest[0], ConfigFile)
		} else {
			fmt.Fprintf(a.Out, "No connections configured in %s.\n", ConfigFile)
		}
		return cli.ErrFailed
	}
	failed := false
	for _, name := range names {
		c, err := d.conn(name, false)
		if err != nil {
			fmt.Fprintf(a.Out, "%s: %v\n", name, err)
			failed = true
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, c.sec.ConnectTimeout)
		if err := c.db.PingContext(pctx); err != nil {
			_ = d.fail(c, "status", err)
		} else {
			c.ok()
		}
		cancel()
		if !writeStatus(a.Out, c) {
			failed = true
		}
	}
	if failed {
		return cli.ErrFailed
	}
	return nil
}

func writeStatus(w io.Writer, c *conn) bool {
	c.mu.Lock()
	since, lastErr, errAt := c.since, c.lastErr, c.errAt
	c.mu.Unlock()
	creds := ""
	if c.sec.User != "" {
		creds = " with username " + c.sec.User
	}
	ok := !since.IsZero()
	if ok {
		fmt.Fprintf(w, "%s: Connected to %s%s for %s.\n", c.sec.Name, c.sec.describe(), creds, sqlpool.Uptime(time.Since(since)))
	} else {
		fmt.Fprintf(w, "%s: Unable to connect to %s%s\n", c.sec.Name, c.sec.describe(), creds)
	}
	st := c.db.Stats()
	last := "none"
	if lastErr != nil {
		last = fmt.Sprintf("%s (%s ago)", lastErr, time.Since(errAt).Round(time.Second))
	}
	fmt.Fprintf(w, "  Pool: %d total, %d idle, %d in use, max %d; %d calls, %d waited (%s); last error: %s\n",
		st.OpenConnections, st.Idle, st.InUse, st.MaxOpenConnections, c.calls.Load(), st.WaitCount,
		st.WaitDuration.Round(time.Millisecond), last)
	return ok
}
