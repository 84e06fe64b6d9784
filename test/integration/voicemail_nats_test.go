package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pleiades-pbx/pleiades/test/sipphone"
	"github.com/pleiades-pbx/pleiades/test/testenv"
)

var voiceMessage = regexp.MustCompile(`Voice-Message: (\d+)/(\d+)`)

// poundRelease is when dtmf_2833_pound.pcap's RFC 4733 event ends (its end packets), after its
// first packet: the key is released then, and a digit is taken at its end, as Asterisk takes
// a DTMF END frame, so that is when the message is left.
const poundRelease = 139800 * time.Microsecond

// TestVoicemailNATSCluster is issue 16's cluster acceptance without a shared file system or
// database: two servers, each with its own spool, one embedded NATS cluster with JetStream
// (cluster.conf jetstream = yes) and voicemail.conf storage = nats. A message left by a sipp
// call on server 1 is in JetStream (the mailbox's index in the KV bucket, the recording in the
// object store, nothing in either spool); server 2 counts it and lights the lamp of a phone
// registered on it; VoiceMailMain on server 2 plays and deletes it: the index and the object
// store are empty, both servers count 0 and the lamp goes off.
//
// Then the MWI delay: sipp leaves five more messages on server 1, a second apart, logging when
// it sends each '#' (the end of the message); a phone on server 1 and a phone on server 2 get a
// NOTIFY for each new count. The delay of each count from its '#' to server 2's NOTIFY, and
// from server 1's NOTIFY to server 2's, are logged with their medians (docs/performance.md).
func TestVoicemailNATSCluster(t *testing.T) {
	if _, err := os.Stat("/usr/bin/sipp"); err != nil {
		testenv.Unavailable(t, "sipp not installed (Debian sip-tester): %v", err)
	}
	if _, err := os.Stat("/usr/share/asterisk/sounds/en/vm-password.wav"); err != nil {
		testenv.Unavailable(t, "Asterisk's sounds not installed (Debian asterisk-core-sounds-en-wav): %v", err)
	}
	routes := freePorts(t, 2)
	sipPorts := freePorts(t, 2)
	amiPorts := freePorts(t, 2)
	natsPort := freePorts(t, 1)[0]
	var n []*Node
	for i := range 2 {
		sipConf := fmt.Sprintf(callsSIPConf, sipPorts[i]) +
			"\n[dave]\ntype = friend\nhost = dynamic\nsecret = dv\ncontext = calls\nmailbox = 1234@default\n" +
			"\n[erin]\ntype = friend\nhost = dynamic\nsecret = er\ncontext = calls\nmailbox = 1234@default\n"
		extra := "jetstream = yes\n"
		if i == 0 {
			// A NATS client port on server 1, for this test to look into JetStream.
			extra += fmt.Sprintf("client_listen = 127.0.0.1:%d\n", natsPort)
		}
		nd := NewNode(t, fmt.Sprintf("entityid = 02:00:00:00:16:%02x\nsystemname = node%d", i+0x21, i+1), map[string]string{
			"sip.conf":        sipConf,
			"rtp.conf":        fmt.Sprintf("[general]\nrtpstart = %d\nrtpend = %d\nstrictrtp = yes\n", 21700+100*i, 21790+100*i),
			"extensions.conf": voicemailDialplan,
			"voicemail.conf":  strings.Replace(voicemailConf, "[general]\n", "[general]\nstorage = nats\n", 1),
			"cluster.conf":    clusterConf(i, routes, extra),
			"manager.conf":    fmt.Sprintf(managerUser, amiPorts[i]),
			"logger.conf":     sampleLogger,
		})
		n = append(n, nd)
	}
	for _, nd := range n {
		nd.Start()
	}
	t.Cleanup(func() {
		if t.Failed() {
			for i, nd := range n {
				t.Logf("server %d output:\n%s", i+1, tailOf(nd.out.String(), 4000))
			}
		}
	})
	for _, nd := range n {
		waitMembers(t, nd, 2)
	}

	nc, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", natsPort))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	// The servers create the buckets once their JetStream cluster has a leader.
	var kv jetstream.KeyValue
	var obj jetstream.ObjectStore
	eventually(t, 30*time.Second, func() string {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if kv, err = js.KeyValue(c, "pleiades_voicemail"); err != nil {
			return "KV bucket: " + err.Error()
		}
		if obj, err = js.ObjectStore(c, "pleiades_voicemail"); err != nil {
			return "object store: " + err.Error()
		}
		return ""
	})
	inbox := func() int {
		t.Helper()
		e, err := kv.Get(ctx, "default.1234")
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return 0
		}
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(string(e.Value()), `"id"`)
	}
	objects := func() int {
		l, err := obj.List(ctx)
		if errors.Is(err, jetstream.ErrNoObjectsFound) {
			return 0
		}
		if err != nil {
			t.Fatal(err)
		}
		return len(l)
	}

	ph2 := sipphone.New(t, fmt.Sprintf("127.0.0.1:%d", sipPorts[1]))
	if res := ph2.Register("dave", "dv", 120); res.StatusCode != 200 {
		t.Fatalf("register on server 2: %d %s", res.StatusCode, res.Reason)
	}
	waiting := func(ph *sipphone.Phone, want string) time.Time {
		t.Helper()
		for {
			r, ok := ph.Next(15 * time.Second)
			if !ok {
				t.Fatalf("no message-summary NOTIFY with Messages-Waiting: %s", want)
			}
			if ev := r.Req.GetHeader("Event"); ev != nil && ev.Value() == "message-summary" && strings.Contains(string(r.Req.Body()), "Messages-Waiting: "+want) {
				return r.At
			}
		}
	}
	count := func(a *amiConn, want string) {
		t.Helper()
		eventually(t, 5*time.Second, func() string {
			r := a.action("Action", "MailboxCount", "Mailbox", "1234@default")
			if got := field(r, "NewMessages") + "/" + field(r, "OldMessages"); got != want {
				return "MailboxCount " + got + ", want " + want
			}
			return ""
		})
	}
	a1 := amiLogin(t, amiPorts[0], "admin", "amp111")
	a2 := amiLogin(t, amiPorts[1], "admin", "amp111")

	mustSipp(t, fmt.Sprintf("127.0.0.1:%d", sipPorts[0]), "call-vm-leave.xml", "users.csv", "-m", "1", "-s", "1234", "-au", "alice", "-ap", "wonderland", "-mp", mediaPort(t))
	waiting(ph2, "yes")
	count(a2, "1/0")
	count(a1, "1/0")
	if got := inbox(); got != 1 {
		t.Errorf("the NATS index holds %d messages, want 1", got)
	}
	if got := objects(); got != 1 {
		t.Errorf("the object store holds %d recordings, want 1", got)
	}
	for _, nd := range n {
		if files, _ := filepath.Glob(filepath.Join(nd.Dir, "spool", "voicemail", "*", "*", "*", "msg*")); len(files) != 0 {
			t.Errorf("messages in a spool with storage=nats: %v", files)
		}
	}
	if out := n[1].MustRX("voicemail show users for default"); !strings.Contains(out, "John Doe") || !strings.Contains(out, "         1\n") {
		t.Errorf("server 2's voicemail show users:\n%s", out)
	}

	// Server 2 plays the message (VoiceMailMain: password, 1, 7 during the message, #).
	mustSipp(t, fmt.Sprintf("127.0.0.1:%d", sipPorts[1]), "call-vm-main.xml", "users.csv", "-m", "1", "-s", "8500", "-au", "alice", "-ap", "wonderland", "-mp", mediaPort(t))
	waiting(ph2, "no")
	count(a1, "0/0")
	count(a2, "0/0")
	if got := inbox(); got != 0 {
		t.Errorf("the NATS index holds %d messages after the delete", got)
	}
	if got := objects(); got != 0 {
		t.Errorf("the object store holds %d recordings after the delete", got)
	}

	// The MWI delay: five messages on server 1, a second apart; each new count's NOTIFY from
	// server 1 (to erin) and from server 2 (to dave).
	ph1 := sipphone.New(t, fmt.Sprintf("127.0.0.1:%d", sipPorts[0]))
	if res := ph1.Register("erin", "er", 120); res.StatusCode != 200 {
		t.Fatalf("register on server 1: %d %s", res.StatusCode, res.Reason)
	}
	const samples = 5
	collect := func(ph *sipphone.Phone, into map[int]time.Time, done chan<- struct{}) {
		defer close(done)
		deadline := time.Now().Add(60 * time.Second)
		for len(into) < samples && time.Now().Before(deadline) {
			r, ok := ph.Next(time.Until(deadline))
			if !ok {
				return
			}
			m := voiceMessage.FindStringSubmatch(string(r.Req.Body()))
			if m == nil {
				continue
			}
			k, _ := strconv.Atoi(m[1])
			if _, seen := into[k]; k > 0 && !seen {
				into[k] = r.At
			}
		}
	}
	at1, at2 := map[int]time.Time{}, map[int]time.Time{}
	d1, d2 := make(chan struct{}), make(chan struct{})
	// Drain what the registrations brought first (the current state, 0 messages).
	time.Sleep(300 * time.Millisecond)
	for len(ph1.Notifies) > 0 {
		<-ph1.Notifies
	}
	for len(ph2.Notifies) > 0 {
		<-ph2.Notifies
	}
	go collect(ph1, at1, d1)
	go collect(ph2, at2, d2)
	sippLog := filepath.Join(t.TempDir(), "pound.log")
	mustSipp(t, fmt.Sprintf("127.0.0.1:%d", sipPorts[0]), "call-vm-leave-stamp.xml", "users.csv",
		"-m", strconv.Itoa(samples), "-l", strconv.Itoa(samples), "-r", "1", "-s", "1234", "-au", "alice", "-ap", "wonderland", "-mp", mediaPort(t),
		"-trace_logs", "-log_file", sippLog)
	<-d1
	<-d2
	// When sipp sent each '#' (the end of each message), in order: the k-th is count k.
	var pounds []time.Time
	logText, err := os.ReadFile(sippLog)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(logText), "\n") {
		f := strings.Fields(l)
		if len(f) == 4 && f[0] == "pound" {
			sec, err := strconv.ParseFloat(f[3], 64)
			if err == nil {
				pounds = append(pounds, time.Unix(0, int64(sec*1e6)*1e3))
			}
		}
	}
	slices.SortFunc(pounds, func(a, b time.Time) int { return a.Compare(b) })
	if len(pounds) != samples {
		t.Fatalf("sipp logged %d '#', want %d:\n%s", len(pounds), samples, logText)
	}
	count(a1, fmt.Sprintf("%d/0", samples))
	count(a2, fmt.Sprintf("%d/0", samples))
	if got := inbox(); got != samples {
		t.Errorf("the NATS index holds %d messages, want %d", got, samples)
	}
	var hop, left []time.Duration
	for k := 1; k <= samples; k++ {
		a, ok1 := at1[k]
		b, ok2 := at2[k]
		if !ok1 || !ok2 {
			// A count can be skipped when two messages are stored within one update.
			t.Logf("count %d: NOTIFY from server 1 %v, from server 2 %v", k, ok1, ok2)
			continue
		}
		hop = append(hop, b.Sub(a))
		left = append(left, b.Sub(pounds[k-1].Add(poundRelease)))
	}
	if len(hop) < 3 {
		t.Fatalf("only %d counts seen from both servers (server 1: %v, server 2: %v)", len(hop), at1, at2)
	}
	median := func(d []time.Duration) time.Duration {
		slices.Sort(d)
		return d[len(d)/2]
	}
	t.Logf("MWI: the '#' released on server 1 (sipp's first '#' packet + %v) → server 2's NOTIFY, %d samples: %v, median %v",
		poundRelease, len(left), left, median(left))
	t.Logf("MWI: server 1's NOTIFY → server 2's NOTIFY for the same new count: %v, median %v", hop, median(hop))
	// The goal is 100 ms; the margin is for a loaded 2-core machine.
	if m := median(left); m > time.Second {
		t.Errorf("median MWI delay from the end of a message on server 1 to server 2's NOTIFY: %v", m)
	}
}
