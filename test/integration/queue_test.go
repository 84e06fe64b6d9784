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

[nobody]
joinempty = strict
`

const queueDialplan = `[calls]
exten => 300,1,Queue(sales,r)
 same => n,Hangup()
exten => 301,1,Queue(support,r)
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
		`^AgentCalled Channel=SIP/alice-.* Queue=sales Interface=SIP/bob`,
		`^AgentCalled Channel=SIP/alice-.* Queue=sales Interface=SIP/carol`,
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
	alice := goSipp(t, n.sip, "queue-caller.xml", "users-alice.csv", "-m", "1", "-s", "301", "-au", "alice", "-ap", "wonderland", "-mp", mediaPort(t), "-d", "6000")
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
