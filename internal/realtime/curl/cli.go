package curl

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/cli"
)

// Commands returns "realtime show curl status" (Asterisk has no status command for curl).
func (d *Driver) Commands() []*cli.Command {
	return []*cli.Command{{
		Words:   []string{"realtime", "show", "curl", "status"},
		Summary: "Shows the web services the curl RealTime driver has used",
		Usage: "Usage: realtime show curl status\n" +
			"       Shows the settings of " + ConfigFile + " and, for every URL used since start,\n" +
			"       requests, errors (unreachable), mean latency and the last error.\n",
		Handler: d.status,
	}}
}

// URLStatus is what the status command shows for one base URL.
type URLStatus struct {
	URL                           string
	Requests, Errors, Unavailable uint64
	Mean                          time.Duration
	LastError                     string
	LastErrorAt                   time.Time
}

// Status returns the counters of every base URL used since start, sorted by URL.
func (d *Driver) Status() []URLStatus {
	d.statsMu.Lock()
	defer d.statsMu.Unlock()
	out := make([]URLStatus, 0, len(d.stats))
	for u, s := range d.stats {
		st := URLStatus{URL: u, Requests: s.requests.Load(), Errors: s.errors.Load(), Unavailable: s.unavailable.Load()}
		if st.Requests > 0 {
			st.Mean = time.Duration(s.nanos.Load() / int64(st.Requests))
		}
		s.mu.Lock()
		st.LastError, st.LastErrorAt = s.lastErr, s.lastErrAt
		s.mu.Unlock()
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].URL < out[j].URL })
	return out
}

func (d *Driver) status(ctx context.Context, a *cli.Args) error {
	if len(a.Rest) != 0 {
		return cli.ErrUsage
	}
	s := d.Settings()
	verify := "yes"
	if !s.VerifyPeer {
		verify = "no"
	}
	fmt.Fprintf(a.Out, "conntimeout %s, httptimeout %s, ssl_verifypeer %s, keep-alive connections per host %d\n",
		s.ConnTimeout, s.HTTPTimeout, verify, s.MaxConns)
	st := d.Status()
	if len(st) == 0 {
		fmt.Fprintln(a.Out, "No URL used yet.")
		return nil
	}
	for _, u := range st {
		fmt.Fprintf(a.Out, "%s: %d requests, %d errors (%d unreachable), mean %s\n",
			u.URL, u.Requests, u.Errors, u.Unavailable, u.Mean.Round(time.Microsecond))
		if u.LastError != "" {
			fmt.Fprintf(a.Out, "  last error %s: %s\n", u.LastErrorAt.Format("2006-01-02 15:04:05"), u.LastError)
		}
	}
	return nil
}
