package sip

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// TestTCP registers and subscribes over TCP; the NOTIFY comes back on the same connection.
func TestTCP(t *testing.T) {
	e := newEnv(t, strings.Replace(presConf, "[general]\n", "[general]\ntcpbindaddr=127.0.0.1:0\n", 1), false)
	_, tcp := e.s.Addr()
	if !tcp.IsValid() {
		t.Fatal("no TCP listener")
	}
	e.hints.set("100", "blf", 1)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ua, _ := sipgo.NewUA(sipgo.WithUserAgent("tcpphone"), sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(quiet)),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(quiet)))
	defer ua.Close()
	srv, _ := sipgo.NewServer(ua)
	notifies := make(chan *sip.Request, 10)
	srv.OnNotify(func(req *sip.Request, tx sip.ServerTransaction) {
		notifies <- req
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	cl, _ := sipgo.NewClient(ua)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	do := func(method sip.RequestMethod, user, exten string, hdrs ...sip.Header) *sip.Response {
		ru := sip.Uri{Scheme: "sip", User: exten, Host: "127.0.0.1", Port: int(tcp.Port()), UriParams: sip.NewParams()}
		ru.UriParams.Add("transport", "tcp")
		req := sip.NewRequest(method, ru)
		req.SetTransport("TCP")
		from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: "127.0.0.1"}, Params: sip.NewParams()}
		from.Params.Add("tag", sip.GenerateTagN(8))
		req.AppendHeader(from)
		req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: exten, Host: "127.0.0.1"}})
		req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: "127.0.0.1", Port: 5099, UriParams: sip.HeaderParams{{K: "transport", V: "tcp"}}}})
		for _, h := range hdrs {
			req.AppendHeader(h)
		}
		res, err := cl.Do(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode == 401 {
			res, err = cl.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: user, Password: "wonderland"})
			if err != nil {
				t.Fatal(err)
			}
		}
		return res
	}
	if res := do(sip.REGISTER, "alice", "alice", sip.NewHeader("Expires", "120")); res.StatusCode != 200 {
		t.Fatalf("TCP REGISTER: %d", res.StatusCode)
	}
	if out := e.cli("sip show peer alice"); !strings.Contains(out, "TCP") {
		t.Fatalf("transport not TCP:\n%s", out)
	}
	if res := do(sip.SUBSCRIBE, "alice", "100", sip.NewHeader("Event", "dialog"), sip.NewHeader("Expires", "120")); res.StatusCode != 200 {
		t.Fatalf("TCP SUBSCRIBE: %d", res.StatusCode)
	}
	select {
	case n := <-notifies:
		if !strings.Contains(string(n.Body()), "confirmed") {
			t.Fatalf("NOTIFY over TCP:\n%s", n.Body())
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no NOTIFY over TCP")
	}
	// what /metrics shows: one registration, one open connection, one subscription, the NOTIFY
	st := e.s.Stats()
	if st.Registrations != 1 || st.Connections != 1 || st.Subscriptions != 1 || st.Notifies < 1 {
		t.Fatalf("stats %+v", st)
	}
	ua.Close() // the phone's connection closes
	deadline := time.Now().Add(3 * time.Second)
	for e.s.Stats().Connections != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("connections still %d after the phone closed", e.s.Stats().Connections)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCLIShapes(t *testing.T) {
	e := newEnv(t, baseConf+alicePeer+"description=Front desk\n[static]\ntype=peer\nhost=192.0.2.10\nport=5070\ndeny=0.0.0.0/0\npermit=192.0.2.0/24\n", false)
	ph := newPhone(t, e.addr)
	if res := ph.register("alice", "wonderland", 120); res.StatusCode != 200 {
		t.Fatal(res.StatusCode)
	}
	// the list layouts are pinned by TestCLIListsGolden; here with a real registration
	out := e.cli("sip show peers")
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[1], "alice/alice               127.0.0.1                                D  Auto (No)  No             "+strconv.Itoa(ph.port)) ||
		lines[3] != "2 sip peers [Monitored: 0 online, 0 offline Unmonitored: 2 online, 0 offline]" {
		t.Fatalf("show peers:\n%s", out)
	}
	out = e.cli("sip show peer alice")
	for _, want := range []string{"  * Name       : alice", "  Secret       : <Set>", "  Context      : internal", "  Dynamic      : Yes", "  Status       : Unmonitored", "  Useragent    : testphone/1.0"} {
		if !strings.Contains(out, want) {
			t.Errorf("show peer: missing %q in\n%s", want, out)
		}
	}
	if out := e.cli("sip show peer nobody"); !strings.Contains(out, "Peer nobody not found.") {
		t.Fatal(out)
	}
	if out := e.cli("sip show subscriptions"); !strings.Contains(out, "0 active SIP subscriptions") {
		t.Fatal(out)
	}
	if out := e.cli("sip show registry"); !strings.Contains(out, "0 SIP registrations.") {
		t.Fatal(out)
	}
	// debug: messages go to the log
	if out := e.cli("sip set debug peer alice"); !strings.Contains(out, "SIP Debugging Enabled for IP: 127.0.0.1") {
		t.Fatal(out)
	}
	ph.do(ph.newReq(sip.OPTIONS, "alice", ""))
	defer func() {
		if t.Failed() {
			t.Log(e.log.String())
		}
	}()
	waitFor(t, time.Second, "debug output", func() bool {
		l := e.log.String()
		return strings.Contains(l, "SIP read from UDP:127.0.0.1") && strings.Contains(l, "Transmitting to 127.0.0.1")
	})
	if out := e.cli("sip set debug off"); !strings.Contains(out, "SIP Debugging Disabled") {
		t.Fatal(out)
	}
	if out := e.cli("sip set debug bogus"); !strings.Contains(out, "ERR") {
		t.Fatal(out)
	}
}
