package cluster

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/cli"
)

const (
	cliRule = "============================================================="
	cliDash = "=== ---------------------------------------------------------"
)

// cliTitle prints a framed title in Asterisk's res_ais/res_corosync shape.
func cliTitle(w io.Writer, title string) {
	t := "=== " + title + " "
	if len(t) < len(cliRule) {
		t += strings.Repeat("=", len(cliRule)-len(t))
	}
	fmt.Fprintf(w, "%s\n%s\n%s\n===\n", cliRule, t, cliRule)
}

// Commands returns the CLI commands: cluster show members|config|event channels|stats,
// cluster ping, and the aliases of res_ais (ais clm show members, ais evt show event
// channels) and res_corosync (corosync show members|config, corosync ping), each printing
// the same as its cluster counterpart.
func (c *Cluster) Commands() []*cli.Command {
	members := func(_ context.Context, a *cli.Args) error {
		if len(a.Rest) != 0 {
			return cli.ErrUsage
		}
		c.writeMembers(a.Out)
		return nil
	}
	config := func(_ context.Context, a *cli.Args) error {
		if len(a.Rest) != 0 {
			return cli.ErrUsage
		}
		c.writeConfig(a.Out)
		return nil
	}
	ping := func(_ context.Context, a *cli.Args) error {
		if len(a.Rest) != 0 {
			return cli.ErrUsage
		}
		if err := c.Ping(); err != nil {
			fmt.Fprintf(a.Out, "Unable to send a ping: %v\n", err)
			return cli.ErrFailed
		}
		return nil
	}
	stats := func(_ context.Context, a *cli.Args) error {
		if len(a.Rest) != 0 {
			return cli.ErrUsage
		}
		c.writeStats(a.Out)
		return nil
	}
	usage := func(words, what string) string {
		return "Usage: " + words + "\n       " + what + "\n"
	}
	cmd := func(words, summary, what string, h func(context.Context, *cli.Args) error) *cli.Command {
		return &cli.Command{Words: strings.Fields(words), Summary: summary, Usage: usage(words, what), Handler: h}
	}
	const pingUsage = "Send a test ping to the cluster.\n" +
		"A NOTICE will be in the log for every ping received\n" +
		"on a server.\n  If you send a ping, you should see a NOTICE\n" +
		"in the log for every server in the cluster."
	return []*cli.Command{
		cmd("cluster show members", "Show cluster members", "List the servers of the cluster: node name, Entity ID, address, state and age of the last heartbeat.", members),
		cmd("cluster show config", "Show cluster configuration", "Show the cluster settings and, per event channel, the event types published and subscribed.", config),
		cmd("cluster show event channels", "Show event channels", "Same as 'cluster show config'.", config),
		cmd("cluster show stats", "Show cluster event counters", "Show events sent, received, applied and dropped per type, join syncs and receive latency.", stats),
		cmd("cluster ping", "Send a test ping to the cluster", pingUsage, ping),
		cmd("ais clm show members", "List current members of the cluster", "Same as 'cluster show members' (res_ais name).", members),
		cmd("ais evt show event channels", "Show configured event channels", "Same as 'cluster show event channels' (res_ais name).", config),
		cmd("corosync show members", "Show cluster members", "Show corosync cluster members (same as 'cluster show members').", members),
		cmd("corosync show config", "Show configuration", "Show configuration loaded from res_corosync.conf (same as 'cluster show config').", config),
		cmd("corosync ping", "Send a test ping to the cluster", pingUsage, ping),
	}
}

func (c *Cluster) writeMembers(w io.Writer) {
	ms := c.Members()
	fmt.Fprintln(w)
	cliTitle(w, "Cluster Members")
	if node, seen, ok := c.DuplicateEID(); ok {
		fmt.Fprintf(w, "=== WARNING: node %s also uses this server's Entity ID %s (seen %s ago)\n===\n",
			node, c.self, age(time.Since(seen)))
	}
	for _, t := range c.TakenIDs() {
		what := "the newer start took it"
		if t.Ignored {
			what = "ignored: strict_members"
		}
		fmt.Fprintf(w, "=== WARNING: node %s announces Entity ID %s of member %s (seen %s ago; %s)\n===\n",
			t.Node, t.EID, t.Holder, age(time.Since(t.Seen)), what)
	}
	for _, m := range ms {
		name := m.NodeName
		if m.Self {
			name += " (this server)"
		}
		state := "up"
		switch {
		case m.Self && c.state.Load() != stateRunning:
			state = "stopped"
		case m.Self && c.nc != nil && !c.nc.IsConnected():
			state = "disconnected from NATS"
		case m.Stale:
			left := c.cfg.SiteStaleTimeout - time.Since(m.StaleSince)
			state = fmt.Sprintf("stale (site %s unreachable; states kept, purged in %s)", m.Site, age(max(left, 0)))
		case !m.Self && !m.Synced:
			state = "syncing"
		}
		fmt.Fprintf(w, "%s\n", cliDash)
		fmt.Fprintf(w, "=== Node Name: %s\n", name)
		fmt.Fprintf(w, "=== ==> ID: %s\n", m.EID)
		fmt.Fprintf(w, "=== ==> Address: %s\n", addrList(m.Addrs))
		if m.Site != "" {
			fmt.Fprintf(w, "=== ==> Site: %s\n", m.Site)
		}
		fmt.Fprintf(w, "=== ==> Member: Yes\n")
		fmt.Fprintf(w, "=== ==> State: %s\n", state)
		if m.Self {
			fmt.Fprintf(w, "=== ==> Last Heartbeat: (this server)\n")
		} else {
			fmt.Fprintf(w, "=== ==> Last Heartbeat: %s ago\n", age(time.Since(m.LastHeartbeat)))
		}
		if m.Version != "" {
			fmt.Fprintf(w, "=== ==> Version: %s\n", m.Version)
		}
		fmt.Fprintf(w, "%s\n===\n", cliDash)
	}
	fmt.Fprintf(w, "=== Number of members: %d\n", len(ms))
	for _, l := range c.SiteLinks() {
		if l.Up {
			fmt.Fprintf(w, "=== Site %s: link up (to %s, %d inbound)\n", l.Site, l.Remote, l.Inbound)
		} else {
			fmt.Fprintf(w, "=== Site %s: link down (%d inbound)\n", l.Site, l.Inbound)
		}
	}
	fmt.Fprintf(w, "===\n%s\n\n", cliRule)
}

func age(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	return fmt.Sprintf("%.3f s", d.Seconds())
}

func (c *Cluster) writeConfig(w io.Writer) {
	cfg := c.cfg
	fmt.Fprintln(w)
	cliTitle(w, "Cluster Configuration")
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "=== %s: %s\n", k, v)
		}
	}
	row("Mode", cfg.Mode)
	row("Node Name", c.node)
	row("Entity ID", c.self.String())
	row("Cluster Name", cfg.ClusterName)
	if cfg.Mode == ModeExternal {
		row("NATS URLs", strings.Join(cfg.NATSURLs, ", "))
		row("TLS CA", cfg.TLSCA)
		row("TLS Certificate", cfg.TLSCert)
		row("Credentials", cfg.Credentials)
	} else {
		listen := cfg.Listen
		if a := c.RouteAddr(); a != nil {
			listen += " (bound " + a.String() + ")"
		}
		if listen == "" {
			listen = "(none: a cluster of one)"
		}
		row("Listen", listen)
		row("Routes", strings.Join(cfg.Routes, ", "))
		row("Client Listen", cfg.ClientListen)
		// Passwords are never shown: only whether they are set.
		var sec []string
		if cfg.RouteTLSCA != "" {
			sec = append(sec, "mutual TLS (CA "+cfg.RouteTLSCA+", certificate "+cfg.RouteTLSCert+")")
		}
		if cfg.RouteUser != "" {
			sec = append(sec, "password of user "+cfg.RouteUser)
		}
		if cfg.Listen != "" || cfg.GatewayListen != "" {
			if len(sec) == 0 {
				sec = append(sec, "none")
			}
			row("Route Security", strings.Join(sec, ", "))
		}
		if cfg.ClientUser != "" {
			row("Client User", cfg.ClientUser)
		}
		if cfg.StrictMembers {
			row("Strict Members", "yes")
		}
		if cfg.Site != "" {
			row("Site", cfg.Site)
			row("Gateway Listen", cfg.GatewayListen)
			row("Gateway Advertise", cfg.GatewayAdvertise)
			for _, st := range cfg.Sites {
				row("Site "+st.Name, "gateways "+strings.Join(st.Gateways, ", "))
			}
			row("Site Stale Timeout", fmt.Sprintf("%d ms", cfg.SiteStaleTimeout.Milliseconds()))
		}
	}
	row("Heartbeat Interval", fmt.Sprintf("%d ms", cfg.HeartbeatInterval.Milliseconds()))
	row("Member Timeout", fmt.Sprintf("%d ms", cfg.MemberTimeout.Milliseconds()))
	fmt.Fprintf(w, "===\n")
	cliTitle(w, "Event Channels")
	for _, ch := range cfg.Channels {
		name := ch.Name
		if cfg.DefaultChannels {
			name += " (default: no event channel configured)"
		}
		fmt.Fprintf(w, "%s\n", cliDash)
		fmt.Fprintf(w, "=== Event Channel Name: %s\n", name)
		for _, t := range ch.Publish {
			fmt.Fprintf(w, "=== ==> Publishing Event Type: %s\n", t)
		}
		for _, t := range ch.Subscribe {
			fmt.Fprintf(w, "=== ==> Subscribing to Event Type: %s\n", t)
		}
		fmt.Fprintf(w, "%s\n===\n", cliDash)
	}
	fmt.Fprintf(w, "%s\n\n", cliRule)
}

func (c *Cluster) writeStats(w io.Writer) {
	s := c.Stats()
	fmt.Fprintln(w)
	cliTitle(w, "Cluster Event Counters")
	types := make([]string, 0, len(s.Types))
	for t := range s.Types {
		types = append(types, t)
	}
	sort.Strings(types)
	fmt.Fprintf(w, "=== %-14s %10s %10s %10s %10s %10s %10s\n", "Type", "Sent", "Received", "FromSync", "Applied", "Dropped", "NotPubl")
	for _, t := range types {
		ts := s.Types[t]
		fmt.Fprintf(w, "=== %-14s %10d %10d %10d %10d %10d %10d\n", t, ts.Sent, ts.Received, ts.SyncReceived, ts.Applied, ts.Dropped, ts.Unpublished)
	}
	fmt.Fprintf(w, "===\n")
	fmt.Fprintf(w, "=== Latency: %d events, mean %v, p50 <%v, p99 <%v, max %v\n", s.Latency.Count, s.Latency.Mean, s.Latency.P50, s.Latency.P99, s.Latency.Max)
	fmt.Fprintf(w, "=== Members joined: %d, departed: %d\n", s.Joins, s.Departures)
	fmt.Fprintf(w, "=== Syncs: requested %d, completed %d, served %d (%d events sent)\n", s.SyncRequests, s.SyncsDone, s.SyncServed, s.SyncEventsSent)
	fmt.Fprintf(w, "=== Dropped: own EID %d, not a member %d, stale %d, not subscribed %d\n", s.DroppedOwn, s.DroppedNotMember, s.DroppedStale, s.DroppedUnsubbed)
	fmt.Fprintf(w, "=== Gaps: %d, undecodable: %d, publish errors: %d, slow consumer: %d, duplicate EID: %d\n", s.Gaps, s.DecodeErrors, s.PublishErrors, s.SlowConsumer, s.DuplicateEID)
	fmt.Fprintf(w, "===\n%s\n\n", cliRule)
}
