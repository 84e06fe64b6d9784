package sip

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

const tcpConf = "[general]\nudpbindaddr=127.0.0.1:0\ntcpbindaddr=127.0.0.1:0\nrealm=pleiades\n"

// rawTCP is a SIP client on one TCP connection that writes raw bytes.
type rawTCP struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dialTCP(t *testing.T, addr string) *rawTCP {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawTCP{t: t, conn: c, r: bufio.NewReader(c)}
}

// register sends a REGISTER for user (with auth when not "") and returns the response.
func (c *rawTCP) register(user, callID string, cseq int, auth string) (*sip.Response, error) {
	local, srv := c.conn.LocalAddr().String(), c.conn.RemoteAddr().String()
	if auth != "" {
		auth = "Authorization: " + auth + "\r\n"
	}
	msg := "REGISTER sip:" + srv + ";transport=tcp SIP/2.0\r\nVia: SIP/2.0/TCP " + local + ";branch=z9hG4bK" + callID + strconv.Itoa(cseq) +
		"\r\nMax-Forwards: 70\r\nFrom: <sip:" + user + "@127.0.0.1>;tag=" + callID + "\r\nTo: <sip:" + user + "@127.0.0.1>\r\nCall-ID: " + callID +
		"\r\nCSeq: " + strconv.Itoa(cseq) + " REGISTER\r\nContact: <sip:" + user + "@" + local + ";transport=tcp>\r\n" + auth +
		"Expires: 120\r\nContent-Length: 0\r\n\r\n"
	_ = c.conn.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.conn.Write([]byte(msg)); err != nil {
		return nil, err
	}
	var head strings.Builder
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		head.WriteString(line)
		if line == "\r\n" {
			break
		}
	}
	m, err := sip.ParseMessage([]byte(head.String()))
	if err != nil {
		return nil, err
	}
	res, ok := m.(*sip.Response)
	if !ok {
		return nil, errors.New("not a response")
	}
	return res, nil
}

// registerDigest registers user with its password over the connection.
func (c *rawTCP) registerDigest(user, pass, callID string) int {
	c.t.Helper()
	res, err := c.register(user, callID, 1, "")
	if err != nil {
		c.t.Fatalf("REGISTER over TCP: %v", err)
	}
	if res.StatusCode != 401 {
		return res.StatusCode
	}
	uri := "sip:" + c.conn.RemoteAddr().String() + ";transport=tcp"
	res, err = c.register(user, callID, 2, credentials(c.t, res, user, pass, uri, 1))
	if err != nil {
		c.t.Fatalf("REGISTER over TCP with credentials: %v", err)
	}
	return res.StatusCode
}

// closedByServer reports whether the server closed the connection within d.
func (c *rawTCP) closedByServer(d time.Duration) bool {
	_ = c.conn.SetReadDeadline(time.Now().Add(d))
	_, err := c.r.ReadByte()
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}

// flakyListener fails its first n Accepts with EMFILE, as a process out of descriptors sees.
type flakyListener struct {
	net.Listener
	fail atomic.Int32
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.fail.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// TestTCPAcceptRetries: accept errors (here EMFILE, as when the process ran out of
// descriptors) do not end SIP over TCP: once they stop, a REGISTER over TCP works, and they
// are logged.
func TestTCPAcceptRetries(t *testing.T) {
	var fl *flakyListener
	e := newEnvWith(t, tcpConf+alicePeer, false, func(s *Server) {
		s.listenTCP = func(ctx context.Context, addr string) (net.Listener, error) {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return nil, err
			}
			fl = &flakyListener{Listener: ln}
			fl.fail.Store(8) // 5+10+20+40+80+160+320+640 ms of pauses
			return fl, nil
		}
	})
	_, tcp := e.s.Addr()
	c := dialTCP(t, tcp.String())
	if got := c.registerDigest("alice", "wonderland", "emfile"); got != 200 {
		t.Fatalf("REGISTER over TCP after accept errors: %d", got)
	}
	if fl.fail.Load() >= 0 {
		t.Fatalf("the accept errors were not all seen: %d left", fl.fail.Load())
	}
	if !strings.Contains(e.log.String(), "SIP TCP accept error on") || !strings.Contains(e.log.String(), "too many open files") {
		t.Fatalf("accept errors not logged:\n%s", e.log.String())
	}
}

// TestTCPAuthLimitAndTimeout: chan_sip's tcpauthlimit and tcpauthtimeout. Connections that
// have not carried an authenticated request are closed tcpauthtimeout after they were
// accepted, and beyond tcpauthlimit of them a new one is closed at once; an authenticated
// connection is neither limited nor timed out. pleiades_sip_connections follows.
func TestTCPAuthLimitAndTimeout(t *testing.T) {
	e := newEnvWith(t, tcpConf+"tcpauthlimit=2\ntcpauthtimeout=2\n"+alicePeer, false, nil)
	_, tcp := e.s.Addr()
	authed := dialTCP(t, tcp.String())
	if got := authed.registerDigest("alice", "wonderland", "authed"); got != 200 {
		t.Fatalf("REGISTER over TCP: %d", got)
	}
	idle1, idle2 := dialTCP(t, tcp.String()), dialTCP(t, tcp.String())
	waitFor(t, 2*time.Second, "three connections", func() bool { return e.s.Stats().Connections == 3 })
	over := dialTCP(t, tcp.String())
	if !over.closedByServer(time.Second) {
		t.Fatal("a connection beyond tcpauthlimit unauthenticated ones stayed open")
	}
	if n := e.s.Stats().Connections; n != 3 {
		t.Fatalf("connections after the refusal: %d, want 3", n)
	}
	start := time.Now()
	if !idle1.closedByServer(4*time.Second) || !idle2.closedByServer(time.Second) {
		t.Fatal("unauthenticated connections not closed after tcpauthtimeout")
	}
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Fatalf("closed after %v, before tcpauthtimeout", d)
	}
	waitFor(t, 2*time.Second, "one connection", func() bool { return e.s.Stats().Connections == 1 })
	// the authenticated one is still served
	if res, err := authed.register("alice", "authed", 3, ""); err != nil || res.StatusCode != 401 {
		t.Fatalf("authenticated connection after tcpauthtimeout: %v %v", res, err)
	}
	// and a new connection is accepted again
	again := dialTCP(t, tcp.String())
	if got := again.registerDigest("alice", "wonderland", "again"); got != 200 {
		t.Fatalf("new connection: %d", got)
	}
}

// TestTCPIdleTimeout: an authenticated connection on which nothing arrives for tcpIdle is
// closed (the test shortens tcpIdle; its default is max(maxexpiry, submaxexpiry) + 60 s).
func TestTCPIdleTimeout(t *testing.T) {
	e := newEnvWith(t, tcpConf+alicePeer, false, func(s *Server) {
		set := *s.set.Load()
		set.tcpIdle = 2 * time.Second
		s.set.Store(&set)
	})
	if got := e.s.set.Load().tcpIdle; got != 2*time.Second {
		t.Fatalf("tcpIdle %v", got)
	}
	_, tcp := e.s.Addr()
	c := dialTCP(t, tcp.String())
	if got := c.registerDigest("alice", "wonderland", "idle"); got != 200 {
		t.Fatalf("REGISTER over TCP: %d", got)
	}
	if !c.closedByServer(5 * time.Second) {
		t.Fatal("idle authenticated connection not closed")
	}
	waitFor(t, 2*time.Second, "no connection", func() bool { return e.s.Stats().Connections == 0 })
	if d := defaultSettings("").tcpIdle; d != 3660*time.Second {
		t.Fatalf("default tcpIdle %v", d)
	}
}
