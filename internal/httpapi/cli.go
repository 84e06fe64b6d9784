package httpapi

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/pleiades-pbx/pleiades/internal/cli"
)

// Commands returns "http show status", "ari show status" and "ari show users", with
// Asterisk's output shapes.
func (s *Server) Commands() []*cli.Command {
	return []*cli.Command{
		{Words: []string{"http", "show", "status"}, Summary: "Display HTTP server status",
			Usage:   "Usage: http show status\n       Lists status of internal HTTP engine\n",
			Handler: s.cliHTTPStatus},
		{Words: []string{"ari", "show", "status"}, Summary: "Show ARI settings",
			Usage:   "Usage: ari show status\n       Shows all ARI settings\n",
			Handler: s.cliARIStatus},
		{Words: []string{"ari", "show", "users"}, Summary: "List ARI users",
			Usage:   "Usage: ari show users\n       Shows all ARI users\n",
			Handler: s.cliARIUsers},
	}
}

func (s *Server) cliHTTPStatus(ctx context.Context, a *cli.Args) error {
	if len(a.Rest) != 0 {
		return cli.ErrUsage
	}
	st := s.cfg.Load()
	w := a.Out
	fmt.Fprintf(w, "HTTP Server Status:\n")
	fmt.Fprintf(w, "Prefix: %s\n", st.prefix)
	fmt.Fprintf(w, "Server: %s\n", st.serverName)
	addr, tlsAddr := s.Addr(), s.TLSAddr()
	if addr == "" {
		fmt.Fprintf(w, "Server Disabled\n\n")
	} else {
		fmt.Fprintf(w, "Server Enabled and Bound to %s\n\n", addr)
		if tlsAddr != "" {
			fmt.Fprintf(w, "HTTPS Server Enabled and Bound to %s\n\n", tlsAddr)
		}
	}
	fmt.Fprintf(w, "Enabled URI's:\n")
	for _, u := range uris {
		if !st.ariEnabled && (strings.HasPrefix(u.path, "/ari") || strings.HasPrefix(u.path, "/api")) {
			continue
		}
		if !st.board && strings.HasPrefix(u.path, "/board") {
			continue
		}
		fmt.Fprintf(w, "%s%s => %s\n", st.prefix, u.path, u.description)
	}
	fmt.Fprintf(w, "\nEnabled Redirects:\n")
	for _, r := range st.redirects {
		fmt.Fprintf(w, "  %s => %s\n", r.from, r.to)
	}
	if len(st.redirects) == 0 {
		fmt.Fprintf(w, "  None.\n")
	}
	fmt.Fprintf(w, "\nWebSocket event clients: %d\n", s.hub.clientCount())
	return nil
}

func yesNo(b bool) string {
	if b {
		return "Yes"
	}
	return "No"
}

func (s *Server) cliARIStatus(ctx context.Context, a *cli.Args) error {
	if len(a.Rest) != 0 {
		return cli.ErrUsage
	}
	st := s.cfg.Load()
	format := "compact"
	if st.pretty {
		format = "pretty"
	}
	fmt.Fprintf(a.Out, "ARI Status:\n")
	fmt.Fprintf(a.Out, "Enabled: %s\n", yesNo(st.ariEnabled))
	fmt.Fprintf(a.Out, "Output format: %s\n", format)
	fmt.Fprintf(a.Out, "Auth realm: %s\n", st.authRealm)
	fmt.Fprintf(a.Out, "Allowed Origins: %s\n", strings.Join(st.allowedOrigins, ","))
	fmt.Fprintf(a.Out, "User count: %d\n", len(st.users))
	return nil
}

func (s *Server) cliARIUsers(ctx context.Context, a *cli.Args) error {
	if len(a.Rest) != 0 {
		return cli.ErrUsage
	}
	st := s.cfg.Load()
	names := make([]string, 0, len(st.users))
	for n := range st.users {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(a.Out, "r/o?  Username\n")
	fmt.Fprintf(a.Out, "----  --------\n")
	for _, n := range names {
		fmt.Fprintf(a.Out, "%-4s  %s\n", yesNo(st.users[n].readOnly), n)
	}
	return nil
}
