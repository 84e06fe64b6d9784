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

var _, _, _ = context.Background, filepath.Join, realtimetest.TableStatements
