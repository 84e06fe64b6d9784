package httpapi

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// Guessing ARI passwords: every failure is a NOTICE line in manager.c's wording (user name
// and path escaped); after MaxAuthFailures from one address every request with credentials
// is answered 429, even with the right password, until AuthBlockTime has passed. Requests
// without credentials do not count.
func TestAuthFailuresLoggedAndThrottled(t *testing.T) {
	logs := &testLog{}
	f := newFixture(t, fixtureOpts{log: logs.logger()})
	for range 10 {
		if code, _, _ := f.do(t, "GET", "/ari/deviceStates", ""); code != 401 {
			t.Fatalf("no credentials: %d", code)
		}
	}
	f.expect(t, "GET", "/ari/deviceStates", admin, 200, nil)
	for i := range MaxAuthFailures {
		user := "admin:wrong"
		if i == 1 {
			user = "x' from '10.9.8.7:pw"
		}
		if i == 2 {
			// (a Basic user name cannot hold ':')
			user = "y\n[Jan  1 00.00.00] NOTICE[1] manager.c 10.9.8.7 failed to authenticate as 'z':pw"
		}
		if code, _, _ := f.do(t, "GET", "/ari/deviceStates", user); code != 401 {
			t.Fatalf("failure %d: %d", i, code)
		}
	}
	code, body, h := f.do(t, "GET", "/ari/deviceStates", admin)
	if code != http.StatusTooManyRequests || h.Get("Retry-After") != "30" || !strings.Contains(body, "Too many failed authentications") {
		t.Fatalf("blocked address with the right password: %d %q %s", code, h.Get("Retry-After"), body)
	}
	now := time.Now().Add(AuthBlockTime + time.Second)
	clock := func() time.Time { return now }
	f.srv.clock.Store(&clock)
	f.expect(t, "GET", "/ari/deviceStates", admin, 200, nil)
	out := logs.String()
	for _, want := range []string{
		`level=INFO msg="127.0.0.1 failed to authenticate as 'admin' (HTTP GET /ari/deviceStates)"`,
		`msg="127.0.0.1 failed to authenticate as 'x\\' from \\'10.9.8.7' (HTTP GET /ari/deviceStates)"`,
		`msg="127.0.0.1 failed to authenticate as 'y\\x0a[Jan  1 00.00.00] NOTICE[1] manager.c 10.9.8.7 failed to authenticate as \\'z\\'' (HTTP`,
		"127.0.0.1: 5 failed HTTP authentications within 30s; requests from this address refused for 30s",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no log line with %s in\n%s", want, out)
		}
	}
	if n := strings.Count(out, "failed to authenticate as"); n != MaxAuthFailures+1 { // the forged one holds the words twice
		t.Errorf("%d failure lines", n)
	}
}

// Device and mailbox names are bounded (600 KB names were stored in astdb); DELETE removes
// the Custom state PUT stored.
func TestDeviceNameBoundAndDelete(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	long := "Custom:" + strings.Repeat("x", 600<<10)
	for _, m := range []string{"GET", "PUT", "DELETE"} {
		var e errorBody
		f.expect(t, m, "/ari/deviceStates/"+long+"?deviceState=INUSE", admin, 400, &e)
		if e.Message != "Device name too long (at most 256 bytes)" {
			t.Errorf("%s: %q", m, e.Message)
		}
	}
	f.expect(t, "PUT", "/ari/mailboxes/"+strings.Repeat("9", MaxNameLength+1)+"?oldMessages=0&newMessages=1", admin, 400, nil)
	edge := "Custom:" + strings.Repeat("y", MaxNameLength-len("Custom:"))
	f.expect(t, "PUT", "/ari/deviceStates/"+edge+"?deviceState=INUSE", admin, 204, nil)
	f.expect(t, "PUT", "/ari/deviceStates/"+edge+"x?deviceState=INUSE", admin, 400, nil)
	f.idle(t)
	if cs, _ := f.ds.CustomStates(); len(cs) != 1 {
		t.Fatalf("stored: %+v", cs)
	}
	f.expect(t, "DELETE", "/ari/deviceStates/"+edge, admin, 204, nil)
	f.idle(t)
	if cs, _ := f.ds.CustomStates(); len(cs) != 0 {
		t.Errorf("DELETE left %+v", cs)
	}
	var d DeviceState
	f.expect(t, "GET", "/ari/deviceStates/"+edge, admin, 200, &d)
	if d.State != "UNKNOWN" {
		t.Errorf("after DELETE: %+v", d)
	}
}
