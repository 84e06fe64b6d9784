package sipload

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

const notify = "NOTIFY sip:blf@127.0.0.1:5070 SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK.abc;rport\r\n" +
	"Max-Forwards: 70\r\n" +
	"From: <sip:100@127.0.0.1>;tag=srv\r\n" +
	"To: <sip:blf@127.0.0.1>;tag=phone\r\n" +
	"i: call-1\r\n" +
	"CSeq: 7 NOTIFY\r\n" +
	"Content-Type: application/dialog-info+xml\r\n" +
	"Content-Length: 140\r\n\r\n" +
	"<?xml version=\"1.0\"?>\n<dialog-info xmlns=\"urn:ietf:params:xml:ns:dialog-info\" version=\"42\" state=\"full\"></dialog-info>\n"

func TestAnswerNotify(t *testing.T) {
	out, callID, version := AnswerNotify(nil, []byte(notify))
	if callID != "call-1" || version != 42 {
		t.Fatalf("call-id %q version %d", callID, version)
	}
	msg, err := sip.ParseMessage(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	res, ok := msg.(*sip.Response)
	if !ok || res.StatusCode != 200 || res.CSeq().SeqNo != 7 || res.CallID().Value() != "call-1" {
		t.Fatalf("answer:\n%s", out)
	}
	if b, _ := res.Via().Params.Get("branch"); b != "z9hG4bK.abc" {
		t.Fatalf("branch %q", b)
	}
	if _, _, v := AnswerNotify(nil, []byte(strings.Replace(notify, `version="42"`, `state="x"`, 1))); v != -1 {
		t.Fatalf("version %d for a body without one", v)
	}
}

func TestServeAnswersInBatches(t *testing.T) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	peer, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	got := make(chan Notify, 200)
	others := make(chan string, 10)
	go Serve(conn, func(_ time.Time, ns []Notify) {
		for _, n := range ns {
			got <- n
		}
	}, func(b []byte, _ *net.UDPAddr) { others <- string(b) })
	defer conn.Close()
	for range 100 {
		if _, err := peer.WriteTo([]byte(notify), conn.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	peer.WriteTo([]byte("OPTIONS sip:x SIP/2.0\r\n\r\n"), conn.LocalAddr())
	buf := make([]byte, 2048)
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i := range 100 {
		n, _, err := peer.ReadFrom(buf)
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		if !strings.HasPrefix(string(buf[:n]), "SIP/2.0 200 OK\r\n") {
			t.Fatalf("answer %d: %q", i, buf[:n])
		}
		if n := <-got; n.Version != 42 {
			t.Fatalf("reported %+v", n)
		}
	}
	if o := <-others; !strings.HasPrefix(o, "OPTIONS") {
		t.Fatalf("other: %q", o)
	}
}

func FuzzAnswerNotify(f *testing.F) {
	f.Add([]byte(notify))
	f.Add([]byte("NOTIFY x\r\n:\r\nCall-ID:\r\n\r\n:dialog-info\" version=\"99999999999999"))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, _, v := AnswerNotify(nil, b)
		if !strings.HasPrefix(string(out), "SIP/2.0 200 OK\r\n") || v < -1 {
			t.Fatalf("%q -> %q %d", b, out, v)
		}
	})
}
