// Package sipphone is a small SIP phone on github.com/emiago/sipgo for tests: it registers and
// subscribes with digest authentication, answers OPTIONS (or stays silent, to test qualify)
// and collects the NOTIFYs it receives.
package sipphone

import (
	"context"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// Phone is one SIP user agent on a loopback UDP port.
type Phone struct {
	t  testing.TB
	ua *sipgo.UserAgent
	// Client sends the phone's requests (for tests that drive a transaction themselves).
	Client *sipgo.Client
	Addr   string // its own host:port
	Port   int
	Server string // the server's host:port
	// Notifies receives every NOTIFY (answered 200 OK), with the time it arrived.
	Notifies chan Received
	// Options counts the OPTIONS received; Silent makes the phone stop answering them.
	Options atomic.Int64
	Silent  atomic.Bool
}

// Received is a request with its arrival time.
type Received struct {
	Req *sip.Request
	At  time.Time
}

// New starts a phone that talks to server (host:port); it is closed when the test ends.
func New(t testing.TB, server string) *Phone {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("testphone/1.0"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ph := &Phone{t: t, ua: ua, Addr: conn.LocalAddr().String(), Port: conn.LocalAddr().(*net.UDPAddr).Port,
		Server: server, Notifies: make(chan Received, 1000)}
	srv.OnNotify(func(req *sip.Request, tx sip.ServerTransaction) {
		select {
		case ph.Notifies <- Received{req, time.Now()}:
		default:
		}
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
		ph.Options.Add(1)
		if ph.Silent.Load() {
			return
		}
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	go func() { _ = srv.ServeUDP(conn) }()
	for i := 0; ; i++ {
		if c, _ := ua.TransportLayer().GetConnection("udp", ph.Addr); c != nil {
			break
		}
		if i > 500 {
			t.Fatal("phone listener not ready")
		}
		time.Sleep(2 * time.Millisecond)
	}
	cl, err := sipgo.NewClient(ua, sipgo.WithClientConnectionAddr(ph.Addr), sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientPort(ph.Port))
	if err != nil {
		t.Fatal(err)
	}
	ph.Client = cl
	t.Cleanup(func() { conn.Close(); ua.Close() })
	return ph
}

func (ph *Phone) serverURI() sip.Uri {
	h, p, _ := net.SplitHostPort(ph.Server)
	port, _ := strconv.Atoi(p)
	return sip.Uri{Scheme: "sip", Host: h, Port: port}
}

// Request builds a request from user (From) to toUser (To and Request-URI user).
func (ph *Phone) Request(method sip.RequestMethod, user, toUser string) *sip.Request {
	ru := ph.serverURI()
	ru.User = toUser
	if method == sip.REGISTER {
		ru.User = ""
	}
	req := sip.NewRequest(method, ru)
	h, _, _ := net.SplitHostPort(ph.Server)
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: h}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(10))
	to := &sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: toUser, Host: h}, Params: sip.NewParams()}
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: "127.0.0.1", Port: ph.Port}})
	req.AppendHeader(sip.NewHeader("User-Agent", "testphone/1.0"))
	return req
}

// Do sends req and returns the final response.
func (ph *Phone) Do(req *sip.Request) *sip.Response {
	ph.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := ph.Client.Do(ctx, req)
	if err != nil {
		ph.t.Fatalf("%s: %v", req.Method, err)
	}
	return res
}

// DoAuth sends req and, on a 401 challenge, sends it again with a digest for user/pass.
func (ph *Phone) DoAuth(req *sip.Request, user, pass string) *sip.Response {
	ph.t.Helper()
	res := ph.Do(req)
	if res.StatusCode != 401 {
		return res
	}
	h := res.GetHeader("WWW-Authenticate")
	ch, err := digest.ParseChallenge(h.Value())
	if err != nil {
		ph.t.Fatal(err)
	}
	cred, err := digest.Digest(ch, digest.Options{Method: string(req.Method), URI: req.Recipient.Addr(), Username: user, Password: pass, Count: 1, Cnonce: "0a4f113b"})
	if err != nil {
		ph.t.Fatal(err)
	}
	req.RemoveHeader("Authorization")
	req.AppendHeader(sip.NewHeader("Authorization", cred.String()))
	req.RemoveHeader("Via")
	if c := req.CSeq(); c != nil {
		c.SeqNo++
	}
	return ph.Do(req)
}

// Register registers user for expires seconds.
func (ph *Phone) Register(user, pass string, expires int) *sip.Response {
	ph.t.Helper()
	req := ph.Request(sip.REGISTER, user, user)
	req.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(expires)))
	return ph.DoAuth(req, user, pass)
}

// Subscribe subscribes user to exten's event package ("dialog", "presence",
// "message-summary").
func (ph *Phone) Subscribe(user, pass, exten, event string) *sip.Response {
	ph.t.Helper()
	req := ph.Request(sip.SUBSCRIBE, user, exten)
	req.AppendHeader(sip.NewHeader("Event", event))
	switch event {
	case "dialog":
		req.AppendHeader(sip.NewHeader("Accept", "application/dialog-info+xml"))
	case "presence":
		req.AppendHeader(sip.NewHeader("Accept", "application/pidf+xml"))
	case "message-summary":
		req.AppendHeader(sip.NewHeader("Accept", "application/simple-message-summary"))
	}
	req.AppendHeader(sip.NewHeader("Expires", "600"))
	return ph.DoAuth(req, user, pass)
}

// Next waits up to d for the next NOTIFY.
func (ph *Phone) Next(d time.Duration) (Received, bool) {
	select {
	case r := <-ph.Notifies:
		return r, true
	case <-time.After(d):
		return Received{}, false
	}
}
