package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/test/testenv"
)

// directSIPConf is the calls tests' sip.conf with directmedia for alice and bob.
var directSIPConf = strings.Replace(strings.Replace(callsSIPConf,
	"secret = wonderland\ncontext = calls\n", "secret = wonderland\ncontext = calls\ndirectmedia = yes\n", 1),
	"secret = builder\ncontext = calls\n", "secret = builder\ncontext = calls\ncanreinvite = yes\n", 1)

// sippLogged runs a scenario like sippRun in dir with -trace_logs and returns what its
// <log> actions wrote.
func sippLogged(t *testing.T, dir, addr, scenario, csv string, args ...string) (string, error) {
	t.Helper()
	sdir, _ := filepath.Abs("../sipp")
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	full := append([]string{addr, "-sf", filepath.Join(sdir, scenario), "-inf", filepath.Join(sdir, csv),
		"-i", "127.0.0.1", "-t", "u1", "-nostdin", "-timeout", "30s", "-timeout_error", "-trace_err", "-trace_logs"}, args...)
	cmd := exec.CommandContext(ctx, "/usr/bin/sipp", full...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	files, _ := filepath.Glob(filepath.Join(dir, "*_logs.log"))
	var logs string
	for _, f := range files {
		b, _ := os.ReadFile(f)
		logs += string(b)
	}
	if err != nil {
		errs, _ := filepath.Glob(filepath.Join(dir, "*_errors.log"))
		for _, f := range errs {
			b, _ := os.ReadFile(f)
			out = append(out, "\n==== "+filepath.Base(f)+"\n"+string(b)...)
		}
		return string(out), err
	}
	return logs, nil
}

// TestCallsDirectMedia: alice and bob both have directmedia; alice (sipp, RTP from its pcap)
// calls bob (sipp, echoing) through Dial. Once the call is bridged, Pleiades re-INVITEs
// each with the other's media: the c=/m= alice's re-INVITE carries is bob's media address
// and bob's is alice's; RTP then flows between them directly (alice's pcap goes to the
// address of her re-INVITE, bob echoes it back to its source): the server relays no packet
// and its sessions receive none. BYE ends it and nothing is left.
func TestCallsDirectMedia(t *testing.T) {
	if _, err := os.Stat("/usr/bin/sipp"); err != nil {
		testenv.Unavailable(t, "sipp not installed (Debian sip-tester): %v", err)
	}
	p := freePorts(t, 3)
	nd := NewNode(t, "", map[string]string{
		"sip.conf":        fmt.Sprintf(directSIPConf, p[0]),
		"rtp.conf":        "[general]\nrtpstart = 21000\nrtpend = 21200\nstrictrtp = yes\n",
		"extensions.conf": callsDialplan,
		"manager.conf":    fmt.Sprintf(managerUser, p[1]),
		"http.conf":       fmt.Sprintf("[general]\nenabled = yes\nbindaddr = 127.0.0.1\nbindport = %d\n", p[2]),
		"logger.conf":     sampleLogger,
	})
	nd.Start()
	n := &callsNode{Node: nd, sip: fmt.Sprintf("127.0.0.1:%d", p[0]), ami: p[1], http: fmt.Sprintf("http://127.0.0.1:%d", p[2])}
	bobPort := n.registerSipp(t, "bob")
	bobMedia, aliceMedia := mediaPort(t), mediaPort(t)
	for bobMedia == aliceMedia {
		aliceMedia = mediaPort(t)
	}
	bobDir, aliceDir := t.TempDir(), t.TempDir()
	type result struct {
		logs string
		err  error
	}
	bobC := make(chan result, 1)
	go func() {
		l, err := sippLogged(t, bobDir, n.sip, "call-bob-direct.xml", "users-bob.csv", "-m", "1", "-p", strconv.Itoa(bobPort), "-mp", bobMedia, "-rtp_echo")
		bobC <- result{l, err}
	}()
	time.Sleep(500 * time.Millisecond)
	aliceC := make(chan result, 1)
	go func() {
		l, err := sippLogged(t, aliceDir, n.sip, "call-alice-direct.xml", "users.csv", "-m", "1", "-s", "200", "-au", "alice", "-ap", "wonderland", "-mp", aliceMedia)
		aliceC <- result{l, err}
	}()
	// while the call is up: both legs exist, neither session receives or relays anything
	n.hint(t, "200", "InUse")
	time.Sleep(1500 * time.Millisecond) // alice's pcap is playing (2 s)
	rowRe := regexp.MustCompile(`(?m)^127\.0\.0\.1\s+\S+\s+\S+\s+(\d+)\s+\d+\s+\(\s*[\d.]+%\)\s+[\d.]+\s+(\d+)`)
	out := n.MustRX("sip show channelstats")
	rows := rowRe.FindAllStringSubmatch(out, -1)
	if len(rows) != 2 {
		t.Errorf("sip show channelstats (want 2 calls):\n%s", out)
	}
	for _, r := range rows {
		if v, _ := strconv.Atoi(r[1]); v != 0 {
			t.Errorf("a session received RTP although the media is direct:\n%s", out)
		}
	}
	var bob, alice result
	for name, c := range map[string]chan result{"alice": aliceC, "bob": bobC} {
		select {
		case r := <-c:
			if r.err != nil {
				t.Fatalf("sipp %s: %v\n%s", name, r.err, tailOf(r.logs, 4000))
			}
			if name == "bob" {
				bob = r
			} else {
				alice = r
			}
		case <-time.After(40 * time.Second):
			t.Fatalf("sipp %s did not finish", name)
		}
	}
	if want := "reinvite c=IN IP4 127.0.0.1 m=audio " + bobMedia; !strings.Contains(alice.logs, want) {
		t.Errorf("alice's re-INVITE: %q, want %q", alice.logs, want)
	}
	if want := "reinvite c=IN IP4 127.0.0.1 m=audio " + aliceMedia; !strings.Contains(bob.logs, want) {
		t.Errorf("bob's re-INVITE: %q, want %q", bob.logs, want)
	}
	if v := metric(t, n.http, "pleiades_rtp_relayed_packets_total"); v != 0 {
		t.Errorf("pleiades_rtp_relayed_packets_total %v, want 0 with direct media", v)
	}
	n.hint(t, "200", "Idle")
	n.idle(t)
}
