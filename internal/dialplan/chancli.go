package dialplan

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/channel"
	"github.com/pleiades-pbx/pleiades/internal/cli"
)

// ActiveChannels returns how many channels exist: the real call legs of the registry
// (incoming and outgoing) and the console and Local channels the engine runs without a
// leg (Asterisk's ast_active_channels).
func (e *Engine) ActiveChannels() int {
	n := e.ActiveCalls()
	e.legs.mu.Lock()
	n -= len(e.legs.running)
	e.legs.mu.Unlock()
	if reg := e.Channels(); reg != nil {
		n += reg.Count()
	}
	return n
}

// ChannelCommands returns the CLI commands about call legs: core show channels
// [concise|verbose], core show channel <name>, channel request hangup <name|all>.
// ("core show channels count" is the core's.)
func (e *Engine) ChannelCommands() []*cli.Command {
	return []*cli.Command{
		{Words: []string{"core", "show", "channels"}, Summary: "Display information on channels",
			Usage: "Usage: core show channels [concise|verbose|count]\n" +
				"       Lists currently defined channels and some information about them. If\n" +
				"       'concise' is specified, the format is abridged and in a more easily\n" +
				"       machine parsable format. If 'verbose' is specified, the output includes\n" +
				"       more and longer fields. If 'count' is specified only the channel and call\n" +
				"       count is output.\n",
			Handler: e.cliShowChannels,
			Complete: func(a *cli.Args, n int, word string) []string {
				if n != 0 {
					return nil
				}
				return prefixed([]string{"concise", "verbose", "count"}, word)
			}},
		{Words: []string{"core", "show", "channel"}, Summary: "Display information on a specific channel",
			Usage:   "Usage: core show channel <channel>\n       Shows lots of information about the specified channel.\n",
			Handler: e.cliShowChannel, Complete: e.completeChannel(false)},
		{Words: []string{"channel", "request", "hangup"}, Summary: "Request a hangup on a given channel",
			Usage: "Usage: channel request hangup <channel>|<all>\n" +
				"       Request that a channel be hung up. The hangup takes effect\n" +
				"       the next time the driver reads or writes from the channel.\n" +
				"       If 'all' is specified instead of a channel name, all channels\n" +
				"       will see the hangup request.\n",
			Handler: e.cliRequestHangup, Complete: e.completeChannel(true)},
	}
}

func prefixed(words []string, prefix string) []string {
	var out []string
	for _, w := range words {
		if strings.HasPrefix(strings.ToLower(w), strings.ToLower(prefix)) {
			out = append(out, w)
		}
	}
	return out
}

func (e *Engine) completeChannel(all bool) func(a *cli.Args, n int, word string) []string {
	return func(a *cli.Args, n int, word string) []string {
		if n != 0 {
			return nil
		}
		var names []string
		if all {
			names = append(names, "all")
		}
		for _, ch := range e.ChannelList() {
			names = append(names, ch.Name())
		}
		return prefixed(names, word)
	}
}

// trunc is C's "%.Ns".
func trunc(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// The layouts of Asterisk 20's main/cli.c handle_chanlist.
const (
	chanFormat        = "%-64.64s %-32.32s %-7.7s %-30.30s\n"
	chanVerboseFormat = "%-80.80s %-24.24s %-24.24s %4d %-7.7s %-12.12s %-25.25s %-15.15s %8.8s %-11.11s %-11.11s %-20.20s\n"
	chanVerboseHeader = "%-80.80s %-24.24s %-24.24s %-4.4s %-7.7s %-12.12s %-25.25s %-15.15s %8.8s %-11.11s %-11.11s %-20.20s\n"
	chanConciseFormat = "%s!%s!%s!%d!%s!%s!%s!%s!%s!%s!%d!%s!%s!%s\n"
	// amaDocumentation is AST_AMA_DOCUMENTATION, the default AMA flags of a channel.
	amaDocumentation = 3
)

func bridgeID(ch *channel.Channel) string {
	if b := ch.Bridge(); b != nil {
		return b.ID()
	}
	return ""
}

func orNone(s, none string) string {
	if s == "" {
		return none
	}
	return s
}

// cliShowChannels is "core show channels [concise|verbose|count]".
func (e *Engine) cliShowChannels(ctx context.Context, a *cli.Args) error {
	mode := ""
	switch {
	case len(a.Rest) == 0:
	case len(a.Rest) == 1 && (strings.EqualFold(a.Rest[0], "concise") || strings.EqualFold(a.Rest[0], "verbose") || strings.EqualFold(a.Rest[0], "count")):
		mode = strings.ToLower(a.Rest[0])
	default:
		return cli.ErrUsage
	}
	e.WriteChannels(a.Out, mode, time.Now())
	return nil
}

// WriteChannels writes "core show channels" in mode "", "concise", "verbose" or "count" as
// at now (the durations).
func (e *Engine) WriteChannels(w io.Writer, mode string, now time.Time) {
	switch mode {
	case "":
		fmt.Fprintf(w, chanFormat, "Channel", "Location", "State", "Application(Data)")
	case "verbose":
		fmt.Fprintf(w, chanVerboseHeader, "Channel", "Context", "Extension", "Priority", "State", "Application", "Data",
			"CallerID", "Duration", "Accountcode", "PeerAccount", "BridgeID")
	}
	if mode != "count" {
		for _, ch := range e.ChannelList() {
			s := ch.Snapshot()
			secs := int(now.Sub(s.Created) / time.Second)
			switch mode {
			case "concise":
				fmt.Fprintf(w, chanConciseFormat, s.Name, s.Context, s.Exten, s.Priority, s.State,
					orNone(s.Application, "(None)"), s.AppData, s.CallerNum, s.AccountCode, "", amaDocumentation,
					fmt.Sprint(secs), bridgeID(ch), s.UniqueID)
			case "verbose":
				dur := fmt.Sprintf("%02d:%02d:%02d", secs/3600, secs%3600/60, secs%60)
				fmt.Fprintf(w, chanVerboseFormat, s.Name, s.Context, s.Exten, s.Priority, s.State,
					orNone(s.Application, "(None)"), orNone(s.AppData, "(Empty)"), s.CallerNum, dur,
					s.AccountCode, "", bridgeID(ch))
			default:
				loc, app := "(None)", "(None)"
				if s.Context != "" && s.Exten != "" {
					loc = trunc(fmt.Sprintf("%s@%s:%d", s.Exten, s.Context, s.Priority), 39)
				}
				if s.Application != "" {
					app = trunc(fmt.Sprintf("%s(%s)", s.Application, s.AppData), 39)
				}
				fmt.Fprintf(w, chanFormat, s.Name, loc, s.State, app)
			}
		}
	}
	if mode != "concise" {
		n := e.ActiveChannels()
		fmt.Fprintf(w, "%d active channel%s\n", n, ess(n))
		c := e.ActiveCalls()
		fmt.Fprintf(w, "%d active call%s\n", c, ess(c))
		p := e.ProcessedCalls()
		fmt.Fprintf(w, "%d call%s processed\n", p, ess(p))
	}
}

func ess(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// cliShowChannel is "core show channel <name>" (Asterisk 20's handle_showchan, the parts
// Pleiades has).
func (e *Engine) cliShowChannel(ctx context.Context, a *cli.Args) error {
	if len(a.Rest) != 1 {
		return cli.ErrUsage
	}
	var ch *channel.Channel
	if reg := e.Channels(); reg != nil {
		ch = reg.Get(a.Rest[0])
	}
	if ch == nil {
		fmt.Fprintf(a.Out, "%s is not a known channel\n", a.Rest[0])
		return nil
	}
	e.WriteChannel(a.Out, ch, time.Now())
	return nil
}

// WriteChannel writes "core show channel" for ch as at now.
func (e *Engine) WriteChannel(w io.Writer, ch *channel.Channel, now time.Time) {
	s := ch.Snapshot()
	el := int(now.Sub(s.Created) / time.Second)
	typ, _, _ := strings.Cut(s.Name, "/")
	na := func(v string) string { return orNone(v, "(N/A)") }
	format, native := "(nothing)", "(nothing)"
	if m := ch.Media(); m != nil {
		if p, ok := m.Peer(); ok {
			format = p.Codec.String()
			native = "(" + format + ")"
		}
	}
	bridge := orNone(bridgeID(ch), "(Not bridged)")
	fmt.Fprintf(w, " -- General --\n"+
		"           Name: %s\n"+
		"           Type: %s\n"+
		"       UniqueID: %s\n"+
		"       LinkedID: %s\n"+
		"      Caller ID: %s\n"+
		" Caller ID Name: %s\n"+
		"Connected Line ID: %s\n"+
		"Connected Line ID Name: %s\n"+
		"Eff. Connected Line ID: %s\n"+
		"Eff. Connected Line ID Name: %s\n"+
		"    DNID Digits: %s\n"+
		"       Language: %s\n"+
		"          State: %s (%d)\n"+
		"  NativeFormats: %s\n"+
		"    WriteFormat: %s\n"+
		"     ReadFormat: %s\n"+
		" WriteTranscode: No \n"+
		"  ReadTranscode: No \n"+
		" Time to Hangup: 0\n"+
		"   Elapsed Time: %dh%dm%ds\n"+
		"      Bridge ID: %s\n"+
		" --   PBX   --\n"+
		"        Context: %s\n"+
		"      Extension: %s\n"+
		"       Priority: %d\n"+
		"     Call Group: 0\n"+
		"   Pickup Group: 0\n"+
		"    Application: %s\n"+
		"           Data: %s\n"+
		" Call Identifer: (None)\n",
		s.Name, typ, s.UniqueID, s.LinkedID, na(s.CallerNum), na(s.CallerName),
		na(s.ConnectedNum), na(s.ConnectedName), na(s.ConnectedNum), na(s.ConnectedName),
		na(""), s.Language, s.State, int(s.State), native, format, format,
		el/3600, el%3600/60, el%60, bridge, s.Context, s.Exten, s.Priority,
		na(s.Application), orNone(s.AppData, "(Empty)"))
	fmt.Fprintf(w, "      Variables:\n")
	if dch := e.LegChannel(s.Name); dch != nil {
		vars := dch.Vars()
		names := make([]string, 0, len(vars))
		for k := range vars {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			fmt.Fprintf(w, "%s=%s\n", k, vars[k])
		}
	}
}

// cliRequestHangup is "channel request hangup <channel>|all".
func (e *Engine) cliRequestHangup(ctx context.Context, a *cli.Args) error {
	if len(a.Rest) != 1 {
		return cli.ErrUsage
	}
	if strings.EqualFold(a.Rest[0], "all") {
		for _, ch := range e.ChannelList() {
			fmt.Fprintf(a.Out, "Requested Hangup on channel '%s'\n", ch.Name())
			ch.RequestHangup(channel.CauseNormalClearing)
		}
		return nil
	}
	var ch *channel.Channel
	if reg := e.Channels(); reg != nil {
		ch = reg.Get(a.Rest[0])
	}
	if ch == nil {
		fmt.Fprintf(a.Out, "%s is not a known channel\n", a.Rest[0])
		return nil
	}
	fmt.Fprintf(a.Out, "Requested Hangup on channel '%s'\n", ch.Name())
	ch.RequestHangup(channel.CauseNormalClearing)
	return nil
}
