package integration

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/test/sipphone"
	"github.com/pleiades-pbx/pleiades/test/testenv"
)

// SIP where Pleiades was compared side by side with chan_sip of Asterisk 20 (issue 14).

func md5hex(parts ...string) string {
	sum := md5.Sum([]byte(strings.Join(parts, ":")))
	return hex.EncodeToString(sum[:])
}

// sipp runs a scenario of test/sipp against addr with the users file text users; it fails the
// test when sipp fails (a missing sipp: skipped, a failure when CI=true).
func sipp(t *testing.T, addr, scenario, users string, args ...string) {
	t.Helper()
	bin, err := exec.LookPath("sipp")
	if err != nil {
		testenv.Unavailable(t, "sipp not installed (Debian sip-tester): %v", err)
	}
	dir, err := filepath.Abs("../sipp")
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	csv := filepath.Join(work, "users.csv")
	if err := os.WriteFile(csv, []byte("SEQUENTIAL\n"+users), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	argv := append([]string{addr, "-sf", filepath.Join(dir, scenario), "-inf", csv, "-i", "127.0.0.1", "-t", "u1",
		"-nostdin", "-timeout", "15s", "-timeout_error", "-trace_err"}, args...)
	cmd := exec.CommandContext(ctx, bin, argv...)
	cmd.Dir = work
	if out, err := cmd.CombinedOutput(); err != nil {
		logs, _ := filepath.Glob(filepath.Join(work, "*_errors.log"))
		for _, f := range logs {
			b, _ := os.ReadFile(f)
			out = append(out, b...)
		}
		t.Fatalf("sipp %s: %v\n%s", scenario, err, out)
	}
}

// TestSIPRealmIsTheSystemName: asterisk.conf sets systemname and sip.conf no realm=: as with
// chan_sip the digest realm is the system name, so a peer whose md5secret was made with it
// registers (401, 200), with sipp as with a sipgo phone.
func TestSIPRealmIsTheSystemName(t *testing.T) {
	port := freePorts(t, 1)[0]
	n := NewNode(t, "systemname = pbx-east", map[string]string{
		"sip.conf": fmt.Sprintf("[general]\nudpbindaddr = 127.0.0.1:%d\n", port) +
			"[bob]\ntype=friend\nhost=dynamic\nmd5secret=" + md5hex("bob", "pbx-east", "builder") + "\n",
	})
	n.Start()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	ph := sipphone.New(t, addr)
	res := ph.Do(ph.Request("REGISTER", "bob", "bob"))
	if h := res.GetHeader("WWW-Authenticate"); res.StatusCode != 401 || h == nil || !strings.Contains(h.Value(), `realm="pbx-east"`) {
		t.Fatalf("challenge: %d %v", res.StatusCode, h)
	}
	if res := ph.Register("bob", "builder", 120); res.StatusCode != 200 {
		t.Fatalf("md5secret made with the system name: %d %s", res.StatusCode, res.Reason)
	}
	sipp(t, addr, "register.xml", "bob;[authentication username=bob password=builder]\n", "-m", "1")
	if out := n.MustRX("sip show settings"); !strings.Contains(out, "  Our auth realm          pbx-east\n") {
		t.Fatalf("sip show settings:\n%s", out)
	}
}

// TestSIPModuleIsChanSip: the SIP module is chan_sip with chan_sip's description, and
// "module reload chan_sip" reloads sip.conf.
func TestSIPModuleIsChanSip(t *testing.T) {
	port := freePorts(t, 1)[0]
	general := fmt.Sprintf("[general]\nudpbindaddr = 127.0.0.1:%d\n", port)
	n := NewNode(t, "", map[string]string{"sip.conf": general})
	n.Start()
	out := n.MustRX("module show like chan_sip")
	if !strings.Contains(out, "\nchan_sip") || !strings.Contains(out, "Session Initiation Protocol (SIP)") || !strings.Contains(out, "1 modules loaded") {
		t.Fatalf("module show like chan_sip:\n%s", out)
	}
	n.WriteFile("sip.conf", general+"[carol]\ntype=friend\nhost=dynamic\n")
	n.MustRX("module reload chan_sip")
	if out := n.MustRX("sip show peers"); !strings.Contains(out, "carol") {
		t.Fatalf("after module reload chan_sip:\n%s", out)
	}
}

// TestSIPRegistrationsSurviveARestart: a static peer's registration is kept in astdb as
// chan_sip keeps it (/SIP/Registry/<peer> = addr:port:expiry:username:contact) and a realtime
// peer's in its row; after a restart, without registering again, sip show peers shows the
// contact, SIP/alice is Not in use (hint Idle), the contact is qualified, MWI reaches both
// phones, and a BLF subscription gets its NOTIFYs.
func TestSIPRegistrationsSurviveARestart(t *testing.T) {
	schema := pgScratch(t)
	ports := freePorts(t, 2)
	sipPort, amiPort := ports[0], ports[1]
	n := NewNode(t, "", map[string]string{
		"extensions.conf": seedDialplan + "exten => 2000,hint,SIP/alice\n",
		"manager.conf":    fmt.Sprintf(managerUser, amiPort),
		"extconfig.conf":  "[settings]\nsippeers => pgsql,test,sippeers\n",
		"res_pgsql.conf":  "[general]\ndbhost = 127.0.0.1\ndbport = 5432\ndbname = test\ndbuser = postgres\nsearch_path = " + schema + "\n",
		"sip.conf": fmt.Sprintf("[general]\nudpbindaddr = 127.0.0.1:%d\nrealm = pleiades\nrtcachefriends = yes\nqualifyfreq = 1\n", sipPort) +
			"[alice]\ntype=friend\nhost=dynamic\nsecret=s3cret\ncontext=devstate_test\nsubscribecontext=devstate_test\nmailbox=100@default\nqualify=yes\n",
	})
	n.Start()
	n.MustRX("realtime store sippeers name rtbob secret b0b host dynamic type friend context devstate_test mailbox 200@default")
	addr := fmt.Sprintf("127.0.0.1:%d", sipPort)
	alice, bob := sipphone.New(t, addr), sipphone.New(t, addr)
	if res := alice.Register("alice", "s3cret", 600); res.StatusCode != 200 {
		t.Fatalf("register alice: %d", res.StatusCode)
	}
	if res := bob.Register("rtbob", "b0b", 600); res.StatusCode != 200 {
		t.Fatalf("register rtbob: %d", res.StatusCode)
	}
	want := fmt.Sprintf("127.0.0.1:%d:600:alice:sip:alice@127.0.0.1:%d", alice.Port, alice.Port)
	eventually(t, 3*time.Second, func() string {
		if out, _ := n.RX("database get SIP/Registry alice"); !strings.Contains(out, "Value: "+want) {
			return "SIP/Registry/alice:\n" + out
		}
		return ""
	})
	n.MustRX("core stop now")
	if err := n.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	n.Start()

	peers := n.MustRX("sip show peers")
	if !strings.Contains(peers, fmt.Sprintf("alice/alice               127.0.0.1                                D  Auto (No)  No             %d ", alice.Port)) {
		t.Fatalf("sip show peers after the restart:\n%s", peers)
	}
	if out := n.MustRX("sip show peer rtbob load"); !strings.Contains(out, fmt.Sprintf("127.0.0.1:%d", bob.Port)) {
		t.Fatalf("rtbob after the restart:\n%s", out)
	}
	// The restored registration reaches the hint through the state core's event bus: on a
	// loaded machine that can trail the CLI's answer by a moment.
	eventually(t, 3*time.Second, func() string {
		if out := n.MustRX("core show hint 2000"); !strings.Contains(out, "State:Idle") {
			return "hint on SIP/alice after the restart:\n" + out
		}
		return ""
	})
	eventually(t, 5*time.Second, func() string {
		if out := n.MustRX("sip show peer alice"); !strings.Contains(out, "OK (") {
			return "alice not qualified after the restart:\n" + out
		}
		return ""
	})
	a := dialAMI(t, amiPort)
	a.send("Action", "Login", "Username", "admin", "Secret", "amp111", "Events", "off")
	a.until("Response: Success")
	for _, c := range []struct {
		ph      *sipphone.Phone
		mailbox string
	}{{alice, "100@default"}, {bob, "200@default"}} {
		a.send("Action", "MWIUpdate", "Mailbox", c.mailbox, "NewMessages", "2", "OldMessages", "1")
		a.until("Response: Success")
		for {
			r, ok := c.ph.Next(3 * time.Second)
			if !ok {
				t.Fatalf("no MWI NOTIFY for %s after the restart", c.mailbox)
			}
			if ev := r.Req.GetHeader("Event"); ev != nil && ev.Value() == "message-summary" && strings.Contains(string(r.Req.Body()), "Messages-Waiting: yes") {
				break
			}
		}
	}
	if res := alice.Subscribe("alice", "s3cret", "1234", "dialog"); res.StatusCode != 200 {
		t.Fatalf("subscribe: %d", res.StatusCode)
	}
	n.MustRX("devstate change Custom:mystate INUSE")
	for {
		r, ok := alice.Next(3 * time.Second)
		if !ok {
			t.Fatal("no BLF NOTIFY after the restart")
		}
		if strings.Contains(string(r.Req.Body()), "<state>confirmed</state>") {
			break
		}
	}
}
