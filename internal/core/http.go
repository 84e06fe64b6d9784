package core

import (
	"context"

	"github.com/pleiades-pbx/pleiades/internal/cluster"
	"github.com/pleiades-pbx/pleiades/internal/httpapi"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

// httpModule is the HTTP server: ARI-compatible REST, the event WebSocket, /metrics and the
// BLF board (http.conf, ari.conf).
type httpModule struct {
	srv *httpapi.Server
}

func (*httpModule) Name() string { return "res_http" }
func (*httpModule) Description() string {
	return "HTTP server: REST, WebSocket events, metrics, BLF board"
}

func (m *httpModule) Load(ctx context.Context, s *Server) error {
	deps := httpapi.Deps{
		Bus: s.Bus, DevState: s.DevState, MWI: s.MWI, Hints: s.Hints, Realtime: s.Realtime,
		Version: Version, NodeName: s.Settings.SystemName,
	}
	if s.Cluster != nil {
		deps.Cluster = clusterMembers{s.Cluster}
		deps.NodeName = s.Cluster.NodeName()
	}
	deps.Sources.AMI = func() httpapi.AMIStats {
		if s.AMIStats == nil {
			return httpapi.AMIStats{}
		}
		return s.AMIStats()
	}
	deps.Sources.SIP = func() httpapi.SIPStats {
		if s.SIPStats == nil {
			return httpapi.SIPStats{}
		}
		return s.SIPStats()
	}
	deps.Variables = httpVars{s}
	m.srv = httpapi.New(s.Log, deps)
	m.registerCollectors(s)
	if err := m.configure(s); err != nil {
		return err
	}
	if err := m.srv.Start(ctx); err != nil {
		return err
	}
	s.HTTP = m.srv
	s.CLI.MustRegister(m.srv.Commands()...)
	return nil
}

// registerCollectors puts the state core's metrics on the registry /metrics serves: each
// package has its own collector (AMI's and SIP's counters come through Deps.Sources).
func (m *httpModule) registerCollectors(s *Server) {
	reg := m.srv.Metrics().Registry()
	reg.MustRegister(s.Bus.Collector(), s.DevState.Collector(), s.MWI.Collector(), s.Hints.Collector())
	if s.Cluster != nil {
		reg.MustRegister(s.Cluster.Collector())
	}
	if s.Media != nil {
		reg.MustRegister(s.Media.Collector()) // pleiades_rtp_*: ports in use, relayed, strictrtp drops
	}
	if s.Realtime != nil {
		reg.MustRegister(s.Realtime.Collector())
	}
	if sw := s.RTSwitch; sw != nil {
		reg.MustRegister(realtime.CacheCollector(func() map[string]realtime.CacheStats {
			rows, patterns, hints := sw.CacheStats()
			return map[string]realtime.CacheStats{"rtswitch.rows": rows, "rtswitch.patterns": patterns, "rtswitch.hints": hints}
		}))
	}
}

func (m *httpModule) configure(s *Server) error {
	httpCfg, err := s.loadFile("http.conf")
	if err != nil {
		return err
	}
	ariCfg, err := s.loadFile("ari.conf")
	if err != nil {
		return err
	}
	return m.srv.Configure(httpCfg, ariCfg)
}

func (m *httpModule) Reload(_ context.Context, s *Server) error { return m.configure(s) }

func (m *httpModule) Unload(context.Context) error {
	if m.srv != nil {
		m.srv.Close()
	}
	return nil
}

// clusterMembers adapts the cluster to what the HTTP server shows.
type clusterMembers struct{ c *cluster.Cluster }

func member(m cluster.Member) httpapi.Member {
	hm := httpapi.Member{Name: m.NodeName, EID: m.EID, State: "up", LastHeartbeat: m.LastHeartbeat, Self: m.Self, Site: m.Site}
	if len(m.Addrs) > 0 {
		hm.Address = m.Addrs[0]
	}
	switch {
	case m.Stale:
		hm.State = "stale"
	case !m.Synced:
		hm.State = "syncing"
	}
	return hm
}

func (c clusterMembers) Members() []httpapi.Member {
	links := map[string]string{}
	for _, l := range c.c.SiteLinks() {
		links[l.Site] = "down"
		if l.Up {
			links[l.Site] = "up"
		}
	}
	var out []httpapi.Member
	for _, m := range c.c.Members() {
		hm := member(m)
		hm.SiteLink = links[m.Site]
		out = append(out, hm)
	}
	return out
}

func (c clusterMembers) OnMembershipChange(f func(httpapi.MemberEvent)) func() {
	c.c.OnMember(func(ev cluster.MemberEvent) {
		change := "joined"
		if ev.Kind == cluster.MemberLeft {
			change = "left"
		}
		f(httpapi.MemberEvent{Change: change, Member: member(ev.Member), Reason: ev.Reason})
	})
	return nil
}

// httpVars are ARI's /asterisk/variable: an HTTP user is never privileged (as every ARI
// request in Asterisk runs with escalations inhibited), so functions that escalate are
// refused unless live_dangerously.
type httpVars struct{ s *Server }

func (h httpVars) GetVar(name string) (string, error) {
	v, err := dialplanVars{h.s, "HTTP/ari"}.get(name, false)
	return v, refusal(err, httpapi.ErrForbidden)
}

func (h httpVars) SetVar(name, value string) error {
	return refusal(dialplanVars{h.s, "HTTP/ari"}.set(name, value, false), httpapi.ErrForbidden)
}
