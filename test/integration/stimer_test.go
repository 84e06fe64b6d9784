package integration

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestCallsSessionTimers: a sipp phone asks for session timers (RFC 4028) on a call to the
// Echo extension: Session-Expires below session-minse gets 422 with Min-SE: 90; 90 with
// refresher=uac is granted in the 200 (Session-Expires, Require: timer); an UPDATE without
// SDP and a re-INVITE without SDP refresh it (200 with Session-Expires each); BYE ends the
// call and nothing is left (test/sipp/call-timer.xml checks the headers).
func TestCallsSessionTimers(t *testing.T) {
	n := startCallsNode(t)
	mustSipp(t, n.sip, "call-timer.xml", "users.csv", "-m", "1", "-s", "201", "-au", "alice", "-ap", "wonderland", "-mp", mediaPort(t))
	n.idle(t)
}

// TestCallsNoAnswerDeclined: Dial(SIP/carol,3) rings carol (sipp, never answers) until its
// timeout; DIALSTATUS NOANSWER, the dialplan hangs up (NORMAL_CLEARING) and alice's sipp gets
// what chan_sip sends then: 603 Declined (test/sipp/call-declined.xml).
func TestCallsNoAnswerDeclined(t *testing.T) {
	n := startCallsNode(t)
	carolPort := n.registerSipp(t, "carol")
	carolDone := make(chan string, 1)
	go func() {
		out, err := sippRun(t, n.sip, "call-noanswer.xml", "users-carol.csv", "-m", "1", "-p", strconv.Itoa(carolPort))
		if err == nil {
			out = ""
		}
		carolDone <- out
	}()
	time.Sleep(500 * time.Millisecond)
	mustSipp(t, n.sip, "call-declined.xml", "users.csv", "-m", "1", "-s", "202", "-au", "alice", "-ap", "wonderland", "-mp", mediaPort(t))
	if out := <-carolDone; out != "" {
		t.Fatalf("carol's sipp: %s", tailOf(out, 4000))
	}
	if out := n.MustRX("database show dialstatus"); !strings.Contains(out, "NOANSWER") {
		t.Errorf("DIALSTATUS:\n%s", out)
	}
	n.idle(t)
}
