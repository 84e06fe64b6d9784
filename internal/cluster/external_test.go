package cluster

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/test/testenv"

	"github.com/nats-io/nats-server/v2/server"
)

// externalURL returns the NATS server for external-mode tests (PLEIADES_TEST_NATS_URL,
// default nats://127.0.0.1:4222). Unreachable: skip, or fail when CI=true.
func externalURL(t *testing.T) string {
	u := os.Getenv("PLEIADES_TEST_NATS_URL")
	if u == "" {
		u = "nats://127.0.0.1:4222"
	}
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatalf("PLEIADES_TEST_NATS_URL %q: %v", u, err)
	}
	conn, err := net.DialTimeout("tcp", pu.Host, 2*time.Second)
	if err != nil {
		testenv.Unavailable(t, "NATS at %s unreachable: %v", u, err)
	}
	conn.Close()
	return u
}

func externalNode(t *testing.T, name string, id byte, clusterName string, urls ...string) *node {
	cfg := DefaultConfig()
	cfg.Mode = ModeExternal
	cfg.NodeName = name
	cfg.ClusterName = clusterName
	cfg.NATSURLs = urls
	cfg.HeartbeatInterval, cfg.MemberTimeout = 100*time.Millisecond, 500*time.Millisecond
	return newNodeCfg(t, name, testEID(id), cfg)
}

func randomClusterName(t *testing.T) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "pleiadestest_" + hex.EncodeToString(b)
}

func TestExternalMode(t *testing.T) {
	u := externalURL(t)
	name := randomClusterName(t)
	a := externalNode(t, "ext-a", 1, name, u)
	a.set(TypeDeviceState, "Custom:pre", "INUSE") // not running yet: not sent, but in the snapshot
	a.start(t)
	b := externalNode(t, "ext-b", 2, name, u).start(t)
	meshed(t, 3*time.Second, a, b)
	if got := b.local.state(TypeDeviceState, "Custom:pre", a.eid); got != "INUSE" {
		t.Errorf("b did not get a's snapshot: %q", got)
	}
	a.set(TypeMWI, "1234@default", "1", "2", "3")
	waitFor(t, time.Second, "b applies a's MWI", func() bool { return b.local.state(TypeMWI, "1234@default", a.eid) == "1,2,3" })
	b.set(TypeDeviceState, "Custom:b", "BUSY")
	waitFor(t, time.Second, "a applies b's state", func() bool { return a.local.state(TypeDeviceState, "Custom:b", b.eid) == "BUSY" })
	if len(a.c.Members()) != 2 || a.c.RouteAddr() != nil {
		t.Errorf("members %+v", a.c.Members())
	}
	b.c.crash()
	waitFor(t, 1500*time.Millisecond, "a purges b", func() bool { return a.local.state(TypeDeviceState, "Custom:b", b.eid) == "" })
}

// TestExternalServerRestart restarts the NATS server two external-mode nodes use: they
// reconnect, resync and keep no stale state (Asterisk's res_corosync spun at 100% CPU here).
func TestExternalServerRestart(t *testing.T) {
	start := func(port int) *server.Server {
		s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true})
		if err != nil {
			t.Fatal(err)
		}
		s.Start()
		if !s.ReadyForConnections(5 * time.Second) {
			t.Fatal("nats server did not start")
		}
		return s
	}
	s := start(server.RANDOM_PORT)
	port := s.Addr().(*net.TCPAddr).Port
	u := "nats://127.0.0.1:" + strconv.Itoa(port)
	a := externalNode(t, "a", 1, "restart", u).start(t)
	b := externalNode(t, "b", 2, "restart", u).start(t)
	meshed(t, 3*time.Second, a, b)
	a.set(TypeDeviceState, "Custom:a", "INUSE")
	b.set(TypeDeviceState, "Custom:b", "INUSE")
	waitFor(t, time.Second, "exchange", func() bool {
		return b.local.state(TypeDeviceState, "Custom:a", a.eid) != "" && a.local.state(TypeDeviceState, "Custom:b", b.eid) != ""
	})
	s.Shutdown()
	s.WaitForShutdown()
	waitFor(t, 3*time.Second, "purge while NATS is down", func() bool {
		return b.local.state(TypeDeviceState, "Custom:a", a.eid) == "" && a.local.state(TypeDeviceState, "Custom:b", b.eid) == ""
	})
	a.setQuiet(TypeDeviceState, "Custom:a", "RINGING")
	s2 := start(port)
	defer func() { s2.Shutdown(); s2.WaitForShutdown() }()
	waitFor(t, 5*time.Second, "resync after the restart", func() bool {
		return b.local.state(TypeDeviceState, "Custom:a", a.eid) == "RINGING" && a.local.state(TypeDeviceState, "Custom:b", b.eid) == "INUSE"
	})
}
