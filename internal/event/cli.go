package event

import (
	"context"
	"fmt"
	"io"

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
)

// Commands returns the "event show queues" and "event show cache" CLI commands.
func (b *Bus) Commands() []*cli.Command {
	return []*cli.Command{
		{Words: []string{"event", "show", "queues"}, Summary: "Show event subscription queues", Usage: usageShowQueues,
			Handler: b.cliShowQueues},
		{Words: []string{"event", "show", "cache"}, Summary: "Show event cache sizes per type and server", Usage: usageShowCache,
			Handler: b.cliShowCache},
	}
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
