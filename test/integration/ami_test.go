package integration

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/test/testenv"
)

const managerUser = "[general]\nenabled = yes\nbindaddr = 127.0.0.1\nport = %d\n\n[admin]\nsecret = amp111\nread = all\nwrite = all\n"

// startAMICluster starts two clustered servers with the Manager interface on; it returns them
// and their AMI ports.
func startAMICluster(t *testing.T) ([]*Node, []int) {
	t.Helper()
	routes := freePorts(t, 2)
	amiPorts := freePorts(t, 2)
	var nodes []*Node
	for i := range 2 {
		nd := NewNode(t, fmt.Sprintf("entityid = 02:00:00:00:07:%02x\nsystemname = node%d", i+1, i+1), map[string]string{
			"extensions.conf": seedDialplan,
			"cluster.conf":    clusterConf(i, routes, ""),
			"manager.conf":    fmt.Sprintf(managerUser, amiPorts[i]),
		})
		nd.Start()
		nodes = append(nodes, nd)
	}
	for _, nd := range nodes {
		waitMembers(t, nd, 2)
	}
	return nodes, amiPorts
}

// TestAMIWithAnIndependentClient drives both servers' AMI with the npm package
// asterisk-ami-client (test/ami-npm/scenario.js).
func TestAMIWithAnIndependentClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		testenv.Unavailable(t, "node is not installed")
	}
	dir, _ := filepath.Abs(filepath.Join("..", "ami-npm"))
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "asterisk-ami-client")); err != nil {
		install := exec.Command("npm", "ci", "--no-audit", "--no-fund")
		install.Dir = dir
		if out, err := install.CombinedOutput(); err != nil {
			testenv.Unavailable(t, "npm ci failed (no registry?): %v\n%s", err, out)
		}
	}
	_, ports := startAMICluster(t)
	cmd := exec.Command(node, "scenario.js", fmt.Sprint(ports[0]), fmt.Sprint(ports[1]), "admin", "amp111")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	t.Logf("asterisk-ami-client scenario:\n%s", out)
	if err != nil || !strings.Contains(string(out), "ok unknown action") {
		t.Fatalf("scenario failed: %v", err)
	}
}

// amiConn is a minimal AMI client for checks the npm scenario does not cover.
type amiConn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialAMI(t *testing.T, port int) *amiConn {
	t.Helper()
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	a := &amiConn{t: t, c: c, r: bufio.NewReader(c)}
	banner, _ := a.r.ReadString('\n')
	if banner != "Asterisk Call Manager/11.0.0\r\n" {
		t.Fatalf("banner %q", banner)
	}
	return a
}

func (a *amiConn) send(kv ...string) {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", kv[i], kv[i+1])
	}
	b.WriteString("\r\n")
	a.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := a.c.Write([]byte(b.String())); err != nil {
		a.t.Fatal(err)
	}
}

// read returns the next packet as ordered "Key: Value" lines.
func (a *amiConn) read() []string {
	a.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var lines []string
	for {
		l, err := a.r.ReadString('\n')
		if err != nil {
			a.t.Fatalf("reading AMI: %v (so far %q)", err, lines)
		}
		l = strings.TrimRight(l, "\r\n")
		if l == "" {
			if len(lines) == 0 {
				continue
			}
			return lines
		}
		lines = append(lines, l)
	}
}

// until reads packets until one contains every want line.
func (a *amiConn) until(want ...string) []string {
	a.t.Helper()
	for {
		p := a.read()
		joined := "\n" + strings.Join(p, "\n") + "\n"
		all := true
		for _, w := range want {
			if !strings.Contains(joined, "\n"+w+"\n") {
				all = false
			}
		}
		if all {
			return p
		}
	}
}

func TestAMIAuthAndBadInput(t *testing.T) {
	_, ports := startAMICluster(t)
	a := dialAMI(t, ports[0])
	a.send("Action", "Ping", "ActionID", "early")
	a.until("Response: Error", "ActionID: early")
	a.send("Action", "Login", "Username", "admin", "Secret", "wrong")
	a.until("Response: Error", "Message: Authentication failed")
	// Garbage and a long line do not take the server down.
	g := dialAMI(t, ports[0])
	g.c.Write([]byte("\x00\xff\xfe garbage\r\n" + strings.Repeat("x", 1<<20) + "\r\n\r\n"))
	g.c.Close()
	b := dialAMI(t, ports[0])
	b.send("Action", "Login", "Username", "admin", "Secret", "amp111", "Events", "off")
	b.until("Response: Success", "Message: Authentication accepted")
	b.send("Action", "Command", "Command", "core show version", "ActionID", "v")
	p := b.until("ActionID: v")
	if !strings.Contains(strings.Join(p, "\n"), "Output: Pleiades") {
		t.Fatalf("Command: %q", p)
	}
}

// TestAMISurvivesTenThousandHalfOpenConnections opens 10,000 TCP connections that never log
// in, from another loopback address (127.0.0.2); a real client (127.0.0.1) still logs in and
// gets answers, and the server stays up. The server holds at most authlimitperaddress
// unauthenticated connections per address and closes the rest at accept.
func TestAMISurvivesTenThousandHalfOpenConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("10k connections in -short mode")
	}
	nodes, ports := startAMICluster(t)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	attacker := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	for i := 0; i < 10000; i++ {
		c, err := attacker.Dial("tcp", addr)
		if err != nil {
			// The kernel's accept backlog can refuse some while the server sheds the rest:
			// that is the point; keep going.
			continue
		}
		conns = append(conns, c)
	}
	t.Logf("%d of 10000 half-open connections accepted by the kernel", len(conns))
	b := dialAMI(t, ports[0])
	b.send("Action", "Login", "Username", "admin", "Secret", "amp111", "Events", "off")
	b.until("Response: Success", "Message: Authentication accepted")
	b.send("Action", "Ping", "ActionID", "alive")
	b.until("Response: Success", "Ping: Pong", "ActionID: alive")
	if out := nodes[0].MustRX("manager show connected"); !strings.Contains(out, "admin") {
		t.Fatalf("manager show connected:\n%s", out)
	}
}

// TestAMIClusterMemberEvents: a server that leaves the cluster is announced on the other's
// AMI as ClusterMemberLeave, and one that comes back as ClusterMemberJoin.
func TestAMIClusterMemberEvents(t *testing.T) {
	nodes, ports := startAMICluster(t)
	a := dialAMI(t, ports[0])
	a.send("Action", "Login", "Username", "admin", "Secret", "amp111", "Events", "system")
	a.until("Response: Success")
	nodes[1].MustRX("core stop gracefully")
	p := a.until("Event: ClusterMemberLeave", "Node: node2")
	if !strings.Contains(strings.Join(p, "\n"), "EntityID: 02:00:00:00:07:02") {
		t.Fatalf("leave event: %q", p)
	}
	if err := nodes[1].Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	nodes[1].Start()
	a.until("Event: ClusterMemberJoin", "Node: node2")
}
