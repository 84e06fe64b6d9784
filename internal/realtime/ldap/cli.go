package ldap

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/cli"
)

// Commands returns Asterisk's "realtime show ldap status".
func (d *Driver) Commands() []*cli.Command {
	return []*cli.Command{{
		Words:   []string{"realtime", "show", "ldap", "status"},
		Summary: "Shows connection information for the LDAP RealTime driver",
		Usage: "Usage: realtime show ldap status\n" +
			"       Shows connection information for the LDAP RealTime driver\n",
		Handler: d.status,
	}}
}

func (d *Driver) status(ctx context.Context, a *cli.Args) error {
	if len(a.Rest) != 0 {
		return cli.ErrUsage
	}
	st := d.st.Load()
	if st == nil {
		io.WriteString(a.Out, "No connection active.\n")
		return nil
	}
	p := st.pool
	u := p.connected.Load()
	if u == nil {
		io.WriteString(a.Out, "No connection active.\n")
	} else {
		user := ""
		if st.cfg.User != "" {
			user = " with username " + st.cfg.User
		}
		since := time.Since(time.Unix(0, p.since.Load()))
		fmt.Fprintf(a.Out, "Connected to '%s', baseDN %s%s for %s.\n", *u, st.cfg.BaseDN, user, uptime(since))
	}
	p.mu.Lock()
	idle := len(p.idle)
	p.mu.Unlock()
	fmt.Fprintf(a.Out, "Pool: %d of %d in use, %d idle; %d connects, %d failed.\n", len(p.sem), cap(p.sem), idle, p.connects.Load(), p.failures.Load())
	if e := p.lastErr.Load(); e != nil {
		fmt.Fprintf(a.Out, "Last error: %s\n", *e)
	}
	return nil
}

// uptime renders d as res_config_ldap does: the largest unit first, down to seconds.
func uptime(d time.Duration) string {
	sec := int64(d / time.Second)
	units := []struct {
		n    int64
		name string
	}{{31536000, "years"}, {86400, "days"}, {3600, "hours"}, {60, "minutes"}}
	var b strings.Builder
	started := false
	for _, u := range units {
		if sec >= u.n || started {
			fmt.Fprintf(&b, "%d %s, ", sec/u.n, u.name)
			sec %= u.n
			started = true
		}
	}
	fmt.Fprintf(&b, "%d seconds", sec)
	return b.String()
}
