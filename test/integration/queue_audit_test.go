package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/pleiades-pbx/pleiades/internal/realtime/realtimetest"
	"github.com/pleiades-pbx/pleiades/test/sipphone"
	"github.com/pleiades-pbx/pleiades/test/testenv"
)

// The tests of this file close the gaps an audit of issue 17 (queues) found between its
// acceptance list and the tests through the binary: each one names the item it proves.

// auditNode starts a server with queueSIPConf's phones, the AMI and the given queues.conf and
// extensions.conf.
func auditNode(t *testing.T, queues, dialplan string, more map[string]string) *queueNode {
	t.Helper()
	if _, err := os.Stat("/usr/bin/sipp"); err != nil {
		testenv.Unavailable(t, "sipp not installed (Debian sip-tester): %v", err)
	}
	p := freePorts(t, 2)
	files := map[string]string{
		"sip.conf":        fmt.Sprintf(queueSIPConf, p[0]),
		"rtp.conf":        "[general]\nrtpstart = 22000\nrtpend = 22400\n",
		"extensions.conf": dialplan,
		"queues.conf":     queues,
		"manager.conf":    fmt.Sprintf(managerUser, p[1]),
	}
	for k, v := range more {
		files[k] = v
	}
	nd := NewNode(t, "", files)
	nd.Start()
	noRace(t, nd)
	n := &queueNode{Node: nd, sip: fmt.Sprintf("127.0.0.1:%d", p[0]), ami: p[1]}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server output:\n%s", tailOf(n.out.String(), 4000))
		}
	})
	return n
}

var auditPasswords = map[string]string{"alice": "wonderland", "dave": "diver", "bob": "builder", "carol": "chris"}

// queueCall: member's sipp phone (registered from port) answers; caller calls exten and
// talks 500 ms.
func (n *queueNode) queueCall(t *testing.T, caller, exten, member string, port int) {
	t.Helper()
	m := goSipp(t, n.sip, "queue-member.xml", "users-"+member+".csv", "-m", "1", "-p", strconv.Itoa(port), "-mp", mediaPort(t), "-rtp_echo")
	time.Sleep(500 * time.Millisecond)
	c := goSipp(t, n.sip, "queue-caller.xml", "users-"+caller+".csv", "-m", "1", "-s", exten, "-au", caller, "-ap", auditPasswords[caller], "-mp", mediaPort(t), "-d", "500")
	waitSipp(t, caller, c)
	waitSipp(t, member, m)
}

// connects returns queue's CONNECT lines' agents, in order.
func connects(lines []string, queue string) []string {
	var out []string
	for _, l := range lines {
		if f := strings.Split(l, "|"); len(f) > 3 && f[1] == queue && f[3] == "CONNECT" {
			out = append(out, f[2])
		}
	}
	return out
}

// TestQueueAuditStrategyOrder (acceptance: each strategy's order through the binary; item 1:
// shared_lastcall, monitor-type). Every member answers when rung, so the member who gets a
// call is the one the strategy chose first:
//   - linear rings bob, the first member, for every call (rrmemory would move on to carol);
//   - leastrecent: bob's last call (through lin, shared by shared_lastcall) is more recent than
//     carol's (none), so carol; then bob, whose last call is now the older;
//   - shared_lastcall: bob answers through wq1 (wrapuptime 60); queue wq2 (no wrapuptime)
//     skips him for those 60 s, as Asterisk applies the wrapuptime of the member's last queue.
//
// monitor-type is ignored with a NOTICE naming file:line.
func TestQueueAuditStrategyOrder(t *testing.T) {
	n := auditNode(t, `[general]
shared_lastcall = yes
monitor-type = MixMonitor

[lin]
strategy = linear
timeout = 5
retry = 1
member => SIP/bob
member => SIP/carol

[lr]
strategy = leastrecent
timeout = 5
retry = 1
member => SIP/bob
member => SIP/carol

[wq1]
strategy = linear
wrapuptime = 60
timeout = 5
retry = 1
member => SIP/bob
member => SIP/carol

[wq2]
strategy = linear
timeout = 5
retry = 1
member => SIP/bob
member => SIP/carol
`, `[calls]
exten => 401,1,Queue(lin,r)
exten => 402,1,Queue(lr,r)
exten => 403,1,Queue(wq1,r)
exten => 404,1,Queue(wq2,r)
`, nil)
	if out := n.out.String(); !regexp.MustCompile(`NOTICE.*queues\.conf:3: monitor-type is ignored`).MatchString(out) {
		t.Errorf("no NOTICE for monitor-type:\n%s", tailOf(out, 2000))
	}
	ports := map[string]int{"bob": n.register(t, "bob"), "carol": n.register(t, "carol")}
	for _, c := range []struct{ caller, exten, member string }{
		{"alice", "401", "bob"}, {"dave", "401", "bob"}, // linear
		{"alice", "402", "carol"}, {"dave", "402", "bob"}, // leastrecent
		{"alice", "403", "bob"}, {"dave", "404", "carol"}, // shared_lastcall + wrapuptime
	} {
		n.queueCall(t, c.caller, c.exten, c.member, ports[c.member])
	}
	log := n.queueLog(t)
	for q, want := range map[string][]string{"lin": {"SIP/bob", "SIP/bob"}, "lr": {"SIP/carol", "SIP/bob"}, "wq1": {"SIP/bob"}, "wq2": {"SIP/carol"}} {
		if got := connects(log, q); !slices.Equal(got, want) {
			t.Errorf("queue %s connected %v, want %v", q, got, want)
		}
	}
	for _, l := range log {
		if strings.Contains(l, "RINGNOANSWER") {
			t.Errorf("a member was rung who was not to be: %s", l)
		}
	}
}

// Asterisk 20's field lists (docs.asterisk.org, AMI_Events) of the queue events.
var (
	astChannelFields = []string{"Channel", "ChannelState", "ChannelStateDesc", "CallerIDNum", "CallerIDName", "ConnectedLineNum",
		"ConnectedLineName", "Language", "AccountCode", "Context", "Exten", "Priority", "Uniqueid", "Linkedid"}
	astMemberFields = []string{"Queue", "MemberName", "Interface", "StateInterface", "Membership", "Penalty", "CallsTaken",
		"LastCall", "LastPause", "LoginTime", "InCall", "Status", "Paused", "PausedReason", "Ringinuse", "Wrapuptime"}
)

func astDest() []string {
	var out []string
	for _, f := range astChannelFields {
		out = append(out, "Dest"+f)
	}
	return out
}

func astWith(parts ...[]string) []string { return slices.Concat(parts...) }

var astQueueEvents = map[string][]string{
	"QueueCallerJoin":    astWith(astChannelFields, []string{"Queue", "Position", "Count"}),
	"QueueCallerLeave":   astWith(astChannelFields, []string{"Queue", "Count", "Position"}),
	"QueueCallerAbandon": astWith(astChannelFields, []string{"Queue", "Position", "OriginalPosition", "HoldTime"}),
	"AgentCalled":        astWith(astChannelFields, astDest(), []string{"Queue", "MemberName", "Interface"}),
	"AgentConnect":       astWith(astChannelFields, astDest(), []string{"Queue", "MemberName", "Interface", "RingTime", "HoldTime"}),
	"AgentComplete":      astWith(astChannelFields, astDest(), []string{"Queue", "MemberName", "Interface", "HoldTime", "TalkTime", "Reason"}),
	"AgentRingNoAnswer":  astWith(astChannelFields, astDest(), []string{"Queue", "MemberName", "Interface", "RingTime"}),
	"QueueMemberAdded":   astMemberFields,
	"QueueMemberRemoved": astMemberFields,
	"QueueMemberPause":   astMemberFields,
	"QueueMemberStatus":  astMemberFields,
	"QueueMemberPenalty": astMemberFields,
}

// astFieldsOK says how ev's keys differ from Asterisk 20's list for its event: a field
// missing, or the fields in another order ("" when they match; Privilege and the AMI's own
// keys such as ActionID are not counted).
func astFieldsOK(ev []string) string {
	name := field(ev, "Event")
	want := astQueueEvents[name]
	var got []string
	for _, l := range ev[1:] {
		k, _, _ := strings.Cut(l, ": ")
		if slices.Contains(want, k) {
			got = append(got, k)
		}
	}
	for _, k := range want {
		if !slices.Contains(got, k) {
			return fmt.Sprintf("%s lacks %s: %q", name, k, ev)
		}
	}
	if !slices.Equal(got, want) {
		return fmt.Sprintf("%s's fields in another order than Asterisk's:\n got %v\nwant %v", name, got, want)
	}
	return ""
}

// TestQueueAuditAMIAndLog (item 5: the AMI actions and events with Asterisk 20's fields;
// item 4 and acceptance: queue_log's COMPLETEAGENT, RINGNOANSWER, ABANDON, EXITWITHTIMEOUT,
// ADDMEMBER/REMOVEMEMBER from the manager; item 3: persistentmembers across a restart).
func TestQueueAuditAMIAndLog(t *testing.T) {
	n := auditNode(t, `[general]
persistentmembers = yes

[agentq]
strategy = ringall
timeout = 5
retry = 1
member => SIP/bob,0,Bob

[rna]
timeout = 2
member => SIP/carol

[ab]
timeout = 10
member => SIP/carol
`, `[calls]
exten => 410,1,Queue(agentq,r)
exten => 411,1,Queue(rna,rn)
 same => n,Hangup()
exten => 413,1,Queue(ab,r)
`, nil)
	rec := recordAMI(t, n.ami)
	bobPort := n.register(t, "bob")
	carolPort := n.register(t, "carol")
	mark := rec.mark()

	// bob answers and hangs up first: COMPLETEAGENT, AgentComplete Reason agent.
	bob := goSipp(t, n.sip, "queue-member-hangup.xml", "users-bob.csv", "-m", "1", "-p", strconv.Itoa(bobPort), "-mp", mediaPort(t), "-rtp_echo", "-d", "1500")
	time.Sleep(500 * time.Millisecond)
	mustSipp(t, n.sip, "queue-caller-hungup.xml", "users-alice.csv", "-m", "1", "-s", "410", "-au", "alice", "-ap", "wonderland", "-mp", mediaPort(t))
	waitSipp(t, "bob", bob)
	// carol rings 2 s in vain: RINGNOANSWER, AgentRingNoAnswer, then EXITWITHTIMEOUT (option n).
	carol := goSipp(t, n.sip, "call-noanswer.xml", "users-carol.csv", "-m", "1", "-p", strconv.Itoa(carolPort))
	time.Sleep(300 * time.Millisecond)
	mustSipp(t, n.sip, "call-declined.xml", "users-alice.csv", "-m", "1", "-s", "411", "-au", "alice", "-ap", "wonderland")
	waitSipp(t, "carol", carol)
	// dave hangs up while carol rings: ABANDON, QueueCallerAbandon.
	carol = goSipp(t, n.sip, "call-noanswer.xml", "users-carol.csv", "-m", "1", "-p", strconv.Itoa(carolPort))
	time.Sleep(300 * time.Millisecond)
	mustSipp(t, n.sip, "queue-caller-cancel.xml", "users-dave.csv", "-m", "1", "-s", "413", "-au", "dave", "-ap", "diver", "-d", "1000")
	waitSipp(t, "carol", carol)

	// The manager's member actions.
	a := amiLogin(t, n.ami, "admin", "amp111")
	for _, act := range [][]string{
		{"Action", "QueueAdd", "Queue", "agentq", "Interface", "SIP/dave", "Penalty", "2", "MemberName", "Dave", "StateInterface", "Custom:dave"},
		{"Action", "QueuePenalty", "Queue", "agentq", "Interface", "SIP/dave", "Penalty", "5"},
		{"Action", "QueuePause", "Queue", "agentq", "Interface", "SIP/dave", "Paused", "true", "Reason", "coffee"},
		{"Action", "QueueRemove", "Queue", "agentq", "Interface", "SIP/dave"},
		{"Action", "QueueReload", "Queue", "agentq"},
	} {
		if r := a.action(act...); field(r, "Response") != "Success" {
			t.Errorf("%s: %q", act[1], r)
		}
	}
	if r := a.action("Action", "QueueAdd", "Queue", "nosuch", "Interface", "SIP/dave"); field(r, "Response") != "Error" {
		t.Errorf("QueueAdd to an unknown queue: %q", r)
	}
	n.MustRX("queue add member SIP/alice to agentq penalty 1 as Al")
	n.MustRX("devstate change Custom:al INUSE")
	a.action("Action", "QueueAdd", "Queue", "agentq", "Interface", "SIP/carol", "MemberName", "Carol", "StateInterface", "Custom:carol")
	n.MustRX("devstate change Custom:carol INUSE") // QueueMemberStatus
	n.MustRX("queue pause member SIP/alice queue agentq reason training")

	want := []string{"QueueCallerJoin", "AgentCalled", "AgentConnect", "AgentComplete", "QueueCallerLeave", "AgentRingNoAnswer",
		"QueueCallerAbandon", "QueueMemberAdded", "QueueMemberPenalty", "QueueMemberPause", "QueueMemberRemoved", "QueueMemberStatus"}
	var seen []string
	eventually(t, 10*time.Second, func() string {
		seen = nil
		for _, ev := range rec.since(mark) {
			if name := field(ev, "Event"); astQueueEvents[name] != nil && !slices.Contains(seen, name) {
				seen = append(seen, name)
			}
		}
		for _, w := range want {
			if !slices.Contains(seen, w) {
				return "no " + w + " event; seen " + strings.Join(seen, ", ")
			}
		}
		return ""
	})
	checked := map[string]bool{}
	for _, ev := range rec.since(mark) {
		name := field(ev, "Event")
		if astQueueEvents[name] == nil || checked[name] {
			continue
		}
		checked[name] = true
		if msg := astFieldsOK(ev); msg != "" {
			t.Error(msg)
		}
		switch name {
		case "AgentComplete":
			if field(ev, "Reason") != "agent" || field(ev, "Interface") != "SIP/bob" || field(ev, "MemberName") != "Bob" {
				t.Errorf("AgentComplete: want Reason agent for Bob: %q", ev)
			}
		case "QueueMemberPenalty":
			if field(ev, "Penalty") != "5" || field(ev, "Interface") != "SIP/dave" {
				t.Errorf("QueueMemberPenalty: %q", ev)
			}
		case "QueueMemberAdded":
			if field(ev, "MemberName") != "Dave" || field(ev, "StateInterface") != "Custom:dave" || field(ev, "Membership") != "dynamic" || field(ev, "Penalty") != "2" {
				t.Errorf("QueueMemberAdded: %q", ev)
			}
		}
	}
	matchAll(t, "queue_log", n.queueLog(t),
		`^\S+\|agentq\|NONE\|ENTERQUEUE\|\|alice\|1$`,
		`^\S+\|agentq\|Bob\|CONNECT\|\d+\|\S+\|\d+$`,
		`^\S+\|agentq\|Bob\|COMPLETEAGENT\|\d+\|\d+\|1$`,
		`^\S+\|rna\|SIP/carol\|RINGNOANSWER\|\d+$`,
		`^\S+\|rna\|NONE\|EXITWITHTIMEOUT\|1\|1\|\d+$`,
		`^\S+\|ab\|NONE\|ENTERQUEUE\|\|dave\|1$`,
		`^\S+\|ab\|NONE\|ABANDON\|1\|1\|\d+$`,
		`^MANAGER\|agentq\|SIP/dave\|ADDMEMBER\|$`,
		`^NONE\|agentq\|Dave\|PAUSE\|coffee$`,
		`^MANAGER\|agentq\|SIP/dave\|REMOVEMEMBER\|$`,
		`^CLI\|agentq\|SIP/alice\|ADDMEMBER\|$`,
		`^NONE\|agentq\|Al\|PAUSE\|training$`,
	)

	// persistentmembers: the dynamic members (Al paused, Carol) come back after the server is
	// killed and started again; the static member stays as configured.
	n.Kill()
	n.Start()
	out := n.MustRX("queue show agentq")
	for _, w := range []string{"Bob (SIP/bob) (ringinuse enabled)", "Al (SIP/alice) with penalty 1 (ringinuse enabled) (dynamic) (paused:training",
		"Carol (SIP/carol from Custom:carol) (ringinuse enabled) (dynamic)"} {
		if !strings.Contains(out, w) {
			t.Errorf("after a restart queue show agentq lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "SIP/dave") {
		t.Errorf("the removed member came back:\n%s", out)
	}
}

// TestQueueAuditBadInput (acceptance, bad input): maxlen reached (QUEUESTATUS FULL), a member
// whose device is invalid (SIP/ghost, no such peer: shown Invalid, never rung), the Queue()
// timeout (TIMEOUT); "queue show" in Asterisk's shape with a caller waiting.
func TestQueueAuditBadInput(t *testing.T) {
	n := auditNode(t, `[tiny]
strategy = linear
maxlen = 1
timeout = 5
retry = 1
member => SIP/ghost
member => SIP/carol
`, `[calls]
exten => 340,1,Queue(tiny,r,,,8)
 same => n,Set(DB(qs/${QUEUESTATUS})=${CALLERID(num)})
 same => n,Hangup()
`, nil)
	// carol unregistered (Unavailable), ghost Invalid: alice waits until the timeout.
	alice := goSipp(t, n.sip, "call-declined.xml", "users-alice.csv", "-m", "1", "-s", "340", "-au", "alice", "-ap", "wonderland")
	eventually(t, 5*time.Second, func() string {
		out := n.MustRX("queue show tiny")
		if !regexp.MustCompile(`(?s)^tiny has 1 calls \(max 1\) in 'linear' strategy \(0s holdtime, 0s talktime\), W:0, C:0, A:0, SL:0\.0%, SL2:0\.0% within 0s\n` +
			`   Members: \n      SIP/ghost \(ringinuse enabled\) \(Invalid\) has taken no calls yet \(login was \d+ secs ago\)\n` +
			`      SIP/carol \(ringinuse enabled\) \(Unavailable\) has taken no calls yet \(login was \d+ secs ago\)\n` +
			`   Callers: \n      1\. SIP/alice-\S+ \(wait: 0:\d\d, prio: 0\)\n`).MatchString(out) {
			return "queue show tiny:\n" + out
		}
		return ""
	})
	// The queue is full: a second call is refused at once (no 180: sipp's scenario fails; the
	// status counts). call-declined.xml is alice's.
	sippRun(t, n.sip, "call-declined.xml", "users-alice.csv", "-m", "1", "-s", "340", "-au", "alice", "-ap", "wonderland", "-timeout", "10s")
	waitSipp(t, "alice", alice)
	for _, want := range []string{"FULL", "TIMEOUT"} {
		eventually(t, 10*time.Second, func() string {
			if out, _ := n.RX("database get qs " + want); !strings.Contains(out, "Value: alice") {
				return "QUEUESTATUS " + want + " not seen: " + n.MustRX("database show")
			}
			return ""
		})
	}
	// carol registered and answering: she is rung, ghost never.
	carolPort := n.register(t, "carol")
	n.queueCall(t, "alice", "340", "carol", carolPort)
	log := n.queueLog(t)
	matchAll(t, "queue_log", log, `^\S+\|tiny\|NONE\|ENTERQUEUE\|\|alice\|1$`, `^\S+\|tiny\|NONE\|EXITWITHTIMEOUT\|1\|1\|\d+$`,
		`^\S+\|tiny\|SIP/carol\|CONNECT\|`)
	for _, l := range log {
		if strings.Contains(l, "SIP/ghost") {
			t.Errorf("queue_log: %s (ghost is never rung)", l)
		}
	}
}

// TestQueueAuditAcrossServersRealCall (acceptance: a member phone in a call on server 2 is
// skipped by the queue on server 1 and rung next when it hangs up; a member paused through
// AMI on server 1 is not rung by the same queue on server 2). bob's phone registers on
// server 2 and calls an Echo() there (a real SIP call: his device is in use on server 2);
// carol's phone registers on server 1. Server 1's queue (linear, bob first, ringinuse=no)
// skips bob and gives alice to carol; dave, next, waits (bob busy on server 2, carol talking)
// and bob is not rung; when bob hangs up on server 2, server 1 rings him for dave (through
// server 2, where he registered). Then bob is paused through server 1's AMI, and alice
// calling the queue on server 2 gets carol (rung from server 2 through server 1), bob first
// in line not rung.
//
// A phone counts as in use on the server it is registered with: a peer that is not
// registered on a server is UNAVAILABLE there even during a call (chan_sip's
// sip_devicestate), so bob's call is made on the server his phone registered with.
func TestQueueAuditAcrossServersRealCall(t *testing.T) {
	if _, err := os.Stat("/usr/bin/sipp"); err != nil {
		testenv.Unavailable(t, "sipp not installed (Debian sip-tester): %v", err)
	}
	routes, sipPorts, amiPorts := freePorts(t, 2), freePorts(t, 2), freePorts(t, 2)
	nodes := make([]*queueNode, 2)
	for i := range nodes {
		nd := NewNode(t, fmt.Sprintf("entityid = 02:00:00:00:04:%02x\nsystemname = node%d", i+1, i+1), map[string]string{
			"extensions.conf": "[calls]\nexten => 320,1,Queue(xq,r)\n same => n,Hangup()\nexten => 500,1,Ringing()\n same => n,Wait(0.3)\n same => n,Answer()\n same => n,Echo()\n",
			"cluster.conf":    clusterConf(i, routes, ""),
			"sip.conf":        fmt.Sprintf(queueSIPConf, sipPorts[i]),
			"queues.conf":     "[xq]\nstrategy = linear\ntimeout = 10\nretry = 1\nringinuse = no\nmember => SIP/bob,0,Bob\nmember => SIP/carol,0,Carol\n",
			"manager.conf":    fmt.Sprintf(managerUser, amiPorts[i]),
			"rtp.conf":        fmt.Sprintf("[general]\nrtpstart=%d\nrtpend=%d\n", 34000+i*200, 34199+i*200),
			"logger.conf":     "[logfiles]\nmessages.log => notice,warning,error,verbose\n",
		})
		nd.Start()
		noRace(t, nd)
		nd.MustRX("core set verbose 3")
		nodes[i] = &queueNode{Node: nd, sip: fmt.Sprintf("127.0.0.1:%d", sipPorts[i]), ami: amiPorts[i]}
	}
	t.Cleanup(func() {
		if t.Failed() {
			for i, nd := range nodes {
				b, _ := os.ReadFile(filepath.Join(nd.Dir, "log", "messages.log"))
				t.Logf("server %d output:\n%s\nmessages.log:\n%s", i+1, tailOf(nd.out.String(), 3000), tailOf(string(b), 6000))
			}
		}
	})
	for _, nd := range nodes {
		waitMembers(t, nd.Node, 2)
	}
	n1, n2 := nodes[0], nodes[1]
	rec := recordAMI(t, n1.ami)
	bobPort := n2.register(t, "bob")
	carolPort := n1.register(t, "carol")
	showsBob := func(status string) {
		t.Helper()
		eventually(t, 10*time.Second, func() string {
			if out := n1.MustRX("queue show xq"); !strings.Contains(out, "Bob (SIP/bob) (ringinuse disabled) ("+status+")") {
				return "server 1 does not see bob " + status + ":\n" + out + "\nserver 2: " + n2.MustRX("devstate show SIP/bob")
			}
			return ""
		})
	}
	showsBob("Not in use")

	// bob's phone in a call on server 2 (another port of the same phone), until hung up below.
	bobHangup := phoneCall(t, n2.sip, "bob", "builder", "500")
	showsBob("In use")
	mark := rec.mark()
	calledBob := func() int {
		n := 0
		for _, ev := range rec.since(mark) {
			if field(ev, "Event") == "AgentCalled" && field(ev, "Interface") == "SIP/bob" {
				n++
			}
		}
		return n
	}

	// alice: bob, first in line, is skipped; carol answers (alice talks until hung up below).
	carol := goSipp(t, n1.sip, "queue-member.xml", "users-carol.csv", "-m", "1", "-p", strconv.Itoa(carolPort), "-mp", mediaPort(t), "-rtp_echo")
	time.Sleep(500 * time.Millisecond)
	aliceHangup := phoneCall(t, n1.sip, "alice", "wonderland", "320")
	if c := connects(n1.queueLog(t), "xq"); !slices.Equal(c, []string{"Carol"}) {
		t.Fatalf("server 1's connects %v, want Carol", c)
	}

	// dave waits: bob busy on server 2, carol talking to alice. Several retry rounds
	// (retry = 1) go by without bob being rung.
	bob := goSipp(t, n2.sip, "queue-member.xml", "users-bob.csv", "-m", "1", "-p", strconv.Itoa(bobPort), "-mp", mediaPort(t), "-rtp_echo")
	dave := goSipp(t, n1.sip, "queue-caller.xml", "users-dave.csv", "-m", "1", "-s", "320", "-au", "dave", "-ap", "diver", "-mp", mediaPort(t), "-d", "500")
	eventually(t, 10*time.Second, func() string {
		if out := n1.MustRX("queue show xq"); !strings.Contains(out, "xq has 1 calls") || !strings.Contains(out, "SIP/dave-") {
			return "dave not waiting in the queue:\n" + out
		}
		return ""
	})
	time.Sleep(3 * time.Second)
	if n := calledBob(); n != 0 {
		t.Fatalf("server 1 rang bob %d times while he was in a call on server 2", n)
	}
	if out := n1.MustRX("queue show xq"); !strings.Contains(out, "xq has 1 calls") {
		t.Fatalf("dave no longer waiting while bob is in a call on server 2:\n%s", out)
	}

	// bob hangs up on server 2: server 1's queue rings him next, for dave.
	bobHangup()
	waitSipp(t, "dave", dave)
	waitSipp(t, "bob", bob)
	aliceHangup()
	waitSipp(t, "carol", carol)
	eventually(t, 5*time.Second, func() string {
		if n := calledBob(); n != 1 {
			return fmt.Sprintf("bob rung %d times by server 1, want once (for dave, after his call on server 2)", n)
		}
		return ""
	})
	eventually(t, 10*time.Second, func() string {
		if c := connects(n1.queueLog(t), "xq"); !slices.Equal(c, []string{"Carol", "Bob"}) {
			return fmt.Sprintf("server 1's connects %v, want Carol (alice), Bob (dave)", c)
		}
		return ""
	})
	for _, l := range n1.queueLog(t) {
		if strings.Contains(l, "RINGNOANSWER") {
			t.Errorf("a member was rung in vain: %s", l)
		}
	}

	// bob paused through server 1's AMI: server 2's queue rings carol, never bob.
	a := amiLogin(t, n1.ami, "admin", "amp111")
	if r := a.action("Action", "QueuePause", "Queue", "xq", "Interface", "SIP/bob", "Paused", "true", "Reason", "meeting"); field(r, "Response") != "Success" {
		t.Fatalf("QueuePause: %q", r)
	}
	eventually(t, 10*time.Second, func() string {
		if out := n2.MustRX("queue show xq"); !strings.Contains(out, "(paused:meeting") || !strings.Contains(out, "Carol (SIP/carol) (ringinuse disabled) (Not in use)") {
			return "server 2 does not see bob paused and carol free:\n" + out
		}
		return ""
	})
	carol = goSipp(t, n1.sip, "queue-member.xml", "users-carol.csv", "-m", "1", "-p", strconv.Itoa(carolPort), "-mp", mediaPort(t), "-rtp_echo")
	time.Sleep(500 * time.Millisecond)
	mustSipp(t, n2.sip, "queue-caller.xml", "users-alice.csv", "-m", "1", "-s", "320", "-au", "alice", "-ap", "wonderland", "-mp", mediaPort(t), "-d", "500")
	waitSipp(t, "carol", carol)
	log2 := n2.queueLog(t)
	if c := connects(log2, "xq"); !slices.Equal(c, []string{"Carol"}) {
		t.Errorf("server 2's connects %v, want Carol", c)
	}
	for _, l := range log2 {
		if strings.Contains(l, "|Bob|") && !strings.Contains(l, "PAUSE") {
			t.Errorf("server 2 rang bob, paused on server 1: %s", l)
		}
	}
}

// phoneCall makes a call from a phone of user (a sipgo UAC on its own port) to exten on
// server and returns once it is answered; the function it returns hangs up (BYE).
func phoneCall(t *testing.T, server, user, pass, exten string) (hangup func()) {
	t.Helper()
	ph := sipphone.New(t, server)
	dialogs := sipgo.NewDialogClientCache(ph.Client, sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: "127.0.0.1", Port: ph.Port}})
	req := ph.Request(sip.INVITE, user, exten)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody([]byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio " + mediaPort(t) + " RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sess, err := dialogs.WriteInvite(ctx, req)
	if err != nil {
		t.Fatalf("%s calls %s: %v", user, exten, err)
	}
	if err := sess.WaitAnswer(ctx, sipgo.AnswerOptions{Username: user, Password: pass}); err != nil {
		t.Fatalf("%s calls %s: %v", user, exten, err)
	}
	if err := sess.Ack(ctx); err != nil {
		t.Fatalf("%s's ACK: %v", user, err)
	}
	return func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := sess.Bye(ctx); err != nil {
			t.Errorf("%s hangs up: %v", user, err)
		}
		sess.Close()
	}
}

// TestQueueAuditRealtimeCallAndQueueLogTable (acceptance: realtime queue and members from
// PostgreSQL, a member row added used without a reload; item 4: queue_log to the realtime
// queue_log family, Asterisk's table). rtq's only member row names bob, not registered;
// carol's row is inserted while the server runs and her phone takes alice's call. Every
// queue_log line of the file is in the table too (callid, queuename, agent, event,
// data1..data5, time).
func TestQueueAuditRealtimeCallAndQueueLogTable(t *testing.T) {
	schema := pgScratch(t)
	db := pgConn(t, schema)
	shared := testenv.SharedPath(t, "asterisk-schema")
	create, err := realtimetest.TableStatements(shared, "postgres", "queues", "queue_members")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(shared, "postgresql_queue_log.sql"))
	if err != nil {
		t.Fatal(err)
	}
	ql := regexp.MustCompile(`(?s)CREATE TABLE queue_log \(.*?\n\);`).FindString(string(b))
	if ql == "" {
		t.Fatal("no CREATE TABLE queue_log in postgresql_queue_log.sql")
	}
	for _, q := range append(create, ql) {
		pgExec(t, db, q)
	}
	installNotify(t, db, "pleiades_realtime")
	n := auditNode(t, "", "[calls]\nexten => 330,1,Queue(rtq,r)\n same => n,Hangup()\n", map[string]string{
		"extconfig.conf": "[settings]\nqueues => pgsql,test,queues\nqueue_members => pgsql,test,queue_members\nqueue_log => pgsql,test,queue_log\n",
		"res_pgsql.conf": "[general]\ndbhost = 127.0.0.1\ndbport = 5432\ndbname = test\ndbuser = postgres\nsearch_path = " + schema +
			"\nlisten_channel = pleiades_realtime\n",
	})
	pgExec(t, db, "INSERT INTO queues (name, strategy, timeout, retry) VALUES ('rtq', 'linear', 5, 1)")
	pgExec(t, db, "INSERT INTO queue_members (queue_name, interface, uniqueid, membername) VALUES ('rtq', 'SIP/bob', '1', 'Bob')")
	if out := n.MustRX("queue show rtq"); !strings.Contains(out, "Bob (SIP/bob) (ringinuse enabled) (realtime) (Unavailable)") {
		t.Fatalf("queue show rtq:\n%s", out)
	}
	pgExec(t, db, "INSERT INTO queue_members (queue_name, interface, uniqueid, membername) VALUES ('rtq', 'SIP/carol', '2', 'Carol')")
	carolPort := n.register(t, "carol")
	eventually(t, 10*time.Second, func() string {
		if out := n.MustRX("queue show rtq"); !strings.Contains(out, "Carol (SIP/carol) (ringinuse enabled) (realtime) (Not in use)") {
			return out
		}
		return ""
	})
	n.queueCall(t, "alice", "330", "carol", carolPort)
	fileLines := n.queueLog(t)
	matchAll(t, "queue_log", fileLines, `^\S+\|rtq\|NONE\|ENTERQUEUE\|\|alice\|1$`, `^\S+\|rtq\|Carol\|CONNECT\|`, `^\S+\|rtq\|Carol\|COMPLETECALLER\|`)
	eventually(t, 10*time.Second, func() string {
		rows, err := db.Query(context.Background(), "SELECT time IS NOT NULL, callid, queuename, agent, event, coalesce(data1,''), coalesce(data2,''), coalesce(data3,''), coalesce(data4,''), coalesce(data5,'') FROM queue_log ORDER BY id")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []string
		for rows.Next() {
			var timed bool
			f := make([]string, 9)
			if err := rows.Scan(&timed, &f[0], &f[1], &f[2], &f[3], &f[4], &f[5], &f[6], &f[7], &f[8]); err != nil {
				t.Fatal(err)
			}
			if !timed {
				return "a row without its time: " + strings.Join(f, "|")
			}
			got = append(got, strings.TrimRight(strings.Join(f, "|"), "|"))
		}
		var want []string
		for _, l := range n.queueLog(t) {
			want = append(want, strings.TrimRight(l, "|"))
		}
		if !slices.Equal(got, want) {
			return fmt.Sprintf("queue_log table:\n%s\nfile:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		return ""
	})
}
