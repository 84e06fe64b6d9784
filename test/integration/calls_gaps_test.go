package integration

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/pleiades-pbx/pleiades/test/sipphone"
)

// Issue 15's INVITE path had two behaviours tested in-process only: calls over TCP and
// busylevel. These run them through the real binary.

// gapsSIPConf is the calls tests' sip.conf with TCP on and dave, who is busy from his first
// call (busylevel = 1).
func gapsSIPConf(p []int) string {
	conf := strings.Replace(fmt.Sprintf(callsSIPConf, p[0]), "context = calls\n",
		fmt.Sprintf("context = calls\ntcpenable = yes\ntcpbindaddr = 127.0.0.1:%d\n", p[3]), 1)
	return conf + "\n[dave]\ntype = friend\nhost = dynamic\nsecret = diver\ncontext = calls\nbusylevel = 1\n"
}

const gapsDialplan = callsDialplan + `exten => 204,hint,SIP/dave
exten => 204,1,Dial(SIP/dave,3)
 same => n,Set(DB(dialstatus/${CALLERID(num)})=${DIALSTATUS})
 same => n,Hangup()
`

// TestCallsTCPThroughTheBinary: alice calls over TCP (sipp -t t1) to 200, Dial(SIP/bob) with
// bob (sipp UAS, echoing) over UDP: the answer, RTP relayed both ways, alice's BYE over TCP
// ends both legs; nothing is left.
func TestCallsTCPThroughTheBinary(t *testing.T) {
	var tcp string
	n := startNodeWith(t, func(p []int) string { tcp = fmt.Sprintf("127.0.0.1:%d", p[3]); return gapsSIPConf(p) }, gapsDialplan)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server output:\n%s", tailOf(n.out.String(), 3000))
		}
	})
	bobPort := n.registerSipp(t, "bob")
	bobC := make(chan string, 1)
	go func() {
		out, err := sippRun(t, n.sip, "call-bob.xml", "users-bob.csv", "-m", "1", "-p", strconv.Itoa(bobPort), "-mp", mediaPort(t), "-rtp_echo")
		if err != nil {
			out = fmt.Sprintf("%v\n%s", err, tailOf(out, 4000))
		} else {
			out = ""
		}
		bobC <- out
	}()
	time.Sleep(500 * time.Millisecond) // bob's sipp listening
	relayed0 := metric(t, n.http, "pleiades_rtp_relayed_packets_total")
	mustSipp(t, tcp, "call-alice.xml", "users.csv", "-m", "1", "-s", "200", "-au", "alice", "-ap", "wonderland", "-mp", mediaPort(t), "-t", "t1")
	if out := <-bobC; out != "" {
		t.Fatalf("bob's sipp: %s", out)
	}
	if v := metric(t, n.http, "pleiades_rtp_relayed_packets_total"); v <= relayed0 {
		t.Error("no RTP relayed on the TCP call")
	}
	n.hint(t, "200", "Idle")
	n.idle(t)
}

// TestCallsBusylevelThroughTheBinary: dave (busylevel = 1) rings with alice's call; bob's call
// to him meanwhile is refused without an INVITE to dave (chan_sip's sip_call: busylevel
// refuses outgoing calls): DIALSTATUS BUSY and 486 to bob; alice's call ends NOANSWER at the
// Dial timeout; nothing is left.
func TestCallsBusylevelThroughTheBinary(t *testing.T) {
	n := startNodeWith(t, gapsSIPConf, gapsDialplan)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server output:\n%s", tailOf(n.out.String(), 3000))
		}
	})
	davePort := freePorts(t, 1)[0]
	mustSipp(t, n.sip, "register.xml", "users-dave.csv", "-m", "1", "-p", strconv.Itoa(davePort))
	n.hint(t, "204", "Idle")
	daveC := make(chan string, 1)
	go func() {
		out, err := sippRun(t, n.sip, "call-noanswer.xml", "users-dave.csv", "-m", "1", "-p", strconv.Itoa(davePort))
		if err != nil {
			out = fmt.Sprintf("%v\n%s", err, tailOf(out, 4000))
		} else {
			out = ""
		}
		daveC <- out
	}()
	time.Sleep(500 * time.Millisecond) // dave's sipp listening
	type final struct {
		res *sip.Response
		err error
	}
	alice := sipphone.New(t, n.sip)
	aliceC := make(chan final, 1)
	go func() {
		_, res, err := inviteFinal(t, alice, "alice", "wonderland", "204", fmt.Sprintf(sdpOffer, 40010, "sendrecv"), 30*time.Second)
		aliceC <- final{res, err}
	}()
	n.hint(t, "204", "Ringing")
	bob := sipphone.New(t, n.sip)
	if _, res, err := inviteFinal(t, bob, "bob", "builder", "204", fmt.Sprintf(sdpOffer, 40012, "sendrecv"), 20*time.Second); err != nil || res.StatusCode != 486 {
		t.Errorf("bob's call to dave ringing at his busylevel: %v %v, want 486", res, err)
	}
	if f := <-aliceC; f.err != nil || f.res.StatusCode < 400 {
		t.Fatalf("alice's unanswered call: %v %v", f.res, f.err)
	}
	// dave's sipp takes exactly one call (a second INVITE would be a call it does not expect)
	if out := <-daveC; out != "" {
		t.Fatalf("dave's sipp: %s", out)
	}
	out := n.MustRX("database show dialstatus")
	for _, want := range []string{`/dialstatus/alice\s*:\s*NOANSWER`, `/dialstatus/bob\s*:\s*BUSY`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("database show dialstatus lacks %s:\n%s", want, out)
		}
	}
	n.hint(t, "204", "Idle")
	n.idle(t)
}
