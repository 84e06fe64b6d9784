package sip

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/cli"
)

// Commands returns the SIP CLI commands.
func (s *Server) Commands() []*cli.Command {
	complete := func(_ *cli.Args, n int, word string) []string {
		if n != 0 {
			return nil
		}
		var out []string
		for _, p := range s.allPeers() {
			if strings.HasPrefix(p.name, word) {
				out = append(out, p.name)
			}
		}
		sort.Strings(out)
		return out
	}
	return []*cli.Command{
		{Words: []string{"sip", "show", "peers"}, Summary: "List defined SIP peers",
			Usage:   "Usage: sip show peers [like <pattern>]\n       Lists all known SIP peers.\n       Optional regular expression pattern is used to filter the peer list.\n",
			Handler: s.cliShowPeers},
		{Words: []string{"sip", "show", "peer"}, Summary: "Show details on specific SIP peer",
			Usage:   "Usage: sip show peer <name> [load]\n       Shows all details on one SIP peer and the current status.\n       Option \"load\" forces lookup of peer in realtime storage.\n",
			Handler: s.cliShowPeer, Complete: complete},
		{Words: []string{"sip", "show", "users"}, Summary: "List defined SIP users",
			Usage:   "Usage: sip show users [like <pattern>]\n       Lists all known SIP users.\n       Optional regular expression pattern is used to filter the user list.\n",
			Handler: s.cliShowUsers},
		{Words: []string{"sip", "show", "inuse"}, Summary: "List all inuse/limits",
			Usage:   "Usage: sip show inuse [all]\n       List all SIP devices usage counters and limits.\n       Add option \"all\" to show all devices, not only those with a limit.\n",
			Handler: s.cliShowInuse},
		{Words: []string{"sip", "show", "channels"}, Summary: "List active SIP channels or subscriptions",
			Usage:   "Usage: sip show channels\n       Lists all currently active SIP calls (dialogs).\n",
			Handler: s.cliShowChannels},
		{Words: []string{"sip", "show", "channelstats"}, Summary: "List statistics for active SIP channels",
			Usage:   "Usage: sip show channelstats\n       Lists all currently active SIP channel's RTCP statistics.\n       Note that calls in the much optimized RTP P2P bridge mode will not show any packets here.",
			Handler: s.cliShowChannelStats},
		{Words: []string{"sip", "show", "locations"}, Summary: "List where SIP peers are registered in the cluster",
			Usage:   "Usage: sip show locations\n       Lists the registrations of the SIP peers on this server and on the other cluster members (Pleiades).\n",
			Handler: s.cliShowLocations},
		{Words: []string{"sip", "show", "subscriptions"}, Summary: "List active SIP subscriptions",
			Usage:   "Usage: sip show subscriptions\n       Lists active SIP subscriptions.\n",
			Handler: s.cliShowSubscriptions},
		{Words: []string{"sip", "show", "settings"}, Summary: "Show SIP global settings",
			Usage:   "Usage: sip show settings\n       Provides detailed list of the configuration of the SIP channel.\n",
			Handler: s.cliShowSettings},
		{Words: []string{"sip", "show", "registry"}, Summary: "List SIP registration status",
			Usage: "Usage: sip show registry\n       Lists all registration requests and status.\n",
			Handler: func(_ context.Context, a *cli.Args) error {
				fmt.Fprintf(a.Out, "%-39.39s %-6.6s %-12.12s  %8.8s %-20.20s %-25.25s\n", "Host", "dnsmgr", "Username", "Refresh", "State", "Reg.Time")
				fmt.Fprintf(a.Out, "0 SIP registrations.\n")
				return nil
			}},
		{Words: []string{"sip", "prune", "realtime"}, Summary: "Prune cached Realtime users/peers",
			Usage:   "Usage: sip prune realtime [peer] [<name>|all|like <pattern>]\n       Prunes object(s) from the cache.\n",
			Handler: s.cliPrune, Complete: complete},
		{Words: []string{"sip", "reload"}, Summary: "Reload SIP configuration",
			Usage:   "Usage: sip reload\n       Reloads SIP configuration from sip.conf\n",
			Handler: s.cliReload},
		{Words: []string{"sip", "set", "debug"}, Summary: "Enable/Disable SIP debugging",
			Usage:   "Usage: sip set debug {on|off|ip addr[:port]|peer peername}\n       Globally disables dumping of SIP packets,\n       or enables it either globally or for a (single)\n       IP address or registered peer.\n",
			Handler: s.cliDebug},
	}
}

func yesNo(b bool) string {
	if b {
		return "Yes"
	}
	return "No"
}

// statusText is chan_sip's peer_status().
func statusText(p *peer) (text string, monitored, online bool) {
	cfg := p.cfg.Load()
	if cfg.qualifyMS > 0 {
		switch {
		case p.status == statusOK && p.lastms > cfg.qualifyMS:
			return fmt.Sprintf("LAGGED (%d ms)", p.lastms), true, true
		case p.status == statusOK:
			return fmt.Sprintf("OK (%d ms)", p.lastms), true, true
		case p.status == statusUnreachable:
			return "UNREACHABLE", true, false
		}
		return "UNKNOWN", true, false
	}
	return "Unmonitored", false, p.addr.IsValid()
}

func (s *Server) sortedPeers() []*peer {
	ps := s.allPeers()
	sort.Slice(ps, func(i, j int) bool { return ps[i].name < ps[j].name })
	return ps
}

// likeArgs reads the optional "like <regex>" of sip show peers/users (POSIX extended, as
// chan_sip's regcomp; Go's syntax in practice).
func likeArgs(rest []string) (*regexp.Regexp, error) {
	switch len(rest) {
	case 0:
		return nil, nil
	case 2:
		if rest[0] != "like" {
			return nil, cli.ErrUsage
		}
		re, err := regexp.Compile(rest[1])
		if err != nil {
			return nil, cli.ErrUsage
		}
		return re, nil
	}
	return nil, cli.ErrUsage
}

// cliShowPeers is chan_sip's "sip show peers" (Asterisk 20's _sip_show_peers): peers (type
// friend and peer) sorted by name, in its columns.
func (s *Server) cliShowPeers(_ context.Context, a *cli.Args) error {
	like, err := likeArgs(a.Rest)
	if err != nil {
		return err
	}
	rtOn := s.rt != nil && s.rt.Mapped("sippeers")
	const format = "%-25.25s %-39.39s %-3.3s %-10.10s %-10.10s %-3.3s %-8s %-11s %-32.32s %s\n"
	rtHdr := ""
	if rtOn {
		rtHdr = "Realtime"
	}
	fmt.Fprintf(a.Out, format, "Name/username", "Host", "Dyn", "Forcerport", "Comedia", "ACL", "Port", "Status", "Description", rtHdr)
	var total, monOn, monOff, unmonOn, unmonOff int
	for _, p := range s.sortedPeers() {
		cfg := p.cfg.Load()
		if cfg.typ == typeUser || (like != nil && !like.MatchString(p.name)) {
			continue
		}
		p.mu.Lock()
		name := p.name
		if u := orDefault(cfg.defaultUser, p.username); u != "" {
			name += "/" + u
		}
		host, port := "(Unspecified)", "0"
		if p.addr.IsValid() {
			host, port = p.addr.Addr().String(), strconv.Itoa(int(p.addr.Port()))
		}
		status, mon, on := statusText(p)
		natDetected, cached := p.natDetected, p.cached
		p.mu.Unlock()
		dyn, aclMark := "   ", "   "
		if cfg.dynamic {
			dyn = " D "
		}
		if cfg.acl != nil {
			aclMark = " A "
		}
		rt := ""
		if rtOn && cfg.realtime {
			rt = "Realtime" // Pleiades keeps uncached realtime peers while registered
			if cached {
				rt = "Cached RT"
			}
		}
		fmt.Fprintf(a.Out, format, name, host, dyn, cfg.nat.rportText(natDetected), cfg.nat.comediaText(natDetected),
			aclMark, port, status, cfg.description, rt)
		total++
		switch {
		case mon && on:
			monOn++
		case mon:
			monOff++
		case on:
			unmonOn++
		default:
			unmonOff++
		}
	}
	fmt.Fprintf(a.Out, "%d sip peers [Monitored: %d online, %d offline Unmonitored: %d online, %d offline]\n", total, monOn, monOff, unmonOn, unmonOff)
	return nil
}

// cliShowUsers is chan_sip's "sip show users": the peers of type friend and user. As in chan_sip
// the secret is shown.
func (s *Server) cliShowUsers(_ context.Context, a *cli.Args) error {
	like, err := likeArgs(a.Rest)
	if err != nil {
		return err
	}
	const format = "%-25.25s  %-15.15s  %-15.15s  %-15.15s  %-5.5s%-10.10s\n"
	fmt.Fprintf(a.Out, format, "Username", "Secret", "Accountcode", "Def.Context", "ACL", "Forcerport")
	for _, p := range s.sortedPeers() {
		cfg := p.cfg.Load()
		if cfg.typ == typePeer || (like != nil && !like.MatchString(p.name)) {
			continue
		}
		p.mu.Lock()
		natDetected := p.natDetected
		p.mu.Unlock()
		fmt.Fprintf(a.Out, format, p.name, cfg.secret, cfg.accountCode, cfg.context, yesNo(cfg.acl != nil), yesNo(cfg.nat.forcesRport(natDetected)))
	}
	return nil
}

// cliShowInuse is chan_sip's "sip show inuse [all]": calls in use/ringing/on hold per peer and
// its call-limit (peers without one only with "all").
func (s *Server) cliShowInuse(_ context.Context, a *cli.Args) error {
	all := len(a.Rest) == 1 && a.Rest[0] == "all"
	const format = "%-25.25s %-15.15s %-15.15s \n"
	fmt.Fprintf(a.Out, format, "* Peer name", "In use", "Limit")
	for _, p := range s.sortedPeers() {
		cfg := p.cfg.Load()
		limit := "N/A"
		if cfg.callLimit > 0 {
			limit = strconv.Itoa(cfg.callLimit)
		}
		if all || cfg.callLimit > 0 {
			p.mu.Lock()
			use := fmt.Sprintf("%d/%d/%d", p.inUse, p.inRinging, p.onHold)
			p.mu.Unlock()
			fmt.Fprintf(a.Out, format, p.name, use, limit)
		}
	}
	return nil
}

// cliShowChannels is chan_sip's "sip show channels": the dialogs that are calls, oldest
// first: the peer's address, its name (a guest: its caller number), the Call-ID, the
// negotiated codec, hold, the last SIP message, and the peer ("<guest>").
func (s *Server) cliShowChannels(_ context.Context, a *cli.Args) error {
	if len(a.Rest) != 0 {
		return cli.ErrUsage
	}
	const format2 = "%-15.15s  %-15.15s  %-15.15s  %-15.15s  %-7.7s  %-15.15s %-10.10s %-10.10s\n"
	const format = "%-15.15s  %-15.15s  %-15.15s  %-15.15s  %-3.3s %-3.3s  %-15.15s %-10.10s %-10.10s\n"
	fmt.Fprintf(a.Out, format2, "Peer", "User/ANR", "Call ID", "Format", "Hold", "Last Message", "Expiry", "Peer")
	cs := s.allCalls()
	sort.Slice(cs, func(i, j int) bool { return cs[i].created.Before(cs[j].created) })
	for _, c := range cs {
		c.mu.Lock()
		codec := "(nothing)"
		if c.neg.Codec.Name != "" {
			codec = "(" + codecName(c.neg.Codec.Name) + ")"
		}
		hold, last := yesNo(c.hold), c.lastMsg
		c.mu.Unlock()
		user, related := c.peerName, "<guest>"
		if c.p != nil {
			related = c.p.name
		} else if c.ch != nil {
			user = orDefault(c.ch.Snapshot().CallerNum, "(None)")
		}
		fmt.Fprintf(a.Out, format, c.addr.Addr().String(), user, c.callID, codec, hold, "", last, "", related)
	}
	fmt.Fprintf(a.Out, "%d active SIP %s%s\n", len(cs), "dialog", ess(len(cs)))
	return nil
}

// cliShowChannelStats is chan_sip's "sip show channelstats": per call with media, the
// peer's address, Call-ID, duration, and packets received/lost/jitter and sent (lost and
// jitter of our stream from the peer's RTCP reports).
func (s *Server) cliShowChannelStats(_ context.Context, a *cli.Args) error {
	if len(a.Rest) != 0 {
		return cli.ErrUsage
	}
	const format2 = "%-15.15s  %-11.11s  %-8.8s %-10.10s  %-10.10s (     %%) %-6.6s %-10.10s  %-10.10s (     %%) %-6.6s\n"
	const format = "%-15.15s  %-11.11s  %-8.8s %-10.10d%-1.1s %-10.10d (%5.2f%%) %-6.4f %-10.10d%-1.1s %-10.10d (%5.2f%%) %-6.4f\n"
	fmt.Fprintf(a.Out, format2, "Peer", "Call ID", "Duration", "Recv: Pack", "Lost", "Jitter", "Send: Pack", "Lost", "Jitter")
	cs := s.allCalls()
	sort.Slice(cs, func(i, j int) bool { return cs[i].created.Before(cs[j].created) })
	n := 0
	for _, c := range cs {
		if c.ms == nil || c.ch == nil {
			continue
		}
		st := c.ms.Stats()
		d := time.Since(c.ch.Created()) / time.Second
		dur := fmt.Sprintf("%02d:%02d:%02d", d/3600, d/60%60, d%60)
		rx, rxK := kilo(st.RxPackets)
		tx, txK := kilo(st.TxPackets)
		fmt.Fprintf(a.Out, format, c.addr.Addr().String(), c.callID, dur,
			rx, rxK, max(st.Lost, 0), percent(max(st.Lost, 0), st.RxPackets), st.Jitter.Seconds(),
			tx, txK, max(st.RemoteLost, 0), percent(max(st.RemoteLost, 0), st.TxPackets), st.RemoteJitter.Seconds())
		n++
	}
	fmt.Fprintf(a.Out, "%d active SIP channel%s\n", n, ess(n))
	return nil
}

// kilo is chan_sip's packet count: in thousands with "K" above 100000.
func kilo(n uint64) (uint64, string) {
	if n > 100000 {
		return n / 1000, "K"
	}
	return n, " "
}

func percent(lost int64, n uint64) float64 {
	if n == 0 {
		return 0
	}
	return float64(lost) * 100 / float64(n)
}

// codecName is Asterisk's name of a codec ("ulaw", "alaw").
func codecName(enc string) string {
	switch strings.ToUpper(enc) {
	case "PCMU":
		return "ulaw"
	case "PCMA":
		return "alaw"
	}
	return strings.ToLower(enc)
}

// ess is Asterisk's ESS(): "s" unless n is 1.
func ess(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func (s *Server) cliShowPeer(ctx context.Context, a *cli.Args) error {
	if len(a.Rest) < 1 || len(a.Rest) > 2 || (len(a.Rest) == 2 && a.Rest[1] != "load") {
		return cli.ErrUsage
	}
	name := a.Rest[0]
	s.mu.RLock()
	p := s.peers[name]
	s.mu.RUnlock()
	if p == nil && len(a.Rest) == 2 {
		var err error
		p, err = s.findPeer(ctx, name)
		if err != nil {
			fmt.Fprintf(a.Out, "Realtime lookup of peer %s failed: %v\n", name, err)
			return cli.ErrFailed
		}
	}
	if p == nil {
		fmt.Fprintf(a.Out, "Peer %s not found.\n", name)
		return nil
	}
	writePeer(a.Out, p, s.set.Load())
	return nil
}

func setOrNot(v string) string {
	if v == "" {
		return "<Not set>"
	}
	return "<Set>"
}

func writePeer(w io.Writer, p *peer, set *settings) {
	cfg := p.cfg.Load()
	line := func(label, format string, args ...any) {
		fmt.Fprintf(w, "  %-13s: %s\n", label, fmt.Sprintf(format, args...))
	}
	fmt.Fprintf(w, "\n\n  * Name       : %s\n", p.name)
	line("Description", "%s", cfg.description)
	line("Secret", "%s", setOrNot(cfg.secret))
	line("MD5Secret", "%s", setOrNot(cfg.md5secret))
	line("Context", "%s", cfg.context)
	sc := cfg.subscribeContext
	if sc == "" {
		sc = "<Not set>"
	}
	line("Subscr.Cont.", "%s", sc)
	line("Mailbox", "%s", strings.Join(cfg.mailboxes, ","))
	line("VM Extension", "%s", cfg.vmExten)
	line("Callerid", "%s", cfg.callerID)
	line("Type", "%s", cfg.typ)
	line("Dynamic", "%s", yesNo(cfg.dynamic))
	line("ACL", "%s", yesNo(cfg.acl != nil))
	line("AllowSubscr.", "%s", yesNo(cfg.allowSubscribe && set.allowSubscribe))
	rt := "No"
	p.mu.Lock()
	if cfg.realtime {
		rt = "Yes"
		if p.cached {
			rt = "Yes (Cached RT)"
		}
	}
	line("Realtime peer", "%s", rt)
	addr := "(null)"
	if p.addr.IsValid() {
		addr = p.addr.String()
	}
	line("Addr->IP", "%s", addr)
	line("Prim.Transp.", "%s", strings.ToUpper(orDefault(p.transport, cfg.transport)))
	line("Def. Username", "%s", orDefault(cfg.defaultUser, p.username))
	status, _, _ := statusText(p)
	line("Status", "%s", status)
	line("Useragent", "%s", p.userAgent)
	line("Reg. Contact", "%s", p.contact)
	if !p.expires.IsZero() {
		line("Reg. Expires", "%d s", max(0, int(time.Until(p.expires).Seconds())))
	}
	p.mu.Unlock()
	line("Qualify Freq", "%d ms", cfg.qualifyFreq.Milliseconds())
	line("Qualify", "%d ms", cfg.qualifyMS)
	line("Keepalive", "%d ms", cfg.keepalive.Milliseconds())
	line("Sess-Timers", "%s", [...]string{stAccept: "Accept", stOriginate: "Originate", stRefuse: "Refuse"}[cfg.st.mode])
	line("Sess-Refresh", "%s", map[bool]string{false: "uas", true: "uac"}[cfg.st.refreshUAC])
	line("Sess-Expires", "%d secs", cfg.st.expires)
	line("Min-Sess", "%d secs", cfg.st.minSE)
	line("Direct media", "%s", [...]string{directNo: "No", directYes: "Yes", directNoNAT: "Yes (nonat)"}[cfg.directMedia])
	fmt.Fprintln(w)
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// cliShowSubscriptions is chan_sip's "sip show subscriptions": the subscriber's address, its
// user, the Call-ID, exten@context (cut at 15 columns, as chan_sip's), the last state told,
// the type, the mailboxes of an MWI subscription and the Expires granted.
func (s *Server) cliShowSubscriptions(_ context.Context, a *cli.Args) error {
	if len(a.Rest) != 0 {
		return cli.ErrUsage
	}
	const format3 = "%-15.15s  %-15.15s  %-15.15s  %-15.15s  %-13.13s  %-15.15s %-10.10s %-6.6s\n"
	const format4 = "%-15.15s  %-15.15s  %-15.15s  %-15.15s  %-13.13s  %-15.15s %-10.10s %-6.6d\n"
	fmt.Fprintf(a.Out, format3, "Peer", "User", "Call ID", "Extension", "Last state", "Type", "Mailbox", "Expiry")
	subs := s.subs.snapshot()
	sort.Slice(subs, func(i, j int) bool { return subs[i].key < subs[j].key })
	for _, sub := range subs {
		sub.mu.Lock()
		granted, st := sub.granted, sub.lastState
		sub.mu.Unlock()
		exten, mailbox, state := sub.exten+"@"+sub.context, "<none>", st.String()
		if sub.kind == kindMWI {
			mailbox = strings.Join(sub.mailboxes, ",")
			exten, state = "--", "<none>"
		}
		fmt.Fprintf(a.Out, format4, sub.addr.Addr().String(), sub.user, sub.callID, exten, state, sub.kind.String(), mailbox, granted)
	}
	fmt.Fprintf(a.Out, "%d active SIP subscription%s\n", len(subs), ess(len(subs)))
	return nil
}

func (s *Server) cliPrune(_ context.Context, a *cli.Args) error {
	args := a.Rest
	if len(args) > 0 && args[0] == "peer" {
		args = args[1:]
	}
	if len(args) != 1 {
		return cli.ErrUsage
	}
	if args[0] == "all" {
		n := s.prune("")
		fmt.Fprintf(a.Out, "%d peers pruned.\n", n)
		return nil
	}
	if s.prune(args[0]) == 0 {
		fmt.Fprintf(a.Out, "Peer '%s' not found.\n", args[0])
		return nil
	}
	fmt.Fprintf(a.Out, "Peer '%s' pruned.\n", args[0])
	return nil
}

func (s *Server) cliReload(ctx context.Context, a *cli.Args) error {
	s.cfgMu.Lock()
	src := s.source
	s.cfgMu.Unlock()
	if src == nil {
		fmt.Fprintln(a.Out, "No sip.conf source is set; nothing reloaded.")
		return cli.ErrFailed
	}
	s.runMu.Lock()
	wasUDP, wasTCP := s.udpAddr, s.tcpAddr
	s.runMu.Unlock()
	cfg, err := src(ctx)
	if err == nil && cfg == nil {
		err = errors.New("sip.conf not found")
	}
	if err == nil {
		err = s.Configure(cfg)
	}
	if err == nil && !s.isRunning() {
		// no sip.conf when the server started: it listens from now on
		if err = s.Start(ctx); err != nil {
			err = fmt.Errorf("configuration applied, but SIP is not listening: %w", err)
		}
	}
	if err != nil {
		fmt.Fprintf(a.Out, "SIP reload failed:\n%v\n", err)
		return cli.ErrFailed
	}
	fmt.Fprintln(a.Out, "SIP configuration reloaded.")
	if udp, tcp := s.Addr(); udp != wasUDP || tcp != wasTCP {
		fmt.Fprintf(a.Out, "SIP now listening on udp %s, tcp %s.\n", udp, orNone(addrOrEmpty(tcp)))
	}
	return nil
}

func (s *Server) cliDebug(_ context.Context, a *cli.Args) error {
	switch {
	case len(a.Rest) == 1 && a.Rest[0] == "on":
		s.debugAll.Store(true)
		s.debugPeer.Store(nil)
		fmt.Fprintln(a.Out, "SIP Debugging enabled")
	case len(a.Rest) == 1 && a.Rest[0] == "off":
		s.debugAll.Store(false)
		s.debugPeer.Store(nil)
		fmt.Fprintln(a.Out, "SIP Debugging Disabled")
	case len(a.Rest) == 2 && a.Rest[0] == "peer":
		s.mu.RLock()
		p := s.peers[a.Rest[1]]
		s.mu.RUnlock()
		if p == nil {
			fmt.Fprintf(a.Out, "No such peer '%s'\n", a.Rest[1])
			return cli.ErrFailed
		}
		p.mu.Lock()
		addr := p.addr
		p.mu.Unlock()
		if !addr.IsValid() {
			fmt.Fprintf(a.Out, "Unable to get IP address of peer '%s'\n", a.Rest[1])
			return cli.ErrFailed
		}
		ip := addr.Addr().String()
		s.debugAll.Store(false)
		s.debugPeer.Store(&ip)
		fmt.Fprintf(a.Out, "SIP Debugging Enabled for IP: %s\n", ip)
	case len(a.Rest) == 2 && a.Rest[0] == "ip":
		ip := a.Rest[1]
		if h, _, ok := strings.Cut(ip, ":"); ok && !strings.Contains(h, "[") {
			ip = h
		}
		s.debugAll.Store(false)
		s.debugPeer.Store(&ip)
		fmt.Fprintf(a.Out, "SIP Debugging Enabled for IP: %s\n", ip)
	default:
		return cli.ErrUsage
	}
	return nil
}

// cliShowSettings is chan_sip's "sip show settings": its sections and labels in its order
// (the labels at column 2, values at column 26), with chan_sip's lines for what Pleiades does
// (registration, subscriptions, authentication, NAT flags, realtime) and for the call and media
// features it does not have yet only where "No" or "Disabled" is the true answer; lines that
// would show a made-up value (codecs, RTP and session timers, QoS, jitterbuffer, T.38) are
// left out. Pleiades' own limits follow under "Pleiades Settings:", before chan_sip's closing
// "----".
func (s *Server) cliShowSettings(_ context.Context, a *cli.Args) error {
	if len(a.Rest) != 0 {
		return cli.ErrUsage
	}
	set := s.set.Load()
	udp, tcp := s.Addr()
	rtPeers := s.rt != nil && s.rt.Mapped("sippeers")
	line := func(label string, format string, args ...any) {
		fmt.Fprintf(a.Out, "  %-24s"+format+"\n", append([]any{label}, args...)...)
	}
	head := func(title, rule string) { fmt.Fprintf(a.Out, "\n%s\n%s\n", title, rule) }
	secs := func(d time.Duration) string { return fmt.Sprintf("%d secs", int(d/time.Second)) }
	listening := func(bind string, at bool) string {
		switch {
		case bind == "":
			return "Disabled"
		case !at:
			return bind + " (not listening)"
		}
		return bind
	}
	fmt.Fprintf(a.Out, "\n")
	head("Global Settings:", "----------------")
	line("UDP Bindaddress:", "%s", listening(set.udpBind, udp.IsValid()))
	line("TCP SIP Bindaddress:", "%s", listening(set.tcpBind, tcp.IsValid()))
	line("TLS SIP Bindaddress:", "Disabled")
	line("RTP Bindaddress:", "Disabled")
	line("Videosupport:", "No")
	line("Textsupport:", "No")
	line("AutoCreate Peer:", "Off")
	line("Match Auth Username:", "No")
	line("Allow unknown access:", "%s", yesNo(set.allowGuest))
	line("Allow subscriptions:", "%s", yesNo(set.allowSubscribe))
	line("Enable call counters:", "%s", yesNo(set.callCounter))
	line("SIP domain support:", "No")
	line("Path support :", "No")
	line("Realm. auth:", "No")
	line("Our auth realm", "%s", set.realm)
	line("Use domains as realms:", "No")
	line("Always auth rejects:", "%s", yesNo(set.alwaysAuthReject))
	line("User Agent:", "%s", set.userAgent)
	line("From: Domain:", "%s", set.fromDomain)
	if rtPeers {
		line("SIP realtime:", "Enabled")
	} else {
		line("SIP realtime:", "Disabled")
	}
	line("Qualify Freq :", "%d ms", int(set.qualifyFreq/time.Millisecond))
	head("Network Settings:", "---------------------------")
	line("SIP address remapping:", "Disabled, no localnet list")
	line("Externhost:", "<none>")
	head("Global Signalling Settings:", "---------------------------")
	line("Symmetric RTP:", "%s", set.nat.comediaText(false))
	line("Reg. min duration", "%d secs", set.minExpiry)
	line("Reg. max duration:", "%d secs", set.maxExpiry)
	line("Reg. default duration:", "%d secs", set.defaultExpiry)
	line("Sub. min duration", "%d secs", set.subMinExpiry)
	line("Sub. max duration:", "%d secs", set.subMaxExpiry)
	ring := yesNo(set.notifyRinging != ringingNo)
	if set.notifyRinging == ringingNotInUse {
		ring += " (when not in use)"
	}
	line("Notify ringing state:", "%s", ring)
	if set.notifyRinging != ringingNo {
		fmt.Fprintf(a.Out, "    %-22s%s\n", "Include CID:", "No")
	}
	line("Notify hold state:", "%s", yesNo(set.notifyHold))
	line("Timer T1:", "%d", int(timerT1/time.Millisecond))
	line("Timer B:", "%d", int(timerF/time.Millisecond))
	line("Max forwards:", "%d", 70)
	head("Default Settings:", "-----------------")
	line("Allowed transports:", "UDP")
	fmt.Fprintf(a.Out, "  Outbound transport:\t  %s\n", "UDP") // sic: chan_sip's tab
	line("Context:", "%s", set.context)
	line("Force rport:", "%s", set.nat.rportText(false))
	line("Qualify:", "%d", set.qualify)
	line("Keepalive:", "%d", int(set.keepalive/time.Second))
	line("Voice Mail Extension:", "%s", set.vmExten)
	if rtPeers {
		head("Realtime SIP Settings:", "----------------------")
		line("Realtime Peers:", "%s", yesNo(rtPeers))
		line("Realtime Regs:", "No")
		line("Cache Friends:", "%s", yesNo(set.rtCacheFriends))
		line("Update:", "%s", yesNo(set.rtUpdate))
		line("Ignore Reg. Expire:", "%s", yesNo(set.ignoreRegExpire))
		line("Save sys. name:", "%s", yesNo(set.rtSaveSysname))
		line("Save path header:", "No")
		if set.rtAutoClear > 0 {
			line("Auto Clear:", "%d (Enabled)", int(set.rtAutoClear/time.Second))
		} else {
			line("Auto Clear:", "%d (Disabled)", 0)
		}
	}
	head("Pleiades Settings:", "------------------")
	line("TCP auth limit:", "%d", set.tcpAuthLimit)
	line("TCP auth timeout:", "%s", secs(set.tcpAuthTimeout))
	line("TCP idle timeout:", "%s", secs(set.tcpIdle))
	if set.maxAuthFailures > 0 {
		line("Max auth failures:", "%d in %s, then blocked %s", set.maxAuthFailures, secs(set.authFailWindow), secs(set.authBlockTime))
	} else {
		line("Max auth failures:", "Unlimited")
	}
	line("Nonce lifetime:", "%s", secs(set.nonceLifetime))
	line("Max subscriptions:", "%d (%d per peer)", set.maxSubscriptions, set.maxSubsPerPeer)
	line("Max RT registrations:", "%d", set.maxRegistrations)
	if set.maxRequests > 0 {
		line("Overload:", "503 (Retry-After %d) past %d requests in progress; now %d, refused %d", set.retryAfter, set.maxRequests,
			s.ovl.inProgress.Load(), s.ovl.refused.Load())
	} else {
		line("Overload:", "No limit; refused %d", s.ovl.refused.Load())
	}
	if set.maxRequestWait > 0 {
		line("Max request wait:", "%d ms in the UDP queue, then 503", set.maxRequestWait/time.Millisecond)
	} else {
		line("Max request wait:", "No limit")
	}
	fmt.Fprintf(a.Out, "\n----\n")
	return nil
}
