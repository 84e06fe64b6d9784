package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/pleiades-pbx/pleiades/test/sipphone"
)

// TestCallStateToBLFOnAnotherServer (issue 15's performance goal): alice calls from server
// 1; carol, registered on server 2, watches alice's hint there. From alice's INVITE to the
// "confirmed" NOTIFY carol gets from server 2, and from alice's BYE to the "terminated"
// one: the median of five calls is held to 50 ms.
func TestCallStateToBLFOnAnotherServer(t *testing.T) {
	routes := freePorts(t, 2)
	sipPorts := freePorts(t, 2)
	sipConf := "[general]\nudpbindaddr = 127.0.0.1:%d\nrealm = pleiades\n" +
		"[alice]\ntype=friend\nhost=dynamic\nsecret=wonderland\ncontext=default\n" +
		"[carol]\ntype=friend\nhost=dynamic\nsecret=lewis\ncontext=default\n"
	var nodes []*Node
	for i := range 2 {
		nd := NewNode(t, fmt.Sprintf("entityid = 02:00:00:00:0b:%02x\nsystemname = node%d", i+1, i+1), map[string]string{
			"extensions.conf": "[default]\nexten => alice,hint,SIP/alice\nexten => 200,1,Answer()\n same => n,Wait(30)\n",
			"cluster.conf":    clusterConf(i, routes, ""),
			"sip.conf":        fmt.Sprintf(sipConf, sipPorts[i]),
			"rtp.conf":        fmt.Sprintf("[general]\nrtpstart=%d\nrtpend=%d\n", 33000+i*200, 33199+i*200),
		})
		nd.Start()
		nodes = append(nodes, nd)
	}
	for _, nd := range nodes {
		waitMembers(t, nd, 2)
	}
	s1, s2 := fmt.Sprintf("127.0.0.1:%d", sipPorts[0]), fmt.Sprintf("127.0.0.1:%d", sipPorts[1])

	carol := sipphone.New(t, s2)
	if res := carol.Register("carol", "lewis", 600); res.StatusCode != 200 {
		t.Fatalf("carol registers: %d", res.StatusCode)
	}
	if res := carol.Subscribe("carol", "lewis", "alice", "dialog"); res.StatusCode != 200 {
		t.Fatalf("carol subscribes: %d", res.StatusCode)
	}
	// waitState waits for the dialog-info NOTIFY carrying state and returns when it came.
	waitState := func(state string) time.Time {
		t.Helper()
		for {
			r, ok := carol.Next(5 * time.Second)
			if !ok {
				t.Fatalf("no NOTIFY with dialog state %s", state)
			}
			body := string(r.Req.Body())
			if strings.Contains(body, "<state>"+state+"</state>") || (state == "terminated" && !strings.Contains(body, "<dialog ")) {
				return r.At
			}
		}
	}
	waitState("terminated") // the first NOTIFY: alice idle

	alice := sipphone.New(t, s1)
	if res := alice.Register("alice", "wonderland", 600); res.StatusCode != 200 {
		t.Fatalf("alice registers: %d", res.StatusCode)
	}
	dialogs := sipgo.NewDialogClientCache(alice.Client, sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "alice", Host: "127.0.0.1", Port: alice.Port}})
	sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n"
	var up, down []time.Duration
	for range 5 {
		req := alice.Request(sip.INVITE, "alice", "200")
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody([]byte(sdp))
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		t0 := time.Now()
		sess, err := dialogs.WriteInvite(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if err := sess.WaitAnswer(ctx, sipgo.AnswerOptions{Username: "alice", Password: "wonderland"}); err != nil {
			t.Fatal(err)
		}
		if err := sess.Ack(ctx); err != nil {
			t.Fatal(err)
		}
		up = append(up, waitState("confirmed").Sub(t0))
		t1 := time.Now()
		if err := sess.Bye(ctx); err != nil {
			t.Fatal(err)
		}
		down = append(down, waitState("terminated").Sub(t1))
		sess.Close()
		cancel()
	}
	slices.Sort(up)
	slices.Sort(down)
	t.Logf("INVITE on server 1 → confirmed NOTIFY from server 2: %v; BYE → terminated: %v", up, down)
	if up[2] > 50*time.Millisecond || down[2] > 50*time.Millisecond {
		t.Errorf("median: confirmed %v, terminated %v (> 50 ms)", up[2], down[2])
	}
	for _, nd := range nodes {
		eventually(t, 5*time.Second, func() string {
			if out := nd.MustRX("core show channels count"); !strings.HasPrefix(out, "0 active channels") {
				return "channels left:\n" + out
			}
			return ""
		})
	}
}
