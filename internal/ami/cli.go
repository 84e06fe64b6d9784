package ami

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"

	"github.com/pleiades-pbx/pleiades/internal/cli"
)

// ReloadFunc reloads manager.conf for "manager reload"; the lead sets it with SetReloader
// (it reads the file and calls Configure).
type ReloadFunc func(ctx context.Context) error

// SetReloader sets what "manager reload" runs.
func (s *Server) SetReloader(f ReloadFunc) {
	s.mu.Lock()
	s.reloader = f
	s.mu.Unlock()
}

// Commands returns the "manager ..." CLI commands, with Asterisk's output shapes, and
// Pleiades' "manager show queues".
func (s *Server) Commands() []*cli.Command {
	return []*cli.Command{
		{Words: []string{"manager", "show", "connected"}, Summary: "List connected manager interface users",
			Usage:   "Usage: manager show connected\n\tPrints a listing of the users that are currently connected to the\nAsterisk manager interface.\n",
			Handler: s.cliShowConnected},
		{Words: []string{"manager", "show", "users"}, Summary: "List configured manager users",
			Usage:   "Usage: manager show users\n       Prints a listing of all managers that are currently configured on that\n system.\n",
			Handler: s.cliShowUsers},
		{Words: []string{"manager", "show", "user"}, Summary: "Display information on a specific manager user",
			Usage:   " Usage: manager show user <user>\n        Display all information related to the manager user specified.\n",
			Handler: s.cliShowUser, Complete: s.completeUser},
		{Words: []string{"manager", "show", "commands"}, Summary: "List manager interface commands",
			Usage:   "Usage: manager show commands\n\tPrints a listing of all the available Asterisk manager interface commands.\n",
			Handler: s.cliShowCommands},
		{Words: []string{"manager", "reload"}, Summary: "Reload manager configurations",
			Usage:   "Usage: manager reload\n       Reloads the manager configuration.\n",
			Handler: s.cliReload},
		{Words: []string{"manager", "show", "queues"}, Summary: "Show the event queue of each manager session",
			Usage: "Usage: manager show queues\n       Prints, for every manager session, the depth of its event queue, its high\n" +
				"       water mark, the events queued and the events lost when it was cut off,\n       then the server's totals.\n",
			Handler: s.cliShowQueues},
	}
}

func connFD(c net.Conn) int {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return -1
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1
	}
	fd := -1
	rc.Control(func(f uintptr) { fd = int(f) })
	return fd
}

func (s *Server) cliShowConnected(ctx context.Context, a *cli.Args) error {
	const f1 = "  %-15.15s  %-55.55s  %-10.10s  %-10.10s  %-8.8s  %-8.8s  %-10.10s  %-10.10s\n"
	const f2 = "  %-15.15s  %-55.55s  %-10d  %-10d  %-8d  %-8d  %-10.10d  %-10.10d\n"
	fmt.Fprintf(a.Out, f1, "Username", "IP Address", "Start", "Elapsed", "FileDes", "HttpCnt", "ReadPerms", "WritePerms")
	now := s.clock().Unix()
	list := s.sessionList()
	for _, ss := range list {
		ss.mu.Lock()
		var start int64
		if !ss.loginTime.IsZero() {
			start = ss.loginTime.Unix()
		}
		fmt.Fprintf(a.Out, f2, ss.username, ss.remote.Addr().String(), start, now-start, connFD(ss.conn), 0,
			int(ss.readPerm), int(ss.writePerm))
		ss.mu.Unlock()
	}
	fmt.Fprintf(a.Out, "%d users connected.\n", len(list))
	return nil
}

func (s *Server) cliShowUsers(ctx context.Context, a *cli.Args) error {
	if len(a.Rest) != 0 {
		return cli.ErrUsage
	}
	cfg := s.cfg.Load()
	if len(cfg.userOrder) == 0 {
		fmt.Fprint(a.Out, "There are no manager users.\n")
		return nil
	}
	fmt.Fprint(a.Out, "\nusername\n--------\n")
	for _, u := range cfg.userOrder {
		fmt.Fprintf(a.Out, "%s\n", u.name)
	}
	fmt.Fprintf(a.Out, "-------------------\n%d manager users configured.\n", len(cfg.userOrder))
	return nil
}

func (s *Server) completeUser(a *cli.Args, n int, word string) []string {
	if n != 0 {
		return nil
	}
	var out []string
	for _, u := range s.cfg.Load().userOrder {
		if strings.HasPrefix(strings.ToLower(u.name), strings.ToLower(word)) {
			out = append(out, u.name)
		}
	}
	return out
}

func yesno(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func (s *Server) cliShowUser(ctx context.Context, a *cli.Args) error {
	if len(a.Rest) != 1 {
		return cli.ErrUsage
	}
	u := s.cfg.Load().users[strings.ToLower(a.Rest[0])]
	if u == nil {
		fmt.Fprintf(a.Out, "There is no manager called %s\n", a.Rest[0])
		return nil
	}
	secret := "(N/A)"
	if u.hasSecret {
		secret = "<Set>"
	}
	fmt.Fprint(a.Out, "\n")
	fmt.Fprintf(a.Out, "          username: %s\n            secret: %s\n               ACL: %s\n         read perm: %s\n"+
		"        write perm: %s\n   displayconnects: %s\nallowmultiplelogin: %s\n",
		u.name, secret, yesno(len(u.acl) > 0), u.read.UserString(), u.write.UserString(),
		yesno(u.displayConnects), yesno(u.allowMultipleLogin))
	fmt.Fprint(a.Out, "         Variables: \n")
	for _, v := range u.setvars {
		fmt.Fprintf(a.Out, "                 %s = %s\n", v.Key, v.Value)
	}
	if len(u.acl) > 0 {
		fmt.Fprint(a.Out, "ACL: (unnamed)\n---------------------------------------------\n")
		for i, r := range u.acl {
			sense := " deny"
			if r.permit {
				sense = "allow"
			}
			fmt.Fprintf(a.Out, "%3d: %s - %s/%s\n", i, sense, r.prefix.Addr(), netmaskString(r.prefix))
		}
	}
	for _, f := range append(append([]*eventFilter(nil), u.filters.include...), u.filters.exclude...) {
		fmt.Fprintf(a.Out, "       eventfilter: %s\n", f.source)
	}
	return nil
}

func netmaskString(p netip.Prefix) string {
	n := p.Addr().BitLen()
	m := net.CIDRMask(p.Bits(), n)
	if a, ok := netip.AddrFromSlice(m); ok {
		return a.String()
	}
	return fmt.Sprint(p.Bits())
}

func (s *Server) cliShowCommands(ctx context.Context, a *cli.Args) error {
	const hsmc = "  %-*.*s  %-.*s\n"
	nameLen := 1
	for _, act := range actionOrder {
		nameLen = max(nameLen, len(act.name))
	}
	space := max(80-nameLen-4, 0)
	fmt.Fprintf(a.Out, hsmc, nameLen, nameLen, "Action", space, "Synopsis")
	fmt.Fprintf(a.Out, hsmc, nameLen, nameLen, "------", space, "--------")
	for _, act := range actionOrder {
		fmt.Fprintf(a.Out, hsmc, nameLen, nameLen, act.name, space, act.synopsis)
	}
	return nil
}

func (s *Server) cliReload(ctx context.Context, a *cli.Args) error {
	if len(a.Rest) > 0 {
		return cli.ErrUsage
	}
	s.mu.Lock()
	f := s.reloader
	s.mu.Unlock()
	if f == nil {
		fmt.Fprint(a.Out, "The manager configuration cannot be reloaded here.\n")
		return cli.ErrFailed
	}
	if err := f(ctx); err != nil {
		fmt.Fprintf(a.Out, "Manager reload failed, keeping the running configuration:\n%v\n", err)
		return cli.ErrFailed
	}
	return nil
}

func (s *Server) cliShowQueues(ctx context.Context, a *cli.Args) error {
	const f = "%-6s %-15.15s %-40.40s %7s %7s %10s %8s\n"
	cfg := s.cfg.Load()
	fmt.Fprintf(a.Out, f, "ID", "Username", "Address", "Depth", "HighWtr", "Queued", "Lost")
	for _, ss := range s.sessionList() {
		st := ss.stats()
		ss.mu.Lock()
		name := ss.username
		ss.mu.Unlock()
		if name == "" {
			name = "(login)"
		}
		fmt.Fprintf(a.Out, "%-6d %-15.15s %-40.40s %7d %7d %10d %8d\n", ss.id, name, ss.remote.String(),
			st.depth, st.highWater, st.enqueued, st.lost)
	}
	t := s.Stats()
	fmt.Fprintf(a.Out, "%d sessions (%d logged in, %d authenticating); queue size %d events per session\n",
		t.Sessions, t.Authenticated, t.Unauthenticated, cfg.queueSize)
	fmt.Fprintf(a.Out, "Events published: %d; slow clients cut off: %d (events lost: %d); connections refused: %d; failed logins: %d\n",
		t.Published, t.SlowClientsCut, t.EventsLost, t.Rejected, t.FailedLogins)
	return nil
}
