package mwi

import (
	"context"
	"fmt"
	"strconv"

	"github.com/pleiades-pbx/pleiades/internal/cli"
)

const (
	usageShowMailboxes = "Usage: mwi show mailboxes\n" +
		"       Shows every mailbox's cluster-wide message counts and the Entity ID of\n" +
		"       the server whose update they come from (the newest update wins).\n"
	usageShowMailbox = "Usage: mwi show mailbox <mailbox[@context]>\n" +
		"       Shows every server's last update of a mailbox, newest first.\n"
	usageUpdate = "Usage: mwi update <mailbox[@context]> <new> <old> [urgent]\n" +
		"       Sets a mailbox's message counts on this server, as the AMI action\n" +
		"       MWIUpdate does; every server of the cluster sees them.\n"
	usageDelete = "Usage: mwi delete <mailbox[@context]>\n" +
		"       Removes a mailbox's counts cluster-wide, as the AMI action MWIDelete does.\n"
)

// Commands returns "mwi show mailboxes" and "mwi show mailbox".
func (e *Engine) Commands() []*cli.Command {
	return []*cli.Command{
		{Words: []string{"mwi", "show", "mailboxes"}, Summary: "Show mailbox message counts", Usage: usageShowMailboxes,
			Handler: e.cliShowMailboxes},
		{Words: []string{"mwi", "show", "mailbox"}, Summary: "Show a mailbox's counts per server", Usage: usageShowMailbox,
			Handler: e.cliShowMailbox},
		{Words: []string{"mwi", "update"}, Summary: "Set a mailbox's message counts", Usage: usageUpdate,
			Handler: e.cliUpdate},
		{Words: []string{"mwi", "delete"}, Summary: "Remove a mailbox's message counts", Usage: usageDelete,
			Handler: e.cliDelete},
	}
}

func (e *Engine) cliUpdate(_ context.Context, a *cli.Args) error {
	if len(a.Rest) != 3 && len(a.Rest) != 4 {
		return cli.ErrUsage
	}
	var n [3]int
	for i, w := range a.Rest[1:] {
		v, err := strconv.Atoi(w)
		if err != nil || v < 0 {
			return cli.ErrUsage
		}
		n[i] = v
	}
	mb, err := Normalize(a.Rest[0])
	if err != nil {
		fmt.Fprintf(a.Out, "Unable to update mailbox %s: %s\n", a.Rest[0], err)
		return cli.ErrFailed
	}
	if err := e.Update(mb, n[0], n[1], n[2]); err != nil {
		fmt.Fprintf(a.Out, "Unable to update mailbox %s: %s\n", a.Rest[0], err)
		return cli.ErrFailed
	}
	fmt.Fprintf(a.Out, "Mailbox %s: %d new, %d old, %d urgent\n", mb, n[0], n[1], n[2])
	return nil
}

func (e *Engine) cliDelete(_ context.Context, a *cli.Args) error {
	if len(a.Rest) != 1 {
		return cli.ErrUsage
	}
	mb, err := Normalize(a.Rest[0])
	if err != nil {
		fmt.Fprintf(a.Out, "Unable to delete mailbox %s: %s\n", a.Rest[0], err)
		return cli.ErrFailed
	}
	ok, err := e.Delete(mb)
	if err != nil {
		fmt.Fprintf(a.Out, "Unable to delete mailbox %s: %s\n", a.Rest[0], err)
		return cli.ErrFailed
	}
	if !ok {
		fmt.Fprintf(a.Out, "Mailbox %s is not known.\n", mb)
		return cli.ErrFailed
	}
	fmt.Fprintf(a.Out, "Mailbox %s deleted.\n", mb)
	return nil
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
