package integration

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/pleiades-pbx/pleiades/test/sipphone"
	"github.com/pleiades-pbx/pleiades/test/testenv"
)

// callsSIPConf is the sip.conf of the calls tests (also in README.md's Calls section): three
// static friends in context calls; carol takes one call at a time.
const callsSIPConf = `[general]
udpbindaddr = 127.0.0.1:%d
realm = pleiades
context = calls

[alice]
type = friend
host = dynamic
secret = wonderland
context = calls

[bob]
type = friend
host = dynamic
secret = builder
context = calls

[carol]
type = friend
host = dynamic
secret = chris
context = calls
call-limit = 1
`

// callsDialplan is the extensions.conf of the calls tests (also in README.md).
const callsDialplan = `[calls]
exten => 100,hint,SIP/alice
exten => 200,hint,SIP/bob
exten => 200,1,Dial(SIP/bob,20)
 same => n,Set(DB(dialstatus/${CALLERID(num)})=${DIALSTATUS})
 same => n,Hangup()
exten => 201,1,Answer()
 same => n,Echo()
exten => 202,hint,SIP/carol
exten => 202,1,Dial(SIP/carol,3)
 same => n,NoOp(DIALSTATUS=${DIALSTATUS})
 same => n,Set(DB(dialstatus/${CALLERID(num)})=${DIALSTATUS})
 same => n,Hangup()
exten => 203,1,Busy()
`

// sdpOffer is a Go phone's G.711 offer: its RTP port and direction attribute.
const sdpOffer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=%s\r\n"

// amiRecorder keeps every AMI event of one session, read by its own goroutine.
type amiRecorder struct {
	mu     sync.Mutex
	events [][]string
}

func recordAMI(t *testing.T, port int) *amiRecorder {
	t.Helper()
	a := amiLoginEvents(t, port, "on")
	a.c.SetReadDeadline(time.Time{})
	rec := &amiRecorder{}
	go func() {
		var cur []string
		for {
			l, err := a.r.ReadString('\n')
			if err != nil {
				return
			}
			l = strings.TrimRight(l, "\r\n")
			if l == "" {
				if len(cur) > 0 && strings.HasPrefix(cur[0], "Event: ") {
					rec.mu.Lock()
					rec.events = append(rec.events, cur)
					rec.mu.Unlock()
				}
				cur = nil
				continue
			}
			cur = append(cur, l)
		}
	}()
	return rec
}

// mark returns the number of events so far, to read only what follows.
func (r *amiRecorder) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

func (r *amiRecorder) since(n int) [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]string(nil), r.events[n:]...)
}

// summary is one line per event: its name and the fields that tell events apart.
func summary(ev []string) string {
	s := strings.TrimPrefix(ev[0], "Event: ")
	for _, k := range []string{"Channel", "DestChannel", "ChannelStateDesc", "DialStatus", "Device", "State", "Exten", "StatusText"} {
		if v := field(ev, k); v != "" {
			s += " " + k + "=" + v
		}
	}
	return s
}

// inOrder checks that each of want (a regexp on summary lines) matches some event, each after
// the one before.
func inOrder(lines []string, want ...string) string {
	i := 0
	for _, w := range want {
		re := regexp.MustCompile(w)
		for i < len(lines) && !re.MatchString(lines[i]) {
			i++
		}
		if i == len(lines) {
			return fmt.Sprintf("no %q in order in:\n%s", w, strings.Join(lines, "\n"))
		}
		i++
	}
	return ""
}

// sippRun runs one scenario of test/sipp against addr (the calls tests' flags) and returns
// its error and what it printed.
func sippRun(t *testing.T, addr, scenario, csv string, args ...string) (string, error) {
	t.Helper()
	dir, err := filepath.Abs("../sipp")
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	full := append([]string{addr, "-sf", filepath.Join(dir, scenario), "-inf", filepath.Join(dir, csv),
		"-i", "127.0.0.1", "-t", "u1", "-nostdin", "-timeout", "30s", "-timeout_error", "-trace_err"}, args...)
	cmd := exec.CommandContext(ctx, "/usr/bin/sipp", full...)
	cmd.Dir = work
	out, err := cmd.CombinedOutput()
	if err != nil {
		files, _ := filepath.Glob(filepath.Join(work, "*.log"))
		for _, f := range files {
			b, _ := os.ReadFile(f)
			out = append(out, "\n==== "+filepath.Base(f)+"\n"+string(b)...)
		}
	}
	return string(out), err
}

func mustSipp(t *testing.T, addr, scenario, csv string, args ...string) {
	t.Helper()
	if out, err := sippRun(t, addr, scenario, csv, args...); err != nil {
		t.Fatalf("sipp %s: %v\n%s", scenario, err, tailOf(out, 4000))
	}
}

func tailOf(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// metric reads one unlabelled sample from /metrics.
func metric(t *testing.T, base, name string) float64 {
	t.Helper()
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("no %s on /metrics", name)
	return 0
}

// callsNode starts one server with the calls configuration: SIP, AMI, HTTP (/metrics), an
// RTP range of its own and the messages log.
type callsNode struct {
	*Node
	sip  string // SIP host:port
	ami  int
	http string // base URL
}

func startCallsNode(t *testing.T) *callsNode {
	t.Helper()
	if _, err := os.Stat("/usr/bin/sipp"); err != nil {
		testenv.Unavailable(t, "sipp not installed (Debian sip-tester): %v", err)
	}
	p := freePorts(t, 3)
	nd := NewNode(t, "", map[string]string{
		"sip.conf":        fmt.Sprintf(callsSIPConf, p[0]),
		"rtp.conf":        "[general]\nrtpstart = 21000\nrtpend = 21200\nstrictrtp = yes\n",
		"extensions.conf": callsDialplan,
		"manager.conf":    fmt.Sprintf(managerUser, p[1]),
		"http.conf":       fmt.Sprintf("[general]\nenabled = yes\nbindaddr = 127.0.0.1\nbindport = %d\n", p[2]),
		"logger.conf":     sampleLogger,
	})
	nd.Start()
	return &callsNode{Node: nd, sip: fmt.Sprintf("127.0.0.1:%d", p[0]), ami: p[1], http: fmt.Sprintf("http://127.0.0.1:%d", p[2])}
}

// idle checks that nothing is left: no channel, no SIP dialog, every RTP port back.
func (n *callsNode) idle(t *testing.T) {
	t.Helper()
	eventually(t, 10*time.Second, func() string {
		if out := n.MustRX("core show channels"); !strings.Contains(out, "0 active channels") {
			return "core show channels:\n" + out
		}
		if out := n.MustRX("sip show channels"); !strings.Contains(out, "0 active SIP dialogs") {
			return "sip show channels:\n" + out
		}
		if v := metric(t, n.http, "pleiades_rtp_ports_in_use"); v != 0 {
			return fmt.Sprintf("pleiades_rtp_ports_in_use %v", v)
		}
		return ""
	})
}

func (n *callsNode) hint(t *testing.T, exten, state string) {
	t.Helper()
	re := regexp.MustCompile(`(?m)^\s*` + exten + `@calls\s+: \S+\s+State:` + state + `\s`)
	eventually(t, 10*time.Second, func() string {
		if out := n.MustRX("core show hints"); !re.MatchString(out) {
			return "want " + exten + " State:" + state + " in:\n" + out
		}
		return ""
	})
}

// registerSipp registers user (users-<user>.csv) from a fresh port and returns the port.
func (n *callsNode) registerSipp(t *testing.T, user string) int {
	t.Helper()
	port := freePorts(t, 1)[0]
	mustSipp(t, n.sip, "register.xml", "users-"+user+".csv", "-m", "1", "-p", strconv.Itoa(port))
	n.hint(t, map[string]string{"bob": "200", "carol": "202"}[user], "Idle")
	return port
}

// mediaPort is an even free UDP port for sipp's RTP.
func mediaPort(t *testing.T) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Linux gives odd ports to bind(0): sipp takes the even one below and the RTCP one above.
	return strconv.Itoa(c.LocalAddr().(*net.UDPAddr).Port &^ 1)
}

// TestCallsAnsweredDialThroughTheBinary is issue 15's first acceptance on one real server:
// bob (sipp UAS, registered, echoing RTP) answers alice's call to 200 (sipp UAC playing its
// pcap); RTP flows both ways through the relay, BYE ends it. Meanwhile a BLF phone subscribed
// to 200 sees early → confirmed → terminated, core show hints goes Ringing → InUse → Idle,
// core show channels shows the two legs and AMI sends the call's events in Asterisk's order.
func TestCallsAnsweredDialThroughTheBinary(t *testing.T) {
	n := startCallsNode(t)
	rec := recordAMI(t, n.ami)
	bobPort := n.registerSipp(t, "bob")

	blf := sipphone.New(t, n.sip)
	if res := blf.Subscribe("carol", "chris", "200", "dialog"); res.StatusCode != 200 {
		t.Fatalf("subscribe: %d %s", res.StatusCode, res.Reason)
	}

	mark := rec.mark()
	bobDone := make(chan error, 1)
	var bobOut string
	go func() {
		var err error
		bobOut, err = sippRun(t, n.sip, "call-bob.xml", "users-bob.csv", "-m", "1", "-p", strconv.Itoa(bobPort), "-mp", mediaPort(t), "-rtp_echo")
		bobDone <- err
	}()
	time.Sleep(500 * time.Millisecond) // bob's sipp listening
	aliceDone := make(chan error, 1)
	var aliceOut string
	go func() {
		var err error
		aliceOut, err = sippRun(t, n.sip, "call-alice.xml", "users.csv", "-m", "1", "-s", "200", "-au", "alice", "-ap", "wonderland", "-mp", mediaPort(t))
		aliceDone <- err
	}()

	t.Cleanup(func() {
		if t.Failed() {
			select {
			case err := <-aliceDone:
				t.Logf("alice's sipp: %v\n%s", err, tailOf(aliceOut, 3000))
			case <-time.After(30 * time.Second):
			}
			t.Logf("server output:\n%s", tailOf(n.out.String(), 3000))
		}
	})
	// While the call is up: two legs, InUse, RTP both ways on both legs.
	n.hint(t, "200", "InUse")
	if out := n.MustRX("core show channels"); !strings.Contains(out, "SIP/alice-") || !strings.Contains(out, "SIP/bob-") || !strings.Contains(out, "2 active channels") {
		t.Errorf("core show channels during the call:\n%s", out)
	}
	rowRe := regexp.MustCompile(`(?m)^127\.0\.0\.1\s+\S+\s+\S+\s+(\d+)\s+\d+\s+\(\s*[\d.]+%\)\s+[\d.]+\s+(\d+)`)
	eventually(t, 10*time.Second, func() string {
		out := n.MustRX("sip show channelstats")
		rows := rowRe.FindAllStringSubmatch(out, -1)
		if len(rows) != 2 {
			return "sip show channelstats (want 2 calls):\n" + out
		}
		for _, r := range rows {
			if r[1] == "0" || r[2] == "0" {
				return "RTP not both ways on each leg:\n" + out
			}
		}
		return ""
	})
	for name, c := range map[string]chan error{"alice": aliceDone, "bob": bobDone} {
		select {
		case err := <-c:
			if err != nil {
				out := aliceOut
				if name == "bob" {
					out = bobOut
				}
				t.Fatalf("sipp %s: %v\n%s", name, err, tailOf(out, 4000))
			}
		case <-time.After(40 * time.Second):
			t.Fatalf("sipp %s did not finish", name)
		}
	}
	n.hint(t, "200", "Idle")
	n.idle(t)
	if v := metric(t, n.http, "pleiades_rtp_relayed_packets_total"); v == 0 {
		t.Error("no RTP relayed")
	}
	// The BLF phone: early, confirmed, terminated (after the first NOTIFY's terminated).
	var states []string
	for {
		r, ok := blf.Next(3 * time.Second)
		if !ok {
			break
		}
		if m := regexp.MustCompile(`<state>(\w+)</state>`).FindStringSubmatch(string(r.Req.Body())); m != nil {
			if len(states) == 0 || states[len(states)-1] != m[1] {
				states = append(states, m[1])
			}
		}
	}
	if got := strings.Join(states, " "); !strings.Contains(got, "terminated early confirmed terminated") {
		t.Errorf("dialog NOTIFY states: %s", got)
	}

	// AMI: the events of the call in Asterisk 20's order (issue 15 §7).
	var lines []string
	for _, ev := range rec.since(mark) {
		lines = append(lines, summary(ev))
	}
	t.Logf("AMI events of the call:\n%s", strings.Join(lines, "\n"))
	if msg := inOrder(lines,
		`^Newchannel Channel=SIP/alice-\S+ ChannelStateDesc=Down`,
		`^Newstate Channel=SIP/alice-\S+ ChannelStateDesc=Ring`,
		`^Newchannel Channel=SIP/bob-`,
		`^DialBegin Channel=SIP/alice-\S+ DestChannel=SIP/bob-`,
		`^DeviceStateChange Device=SIP/bob State=RINGING`,
		`^Newstate Channel=SIP/bob-\S+ ChannelStateDesc=Ringing`,
		`^DeviceStateChange Device=SIP/bob State=INUSE`,
		`^Newstate Channel=SIP/bob-\S+ ChannelStateDesc=Up`,
		`^DialEnd Channel=SIP/alice-\S+ DestChannel=SIP/bob-.* DialStatus=ANSWER`,
		`^Newstate Channel=SIP/alice-\S+ ChannelStateDesc=Up`,
		`^BridgeEnter `,
		`^BridgeEnter `,
		`^Hangup `,
		`^Hangup `,
	); msg != "" {
		t.Error(msg)
	}
	if msg := inOrder(lines, `^DeviceStateChange Device=SIP/bob State=RINGING`, `^DeviceStateChange Device=SIP/bob State=INUSE`, `^DeviceStateChange Device=SIP/bob State=NOT_INUSE`); msg != "" {
		t.Error(msg)
	}
	if msg := inOrder(lines, `^ExtensionStatus .*Exten=200 StatusText=Ringing`, `^ExtensionStatus .*Exten=200 StatusText=InUse`, `^ExtensionStatus .*Exten=200 StatusText=Idle`); msg != "" {
		t.Error(msg)
	}
}

// inviteFinal sends an INVITE from ph as user to exten (digest with pass on a 401) and waits
// up to d for its final response; the INVITE sent last is returned for in-dialog requests.
func inviteFinal(t *testing.T, ph *sipphone.Phone, user, pass, exten, body string, d time.Duration) (*sip.Request, *sip.Response, error) {
	req := ph.Request(sip.INVITE, user, exten)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody([]byte(body))
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	res, err := ph.Client.Do(ctx, req)
	if err != nil {
		return req, nil, err
	}
	if res.StatusCode == 401 {
		res, err = ph.Client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: user, Password: pass})
	}
	return req, res, err
}

// inDialog builds a request in the dialog of an answered INVITE.
func inDialog(inv *sip.Request, res *sip.Response, method sip.RequestMethod, seq uint32) *sip.Request {
	target := inv.Recipient
	if c := res.Contact(); c != nil {
		target = c.Address
	}
	r := sip.NewRequest(method, target)
	r.AppendHeader(sip.HeaderClone(inv.From()))
	r.AppendHeader(sip.HeaderClone(res.To()))
	r.AppendHeader(sip.HeaderClone(inv.CallID()))
	r.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: method})
	r.AppendHeader(sip.HeaderClone(inv.Contact()))
	r.AppendHeader(sip.NewHeader("Max-Forwards", "70"))
	return r
}

// TestCallsRefusedThroughTheBinary: Dial timeout (NOANSWER, the AMI DialEnd and the dialplan
// see it), a callee at its call-limit (BUSY), CANCEL while ringing, Busy(), an unknown
// extension (404), a wrong password (403 and the NOTICE line), a malformed SDP (488), a BYE
// for no dialog (481): every call ends, nothing is left.
func TestCallsRefusedThroughTheBinary(t *testing.T) {
	n := startCallsNode(t)
	rec := recordAMI(t, n.ami)
	carolPort := n.registerSipp(t, "carol")
	goroutines := settledGoroutines(t, n.http)

	// No answer: carol rings until the Dial timeout (3 s); bob calls her meanwhile and finds
	// her at her call-limit.
	carolDone := make(chan string, 1)
	go func() {
		out, err := sippRun(t, n.sip, "call-noanswer.xml", "users-carol.csv", "-m", "1", "-p", strconv.Itoa(carolPort))
		if err != nil {
			out = fmt.Sprintf("%v\n%s", err, out)
		} else {
			out = ""
		}
		carolDone <- out
	}()
	time.Sleep(500 * time.Millisecond)
	mark := rec.mark()
	alice := sipphone.New(t, n.sip)
	type final struct {
		res *sip.Response
		err error
	}
	aliceC := make(chan final, 1)
	go func() {
		_, res, err := inviteFinal(t, alice, "alice", "wonderland", "202", fmt.Sprintf(sdpOffer, 40000, "sendrecv"), 30*time.Second)
		aliceC <- final{res, err}
	}()
	n.hint(t, "202", "Ringing")
	bob := sipphone.New(t, n.sip)
	if _, res, err := inviteFinal(t, bob, "bob", "builder", "202", fmt.Sprintf(sdpOffer, 40002, "sendrecv"), 20*time.Second); err != nil || res.StatusCode < 400 {
		t.Errorf("bob's call to ringing carol (call-limit 1): %v %v", res, err)
	}
	f := <-aliceC
	if f.err != nil || f.res.StatusCode < 400 {
		t.Fatalf("alice's unanswered call: %v %v", f.res, f.err)
	}
	t.Logf("final responses: no answer %d %s", f.res.StatusCode, f.res.Reason)
	if out := <-carolDone; out != "" {
		t.Fatalf("carol's sipp: %s", tailOf(out, 4000))
	}
	n.hint(t, "202", "Idle")
	out := n.MustRX("database show dialstatus")
	for _, want := range []string{`/dialstatus/alice\s*:\s*NOANSWER`, `/dialstatus/bob\s*:\s*BUSY`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("database show dialstatus lacks %s:\n%s", want, out)
		}
	}
	var lines []string
	for _, ev := range rec.since(mark) {
		lines = append(lines, summary(ev))
	}
	if msg := inOrder(lines, `^DialBegin Channel=SIP/alice-\S+ DestChannel=SIP/carol-`, `^DialEnd Channel=SIP/alice-\S+ DestChannel=SIP/carol-.* DialStatus=NOANSWER`); msg != "" {
		t.Error(msg)
	}
	if msg := inOrder(lines, `^DeviceStateChange Device=SIP/carol State=RINGING`, `^DeviceStateChange Device=SIP/carol State=NOT_INUSE`); msg != "" {
		t.Error(msg)
	}

	// CANCEL while carol rings: 487 to alice, carol's INVITE cancelled.
	go func() {
		out, err := sippRun(t, n.sip, "call-noanswer.xml", "users-carol.csv", "-m", "1", "-p", strconv.Itoa(carolPort))
		if err != nil {
			out = fmt.Sprintf("%v\n%s", err, out)
		} else {
			out = ""
		}
		carolDone <- out
	}()
	time.Sleep(500 * time.Millisecond)
	mustSipp(t, n.sip, "call-cancel.xml", "users.csv", "-m", "1", "-s", "202", "-au", "alice", "-ap", "wonderland", "-mp", mediaPort(t))
	if out := <-carolDone; out != "" {
		t.Fatalf("carol's sipp after the CANCEL: %s", tailOf(out, 4000))
	}

	// Busy(), an unknown extension.
	for exten, want := range map[string]int{"203": 486, "299": 404} {
		if _, res, err := inviteFinal(t, alice, "alice", "wonderland", exten, fmt.Sprintf(sdpOffer, 40000, "sendrecv"), 20*time.Second); err != nil || res.StatusCode != want {
			t.Errorf("call to %s: %v %v, want %d", exten, res, err, want)
		}
	}
	// A wrong password: 401 then 403, and the NOTICE line in the log file.
	mustSipp(t, n.sip, "call-wrong.xml", "users.csv", "-m", "1", "-s", "200", "-au", "alice", "-ap", "nope", "-mp", mediaPort(t))
	eventually(t, 5*time.Second, func() string {
		b, _ := os.ReadFile(filepath.Join(n.Dir, "log", "messages.log"))
		if !regexp.MustCompile(`NOTICE\[\d+\].*Failed to authenticate device .*alice`).Match(b) {
			return "no NOTICE for the wrong password in messages.log:\n" + string(b)
		}
		return ""
	})
	// Bad input: a malformed SDP (488), a BYE for no dialog (481).
	mustSipp(t, n.sip, "call-badsdp.xml", "users.csv", "-m", "1", "-s", "200", "-au", "alice", "-ap", "wonderland", "-mp", mediaPort(t))
	mustSipp(t, n.sip, "bye-unknown.xml", "users.csv", "-m", "1", "-s", "200")
	// An absurd Content-Length, then a flood of INVITEs from a peer nobody knows (bounded:
	// 300 datagrams on loopback): refused or dropped, the server keeps serving.
	raw, err := net.Dial("udp", n.sip)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	invite := func(i int, length string) []byte {
		body := fmt.Sprintf(sdpOffer, 40000, "sendrecv")
		if length == "" {
			length = strconv.Itoa(len(body))
		}
		return []byte(fmt.Sprintf("INVITE sip:200@%[1]s SIP/2.0\r\nVia: SIP/2.0/UDP %[2]s;branch=z9hG4bK-flood-%[3]d\r\n"+
			"From: <sip:mallory@%[1]s>;tag=f%[3]d\r\nTo: <sip:200@%[1]s>\r\nCall-ID: flood-%[3]d@x\r\nCSeq: 1 INVITE\r\n"+
			"Contact: <sip:mallory@%[2]s>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: %[4]s\r\n\r\n%[5]s",
			n.sip, raw.LocalAddr(), i, length, body))
	}
	for _, l := range []string{"99999999999", "-5", "1x"} {
		if _, err := raw.Write(invite(0, l)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 300 {
		if _, err := raw.Write(invite(i+1, "")); err != nil {
			t.Fatal(err)
		}
	}
	if out := n.MustRX("sip show peers"); !strings.Contains(out, "carol") {
		t.Fatalf("sip show peers after the flood:\n%s", out)
	}
	n.idle(t)
	// Goroutines back to the start count once the SIP transactions' timers (32 s at most,
	// Timer J/H) have run out: a leaked channel, call or RTP reader would stay.
	end := time.Now()
	for {
		g := metric(t, n.http, "go_goroutines")
		if g <= goroutines {
			break
		}
		if time.Since(end) > 45*time.Second {
			// which goroutines stayed: the Go runtime's dump (SIGQUIT) from the server's output
			n.cmd.Process.Signal(syscall.SIGQUIT)
			n.Wait(5 * time.Second)
			t.Fatalf("go_goroutines %v, %v at the start; the server's goroutines:\n%s", g, goroutines, tailOf(n.out.String(), 60000))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("goroutines back to %v after %v", goroutines, time.Since(end).Round(time.Second))
}

// TestCallsHoldAndStrangerRTP: alice (a Go phone, registered) calls the Echo extension; her
// RTP comes back through the engine; RTP from another socket to the same port is dropped
// (strictrtp) and never echoed; a re-INVITE with sendonly puts SIP/alice ONHOLD (hint 100
// Hold) and sendrecv takes her back to InUse; her BYE ends it and every port is back.
func TestCallsHoldAndStrangerRTP(t *testing.T) {
	n := startCallsNode(t)
	alice := sipphone.New(t, n.sip)
	if res := alice.Register("alice", "wonderland", 300); res.StatusCode != 200 {
		t.Fatalf("register: %d", res.StatusCode)
	}
	n.hint(t, "100", "Idle")
	media, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer media.Close()
	port := media.LocalAddr().(*net.UDPAddr).Port
	inv, res, err := inviteFinal(t, alice, "alice", "wonderland", "201", fmt.Sprintf(sdpOffer, port, "sendrecv"), 20*time.Second)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("call to 201: %v %v", res, err)
	}
	seq := inv.CSeq().SeqNo
	if err := alice.Client.WriteRequest(inDialog(inv, res, sip.ACK, seq)); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`m=audio (\d+) `).FindStringSubmatch(string(res.Body()))
	if m == nil {
		t.Fatalf("answer without m=audio:\n%s", res.Body())
	}
	relay, _ := net.ResolveUDPAddr("udp", "127.0.0.1:"+m[1])
	rtp := func(c net.PacketConn, seqNo int) {
		pkt := make([]byte, 12+160)
		pkt[0], pkt[1] = 0x80, 0 // RTP v2, PCMU
		pkt[2], pkt[3] = byte(seqNo>>8), byte(seqNo)
		pkt[7] = byte(seqNo) // timestamp
		pkt[11] = 0x42       // SSRC
		if _, err := c.WriteTo(pkt, relay); err != nil {
			t.Fatal(err)
		}
	}
	echoed := func(c net.PacketConn, d time.Duration) int {
		got := 0
		buf := make([]byte, 1500)
		c.SetReadDeadline(time.Now().Add(d))
		for {
			if _, _, err := c.ReadFrom(buf); err != nil {
				return got
			}
			got++
		}
	}
	for i := range 20 {
		rtp(media, i)
		time.Sleep(20 * time.Millisecond)
	}
	if got := echoed(media, time.Second); got == 0 {
		t.Fatal("no RTP echoed")
	}
	// A stranger sends to the same port mid-call.
	dropped0 := metric(t, n.http, "pleiades_rtp_strict_dropped_packets_total")
	stranger, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	for i := range 20 {
		rtp(stranger, 100+i)
	}
	if got := echoed(stranger, 500*time.Millisecond); got != 0 {
		t.Errorf("the stranger got %d packets back", got)
	}
	eventually(t, 5*time.Second, func() string {
		if d := metric(t, n.http, "pleiades_rtp_strict_dropped_packets_total"); d < dropped0+20 {
			return fmt.Sprintf("strictrtp dropped %v packets of the stranger's 20", d-dropped0)
		}
		return ""
	})
	for i := range 10 {
		rtp(media, 20+i)
	}
	if got := echoed(media, time.Second); got == 0 {
		t.Error("no RTP echoed after the stranger's packets")
	}

	// Hold and unhold.
	n.hint(t, "100", "InUse")
	for _, step := range []struct{ dir, hint string }{{"sendonly", "Hold"}, {"sendrecv", "InUse"}} {
		seq++
		re := inDialog(inv, res, sip.INVITE, seq)
		re.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		re.SetBody([]byte(fmt.Sprintf(sdpOffer, port, step.dir)))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		r2, err := alice.Client.Do(ctx, re)
		cancel()
		if err != nil || r2.StatusCode != 200 {
			t.Fatalf("re-INVITE %s: %v %v", step.dir, r2, err)
		}
		if err := alice.Client.WriteRequest(inDialog(inv, res, sip.ACK, seq)); err != nil {
			t.Fatal(err)
		}
		n.hint(t, "100", step.hint)
	}
	seq++
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if r, err := alice.Client.Do(ctx, inDialog(inv, res, sip.BYE, seq)); err != nil || r.StatusCode != 200 {
		t.Fatalf("BYE: %v %v", r, err)
	}
	n.hint(t, "100", "Idle")
	n.idle(t)
}

// baresipConf is the config of a Debian baresip with no sound device: a 440 Hz sine as the
// microphone (ausine, 48 kHz stereo only), the aubridge device as the speaker, G.711.
const baresipConf = `poll_method epoll
sip_listen 127.0.0.1:%d
net_interface 127.0.0.1
rtp_ports %d-%d
audio_player aubridge,nowhere
audio_alert aubridge,nowhere
audio_source ausine,440
ausrc_srate 48000
ausrc_channels 2
module_path /usr/lib/baresip/modules
module g711.so
module ausine.so
module aubridge.so
module_app account.so
`

// TestCallsBaresipAnswers: Debian's baresip, a real softphone, registers as bob and answers
// alice's sipp call to 200 by itself (answermode=auto); RTP flows both ways on both legs
// (baresip's sine to alice, alice's pcap to baresip, counted by the server's
// sip show channelstats and seen by baresip), alice's BYE ends it.
func TestCallsBaresipAnswers(t *testing.T) {
	if _, err := os.Stat("/usr/bin/baresip"); err != nil {
		testenv.Unavailable(t, "baresip not installed (Debian baresip): %v", err)
	}
	n := startCallsNode(t)
	dir := t.TempDir()
	sipPort := freePorts(t, 1)[0]
	rtp, _ := strconv.Atoi(mediaPort(t))
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(fmt.Sprintf(baresipConf, sipPort, rtp, rtp+9)), 0o644); err != nil {
		t.Fatal(err)
	}
	account := fmt.Sprintf("<sip:bob@%s>;auth_pass=builder;answermode=auto;regint=300;audio_codecs=PCMA,PCMU\n", n.sip)
	if err := os.WriteFile(filepath.Join(dir, "accounts"), []byte(account), 0o644); err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	bs := exec.Command("/usr/bin/baresip", "-f", dir, "-v")
	bs.Stdout, bs.Stderr = out, out
	if err := bs.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { bs.Wait(); close(exited) }()
	t.Cleanup(func() {
		bs.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("baresip:\n%s", tailOf(out.String(), 4000))
		}
	})
	eventually(t, 15*time.Second, func() string {
		if !strings.Contains(out.String(), "200 OK") {
			return "baresip did not register:\n" + out.String()
		}
		return ""
	})
	n.hint(t, "200", "Idle")

	aliceDone := make(chan string, 1)
	go func() {
		o, err := sippRun(t, n.sip, "call-alice-auto.xml", "users.csv", "-m", "1", "-s", "200", "-au", "alice", "-ap", "wonderland", "-mp", mediaPort(t))
		if err != nil {
			o = fmt.Sprintf("%v\n%s", err, o)
		} else {
			o = ""
		}
		aliceDone <- o
	}()
	t.Cleanup(func() {
		if t.Failed() {
			select {
			case o := <-aliceDone:
				t.Logf("alice's sipp: %s", tailOf(o, 3000))
			case <-time.After(30 * time.Second):
			}
			t.Logf("server output:\n%s", tailOf(n.out.String(), 3000))
		}
	})
	n.hint(t, "200", "InUse")
	rowRe := regexp.MustCompile(`(?m)^127\.0\.0\.1\s+\S+\s+\S+\s+(\d+)\s+\d+\s+\(\s*[\d.]+%\)\s+[\d.]+\s+(\d+)`)
	eventually(t, 10*time.Second, func() string {
		o := n.MustRX("sip show channelstats")
		rows := rowRe.FindAllStringSubmatch(o, -1)
		if len(rows) != 2 {
			return "sip show channelstats (want 2 calls):\n" + o
		}
		for _, r := range rows {
			if r[1] == "0" || r[2] == "0" {
				return "RTP not both ways on each leg:\n" + o
			}
		}
		return ""
	})
	if o := <-aliceDone; o != "" {
		t.Fatalf("alice's sipp: %s", tailOf(o, 4000))
	}
	eventually(t, 10*time.Second, func() string {
		for _, want := range []string{"Call established", "incoming rtp for 'audio' established", "terminated"} {
			if !strings.Contains(out.String(), want) {
				return fmt.Sprintf("baresip did not say %q", want)
			}
		}
		return ""
	})
	n.hint(t, "200", "Idle")
	n.idle(t)
}

// TestCallsReadmeExample: README.md's Calls section shows the sip.conf and extensions.conf
// these tests run with.
func TestCallsReadmeExample(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"sip.conf": fmt.Sprintf(callsSIPConf, 5060), "extensions.conf": callsDialplan} {
		if !strings.Contains(string(b), "```ini\n"+want+"```") {
			t.Errorf("README.md lacks the calls tests' %s:\n%s", name, want)
		}
	}
}

// settledGoroutines returns the server's goroutine count once it has stopped changing (the
// same in three reads 200 ms apart, within 10 s): what the AMI login and the registration
// just set going (session writers, qualify, write-back) may start a little later on a loaded
// machine, and a count taken before that would read them as a leak at the end.
func settledGoroutines(t *testing.T, base string) float64 {
	t.Helper()
	g, same := metric(t, base, "go_goroutines"), 0
	for deadline := time.Now().Add(10 * time.Second); same < 2 && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		if v := metric(t, base, "go_goroutines"); v == g {
			same++
		} else {
			g, same = v, 0
		}
	}
	return g
}
