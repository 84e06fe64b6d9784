package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/realtime/realtimetest"
	"github.com/pleiades-pbx/pleiades/test/testenv"
)

// queueAnnConf: queue annq announces the caller's place and the estimated hold time (no
// history: half a minute, said in seconds with announce-round-seconds) to callers waiting
// with music on hold; its only member is never registered, so nobody is rung.
const queueAnnConf = `[annq]
announce-frequency = 30
announce-holdtime = yes
announce-round-seconds = 30
retry = 20
member => SIP/bob
`

const queueAnnDialplan = `[calls]
exten => 310,1,Answer()
 same => n,Queue(annq,,,,8)
 same => n,Hangup()
exten => 311,1,Answer()
 same => n,Queue(annq,,,,16)
 same => n,Hangup()
`

// TestQueueAnnouncementThroughTheBinary: two sipp callers wait in queue annq with music on
// hold. The first, the head of the line, hears no announcement; the second is told at once,
// with Asterisk's sound files, "there are 2 calls waiting, the estimated hold time is 30
// seconds, thank you" (queue-thereare digits/2 queue-callswaiting queue-holdtime digits/30
// queue-seconds queue-thankyou, in that order in the verbose log), and its RTP socket gets
// those files' length of audio besides the music (the packets that are not the music's).
func TestQueueAnnouncementThroughTheBinary(t *testing.T) {
	if _, err := os.Stat("/usr/bin/sipp"); err != nil {
		testenv.Unavailable(t, "sipp not installed (Debian sip-tester): %v", err)
	}
	files := []string{"queue-thereare", "digits/2", "queue-callswaiting", "queue-holdtime", "digits/30", "queue-seconds", "queue-thankyou"}
	var soundLen time.Duration
	for _, f := range files {
		st, err := os.Stat("/usr/share/asterisk/sounds/en/" + f + ".wav")
		if err != nil {
			testenv.Unavailable(t, "Asterisk's sounds not installed (Debian asterisk-core-sounds-en-wav): %v", err)
		}
		soundLen += time.Duration(st.Size()-44) * time.Second / 16000
	}
	p := freePorts(t, 2)
	nd := NewNode(t, "", map[string]string{
		"sip.conf":         fmt.Sprintf(queueSIPConf, p[0]),
		"rtp.conf":         "[general]\nrtpstart = 21600\nrtpend = 21800\n",
		"extensions.conf":  queueAnnDialplan,
		"queues.conf":      queueAnnConf,
		"manager.conf":     fmt.Sprintf(managerUser, p[1]),
		"musiconhold.conf": mohConf,
		"logger.conf":      "[logfiles]\nmessages.log => notice,warning,error,verbose\n",
	})
	mohWAV(t, filepath.Join(nd.Dir, "lib", "moh", "a-first.wav"), 4000)
	mohWAV(t, filepath.Join(nd.Dir, "lib", "moh", "b-second.wav"), -4000)
	nd.Start()
	noRace(t, nd)
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(nd.Dir, "log", "messages.log"))
			t.Logf("server output:\n%s\nmessages.log:\n%s", tailOf(nd.out.String(), 2000), tailOf(string(b), 4000))
		}
	})
	nd.MustRX("core set verbose 3")
	sip := fmt.Sprintf("127.0.0.1:%d", p[0])

	head, second := newRTPCounter(t), newRTPCounter(t)
	c1 := goSipp(t, sip, "moh-answered.xml", "users.csv", "-m", "1", "-s", "310", "-au", "alice", "-ap", "wonderland",
		"-mp", mediaPort(t), "-key", "mport", head.port())
	eventually(t, 10*time.Second, func() string {
		if out := nd.MustRX("queue show annq"); !strings.Contains(out, "annq has 1 calls") {
			return out
		}
		return ""
	})
	start := time.Now()
	c2 := goSipp(t, sip, "moh-answered.xml", "users.csv", "-m", "1", "-s", "311", "-au", "alice", "-ap", "wonderland",
		"-mp", mediaPort(t), "-key", "mport", second.port())
	waitSipp(t, "head caller", c1)
	waitSipp(t, "second caller", c2)
	took := time.Since(start)

	b, err := os.ReadFile(filepath.Join(nd.Dir, "log", "messages.log"))
	if err != nil {
		t.Fatal(err)
	}
	played := map[string][]string{} // channel -> files
	for _, m := range regexp.MustCompile(`<(SIP/alice-[0-9a-f]+)> Playing '([^']+)'`).FindAllStringSubmatch(string(b), -1) {
		played[m[1]] = append(played[m[1]], m[2])
	}
	if len(played) != 1 {
		t.Fatalf("announcements to %d channels, want the second caller only: %v\n%s", len(played), played, tailOf(string(b), 3000))
	}
	for ch, got := range played {
		if strings.Join(got, " ") != strings.Join(files, " ") {
			t.Errorf("%s heard %v, want %v", ch, got, files)
		}
		if !strings.Contains(string(b), "Told "+ch+" in annq their queue position (which was 2)") {
			t.Errorf("no \"Told %s ...\" line", ch)
		}
	}
	// The second caller's packets: the announcement (soundLen of 20 ms packets) and music for
	// the rest of its 16 s; the head's: music only (two files of one constant sample each).
	ann := int(soundLen / (20 * time.Millisecond))
	music := map[byte]bool{}
	for _, b := range head.runs() {
		music[b] = true
	}
	if len(music) > 2 {
		t.Errorf("the head of the line heard something besides music: %x", head.runs())
	}
	second.mu.Lock()
	spoken := 0
	for _, b := range second.b {
		if !music[b] {
			spoken++
		}
	}
	second.mu.Unlock()
	t.Logf("announcement %v (%d packets); the second caller got %d packets in %v, %d not music; the head %d", soundLen, ann, second.count(), took, spoken, head.count())
	if spoken < ann*7/10 || spoken > ann+10 {
		t.Errorf("the second caller got %d packets besides music, want about %d (the announcement's length)", spoken, ann)
	}
	if got := second.count(); got < 16*50*6/10 {
		t.Errorf("the second caller got %d packets in %v (16 s of music and announcement is 800)", got, took)
	}
}

// TestQueueRealtimePauseWriteBackPgsql: a realtime member (PostgreSQL, Asterisk's
// queue_members table) paused through AMI QueuePause has paused = 1 and its reason in its
// row, as Asterisk writes it; unpaused through the CLI, paused = 0; paused through the
// dialplan's PauseQueueMember (via "channel originate ... application"), 1 again.
func TestQueueRealtimePauseWriteBackPgsql(t *testing.T) {
	schema := pgScratch(t)
	db := pgConn(t, schema)
	create, err := realtimetest.TableStatements(testenv.SharedPath(t, "asterisk-schema"), "postgres", "queues", "queue_members")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range create {
		pgExec(t, db, q)
	}
	// reason_paused came with a later Alembic step of Asterisk's schema.
	pgExec(t, db, "ALTER TABLE queue_members ADD COLUMN IF NOT EXISTS reason_paused VARCHAR(80)")
	installNotify(t, db, "pleiades_realtime")
	p := freePorts(t, 1)
	nd := NewNode(t, "", map[string]string{
		"extconfig.conf": "[settings]\nqueues => pgsql,test,queues\nqueue_members => pgsql,test,queue_members\n",
		"res_pgsql.conf": "[general]\ndbhost = 127.0.0.1\ndbport = 5432\ndbname = test\ndbuser = postgres\nsearch_path = " + schema +
			"\nlisten_channel = pleiades_realtime\n",
		"manager.conf":    fmt.Sprintf(managerUser, p[0]),
		"extensions.conf": "[t]\nexten => p,1,PauseQueueMember(rtq,SIP/bob,,break)\n same => n,Set(DB(pqm/status)=${PQMSTATUS})\n",
	})
	nd.Start()
	noRace(t, nd)
	pgExec(t, db, "INSERT INTO queues (name) VALUES ('rtq')")
	pgExec(t, db, "INSERT INTO queue_members (queue_name, interface, uniqueid, membername, paused) VALUES ('rtq', 'SIP/bob', '7', 'Bob', 0)")
	row := func() string {
		t.Helper()
		var paused *int
		var reason *string
		if err := db.QueryRow(context.Background(), "SELECT paused, reason_paused FROM queue_members WHERE uniqueid = '7'").Scan(&paused, &reason); err != nil {
			t.Fatal(err)
		}
		s := "paused=<nil>"
		if paused != nil {
			s = fmt.Sprintf("paused=%d", *paused)
		}
		if reason != nil {
			s += " reason=" + *reason
		}
		return s
	}
	if out := nd.MustRX("queue show rtq"); !strings.Contains(out, "Bob (SIP/bob) (ringinuse enabled) (realtime)") {
		t.Fatalf("queue show rtq:\n%s", out)
	}
	a := amiLogin(t, p[0], "admin", "amp111")
	if r := a.action("Action", "QueuePause", "Queue", "rtq", "Interface", "SIP/bob", "Paused", "true", "Reason", "lunch"); field(r, "Response") != "Success" {
		t.Fatalf("QueuePause: %q", r)
	}
	if got := row(); got != "paused=1 reason=lunch" {
		t.Errorf("after AMI QueuePause: %s, want paused=1 reason=lunch", got)
	}
	// The row as the truth: read again (NOTIFY), Bob stays paused.
	eventually(t, 10*time.Second, func() string {
		if out := nd.MustRX("queue show rtq"); !strings.Contains(out, "(realtime) (paused:lunch") {
			return out
		}
		return ""
	})
	nd.MustRX("queue unpause member SIP/bob queue rtq")
	if got := row(); got != "paused=0 reason=" {
		t.Errorf("after queue unpause: %s, want paused=0 reason=", got)
	}
	nd.MustRX("channel originate Local/p@t application Wait 0")
	eventually(t, 10*time.Second, func() string {
		if got := row(); got != "paused=1 reason=break" {
			return "after PauseQueueMember: " + got
		}
		return ""
	})
}

// TestQueueAutopauseThroughTheBinary: queue ap (autopause=yes, timeout 2) rings carol's sipp
// phone, which rings and never answers; alice's call leaves after that round (option n).
// Carol is paused as Asterisk's rna pauses her: AMI QueueMemberPause with Paused 1 and
// PausedReason Auto-Pause, queue_log PAUSE with reason Auto-Pause, "queue show" (paused);
// alice's wait ends with EXITWITHTIMEOUT.
func TestQueueAutopauseThroughTheBinary(t *testing.T) {
	if _, err := os.Stat("/usr/bin/sipp"); err != nil {
		testenv.Unavailable(t, "sipp not installed (Debian sip-tester): %v", err)
	}
	p := freePorts(t, 2)
	nd := NewNode(t, "", map[string]string{
		"sip.conf":        fmt.Sprintf(queueSIPConf, p[0]),
		"rtp.conf":        "[general]\nrtpstart = 21800\nrtpend = 21900\n",
		"extensions.conf": "[calls]\nexten => 320,1,Queue(ap,rn)\n same => n,Hangup()\n",
		"queues.conf":     "[ap]\ntimeout = 2\nautopause = yes\nmember => SIP/carol\n",
		"manager.conf":    fmt.Sprintf(managerUser, p[1]),
	})
	nd.Start()
	noRace(t, nd)
	n := &queueNode{Node: nd, sip: fmt.Sprintf("127.0.0.1:%d", p[0]), ami: p[1]}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server output:\n%s", tailOf(n.out.String(), 4000))
		}
	})
	rec := recordAMI(t, n.ami)
	carolPort := n.register(t, "carol")
	mark := rec.mark()
	carol := goSipp(t, n.sip, "call-noanswer.xml", "users-carol.csv", "-m", "1", "-p", strconv.Itoa(carolPort))
	time.Sleep(300 * time.Millisecond)
	mustSipp(t, n.sip, "call-declined.xml", "users-alice.csv", "-m", "1", "-s", "320", "-au", "alice", "-ap", "wonderland")
	waitSipp(t, "carol", carol)
	eventually(t, 10*time.Second, func() string {
		for _, ev := range rec.since(mark) {
			if field(ev, "Event") == "QueueMemberPause" {
				if field(ev, "Interface") != "SIP/carol" || field(ev, "Paused") != "1" || field(ev, "PausedReason") != "Auto-Pause" {
					return fmt.Sprintf("QueueMemberPause: %q", ev)
				}
				return ""
			}
		}
		return "no QueueMemberPause"
	})
	matchAll(t, "queue_log", n.queueLog(t),
		`^\S+\|ap\|SIP/carol\|RINGNOANSWER\|\d+$`,
		`^NONE\|ap\|SIP/carol\|PAUSE\|Auto-Pause$`,
		`^\S+\|ap\|NONE\|EXITWITHTIMEOUT\|1\|1\|\d+$`,
	)
	if out := n.MustRX("queue show ap"); !strings.Contains(out, "SIP/carol (ringinuse enabled) (paused:Auto-Pause") {
		t.Errorf("queue show ap:\n%s", out)
	}
}

// TestQueueMemberAnnouncementThroughTheBinary: queue rep plays the member, once bob's sipp
// phone answers and before the bridge, the queue's announce and (reportholdtime)
// queue-reporthold, Asterisk's files, on bob's SIP leg; the call then goes on as usual
// (CONNECT, COMPLETECALLER).
func TestQueueMemberAnnouncementThroughTheBinary(t *testing.T) {
	if _, err := os.Stat("/usr/bin/sipp"); err != nil {
		testenv.Unavailable(t, "sipp not installed (Debian sip-tester): %v", err)
	}
	if _, err := os.Stat("/usr/share/asterisk/sounds/en/queue-reporthold.wav"); err != nil {
		testenv.Unavailable(t, "Asterisk's sounds not installed (Debian asterisk-core-sounds-en-wav): %v", err)
	}
	p := freePorts(t, 2)
	nd := NewNode(t, "", map[string]string{
		"sip.conf":        fmt.Sprintf(queueSIPConf, p[0]),
		"rtp.conf":        "[general]\nrtpstart = 21900\nrtpend = 22000\n",
		"extensions.conf": "[calls]\nexten => 330,1,Queue(rep,r)\n same => n,Hangup()\n",
		"queues.conf":     "[rep]\nannounce = beep\nreportholdtime = yes\nmember => SIP/bob\n",
		"manager.conf":    fmt.Sprintf(managerUser, p[1]),
		"logger.conf":     "[logfiles]\nmessages.log => notice,warning,error,verbose\n",
	})
	nd.Start()
	noRace(t, nd)
	n := &queueNode{Node: nd, sip: fmt.Sprintf("127.0.0.1:%d", p[0]), ami: p[1]}
	logText := func() string {
		b, _ := os.ReadFile(filepath.Join(nd.Dir, "log", "messages.log"))
		return string(b)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("messages.log:\n%s", tailOf(logText(), 4000))
		}
	})
	nd.MustRX("core set verbose 3")
	bobPort := n.register(t, "bob")
	bob := goSipp(t, n.sip, "queue-member.xml", "users-bob.csv", "-m", "1", "-p", strconv.Itoa(bobPort), "-mp", mediaPort(t), "-rtp_echo")
	time.Sleep(300 * time.Millisecond)
	mustSipp(t, n.sip, "queue-caller.xml", "users-alice.csv", "-m", "1", "-s", "330", "-au", "alice", "-ap", "wonderland", "-mp", mediaPort(t), "-d", "1000")
	waitSipp(t, "bob", bob)
	log := logText()
	var played []string
	for _, m := range regexp.MustCompile(`<SIP/bob-[0-9a-f]+> Playing '([^']+)'`).FindAllStringSubmatch(log, -1) {
		played = append(played, m[1])
	}
	if strings.Join(played, " ") != "beep queue-reporthold" {
		t.Errorf("bob heard %q, want beep queue-reporthold", played)
	}
	if strings.Contains(log, "play_file failed") {
		t.Errorf("a member announcement failed")
	}
	eventually(t, 10*time.Second, func() string {
		lines := n.queueLog(t)
		if msg := inOrder(lines, `^\S+\|rep\|SIP/bob\|CONNECT\|`, `^\S+\|rep\|SIP/bob\|COMPLETECALLER\|`); msg != "" {
			return msg + "\n" + strings.Join(lines, "\n")
		}
		return ""
	})
}
