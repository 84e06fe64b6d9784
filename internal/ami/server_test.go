package ami

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/state"
)

func TestBannerAndPing(t *testing.T) {
	e := startServer(t, testConf, nil)
	c := dial(t, e.addr)
	if c.banner != "Asterisk Call Manager/11.0.0\r\n" {
		t.Fatalf("banner %q", c.banner)
	}
	c.login("admin", "adminpw", "Events: off")
	p := c.action("Action: Ping", "ActionID: 42")
	if len(p.Lines) != 4 || p.Lines[0] != "Response: Success" || p.Lines[1] != "ActionID: 42" || p.Lines[2] != "Ping: Pong" ||
		!strings.HasPrefix(p.Lines[3], "Timestamp: ") {
		t.Fatalf("ping: %q", p.Lines)
	}
	ts := strings.TrimPrefix(p.Lines[3], "Timestamp: ")
	if dot := strings.IndexByte(ts, '.'); dot < 0 || len(ts)-dot-1 != 6 {
		t.Errorf("timestamp %q: want unix.micro", ts)
	}
}

func TestLoginPlainAndFullyBooted(t *testing.T) {
	e := startServer(t, testConf, nil)
	e.b.booted = true
	c := dial(t, e.addr)
	c.send("Action: Login", "Username: admin", "Secret: adminpw", "ActionID: a1")
	p := c.read()
	if strings.Join(p.Lines, "|") != "Response: Success|ActionID: a1|Message: Authentication accepted" {
		t.Fatalf("login: %q", p.Lines)
	}
	p = c.read()
	want(t, p, "Event", "FullyBooted", "Privilege", "system,all", "Status", "Fully Booted")
	if p.Lines[2] != "Uptime: "+p.Get("Uptime") || p.Lines[3] != "LastReload: "+p.Get("LastReload") || p.Lines[4] != "Status: Fully Booted" {
		t.Errorf("FullyBooted order: %q", p.Lines)
	}
	// Then its own SuccessfulAuth (admin reads security), as in Asterisk.
	want(t, c.read(), "Event", "SuccessfulAuth", "AccountID", "admin")
	// Already authenticated.
	p = c.action("Action: Login", "Username: admin", "Secret: adminpw")
	want(t, p, "Response", "Success", "Message", "Already authenticated")
	if !e.logs.contains("Manager 'admin' logged on from 127.0.0.1") {
		t.Errorf("no logon line in %v", e.logs.lines)
	}
	p = c.action("Action: Logoff")
	want(t, p, "Response", "Goodbye", "Message", "Thanks for all the fish.")
	c.expectClosed()
}

func TestLoginMD5(t *testing.T) {
	e := startServer(t, testConf, nil)
	sec := dial(t, e.addr)
	sec.login("security", "securitypw")

	c := dial(t, e.addr)
	p := c.action("Action: Challenge", "AuthType: md5", "ActionID: c")
	ch := p.Get("Challenge")
	if p.Lines[0] != "Response: Success" || p.Lines[1] != "ActionID: c" || ch == "" {
		t.Fatalf("challenge: %q", p.Lines)
	}
	if p2 := c.action("Action: Challenge", "AuthType: MD5"); p2.Get("Challenge") != ch {
		t.Errorf("second challenge differs")
	}
	want(t, c.action("Action: Challenge", "AuthType: plain"), "Response", "Error", "Message", "Must specify AuthType")
	sum := md5.Sum([]byte(ch + "adminpw"))
	p = c.action("Action: Login", "AuthType: MD5", "Username: admin", "Key: "+hex.EncodeToString(sum[:]), "Events: off")
	want(t, p, "Response", "Success", "Message", "Authentication accepted")

	// A wrong key: ChallengeResponseFailed.
	c2 := dial(t, e.addr)
	ch2 := c2.action("Action: Challenge", "AuthType: MD5").Get("Challenge")
	p = c2.action("Action: Login", "AuthType: MD5", "Username: admin", "Key: 00000000000000000000000000000000")
	want(t, p, "Response", "Error", "Message", "Authentication failed")
	c2.expectClosed()
	ev := sec.readEvent("ChallengeResponseFailed")
	sum2 := md5.Sum([]byte(ch2 + "adminpw"))
	want(t, ev, "Privilege", "security,all", "Service", "AMI", "AccountID", "admin", "Challenge", ch2,
		"Response", "00000000000000000000000000000000", "ExpectedResponse", hex.EncodeToString(sum2[:]))
}

func TestBadPasswordSecurityEventAndRateLimit(t *testing.T) {
	e := startServer(t, testConf, nil)
	sec := dial(t, e.addr)
	sec.login("security", "securitypw")
	for i := 0; i < MaxLoginFailures; i++ {
		c := dial(t, e.addr)
		p := c.action("Action: Login", "Username: admin", "Secret: wrong", "ActionID: x")
		if strings.Join(p.Lines, "|") != "Response: Error|ActionID: x|Message: Authentication failed" {
			t.Fatalf("bad password: %q", p.Lines)
		}
		c.expectClosed()
		ev := sec.readEvent("InvalidPassword")
		keys := make([]string, 0, len(ev.Lines))
		for _, l := range ev.Lines {
			k, _, _ := strings.Cut(l, ":")
			keys = append(keys, k)
		}
		if got := strings.Join(keys, ","); got != "Event,Privilege,EventTV,Severity,Service,EventVersion,AccountID,SessionID,LocalAddress,RemoteAddress,SessionTV" {
			t.Fatalf("InvalidPassword fields: %s", got)
		}
		want(t, ev, "Severity", "Error", "EventVersion", "2", "AccountID", "admin")
		if !strings.HasPrefix(ev.Get("RemoteAddress"), "IPV4/TCP/127.0.0.1/") || !strings.HasPrefix(ev.Get("LocalAddress"), "IPV4/TCP/127.0.0.1/") {
			t.Errorf("addresses: %q", ev.Lines)
		}
	}
	if !e.logs.contains("127.0.0.1 failed to authenticate as 'admin'") {
		t.Errorf("no security log line")
	}
	// Blocked now, even with the right password.
	c := dial(t, e.addr)
	want(t, c.action("Action: Login", "Username: admin", "Secret: adminpw"), "Response", "Error", "Message", "Authentication failed")
	c.expectClosed()
	if !e.logs.contains("refused: too many failed logins") {
		t.Errorf("no rate-limit log line")
	}
	// After the block time it works again.
	e.srv.clockOffset.Store(int64(LoginBlockTime + time.Second))
	c = dial(t, e.addr)
	c.login("admin", "adminpw")
}

func TestUnknownUserAndACL(t *testing.T) {
	e := startServer(t, testConf, nil)
	sec := dial(t, e.addr)
	sec.login("security", "securitypw")
	c := dial(t, e.addr)
	want(t, c.action("Action: Login", "Username: ghost", "Secret: x"), "Response", "Error", "Message", "Authentication failed")
	want(t, sec.readEvent("InvalidAccountID"), "AccountID", "ghost", "EventVersion", "1")
	c = dial(t, e.addr)
	want(t, c.action("Action: Login", "Username: denied", "Secret: deniedpw"), "Response", "Error", "Message", "Authentication failed")
	c.expectClosed()
	want(t, sec.readEvent("FailedACL"), "AccountID", "denied", "Severity", "Error")
	if !e.logs.contains("127.0.0.1 failed to pass IP ACL as 'denied'") {
		t.Errorf("no ACL log line")
	}
}

func TestACLRules(t *testing.T) {
	rule := func(permit bool, s string) aclRule {
		r, err := parseACLRule(permit, s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a := acl{rule(false, "0.0.0.0/0.0.0.0"), rule(true, "10.1.0.0/16"), rule(false, "10.1.2.3")}
	for ip, ok := range map[string]bool{"10.1.9.9": true, "10.1.2.3": false, "192.168.1.1": false, "10.2.0.1": false} {
		if a.allows(netipMust(ip)) != ok {
			t.Errorf("%s: want %v", ip, ok)
		}
	}
	if !(acl{}).allows(netipMust("1.2.3.4")) {
		t.Error("empty ACL must allow")
	}
	b := acl{rule(false, "!127.0.0.0/8")}
	if !b.allows(netipMust("127.0.0.1")) || b.allows(netipMust("8.8.8.8")) {
		t.Error("negated rule")
	}
	for _, bad := range []string{"300.1.1.1", "10.0.0.0/33", "10.0.0.0/255.0.255.0", "x"} {
		if _, err := parseACLRule(true, bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func netipMust(s string) netipAddr { return mustAddr(s) }

func TestActionsBeforeLoginAndUnknown(t *testing.T) {
	e := startServer(t, testConf, nil)
	c := dial(t, e.addr)
	want(t, c.action("Action: Ping", "ActionID: 1"), "Response", "Error", "Message", "Permission denied", "ActionID", "1")
	want(t, c.action("Action: Command", "Command: core show version"), "Response", "Error", "Message", "Permission denied")
	want(t, c.action("Foo: bar"), "Response", "Error", "Message", "Missing action in request")
	c.login("admin", "adminpw", "Events: off")
	p := c.action("Action: Nope", "ActionID: 9")
	if strings.Join(p.Lines, "|") != "Response: Error|ActionID: 9|Message: Invalid/unknown command: Nope. Use Action: ListCommands to show available commands." {
		t.Fatalf("unknown: %q", p.Lines)
	}
	// Case-insensitive action names.
	want(t, c.action("Action: pInG"), "Ping", "Pong")
}

func TestWritePermissions(t *testing.T) {
	e := startServer(t, testConf, nil)
	c := dial(t, e.addr)
	c.login("reader", "readerpw")
	want(t, c.action("Action: Command", "Command: test echo"), "Response", "Error", "Message", "Permission denied")
	want(t, c.action("Action: DBPut", "Family: f", "Key: k", "Val: v"), "Response", "Error", "Message", "Permission denied")
	want(t, c.action("Action: ExtensionState", "Exten: 1234", "Context: devstate_test"), "Response", "Success")
	p := c.action("Action: ListCommands")
	if p.Get("Command") != "" || p.Get("Originate") != "" || p.Get("Ping") != "Keepalive command. (Priv: <none>)" ||
		p.Get("ExtensionState") != "Check Extension Status. (Priv: call,reporting,all)" {
		t.Errorf("ListCommands for reader: %q", p.Lines)
	}
}

func TestGarbageAndLongLine(t *testing.T) {
	e := startServer(t, testConf, nil)
	c := dial(t, e.addr)
	// A NUL ends a line's content: the first line is empty and ends a packet, as in Asterisk.
	c.c.Write([]byte("\x00\x01\x02\xff\xfe garbage\r\n\x1b[2J\r\n\xff\xfe: \x01\r\n\r\n"))
	want(t, c.read(), "Response", "Error", "Message", "Missing action in request")
	want(t, c.read(), "Response", "Error", "Message", "Missing action in request")
	// A 1 MB line: refused with Asterisk's message, the session goes on.
	c.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	go func() {
		c.c.Write([]byte("Action: Ping\r\nActionID: big\r\nX-Junk: " + strings.Repeat("A", 1<<20) + "\r\n\r\n"))
	}()
	p := c.read()
	want(t, p, "Response", "Error", "Message", "Failed to parse message: line too long", "ActionID", "big")
	c.login("admin", "adminpw", "Events: off")
	want(t, c.action("Action: Ping"), "Ping", "Pong")
	// Too many lines.
	c.send(strings.TrimSuffix(strings.Repeat("X: y\r\n", MaxHeaders+5), "\r\n"))
	want(t, c.read(), "Message", "Too many lines in message or allocation failure")
	want(t, c.action("Action: Ping"), "Ping", "Pong")
}

func TestAuthTimeoutAndHalfOpenFlood(t *testing.T) {
	e := startServer(t, strings.Replace(testConf, "displayconnects = yes", "displayconnects = yes\nauthtimeout = 1\nauthlimit = 100\nauthlimitperaddress = 50", 1), nil)
	before := runtime.NumGoroutine()
	const n = 2000
	conns := make([]net.Conn, 0, n)
	for i := 0; i < n; i++ {
		c, err := net.DialTimeout("tcp", e.addr, 5*time.Second)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	// Wait until the server has taken every connection from its backlog (under load the
	// accept loop may still be behind the dialer), then hold it to the limits.
	st := e.srv.Stats()
	for wait := time.Now().Add(10 * time.Second); int(st.Rejected)+st.Unauthenticated < n && time.Now().Before(wait); st = e.srv.Stats() {
		time.Sleep(20 * time.Millisecond)
	}
	if st.Unauthenticated > 50 || st.Sessions > 50 {
		t.Errorf("unauthenticated sessions %d (limit 50 per address)", st.Unauthenticated)
	}
	if st.Rejected < n-50 {
		t.Errorf("rejected %d, want >= %d", st.Rejected, n-50)
	}
	if g := runtime.NumGoroutine(); g > before+2*50+20 {
		t.Errorf("goroutines %d (before %d): not bounded", g, before)
	}
	// Authentication timeout closes the half-open sessions.
	deadline := time.Now().Add(5 * time.Second)
	for e.srv.Stats().Sessions > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if s := e.srv.Stats().Sessions; s != 0 {
		t.Fatalf("%d sessions left after authtimeout", s)
	}
	if !e.logs.contains("failed to authenticate in 1 seconds") {
		t.Errorf("no auth timeout log")
	}
	c := dial(t, e.addr)
	c.login("admin", "adminpw")
}

func TestAllowMultipleLogin(t *testing.T) {
	e := startServer(t, testConf+"\n[single]\nsecret=s\nread=all\nwrite=all\nallowmultiplelogin=no\n", nil)
	a := dial(t, e.addr)
	a.login("single", "s")
	b := dial(t, e.addr)
	want(t, b.action("Action: Login", "Username: single", "Secret: s"), "Response", "Error", "Message", "Login Already In Use")
	b.expectClosed()
}

func TestConfigureErrorsKeepRunningConfig(t *testing.T) {
	e := startServer(t, testConf, nil)
	addr := e.addr
	bad := "[general]\nenabled = yes\nport = 99999\nbindaddr = nowhere\ntimestampevents = maybe\n[u]\nread = system,bogus\npermit = 1.2.3.4/99\nacl = named\neventfilter(action(inlude)) = x\neventfilter = (unclosed\n"
	cfg, err := conf.Parse("manager.conf", []byte(bad), conf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = e.srv.Configure(cfg)
	list, ok := err.(conf.ErrorList)
	if !ok || len(list) != 8 {
		t.Fatalf("errors: %v", err)
	}
	for _, want := range []string{"manager.conf:3:", "manager.conf:4:", "manager.conf:5:", "manager.conf:7:", "manager.conf:8:", "manager.conf:9:", "manager.conf:10:", "manager.conf:11:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %s in %v", want, err)
		}
	}
	if e.srv.Addr().String() != addr {
		t.Fatalf("listener changed after a failed Configure")
	}
	c := dial(t, addr)
	c.login("admin", "adminpw")
	c.readEvent("SuccessfulAuth")

	// A good reload with another port rebinds; the logged-in session stays.
	cfg, _ = conf.Parse("manager.conf", []byte(strings.Replace(testConf, "[admin]", "[general](+)\ntimestampevents=yes\n[admin]", 1)), conf.Options{})
	if err := e.srv.Configure(cfg); err != nil {
		t.Fatal(err)
	}
	want(t, c.action("Action: Ping"), "Ping", "Pong")
	// Disabled: listener closed.
	cfg, _ = conf.Parse("manager.conf", []byte("[general]\nenabled=no\n"), conf.Options{})
	if err := e.srv.Configure(cfg); err != nil {
		t.Fatal(err)
	}
	if e.srv.Addr() != nil {
		t.Errorf("still listening when disabled")
	}
	want(t, c.action("Action: Ping"), "Ping", "Pong")
}

func TestOriginateAsync(t *testing.T) {
	e := startServer(t, testConf, nil)
	c := dial(t, e.addr)
	c.login("admin", "adminpw", "Events: call")
	p := c.action("Action: Originate", "ActionID: o1", "Channel: Local/100@default", "Application: Wait", "Data: 1",
		"Async: true", "CallerID: \"Bob\" <200>", "Variable: A=1,B=2")
	want(t, p, "Response", "Success", "Message", "Originate successfully queued")
	ev := c.readEvent("OriginateResponse")
	got := strings.Join(ev.Lines, "|")
	if got != "Event: OriginateResponse|Privilege: call,all|ActionID: o1|Response: Success|Channel: Local/100@default-00000001;1|Application: Wait|Data: 1|Reason: 4|Uniqueid: 1700000000.1|CallerIDNum: 200|CallerIDName: Bob" {
		t.Errorf("OriginateResponse: %s", got)
	}
	e.b.mu.Lock()
	vars := e.b.originate[0].Vars
	e.b.mu.Unlock()
	if len(vars) != 2 || vars[1] != (Field{"B", "2"}) {
		t.Errorf("vars %v", vars)
	}
	want(t, c.action("Action: Originate", "Channel: Local/100@default", "Exten: 100", "Context: default", "Priority: 1"),
		"Response", "Success", "Message", "Originate successfully queued")
	want(t, c.action("Action: Originate", "Channel: SIP/alice", "Exten: 100", "Context: default", "Priority: 1"),
		"Response", "Error", "Message", "Originate failed")
	want(t, c.action("Action: Originate", "Channel: Local/100@default", "Exten: 100"),
		"Message", "Originate with 'Exten' requires 'Context' and 'Priority'")
	want(t, c.action("Action: Originate"), "Message", "Channel not specified")
	want(t, c.action("Action: Originate", "Channel: nochan", "Application: Wait"), "Message", "Invalid channel")
}

func TestSetvarDeviceStateAndGetvar(t *testing.T) {
	e := startServer(t, testConf, nil)
	c := dial(t, e.addr)
	c.login("admin", "adminpw", "Events: call")
	// The fake backend publishes the change before Setvar returns: the event may come first.
	c.send("Action: Setvar", "Variable: DEVICE_STATE(Custom:x)", "Value: INUSE", "ActionID: s")
	var p, ev *Packet
	for p == nil || ev == nil {
		x := c.read()
		if x.Get("Event") == "DeviceStateChange" {
			ev = x
		} else {
			p = x
		}
	}
	if strings.Join(p.Lines, "|") != "Response: Success|ActionID: s|Message: Variable Set" {
		t.Fatalf("setvar: %q", p.Lines)
	}
	if strings.Join(ev.Lines, "|") != "Event: DeviceStateChange|Privilege: call,all|Device: Custom:x|State: INUSE" {
		t.Errorf("event: %q", ev.Lines)
	}
	p = c.action("Action: Getvar", "Variable: DEVICE_STATE(Custom:x)", "ActionID: g")
	if strings.Join(p.Lines, "|") != "Response: Success|ActionID: g|Variable: DEVICE_STATE(Custom:x)|Value: INUSE" {
		t.Errorf("getvar: %q", p.Lines)
	}
	want(t, c.action("Action: Getvar", "Variable: GLOBALVAR"), "Value", "gv")
	want(t, c.action("Action: Setvar", "Variable: DEVICE_STATE(SIP/x)", "Value: INUSE"), "Response", "Error", "Message", "Variable not set")
	want(t, c.action("Action: Setvar"), "Message", "No variable specified")
	want(t, c.action("Action: Getvar", "Variable: X", "Channel: SIP/foo-1"), "Message", "No such channel")

	r := dial(t, e.addr)
	r.login("reader", "readerpw", "Events: off")
	want(t, r.action("Action: Getvar", "Variable: SHELL(id)"), "Response", "Error", "Message", "GetVar Access Forbidden: Variable")
}

func TestReloadCoreAndMisc(t *testing.T) {
	e := startServer(t, testConf, nil)
	c := dial(t, e.addr)
	c.login("admin", "adminpw", "Events: off")
	want(t, c.action("Action: Reload"), "Response", "Success", "Message", "Module Reloaded")
	want(t, c.action("Action: Reload", "Module: nope.so"), "Response", "Error", "Message", "No such module")
	want(t, c.action("Action: Reload", "Module: busy"), "Response", "Error", "Message", "A reload is in progress")
	want(t, c.action("Action: Command"), "Message", "No command provided")
	want(t, c.action("Action: Command", "Command: module   load foo.so"), "Message", "Command blacklisted")
	p := c.action("Action: Command", "Command: no such thing", "ActionID: e")
	want(t, p, "Response", "Error", "Message", "Command output follows")
	if !strings.HasPrefix(p.Get("Output"), "No such command 'no such thing'") {
		t.Errorf("output: %q", p.Lines)
	}
	p = c.action("Action: Events", "EventMask: off")
	want(t, p, "Events", "Off")
	want(t, c.action("Action: Events", "EventMask: call,system"), "Events", "On")
	want(t, c.action("Action: Events", "EventMask: "), "Message", "Invalid event mask")
	want(t, c.action("Action: PresenceState"), "Message", "No provider specified")
	want(t, c.action("Action: PresenceState", "Provider: CustomPresence:bob"), "Response", "Error",
		"Message", "Invalid provider CustomPresence:bob or provider in invalid state")
	want(t, c.action("Action: UserEvent", "UserEvent: Foo", "Bar: baz"), "Message", "Event Sent")
	p = c.action("Action: CoreStatus")
	want(t, p, "CoreStartupDate", fakeStart.Local().Format("2006-01-02"), "CoreStartupTime", fakeStart.Local().Format("15:04:05"), "CoreCurrentCalls", "0")
}

func TestPresenceState(t *testing.T) {
	b := newFakeBackend()
	srv := New(nil, nil, nil, presenceFake{b})
	cfg, _ := conf.Parse("manager.conf", []byte(testConf), conf.Options{})
	srv.failDelay = 0
	if err := srv.Configure(cfg); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c := dial(t, srv.Addr().String())
	c.login("admin", "adminpw", "Events: off")
	p := c.action("Action: PresenceState", "Provider: CustomPresence:bob")
	if strings.Join(p.Lines, "|") != "Response: Success|Message: Presence State|State: away|Subtype: lunch|Message: back at 2|PresenceMessage: back at 2" {
		t.Errorf("presence: %q", p.Lines)
	}
	want(t, c.action("Action: PresenceState", "Provider: CustomPresence:nobody"), "Response", "Error")
	// No database: DB actions answer an error.
	want(t, c.action("Action: DBGet", "Family: a", "Key: b"), "Response", "Error", "Message", "Database not available")
}

func TestEventFiltering(t *testing.T) {
	e := startServer(t, testConf, nil)
	all := dial(t, e.addr)
	all.login("admin", "adminpw", "Events: off")
	want(t, all.action("Action: Events", "EventMask: on"), "Events", "On")
	reader := dial(t, e.addr) // read = call only
	reader.login("reader", "readerpw")
	filtered := dial(t, e.addr)
	filtered.login("filtered", "filteredpw")
	sys := dial(t, e.addr)
	sys.login("nobody", "nobodypw", "Events: off") // events off
	masked := dial(t, e.addr)
	masked.login("admin", "adminpw", "Events: system") // only system

	evs := []Event{
		DeviceStateChangeEvent("SIP/alice", state.InUse),                           // filtered: excluded by !Device: SIP/
		ReloadEvent("", "0"),                                                       // system: not for reader, not for filtered
		DeviceStateChangeEvent("Custom:a", state.InUse),                            // everyone with call
		{Name: "UserEvent", Class: ClassUser, Fields: []Field{{"UserEvent", "x"}}}, // filtered: by name()
		MessageWaitingEvent("100@default", 1, 0),                                   // call; filtered drops it (no include matches)
		{Name: "Marker", Class: ClassSystem | ClassCall},                           // needs both classes
	}
	for _, ev := range evs {
		e.srv.Publish(ev)
	}
	final := Event{Name: "End", Class: ClassCall | ClassSystem | ClassUser}
	e.srv.Publish(final)
	collect := func(c *client) []string {
		var names []string
		for {
			p := c.read()
			n := p.Get("Event")
			if n == "End" || p.Get("UserEvent") == "End" {
				return names
			}
			if n == "SuccessfulAuth" {
				continue
			}
			names = append(names, n+"/"+p.Get("Device"))
		}
	}
	check := func(name string, c *client, want string) {
		t.Helper()
		if got := strings.Join(collect(c), ","); got != want {
			t.Errorf("%s got %s, want %s", name, got, want)
		}
	}
	check("all", all, "DeviceStateChange/SIP/alice,Reload/,DeviceStateChange/Custom:a,UserEvent/,MessageWaiting/,Marker/")
	// reader has read=call: the End above (call|system|user) is not delivered to it.
	e.srv.Publish(Event{Name: "End", Class: ClassCall})
	check("reader", reader, "DeviceStateChange/SIP/alice,DeviceStateChange/Custom:a,MessageWaiting/")
	e.srv.Publish(Event{Name: "UserEvent", Class: ClassUser, Fields: []Field{{"UserEvent", "End"}}})
	check("filtered", filtered, "DeviceStateChange/Custom:a,UserEvent/")
	// masked: only system → Reload; the call End is not for it; the first End needs all three classes.
	e.srv.Publish(Event{Name: "End", Class: ClassSystem})
	check("masked", masked, "Reload/")
	// Events off: nothing; turn on and see the next one.
	want(t, sys.action("Action: Events", "EventMask: on"), "Events", "On")
	e.srv.Publish(Event{Name: "End", Class: ClassSystem})
	check("sys", sys, "")
}

func TestEventFilterSyntax(t *testing.T) {
	good := map[string]string{
		"eventfilter":               "Event: Newchannel",
		"eventfilter(name(VarSet))": "",
		"eventfilter(action(exclude),name(Newchannel),header(Channel),method(starts_with))": "Local/",
		"eventfilter(header(Channel),method(regex))":                                        "(PJ)?SIP/(james|jim|john)-",
	}
	for k, v := range good {
		if _, err := parseEventFilter(k, v); err != nil {
			t.Errorf("%s = %s: %v", k, v, err)
		}
	}
	bad := map[string]string{
		"eventfilter":                             "",
		"eventfilter(action(inlude))":             "",
		"eventfilter(nnnn(yyy))":                  "XXX",
		"eventfilter(name(VarSet),method(none))x": "",
		"eventfilter(name(X),method(exact))":      "",
		"eventfilter(name(X))":                    "pattern-with-method-none",
	}
	for k, v := range bad {
		if _, err := parseEventFilter(k, v); err == nil {
			t.Errorf("%s = %s: no error", k, v)
		}
	}
	text := "Event: Newchannel\r\nPrivilege: call,all\r\nChannel: Local/foo-1;1\r\n\r\n"
	tf := func() string { return text }
	f, _ := parseEventFilter("eventfilter", "Event: Newchannel.*Channel: Local/")
	if !f.match("Newchannel", tf) {
		t.Error("legacy regex across lines")
	}
	f, _ = parseEventFilter("eventfilter(action(exclude),name(Newchannel),header(Channel),method(starts_with))", "Local/")
	if !f.exclude || !f.match("Newchannel", tf) || f.match("Hangup", tf) {
		t.Error("advanced filter")
	}
	f, _ = parseEventFilter("eventfilter(header(Channel),method(exact))", "Local/foo-1;1")
	if !f.match("X", tf) {
		t.Error("exact header")
	}
}

func TestSlowClientCutOffFastClientInOrder(t *testing.T) {
	e := startServer(t, strings.Replace(testConf, "displayconnects = yes", "displayconnects = yes\neventqueuesize = 1000", 1), nil)
	fast := dial(t, e.addr)
	fast.login("admin", "adminpw", "Events: call")
	slow := dial(t, e.addr)
	slow.login("admin", "adminpw", "Events: call")
	// slow never reads again: its socket buffers fill, then its queue, and it is cut off.
	const n = 30000
	pad := strings.Repeat("p", 2000)
	var got atomic.Int64
	done := make(chan error, 1)
	go func() {
		for i := 0; i < n; i++ {
			fast.c.SetReadDeadline(time.Now().Add(20 * time.Second))
			p, err := fast.r.ReadPacket()
			if err != nil {
				done <- err
				return
			}
			if p.Get("Seq") != fmt.Sprint(i) {
				done <- fmt.Errorf("fast got %q at %d", p.Get("Seq"), i)
				return
			}
			got.Store(int64(i + 1))
		}
		done <- nil
	}()
	start := time.Now()
	for i := 0; i < n; i++ {
		// A publisher faster than any socket: keep the fast client within half its queue.
		for int64(i)-got.Load() > 500 {
			time.Sleep(100 * time.Microsecond)
		}
		e.srv.Publish(Event{Name: "Tick", Class: ClassCall, Fields: []Field{{"Seq", fmt.Sprint(i)}, {"Pad", pad}}})
	}
	pubTime := time.Since(start)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	slow.expectClosed()
	st := e.srv.Stats()
	if st.SlowClientsCut != 1 {
		t.Errorf("slow clients cut: %d", st.SlowClientsCut)
	}
	if !e.logs.contains("event queue full") {
		t.Errorf("no log line for the slow client")
	}
	t.Logf("published %d events in %v; %+v", n, pubTime, st)
}

func TestManyLoggedInSessions(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	e := startServer(t, testConf, nil)
	const n = 1000
	clients := make([]*client, n)
	for i := range clients {
		clients[i] = dial(t, e.addr)
		clients[i].login("admin", "adminpw", "Events: call")
	}
	if got := e.srv.Stats().Authenticated; got != n {
		t.Fatalf("%d logged in", got)
	}
	e.srv.Publish(DeviceStateChangeEvent("Custom:all", state.Busy))
	for _, c := range clients {
		want(t, c.readEvent("DeviceStateChange"), "Device", "Custom:all")
	}
}

func TestCloseWithSessions(t *testing.T) {
	e := startServer(t, testConf, nil)
	c := dial(t, e.addr)
	c.login("admin", "adminpw")
	dial(t, e.addr)
	done := make(chan struct{})
	go func() { e.srv.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close hangs")
	}
	c.expectClosed()
}
