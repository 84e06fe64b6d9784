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

	"github.com/pleiades-pbx/pleiades/internal/realtime/realtimetest"
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

var _, _, _ = context.Background, filepath.Join, realtimetest.TableStatements
