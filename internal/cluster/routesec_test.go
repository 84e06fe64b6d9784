package cluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/test/testcert"
)

// pki is a cluster CA with certificates for tests, and a second CA nobody trusts.
type pki struct {
	dir              string
	ca, other        *testcert.CA
	good, good2      testcert.Files
	foreign, expired testcert.Files
	serverOnly       testcert.Files
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir()}
	var err error
	must := func(f testcert.Files, e error) testcert.Files {
		t.Helper()
		if e != nil {
			t.Fatal(e)
		}
		return f
	}
	if p.ca, err = testcert.NewCA(p.dir, "cluster"); err != nil {
		t.Fatal(err)
	}
	if p.other, err = testcert.NewCA(p.dir, "other"); err != nil {
		t.Fatal(err)
	}
	p.good = must(p.ca.Issue("good", testcert.Options{}))
	p.good2 = must(p.ca.Issue("good2", testcert.Options{}))
	p.foreign = must(p.other.Issue("foreign", testcert.Options{}))
	p.expired = must(p.ca.Issue("expired", testcert.Options{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)}))
	p.serverOnly = must(p.ca.Issue("serveronly", testcert.Options{ServerOnly: true}))
	return p
}

func TestParseRouteSecurity(t *testing.T) {
	p := newPKI(t)
	junk := filepath.Join(p.dir, "junk.pem")
	os.WriteFile(junk, []byte("not a certificate\n"), 0o600)
	tlsKeys := func(ca string, f testcert.Files) string {
		return fmt.Sprintf("route_tls_ca = %s\nroute_tls_cert = %s\nroute_tls_key = %s\n", ca, f.Cert, f.Key)
	}

	t.Run("good", func(t *testing.T) {
		c, err := parseCfg(t, "cluster.conf", "[general]\nlisten = 0.0.0.0:6222\n"+tlsKeys(p.ca.CertFile, p.good)+
			"route_user = pbx\nroute_password = s3cret\nclient_listen = 127.0.0.1:4223\nclient_user = tools\nclient_password = t00ls\nstrict_members = yes\n", false)
		if err != nil {
			t.Fatal(err)
		}
		if c.RouteTLSCA != p.ca.CertFile || c.RouteTLSCert != p.good.Cert || c.RouteTLSKey != p.good.Key ||
			c.RouteUser != "pbx" || c.RoutePassword != "s3cret" || c.ClientUser != "tools" || c.ClientPassword != "t00ls" || !c.StrictMembers {
			t.Errorf("%+v", c)
		}
		if w := c.SecurityWarnings(); len(w) != 0 {
			t.Errorf("warnings for a secured server: %q", w)
		}
	})
	t.Run("relative names are resolved against the file's directory", func(t *testing.T) {
		cfg, err := conf.Parse(filepath.Join(p.dir, "cluster.conf"), []byte("[general]\nlisten = 127.0.0.1:6222\n"+
			tlsKeys("cluster-ca.pem", testcert.Files{Cert: "good.pem", Key: "good-key.pem"})), conf.Options{})
		if err != nil {
			t.Fatal(err)
		}
		c, err := ParseConfig(cfg, false)
		if err != nil {
			t.Fatal(err)
		}
		if c.RouteTLSCert != p.good.Cert {
			t.Errorf("route_tls_cert %q, want %q", c.RouteTLSCert, p.good.Cert)
		}
	})

	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{"trio incomplete", "[general]\nlisten = :6222\nroute_tls_cert = /c.pem\nroute_tls_key = /k.pem\n", []string{
			"cluster.conf:3: route_tls_ca, route_tls_cert, route_tls_key go together: route_tls_ca missing"}},
		{"missing file", "[general]\nlisten = :6222\n" + tlsKeys(filepath.Join(p.dir, "nope.pem"), p.good), []string{
			"cluster.conf:3: route_tls_ca: open " + filepath.Join(p.dir, "nope.pem")}},
		{"CA file is not PEM", "[general]\nlisten = :6222\n" + tlsKeys(junk, p.good), []string{
			"cluster.conf:3: route_tls_ca: " + junk + " holds no PEM certificate"}},
		{"key does not match", "[general]\nlisten = :6222\n" + tlsKeys(p.ca.CertFile, testcert.Files{Cert: p.good.Cert, Key: p.good2.Key}), []string{
			"cluster.conf:4: route_tls_cert: " + p.good.Cert + " with " + p.good2.Key + ": tls: private key does not match public key"}},
		{"missing key file", "[general]\nlisten = :6222\n" + tlsKeys(p.ca.CertFile, testcert.Files{Cert: p.good.Cert, Key: junk + "x"}), []string{
			"cluster.conf:5: route_tls_key: open "}},
		{"certificate of another CA", "[general]\nlisten = :6222\n" + tlsKeys(p.ca.CertFile, p.foreign), []string{
			"cluster.conf:4: route_tls_cert: " + p.foreign.Cert + " is not signed by the cluster CA " + p.ca.CertFile}},
		{"expired certificate", "[general]\nlisten = :6222\n" + tlsKeys(p.ca.CertFile, p.expired), []string{
			"cluster.conf:4: route_tls_cert: " + p.expired.Cert + " expired on "}},
		{"server-only certificate", "[general]\nlisten = :6222\n" + tlsKeys(p.ca.CertFile, p.serverOnly), []string{
			"cluster.conf:4: route_tls_cert: " + p.serverOnly.Cert + " must allow both server and client authentication"}},
		{"route security without listen", "[general]\n" + tlsKeys(p.ca.CertFile, p.good) + "route_user = a\nroute_password = b\n", []string{
			"cluster.conf:2: route_tls_ca secures the route port: it needs listen=host:port (or gateway_listen)",
			"cluster.conf:5: route_user secures the route port: it needs listen=host:port (or gateway_listen)"}},
		{"user without password", "[general]\nlisten = :6222\nroute_user = pbx\nclient_listen = :4223\nclient_password = x\n", []string{
			"cluster.conf:3: route_user, route_password go together: route_password missing",
			"cluster.conf:5: client_user, client_password go together: client_user missing"}},
		{"client user without client_listen", "[general]\nclient_user = a\nclient_password = b\n", []string{
			"cluster.conf:2: client_user protects the client_listen port: it needs client_listen=host:port"}},
		{"bad user and empty password", "[general]\nlisten = :6222\nroute_user = a:b\nroute_password =\n", []string{
			"cluster.conf:3: route_user 'a:b' must be non-empty, without spaces, ':', '@' or '/'",
			"cluster.conf:4: route_password is empty"}},
		{"route keys in external mode", "[general]\nmode = external\nroute_user = a\n", []string{
			"cluster.conf:3: 'route_user' applies only to mode=embedded"}},
		{"strict_members", "[general]\nstrict_members = maybe\n", []string{
			"cluster.conf:2: strict_members must be yes or no, not 'maybe'"}},
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

func TestSecurityWarnings(t *testing.T) {
	for _, tc := range []struct {
		text string
		want []string
	}{
		{"listen = 0.0.0.0:6222\n", []string{"listen=0.0.0.0:6222 is reachable from other hosts and its routes are neither encrypted nor authenticated"}},
		{"listen = :6222\n", []string{"listen=:6222 is reachable"}},
		{"listen = 10.0.0.1:6222\nclient_listen = 10.0.0.1:4223\n", []string{"listen=10.0.0.1:6222", "client_listen=10.0.0.1:4223 is reachable from other hosts without a password"}},
		{"listen = 10.0.0.1:6222\nroute_user = a\nroute_password = b\n", nil},
		{"listen = 127.0.0.1:6222\nclient_listen = localhost:4223\n", nil},
		{"listen = [::1]:6222\n", nil},
		{"", nil},
	} {
		c, err := parseCfg(t, "cluster.conf", "[general]\n"+tc.text, false)
		if err != nil {
			t.Fatal(err)
		}
		w := c.SecurityWarnings()
		if len(w) != len(tc.want) {
			t.Errorf("%q: warnings %q, want %d", tc.text, w, len(tc.want))
			continue
		}
		for i := range w {
			if !strings.Contains(w[i], tc.want[i]) {
				t.Errorf("%q: warning %q, want %q", tc.text, w[i], tc.want[i])
			}
		}
	}
}

// A server listening on every address without route security says so at start.
func TestStartWarnsOpenRoutePort(t *testing.T) {
	n := newNode(t, "a", 1)
	n.c.cfg.Listen = "0.0.0.0:0"
	n.start(t)
	if !n.logs.has("WARN a: Cluster: listen=0.0.0.0:0 is reachable from other hosts") {
		t.Error("no warning about the open route port")
	}
}

func withRouteTLS(p *pki, f testcert.Files) nodeOpt {
	return func(c *Config) { c.RouteTLSCA, c.RouteTLSCert, c.RouteTLSKey = p.ca.CertFile, f.Cert, f.Key }
}

func withRouteUser(user, pass string) nodeOpt {
	return func(c *Config) { c.RouteUser, c.RoutePassword = user, pass }
}

// Members with the cluster CA's certificates and the route password mesh and share state.
func TestRouteTLSAndAuthMesh(t *testing.T) {
	p := newPKI(t)
	a := newNode(t, "a", 1, withRouteTLS(p, p.good), withRouteUser("pbx", "s3cret")).start(t)
	b := newNode(t, "b", 2, withRouteTLS(p, p.good2), withRouteUser("pbx", "s3cret"), withRoutes(a.routeURL())).start(t)
	meshed(t, 5*time.Second, a, b)
	a.set(TypeDeviceState, "Custom:x", "INUSE")
	waitFor(t, 2*time.Second, "b applies a's INUSE", func() bool {
		return b.local.state(TypeDeviceState, "Custom:x", a.eid) == "INUSE"
	})
}

// A server with a certificate of another CA, or with the wrong route password, cannot route
// in: it never becomes a member, its state is never applied, and the server logs why.
func TestRogueRoutesRefused(t *testing.T) {
	p := newPKI(t)
	secure := []nodeOpt{withRouteTLS(p, p.good), withRouteUser("pbx", "s3cret")}
	for _, tc := range []struct {
		name  string
		rogue []nodeOpt
		log   string
	}{
		{"no security at all", nil, "refused a connection from 127.0.0.1:"},
		{"certificate of another CA", []nodeOpt{func(c *Config) {
			c.RouteTLSCA, c.RouteTLSCert, c.RouteTLSKey = p.other.CertFile, p.foreign.Cert, p.foreign.Key
		}, withRouteUser("pbx", "s3cret")}, "route TLS handshake failed"},
		{"wrong password", []nodeOpt{withRouteTLS(p, p.good2), withRouteUser("pbx", "guess")},
			"route authentication failed (wrong or missing route_user/route_password)"},
		{"password only, no TLS", []nodeOpt{withRouteUser("pbx", "s3cret")}, "route TLS handshake failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newNode(t, "a", 1, secure...).start(t)
			b := newNode(t, "b", 2, append(secure, withRoutes(a.routeURL()))...).start(t)
			meshed(t, 5*time.Second, a, b)
			r := newNode(t, "rogue", 9, append(tc.rogue, withRoutes(a.routeURL()))...).start(t)
			r.set(TypeDeviceState, "Custom:x", "INUSE")
			waitFor(t, 5*time.Second, "a logs the refusal", func() bool { return a.logs.has(tc.log) })
			time.Sleep(300 * time.Millisecond) // a few heartbeats of the rogue
			for _, n := range []*node{a, b} {
				if n.hasMember(r.eid) || n.local.state(TypeDeviceState, "Custom:x", r.eid) != "" {
					t.Errorf("%s took the rogue in: members %v", n.name, n.c.Members())
				}
			}
			if r.hasMember(a.eid) {
				t.Errorf("the rogue sees a")
			}
		})
	}
}

// The loopback client port that routing needs is not open to anonymous NATS clients; a
// client_listen port with client_user takes only that user.
func TestClientPortNeedsPassword(t *testing.T) {
	hidden := newNode(t, "a", 1).start(t)
	url := "nats://" + hidden.c.srv.Addr().String()
	if nc, err := nats.Connect(url, nats.NoReconnect()); err == nil {
		nc.Close()
		t.Fatalf("anonymous connection to the hidden client port %s accepted", url)
	}

	tools := newNode(t, "b", 2, func(c *Config) {
		c.ClientListen, c.ClientUser, c.ClientPassword = "127.0.0.1:0", "tools", "t00ls"
	}, withRoutes(hidden.routeURL())).start(t)
	meshed(t, 5*time.Second, hidden, tools)
	url = "nats://" + tools.c.ClientAddr().String()
	if nc, err := nats.Connect(url, nats.NoReconnect()); err == nil {
		nc.Close()
		t.Fatalf("anonymous connection to client_listen %s accepted", url)
	}
	waitFor(t, 2*time.Second, "the refusal is logged", func() bool {
		return tools.logs.has("NATS client authentication failed (wrong or missing client_user/client_password)")
	})
	nc, err := nats.Connect(url, nats.UserInfo("tools", "t00ls"), nats.NoReconnect())
	if err != nil {
		t.Fatalf("client_user refused: %v", err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync("test.>")
	if err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	tools.set(TypeDeviceState, "Custom:y", "INUSE")
	if _, err := sub.NextMsg(2 * time.Second); err != nil {
		t.Errorf("client_user sees no cluster traffic: %v", err)
	}
}

// A second server announcing a live member's Entity ID under another node name is reported;
// with strict_members it is ignored, without it the newer start takes the ID.
func TestTakenEntityID(t *testing.T) {
	for _, strict := range []bool{true, false} {
		t.Run(fmt.Sprintf("strict=%v", strict), func(t *testing.T) {
			a := newNode(t, "a", 1, func(c *Config) { c.StrictMembers = strict }).start(t)
			b := newNode(t, "b", 2, withRoutes(a.routeURL())).start(t)
			meshed(t, 5*time.Second, a, b)
			b.set(TypeDeviceState, "Custom:x", "INUSE")
			waitFor(t, 2*time.Second, "a applies b's state", func() bool {
				return a.local.state(TypeDeviceState, "Custom:x", b.eid) == "INUSE"
			})
			intruder := newNode(t, "intruder", 2, withRoutes(a.routeURL())).start(t)
			intruder.set(TypeDeviceState, "Custom:x", "RINGING")
			waitFor(t, 3*time.Second, "a reports the taken ID", func() bool {
				return a.logs.has("Node intruder (started ") && a.logs.has("announces Entity ID 02:00:00:00:00:02, which member b holds")
			})
			// Without strict_members the intruder takes the ID, and then b is the one reported.
			if ids := a.c.TakenIDs(); len(ids) != 1 || (strict && ids[0].Node != "intruder") || ids[0].Ignored != strict {
				t.Errorf("TakenIDs %+v", ids)
			}
			var out strings.Builder
			a.c.writeMembers(&out)
			if !regexp.MustCompile(`=== WARNING: node (intruder|b) announces Entity ID 02:00:00:00:00:02 of member (b|intruder)`).MatchString(out.String()) {
				t.Errorf("cluster show members:\n%s", out.String())
			}
			time.Sleep(300 * time.Millisecond)
			var holder string
			for _, m := range a.c.Members() {
				if m.EID == b.eid {
					holder = m.NodeName
				}
			}
			got := a.local.state(TypeDeviceState, "Custom:x", b.eid)
			if strict && (holder != "b" || got != "INUSE") {
				t.Errorf("strict: the ID is held by %q with state %q, want b INUSE", holder, got)
			}
			if !strict && holder != "intruder" {
				t.Errorf("not strict: the ID is held by %q, want the newer start (intruder)", holder)
			}
		})
	}
}
