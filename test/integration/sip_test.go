package integration

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/test/sipphone"
)

// TestSIPRealtimeFriendAcrossTheCluster: a phone registers on server 2 as a realtime peer kept
// in PostgreSQL, subscribes to hint 1234 and gets NOTIFYs for changes made on server 1, gets
// MWI for an AMI MWIUpdate on server 1, and goes Unavailable everywhere when it stops answering
// qualify.
func TestSIPRealtimeFriendAcrossTheCluster(t *testing.T) {
	schema := pgScratch(t)
	routes := freePorts(t, 2)
	sipPorts := freePorts(t, 2)
	amiPorts := freePorts(t, 2)
	dialplan := seedDialplan + "exten => 2000,hint,SIP/alice\nexten => sip,1,NoOp(alice is ${DEVICE_STATE(SIP/alice)})\n"
	var n []*Node
	for i := range 2 {
		nd := NewNode(t, fmt.Sprintf("entityid = 02:00:00:00:08:%02x\nsystemname = node%d", i+1, i+1), map[string]string{
			"extensions.conf": dialplan,
			"cluster.conf":    clusterConf(i, routes, ""),
			"manager.conf":    fmt.Sprintf(managerUser, amiPorts[i]),
			"extconfig.conf":  "[settings]\nsippeers => pgsql,test,sippeers\n",
			"res_pgsql.conf":  "[general]\ndbhost = 127.0.0.1\ndbport = 5432\ndbname = test\ndbuser = postgres\nsearch_path = " + schema + "\n",
			"sip.conf":        fmt.Sprintf("[general]\nudpbindaddr = 127.0.0.1:%d\nrealm = pleiades\nrtcachefriends = yes\nqualifyfreq = 1\n", sipPorts[i]),
		})
		nd.Start()
		n = append(n, nd)
	}
	for _, nd := range n {
		waitMembers(t, nd, 2)
	}
	n[1].MustRX(`realtime store sippeers name alice secret s3cret host dynamic type friend context devstate_test mailbox 100@default qualify 500`)

	ph := sipphone.New(t, fmt.Sprintf("127.0.0.1:%d", sipPorts[1]))
	if res := ph.Register("alice", "wrong", 120); res.StatusCode != 403 {
		t.Fatalf("wrong password: %d", res.StatusCode)
	}
	if res := ph.Register("alice", "s3cret", 120); res.StatusCode != 200 {
		t.Fatalf("register: %d %s", res.StatusCode, res.Reason)
	}
	// The row's registration columns are written back.
	row := n[1].MustRX("realtime load sippeers name alice")
	for _, col := range []string{"ipaddr", "port", "regseconds", "fullcontact", "useragent"} {
		if !regexp.MustCompile(`(?m)^\s*` + col + `\s+\S`).MatchString(row) {
			t.Errorf("column %s not written back:\n%s", col, row)
		}
	}
	if out := n[1].MustRX("sip show peers"); !strings.Contains(out, "alice") {
		t.Fatalf("sip show peers:\n%s", out)
	}
	for _, nd := range n {
		eventually(t, 3*time.Second, func() string {
			if out := nd.MustRX("console dial sip@devstate_test"); !strings.Contains(out, "alice is NOT_INUSE") {
				return "SIP/alice on " + nd.Dir + ":\n" + out
			}
			return ""
		})
	}

	// BLF: the phone on server 2 follows hint 1234, changed on server 1.
	if res := ph.Subscribe("alice", "s3cret", "1234", "dialog"); res.StatusCode != 200 {
		t.Fatalf("subscribe: %d %s", res.StatusCode, res.Reason)
	}
	// next returns the next NOTIFY of one event package (an MWI NOTIFY may come between).
	next := func(event string) (sipphone.Received, bool) {
		for {
			r, ok := ph.Next(3 * time.Second)
			if !ok {
				return r, false
			}
			if ev := r.Req.GetHeader("Event"); ev != nil && strings.HasPrefix(ev.Value(), event) {
				return r, true
			}
		}
	}
	first, ok := next("dialog")
	if !ok || !strings.Contains(string(first.Req.Body()), "terminated") {
		t.Fatalf("first dialog NOTIFY: %v %v", ok, first.Req)
	}
	// The change is made through a Manager session kept open on server 1, so the time measured
	// is the server's path (server 1's state core, the cluster, server 2's hint engine and SIP
	// stack) and not the start of a CLI process, which under the race detector on a loaded
	// machine alone takes tens of milliseconds.
	a := dialAMI(t, amiPorts[0])
	a.send("Action", "Login", "Username", "admin", "Secret", "amp111", "Events", "off")
	a.until("Response: Success")
	waitState := func(state string) time.Time {
		t.Helper()
		for {
			r, ok := next("dialog")
			if !ok {
				t.Fatalf("no NOTIFY %s", state)
			}
			if strings.Contains(string(r.Req.Body()), "<state>"+state+"</state>") {
				return r.At
			}
		}
	}
	expect := func(state string, change string) time.Duration {
		t.Helper()
		start := time.Now()
		a.send("Action", "Setvar", "Variable", "DEVICE_STATE(Custom:mystate)", "Value", change)
		at := waitState(state)
		a.until("Response: Success")
		return at.Sub(start)
	}
	// The CLI path works too (not timed).
	n[0].MustRX("devstate change Custom:mystate INUSE")
	waitState("confirmed")
	n[0].MustRX("devstate change Custom:mystate NOT_INUSE")
	waitState("terminated")
	// Five changes each way, the median held to 50 ms.
	var inuse, idle []time.Duration
	for range 5 {
		inuse = append(inuse, expect("confirmed", "INUSE"))
		idle = append(idle, expect("terminated", "NOT_INUSE"))
	}
	t.Logf("NOTIFY on server 2's phone after the Setvar on server 1's Manager: confirmed %v, terminated %v", inuse, idle)
	slices.Sort(inuse)
	slices.Sort(idle)
	if inuse[2] > 50*time.Millisecond || idle[2] > 50*time.Millisecond {
		t.Errorf("median NOTIFY time: confirmed %v, terminated %v (> 50 ms)", inuse[2], idle[2])
	}

	// MWI from server 1's AMI reaches the phone on server 2.
	a.send("Action", "MWIUpdate", "Mailbox", "100@default", "NewMessages", "2", "OldMessages", "1")
	a.until("Response: Success")
	for {
		r, ok := next("message-summary")
		if !ok {
			t.Fatal("no message-summary NOTIFY with Messages-Waiting: yes after MWIUpdate on server 1")
		}
		if strings.Contains(string(r.Req.Body()), "Messages-Waiting: yes") {
			break
		}
	}

	// The phone stops answering qualify: UNREACHABLE, SIP/alice Unavailable everywhere.
	ph.Silent.Store(true)
	for _, nd := range n {
		eventually(t, 8*time.Second, func() string {
			out := nd.MustRX("core show hint 2000")
			if !strings.Contains(out, "State:Unavailable") {
				return "hint 2000 on " + nd.Dir + ":\n" + out
			}
			return ""
		})
	}
	if out := n[1].MustRX("sip show peer alice"); !strings.Contains(out, "UNREACHABLE") {
		t.Fatalf("sip show peer:\n%s", out)
	}
	if out := n[0].MustRX("console dial sip@devstate_test"); !strings.Contains(out, "alice is UNAVAILABLE") {
		t.Fatalf("SIP/alice on server 1 after qualify failed:\n%s", out)
	}
}

// TestSIPReloadOpensAndMovesListeners: a server started without sip.conf listens once
// "sip reload" finds one, and a changed udpbindaddr/tcpbindaddr moves the listeners; the
// command says where SIP listens and never claims a reload that did not happen.
func TestSIPReloadOpensAndMovesListeners(t *testing.T) {
	ports := freePorts(t, 3)
	n := NewNode(t, "", nil)
	n.Start()
	if out, code := n.RX("sip reload"); code == 0 || !strings.Contains(out, "sip.conf not found") {
		t.Fatalf("sip reload without sip.conf exited %d:\n%s", code, out)
	}
	peer := "[alice]\ntype=friend\nhost=dynamic\nsecret=s3cret\n"
	n.WriteFile("sip.conf", fmt.Sprintf("[general]\nudpbindaddr = 127.0.0.1:%d\nrealm = pleiades\n", ports[0])+peer)
	out := n.MustRX("sip reload")
	if !strings.Contains(out, fmt.Sprintf("SIP now listening on udp 127.0.0.1:%d", ports[0])) {
		t.Fatalf("sip reload with a new sip.conf:\n%s", out)
	}
	ph := sipphone.New(t, fmt.Sprintf("127.0.0.1:%d", ports[0]))
	if res := ph.Register("alice", "s3cret", 120); res.StatusCode != 200 {
		t.Fatalf("register after sip.conf was added: %d", res.StatusCode)
	}
	n.WriteFile("sip.conf", fmt.Sprintf("[general]\nudpbindaddr = 127.0.0.1:%d\ntcpbindaddr = 127.0.0.1:%d\nrealm = pleiades\n", ports[1], ports[2])+peer)
	out = n.MustRX("sip reload")
	if !strings.Contains(out, fmt.Sprintf("SIP now listening on udp 127.0.0.1:%d, tcp 127.0.0.1:%d", ports[1], ports[2])) {
		t.Fatalf("sip reload with new bind addresses:\n%s", out)
	}
	moved := sipphone.New(t, fmt.Sprintf("127.0.0.1:%d", ports[1]))
	if res := moved.Register("alice", "s3cret", 120); res.StatusCode != 200 {
		t.Fatalf("register at the new address: %d", res.StatusCode)
	}
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", ports[2]), time.Second); err != nil {
		t.Fatalf("TCP listener after reload: %v", err)
	} else {
		c.Close()
	}
	if settings := n.MustRX("sip show settings"); !strings.Contains(settings, fmt.Sprintf("UDP Bindaddress:        127.0.0.1:%d", ports[1])) {
		t.Fatalf("sip show settings:\n%s", settings)
	}
}

// TestSIPAuthFailuresFail2ban: with Asterisk's sample logger.conf line for the messages log,
// every failed SIP authentication is a NOTICE in Asterisk's words, which the stock fail2ban
// asterisk filter counts against the right address: a wrong password, an unknown name, a
// peer refused by its ACL (REGISTER, chan_sip's "Registration from ... failed for ...") and a
// SUBSCRIBE with a wrong password (res_pjsip's "Request 'SUBSCRIBE' from ... failed for ...").
func TestSIPAuthFailuresFail2ban(t *testing.T) {
	fail2banHosts(t, os.DevNull) // skips (or fails in CI) without fail2ban
	port := freePorts(t, 1)[0]
	n := NewNode(t, "", map[string]string{
		"logger.conf": sampleLogger,
		"sip.conf": fmt.Sprintf("[general]\nudpbindaddr = 127.0.0.1:%d\nrealm = pleiades\n", port) +
			"[alice]\ntype=friend\nhost=dynamic\nsecret=s3cret\n[carol]\ntype=friend\nhost=dynamic\nsecret=c\ndeny=0.0.0.0/0\npermit=10.0.0.0/8\n",
	})
	n.Start()
	ph := sipphone.New(t, fmt.Sprintf("127.0.0.1:%d", port))
	for _, c := range []struct{ user, pass string }{{"alice", "wrong"}, {"nobody", "x"}, {"carol", "c"}} {
		if res := ph.Register(c.user, c.pass, 120); res.StatusCode != 403 {
			t.Fatalf("REGISTER %s: %d", c.user, res.StatusCode)
		}
	}
	if res := ph.Subscribe("alice", "wrong", "100", "dialog"); res.StatusCode != 403 {
		t.Fatalf("SUBSCRIBE with a wrong password: %d", res.StatusCode)
	}
	log := filepath.Join(n.Dir, "log", "messages.log")
	var text string
	eventually(t, 3*time.Second, func() string {
		b, _ := os.ReadFile(log)
		text = string(b)
		if strings.Count(text, "failed for '127.0.0.1:") < 4 {
			return "failure lines in messages.log:\n" + text
		}
		return ""
	})
	for _, want := range []string{
		"Registration from '<sip:alice@127.0.0.1>' failed for '127.0.0.1:", "' - Wrong password",
		"Registration from '<sip:nobody@127.0.0.1>' failed for '127.0.0.1:", "' - No matching peer found",
		"Registration from '<sip:carol@127.0.0.1>' failed for '127.0.0.1:", "' - Device does not match ACL",
		"Request 'SUBSCRIBE' from '<sip:alice@127.0.0.1>", ") - Failed to authenticate",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("messages.log lacks %q:\n%s", want, text)
		}
	}
	if got := fail2banHosts(t, log); len(got) != 4 || len(slices.Compact(slices.Clone(got))) != 1 || got[0] != "127.0.0.1" {
		t.Fatalf("fail2ban's asterisk filter found %v, want 127.0.0.1 four times\n%s", got, text)
	}
}
