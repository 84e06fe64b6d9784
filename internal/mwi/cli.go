package mwi

import (
	"context"
	"fmt"

	"github.com/pleiades-pbx/pleiades/internal/cli"
)

const (
	usageShowMailboxes = "Usage: mwi show mailboxes\n" +
		"       Shows every mailbox's cluster-wide message counts and the Entity ID of\n" +
		"       the server whose update they come from (the newest update wins).\n"
	usageShowMailbox = "Usage: mwi show mailbox <mailbox[@context]>\n" +
		"       Shows every server's last update of a mailbox, newest first.\n"
)

// Commands returns "mwi show mailboxes" and "mwi show mailbox".
func (e *Engine) Commands() []*cli.Command {
	return []*cli.Command{
		{Words: []string{"mwi", "show", "mailboxes"}, Summary: "Show mailbox message counts", Usage: usageShowMailboxes,
			Handler: e.cliShowMailboxes},
		{Words: []string{"mwi", "show", "mailbox"}, Summary: "Show a mailbox's counts per server", Usage: usageShowMailbox,
			Handler: e.cliShowMailbox},
	}
}

const mailboxesFormat = "%-40.40s %5v %5v %6v  %s\n"

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

func (e *Engine) from(s State) string {
	if s.Local {
		return s.EID.String() + " (this server)"
	}
	return s.EID.String()
}

func (e *Engine) cliShowMailboxes(_ context.Context, a *cli.Args) error {
	if len(a.Rest) != 0 {
		return cli.ErrUsage
	}
	list := e.Mailboxes()
	fmt.Fprintf(a.Out, mailboxesFormat, "Mailbox", "New", "Old", "Urgent", "From")
	for _, s := range list {
		fmt.Fprintf(a.Out, mailboxesFormat, s.Mailbox, s.New, s.Old, s.Urgent, e.from(s))
	}
	fmt.Fprintln(a.Out, plural(len(list), "mailbox", "mailboxes"))
	return nil
}

func (e *Engine) cliShowMailbox(_ context.Context, a *cli.Args) error {
	if len(a.Rest) != 1 {
		return cli.ErrUsage
	}
	mb, err := Normalize(a.Rest[0])
	if err != nil {
		return cli.ErrUsage
	}
	per := e.PerEID(mb)
	if len(per) == 0 {
		fmt.Fprintf(a.Out, "No server has a state for mailbox '%s'.\n", mb)
		return nil
	}
	fmt.Fprintf(a.Out, "Mailbox: %s\n", mb)
	const f = "  %-8s %5v %5v %6v  %-30s  %s\n"
	fmt.Fprintf(a.Out, f, "", "New", "Old", "Urgent", "Updated", "From")
	for i, s := range per {
		what := ""
		if i == 0 {
			what = "shown"
		}
		if s.Deleted {
			fmt.Fprintf(a.Out, f, what, "-", "-", "-", s.Time.UTC().Format("2006-01-02 15:04:05.000000000"), e.from(s)+" deleted")
			continue
		}
		fmt.Fprintf(a.Out, f, what, s.New, s.Old, s.Urgent, s.Time.UTC().Format("2006-01-02 15:04:05.000000000"), e.from(s))
	}
	return nil
}
