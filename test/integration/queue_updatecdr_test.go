package integration

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/test/testenv"
)

// TestQueueUpdateCDRThroughTheBinary: alice (sipp) calls queue sales, whose member
// SIP/bob is named "Bob Agent"; bob (sipp) answers, alice talks and hangs up. With
// queues.conf [general] updatecdr=yes the caller's Master.csv line has the membername in
// its dstchannel column, as app_queue's updatecdr did; with updatecdr=no it has bob's
// channel (SIP/bob-...), as a Dial would.
func TestQueueUpdateCDRThroughTheBinary(t *testing.T) {
	if _, err := os.Stat("/usr/bin/sipp"); err != nil {
		testenv.Unavailable(t, "sipp not installed (Debian sip-tester): %v", err)
	}
	for i, tc := range []struct {
		updatecdr string
		want      func(string) bool
		wantText  string
	}{
		{"yes", func(s string) bool { return s == "Bob Agent" }, `"Bob Agent"`},
		{"no", func(s string) bool { return strings.HasPrefix(s, "SIP/bob-") }, "SIP/bob-..."},
	} {
		t.Run("updatecdr="+tc.updatecdr, func(t *testing.T) {
			p := freePorts(t, 1)
			rtp := 34000 + 200*i
			nd := NewNode(t, "", map[string]string{
				"sip.conf":     fmt.Sprintf(queueSIPConf, p[0]),
				"rtp.conf":     fmt.Sprintf("[general]\nrtpstart = %d\nrtpend = %d\n", rtp, rtp+100),
				"cdr.conf":     "[general]\nenable=yes\n",
				"cdr_csv.conf": "[csv]\nusegmtime=yes\nloguniqueid=yes\n",
				"queues.conf": "[general]\nupdatecdr = " + tc.updatecdr + "\n\n" +
					"[sales]\nstrategy = ringall\ntimeout = 10\nretry = 1\nmember => SIP/bob,0,Bob Agent\n",
				"extensions.conf": "[calls]\nexten => 300,1,Queue(sales,r)\n same => n,Hangup()\n",
			})
			nd.Start()
			noRace(t, nd)
			n := &queueNode{Node: nd, sip: fmt.Sprintf("127.0.0.1:%d", p[0])}
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("server output:\n%s", tailOf(n.out.String(), 4000))
				}
			})
			bobPort := n.register(t, "bob")
			bob := goSipp(t, n.sip, "queue-member.xml", "users-bob.csv", "-m", "1", "-p", strconv.Itoa(bobPort), "-mp", mediaPort(t), "-rtp_echo")
			time.Sleep(500 * time.Millisecond) // bob's sipp listening
			alice := goSipp(t, n.sip, "queue-caller.xml", "users-alice.csv", "-m", "1", "-s", "300", "-au", "alice", "-ap", "wonderland", "-mp", mediaPort(t), "-d", "1500")
			waitSipp(t, "alice", alice)
			waitSipp(t, "bob", bob)

			// accountcode src dst dcontext clid channel dstchannel lastapp lastdata start
			// answer end duration billsec disposition amaflags uniqueid
			row := readCSV(t, nd, 1)[0]
			if !strings.HasPrefix(row[5], "SIP/alice-") || !tc.want(row[6]) {
				t.Errorf("channel %q dstchannel %q, want SIP/alice-... and %s (row %q)", row[5], row[6], tc.wantText, row)
			}
			if row[2] != "300" || row[7] != "Queue" || row[8] != "sales,r" || row[14] != "ANSWERED" || row[10] == "" {
				t.Errorf("dst, lastapp, lastdata, disposition or answer wrong: %q", row)
			}
		})
	}
}
