package integration

import (
	"testing"
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
