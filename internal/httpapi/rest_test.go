package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/pleiades-pbx/pleiades/internal/cli"
	"github.com/pleiades-pbx/pleiades/internal/event"
	"github.com/pleiades-pbx/pleiades/internal/hint"
	"github.com/pleiades-pbx/pleiades/internal/state"
)

func TestAuth(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	code, body, h := f.do(t, "GET", "/ari/deviceStates", "")
	if code != 401 || h.Get("WWW-Authenticate") != `Basic realm="Asterisk REST Interface"` || !strings.Contains(body, `"message"`) {
		t.Fatalf("no credentials: %d %q %s", code, h.Get("WWW-Authenticate"), body)
	}
	if code, _, _ := f.do(t, "GET", "/ari/deviceStates", "admin:wrong"); code != 401 {
		t.Fatalf("wrong password: %d", code)
	}
	if code, _, _ := f.do(t, "GET", "/ari/deviceStates", "nobody:secret"); code != 401 {
		t.Fatalf("unknown user: %d", code)
	}
	f.expect(t, "GET", "/ari/deviceStates", viewer, 200, nil)
	f.expect(t, "GET", "/ari/deviceStates?api_key=viewer:look", "", 200, nil) // ARI's api_key
	var e errorBody
	f.expect(t, "PUT", "/ari/deviceStates/Custom:x?deviceState=INUSE", viewer, 403, &e)
	if e.Message != "Read-only user" {
		t.Fatalf("403 message %q", e.Message)
	}
	f.expect(t, "PUT", "/ari/mailboxes/1@default?oldMessages=1&newMessages=1", viewer, 403, nil)
	f.expect(t, "DELETE", "/ari/deviceStates/Custom:x", viewer, 403, nil)
	f.expect(t, "PUT", "/ari/deviceStates/Custom:x?deviceState=INUSE", admin, 204, nil)
	// The board's fetches ask for no browser dialog.
	req, _ := http.NewRequest("GET", f.base+"/api/hints", nil)
	req.Header.Set("X-Requested-With", "pleiades-board")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != "" {
		t.Fatalf("XHR 401: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	// /metrics is open by default, the board's files too.
	f.expect(t, "GET", "/metrics", "", 200, nil)
	if code, _, _ := f.do(t, "GET", "/board/", ""); code != 200 {
		t.Fatalf("board: %d", code)
	}
}

func TestDeviceStates(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.expect(t, "PUT", "/ari/deviceStates/Custom:x?deviceState=INUSE", admin, 204, nil)
	var ds DeviceState
	f.expect(t, "GET", "/ari/deviceStates/Custom:x", viewer, 200, &ds)
	if ds != (DeviceState{"Custom:x", "INUSE"}) {
		t.Fatalf("GET after PUT: %+v", ds)
	}
	if f.ds.State("Custom:x") != state.InUse {
		t.Fatal("engine not changed")
	}
	// Stasis: devices are ARI's own.
	f.expect(t, "PUT", "/ari/deviceStates/Stasis:conf1?deviceState=RINGING", admin, 204, nil)
	f.expect(t, "GET", "/ari/deviceStates/Stasis:conf1", admin, 200, &ds)
	if ds.State != "RINGING" {
		t.Fatalf("Stasis GET: %+v", ds)
	}
	// A device some other server has a state for is listed too; names with '/' work escaped
	// and unescaped.
	f.bus.Publish(event.DeviceState{Device: "SIP/alice", State: state.Busy, EID: remoteEID})
	f.idle(t)
	f.expect(t, "GET", "/ari/deviceStates/SIP%2Falice", admin, 200, &ds)
	f.expect(t, "GET", "/ari/deviceStates/SIP/alice", admin, 200, &ds)
	if ds != (DeviceState{"SIP/alice", "BUSY"}) {
		t.Fatalf("remote device: %+v", ds)
	}
	var all []DeviceState
	f.expect(t, "GET", "/ari/deviceStates", admin, 200, &all)
	want := []DeviceState{{"Custom:x", "INUSE"}, {"SIP/alice", "BUSY"}, {"Stasis:conf1", "RINGING"}}
	if len(all) != len(want) {
		t.Fatalf("list: %+v", all)
	}
	for i := range want {
		if all[i] != want[i] {
			t.Fatalf("list: %+v, want %+v", all, want)
		}
	}

	var e errorBody
	f.expect(t, "PUT", "/ari/deviceStates/Custom:x?deviceState=SLEEPY", admin, 400, &e)
	if !strings.Contains(e.Message, "Invalid deviceState") {
		t.Fatalf("400 message %q", e.Message)
	}
	f.expect(t, "PUT", "/ari/deviceStates/Custom:x", admin, 400, &e)
	if e.Message != "Missing required parameter 'deviceState'" {
		t.Fatalf("400 message %q", e.Message)
	}
	f.expect(t, "PUT", "/ari/deviceStates/SIP/alice?deviceState=INUSE", admin, 409, &e)
	if e.Message != "Uncontrolled device specified" {
		t.Fatalf("409 message %q", e.Message)
	}
	f.expect(t, "GET", "/ari/deviceStates/Nowhere/zed", admin, 404, &e)
	if e.Message != "Device not found" {
		t.Fatalf("404 message %q", e.Message)
	}
	f.expect(t, "GET", "/ari/nothing", admin, 404, nil)

	// DELETE removes.
	f.expect(t, "DELETE", "/ari/deviceStates/Stasis:conf1", admin, 204, nil)
	f.expect(t, "DELETE", "/ari/deviceStates/Stasis:conf1", admin, 404, nil)
	f.expect(t, "DELETE", "/ari/deviceStates/Custom:x", admin, 204, nil)
	f.expect(t, "DELETE", "/ari/deviceStates/Custom:x", admin, 404, nil)
	f.expect(t, "DELETE", "/ari/deviceStates/SIP/alice", admin, 409, nil)
	f.idle(t)
	f.expect(t, "GET", "/ari/deviceStates", admin, 200, &all)
	if len(all) != 1 || all[0].Name != "SIP/alice" {
		t.Fatalf("after DELETE: %+v", all)
	}
}

func TestMailboxes(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	var all []Mailbox
	f.expect(t, "GET", "/ari/mailboxes", admin, 200, &all)
	if len(all) != 0 {
		t.Fatalf("empty list: %+v", all)
	}
	f.expect(t, "PUT", "/ari/mailboxes/1234@default?oldMessages=5&newMessages=2", admin, 204, nil)
	f.expect(t, "PUT", "/ari/mailboxes/77?oldMessages=0&newMessages=1&urgentMessages=1", admin, 204, nil)
	var mb Mailbox
	f.expect(t, "GET", "/ari/mailboxes/1234@default", viewer, 200, &mb)
	if mb != (Mailbox{Name: "1234@default", OldMessages: 5, NewMessages: 2}) {
		t.Fatalf("GET: %+v", mb)
	}
	f.expect(t, "GET", "/ari/mailboxes", admin, 200, &all)
	if len(all) != 2 || all[1] != (Mailbox{Name: "77@default", NewMessages: 1, UrgentMessages: 1}) {
		t.Fatalf("list: %+v", all)
	}
	var e errorBody
	f.expect(t, "PUT", "/ari/mailboxes/1234?oldMessages=1", admin, 400, &e)
	if e.Message != "Missing required parameter 'newMessages'" {
		t.Fatalf("400: %q", e.Message)
	}
	f.expect(t, "PUT", "/ari/mailboxes/1234?oldMessages=-1&newMessages=1", admin, 400, &e)
	f.expect(t, "PUT", "/ari/mailboxes/1234?oldMessages=x&newMessages=1", admin, 400, &e)
	if !strings.Contains(e.Message, "oldMessages") {
		t.Fatalf("400: %q", e.Message)
	}
	f.expect(t, "GET", "/ari/mailboxes/9999@nowhere", admin, 404, &e)
	if e.Message != "Mailbox not found" {
		t.Fatalf("404: %q", e.Message)
	}
	f.expect(t, "DELETE", "/ari/mailboxes/1234@default", admin, 204, nil)
	f.expect(t, "DELETE", "/ari/mailboxes/1234@default", admin, 404, nil)
	f.expect(t, "GET", "/ari/mailboxes/1234@default", admin, 404, nil)
}

func TestHintsMembersMappings(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.hints.Sync("extensions.conf", []hint.Spec{
		{Exten: "1234", Context: "devstate_test", Devices: "Custom:mystate", Source: "extensions.conf:12"},
		{Exten: "200", Context: "office", Devices: "SIP/alice&Custom:a"},
	})
	f.ds.SetCustom("Custom:mystate", "INUSE")
	f.bus.Publish(event.DeviceState{Device: "Custom:mystate", State: state.NotInUse, EID: remoteEID})
	f.idle(t)
	var hs []Hint
	f.expect(t, "GET", "/api/hints", viewer, 200, &hs)
	if len(hs) != 2 {
		t.Fatalf("hints: %+v", hs)
	}
	h := hs[0]
	if h.Exten != "1234" || h.Context != "devstate_test" || h.State != 1 || h.StateText != "InUse" || h.Hint != "Custom:mystate" || h.Source != "extensions.conf:12" {
		t.Fatalf("hint: %+v", h)
	}
	d := h.Devices[0]
	if d.Name != "Custom:mystate" || d.State != "INUSE" || len(d.Servers) != 2 ||
		d.Servers[0] != (ServerState{EID: localEID.String(), Node: "alpha", State: "INUSE", Self: true}) ||
		d.Servers[1] != (ServerState{EID: remoteEID.String(), Node: "beta", State: "NOT_INUSE"}) {
		t.Fatalf("devices: %+v", h.Devices)
	}
	if hs[1].StateText != "Idle" || len(hs[1].Devices) != 2 || hs[1].Devices[0].State != "INVALID" {
		t.Fatalf("second hint: %+v", hs[1])
	}
	f.expect(t, "GET", "/api/hints?context=office", viewer, 200, &hs)
	if len(hs) != 1 || hs[0].Exten != "200" {
		t.Fatalf("context filter: %+v", hs)
	}

	var ms []ClusterMember
	f.expect(t, "GET", "/api/cluster/members", viewer, 200, &ms)
	if len(ms) != 2 || ms[0].Name != "alpha" || !ms[0].Self || ms[1].EID != remoteEID.String() || ms[1].State != "up" || ms[1].LastHeartbeat == "" || ms[1].Site != "paris" || ms[1].SiteLink != "up" || ms[0].Site != "" || ms[0].SiteLink != "" {
		t.Fatalf("members: %+v", ms)
	}

	var rm RealtimeMappings
	body := f.expect(t, "GET", "/api/realtime/mappings", viewer, 200, &rm)
	if !strings.Contains(body, `"static":[]`) || !strings.Contains(body, `"families":[]`) {
		t.Fatalf("mappings: %s", body)
	}
}

func TestStandaloneMembers(t *testing.T) {
	f := newFixture(t, fixtureOpts{deps: func(d *Deps) { d.Cluster = nil; d.NodeName = "solo" }})
	var ms []ClusterMember
	f.expect(t, "GET", "/api/cluster/members", admin, 200, &ms)
	if len(ms) != 1 || ms[0].Name != "solo" || ms[0].EID != localEID.String() || !ms[0].Self || ms[0].Address != f.srv.Addr() {
		t.Fatalf("members: %+v", ms)
	}
}

func TestPrefixRedirectPrettyAndCLI(t *testing.T) {
	f := newFixture(t, fixtureOpts{
		httpConf: testHTTPConf + "prefix = asterisk\nredirect = / /asterisk/board/\nservername = Pleiades\n",
		ariConf:  testARIConf + "\n[general](+)\npretty = yes\n",
	})
	if code, _, _ := f.do(t, "GET", "/ari/deviceStates", admin); code != 404 {
		t.Fatalf("without prefix: %d", code)
	}
	body := f.expect(t, "GET", "/asterisk/api/cluster/members", admin, 200, nil)
	if !strings.Contains(body, "\n  {\n    \"name\"") {
		t.Fatalf("pretty: %s", body)
	}
	_, _, hdr := f.do(t, "GET", "/asterisk/metrics", "")
	if hdr.Get("Server") != "Pleiades" {
		t.Fatalf("Server header %q", hdr.Get("Server"))
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(f.base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 302 || resp.Header.Get("Location") != "/asterisk/board/" {
		t.Fatalf("redirect: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	reg := cli.NewRegistry()
	reg.MustRegister(f.srv.Commands()...)
	var out bytes.Buffer
	if err := reg.Run(context.Background(), "http show status", &out, nil); err != nil {
		t.Fatal(err)
	}
	want := "HTTP Server Status:\nPrefix: /asterisk\nServer: Pleiades\nServer Enabled and Bound to " + f.srv.Addr() + "\n\n" +
		"Enabled URI's:\n" +
		"/asterisk/ari/... => Asterisk RESTful API (deviceStates, mailboxes, events)\n" +
		"/asterisk/api/... => Pleiades REST API (hints, cluster members, realtime mappings, events)\n" +
		"/asterisk/metrics => Prometheus Metrics URI\n" +
		"/asterisk/board/... => BLF board\n" +
		"\nEnabled Redirects:\n  / => /asterisk/board/\n\nWebSocket event clients: 0\n"
	if out.String() != want {
		t.Fatalf("http show status:\n%s\nwant:\n%s", out.String(), want)
	}
	out.Reset()
	reg.Run(context.Background(), "ari show users", &out, nil)
	if out.String() != "r/o?  Username\n----  --------\nNo    admin\nYes   viewer\n" {
		t.Fatalf("ari show users:\n%s", out.String())
	}
}

func TestJSONErrorsAreJSON(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	_, body, h := f.do(t, "PUT", "/ari/deviceStates/Custom:x?deviceState=NOPE", admin)
	var e errorBody
	if h.Get("Content-Type") != "application/json" || json.Unmarshal([]byte(body), &e) != nil || e.Message == "" {
		t.Fatalf("error body %q (%s)", body, h.Get("Content-Type"))
	}
}
