package integration

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSIPOverloadAnswersEveryRequest (issue 21): a REGISTER storm that the server falls
// behind on (it is stopped for a second in the middle of it, as a stall of the machine
// would) is answered in full: each REGISTER gets 401/200 or "503 Service Unavailable" with
// Retry-After (the requests that waited past maxrequestwait in the socket's queue), none is
// left to time out (sipp fails a registration on a timeout), some were refused (sip show
// settings counts them), and the server registers alice normally once the storm is over.
func TestSIPOverloadAnswersEveryRequest(t *testing.T) {
	sipPort := freePorts(t, 1)[0]
	nd := NewNode(t, "", map[string]string{
		"sip.conf": fmt.Sprintf("[general]\nudpbindaddr = 127.0.0.1:%d\nrealm = pleiades\nmaxrequests = 2\nretryafter = 3\nmaxrequestwait = 100\n"+
			"[alice]\ntype=friend\nhost=dynamic\nsecret=wonderland\n", sipPort),
	})
	nd.Start()
	if out := nd.MustRX("sip show settings"); !regexp.MustCompile(`Max request wait:\s+100 ms in the UDP queue, then 503`).MatchString(out) {
		t.Fatalf("sip show settings:\n%s", out)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sipPort)
	const rate, n = 3000, 9000
	stalled := make(chan struct{})
	go func() {
		defer close(stalled)
		time.Sleep(time.Second)
		nd.cmd.Process.Signal(syscall.SIGSTOP)
		time.Sleep(time.Second)
		nd.cmd.Process.Signal(syscall.SIGCONT)
	}()
	sipp(t, addr, "register-or-503.xml", "alice;[authentication username=alice password=wonderland]\n",
		"-r", strconv.Itoa(rate), "-m", strconv.Itoa(n), "-l", "6000")
	<-stalled
	out := nd.MustRX("sip show settings")
	m := regexp.MustCompile(`Overload:\s+503 \(Retry-After 3\) past 2 requests in progress; now \d+, refused (\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("sip show settings:\n%s", out)
	}
	refused, _ := strconv.Atoi(m[1])
	t.Logf("%d registrations offered at %d/s: %d requests refused 503, none unanswered", n, rate, refused)
	if refused == 0 {
		t.Errorf("a storm at %d/s with the server stalled for 1 s refused nothing", rate)
	}
	sipp(t, addr, "register.xml", "alice;[authentication username=alice password=wonderland]\n", "-m", "1")
	if out := nd.MustRX("sip show peers"); !strings.Contains(out, "alice/alice") && !strings.Contains(out, "127.0.0.1") {
		t.Fatalf("alice not registered after the storm:\n%s", out)
	}
}
