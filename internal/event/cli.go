package event

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/pleiades-pbx/pleiades/internal/cli"
)

const (
	usageShowQueues = "Usage: event show queues\n" +
		"       Shows every event subscription's queue: events waiting (Depth), the most ever\n" +
		"       waiting (HighWater), the queue length from which states are coalesced (QLen),\n" +
		"       and how many events were delivered, coalesced (replaced by a newer state of\n" +
		"       the same key while waiting) and dropped.\n"
	usageShowCache = "Usage: event show cache\n" +
		"       Shows how many cached events each server (by Entity ID) has, per event type.\n"
	usageTaskprocessors = "Usage: core show taskprocessors [like keyword]\n" +
		"\tShows a list of instantiated task processors and their statistics\n"
)

// Commands returns the "event show queues" and "event show cache" CLI commands.
func (b *Bus) Commands() []*cli.Command {
	return []*cli.Command{
		{Words: []string{"event", "show", "queues"}, Summary: "Show event subscription queues", Usage: usageShowQueues,
			Handler: b.cliShowQueues},
		{Words: []string{"event", "show", "cache"}, Summary: "Show event cache sizes per type and server", Usage: usageShowCache,
			Handler: b.cliShowCache},
		{Words: []string{"core", "show", "taskprocessors"}, Summary: "List instantiated task processors and statistics",
			Usage: usageTaskprocessors, Handler: b.cliTaskprocessors, Complete: b.completeTaskprocessor},
	}
}

// WriteTaskprocessors prints the subscription queues as Asterisk 20's "core show
// taskprocessors" prints its task processors (main/taskprocessor.c), those whose name starts
// with like (case-insensitively), sorted by name: Processed is Delivered, In Queue is Depth,
// Max Depth is HighWater; High water is QLen, the depth at which the queue starts coalescing
// and warns, and Low water the depth at or below which that warning re-arms (below half of
// QLen), Asterisk's alert thresholds. Pleiades does not time its handlers: the Low and High
// time(us) columns are 0.
func WriteTaskprocessors(w io.Writer, stats []QueueStats, like string) {
	const headers = "%-70s %10s %10s %10s %10s %10s %10s %10s\n"
	const fields = "%-70s %10d %10d %10d %10d %10d %10d %10d\n"
	fmt.Fprintf(w, "\n"+headers, "Processor", "Processed", "In Queue", "Max Depth", "Low water", "High water", "Low time(us)", "High time(us)")
	sort.SliceStable(stats, func(i, j int) bool { return strings.ToLower(stats[i].Name) < strings.ToLower(stats[j].Name) })
	n := 0
	for _, s := range stats {
		if !strings.HasPrefix(strings.ToLower(s.Name), strings.ToLower(like)) {
			continue
		}
		n++
		fmt.Fprintf(w, fields, s.Name, s.Delivered, s.Depth, s.HighWater, max(s.QueueLen/2-1, 0), s.QueueLen, 0, 0)
	}
	fmt.Fprintf(w, "\n%d taskprocessors\n\n", n)
}

func (b *Bus) cliTaskprocessors(_ context.Context, a *cli.Args) error {
	like := ""
	switch {
	case len(a.Rest) == 2 && strings.EqualFold(a.Rest[0], "like"):
		like = a.Rest[1]
	case len(a.Rest) != 0:
		return cli.ErrUsage
	}
	WriteTaskprocessors(a.Out, b.Stats(), like)
	return nil
}

func (b *Bus) completeTaskprocessor(_ *cli.Args, n int, word string) []string {
	switch n {
	case 0:
		if strings.HasPrefix("like", word) {
			return []string{"like"}
		}
	case 1:
		var out []string
		for _, s := range b.Stats() {
			if strings.HasPrefix(strings.ToLower(s.Name), strings.ToLower(word)) {
				out = append(out, s.Name)
			}
		}
		return out
	}
	return nil
}

const queuesFormat = "%-36.36s %-20.20s %-6.6s %-6.6s %7v %9v %7v %11v %10v %8v\n"

// WriteQueues prints the queue table of "event show queues".
func WriteQueues(w io.Writer, stats []QueueStats) {
	fmt.Fprintf(w, queuesFormat, "Subscription", "Type", "Keys", "Origin", "Depth", "HighWater", "QLen", "Delivered", "Coalesced", "Dropped")
	for _, s := range stats {
		keys := "all"
		if s.Keys > 0 {
			keys = fmt.Sprint(s.Keys)
		}
		fmt.Fprintf(w, queuesFormat, s.Name, s.Kind, keys, s.Origin, s.Depth, s.HighWater, s.QueueLen, s.Delivered, s.Coalesced, s.Dropped)
	}
	fmt.Fprintf(w, "%d subscriptions\n", len(stats))
}

func (b *Bus) cliShowQueues(_ context.Context, a *cli.Args) error {
	if len(a.Rest) != 0 {
		return cli.ErrUsage
	}
	WriteQueues(a.Out, b.Stats())
	return nil
}

func (b *Bus) cliShowCache(_ context.Context, a *cli.Args) error {
	if len(a.Rest) != 0 {
		return cli.ErrUsage
	}
	const f = "%-20.20s %-17.17s %8v"
	fmt.Fprintf(a.Out, f+"\n", "Type", "Entity ID", "Events")
	total := 0
	for _, c := range b.CacheCounts() {
		fmt.Fprintf(a.Out, f, c.Kind, c.Origin, c.Events)
		if c.Origin == b.local {
			io.WriteString(a.Out, "  (this server)")
		}
		io.WriteString(a.Out, "\n")
		total += c.Events
	}
	fmt.Fprintf(a.Out, "%d cached events\n", total)
	return nil
}
