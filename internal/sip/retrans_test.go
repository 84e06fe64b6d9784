package sip

import (
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// Server transactions end with the final response (see the package doc), so a retransmitted
// request is handled again; these tests pin down that the answer stays the same.

func TestRetransmittedRegister(t *testing.T) {
	e := newEnv(t, baseConf+alicePeer, false)
	c := newRawClient(t, e.addr)
	c.register("alice", "wonderland", "rt1", 1, "")
	m, err := c.read(2 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := digest.ParseChallenge(m.(*sip.Response).GetHeader("WWW-Authenticate").Value())
	auth := digestHeader("alice", "wonderland", "REGISTER", "sip:"+c.srv.String(), ch.Nonce)
	for i := 0; i < 3; i++ { // the same request three times (same branch, CSeq, nc)
		c.register("alice", "wonderland", "rt1", 2, auth)
		m, err := c.read(2 * time.Second)
		if err != nil || m.(*sip.Response).StatusCode != 200 {
			t.Fatalf("retransmission %d: %v %v", i, err, m)
		}
	}
	// a new request (CSeq 3) reusing nc=1 is a replay
	c.register("alice", "wonderland", "rt1", 3, auth)
	m, err = c.read(2 * time.Second)
	if err != nil || m.(*sip.Response).StatusCode != 401 {
		t.Fatalf("replay: %v %v", err, m)
	}
	if !strings.Contains(e.log.String(), "authentication replay") {
		t.Fatal("replay not logged")
	}
}

func TestRetransmittedSubscribe(t *testing.T) {
	e := newEnv(t, presConf, false)
	e.hints.set("100", "blf", 0)
	c := newRawClient(t, e.addr)
	send := func(cseq int, auth string) {
		msg := "SUBSCRIBE sip:100@" + c.srv.String() + " SIP/2.0\r\nVia: SIP/2.0/UDP " + c.local + ";branch=z9hG4bKsub" + string(rune('0'+cseq)) +
			"\r\nMax-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=ft1\r\nTo: <sip:100@127.0.0.1>\r\nCall-ID: sub-rt\r\nCSeq: " + string(rune('0'+cseq)) +
			" SUBSCRIBE\r\nContact: <sip:alice@" + c.local + ">\r\n" + auth + "Event: dialog\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n"
		_, _ = c.conn.WriteToUDP([]byte(msg), c.srv)
	}
	send(1, "")
	m, err := c.read(2 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := digest.ParseChallenge(m.(*sip.Response).GetHeader("WWW-Authenticate").Value())
	auth := digestHeader("alice", "wonderland", "SUBSCRIBE", "sip:100@"+c.srv.String(), ch.Nonce)
	var tags []string
	notifies := 0
	for i := 0; i < 2; i++ {
		send(2, auth)
		deadline := time.Now().Add(2 * time.Second)
		got200 := false
		for time.Now().Before(deadline) && !(got200 && (notifies > 0)) {
			m, err := c.read(500 * time.Millisecond)
			if err != nil {
				break
			}
			switch m := m.(type) {
			case *sip.Response:
				if m.StatusCode != 200 {
					t.Fatalf("answer %d: %d", i, m.StatusCode)
				}
				tag, _ := m.To().Params.Get("tag")
				tags = append(tags, tag)
				got200 = true
			case *sip.Request:
				notifies++
				res := sip.NewResponseFromRequest(m, 200, "OK", nil)
				_, _ = c.conn.WriteToUDP([]byte(res.String()), c.srv)
			}
		}
	}
	for { // a stray second NOTIFY would show up here
		m, err := c.read(300 * time.Millisecond)
		if err != nil {
			break
		}
		if _, ok := m.(*sip.Request); ok {
			notifies++
		}
	}
	if len(tags) != 2 || tags[0] != tags[1] || tags[0] == "" {
		t.Fatalf("To tags: %v", tags)
	}
	if notifies != 1 || e.s.subs.len() != 1 {
		t.Fatalf("notifies=%d subscriptions=%d", notifies, e.s.subs.len())
	}
}
