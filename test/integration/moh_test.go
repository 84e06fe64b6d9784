package integration

import (
	le "encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// mohConf is the musiconhold.conf of the music on hold tests: Asterisk's default class,
// sorted, and a class Pleiades cannot play (an external player), warned about.
const mohConf = `[general]
cachertclasses = yes

[default]
mode = files
directory = moh
sort = alpha

[radio]
mode = custom
application = /usr/bin/mpg123 -q -r 8000 --mono -s
`

// mohDialplan adds the music on hold extensions to the calls dialplan.
const mohDialplan = callsDialplan + `exten => 300,1,Answer()
 same => n,MusicOnHold(default,3)
 same => n,Hangup()
exten => 301,1,Dial(SIP/carol,2,m)
 same => n,Hangup(17)
`

// rtpCounter is a phone's RTP socket: it records when each packet came and its payload's
// first byte (which file of the class it is from).
type rtpCounter struct {
	conn *net.UDPConn
	mu   sync.Mutex
	at   []time.Time
	b    []byte
}

func newRTPCounter(t *testing.T) *rtpCounter {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	r := &rtpCounter{conn: c}
	done := make(chan struct{})
	t.Cleanup(func() { c.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			if n <= 12 || buf[0]>>6 != 2 || buf[1]&0x7f != 0 {
				continue
			}
			r.mu.Lock()
			r.at = append(r.at, time.Now())
			r.b = append(r.b, buf[12])
			r.mu.Unlock()
		}
	}()
	return r
}

func (r *rtpCounter) port() string { return strconv.Itoa(r.conn.LocalAddr().(*net.UDPAddr).Port) }

func (r *rtpCounter) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.at)
}

// between counts the packets that came in [from, to).
func (r *rtpCounter) between(from, to time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, a := range r.at {
		if !a.Before(from) && a.Before(to) {
			n++
		}
	}
	return n
}

// runs is the sequence of distinct payload bytes (one per file played).
func (r *rtpCounter) runs() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []byte
	for i, b := range r.b {
		if i == 0 || b != r.b[i-1] {
			out = append(out, b)
		}
	}
	return out
}

// mohWAV writes a second of 8 kHz 16-bit mono audio of one sample value.
func mohWAV(t *testing.T, path string, v int16) {
	t.Helper()
	data := make([]byte, 16000)
	for i := 0; i < len(data); i += 2 {
		le.LittleEndian.PutUint16(data[i:], uint16(v))
	}
	h := []byte("RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x40\x1f\x00\x00\x80\x3e\x00\x00\x02\x00\x10\x00data\x00\x00\x00\x00")
	le.LittleEndian.PutUint32(h[4:], uint32(36+len(data)))
	le.LittleEndian.PutUint32(h[40:], uint32(len(data)))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(h, data...), 0o644); err != nil {
		t.Fatal(err)
	}
}

// startMOHNode is the calls node with musiconhold.conf and two one-second WAV files in
// astdatadir/moh.
func startMOHNode(t *testing.T) *callsNode {
	t.Helper()
	if _, err := os.Stat("/usr/bin/sipp"); err != nil {
		startCallsNode(t) // skips (or fails in CI) as the calls tests do
	}
	p := freePorts(t, 3)
	nd := NewNode(t, "", map[string]string{
		"sip.conf":         fmt.Sprintf(callsSIPConf, p[0]),
		"rtp.conf":         "[general]\nrtpstart = 21000\nrtpend = 21200\nstrictrtp = yes\n",
		"extensions.conf":  mohDialplan,
		"manager.conf":     fmt.Sprintf(managerUser, p[1]),
		"http.conf":        fmt.Sprintf("[general]\nenabled = yes\nbindaddr = 127.0.0.1\nbindport = %d\n", p[2]),
		"logger.conf":      sampleLogger,
		"musiconhold.conf": mohConf,
	})
	mohWAV(t, filepath.Join(nd.Dir, "lib", "moh", "a-first.wav"), 4000)
	mohWAV(t, filepath.Join(nd.Dir, "lib", "moh", "b-second.wav"), -4000)
	nd.Start()
	return &callsNode{Node: nd, sip: fmt.Sprintf("127.0.0.1:%d", p[0]), ami: p[1], http: fmt.Sprintf("http://127.0.0.1:%d", p[2])}
}

// TestMOHMusicOnHoldThroughTheBinary: a sipp UAC calls an extension running
// MusicOnHold(default,3): its RTP socket receives about three seconds of 20 ms packets,
// the two files of the class in order and then the first again (the loop), until the
// dialplan hangs up. The CLI shows the class and its files in Asterisk's shape, the class
// Pleiades cannot play is warned about with its file:line, and moh reload reads the file
// again.
func TestMOHMusicOnHoldThroughTheBinary(t *testing.T) {
	n := startMOHNode(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server output:\n%s", tailOf(n.out.String(), 3000))
		}
	})
	lib := filepath.Join(n.Dir, "lib")
	want := "Class: default\n\tMode: files\n\tDirectory: moh\n"
	if out := n.MustRX("moh show classes"); out != want {
		t.Errorf("moh show classes:\n%q\nwant\n%q", out, want)
	}
	want = "Class: default\n\tFile: " + lib + "/moh/a-first\n\tFile: " + lib + "/moh/b-second\n"
	if out := n.MustRX("moh show files"); out != want {
		t.Errorf("moh show files:\n%q\nwant\n%q", out, want)
	}
	if out := n.MustRX("module show like musiconhold"); !strings.Contains(out, "res_musiconhold.so             Music On Hold Resource") {
		t.Errorf("module show:\n%s", out)
	}
	eventually(t, 5*time.Second, func() string {
		if s := n.out.String(); !strings.Contains(s, "musiconhold.conf:10: class 'radio': mode=custom (an external player) is not supported by Pleiades") {
			return "no warning about [radio] in:\n" + tailOf(s, 2000)
		}
		return ""
	})

	rtp := newRTPCounter(t)
	start := time.Now()
	mustSipp(t, n.sip, "moh-answered.xml", "users.csv", "-m", "1", "-s", "300", "-au", "alice", "-ap", "wonderland",
		"-mp", mediaPort(t), "-key", "mport", rtp.port())
	took := time.Since(start)
	got := rtp.count()
	t.Logf("MusicOnHold(default,3): %d packets in %v, files %x", got, took, rtp.runs())
	// 3 s of 20 ms packets is 150; a loaded machine may start late or end early.
	if got < 110 || got > 160 {
		t.Errorf("alice received %d RTP packets of MusicOnHold(default,3) in %v", got, took)
	}
	if r := rtp.runs(); len(r) < 3 || r[0] == r[1] || r[2] != r[0] {
		t.Errorf("files played (payload bytes) %x: want first, second, first", r)
	}
	n.idle(t)

	// A class added and moh reload: the new class is listed.
	n.WriteFile("musiconhold.conf", mohConf+"\n[jazz]\nmode = files\ndirectory = "+filepath.Join(lib, "moh")+"\n")
	n.MustRX("moh reload")
	if out := n.MustRX("moh show classes"); !strings.Contains(out, "Class: jazz\n\tMode: files\n\tDirectory: "+filepath.Join(lib, "moh")+"\n") {
		t.Errorf("after moh reload:\n%s", out)
	}
}

// TestMOHDialOptionMThroughTheBinary: Dial(SIP/carol,2,m) to a phone that rings and never
// answers: the caller gets 183 and music (about two seconds of it) instead of ringing,
// then the 486 of Hangup(17); carol's phone is cancelled.
func TestMOHDialOptionMThroughTheBinary(t *testing.T) {
	n := startMOHNode(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server output:\n%s", tailOf(n.out.String(), 3000))
		}
	})
	carolPort := n.registerSipp(t, "carol")
	carolDone := make(chan error, 1)
	var carolOut string
	go func() {
		var err error
		carolOut, err = sippRun(t, n.sip, "call-noanswer.xml", "users-carol.csv", "-m", "1", "-p", strconv.Itoa(carolPort))
		carolDone <- err
	}()
	time.Sleep(500 * time.Millisecond)
	rtp := newRTPCounter(t)
	mustSipp(t, n.sip, "moh-early.xml", "users.csv", "-m", "1", "-s", "301", "-au", "alice", "-ap", "wonderland",
		"-mp", mediaPort(t), "-key", "mport", rtp.port())
	t.Logf("Dial(SIP/carol,2,m): %d packets", rtp.count())
	if got := rtp.count(); got < 60 || got > 110 {
		t.Errorf("alice received %d RTP packets during a 2 s Dial with m", got)
	}
	select {
	case err := <-carolDone:
		if err != nil {
			t.Errorf("carol's sipp: %v\n%s", err, tailOf(carolOut, 3000))
		}
	case <-time.After(20 * time.Second):
		t.Error("carol's sipp did not end")
	}
	n.idle(t)
}

// TestMOHHoldThroughTheBinary: alice calls bob (Dial, answered at once) and puts the call on
// hold for two seconds (re-INVITE sendonly, then sendrecv): bob, the held party, receives
// music on hold during the hold and nothing before or after (alice sends no audio).
func TestMOHHoldThroughTheBinary(t *testing.T) {
	n := startMOHNode(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server output:\n%s", tailOf(n.out.String(), 3000))
		}
	})
	rec := recordAMI(t, n.ami)
	bobPort := n.registerSipp(t, "bob")
	mark := rec.mark()
	rtp := newRTPCounter(t)
	bobDone := make(chan error, 1)
	var bobOut string
	go func() {
		var err error
		bobOut, err = sippRun(t, n.sip, "moh-bob.xml", "users-bob.csv", "-m", "1", "-p", strconv.Itoa(bobPort), "-key", "mport", rtp.port())
		bobDone <- err
	}()
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	mustSipp(t, n.sip, "moh-hold.xml", "users.csv", "-m", "1", "-s", "200", "-au", "alice", "-ap", "wonderland", "-mp", mediaPort(t))
	end := time.Now()
	select {
	case err := <-bobDone:
		if err != nil {
			t.Fatalf("bob's sipp: %v\n%s", err, tailOf(bobOut, 3000))
		}
	case <-time.After(20 * time.Second):
		t.Fatal("bob's sipp did not end")
	}
	// The scenario: answer, 1 s, hold, 2 s, unhold, 1 s, BYE. The 2 s of hold are about 100
	// packets; before the hold and after the unhold (with a margin for the re-INVITEs'
	// round trips) nothing comes.
	total := rtp.count()
	t.Logf("hold: bob received %d packets", total)
	if total < 70 || total > 115 {
		t.Errorf("bob received %d packets, want the 2 s of hold music (about 100)", total)
	}
	if before := rtp.between(start, start.Add(800*time.Millisecond)); before != 0 {
		t.Errorf("bob received %d packets before the hold", before)
	}
	if after := rtp.between(end.Add(-700*time.Millisecond), end.Add(time.Second)); after > 2 {
		t.Errorf("bob received %d packets after the unhold", after)
	}
	// AMI: MusicOnHoldStart (Class default) and MusicOnHoldStop on bob's channel, between
	// alice's Hold and Unhold.
	var lines []string
	for _, ev := range rec.since(mark) {
		l := summary(ev)
		if c := field(ev, "Class"); strings.HasPrefix(ev[0], "Event: MusicOnHold") && c != "" {
			l += " Class=" + c
		}
		lines = append(lines, l)
	}
	if msg := inOrder(lines, `^Hold Channel=SIP/alice-`, `^MusicOnHoldStart Channel=SIP/bob-\S+ .*Class=default$`,
		`^Unhold Channel=SIP/alice-`, `^MusicOnHoldStop Channel=SIP/bob-`, `^Hangup `); msg != "" {
		t.Error(msg)
	}
	n.idle(t)
}
