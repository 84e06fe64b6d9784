package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/pleiades-pbx/pleiades/test/sipphone"
	"github.com/pleiades-pbx/pleiades/test/testenv"
)

// runSippScenario runs one scenario of test/sipp against addr and fails the test when sipp
// fails.
func runSippScenario(t *testing.T, addr, scenario, csv string, args ...string) {
	t.Helper()
	const sipp = "/usr/bin/sipp"
	if _, err := os.Stat(sipp); err != nil {
		testenv.Unavailable(t, "sipp not installed (Debian sip-tester): %v", err)
	}
	dir, err := filepath.Abs("../sipp")
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	full := append([]string{addr, "-sf", filepath.Join(dir, scenario), "-inf", filepath.Join(dir, csv),
		"-i", "127.0.0.1", "-t", "u1", "-nostdin", "-timeout", "25s", "-timeout_error", "-trace_err"}, args...)
	cmd := exec.CommandContext(ctx, sipp, full...)
	cmd.Dir = work
	out, err := cmd.CombinedOutput()
	if err != nil {
		logs := ""
		files, _ := filepath.Glob(filepath.Join(work, "*.log"))
		for _, f := range files {
			b, _ := os.ReadFile(f)
			logs += "\n==== " + filepath.Base(f) + "\n" + string(b)
		}
		t.Errorf("sipp %s: %v\n%s%s", scenario, err, out, logs)
	}
}

const crossSIP = `[general]
udpbindaddr = 127.0.0.1:%d
realm = pleiades
[alice]
type=friend
host=dynamic
secret=wonderland
context=default
[bob]
type=friend
host=dynamic
secret=builder
context=default
`

const crossDialplan = `[default]
exten => bob,hint,SIP/bob
exten => 200,1,Dial(SIP/bob,20)
 same => n,Hangup()
exten => 300,1,Dial(SIP/bob,5)
 same => n,NoOp(DIALSTATUS=${DIALSTATUS})
`

// channelStats matches a "sip show channelstats" line: received and sent packets.
var channelStats = regexp.MustCompile(`(?m)^\S+\s+\S+\s+\d\d:\d\d:\d\d (\d+)\S?\s+\d+\s+\(\s*[\d.]+%\)\s+[\d.]+\s+(\d+)`)

// TestSIPCallAcrossServers: bob (sipp UAS, echoing RTP) registers on server 2; alice (sipp
// UAC) on server 1 calls 200, Dial(SIP/bob,20), with the same sip.conf and dialplan on both
// servers. Server 1 learns over the cluster that bob is on server 2, sends the INVITE there
// with its credential, and server 2 rings bob at his registration: bob answers, RTP flows
// both ways through both servers' relays, bob's hint is InUse on both servers, alice's BYE
// ends it and no channel is left on either. Before bob registers, the same Dial gives
// CHANUNAVAIL; a forged cluster INVITE to server 2 gets 403. A third server joining later
// learns bob's location in its join sync; when server 2 is lost its registrations go with it
// and Dial(SIP/bob) on server 1 is CHANUNAVAIL again.
func TestSIPCallAcrossServers(t *testing.T) {
	routes := freePorts(t, 2)
	sipPorts := freePorts(t, 2)
	nodes := make([]*Node, 2)
	for i := range nodes {
		nodes[i] = NewNode(t, fmt.Sprintf("entityid = 02:00:00:00:02:%02x\nsystemname = node%d", i+1, i+1), map[string]string{
			"extensions.conf": crossDialplan,
			"cluster.conf":    clusterConf(i, routes, ""),
			"sip.conf":        fmt.Sprintf(crossSIP, sipPorts[i]),
			"rtp.conf":        fmt.Sprintf("[general]\nrtpstart=%d\nrtpend=%d\n", 32000+i*200, 32199+i*200),
		})
		nodes[i].Start()
	}
	for _, nd := range nodes {
		waitMembers(t, nd, 2)
	}
	s1, s2 := fmt.Sprintf("127.0.0.1:%d", sipPorts[0]), fmt.Sprintf("127.0.0.1:%d", sipPorts[1])

	// bob registered nowhere: CHANUNAVAIL
	if out := nodes[0].MustRX("console dial 300@default"); !strings.Contains(out, "DIALSTATUS=CHANUNAVAIL") {
		t.Fatalf("Dial(SIP/bob) with bob registered nowhere:\n%s", out)
	}

	// a forged cluster call to server 2 is refused
	ph := sipphone.New(t, s2)
	req := ph.Request(sip.INVITE, "alice", "bob")
	req.AppendHeader(sip.NewHeader("X-Pleiades-Cluster", "eid=02:00:00:00:02:01;ts="+strconv.FormatInt(time.Now().Unix(), 10)+";mac=00ff"))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody([]byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 8\r\n"))
	if res := ph.Do(req); res.StatusCode != 403 {
		t.Errorf("forged cluster INVITE: %d, want 403", res.StatusCode)
	}

	bobPort := freePorts(t, 1)[0]
	runSippScenario(t, s2, "register.xml", "users-bob.csv", "-m", "1", "-p", strconv.Itoa(bobPort))
	hintRe := func(st string) *regexp.Regexp {
		return regexp.MustCompile(`bob@default\s+: SIP/bob\s+State:` + st + `\s`)
	}
	for _, nd := range nodes {
		eventually(t, 5*time.Second, func() string {
			if out := nd.MustRX("core show hint bob"); !hintRe("Idle").MatchString(out) {
				return "bob not Idle:\n" + out
			}
			return ""
		})
	}
	eventually(t, 5*time.Second, func() string {
		if out := nodes[0].MustRX("sip show locations"); !strings.Contains(out, "02:00:00:00:02:02") || !strings.Contains(out, s2) {
			return "server 1 does not know where bob is:\n" + out
		}
		return ""
	})

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		runSippScenario(t, s2, "call-bob.xml", "users-bob.csv", "-m", "1", "-p", strconv.Itoa(bobPort),
			"-mp", strconv.Itoa(freePorts(t, 1)[0]&^1), "-rtp_echo")
	}()
	time.Sleep(300 * time.Millisecond) // bob's sipp listening

	// during the call: bob InUse on both servers, two legs with RTP both ways on each
	var mu sync.Mutex
	var inUse [2]bool
	var flowing [2]bool
	var last [2]string
	stop := make(chan struct{})
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			for i, nd := range nodes {
				hint, _ := nd.RX("core show hint bob")
				stats, _ := nd.RX("sip show channelstats")
				ms := channelStats.FindAllStringSubmatch(stats, -1)
				ok := len(ms) == 2
				for _, m := range ms {
					rx, _ := strconv.Atoi(m[1])
					tx, _ := strconv.Atoi(m[2])
					ok = ok && rx > 0 && tx > 0
				}
				mu.Lock()
				inUse[i] = inUse[i] || hintRe("InUse").MatchString(hint)
				flowing[i] = flowing[i] || ok
				if len(ms) > 0 {
					last[i] = stats
				}
				mu.Unlock()
			}
		}
	}()
	runSippScenario(t, s1, "call-alice.xml", "users.csv", "-m", "1", "-s", "200", "-au", "alice", "-ap", "wonderland",
		"-mp", strconv.Itoa(freePorts(t, 1)[0]&^1))
	wg.Wait()
	close(stop)
	<-watchDone
	mu.Lock()
	for i := range nodes {
		if !inUse[i] {
			t.Errorf("server %d: bob's hint never InUse during the call", i+1)
		}
		if !flowing[i] {
			t.Errorf("server %d: RTP did not flow both ways on both legs; last sip show channelstats:\n%s", i+1, last[i])
		}
	}
	mu.Unlock()
	// a server that joins later learns where bob is in its join sync
	more := freePorts(t, 2)
	n3 := NewNode(t, "entityid = 02:00:00:00:02:03\nsystemname = node3", map[string]string{
		"extensions.conf": crossDialplan,
		"cluster.conf":    clusterConf(2, []int{routes[0], routes[1], more[0]}, ""),
		"sip.conf":        fmt.Sprintf(crossSIP, more[1]),
	})
	n3.Start()
	waitMembers(t, n3, 3)
	eventually(t, 5*time.Second, func() string {
		if out := n3.MustRX("sip show locations"); !strings.Contains(out, "02:00:00:00:02:02") || !strings.Contains(out, s2) {
			return "a joining server does not know where bob is:\n" + out
		}
		return ""
	})
	for i, nd := range nodes {
		eventually(t, 5*time.Second, func() string {
			if out := nd.MustRX("core show channels"); !strings.Contains(out, "0 active channels") {
				return fmt.Sprintf("server %d after the call:\n%s", i+1, out)
			}
			if out := nd.MustRX("core show hint bob"); !hintRe("Idle").MatchString(out) {
				return fmt.Sprintf("server %d: bob not Idle after the call:\n%s", i+1, out)
			}
			return ""
		})
	}

	// server 2 is lost: its registrations go with it, and bob is unavailable from server 1
	nodes[1].Kill()
	eventually(t, 10*time.Second, func() string {
		if out := nodes[0].MustRX("sip show locations"); !strings.Contains(out, "0 registrations") {
			return "server 2's registrations outlived it:\n" + out
		}
		return ""
	})
	if out := nodes[0].MustRX("console dial 300@default"); !strings.Contains(out, "DIALSTATUS=CHANUNAVAIL") {
		t.Errorf("Dial(SIP/bob) after server 2 left:\n%s", out)
	}
}
