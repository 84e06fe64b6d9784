package integration

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/test/testenv"
)

// freePorts returns n ports free on 127.0.0.1 right now (TCP and UDP).
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for len(ports) < n {
		p := nextPort()
		if portFree(p) {
			ports = append(ports, p)
		}
	}
	return ports
}

// Ports for the servers the tests start come from 22000–31999, below the kernel's ephemeral
// range (32768–60999), so that a port handed out here cannot be taken meanwhile by an
// outgoing connection of this or another test process (a port from :0 is an ephemeral one,
// and was: "bind: address already in use" at a server's start). Each process starts at a
// random place in the range and walks it in steps of portStep; portFree checks TCP and UDP.
var (
	portMu   sync.Mutex
	portNext = 22000 + 8*rand.IntN(1250)
)

// portStep spaces the ports handed out: sipp takes its media port and the three after it
// (RTP and RTCP for audio and video), so no two ports given here may be closer than that.
const portStep = 8

func nextPort() int {
	portMu.Lock()
	defer portMu.Unlock()
	p := portNext
	portNext += portStep
	if portNext >= 32000 {
		portNext = 22000
	}
	return p
}

func portFree(p int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
	if err != nil {
		return false
	}
	l.Close()
	u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p))
	if err != nil {
		return false
	}
	u.Close()
	return true
}

// clusterConf is cluster.conf for node i of a cluster whose route ports are ports.
func clusterConf(i int, ports []int, extra string) string {
	var routes []string
	for j, p := range ports {
		if j != i {
			routes = append(routes, fmt.Sprintf("127.0.0.1:%d", p))
		}
	}
	return fmt.Sprintf(`[general]
mode = embedded
node_name = node%d
listen = 127.0.0.1:%d
routes = %s
heartbeat_interval = 200
member_timeout = 1000
%s
[device_state]
type = event_channel
publish_event = device_state
subscribe_event = device_state

[mwi]
type = event_channel
publish_event = mwi
subscribe_event = mwi
`, i+1, ports[i], strings.Join(routes, ","), extra)
}

// startCluster starts n servers routed together, each with the seed's dialplan.
func startCluster(t *testing.T, n int) []*Node {
	t.Helper()
	ports := freePorts(t, n)
	nodes := make([]*Node, n)
	for i := range nodes {
		nodes[i] = NewNode(t, fmt.Sprintf("entityid = 02:00:00:00:01:%02x\nsystemname = node%d", i+1, i+1), map[string]string{
			"extensions.conf": seedDialplan,
			"cluster.conf":    clusterConf(i, ports, ""),
		})
		nodes[i].Start()
	}
	for _, nd := range nodes {
		waitMembers(t, nd, n)
	}
	return nodes
}

var memberLine = regexp.MustCompile(`(?m)Node Name: node\d+`)

// waitMembers waits until nd's "cluster show members" lists want members.
func waitMembers(t *testing.T, nd *Node, want int) {
	t.Helper()
	eventually(t, 10*time.Second, func() string {
		out := nd.MustRX("cluster show members")
		if got := len(memberLine.FindAllString(out, -1)); got != want {
			return fmt.Sprintf("want %d members, got %d:\n%s", want, got, out)
		}
		return ""
	})
}

func hintState(t *testing.T, nd *Node, want string, within time.Duration) {
	t.Helper()
	re := regexp.MustCompile(`1234@devstate_test\s+: Custom:mystate\s+State:` + regexp.QuoteMeta(want) + `\s`)
	eventually(t, within, func() string {
		out := nd.MustRX("core show hints")
		if !re.MatchString(out) {
			return "want State:" + want + " in:\n" + out
		}
		return ""
	})
}

func TestClusterSeedWalkthroughTwoServers(t *testing.T) {
	n := startCluster(t, 2)
	n[0].MustRX("console dial set_inuse@devstate_test")
	hintState(t, n[1], "InUse", 2*time.Second)
	out := n[1].MustRX("console dial check@devstate_test")
	if !strings.Contains(out, `-- Executing [check@devstate_test:1] NoOp("Console/dsp", "Custom:mystate is INUSE") in new stack`) {
		t.Fatalf("server 2 check:\n%s", out)
	}
	n[0].MustRX("console dial set_not_inuse@devstate_test")
	hintState(t, n[1], "Idle", 2*time.Second)
	if out := n[1].MustRX("console dial check@devstate_test"); !strings.Contains(out, "Custom:mystate is NOT_INUSE") {
		t.Fatalf("server 2 after set_not_inuse:\n%s", out)
	}
	// The seed's and Asterisk's command names are aliases of the same output.
	a := n[0].MustRX("cluster show members")
	for _, alias := range []string{"ais clm show members", "corosync show members"} {
		if b := n[0].MustRX(alias); memberLine.FindAllString(b, -1) == nil || len(memberLine.FindAllString(b, -1)) != len(memberLine.FindAllString(a, -1)) {
			t.Fatalf("%s differs:\n%s\nvs\n%s", alias, b, a)
		}
	}
	if out := n[0].MustRX("ais evt show event channels"); !strings.Contains(out, "device_state") || !strings.Contains(out, "mwi") {
		t.Fatalf("event channels:\n%s", out)
	}
}

func TestClusterAggregation(t *testing.T) {
	n := startCluster(t, 2)
	n[0].MustRX("devstate change Custom:mystate INUSE")
	n[1].MustRX("devstate change Custom:mystate NOT_INUSE")
	for _, nd := range n {
		hintState(t, nd, "InUse", 2*time.Second)
	}
	n[0].MustRX("devstate change Custom:mystate NOT_INUSE")
	for _, nd := range n {
		hintState(t, nd, "Idle", 2*time.Second)
	}
	if out := n[1].MustRX("devstate show Custom:mystate"); !strings.Contains(out, "02:00:00:00:01:01") || !strings.Contains(out, "02:00:00:00:01:02") {
		t.Fatalf("per-server states:\n%s", out)
	}
}

func TestClusterMWI(t *testing.T) {
	n := startCluster(t, 2)
	n[0].MustRX("mwi update 100@default 3 2")
	eventually(t, 2*time.Second, func() string {
		out := n[1].MustRX("mwi show mailboxes")
		if !regexp.MustCompile(`100@default\s+3\s+2\s+0`).MatchString(out) {
			return "server 2 mailboxes:\n" + out
		}
		return ""
	})
	n[0].MustRX("mwi delete 100@default")
	eventually(t, 2*time.Second, func() string {
		if out := n[1].MustRX("mwi show mailboxes"); strings.Contains(out, "100@default") {
			return "deleted mailbox still on server 2:\n" + out
		}
		return ""
	})
}

func TestClusterCrashedServerIsPurged(t *testing.T) {
	n := startCluster(t, 3)
	n[2].MustRX("devstate change Custom:mystate INUSE")
	for _, nd := range n[:2] {
		hintState(t, nd, "InUse", 2*time.Second)
	}
	n[2].cmd.Process.Signal(syscall.SIGKILL)
	killed := time.Now()
	for _, nd := range n[:2] {
		hintState(t, nd, "Idle", 2*time.Second+time.Second) // member_timeout (1 s) + 1 s, plus polling
	}
	t.Logf("idle everywhere %v after SIGKILL", time.Since(killed))
	waitMembers(t, n[0], 2)
}

func TestClusterLateJoin(t *testing.T) {
	ports := freePorts(t, 3)
	var nodes []*Node
	for i := range 3 {
		nodes = append(nodes, NewNode(t, fmt.Sprintf("entityid = 02:00:00:00:02:%02x\nsystemname = node%d", i+1, i+1), map[string]string{
			"extensions.conf": seedDialplan,
			"cluster.conf":    clusterConf(i, ports, ""),
		}))
	}
	nodes[0].Start()
	nodes[1].Start()
	waitMembers(t, nodes[0], 2)
	nodes[0].MustRX("devstate change Custom:mystate INUSE")
	nodes[1].MustRX("mwi update 7@default 1 0")
	hintState(t, nodes[1], "InUse", 2*time.Second)
	nodes[2].Start()
	started := time.Now()
	hintState(t, nodes[2], "InUse", 3*time.Second)
	eventually(t, 2*time.Second, func() string {
		if out := nodes[2].MustRX("mwi show mailboxes"); !strings.Contains(out, "7@default") {
			return "late joiner has no mailbox:\n" + out
		}
		return ""
	})
	t.Logf("late joiner converged %v after its start", time.Since(started))
}

func TestClusterExternalMode(t *testing.T) {
	url := os.Getenv("PLEIADES_TEST_NATS_URL")
	if url == "" {
		url = "nats://127.0.0.1:4222"
	}
	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(url, "nats://"), time.Second); err != nil {
		testenv.Unavailable(t, "NATS unreachable: %v", err)
	} else {
		c.Close()
	}
	name := fmt.Sprintf("plit%d", time.Now().UnixNano())
	var nodes []*Node
	for i := range 2 {
		nd := NewNode(t, fmt.Sprintf("entityid = 02:00:00:00:03:%02x\nsystemname = node%d", i+1, i+1), map[string]string{
			"extensions.conf": seedDialplan,
			"cluster.conf":    fmt.Sprintf("[general]\nmode = external\nnode_name = node%d\ncluster_name = %s\nnats_url = %s\nheartbeat_interval = 200\nmember_timeout = 1000\n", i+1, name, url),
		})
		nd.Start()
		nodes = append(nodes, nd)
	}
	waitMembers(t, nodes[0], 2)
	nodes[0].MustRX("console dial set_inuse@devstate_test")
	hintState(t, nodes[1], "InUse", 2*time.Second)
}

func TestClusterBadConfig(t *testing.T) {
	n := NewNode(t, "entityid = 02:00:00:00:04:01", map[string]string{
		"res_corosync.conf": "[general]\npublish_event = device_state,mwi\nsubscribe_event = device_state,bogus\n",
	})
	out, code := runBinary(t, "", "-f", "-C", n.Conf)
	if code == 0 || !strings.Contains(out, "res_corosync.conf:3") {
		t.Fatalf("bad res_corosync.conf: %d %q", code, out)
	}
}
