package integration

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/test/testcert"
	"github.com/pleiades-pbx/pleiades/test/testenv"
)

// natsServerBinary finds a plain nats-server (Debian's package installs /usr/sbin/nats-server).
func natsServerBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nats-server"); err == nil {
		return "/usr/sbin/nats-server"
	}
	testenv.Unavailable(t, "no nats-server binary")
	return ""
}

// startProcess runs a helper process until the test ends.
func startProcess(t *testing.T, argv ...string) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	out, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(out.Name())
			t.Logf("%s:\n%s", argv[0], b)
		}
	})
}

// logFrom returns what nd wrote to log/messages.log from offset on.
func logFrom(nd *Node, offset int) string {
	b, _ := os.ReadFile(filepath.Join(nd.Dir, "log", "messages.log"))
	if offset > len(b) {
		return ""
	}
	return string(b[offset:])
}

func logSize(nd *Node) int {
	fi, err := os.Stat(filepath.Join(nd.Dir, "log", "messages.log"))
	if err != nil {
		return 0
	}
	return int(fi.Size())
}

// TestClusterRogueRoutesRefused: two servers with mutual route TLS (a cluster CA) and a route
// password share state; then, one at a time, a plain nats-server routing in, a nats-server
// with an expired certificate of the cluster CA, a Pleiades server with the wrong route
// password and one with a certificate of another CA try to join. Each is refused with a log
// line on the server it reached, and a state changed on the rogue side is never seen on the
// good servers.
func TestClusterRogueRoutesRefused(t *testing.T) {
	natsServer := natsServerBinary(t)
	dir := t.TempDir()
	ca, err := testcert.NewCA(dir, "cluster")
	if err != nil {
		t.Fatal(err)
	}
	other, err := testcert.NewCA(dir, "other")
	if err != nil {
		t.Fatal(err)
	}
	issue := func(ca *testcert.CA, name string, o testcert.Options) testcert.Files {
		f, err := ca.Issue(name, o)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	secure := func(caFile string, f testcert.Files, password string) string {
		return fmt.Sprintf("route_tls_ca = %s\nroute_tls_cert = %s\nroute_tls_key = %s\nroute_user = pbx\nroute_password = %s\n",
			caFile, f.Cert, f.Key, password)
	}

	ports := freePorts(t, 2)
	var good []*Node
	for i := range 2 {
		nd := NewNode(t, fmt.Sprintf("entityid = 02:00:00:00:18:%02x\nsystemname = node%d", i+1, i+1), map[string]string{
			"extensions.conf": seedDialplan,
			"logger.conf":     sampleLogger,
			"cluster.conf":    clusterConf(i, ports, secure(ca.CertFile, issue(ca, fmt.Sprintf("node%d", i+1), testcert.Options{}), "s3cret")),
		})
		nd.Start()
		good = append(good, nd)
	}
	for _, nd := range good {
		waitMembers(t, nd, 2)
	}
	// The secured routes carry state.
	good[0].MustRX("devstate change Custom:mystate INUSE")
	hintState(t, good[1], "InUse", 3*time.Second)
	good[0].MustRX("devstate change Custom:mystate NOT_INUSE")
	hintState(t, good[1], "Idle", 3*time.Second)
	if out := logFrom(good[0], 0); strings.Contains(out, "is reachable from other hosts") {
		t.Errorf("a secured loopback server warns:\n%s", out)
	}

	// rogueBehind starts a Pleiades server in external mode on a rogue NATS server's client
	// port: what it publishes reaches whatever that NATS server is routed to.
	rogueBehind := func(natsPort int) *Node {
		nd := NewNode(t, "entityid = 02:00:00:00:18:99\nsystemname = rogue", map[string]string{
			"extensions.conf": seedDialplan,
			"cluster.conf": fmt.Sprintf("[general]\nmode = external\nnode_name = rogue\nnats_url = nats://127.0.0.1:%d\n"+
				"heartbeat_interval = 200\nmember_timeout = 1000\n", natsPort),
		})
		nd.Start()
		return nd
	}
	// refused checks that the rogue's INUSE stays away from the good servers and that server 1
	// logged a refusal with want in it since offset.
	refused := func(t *testing.T, rogue *Node, offset int, want string) {
		t.Helper()
		rogue.MustRX("devstate change Custom:mystate INUSE")
		eventually(t, 10*time.Second, func() string {
			out := logFrom(good[0], offset)
			for _, l := range strings.Split(out, "\n") {
				if strings.Contains(l, "Cluster: refused a connection from 127.0.0.1:") && strings.Contains(l, want) {
					return ""
				}
			}
			return "no refusal with " + want + " in server 1's log:\n" + out
		})
		time.Sleep(time.Second) // five of the rogue's heartbeats
		for _, nd := range good {
			waitMembers(t, nd, 2)
			hintState(t, nd, "Idle", time.Second)
			if out := nd.MustRX("devstate show Custom:mystate"); strings.Contains(out, "02:00:00:00:18:99") {
				t.Errorf("the rogue's state reached a good server:\n%s", out)
			}
			if out := nd.MustRX("cluster show members"); strings.Contains(out, "02:00:00:00:18:99") {
				t.Errorf("the rogue is a member:\n%s", out)
			}
		}
	}

	t.Run("plain nats-server", func(t *testing.T) {
		p := freePorts(t, 2)
		offset := logSize(good[0])
		startProcess(t, natsServer, "-a", "127.0.0.1", "-p", fmt.Sprint(p[0]), "--cluster_name", "pleiades",
			"--cluster", fmt.Sprintf("nats://127.0.0.1:%d", p[1]), "--routes", fmt.Sprintf("nats-route://127.0.0.1:%d", ports[0]))
		rogue := rogueBehind(p[0])
		refused(t, rogue, offset, "route TLS handshake failed")
	})

	t.Run("nats-server with an expired certificate", func(t *testing.T) {
		p := freePorts(t, 2)
		expired := issue(ca, "expired", testcert.Options{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
		confFile := filepath.Join(dir, "rogue-nats.conf")
		os.WriteFile(confFile, []byte(fmt.Sprintf(`listen: "127.0.0.1:%d"
cluster {
  name: pleiades
  listen: "127.0.0.1:%d"
  routes: ["nats-route://pbx:s3cret@127.0.0.1:%d"]
  authorization { user: pbx, password: s3cret }
  tls { cert_file: %q, key_file: %q, ca_file: %q, verify: true, timeout: 2 }
}
`, p[0], p[1], ports[0], expired.Cert, expired.Key, ca.CertFile)), 0o600)
		offset := logSize(good[0])
		startProcess(t, natsServer, "-c", confFile)
		rogue := rogueBehind(p[0])
		refused(t, rogue, offset, "route TLS handshake failed")
	})

	t.Run("Pleiades with the wrong route password", func(t *testing.T) {
		p := freePorts(t, 1)
		offset := logSize(good[0])
		rogue := NewNode(t, "entityid = 02:00:00:00:18:99\nsystemname = rogue", map[string]string{
			"extensions.conf": seedDialplan,
			"cluster.conf": clusterConf(0, []int{p[0], ports[0]},
				secure(ca.CertFile, issue(ca, "rogue-pw", testcert.Options{}), "guess")),
		})
		rogue.Start()
		refused(t, rogue, offset, "route authentication failed (wrong or missing route_user/route_password)")
	})

	t.Run("Pleiades with a certificate of another CA", func(t *testing.T) {
		p := freePorts(t, 1)
		offset := logSize(good[0])
		rogue := NewNode(t, "entityid = 02:00:00:00:18:99\nsystemname = rogue", map[string]string{
			"extensions.conf": seedDialplan,
			"cluster.conf": clusterConf(0, []int{p[0], ports[0]},
				secure(other.CertFile, issue(other, "rogue-ca", testcert.Options{}), "s3cret")),
		})
		rogue.Start()
		refused(t, rogue, offset, "route TLS handshake failed")
	})
}

// TestClusterOpenRoutePortWarns: listen= on every address with neither route TLS nor a route
// password starts, with a warning at every start.
func TestClusterOpenRoutePortWarns(t *testing.T) {
	p := freePorts(t, 1)
	nd := NewNode(t, "entityid = 02:00:00:00:18:21\nsystemname = open", map[string]string{
		"logger.conf":  sampleLogger,
		"cluster.conf": fmt.Sprintf("[general]\nlisten = 0.0.0.0:%d\n", p[0]),
	})
	for range 2 {
		offset := logSize(nd)
		nd.Start()
		eventually(t, 5*time.Second, func() string {
			if out := logFrom(nd, offset); !strings.Contains(out, "WARNING[") ||
				!strings.Contains(out, fmt.Sprintf("Cluster: listen=0.0.0.0:%d is reachable from other hosts and its routes are neither encrypted nor authenticated", p[0])) {
				return "no warning in:\n" + out
			}
			return ""
		})
		nd.Kill()
	}
}

// TestClusterStrictMembers: a third server started with the Entity ID of server 2 (another
// node name) is reported by server 1 and, with strict_members = yes there, ignored: server 2
// keeps the ID and its state, the intruder's state is never applied.
func TestClusterStrictMembers(t *testing.T) {
	ports := freePorts(t, 3)
	var nodes []*Node
	for i, eidByte := range []int{1, 2, 2} {
		extra := ""
		if i == 0 {
			extra = "strict_members = yes\n"
		}
		nd := NewNode(t, fmt.Sprintf("entityid = 02:00:00:00:19:%02x\nsystemname = node%d", eidByte, i+1), map[string]string{
			"extensions.conf": seedDialplan,
			"logger.conf":     sampleLogger,
			"cluster.conf":    clusterConf(i, ports, extra),
		})
		if i < 2 {
			nd.Start()
		}
		nodes = append(nodes, nd)
	}
	waitMembers(t, nodes[0], 2)
	nodes[1].MustRX("devstate change Custom:mystate INUSE")
	hintState(t, nodes[0], "InUse", 3*time.Second)
	nodes[2].Start()
	nodes[2].MustRX("devstate change Custom:mystate NOT_INUSE")
	eventually(t, 5*time.Second, func() string {
		out := nodes[0].MustRX("cluster show members")
		if !strings.Contains(out, "=== WARNING: node node3 announces Entity ID 02:00:00:00:19:02 of member node2") ||
			!strings.Contains(out, "ignored: strict_members") {
			return "no warning:\n" + out
		}
		return ""
	})
	if out := logFrom(nodes[0], 0); !strings.Contains(out, "Node node3 (started ") || !strings.Contains(out, "announces Entity ID 02:00:00:00:19:02, which member node2 holds: ignored (strict_members)") {
		t.Errorf("no ERROR line in server 1's log:\n%s", out)
	}
	time.Sleep(time.Second)
	hintState(t, nodes[0], "InUse", time.Second)
	if out := nodes[0].MustRX("cluster show members"); strings.Contains(out, "Node Name: node3") || !strings.Contains(out, "Node Name: node2") {
		t.Errorf("server 1's members:\n%s", out)
	}
}

// TestClusterTwoSites: berlin and paris, two servers each routed together, joined by NATS
// gateways under the cluster CA and route password: a change on a berlin server reaches both
// paris servers, paris's reaches berlin, the aggregate holds all four, and cluster show
// members and /api/cluster/members show each member's site and the link.
func TestClusterTwoSites(t *testing.T) {
	dir := t.TempDir()
	ca, err := testcert.NewCA(dir, "cluster")
	if err != nil {
		t.Fatal(err)
	}
	p := freePorts(t, 8) // route and gateway ports: berlin1, berlin2, paris1, paris2
	type srv struct{ name, site, routes, other, otherGW string }
	gw := func(i int) string { return fmt.Sprintf("127.0.0.1:%d", p[2*i+1]) }
	route := func(i int) string { return fmt.Sprintf("127.0.0.1:%d", p[2*i]) }
	servers := []srv{
		{"berlin1", "berlin", route(1), "paris", gw(2)},
		{"berlin2", "berlin", route(0), "paris", gw(2)},
		{"paris1", "paris", route(3), "berlin", gw(0) + "," + gw(1)},
		{"paris2", "paris", route(2), "berlin", gw(1)},
	}
	var nodes []*Node
	var httpPorts []int
	for i, s := range servers {
		cert, err := ca.Issue(s.name, testcert.Options{})
		if err != nil {
			t.Fatal(err)
		}
		routes := ""
		if s.routes != "" {
			routes = "routes = " + s.routes + "\n"
		}
		conf := fmt.Sprintf(`[general]
node_name = %s
site = %s
listen = %s
%sgateway_listen = %s
route_tls_ca = %s
route_tls_cert = %s
route_tls_key = %s
route_user = pbx
route_password = s3cret
heartbeat_interval = 200
member_timeout = 1000

[%s]
type = site
gateways = %s
`, s.name, s.site, route(i), routes, gw(i), ca.CertFile, cert.Cert, cert.Key, s.other, s.otherGW)
		http := freePorts(t, 1)[0]
		nd := NewNode(t, fmt.Sprintf("entityid = 02:00:00:00:1a:%02x\nsystemname = %s", i+1, s.name), map[string]string{
			"extensions.conf": seedDialplan,
			"logger.conf":     sampleLogger,
			"cluster.conf":    conf,
			"http.conf":       fmt.Sprintf("[general]\nenabled = yes\nbindaddr = 127.0.0.1\nbindport = %d\n", http),
			"ari.conf":        "[admin]\ntype = user\npassword = secret\n",
		})
		nd.Start()
		nodes = append(nodes, nd)
		httpPorts = append(httpPorts, http)
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("%s log:\n%s", s.name, logFrom(nd, 0))
			}
		})
	}
	for _, nd := range nodes {
		eventually(t, 15*time.Second, func() string {
			out := nd.MustRX("cluster show members")
			if strings.Count(out, "=== Node Name: ") != 4 {
				return "want 4 members:\n" + out
			}
			return ""
		})
	}
	nodes[1].MustRX("devstate change Custom:mystate INUSE")
	for _, nd := range nodes[2:] {
		hintState(t, nd, "InUse", 3*time.Second)
	}
	nodes[1].MustRX("devstate change Custom:mystate NOT_INUSE")
	nodes[2].MustRX("devstate change Custom:mystate RINGING")
	for _, nd := range []*Node{nodes[0], nodes[1], nodes[3]} {
		hintState(t, nd, "Ringing", 3*time.Second)
	}
	// The aggregate on paris2 holds all four servers' states.
	nodes[0].MustRX("devstate change Custom:mystate NOT_INUSE")
	nodes[3].MustRX("devstate change Custom:mystate NOT_INUSE")
	eventually(t, 3*time.Second, func() string {
		out := nodes[3].MustRX("devstate show Custom:mystate")
		for i := range 4 {
			if !strings.Contains(out, fmt.Sprintf("02:00:00:00:1a:%02x", i+1)) {
				return "not every server's state on paris2:\n" + out
			}
		}
		return ""
	})
	out := nodes[2].MustRX("cluster show members")
	for _, want := range []string{"=== Node Name: berlin1\n=== ==> ID: 02:00:00:00:1a:01\n=== ==> Address: 127.0.0.1:", "=== ==> Site: berlin",
		"=== Node Name: paris1 (this server)", "=== ==> Site: paris", "=== Site berlin: link up (to 127.0.0.1:"} {
		if !strings.Contains(out, want) {
			t.Errorf("paris1's cluster show members lacks %q:\n%s", want, out)
		}
	}
	code, body := request(t, "GET", fmt.Sprintf("http://127.0.0.1:%d/api/cluster/members", httpPorts[0]), "admin", "secret")
	if code != 200 || !strings.Contains(body, `"name":"paris1"`) || !regexp.MustCompile(`"name":"paris1"[^}]*"site":"paris","site_link":"up"`).MatchString(body) ||
		!regexp.MustCompile(`"name":"berlin2"[^}]*"site":"berlin"`).MatchString(body) {
		t.Errorf("/api/cluster/members on berlin1: %d %s", code, body)
	}
}

// TestClusterSitesOverSlowLinkCutAndHeal: berlin (this namespace) and paris (its own network
// namespace) joined by gateways with TLS over a veth pair delayed 40 ms each way by tc netem.
// A change crosses in about 40 ms (the receive latency is logged); the link cut for longer
// than member_timeout leaves each side the other's states, marked stale; healed, they
// converge by themselves; cut for longer than site_stale_timeout, they are purged.
func TestClusterSitesOverSlowLinkCutAndHeal(t *testing.T) {
	const hostIP, nsIP = "10.78.0.1", "10.78.0.2"
	wrap, cut, heal := netns(t, "plsite", hostIP, nsIP)
	// tc netem needs the kernel's sch_netem, which containers often lack: without it the link
	// has no delay and only the latency check is left out (cut, stale and heal still run).
	delayed := true
	for _, args := range [][]string{
		{"qdisc", "add", "dev", "plsiteh", "root", "netem", "delay", "40ms"},
		{"-n", "plsite", "qdisc", "add", "dev", "plsiten", "root", "netem", "delay", "40ms"},
	} {
		if out, err := exec.Command("tc", args...).CombinedOutput(); err != nil {
			t.Logf("no 40 ms delay on the link (tc %s: %v: %s)", strings.Join(args, " "), err, bytes.TrimSpace(out))
			delayed = false
			break
		}
	}
	dir := t.TempDir()
	ca, err := testcert.NewCA(dir, "cluster")
	if err != nil {
		t.Fatal(err)
	}
	ports := freePorts(t, 4)
	type side struct{ name, site, ip, other, otherIP string }
	sides := []side{{"berlin1", "berlin", hostIP, "paris", nsIP}, {"paris1", "paris", nsIP, "berlin", hostIP}}
	var nodes []*Node
	for i, s := range sides {
		cert, err := ca.Issue(s.name, testcert.Options{Hosts: []string{s.ip, "127.0.0.1"}})
		if err != nil {
			t.Fatal(err)
		}
		conf := fmt.Sprintf(`[general]
node_name = %s
site = %s
listen = 127.0.0.1:%d
gateway_listen = %s:%d
route_tls_ca = %s
route_tls_cert = %s
route_tls_key = %s
heartbeat_interval = 200
member_timeout = 1000
site_stale_timeout = 5000

[%s]
type = site
gateways = %s:%d
`, s.name, s.site, ports[2*i], s.ip, ports[2*i+1], ca.CertFile, cert.Cert, cert.Key, s.other, s.otherIP, ports[2*(1-i)+1])
		nd := NewNode(t, fmt.Sprintf("entityid = 02:00:00:00:1b:%02x\nsystemname = %s", i+1, s.name), map[string]string{
			"extensions.conf": seedDialplan, "logger.conf": sampleLogger, "cluster.conf": conf,
		})
		if i == 1 {
			nd.Wrap = wrap
		}
		nd.Start()
		nodes = append(nodes, nd)
	}
	berlin, paris := nodes[0], nodes[1]
	members := func(nd *Node, want int, state string) {
		t.Helper()
		eventually(t, 10*time.Second, func() string {
			out := nd.MustRX("cluster show members")
			if strings.Count(out, "=== Node Name: ") != want || (state != "" && !strings.Contains(out, "=== ==> State: "+state)) {
				return fmt.Sprintf("want %d members (%q):\n%s", want, state, out)
			}
			return ""
		})
	}
	members(berlin, 2, "")
	members(paris, 2, "")
	for i := range 10 {
		st := []string{"INUSE", "NOT_INUSE"}[i%2]
		berlin.MustRX("devstate change Custom:mystate " + st)
		hintState(t, paris, map[string]string{"INUSE": "InUse", "NOT_INUSE": "Idle"}[st], 3*time.Second)
	}
	stats := paris.MustRX("cluster show stats")
	lat := regexp.MustCompile(`=== Latency: \d+ events, mean ([^,]+),`).FindStringSubmatch(stats)
	if lat == nil {
		t.Fatalf("no latency in:\n%s", stats)
	}
	if d, err := time.ParseDuration(lat[1]); delayed && (err != nil || d < 40*time.Millisecond) {
		t.Errorf("mean receive latency %s over a 40 ms link: netem not in effect?", lat[1])
	}
	t.Logf("berlin → paris (link delayed: %v): mean receive latency %s (%s)", delayed, lat[1], strings.TrimSpace(strings.SplitN(stats[strings.Index(stats, "=== Latency"):], "\n", 2)[0]))

	berlin.MustRX("devstate change Custom:mystate INUSE")
	hintState(t, paris, "InUse", 3*time.Second)
	cut()
	members(paris, 2, "stale (site berlin unreachable; states kept, purged in ")
	members(berlin, 2, "stale (site paris unreachable; states kept, purged in ")
	hintState(t, paris, "InUse", time.Second) // kept
	berlin.MustRX("devstate change Custom:mystate NOT_INUSE")
	heal()
	healed := time.Now()
	hintState(t, paris, "Idle", 3*time.Second)
	t.Logf("converged %v after the heal", time.Since(healed))
	eventually(t, 3*time.Second, func() string {
		if out := paris.MustRX("cluster show members"); strings.Contains(out, "stale") {
			return "still stale:\n" + out
		}
		return ""
	})

	berlin.MustRX("devstate change Custom:mystate INUSE")
	hintState(t, paris, "InUse", 3*time.Second)
	cut()
	members(paris, 2, "stale")
	eventually(t, 10*time.Second, func() string {
		if out := paris.MustRX("cluster show members"); strings.Count(out, "=== Node Name: ") != 1 {
			return "not purged after site_stale_timeout:\n" + out
		}
		return ""
	})
	hintState(t, paris, "Idle", time.Second)
}
