package ami

import (
	"fmt"
	"github.com/pleiades-pbx/pleiades/internal/netaccept/netaccepttest"
	"net"
	"strings"
	"testing"
	"time"
)

// A client that has not logged in is cut off at its MaxRefusedBeforeLogin-th refused
// request: it gets that many answers, then the connection closes.
func TestRefusedBeforeLoginCutsOff(t *testing.T) {
	e := startServer(t, testConf, nil)
	c := dial(t, e.addr)
	var b strings.Builder
	for i := range MaxRefusedBeforeLogin + 3 {
		fmt.Fprintf(&b, "Action: Ping\r\nActionID: %d\r\n\r\n", i)
	}
	c.c.Write([]byte(b.String()))
	for i := range MaxRefusedBeforeLogin {
		want(t, c.read(), "Response", "Error", "Message", "Permission denied", "ActionID", fmt.Sprint(i))
	}
	c.expectClosed()
	if got := e.srv.Stats().RefusedBeforeLoginCut; got != 1 {
		t.Errorf("RefusedBeforeLoginCut = %d", got)
	}
	if !e.logs.contains(fmt.Sprintf("closed: %d requests refused before login", MaxRefusedBeforeLogin)) {
		t.Error("no log line for the cut")
	}
	// Packets without an action count as well; a login in time resets nothing but works.
	c = dial(t, e.addr)
	for range MaxRefusedBeforeLogin - 1 {
		want(t, c.action("Foo: bar"), "Message", "Missing action in request")
	}
	c.login("admin", "adminpw", "Events: off")
	for range MaxRefusedBeforeLogin + 1 {
		want(t, c.action("Action: Nope"), "Response", "Error") // logged in: never cut
	}
	want(t, c.action("Action: Ping"), "Ping", "Pong")
}

// Failure security events are rate-limited per source address: a client that reconnects
// and sends refused requests as fast as it can reaches the security listeners with at most
// SecurityEventBurst events (plus what the rate refills meanwhile); another address's events
// still pass; the listener is not disconnected.
func TestSecurityEventsRateLimitedPerAddress(t *testing.T) {
	e := startServer(t, testConf, nil)
	sec := dial(t, e.addr)
	sec.login("security", "securitypw")
	start := time.Now()
	const conns, each = 40, MaxRefusedBeforeLogin
	for range conns {
		c := dial(t, e.addr)
		var b strings.Builder
		for range each {
			b.WriteString("Action: Ping\r\n\r\n")
		}
		c.c.Write([]byte(b.String()))
		c.expectClosed()
	}
	elapsed := time.Since(start)
	// From another address: its own bucket.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 5 * time.Second}
	other, err := d.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	other.Write([]byte("Action: Ping\r\nActionID: other\r\n\r\n"))
	sent := conns * each
	limit := SecurityEventBurst + int(elapsed.Seconds()*SecurityEventRate) + 1
	got := 0
	for {
		p := sec.readEvent("RequestNotAllowed")
		if strings.Contains(p.Get("RemoteAddress"), "/127.0.0.2/") {
			break
		}
		got++
	}
	if got > limit || got < SecurityEventBurst {
		t.Errorf("%d of %d events from 127.0.0.1 reached the listener, want %d..%d", got, sent, SecurityEventBurst, limit)
	}
	st := e.srv.Stats()
	if int(st.SecurityEventsDropped) != sent-got {
		t.Errorf("dropped %d, want %d", st.SecurityEventsDropped, sent-got)
	}
	if st.SlowClientsCut != 0 || st.Authenticated != 1 {
		t.Errorf("the listener was cut off: %+v", st)
	}
	if !e.logs.contains("security events from 127.0.0.1 rate-limited") {
		t.Error("no rate-limit log line")
	}
	want(t, sec.action("Action: Ping"), "Ping", "Pong")
}

// Every authentication failure is logged at NOTICE (slog Info) in manager.c's wording, the
// user name escaped; the security channel gets res_security_log's line; displayconnects
// defaults to yes.
func TestFailedLoginLogLines(t *testing.T) {
	e := startServer(t, strings.Replace(testConf, "displayconnects = yes\n", "", 1), nil)
	for _, tc := range []struct{ user, secret string }{
		{"admin", "wrong"}, {"ghost", "x"}, {"denied", "deniedpw"}, {"x' from '10.9.8.7", "x"}, {"cr\rlf", "x"},
	} {
		c := dial(t, e.addr)
		want(t, c.action("Action: Login", "Username: "+tc.user, "Secret: "+tc.secret), "Message", "Authentication failed")
		c.expectClosed()
	}
	for _, line := range []string{
		`level=INFO msg="127.0.0.1 failed to authenticate as 'admin'"`,
		`level=INFO msg="127.0.0.1 tried to authenticate with nonexistent user 'ghost'"`,
		`level=INFO msg="127.0.0.1 failed to authenticate as 'ghost'"`,
		`level=INFO msg="127.0.0.1 failed to pass IP ACL as 'denied'"`,
		`level=INFO msg="127.0.0.1 failed to authenticate as 'denied'"`,
		`msg="127.0.0.1 failed to authenticate as 'x\\' from \\'10.9.8.7'"`,
		`msg="127.0.0.1 failed to authenticate as 'cr\\x0dlf'"`,
		`SecurityEvent=\"InvalidPassword\"`,
		`RemoteAddress=\"IPV4/TCP/127.0.0.1/`,
		`AccountID=\"x\\' from \\'10.9.8.7\"`,
	} {
		if !e.logs.contains(line) {
			t.Errorf("no log line with %s in\n%s", line, strings.Join(e.logs.lines, ""))
		}
	}
	e.srv.clockOffset.Store(int64(LoginBlockTime + time.Second)) // past the block the failures earned
	c := dial(t, e.addr)
	c.login("admin", "adminpw", "Events: off")
	c.action("Action: Logoff")
	time.Sleep(50 * time.Millisecond)
	for _, line := range []string{"Manager 'admin' logged on from 127.0.0.1", "Manager 'admin' logged off from 127.0.0.1"} {
		if !e.logs.contains(line) {
			t.Errorf("displayconnects by default: no %q", line)
		}
	}
}

// Injected accept errors (EMFILE): the Manager keeps accepting once they pass and logs them
// once, not once each.
func TestAcceptErrorsRetriedAndLogged(t *testing.T) {
	e := startServer(t, testConf, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.srv.mu.Lock()
	e.srv.stopListenerLocked()
	e.srv.startListenerLocked(netaccepttest.Failing(ln, 8))
	e.srv.mu.Unlock()
	c := dial(t, ln.Addr().String())
	c.login("admin", "adminpw", "Events: off")
	want(t, c.action("Action: Ping"), "Ping", "Pong")
	var errs, again int
	e.logs.mu.Lock()
	for _, l := range e.logs.lines {
		if strings.Contains(l, "Manager accept error on") && strings.Contains(l, "too many open files") {
			errs++
		}
		if strings.Contains(l, "Manager accepts connections again") {
			again++
		}
	}
	e.logs.mu.Unlock()
	if errs != 1 || again != 1 {
		t.Errorf("%d error lines, %d recovery lines; want 1 and 1", errs, again)
	}
}

// RequestBadFormat (manager.c's report_req_bad_format): a packet without an action
// ("Action: NONE"), before login too, and an unknown action of a logged-in session; before
// login an unknown action is RequestNotAllowed, as in Asterisk. AccountID is one of its
// optional fields: after SessionTV, empty before login.
func TestRequestBadFormat(t *testing.T) {
	e := startServer(t, testConf, nil)
	sec := dial(t, e.addr)
	sec.login("security", "securitypw")
	sec.readEvent("SuccessfulAuth")
	keys := func(p *Packet) string {
		var k []string
		for _, l := range p.Lines {
			key, _, _ := strings.Cut(l, ":")
			k = append(k, key)
		}
		return strings.Join(k, ",")
	}
	const badFormat = "Event,Privilege,EventTV,Severity,Service,EventVersion,SessionID,LocalAddress,RemoteAddress,RequestType,SessionTV,AccountID"

	c := dial(t, e.addr)
	want(t, c.action("Foo: bar"), "Response", "Error", "Message", "Missing action in request")
	p := sec.read()
	if got := keys(p); got != badFormat {
		t.Fatalf("RequestBadFormat fields: %s (%q)", got, p.Lines)
	}
	want(t, p, "Event", "RequestBadFormat", "Severity", "Error", "EventVersion", "1", "RequestType", "Action: NONE", "AccountID", "")
	want(t, c.action("Action: Nope"), "Message", "Permission denied")
	want(t, sec.read(), "Event", "RequestNotAllowed", "RequestType", "Action: Nope", "AccountID", "")

	c.login("reader", "readerpw", "Events: off")
	sec.readEvent("SuccessfulAuth")
	want(t, c.action("Action: Nope"), "Message", "Invalid/unknown command: Nope. Use Action: ListCommands to show available commands.")
	p = sec.read()
	want(t, p, "Event", "RequestBadFormat", "RequestType", "Action: Nope", "AccountID", "reader")
	if got := keys(p); got != badFormat {
		t.Fatalf("RequestBadFormat fields: %s", got)
	}
	want(t, c.action("ActionID: x"), "Message", "Missing action in request", "ActionID", "x")
	want(t, sec.read(), "Event", "RequestBadFormat", "RequestType", "Action: NONE", "AccountID", "reader")
	// A known action the user may not run stays RequestNotAllowed.
	want(t, c.action("Action: DBPut"), "Message", "Permission denied")
	want(t, sec.read(), "Event", "RequestNotAllowed", "RequestType", "Action: DBPut", "AccountID", "reader")
}

// The session that logs in gets its own SuccessfulAuth (read=security), after the response
// and FullyBooted; its SessionTV is the login time.
func TestSuccessfulAuthToItself(t *testing.T) {
	e := startServer(t, testConf, nil)
	e.b.booted = true
	c := dial(t, e.addr)
	time.Sleep(20 * time.Millisecond)
	before := time.Now()
	want(t, c.action("Action: Login", "Username: admin", "Secret: adminpw"), "Response", "Success")
	want(t, c.read(), "Event", "FullyBooted")
	p := c.read()
	want(t, p, "Event", "SuccessfulAuth", "Privilege", "security,all", "AccountID", "admin", "UsingPassword", "1")
	tv, err := time.Parse(iso8601, p.Get("SessionTV"))
	if err != nil || tv.Before(before.Truncate(time.Millisecond)) {
		t.Errorf("SessionTV %q is not the login time (after %v): %v", p.Get("SessionTV"), before, err)
	}
}
