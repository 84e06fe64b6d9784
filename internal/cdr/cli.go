package cdr

import (
	"context"
	"fmt"

	"github.com/pleiades-pbx/pleiades/internal/cli"
)

// Commands returns "cdr show status" and "cdr submit".
func (e *Engine) Commands() []*cli.Command {
	return []*cli.Command{
		{Words: []string{"cdr", "show", "status"}, Summary: "Display the CDR status",
			Usage: "Usage: cdr show status\n\tDisplays the Call Detail Record engine system status.\n", Handler: e.cliStatus},
		{Words: []string{"cdr", "submit"}, Summary: "Posts all pending batched CDR data",
			Usage: "Usage: cdr submit\n       Posts all pending batched CDR data to the configured CDR backend engine modules.\n", Handler: e.cliSubmit},
	}
}

func yesNo(b bool) string {
	if b {
		return "Yes"
	}
	return "No"
}

func (e *Engine) cliStatus(_ context.Context, a *cli.Args) error {
	s := e.Settings()
	w := a.Out
	fmt.Fprintf(w, "\nCall Detail Record (CDR) settings\n----------------------------------\n")
	logging, mode := "Disabled", "Simple"
	if s.Enable {
		logging = "Enabled"
	}
	if s.Batch {
		mode = "Batch"
	}
	fmt.Fprintf(w, "  Logging:                    %s\n", logging)
	fmt.Fprintf(w, "  Mode:                       %s\n", mode)
	fmt.Fprintf(w, "  Log calls by default:       Yes\n")
	fmt.Fprintf(w, "  Log unanswered calls:       %s\n", yesNo(s.Unanswered))
	fmt.Fprintf(w, "  Log congestion:             %s\n", yesNo(s.Congestion))
	if s.Batch {
		fmt.Fprintf(w, "\n* Batch Mode Settings\n  -------------------\n")
		fmt.Fprintf(w, "  Safe shutdown:              %s\n", yesNo(s.SafeShutdown))
		fmt.Fprintf(w, "  Threading model:            %s\n", map[bool]string{true: "Scheduler only", false: "Scheduler plus separate threads"}[s.SchedulerOnly])
		fmt.Fprintf(w, "  Current batch size:         %d record(s)\n", e.BatchLen())
		fmt.Fprintf(w, "  Maximum batch size:         %d record(s)\n", s.Size)
		fmt.Fprintf(w, "  Maximum batch time:         %d second(s)\n", int(s.Time.Seconds()))
	}
	fmt.Fprintf(w, "\n* Registered Backends\n  -------------------\n")
	st := e.Status()
	if len(st) == 0 {
		fmt.Fprintf(w, "    (none)\n")
	}
	for _, b := range st {
		fmt.Fprintf(w, "    %s (backlog %d, written %d", b.Name, b.Backlog, b.Written)
		if b.Dropped > 0 {
			fmt.Fprintf(w, ", dropped %d", b.Dropped)
		}
		if b.Spool != "" {
			fmt.Fprintf(w, ", queue %s", b.Spool)
		}
		fmt.Fprintf(w, ")\n")
		if b.LastErr != "" {
			fmt.Fprintf(w, "      last error: %s\n", b.LastErr)
		}
	}
	fmt.Fprintln(w)
	return nil
}

func (e *Engine) cliSubmit(_ context.Context, a *cli.Args) error {
	if !e.Settings().Batch {
		fmt.Fprintf(a.Out, "Cannot submit CDR batch: CDR engine disabled or batch mode not enabled.\n")
		return cli.ErrFailed
	}
	e.Submit()
	fmt.Fprintf(a.Out, "Submitted CDRs to backend engines for processing.  This may take a while.\n")
	return nil
}
