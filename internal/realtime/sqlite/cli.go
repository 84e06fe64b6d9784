package sqlite

import (
	"context"
	"fmt"
	"io"

	"github.com/pleiades-pbx/pleiades/internal/cli"
)

// Commands returns "realtime show sqlite3 status" (realtime.CommandProvider).
func (d *Driver) Commands() []*cli.Command {
	return []*cli.Command{{
		Words:   []string{"realtime", "show", "sqlite3", "status"},
		Summary: "Shows connection information for the SQLite3 RealTime driver",
		Usage: "Usage: realtime show sqlite3 status\n" +
			"       Shows, for every database of res_config_sqlite3.conf, the file, the connection\n" +
			"       pool (open, in use, idle, maximum), the query and error counts and the last error.\n",
		Handler: func(ctx context.Context, a *cli.Args) error {
			if len(a.Rest) != 0 {
				return cli.ErrUsage
			}
			d.writeStatus(a.Out)
			return nil
		},
	}}
}

func (d *Driver) writeStatus(w io.Writer) {
	st := d.Status()
	if len(st) == 0 {
		io.WriteString(w, "No SQLite3 databases configured.\n")
		return
	}
	for _, s := range st {
		fmt.Fprintf(w, "Database %s: %s\n", s.Name, s.Path)
		fmt.Fprintf(w, "  Connections: %d open, %d in use, %d idle (max %d)\n", s.Open, s.InUse, s.Idle, s.MaxOpen)
		fmt.Fprintf(w, "  Requirements: %s\n", s.Requirements)
		fmt.Fprintf(w, "  Queries: %d, errors: %d\n", s.Queries, s.Errors)
		if s.LastError == "" {
			io.WriteString(w, "  Last error: none\n")
		} else {
			fmt.Fprintf(w, "  Last error: %s (%s)\n", s.LastError, s.LastErrorAt.Format("2006-01-02 15:04:05"))
		}
	}
}
