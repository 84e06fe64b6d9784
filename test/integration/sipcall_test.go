package integration

import (
	"fmt"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/pleiades-pbx/pleiades/test/sipphone"
)

// TestSIPCallReachesTheCallHandler: a real server takes an authenticated INVITE through
// chan_sip's module (channel registry, RTP engine from rtp.conf): without a call handler set
// the call is refused as an unknown extension (404), an offer without a common codec gets 488,
// and nothing is left ("sip show channels" empty).
func TestSIPCallReachesTheCallHandler(t *testing.T) {
	sipPort := freePorts(t, 1)[0]
	nd := NewNode(t, "", map[string]string{
		"sip.conf": fmt.Sprintf("[general]\nudpbindaddr = 127.0.0.1:%d\nrealm = pleiades\n[alice]\ntype=friend\nhost=dynamic\nsecret=wonderland\ncontext=default\n", sipPort),
		"rtp.conf": "[general]\nrtpstart=31000\nrtpend=31100\n",
	})
	nd.Start()
	ph := sipphone.New(t, fmt.Sprintf("127.0.0.1:%d", sipPort))
	invite := func(m string) *sip.Request {
		req := ph.Request(sip.INVITE, "alice", "100")
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody([]byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" + m))
		return req
	}
	if res := ph.DoAuth(invite("m=audio 40000 RTP/AVP 0\r\n"), "alice", "wonderland"); res.StatusCode != 404 {
		t.Errorf("INVITE without a call handler: %d, want 404", res.StatusCode)
	}
	if res := ph.DoAuth(invite("m=audio 40000 RTP/AVP 3\r\na=rtpmap:3 GSM/8000\r\n"), "alice", "wonderland"); res.StatusCode != 488 {
		t.Errorf("INVITE with GSM only: %d, want 488", res.StatusCode)
	}
	if out := nd.MustRX("sip show channels"); !strings.Contains(out, "0 active SIP dialogs") {
		t.Errorf("sip show channels:\n%s", out)
	}
}
