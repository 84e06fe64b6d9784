package voicemail

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/pleiades-pbx/pleiades/internal/ami"
	"github.com/pleiades-pbx/pleiades/internal/cli"
)

const (
	usageShowUsers = "Usage: voicemail show users [for <context>]\n" +
		"       Lists all mailboxes currently set up\n"
	usageShowZones = "Usage: voicemail show zones\n" +
		"       Lists zone message formats\n"
	usageReload = "Usage: voicemail reload\n" +
		"       Reload voicemail configuration\n"
)

// Commands returns "voicemail show users", "voicemail show zones" and "voicemail reload";
// reload is the core's reload of the module (voicemail.conf read again).
func (e *Engine) Commands(reload func(ctx context.Context) error) []*cli.Command {
	return []*cli.Command{
		{Words: []string{"voicemail", "show", "users"}, Summary: "List defined voicemail boxes", Usage: usageShowUsers,
			Handler: e.cliShowUsers},
		{Words: []string{"voicemail", "show", "zones"}, Summary: "List zone message formats", Usage: usageShowZones,
			Handler: e.cliShowZones},
		{Words: []string{"voicemail", "reload"}, Summary: "Reload voicemail configuration", Usage: usageReload,
			Handler: func(ctx context.Context, a *cli.Args) error {
				if len(a.Rest) != 0 {
					return cli.ErrUsage
				}
				fmt.Fprintln(a.Out, "Reloading voicemail configuration...")
				if err := reload(ctx); err != nil {
					fmt.Fprintln(a.Out, err)
					return cli.ErrFailed
				}
				return nil
			}},
	}
}

// users lists voicemail.conf's mailboxes, then the realtime ones (those voicemail.conf does
// not have), optionally of one context.
func (e *Engine) users(ctx context.Context, context string) ([]*Mailbox, error) {
	var out []*Mailbox
	seen := map[string]bool{}
	for _, m := range e.cfg.Load().SortedMailboxes() {
		if context == "" || m.Context == context {
			out = append(out, m)
			seen[m.ID()] = true
		}
	}
	rt, err := e.Realtime(ctx, context)
	for _, m := range rt {
		if !seen[m.ID()] {
			out = append(out, m)
		}
	}
	return out, err
}

const usersFormat = "%-10s %-5s %-25s %-10s %6s\n"

func (e *Engine) cliShowUsers(ctx context.Context, a *cli.Args) error {
	context := ""
	switch {
	case len(a.Rest) == 2 && a.Rest[0] == "for":
		context = a.Rest[1]
	case len(a.Rest) != 0:
		return cli.ErrUsage
	}
	users, err := e.users(ctx, context)
	if err != nil {
		fmt.Fprintf(a.Out, "Unable to list realtime mailboxes: %s\n", err)
	}
	if len(users) == 0 {
		if context != "" {
			fmt.Fprintf(a.Out, "No such voicemail context \"%s\"\n", context)
			return cli.ErrFailed
		}
		fmt.Fprintln(a.Out, "There are no voicemail users currently defined")
		return nil
	}
	fmt.Fprintf(a.Out, usersFormat, "Context", "Mbox", "User", "Zone", "NewMsg")
	for _, m := range users {
		n, _ := e.st().Count(ctx, Box{m.Context, m.Mailbox}, "INBOX")
		fmt.Fprintf(a.Out, usersFormat, m.Context, m.Mailbox, m.FullName, m.Options["tz"], strconv.Itoa(n))
	}
	fmt.Fprintf(a.Out, "%d voicemail users configured.\n", len(users))
	return nil
}

const zonesFormat = "%-15s %-20s %-45s\n"

func (e *Engine) cliShowZones(_ context.Context, a *cli.Args) error {
	if len(a.Rest) != 0 {
		return cli.ErrUsage
	}
	zones := e.cfg.Load().Zones
	if len(zones) == 0 {
		fmt.Fprintln(a.Out, "There are no voicemail zones currently defined")
		return nil
	}
	fmt.Fprintf(a.Out, zonesFormat, "Zone", "Timezone", "Message Format")
	for _, z := range zones {
		fmt.Fprintf(a.Out, zonesFormat, z.Name, z.TZ, z.Format)
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "Yes"
	}
	return "No"
}

// Actions returns the manager actions VoicemailUsersList and VoicemailRefresh.
func (e *Engine) Actions() []ami.ExtAction {
	return []ami.ExtAction{
		{Name: "VoicemailUsersList", Authority: ami.ClassCall | ami.ClassReporting, Synopsis: "List All Voicemail User Information.",
			Run: e.amiUsersList},
		{Name: "VoicemailRefresh", Authority: ami.ClassUser, Synopsis: "Tell Asterisk to poll mailboxes for a change",
			Run: e.amiRefresh},
	}
}

func (e *Engine) amiUsersList(ctx context.Context, _ func(string) string) ami.ExtReply {
	users, err := e.users(ctx, "")
	if err != nil && len(users) == 0 {
		return ami.ExtReply{Err: "Unable to list voicemail users: " + err.Error()}
	}
	g := e.cfg.Load().General
	list := &ami.ExtList{Event: "VoicemailUserEntry", Complete: "VoicemailUserEntryComplete"}
	for _, m := range users {
		b := Box{m.Context, m.Mailbox}
		n, o, _, _ := e.Counts(ctx, b)
		maxMsg := g.MaxMsg
		if v, err := strconv.Atoi(m.Options["maxmsg"]); err == nil {
			maxMsg = v
		}
		f := func(k, v string) ami.Field { return ami.Field{Key: k, Value: v} }
		list.Items = append(list.Items, []ami.Field{
			f("VMContext", m.Context), f("VoiceMailbox", m.Mailbox), f("Fullname", m.FullName),
			f("Email", m.Email), f("Pager", m.Pager),
			f("ServerEmail", m.opt("serveremail", g.ServerEmail)), f("FromString", m.opt("fromstring", g.FromString)),
			f("MailCommand", g.MailCmd), f("Language", m.Options["language"]), f("TimeZone", m.Options["tz"]),
			f("Callback", m.Options["callback"]), f("Dialout", m.Options["dialout"]), f("UniqueID", m.UniqueID),
			f("ExitContext", m.Options["exitcontext"]), f("SayDurationMinimum", m.opt("saydurationm", "2")),
			f("SayEnvelope", yesNo(m.boolOpt("envelope", true))), f("SayCID", yesNo(m.boolOpt("saycid", g.SayCID))),
			f("AttachMessage", yesNo(m.boolOpt("attach", g.Attach))), f("AttachmentFormat", m.opt("attachfmt", g.Formats[0])),
			f("DeleteMessage", yesNo(m.boolOpt("delete", false) || m.boolOpt("deletevoicemail", false))),
			f("VolumeGain", m.opt("volgain", "0.00")),
			f("CanReview", yesNo(m.boolOpt("review", g.Review))), f("CallOperator", yesNo(m.boolOpt("operator", g.Operator))),
			f("MaxMessageCount", strconv.Itoa(maxMsg)), f("MaxMessageLength", strconv.Itoa(int(g.MaxMessage.Seconds()))),
			f("NewMessageCount", strconv.Itoa(n)), f("OldMessageCount", strconv.Itoa(o)),
		})
	}
	return ami.ExtReply{Message: "Voicemail user list will follow", List: list}
}

// amiRefresh is VoicemailRefresh [Context] [Mailbox]: the counts of the mailboxes named
// (every configured and stored one when none) are read again and published.
func (e *Engine) amiRefresh(ctx context.Context, get func(string) string) ami.ExtReply {
	wantCtx, wantMb := strings.TrimSpace(get("Context")), strings.TrimSpace(get("Mailbox"))
	boxes := map[Box]bool{}
	users, _ := e.users(ctx, wantCtx)
	for _, m := range users {
		boxes[Box{m.Context, m.Mailbox}] = true
	}
	stored, _ := e.st().Boxes(ctx)
	for _, b := range stored {
		boxes[b] = true
	}
	for b := range boxes {
		if (wantCtx == "" || b.Context == wantCtx) && (wantMb == "" || b.Mailbox == wantMb) {
			e.Refresh(ctx, b, true)
		}
	}
	return ami.ExtReply{}
}
