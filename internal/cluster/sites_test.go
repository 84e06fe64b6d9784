package cluster

import (
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/eid"
)

func TestParseSites(t *testing.T) {
	c, err := parseCfg(t, "cluster.conf", `[general]
listen = 10.0.0.1:6222
site = berlin
gateway_listen = 10.0.0.1:7222
route_user = pbx
route_password = x

[paris]
type = site
gateways = 10.1.0.1:7222, 10.1.0.2:7222

[device_state]
type = event_channel
publish_event = device_state
`, false)
	if err != nil {
		t.Fatal(err)
	}
	if c.Site != "berlin" || c.GatewayListen != "10.0.0.1:7222" || len(c.Sites) != 1 || c.Sites[0].Name != "paris" ||
		!slices.Equal(c.Sites[0].Gateways, []string{"10.1.0.1:7222", "10.1.0.2:7222"}) || len(c.Channels) != 1 ||
		c.SiteStaleTimeout != DefaultSiteStaleTimeout {
		t.Errorf("%+v", c)
	}
	c, err = parseCfg(t, "cluster.conf", "[general]\nsite = berlin\ngateway_listen = :7222\ngateway_advertise = 203.0.113.5:7222\nsite_stale_timeout = 0\n", false)
	if err != nil || c.GatewayAdvertise != "203.0.113.5:7222" || c.SiteStaleTimeout != 0 {
		t.Errorf("%+v %v", c, err)
	}

	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{"site section without site=", "[paris]\ntype=site\ngateways=a:1\n", []string{
			"cluster.conf:1: site [paris] needs site= in [general]"}},
		{"own site listed", "[general]\nsite=paris\ngateway_listen=:7222\n[paris]\ntype=site\ngateways=a:1\n", []string{
			"cluster.conf:4: site [paris] is this server's own site"}},
		{"site without gateways", "[general]\nsite=berlin\ngateway_listen=:7222\n[paris]\ntype=site\nfoo=1\n", []string{
			"cluster.conf:6: unknown option 'foo' in site [paris] (type, gateways)", "cluster.conf:4: site [paris] has no gateways=host:port"}},
		{"bad gateway and site name", "[general]\nsite=a.b\n[paris]\ntype=site\ngateways=x\n", []string{
			"cluster.conf:2: site 'a.b' must be letters", "cluster.conf:5: site [paris]: gateways: 'x' is not host:port", "cluster.conf:3: site [paris] needs site= in [general]"}},
		{"other sites without gateway_listen", "[general]\nsite=berlin\n[paris]\ntype=site\ngateways=a:1\n", []string{
			"cluster.conf:2: site=berlin with other sites needs gateway_listen=host:port"}},
		{"gateway_listen without site", "[general]\ngateway_listen=:7222\n", []string{
			"cluster.conf:2: gateway_listen needs site="}},
		{"advertise and stale timeout alone", "[general]\ngateway_advertise=a:1\nsite_stale_timeout=1000\n", []string{
			"cluster.conf:2: gateway_advertise needs gateway_listen=host:port", "cluster.conf:3: site_stale_timeout needs site="}},
		{"bad stale timeout and advertise", "[general]\nsite=b\ngateway_listen=:1\nsite_stale_timeout=1m\ngateway_advertise=:0\n", []string{
			"cluster.conf:4: site_stale_timeout must be a number of milliseconds", "cluster.conf:5: gateway_advertise: bad port '0'"}},
		{"site twice", "[general]\nsite=b\ngateway_listen=:1\n[p]\ntype=site\ngateways=a:1\n[P]\ntype=site\ngateways=a:2\n", []string{
			"cluster.conf:7: site [P] defined twice (first at cluster.conf:4)"}},
		{"external mode", "[general]\nmode=external\nsite=b\n[p]\ntype=site\ngateways=a:1\n", []string{
			"cluster.conf:3: 'site' applies only to mode=embedded", "cluster.conf:4: site [p]: sites apply only to mode=embedded"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseCfg(t, "cluster.conf", tc.text, false)
			var el conf.ErrorList
			if !errors.As(err, &el) {
				t.Fatalf("error %v (%T), want conf.ErrorList", err, err)
			}
			if len(el) != len(tc.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(el), len(tc.want), err)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(el[i].Error(), w) {
					t.Errorf("error %d = %q, want prefix %q", i, el[i].Error(), w)
				}
			}
		})
	}
}

func withSite(site string, others ...Site) nodeOpt {
	return func(c *Config) { c.Site, c.GatewayListen, c.Sites = site, "127.0.0.1:0", others }
}

// Two sites of two servers each, joined by NATS gateways with the cluster CA and route
// password: every server sees all four members with their sites, changes cross the sites,
// and each server reports its link to the other site.
func TestTwoSitesOverGateways(t *testing.T) {
	p := newPKI(t)
	sec := []nodeOpt{withRouteTLS(p, p.good), withRouteUser("pbx", "s3cret")}
	b1 := newNode(t, "b1", 1, append(sec, withSite("berlin"))...).start(t)
	b2 := newNode(t, "b2", 2, append(sec, withSite("berlin"), withRoutes(b1.routeURL()))...).start(t)
	gw := b1.c.srv.GatewayAddr().String()
	p1 := newNode(t, "p1", 3, append(sec, withSite("paris", Site{Name: "berlin", Gateways: []string{gw}}))...).start(t)
	p2 := newNode(t, "p2", 4, append(sec, withSite("paris", Site{Name: "berlin", Gateways: []string{gw}}), withRoutes(p1.routeURL()))...).start(t)
	all := []*node{b1, b2, p1, p2}
	meshed(t, 10*time.Second, all...)
	b2.set(TypeDeviceState, "Custom:x", "INUSE")
	for _, n := range []*node{p1, p2} {
		waitFor(t, 2*time.Second, n.name+" applies b2's INUSE", func() bool {
			return n.local.state(TypeDeviceState, "Custom:x", b2.eid) == "INUSE"
		})
	}
	p2.set(TypeMWI, "100@default", "1", "0", "0")
	waitFor(t, 2*time.Second, "b1 applies p2's MWI", func() bool { return b1.local.state(TypeMWI, "100@default", p2.eid) == "1,0,0" })
	for _, m := range b1.c.Members() {
		want := map[string]string{"b1": "berlin", "b2": "berlin", "p1": "paris", "p2": "paris"}[m.NodeName]
		if m.Site != want {
			t.Errorf("b1 sees %s in site %q, want %q", m.NodeName, m.Site, want)
		}
	}
	waitFor(t, 5*time.Second, "p2's link to berlin", func() bool {
		l := p2.c.SiteLinks()
		return len(l) == 1 && l[0].Site == "berlin" && l[0].Up
	})
	var cfgOut strings.Builder
	p2.c.writeConfig(&cfgOut)
	for _, want := range []string{"=== Route Security: mutual TLS (CA " + p.ca.CertFile, ", password of user pbx\n", "=== Site: paris\n", "=== Site berlin: gateways " + gw + "\n"} {
		if !strings.Contains(cfgOut.String(), want) {
			t.Errorf("cluster show config lacks %q:\n%s", want, cfgOut.String())
		}
	}
	if strings.Contains(cfgOut.String(), "s3cret") {
		t.Errorf("cluster show config shows the password:\n%s", cfgOut.String())
	}
	var out strings.Builder
	p2.c.writeMembers(&out)
	if !strings.Contains(out.String(), "=== ==> Site: berlin") || !strings.Contains(out.String(), "=== Site berlin: link up (to 127.0.0.1:") {
		t.Errorf("cluster show members:\n%s", out.String())
	}
}

// A site with the wrong route password cannot open a gateway in.
func TestRogueSiteRefused(t *testing.T) {
	b1 := newNode(t, "b1", 1, withRouteUser("pbx", "s3cret"), withSite("berlin")).start(t)
	gw := b1.c.srv.GatewayAddr().String()
	r := newNode(t, "rogue", 9, withRouteUser("pbx", "guess"), withSite("paris", Site{Name: "berlin", Gateways: []string{gw}})).start(t)
	r.set(TypeDeviceState, "Custom:x", "INUSE")
	waitFor(t, 5*time.Second, "b1 logs the refusal", func() bool {
		return b1.logs.has("Cluster: refused a connection from 127.0.0.1:") && b1.logs.has("gateway authentication failed (wrong or missing route_user/route_password)")
	})
	time.Sleep(300 * time.Millisecond)
	if b1.hasMember(r.eid) || b1.local.state(TypeDeviceState, "Custom:x", r.eid) != "" {
		t.Errorf("b1 took the rogue site in: %v", b1.c.Members())
	}
}

func TestDiffSites(t *testing.T) {
	a, err := parseCfg(t, "c.conf", "[general]\nsite=b\ngateway_listen=:7222\n[p]\ntype=site\ngateways=a:1\n", false)
	if err != nil {
		t.Fatal(err)
	}
	moved, err := parseCfg(t, "c.conf", "\n\n[general]\nsite=b\ngateway_listen=:7222\n[p]\ntype=site\ngateways=a:1\n", false)
	if err != nil {
		t.Fatal(err)
	}
	other, err := parseCfg(t, "c.conf", "[general]\nsite=b\ngateway_listen=:7222\n[p]\ntype=site\ngateways=a:2\n", false)
	if err != nil {
		t.Fatal(err)
	}
	if d := Diff(a, moved); len(d) != 0 {
		t.Errorf("lines moved: Diff = %v", d)
	}
	if d := Diff(a, other); !slices.Equal(d, []string{"sites"}) {
		t.Errorf("gateways changed: Diff = %v", d)
	}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestSiteCutOffStaleThenHeal: two sites whose gateways go through proxies (each site
// advertises its proxy). Cut: each side keeps the other's states, the member marked stale;
// changes made meanwhile (a deletion, a new key) arrive when the link heals, without a
// restart; cut for longer than site_stale_timeout: purged.
func TestSiteCutOffStaleThenHeal(t *testing.T) {
	gb, gp := freeAddr(t), freeAddr(t)
	pxB, pxP := newProxy(t, gb), newProxy(t, gp)
	site := func(name, listen, advertise, other, otherGW string) nodeOpt {
		return func(c *Config) {
			c.Site, c.GatewayListen, c.GatewayAdvertise = name, listen, advertise
			c.Sites = []Site{{Name: other, Gateways: []string{otherGW}}}
			c.SiteStaleTimeout = 2 * time.Second
		}
	}
	b := newNode(t, "b1", 1, site("berlin", gb, pxB.addr(), "paris", pxP.addr())).start(t)
	p := newNode(t, "p1", 2, site("paris", gp, pxP.addr(), "berlin", pxB.addr())).start(t)
	meshed(t, 10*time.Second, b, p)
	b.set(TypeDeviceState, "Custom:b", "INUSE")
	p.set(TypeDeviceState, "Custom:p", "INUSE")
	waitFor(t, 2*time.Second, "exchange", func() bool {
		return b.local.state(TypeDeviceState, "Custom:p", p.eid) == "INUSE" && p.local.state(TypeDeviceState, "Custom:b", b.eid) == "INUSE"
	})
	stale := func(n *node, id eid.EID) bool {
		for _, m := range n.c.Members() {
			if m.EID == id {
				return m.Stale
			}
		}
		return false
	}

	pxB.setCut(true)
	pxP.setCut(true)
	waitFor(t, 3*time.Second, "both sides mark the other stale", func() bool { return stale(b, p.eid) && stale(p, b.eid) })
	if b.local.state(TypeDeviceState, "Custom:p", p.eid) != "INUSE" || p.local.state(TypeDeviceState, "Custom:b", b.eid) != "INUSE" {
		t.Fatal("a stale member's states were not kept")
	}
	var out strings.Builder
	b.c.writeMembers(&out)
	if !strings.Contains(out.String(), "=== ==> State: stale (site paris unreachable; states kept, purged in ") {
		t.Errorf("cluster show members:\n%s", out.String())
	}
	p.set(TypeDeviceState, "Custom:p")            // deleted while cut off
	p.set(TypeDeviceState, "Custom:q", "RINGING") // new while cut off
	pxB.setCut(false)
	pxP.setCut(false)
	took := waitFor(t, 5*time.Second, "resynchronised after the heal", func() bool {
		return !stale(b, p.eid) && !stale(p, b.eid) && b.local.state(TypeDeviceState, "Custom:p", p.eid) == "" &&
			b.local.state(TypeDeviceState, "Custom:q", p.eid) == "RINGING" && p.local.state(TypeDeviceState, "Custom:b", b.eid) == "INUSE"
	})
	t.Logf("converged %v after the link came back", took)
	if b.c.Stats().Departures != 0 {
		t.Error("a member was purged during a cut shorter than site_stale_timeout")
	}

	pxB.setCut(true)
	pxP.setCut(true)
	waitFor(t, 6*time.Second, "purged after site_stale_timeout", func() bool {
		return !b.hasMember(p.eid) && b.local.state(TypeDeviceState, "Custom:q", p.eid) == "" && !p.hasMember(b.eid)
	})
	if !b.logs.has("Node p1 (02:00:00:00:00:02) of site paris stayed unreachable for site_stale_timeout (2000 ms): its states are purged") {
		t.Error("no purge line")
	}
}
