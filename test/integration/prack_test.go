package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/test/testenv"
)

// prackDialplan is the extensions.conf of the 100rel tests: 200 dials bob; 300 sends
// progress (a 183 with SDP, reliable to a phone that supports 100rel), plays a second of
// early media, answers (after the PRACK), plays it again and hangs up.
const prackDialplan = `[calls]
exten => 200,hint,SIP/bob
exten => 200,1,Dial(SIP/bob,20)
 same => n,Hangup()
exten => 300,1,Progress()
 same => n,Playback(prack-tone,noanswer)
 same => n,Answer()
 same => n,Playback(prack-tone)
 same => n,Hangup()
`

// startPrackNode starts a server with the calls tests' sip.conf and prackDialplan, and a
// one-second µ-law file prack-tone in its sounds directory.
func startPrackNode(t *testing.T) *callsNode {
	t.Helper()
	return startNodeWith(t, func(p []int) string { return fmt.Sprintf(callsSIPConf, p[0]) }, prackDialplan)
}

// startNodeWith starts a server like startCallsNode with the sip.conf sipConf makes from four
// free ports (p[0]: SIP over UDP, p[3] free for TCP) and the given extensions.conf; its sounds
// directory has prack-tone, one second of µ-law.
func startNodeWith(t *testing.T, sipConf func(p []int) string, dialplan string) *callsNode {
	t.Helper()
	if _, err := os.Stat("/usr/bin/sipp"); err != nil {
		testenv.Unavailable(t, "sipp not installed (Debian sip-tester): %v", err)
	}
	p := freePorts(t, 4)
	nd := NewNode(t, "", map[string]string{
		"sip.conf":        sipConf(p),
		"rtp.conf":        "[general]\nrtpstart = 21400\nrtpend = 21600\nstrictrtp = yes\n",
		"extensions.conf": dialplan,
		"manager.conf":    fmt.Sprintf(managerUser, p[1]),
		"http.conf":       fmt.Sprintf("[general]\nenabled = yes\nbindaddr = 127.0.0.1\nbindport = %d\n", p[2]),
		"logger.conf":     sampleLogger,
	})
	sounds := filepath.Join(nd.Dir, "lib", "sounds")
	if err := os.MkdirAll(sounds, 0o755); err != nil {
		t.Fatal(err)
	}
	tone := make([]byte, 8000) // 1 s of µ-law
	for i := range tone {
		tone[i] = byte(0x80 + i%16)
	}
	if err := os.WriteFile(filepath.Join(sounds, "prack-tone.ulaw"), tone, 0o644); err != nil {
		t.Fatal(err)
	}
	nd.Start()
	return &callsNode{Node: nd, sip: fmt.Sprintf("127.0.0.1:%d", p[0]), ami: p[1], http: fmt.Sprintf("http://127.0.0.1:%d", p[2])}
}

// sippTraced runs a scenario of test/sipp like sippRun, for up to d, with -trace_msg and
// -trace_logs, and returns what sipp printed, its message trace and its scenario log.
func sippTraced(t *testing.T, d time.Duration, addr, scenario, csv string, args ...string) (out, msgs, logs string, err error) {
	t.Helper()
	dir, err := filepath.Abs("../sipp")
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	full := append([]string{addr, "-sf", filepath.Join(dir, scenario), "-inf", filepath.Join(dir, csv),
		"-i", "127.0.0.1", "-t", "u1", "-nostdin", "-timeout", strconv.Itoa(int((d - 10*time.Second).Seconds())) + "s",
		"-timeout_error", "-trace_err", "-trace_msg", "-trace_logs"}, args...)
	cmd := exec.CommandContext(ctx, "/usr/bin/sipp", full...)
	cmd.Dir = work
	b, err := cmd.CombinedOutput()
	read := func(pattern string) string {
		files, _ := filepath.Glob(filepath.Join(work, pattern))
		s := ""
		for _, f := range files {
			c, _ := os.ReadFile(f)
			s += string(c)
		}
		return s
	}
	out = string(b)
	if err != nil {
		out += "\n==== errors\n" + read("*_errors.log")
	}
	return out, read("*_messages.log"), read("*_logs.log"), err
}

// received counts the messages of a sipp message trace that sipp received and whose first
// line matches first.
func received(trace, first string) int {
	re := regexp.MustCompile(`message received \[\d+\] bytes :\s*\n\s*` + first)
	return len(re.FindAllStringIndex(trace, -1))
}

// TestPrackIncoming is RFC 3262 on an incoming call through the real binary: alice's sipp
// (Supported: 100rel) calls 300 (Progress, Playback noanswer, Answer): the server's 183 with
// SDP carries Require: 100rel and an RSeq, alice PRACKs it, the 200 follows and the call
// ends with the server's BYE; alice's RTP port got the audio. Meanwhile a second alice never
// PRACKs: the 183 is retransmitted (T1 doubling: 0.5, 1.5, 3.5 ... 31.5 s, six copies after
// the first) and after 64·T1 the INVITE is refused with 504 — RFC 3262 3's 5xx — never
// answered.
func TestPrackIncoming(t *testing.T) {
	n := startPrackNode(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server output:\n%s", tailOf(n.out.String(), 3000))
		}
	})
	type result struct {
		out, msgs string
		took      time.Duration
		err       error
	}
	lazy := newRTPCounter(t)
	lazyC := make(chan result, 1)
	go func() {
		start := time.Now()
		out, msgs, _, err := sippTraced(t, 70*time.Second, n.sip, "call-noprack.xml", "users.csv",
			"-m", "1", "-s", "300", "-au", "alice", "-ap", "wonderland", "-key", "mport", lazy.port())
		lazyC <- result{out, msgs, time.Since(start), err}
	}()

	media := newRTPCounter(t)
	out, msgs, _, err := sippTraced(t, 40*time.Second, n.sip, "call-prack.xml", "users.csv",
		"-m", "1", "-s", "300", "-au", "alice", "-ap", "wonderland", "-key", "mport", media.port())
	if err != nil {
		t.Fatalf("sipp call-prack.xml: %v\n%s\n%s", err, tailOf(out, 3000), tailOf(msgs, 4000))
	}
	if got := received(msgs, `SIP/2\.0 200 OK[\s\S]*?CSeq: 3 PRACK`); got == 0 {
		t.Errorf("no 200 to the PRACK in alice's trace:\n%s", tailOf(msgs, 4000))
	}
	if got := int64(media.count()); got < 25 {
		t.Errorf("alice's RTP port got %d packets, want the early media and the answered second (about 100)", got)
	}

	r := <-lazyC
	if r.err != nil {
		t.Fatalf("sipp call-noprack.xml: %v\n%s\n%s", r.err, tailOf(r.out, 3000), tailOf(r.msgs, 4000))
	}
	copies := received(r.msgs, `SIP/2\.0 183 `)
	t.Logf("no PRACK: the reliable 183 came %d times, the 504 after %v", copies, r.took.Round(100*time.Millisecond))
	// 7 expected (the first and 6 retransmissions); one may be lost to the deadline's race
	// on a loaded machine
	if copies < 6 || copies > 7 {
		t.Errorf("the unacknowledged 183 came %d times, want 7 (T1 doubling up to 64·T1)", copies)
	}
	if received(r.msgs, `SIP/2\.0 504 `) != 1 || received(r.msgs, `SIP/2\.0 200 `) != 0 {
		t.Errorf("want one 504 and no 200 for the call never PRACKed:\n%s", tailOf(r.msgs, 3000))
	}
	if r.took < 30*time.Second {
		t.Errorf("504 after %v, before 64·T1", r.took)
	}
	n.idle(t)
}

// hintState reports whether exten@calls shows state in core show hints.
func (n *callsNode) hintState(t *testing.T, exten, state string) bool {
	re := regexp.MustCompile(`(?m)^\s*` + exten + `@calls\s+: \S+\s+State:` + state + `\s`)
	return re.MatchString(n.MustRX("core show hints"))
}

// TestPrackOutgoing is RFC 3262 on an outgoing call through the real binary: alice's sipp
// calls 200, Dial(SIP/bob); bob's sipp answers reliably (prack-bob.xml): the server's INVITE
// offers 100rel; its 180 (RSeq 4711) and 183 with SDP (RSeq 4712) are PRACKed once each with
// RAck "<RSeq> <the INVITE's CSeq> INVITE" in bob's early dialog — the 183 sent a second
// time is not PRACKed again (bob's sipp would fail on that PRACK); bob's early media (its
// pcap, 3 s before the 200) reaches alice's RTP port while bob still rings; then 200, the
// legs are bridged, alice's BYE ends both.
func TestPrackOutgoing(t *testing.T) {
	n := startPrackNode(t)
	bobPort := n.registerSipp(t, "bob")
	type result struct {
		out, msgs, logs string
		err             error
	}
	bobC := make(chan result, 1)
	go func() {
		out, msgs, logs, err := sippTraced(t, 40*time.Second, n.sip, "prack-bob.xml", "users-bob.csv",
			"-m", "1", "-p", strconv.Itoa(bobPort), "-mp", mediaPort(t))
		bobC <- result{out, msgs, logs, err}
	}()
	time.Sleep(500 * time.Millisecond) // bob's sipp listening
	media := newRTPCounter(t)
	aliceC := make(chan result, 1)
	go func() {
		out, msgs, logs, err := sippTraced(t, 40*time.Second, n.sip, "prack-alice.xml", "users.csv",
			"-m", "1", "-s", "200", "-au", "alice", "-ap", "wonderland", "-key", "mport", media.port())
		aliceC <- result{out, msgs, logs, err}
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server output:\n%s", tailOf(n.out.String(), 3000))
		}
	})
	// Early media: packets at alice's port while bob (hint 200) still rings. The count is
	// read before the hint, so packets seen with the hint still Ringing came before the
	// answer.
	// bob plays 3 s (150 packets) before answering: count what came while he rang.
	early, rang := 0, false
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		got := media.count()
		if n.hintState(t, "200", "Ringing") {
			early, rang = got, true
		} else if rang {
			break
		}
	}
	t.Logf("%d packets of bob's early media reached alice before the answer", early)
	if early < 50 {
		t.Errorf("alice's RTP port got %d packets while bob rang, want bob's early media (about 150)", early)
	}
	bob, alice := <-bobC, <-aliceC
	if alice.err != nil {
		t.Errorf("alice's sipp: %v\n%s\n%s", alice.err, tailOf(alice.out, 3000), tailOf(alice.msgs, 3000))
	}
	if bob.err != nil {
		t.Errorf("bob's sipp: %v\n%s\n%s", bob.err, tailOf(bob.out, 3000), tailOf(bob.msgs, 6000))
	}
	if t.Failed() {
		t.FailNow()
	}
	if got := received(bob.msgs, `PRACK `); got != 2 {
		t.Errorf("bob got %d PRACKs, want 2 (one per reliable 18x, none for the retransmission)", got)
	}
	racks := regexp.MustCompile(`PRACK RAck: (\d+) (\d+) INVITE \(INVITE CSeq: (\d+)\)`).FindAllStringSubmatch(bob.logs, -1)
	if len(racks) != 2 {
		t.Fatalf("bob's log of the PRACKs:\n%s", bob.logs)
	}
	for i, m := range racks {
		if m[1] != strconv.Itoa(4711+i) || m[2] != m[3] {
			t.Errorf("PRACK %d: RAck %s %s INVITE, want %d %s INVITE", i+1, m[1], m[2], 4711+i, m[3])
		}
	}
	n.hint(t, "200", "Idle")
	n.idle(t)
}
