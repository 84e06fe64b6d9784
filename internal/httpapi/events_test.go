package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/pleiades-pbx/pleiades/internal/hint"
)

func (f *fixture) dial(t testing.TB, path, auth string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h := http.Header{}
	if auth != "" {
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(auth)))
	}
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(f.base, "http")+path, &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		code := 0
		if resp != nil {
			code = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (%d)", path, err, code)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// waitClients waits until the hub has n clients (a dial returns before the server registers).
func (f *fixture) waitClients(t testing.TB, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for f.srv.hub.clientCount() != n {
		if time.Now().After(deadline) {
			t.Fatalf("hub has %d clients, want %d", f.srv.hub.clientCount(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func read(t testing.TB, c *websocket.Conn) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
	return m
}

func TestWebSocketDeviceStateChangedAfterPUT(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.hints.Sync("extensions.conf", []hint.Spec{{Exten: "1234", Context: "devstate_test", Devices: "Custom:mystate"}})
	c := f.dial(t, "/ari/events?app=myapp", viewer)
	f.waitClients(t, 1)
	f.expect(t, "PUT", "/ari/deviceStates/Custom:mystate?deviceState=INUSE", admin, 204, nil)
	got := map[string]map[string]any{}
	for len(got) < 2 {
		m := read(t, c)
		got[m["type"].(string)] = m
	}
	d := got["DeviceStateChanged"]
	if d["application"] != "myapp" || d["asterisk_id"] != localEID.String() || d["timestamp"] == "" {
		t.Fatalf("DeviceStateChanged: %v", d)
	}
	if ds := d["device_state"].(map[string]any); ds["name"] != "Custom:mystate" || ds["state"] != "INUSE" {
		t.Fatalf("device_state: %v", ds)
	}
	h := got["ExtensionStatus"]["hint"].(map[string]any)
	if h["exten"] != "1234" || h["state_text"] != "InUse" || h["state"] != 1.0 {
		t.Fatalf("ExtensionStatus: %v", h)
	}
	// MWI and cluster membership.
	// The mailbox's MWI: device changes with it (two subscriptions: either may come first).
	f.expect(t, "PUT", "/ari/mailboxes/1234?oldMessages=1&newMessages=3", admin, 204, nil)
	got = map[string]map[string]any{}
	for len(got) < 2 {
		m := read(t, c)
		got[m["type"].(string)] = m
	}
	m := got["MessageWaiting"]
	if m["type"] != "MessageWaiting" || m["waiting"] != true || m["mailbox"].(map[string]any)["new_messages"] != 3.0 {
		t.Fatalf("MessageWaiting: %v", m)
	}
	if ds, _ := got["DeviceStateChanged"]["device_state"].(map[string]any); ds["name"] != "MWI:1234@default" || ds["state"] != "INUSE" {
		t.Fatalf("MWI device: %v", got["DeviceStateChanged"])
	}
	f.cluster.change(MemberEvent{Change: "left", Reason: "timeout", Member: Member{Name: "beta", EID: remoteEID, State: "down"}})
	m = read(t, c)
	if m["type"] != "ClusterMember" || m["change"] != "left" || m["reason"] != "timeout" || m["member"].(map[string]any)["name"] != "beta" {
		t.Fatalf("ClusterMember: %v", m)
	}
}

func TestWebSocketFiltersAndErrors(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.hints.Sync("extensions.conf", []hint.Spec{
		{Exten: "100", Context: "office", Devices: "Custom:a"},
		{Exten: "200", Context: "office", Devices: "Custom:b"},
	})
	onlyA := f.dial(t, "/api/events?types=DeviceStateChanged&device=Custom:a", admin)
	hints2 := f.dial(t, "/api/events?types=extensionstatus&exten=2", admin)
	f.waitClients(t, 2)
	f.ds.SetCustom("Custom:b", "BUSY")
	f.ds.SetCustom("Custom:a", "RINGING")
	f.mwi.Update("1", 1, 0, 0)
	m := read(t, onlyA)
	if m["type"] != "DeviceStateChanged" || m["device_state"].(map[string]any)["name"] != "Custom:a" {
		t.Fatalf("filtered device: %v", m)
	}
	if _, has := m["application"]; has {
		t.Fatalf("no app, no application: %v", m)
	}
	m = read(t, hints2)
	if m["type"] != "ExtensionStatus" || m["hint"].(map[string]any)["exten"] != "200" || m["hint"].(map[string]any)["state_text"] != "Busy" {
		t.Fatalf("filtered hint: %v", m)
	}
	// Nothing else arrives.
	f.idle(t)
	for _, c := range []*websocket.Conn{onlyA, hints2} {
		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
		_, b, err := c.Read(ctx)
		cancel()
		if err == nil {
			t.Fatalf("unexpected message %s", b)
		}
	}

	var e errorBody
	f.expect(t, "GET", "/ari/events", admin, 400, &e)
	if e.Message != "Missing required parameter 'app'" {
		t.Fatalf("no app: %q", e.Message)
	}
	f.expect(t, "GET", "/api/events?types=Bogus", admin, 400, &e)
	if !strings.Contains(e.Message, "Unknown event type 'Bogus'") {
		t.Fatalf("bad type: %q", e.Message)
	}
	if code, _, _ := f.do(t, "GET", "/api/events", ""); code != 401 {
		t.Fatalf("ws without auth: %d", code)
	}
}

func TestSlowClientDropped(t *testing.T) {
	stall := make(chan struct{})
	f := newFixture(t, fixtureOpts{
		ariConf: testARIConf + "\n[general](+)\nwebsocket_queue = 8\n",
		before:  func(s *Server) { s.hub.stall = map[string]chan struct{}{"slow": stall} },
	})
	defer close(stall)
	slow := f.dial(t, "/api/events?app=slow&types=DeviceStateChanged", admin)
	fast := f.dial(t, "/api/events?app=fast&types=DeviceStateChanged", admin)
	f.waitClients(t, 2)
	// One change at a time, so the fast client never has more than one waiting; the slow
	// client's writer is stalled, so its queue overflows.
	const n = 30
	for i := range n {
		f.ds.SetCustom(fmt.Sprintf("Custom:d%02d", i), "INUSE")
		m := read(t, fast)
		if got := m["device_state"].(map[string]any)["name"]; got != fmt.Sprintf("Custom:d%02d", i) {
			t.Fatalf("fast client message %d: %v", i, got)
		}
	}
	// The slow one is cut off with 1008 "slow consumer" (its queue of 8 overflowed).
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		_, _, err := slow.Read(ctx)
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.StatusPolicyViolation || ce.Reason != "slow consumer" {
			t.Fatalf("slow client ended with %v", err)
		}
		break
	}
	f.waitClients(t, 1)
	_, body, _ := f.do(t, "GET", "/metrics", "")
	if !strings.Contains(body, `pleiades_websocket_clients_dropped_total{reason="slow consumer"} 1`) {
		t.Fatal("drop not counted")
	}
}

func TestCloseDisconnectsClients(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	c := f.dial(t, "/api/events", admin)
	f.waitClients(t, 1)
	f.srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _, err := c.Read(ctx)
	if websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("after Close: %v", err)
	}
}
