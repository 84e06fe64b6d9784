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
