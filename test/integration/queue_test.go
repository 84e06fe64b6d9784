package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/realtime/realtimetest"
	"github.com/pleiades-pbx/pleiades/test/testenv"
)

// queueSIPConf: alice and dave call, bob and carol are the members' phones.
const queueSIPConf = `[general]
udpbindaddr = 127.0.0.1:%d
realm = pleiades
context = calls

[alice]
type = friend
host = dynamic
secret = wonderland

[dave]
type = friend
host = dynamic
secret = diver

[bob]
type = friend
host = dynamic
secret = builder

[carol]
type = friend
host = dynamic
secret = chris
`

// queueConf is the queues.conf of the queue tests (also in README.md's Queues section).
const queueConf = `[general]
persistentmembers = no

[sales]
strategy = ringall
timeout = 10
retry = 1
member => SIP/bob
member => SIP/carol

[support]
strategy = linear
timeout = 10
retry = 1
ringinuse = no
member => SIP/bob,0,Bob
member => SIP/carol,0,Carol

[hotline]
strategy = rrmemory
timeout = 2
retry = 1
member => SIP/carol
member => SIP/bob

[desk]
strategy = leastrecent
member => SIP/bob
member => SIP/carol

[nobody]
joinempty = strict
`

const queueDialplan = `[calls]
exten => 300,1,Queue(sales,r)
 same => n,Hangup()
exten => 301,1,Queue(support,r)
 same => n,Hangup()
exten => 303,1,Queue(hotline,r)
 same => n,Hangup()
exten => 304,1,Queue(desk,r)
 same => n,Hangup()
exten => 302,1,Queue(nobody,r)
 same => n,Set(DB(queuestatus/${CALLERID(num)})=${QUEUESTATUS})
 same => n,Hangup()
`

type queueNode struct {
	*Node
	sip string
	ami int
}

func startQueueNode(t *testing.T) *queueNode {
	t.Helper()
	if _, err := os.Stat("/usr/bin/sipp"); err != nil {
		testenv.Unavailable(t, "sipp not installed (Debian sip-tester): %v", err)
	}
	p := freePorts(t, 2)
	nd := NewNode(t, "", map[string]string{
		"sip.conf":        fmt.Sprintf(queueSIPConf, p[0]),
		"rtp.conf":        "[general]\nrtpstart = 21400\nrtpend = 21600\n",
		"extensions.conf": queueDialplan,
		"queues.conf":     queueConf,
		"manager.conf":    fmt.Sprintf(managerUser, p[1]),
	})
	nd.Start()
	noRace(t, nd)
	return &queueNode{Node: nd, sip: fmt.Sprintf("127.0.0.1:%d", p[0]), ami: p[1]}
}

// register registers user from a fresh port and waits for its device to be NOT_INUSE.
func (n *queueNode) register(t *testing.T, user string) int {
	t.Helper()
	port := freePorts(t, 1)[0]
	mustSipp(t, n.sip, "register.xml", "users-"+user+".csv", "-m", "1", "-p", strconv.Itoa(port))
	eventually(t, 10*time.Second, func() string {
		if out := n.MustRX("devstate show SIP/" + user); !strings.Contains(out, "Not in use") {
			return out
		}
		return ""
	})
	return port
}

// queueLog returns the queue_log lines after the first skip ones, without the time field.
func (n *queueNode) queueLog(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(n.Dir, "log", "queue_log"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if _, rest, ok := strings.Cut(l, "|"); ok {
			out = append(out, rest)
		}
	}
	return out
}

type sippRunResult struct {
	out string
	err error
}

// noRace fails the test when the server (built with -race) reported a data race.
func noRace(t *testing.T, nd *Node) {
	t.Cleanup(func() {
		if out := nd.out.String(); strings.Contains(out, "WARNING: DATA RACE") {
			t.Errorf("data race in the server:\n%s", tailOf(out[strings.Index(out, "WARNING: DATA RACE"):], 6000))
		}
	})
}

func goSipp(t *testing.T, addr, scenario, csv string, args ...string) chan sippRunResult {
	c := make(chan sippRunResult, 1)
	go func() {
		out, err := sippRun(t, addr, scenario, csv, args...)
		c <- sippRunResult{out, err}
	}()
	return c
}

func waitSipp(t *testing.T, name string, c chan sippRunResult) {
	t.Helper()
	select {
	case r := <-c:
		if r.err != nil {
			t.Fatalf("sipp %s: %v\n%s", name, r.err, tailOf(r.out, 4000))
		}
	case <-time.After(45 * time.Second):
		t.Fatalf("sipp %s did not finish", name)
	}
}

// queueSummary is one line per event with the fields of queue events.
func queueSummary(ev []string) string {
	s := strings.TrimPrefix(ev[0], "Event: ")
	for _, k := range []string{"Channel", "DestChannel", "Queue", "Interface", "MemberName", "Position", "Count", "Paused", "Reason", "Status"} {
		if v := field(ev, k); v != "" {
			s += " " + k + "=" + v
		}
	}
	return s
}

func matchAll(t *testing.T, what string, lines []string, want ...string) {
	t.Helper()
	if msg := inOrder(lines, want...); msg != "" {
		t.Errorf("%s: %s\n%s", what, msg, strings.Join(lines, "\n"))
	}
}

// TestQueueRingallThroughTheBinary: alice calls queue sales (ringall); bob and carol ring
// at once, bob answers, carol's phone gets a CANCEL; alice talks and hangs up.
// queue_log: ENTERQUEUE, CONNECT, COMPLETECALLER; AMI: AgentCalled for both, AgentConnect,
// AgentComplete.
func TestQueueRingallThroughTheBinary(t *testing.T) {
	n := startQueueNode(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server output:\n%s", tailOf(n.out.String(), 4000))
		}
	})
	rec := recordAMI(t, n.ami)
	bobPort := n.register(t, "bob")
	carolPort := n.register(t, "carol")
	if strings.Contains(n.out.String(), "Unknown application 'Queue'") {
		t.Errorf("Queue() warned about as unknown at load:\n%s", n.out.String())
	}
	if out := n.MustRX("queue show sales"); !regexp.MustCompile(`(?s)sales has 0 calls \(max unlimited\) in 'ringall' strategy.*Members: \n\s+SIP/bob \(ringinuse enabled\) \(Not in use\) has taken no calls yet`).MatchString(out) {
		t.Errorf("queue show sales:\n%s", out)
	}
	mark := rec.mark()
	bob := goSipp(t, n.sip, "queue-member.xml", "users-bob.csv", "-m", "1", "-p", strconv.Itoa(bobPort), "-mp", mediaPort(t), "-rtp_echo")
	carol := goSipp(t, n.sip, "call-noanswer.xml", "users-carol.csv", "-m", "1", "-p", strconv.Itoa(carolPort))
	time.Sleep(500 * time.Millisecond)
	alice := goSipp(t, n.sip, "queue-caller.xml", "users-alice.csv", "-m", "1", "-s", "300", "-au", "alice", "-ap", "wonderland", "-mp", mediaPort(t), "-d", "1500")
	waitSipp(t, "alice", alice)
	waitSipp(t, "bob", bob)
	waitSipp(t, "carol", carol)

	eventually(t, 10*time.Second, func() string {
		if out := n.MustRX("queue show sales"); !strings.Contains(out, "C:1, A:0") || !strings.Contains(out, "SIP/bob (ringinuse enabled) (Not in use) has taken 1 calls") {
			return out
		}
		return ""
	})
	matchAll(t, "queue_log", n.queueLog(t),
		`^NONE\|NONE\|NONE\|QUEUESTART\|$`,
		`^\S+\|sales\|NONE\|ENTERQUEUE\|\|alice\|1$`,
		`^\S+\|sales\|SIP/bob\|CONNECT\|\d+\|\S+\|\d+$`,
		`^\S+\|sales\|SIP/bob\|COMPLETECALLER\|\d+\|\d+\|1$`,
	)
	var lines []string
	for _, ev := range rec.since(mark) {
		lines = append(lines, queueSummary(ev))
	}
	matchAll(t, "AMI", lines,
		`^QueueCallerJoin Channel=SIP/alice-.* Queue=sales Position=1 Count=1`,
		`^AgentCalled Channel=SIP/alice-\S+ DestChannel=SIP/bob-\S+ Queue=sales Interface=SIP/bob`,
		`^AgentCalled Channel=SIP/alice-\S+ DestChannel=SIP/carol-\S+ Queue=sales Interface=SIP/carol`,
		`^AgentConnect Channel=SIP/alice-.*DestChannel=SIP/bob-.* Queue=sales Interface=SIP/bob`,
		`^AgentComplete Channel=SIP/alice-.* Queue=sales Interface=SIP/bob.* Reason=caller`,
	)
}

// TestQueueLinearSkipsMemberInCall: queue support (linear, ringinuse=no): alice's call goes
// to bob, the first member; while bob talks to alice, dave's call skips bob (his device is
// in use) and goes to carol.
func TestQueueLinearSkipsMemberInCall(t *testing.T) {
	n := startQueueNode(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server output:\n%s", tailOf(n.out.String(), 4000))
		}
	})
	rec := recordAMI(t, n.ami)
	bobPort := n.register(t, "bob")
	carolPort := n.register(t, "carol")
	mark := rec.mark()
	bob := goSipp(t, n.sip, "queue-member.xml", "users-bob.csv", "-m", "1", "-p", strconv.Itoa(bobPort), "-mp", mediaPort(t), "-rtp_echo")
	time.Sleep(500 * time.Millisecond)
	alice := goSipp(t, n.sip, "queue-caller.xml", "users-alice.csv", "-m", "1", "-s", "301", "-au", "alice", "-ap", "wonderland", "-mp", mediaPort(t), "-d", "10000")
	eventually(t, 10*time.Second, func() string {
		if out := n.MustRX("devstate show SIP/bob"); !strings.Contains(out, "In use") {
			return out
		}
		return ""
	})
	carol := goSipp(t, n.sip, "queue-member.xml", "users-carol.csv", "-m", "1", "-p", strconv.Itoa(carolPort), "-mp", mediaPort(t), "-rtp_echo")
	time.Sleep(500 * time.Millisecond)
	dave := goSipp(t, n.sip, "queue-caller.xml", "users-dave.csv", "-m", "1", "-s", "301", "-au", "dave", "-ap", "diver", "-mp", mediaPort(t), "-d", "1000")
	waitSipp(t, "dave", dave)
	waitSipp(t, "carol", carol)
	waitSipp(t, "alice", alice)
	waitSipp(t, "bob", bob)

	log := n.queueLog(t)
	matchAll(t, "queue_log", log,
		`^\S+\|support\|NONE\|ENTERQUEUE\|\|alice\|1$`,
		`^\S+\|support\|Bob\|CONNECT\|`,
		`^\S+\|support\|NONE\|ENTERQUEUE\|\|dave\|1$`,
		`^\S+\|support\|Carol\|CONNECT\|`,
		`^\S+\|support\|Carol\|COMPLETECALLER\|`,
		`^\S+\|support\|Bob\|COMPLETECALLER\|`,
	)
	for _, l := range log {
		if strings.Contains(l, "RINGNOANSWER") {
			t.Errorf("no member should have been rung in vain: %s", l)
		}
	}
	var lines []string
	for _, ev := range rec.since(mark) {
		lines = append(lines, queueSummary(ev))
	}
	called := 0
	for _, l := range lines {
		if strings.HasPrefix(l, "AgentCalled ") {
			called++
		}
	}
	if called != 2 {
		t.Errorf("want 2 AgentCalled (bob for alice, carol for dave):\n%s", strings.Join(lines, "\n"))
	}
	matchAll(t, "AMI", lines,
		`^AgentCalled Channel=SIP/alice-.* Interface=SIP/bob`,
		`^AgentCalled Channel=SIP/dave-.* Interface=SIP/carol`,
	)
}

// TestQueueCallerHangsUpWhileRinging: bob is not registered (UNAVAILABLE, skipped); carol
// rings; alice hangs up: carol's phone gets its CANCEL, ABANDON is logged. A queue whose
// members cannot answer refuses callers with joinempty (QUEUESTATUS JOINEMPTY).
func TestQueueCallerHangsUpWhileRinging(t *testing.T) {
	n := startQueueNode(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server output:\n%s", tailOf(n.out.String(), 4000))
		}
	})
	carolPort := n.register(t, "carol")
	carol := goSipp(t, n.sip, "call-noanswer.xml", "users-carol.csv", "-m", "1", "-p", strconv.Itoa(carolPort))
	time.Sleep(500 * time.Millisecond)
	alice := goSipp(t, n.sip, "queue-caller-cancel.xml", "users-alice.csv", "-m", "1", "-s", "300", "-au", "alice", "-ap", "wonderland", "-d", "1500")
	waitSipp(t, "alice", alice)
	waitSipp(t, "carol", carol)
	eventually(t, 10*time.Second, func() string {
		if out := n.MustRX("queue show sales"); !strings.Contains(out, "C:0, A:1") || !strings.Contains(out, "No Callers") {
			return out
		}
		return ""
	})
	matchAll(t, "queue_log", n.queueLog(t),
		`^\S+\|sales\|NONE\|ENTERQUEUE\|\|alice\|1$`,
		`^\S+\|sales\|NONE\|ABANDON\|1\|1\|\d+$`,
	)
	for _, l := range n.queueLog(t) {
		if strings.Contains(l, "SIP/bob") {
			t.Errorf("bob (unavailable) was rung: %s", l)
		}
	}

	// joinempty=strict and no member: QUEUESTATUS JOINEMPTY, the dialplan goes on.
	// The call is refused after the dialplan (no 180): sipp's scenario fails, the status counts.
	sippRun(t, n.sip, "call-cancel.xml", "users-alice.csv", "-m", "1", "-s", "302", "-au", "alice", "-ap", "wonderland", "-timeout", "5s")
	eventually(t, 10*time.Second, func() string {
		if out := n.MustRX("database get queuestatus alice"); !strings.Contains(out, "Value: JOINEMPTY") {
			return out
		}
		return ""
	})
}

// TestQueueMembersThroughCLIAndAMI: dynamic members added and removed with the CLI, a
// member paused with AMI (its event, QueueStatus, QueueSummary), and their queue_log lines.
func TestQueueMembersThroughCLIAndAMI(t *testing.T) {
	n := startQueueNode(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server output:\n%s", tailOf(n.out.String(), 4000))
		}
	})
	if out := n.MustRX("queue add member SIP/dave to sales penalty 2 as Dave"); !strings.Contains(out, "Added interface 'SIP/dave' to queue 'sales'") {
		t.Errorf("queue add member: %q", out)
	}
	if out, code := n.RX("queue add member SIP/dave to sales"); code != 1 || !strings.Contains(out, "Unable to add interface 'SIP/dave' to queue 'sales': Already there") {
		t.Errorf("queue add member again: %d %q", code, out)
	}
	if out, code := n.RX("queue add member SIP/dave to nosuch"); code != 1 || !strings.Contains(out, "Unable to add interface to queue 'nosuch': No such queue") {
		t.Errorf("queue add member to an unknown queue: %d %q", code, out)
	}
	if out := n.MustRX("queue show sales"); !regexp.MustCompile(`(?m)^      Dave \(SIP/dave\) with penalty 2 \(ringinuse enabled\) \(dynamic\) \(Unavailable\) has taken no calls yet`).MatchString(out) {
		t.Errorf("queue show sales:\n%s", out)
	}

	a := dialAMI(t, n.ami)
	a.send("Action", "Login", "Username", "admin", "Secret", "amp111")
	a.until("Response: Success")
	a.send("Action", "QueuePause", "Queue", "sales", "Interface", "SIP/bob", "Paused", "true", "Reason", "lunch", "ActionID", "p1")
	// The event and the response, in either order.
	var ev []string
	for resp := false; !resp || ev == nil; {
		p := a.read()
		switch {
		case slicesContains(p, "Event: QueueMemberPause"):
			ev = p
		case slicesContains(p, "ActionID: p1"):
			if !slicesContains(p, "Message: Interface paused successfully") {
				t.Fatalf("QueuePause: %q", p)
			}
			resp = true
		}
	}
	for _, want := range []string{"Queue: sales", "Paused: 1", "PausedReason: lunch", "Membership: static"} {
		if !slicesContains(ev, want) {
			t.Errorf("QueueMemberPause without %q: %q", want, ev)
		}
	}
	a.send("Action", "QueuePause", "Interface", "SIP/nobody", "Paused", "true", "ActionID", "p2")
	a.until("Response: Error", "ActionID: p2", "Message: Interface not found")

	a.send("Action", "QueueStatus", "Queue", "sales", "ActionID", "s1")
	a.until("Response: Success", "EventList: start", "Message: Queue status will follow")
	a.until("Event: QueueParams", "Queue: sales", "Strategy: ringall", "Calls: 0")
	bob := a.until("Event: QueueMember", "Name: SIP/bob")
	for _, want := range []string{"Location: SIP/bob", "Paused: 1", "PausedReason: lunch", "StateInterface: SIP/bob", "ActionID: s1"} {
		if !slicesContains(bob, want) {
			t.Errorf("QueueMember without %q: %q", want, bob)
		}
	}
	a.until("Event: QueueStatusComplete", "EventList: Complete", "ListItems: 4")
	a.send("Action", "QueueSummary", "Queue", "sales", "ActionID", "s2")
	a.until("Event: QueueSummary", "Queue: sales", "LoggedIn: 0", "Available: 0", "Callers: 0")
	a.until("Event: QueueSummaryComplete", "ListItems: 1")

	if out := n.MustRX("queue unpause member SIP/bob queue sales"); !strings.Contains(out, "unpaused interface 'SIP/bob' in queue 'sales'") {
		t.Errorf("queue unpause member: %q", out)
	}
	if out, code := n.RX("queue remove member SIP/bob from sales"); code != 1 || !strings.Contains(out, "Member is not dynamic") {
		t.Errorf("removing a static member: %d %q", code, out)
	}
	if out := n.MustRX("queue remove member SIP/dave from sales"); !strings.Contains(out, "Removed interface SIP/dave from queue 'sales'") {
		t.Errorf("queue remove member: %q", out)
	}
	if out := n.MustRX("queue pause member SIP/bob queue sales reason lunch"); !strings.Contains(out, "paused interface 'SIP/bob' in queue 'sales' for reason 'lunch'") {
		t.Errorf("queue pause member: %q", out)
	}
	if out, code := n.RX("queue pause member SIP/nobody"); code != 1 || !strings.Contains(out, "Unable to pause interface 'SIP/nobody'") {
		t.Errorf("pausing nobody: %d %q", code, out)
	}
	n.MustRX("queue reload")
	if out := n.MustRX("queue show sales"); strings.Contains(out, "SIP/dave") {
		t.Errorf("dave still in sales:\n%s", out)
	}
	matchAll(t, "queue_log", n.queueLog(t),
		`^CLI\|sales\|SIP/dave\|ADDMEMBER\|$`,
		`^NONE\|sales\|SIP/bob\|PAUSE\|lunch$`,
		`^NONE\|sales\|SIP/bob\|UNPAUSE\|$`,
		`^CLI\|sales\|SIP/dave\|REMOVEMEMBER\|$`,
		`^NONE\|sales\|SIP/bob\|PAUSE\|lunch$`,
		`^NONE\|NONE\|NONE\|QUEUESTART\|$`,
	)
	// A reload keeps the running queues; a bad file is refused with its file:line.
	n.WriteFile("queues.conf", queueConf+"\n[broken]\nstrategy = fastest\n")
	if out, code := n.RX("queue reload"); code == 0 || !strings.Contains(out, "queues.conf:"+strconv.Itoa(strings.Count(queueConf, "\n")+3)+": strategy: unknown strategy \"fastest\"") {
		t.Errorf("queue reload of a bad file: %d %q", code, out)
	}
	if out := n.MustRX("queue show support"); !strings.Contains(out, "support has 0 calls") {
		t.Errorf("support gone after a failed reload:\n%s", out)
	}
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// queueClusterConf: the same queue on two servers; bob's availability is a Custom device
// set on either server (the cluster-wide device state).
const queueClusterConf = `[helpdesk]
strategy = linear
timeout = 10
retry = 1
ringinuse = no
member => SIP/bob,0,Bob,Custom:bob
member => SIP/carol,0,Carol
`

// TestQueueAcrossServers: two servers with queue helpdesk. bob paused through AMI on
// server 2 is not rung by the queue on server 1 (carol is, though bob comes first); bob
// busy on server 2 (his state_interface) is skipped by server 1; once free again he is rung
// first.
func TestQueueAcrossServers(t *testing.T) {
	if _, err := os.Stat("/usr/bin/sipp"); err != nil {
		testenv.Unavailable(t, "sipp not installed (Debian sip-tester): %v", err)
	}
	routes := freePorts(t, 2)
	sipPorts := freePorts(t, 2)
	amiPorts := freePorts(t, 2)
	nodes := make([]*Node, 2)
	for i := range nodes {
		nodes[i] = NewNode(t, fmt.Sprintf("entityid = 02:00:00:00:03:%02x\nsystemname = node%d", i+1, i+1), map[string]string{
			"extensions.conf": "[calls]\nexten => 310,1,Queue(helpdesk,r)\n same => n,Hangup()\n",
			"cluster.conf":    clusterConf(i, routes, ""),
			"sip.conf":        fmt.Sprintf(queueSIPConf, sipPorts[i]),
			"queues.conf":     queueClusterConf,
			"manager.conf":    fmt.Sprintf(managerUser, amiPorts[i]),
			"rtp.conf":        fmt.Sprintf("[general]\nrtpstart=%d\nrtpend=%d\n", 33000+i*200, 33199+i*200),
		})
		nodes[i].Start()
		noRace(t, nodes[i])
	}
	t.Cleanup(func() {
		if t.Failed() {
			for i, nd := range nodes {
				t.Logf("server %d output:\n%s", i+1, tailOf(nd.out.String(), 3000))
			}
		}
	})
	for _, nd := range nodes {
		waitMembers(t, nd, 2)
	}
	n1 := &queueNode{Node: nodes[0], sip: fmt.Sprintf("127.0.0.1:%d", sipPorts[0]), ami: amiPorts[0]}
	bobPort := n1.register(t, "bob")
	carolPort := n1.register(t, "carol")
	nodes[0].MustRX("devstate change Custom:bob NOT_INUSE")

	// Paused on server 2 through AMI: server 1's queue has bob paused.
	a := dialAMI(t, amiPorts[1])
	a.send("Action", "Login", "Username", "admin", "Secret", "amp111")
	a.until("Response: Success")
	a.send("Action", "QueuePause", "Queue", "helpdesk", "Interface", "SIP/bob", "Paused", "true", "Reason", "meeting", "ActionID", "p")
	a.until("ActionID: p", "Message: Interface paused successfully")
	eventually(t, 10*time.Second, func() string {
		if out := nodes[0].MustRX("queue show helpdesk"); !strings.Contains(out, "Bob (SIP/bob from Custom:bob) (ringinuse disabled) (paused:meeting") {
			return "server 1 does not see bob paused:\n" + out
		}
		return ""
	})
	call := func(answerer string, port int) {
		t.Helper()
		member := goSipp(t, n1.sip, "queue-member.xml", "users-"+answerer+".csv", "-m", "1", "-p", strconv.Itoa(port), "-mp", mediaPort(t), "-rtp_echo")
		time.Sleep(500 * time.Millisecond)
		alice := goSipp(t, n1.sip, "queue-caller.xml", "users-alice.csv", "-m", "1", "-s", "310", "-au", "alice", "-ap", "wonderland", "-mp", mediaPort(t), "-d", "500")
		waitSipp(t, "alice", alice)
		waitSipp(t, answerer, member)
	}
	call("carol", carolPort)

	// Unpaused on server 2 (CLI), busy on server 2: still carol.
	nodes[1].MustRX("queue unpause member SIP/bob queue helpdesk")
	nodes[1].MustRX("devstate change Custom:bob INUSE")
	eventually(t, 10*time.Second, func() string {
		if out := nodes[0].MustRX("queue show helpdesk"); !strings.Contains(out, "Bob (SIP/bob from Custom:bob) (ringinuse disabled) (In use)") {
			return "server 1 does not see bob unpaused and in use:\n" + out
		}
		return ""
	})
	call("carol", carolPort)

	// Free again on server 2: bob, first in line, answers.
	nodes[1].MustRX("devstate change Custom:bob NOT_INUSE")
	eventually(t, 10*time.Second, func() string {
		if out := nodes[0].MustRX("devstate show Custom:bob"); !strings.Contains(out, "Not in use") || strings.Contains(out, "In use") {
			return out
		}
		return ""
	})
	call("bob", bobPort)

	var connects []string
	for _, l := range n1.queueLog(t) {
		if strings.Contains(l, "|CONNECT|") || strings.Contains(l, "RINGNOANSWER") {
			connects = append(connects, l)
		}
	}
	if len(connects) != 3 || !strings.Contains(connects[0], "|Carol|CONNECT|") || !strings.Contains(connects[1], "|Carol|CONNECT|") || !strings.Contains(connects[2], "|Bob|CONNECT|") {
		t.Errorf("server 1's connects, want Carol, Carol, Bob and nobody rung in vain:\n%s", strings.Join(connects, "\n"))
	}
	// The last call of each member reached server 2 too (leastrecent, wrapuptime).
	eventually(t, 10*time.Second, func() string {
		out := nodes[1].MustRX("queue show helpdesk")
		if !strings.Contains(out, "Carol (SIP/carol) (ringinuse disabled) (Not in use) has taken 2 calls") || !strings.Contains(out, "has taken 1 calls") {
			return "server 2 does not know the members' calls:\n" + out
		}
		return ""
	})

	// A server that starts later learns the queue's state from the others: a pause, a
	// dynamic member, the members' calls.
	nodes[0].MustRX("queue pause member SIP/carol queue helpdesk reason late")
	nodes[0].MustRX("queue add member SIP/dave to helpdesk")
	more := freePorts(t, 2)
	n3 := NewNode(t, "entityid = 02:00:00:00:03:03\nsystemname = node3", map[string]string{
		"extensions.conf": "[calls]\n",
		"cluster.conf":    clusterConf(2, []int{routes[0], routes[1], more[0]}, ""),
		"sip.conf":        fmt.Sprintf(queueSIPConf, more[1]),
		"queues.conf":     queueClusterConf,
	})
	n3.Start()
	noRace(t, n3)
	eventually(t, 15*time.Second, func() string {
		out := n3.MustRX("queue show helpdesk")
		if !strings.Contains(out, "Carol (SIP/carol) (ringinuse disabled) (paused:late") || !strings.Contains(out, "has taken 2 calls") ||
			!strings.Contains(out, "SIP/dave (ringinuse disabled) (dynamic)") {
			return "server 3 did not learn the queue's state:\n" + out
		}
		return ""
	})
}

// TestQueueReadmeExample: README.md's Queues section shows this test's files.
func TestQueueReadmeExample(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"queues.conf": queueConf, "extensions.conf": queueDialplan} {
		if !strings.Contains(string(b), "```ini\n"+want+"```") {
			t.Errorf("README.md lacks the queue tests' %s:\n%s", name, want)
		}
	}
}

// TestQueueRRMemoryMovesOn: queue hotline (rrmemory, members ring 2 s): carol rings and does
// not answer (RINGNOANSWER, AgentRingNoAnswer, her phone gets its CANCEL), then bob, next
// in order, answers; bob answered last, so the next caller rings carol first again.
func TestQueueRRMemoryMovesOn(t *testing.T) {
	n := startQueueNode(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server output:\n%s", tailOf(n.out.String(), 4000))
		}
	})
	rec := recordAMI(t, n.ami)
	bobPort := n.register(t, "bob")
	carolPort := n.register(t, "carol")
	mark := rec.mark()
	carol := goSipp(t, n.sip, "call-noanswer.xml", "users-carol.csv", "-m", "1", "-p", strconv.Itoa(carolPort))
	bob := goSipp(t, n.sip, "queue-member.xml", "users-bob.csv", "-m", "1", "-p", strconv.Itoa(bobPort), "-mp", mediaPort(t), "-rtp_echo")
	time.Sleep(500 * time.Millisecond)
	alice := goSipp(t, n.sip, "queue-caller.xml", "users-alice.csv", "-m", "1", "-s", "303", "-au", "alice", "-ap", "wonderland", "-mp", mediaPort(t), "-d", "500")
	waitSipp(t, "alice", alice)
	waitSipp(t, "carol", carol)
	waitSipp(t, "bob", bob)
	matchAll(t, "queue_log", n.queueLog(t),
		`^\S+\|hotline\|NONE\|ENTERQUEUE\|\|alice\|1$`,
		`^\S+\|hotline\|SIP/carol\|RINGNOANSWER\|\d+$`,
		`^\S+\|hotline\|SIP/bob\|CONNECT\|`,
		`^\S+\|hotline\|SIP/bob\|COMPLETECALLER\|`,
	)
	var lines []string
	for _, ev := range rec.since(mark) {
		lines = append(lines, queueSummary(ev))
	}
	matchAll(t, "AMI", lines,
		`^AgentCalled Channel=SIP/alice-.* Queue=hotline Interface=SIP/carol`,
		`^AgentRingNoAnswer Channel=SIP/alice-\S+ DestChannel=SIP/carol-\S+ Queue=hotline Interface=SIP/carol`,
		`^AgentCalled Channel=SIP/alice-.* Queue=hotline Interface=SIP/bob`,
		`^AgentConnect Channel=SIP/alice-.* Queue=hotline Interface=SIP/bob`,
	)
	// rrmemory: bob answered last, carol is next; she answers this time.
	carol = goSipp(t, n.sip, "queue-member.xml", "users-carol.csv", "-m", "1", "-p", strconv.Itoa(carolPort), "-mp", mediaPort(t), "-rtp_echo")
	time.Sleep(500 * time.Millisecond)
	dave := goSipp(t, n.sip, "queue-caller.xml", "users-dave.csv", "-m", "1", "-s", "303", "-au", "dave", "-ap", "diver", "-mp", mediaPort(t), "-d", "500")
	waitSipp(t, "dave", dave)
	waitSipp(t, "carol", carol)
	matchAll(t, "queue_log", n.queueLog(t), `^\S+\|hotline\|SIP/bob\|COMPLETECALLER\|`, `^\S+\|hotline\|NONE\|ENTERQUEUE\|\|dave\|1$`, `^\S+\|hotline\|SIP/carol\|CONNECT\|`)
}

// TestQueueRealtimePgsql: a queue and its members from PostgreSQL (Asterisk's tables): a
// member row added is in the queue without a reload (NOTIFY), and "queue show" run 30 times
// costs a bounded number of queries.
func TestQueueRealtimePgsql(t *testing.T) {
	schema := pgScratch(t)
	db := pgConn(t, schema)
	create, err := realtimetest.TableStatements(testenv.SharedPath(t, "asterisk-schema"), "postgres", "queues", "queue_members")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range create {
		pgExec(t, db, q)
	}
	installNotify(t, db, "pleiades_realtime")
	nd := NewNode(t, "", map[string]string{
		"extconfig.conf": "[settings]\nqueues => pgsql,test,queues\nqueue_members => pgsql,test,queue_members\n",
		"res_pgsql.conf": "[general]\ndbhost = 127.0.0.1\ndbport = 5432\ndbname = test\ndbuser = postgres\nsearch_path = " + schema +
			"\nlisten_channel = pleiades_realtime\n",
		"queues.conf": "[static]\nmember => SIP/s\n",
	})
	nd.Start()
	noRace(t, nd)
	pgExec(t, db, "INSERT INTO queues (name, strategy, timeout, ringinuse) VALUES ('rtq', 'leastrecent', 20, 'no')")
	pgExec(t, db, "INSERT INTO queue_members (queue_name, interface, uniqueid, membername, penalty) VALUES ('rtq', 'SIP/bob', '1', 'Bob', 1)")
	if out := nd.MustRX("queue show rtq"); !strings.Contains(out, "rtq has 0 calls (max unlimited) in 'leastrecent' strategy") ||
		!strings.Contains(out, "Bob (SIP/bob) with penalty 1 (ringinuse disabled) (realtime)") {
		t.Fatalf("queue show rtq:\n%s", out)
	}
	pgExec(t, db, "INSERT INTO queue_members (queue_name, interface, uniqueid, paused) VALUES ('rtq', 'SIP/carol', '2', 1)")
	eventually(t, 10*time.Second, func() string {
		if out := nd.MustRX("queue show rtq"); !strings.Contains(out, "SIP/carol (ringinuse disabled) (realtime) (paused)") {
			return "the new member row is not used:\n" + out
		}
		return ""
	})
	queries := func() int {
		out := nd.MustRX("realtime show status")
		total := 0
		for _, m := range regexp.MustCompile(`(?m)^(queues|queue_members)\s+(\d+)`).FindAllStringSubmatch(out, -1) {
			v, _ := strconv.Atoi(m[2])
			total += v
		}
		return total
	}
	before, start := queries(), time.Now()
	for range 30 {
		if out := nd.MustRX("queue show"); !strings.Contains(out, "rtq has") || !strings.Contains(out, "static has") {
			t.Fatalf("queue show:\n%s", out)
		}
	}
	// At most one re-read of the list and of the queue (row and members) per 5 s cache
	// period: 3 queries per period begun, however many runs.
	periods := int(time.Since(start)/(5*time.Second)) + 1
	if n := queries() - before; n > 3*periods {
		t.Errorf("30 × queue show in %v cost %d queries (bound %d)", time.Since(start), n, 3*periods)
	}
}

// TestQueueLeastRecent: queue desk (leastrecent): bob and carol never took a call, bob
// (first in order) takes alice's; dave's then goes to carol, whose last call is older (none).
func TestQueueLeastRecent(t *testing.T) {
	n := startQueueNode(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server output:\n%s", tailOf(n.out.String(), 4000))
		}
	})
	bobPort := n.register(t, "bob")
	carolPort := n.register(t, "carol")
	for _, c := range []struct{ caller, pass, member string }{{"alice", "wonderland", "bob"}, {"dave", "diver", "carol"}} {
		port := bobPort
		if c.member == "carol" {
			port = carolPort
		}
		member := goSipp(t, n.sip, "queue-member.xml", "users-"+c.member+".csv", "-m", "1", "-p", strconv.Itoa(port), "-mp", mediaPort(t), "-rtp_echo")
		time.Sleep(500 * time.Millisecond)
		caller := goSipp(t, n.sip, "queue-caller.xml", "users-"+c.caller+".csv", "-m", "1", "-s", "304", "-au", c.caller, "-ap", c.pass, "-mp", mediaPort(t), "-d", "500")
		waitSipp(t, c.caller, caller)
		waitSipp(t, c.member, member)
	}
	matchAll(t, "queue_log", n.queueLog(t),
		`^\S+\|desk\|NONE\|ENTERQUEUE\|\|alice\|1$`, `^\S+\|desk\|SIP/bob\|CONNECT\|`,
		`^\S+\|desk\|NONE\|ENTERQUEUE\|\|dave\|1$`, `^\S+\|desk\|SIP/carol\|CONNECT\|`)
	for _, l := range n.queueLog(t) {
		if strings.Contains(l, "RINGNOANSWER") {
			t.Errorf("a member was rung in vain: %s", l)
		}
	}
}
