package cluster

import (
	"crypto/tls"
	"fmt"
	"net/url"
	"strings"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/pleiades-pbx/pleiades/internal/conf"
)

// isSiteSection tells a [name] type=site section from an event channel.
func isSiteSection(cat *conf.Category) bool {
	for _, v := range cat.Vars {
		if strings.EqualFold(v.Name, "type") && strings.EqualFold(strings.TrimSpace(v.Value), "site") {
			return true
		}
	}
	return false
}

// addSite reads a [name] type=site section.
func (c *Config) addSite(cat *conf.Category, bad func(string, int, string, ...any)) {
	st := Site{Name: cat.Name, File: cat.File, Line: cat.Line}
	if !validToken(cat.Name) {
		bad(cat.File, cat.Line, "site [%s]: a site name must be letters, digits, '-' or '_'", cat.Name)
	}
	seenGW := false
	for _, v := range cat.Vars {
		switch strings.ToLower(v.Name) {
		case "type":
		case "gateways":
			if seenGW {
				bad(v.File, v.Line, "site [%s]: gateways set twice", cat.Name)
				continue
			}
			seenGW = true
			for _, g := range splitList(v.Value) {
				if err := checkHostPort(g, false); err != nil {
					bad(v.File, v.Line, "site [%s]: gateways: %v", cat.Name, err)
					continue
				}
				st.Gateways = append(st.Gateways, g)
			}
			if len(splitList(v.Value)) == 0 {
				bad(v.File, v.Line, "site [%s]: gateways is empty", cat.Name)
			}
		default:
			bad(v.File, v.Line, "unknown option '%s' in site [%s] (type, gateways)", v.Name, cat.Name)
		}
	}
	if !seenGW {
		bad(cat.File, cat.Line, "site [%s] has no gateways=host:port (some of its servers' gateway_listen)", cat.Name)
	}
	for _, o := range c.Sites {
		if strings.EqualFold(o.Name, st.Name) {
			bad(cat.File, cat.Line, "site [%s] defined twice (first at %s:%d)", cat.Name, o.File, o.Line)
		}
	}
	c.Sites = append(c.Sites, st)
}

// checkSites checks site, gateway_listen and the site sections together (ParseConfig).
func (c *Config) checkSites(seen map[string]*conf.Variable, bad func(string, int, string, ...any)) {
	if c.Mode != ModeEmbedded {
		for _, st := range c.Sites {
			bad(st.File, st.Line, "site [%s]: sites apply only to mode=embedded (this file sets mode=%s)", st.Name, c.Mode)
		}
		return
	}
	if v := seen["gateway_listen"]; v != nil && c.Site == "" && seen["site"] == nil {
		bad(v.File, v.Line, "gateway_listen needs site= (the name of this server's site)")
	}
	if v := seen["gateway_advertise"]; v != nil && seen["gateway_listen"] == nil {
		bad(v.File, v.Line, "gateway_advertise needs gateway_listen=host:port")
	}
	if v := seen["site_stale_timeout"]; v != nil && seen["site"] == nil {
		bad(v.File, v.Line, "site_stale_timeout needs site= (it applies to the members of other sites)")
	}
	if seen["site_stale_timeout"] == nil && c.Site != "" {
		c.SiteStaleTimeout = DefaultSiteStaleTimeout
	}
	if c.Site != "" && c.GatewayListen == "" && len(c.Sites) > 0 {
		v := seen["site"]
		bad(v.File, v.Line, "site=%s with other sites needs gateway_listen=host:port (where the other sites connect)", c.Site)
	}
	for _, st := range c.Sites {
		if c.Site == "" {
			bad(st.File, st.Line, "site [%s] needs site= in [general] (the name of this server's site)", st.Name)
		} else if strings.EqualFold(st.Name, c.Site) {
			bad(st.File, st.Line, "site [%s] is this server's own site: list only the other sites", st.Name)
		}
	}
}

// gatewayOpts sets the embedded server's gateway configuration for sites (nothing without):
// the route security (TLS with the cluster CA, route_user/route_password) applies to
// gateways too.
func (c *Config) gatewayOpts(opts *server.Options, tc *tls.Config) {
	if c.Site == "" || c.GatewayListen == "" {
		return
	}
	host, port := splitHP(c.GatewayListen)
	gw := server.GatewayOpts{Name: c.Site, Host: host, Port: port,
		Username: c.RouteUser, Password: c.RoutePassword,
		TLSConfig: tc, TLSTimeout: routeTLSTimeout.Seconds(), Advertise: c.GatewayAdvertise}
	for _, st := range c.Sites {
		r := &server.RemoteGatewayOpts{Name: st.Name, TLSConfig: tc, TLSTimeout: routeTLSTimeout.Seconds()}
		for _, g := range st.Gateways {
			u := &url.URL{Scheme: "nats", Host: g}
			if c.RouteUser != "" {
				u.User = url.UserPassword(c.RouteUser, c.RoutePassword)
			}
			r.URLs = append(r.URLs, u)
		}
		gw.Gateways = append(gw.Gateways, r)
	}
	opts.Gateway = gw
	opts.Cluster.Name = c.Site
}

// SiteLink is the state of the gateway link to another site.
type SiteLink struct {
	Site string
	Up   bool
	// Remote is the address of the other site's server this server's outbound link goes to.
	Remote string
	// Inbound counts the other site's servers connected to this one.
	Inbound int
}

// SiteLinks returns the link state of each configured site, in file order (nil without sites).
func (c *Cluster) SiteLinks() []SiteLink {
	if c.srv == nil || len(c.cfg.Sites) == 0 || c.cfg.GatewayListen == "" {
		return nil
	}
	gz, err := c.srv.Gatewayz(nil)
	if err != nil {
		return nil
	}
	var out []SiteLink
	for _, st := range c.cfg.Sites {
		l := SiteLink{Site: st.Name}
		if o := gz.OutboundGateways[st.Name]; o != nil && o.Connection != nil {
			l.Up = true
			l.Remote = fmt.Sprintf("%s:%d", o.Connection.IP, o.Connection.Port)
		}
		l.Inbound = len(gz.InboundGateways[st.Name])
		out = append(out, l)
	}
	return out
}
