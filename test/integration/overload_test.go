package integration

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestSIPOverloadAnswersEveryRequest (issue 21): a REGISTER storm far past what the server
// admits (maxrequests=2 in progress) is answered in full: each REGISTER gets 401/200 or
// "503 Service Unavailable" with Retry-After, none is left to time out (sipp fails a
// registration on a timeout), some were refused (sip show settings counts them), and the
// server registers alice normally once the storm is over.
func TestSIPOverloadAnswersEveryRequest(t *testing.T) {
	sipPort := freePorts(t, 1)[0]
	nd := NewNode(t, "", map[string]string{
		"sip.conf": fmt.Sprintf("[general]\nudpbindaddr = 127.0.0.1:%d\nrealm = pleiades\nmaxrequests = 2\nretryafter = 3\n"+
			"[alice]\ntype=friend\nhost=dynamic\nsecret=wonderland\n", sipPort),
	})
	nd.Start()
	addr := fmt.Sprintf("127.0.0.1:%d", sipPort)
	const rate, n = 3000, 9000
	sipp(t, addr, "register-or-503.xml", "alice;[authentication username=alice password=wonderland]\n",
		"-r", strconv.Itoa(rate), "-m", strconv.Itoa(n), "-l", "3000")
	out := nd.MustRX("sip show settings")
	m := regexp.MustCompile(`Overload:\s+503 \(Retry-After 3\) past 2 requests in progress; now \d+, refused (\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("sip show settings:\n%s", out)
	}
	refused, _ := strconv.Atoi(m[1])
	t.Logf("%d registrations offered at %d/s: %d requests refused 503, none unanswered", n, rate, refused)
	if refused == 0 {
		t.Errorf("a storm at %d/s past 2 requests in progress refused nothing", rate)
	}
	sipp(t, addr, "register.xml", "alice;[authentication username=alice password=wonderland]\n", "-m", "1")
	if out := nd.MustRX("sip show peers"); !strings.Contains(out, "alice/alice") && !strings.Contains(out, "127.0.0.1") {
		t.Fatalf("alice not registered after the storm:\n%s", out)
	}
}
