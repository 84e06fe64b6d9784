package sip

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/pleiades-pbx/pleiades/internal/conf"
)

func freeUDPPort(t *testing.T) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}

// TestReloadMovesListeners: "sip reload" applies a change of udpbindaddr and tcpbindaddr:
// the server listens on the new addresses and no longer on the old ones, registrations stay,
// subscriptions end with reason deactivated (the subscriber subscribes again), and the command
// says where it listens now.
func TestReloadMovesListeners(t *testing.T) {
	e := newEnv(t, presConf, false)
	e.hints.set("100", "blf", 0)
	ph := newPhone(t, e.addr)
	if res := ph.register("alice", "wonderland", 120); res.StatusCode != 200 {
		t.Fatalf("register: %d", res.StatusCode)
	}
	if res := ph.Subscribe("alice", "wonderland", "100", "dialog"); res.StatusCode != 200 {
		t.Fatalf("subscribe: %d", res.StatusCode)
	}
	ph.waitNotify(2 * time.Second)
	newUDP := freeUDPPort(t)
	text := strings.Replace(presConf, "udpbindaddr=127.0.0.1:0", "udpbindaddr="+newUDP+"\ntcpbindaddr=127.0.0.1:0", 1)
	e.s.SetConfigSource(func(context.Context) (*conf.Config, error) { return parseConf(t, text), nil })
	out := e.cli("sip reload")
	if !strings.Contains(out, "SIP configuration reloaded.") || !strings.Contains(out, "SIP now listening on udp "+newUDP+", tcp 127.0.0.1:") {
		t.Fatalf("sip reload:\n%s", out)
	}
	n := ph.waitNotify(2 * time.Second)
	if ss := n.GetHeader("Subscription-State"); ss == nil || ss.Value() != "terminated;reason=deactivated" {
		t.Fatalf("subscription not ended with reason deactivated: %v", ss)
	}
	udp, tcp := e.s.Addr()
	if udp.String() != newUDP || !tcp.IsValid() {
		t.Fatalf("listening on %s, %s", udp, tcp)
	}
	if e.ds.get("SIP/alice") != "NOT_INUSE" {
		t.Fatal("registration lost when the listeners moved")
	}
	moved := newPhone(t, newUDP)
	if res := moved.register("alice", "wonderland", 120); res.StatusCode != 200 {
		t.Fatalf("register at the new address: %d", res.StatusCode)
	}
	if c, err := net.DialTimeout("tcp", tcp.String(), time.Second); err != nil {
		t.Fatalf("TCP listener: %v", err)
	} else {
		c.Close()
	}
	// the old address answers no more
	old := newRawClient(t, e.addr)
	old.register("alice", "x", "gone", 1, "")
	if m, err := old.read(500 * time.Millisecond); err == nil {
		t.Fatalf("the old address still answers: %v", m)
	}
	// TCP off again: the TCP listener closes
	e.s.SetConfigSource(func(context.Context) (*conf.Config, error) {
		return parseConf(t, strings.Replace(presConf, "udpbindaddr=127.0.0.1:0", "udpbindaddr="+newUDP, 1)), nil
	})
	if out := e.cli("sip reload"); !strings.Contains(out, "tcp none") {
		t.Fatalf("sip reload without tcpbindaddr:\n%s", out)
	}
	if _, err := net.DialTimeout("tcp", tcp.String(), time.Second); err == nil {
		t.Fatal("TCP still listening after tcpbindaddr was removed")
	}
}

// TestReloadStartsAServerThatHadNoConfig: a server that started without sip.conf listens after
// "sip reload" finds one; without one the reload fails and says so.
func TestReloadStartsAServerThatHadNoConfig(t *testing.T) {
	s := New(nil, nil, nil, nil, nil, "pbx")
	t.Cleanup(s.Close)
	var text string
	s.SetConfigSource(func(context.Context) (*conf.Config, error) {
		if text == "" {
			return nil, nil
		}
		return parseConf(t, text), nil
	})
	e := &env{t: t, s: s}
	if out := e.cli("sip reload"); !strings.Contains(out, "sip.conf not found") || !strings.Contains(out, "ERR") || s.Running() {
		t.Fatalf("sip reload without sip.conf:\n%s", out)
	}
	addr := freeUDPPort(t)
	text = strings.Replace(baseConf, "127.0.0.1:0", addr, 1) + alicePeer
	if out := e.cli("sip reload"); !strings.Contains(out, "SIP now listening on udp "+addr) {
		t.Fatalf("sip reload with a new sip.conf:\n%s", out)
	}
	ph := newPhone(t, addr)
	if res := ph.register("alice", "wonderland", 120); res.StatusCode != 200 {
		t.Fatalf("register: %d", res.StatusCode)
	}
	_ = sip.REGISTER
}
