package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pleiades-pbx/pleiades/internal/media/sound"
	"github.com/pleiades-pbx/pleiades/test/sipphone"
	"github.com/pleiades-pbx/pleiades/test/testenv"
)

// voicemailConf is the voicemail.conf of the voicemail tests (also in README.md).
const voicemailConf = `[general]
format = wav
maxmsg = 100
maxsecs = 60
minsecs = 1
maxsilence = 10
silencethreshold = 128
maxlogins = 3
mailcmd = cat > /dev/null

[default]
1234 => 4242,John Doe,john@example.com
1235 => 5555,Full Box,,,maxmsg=1
`

// voicemailDialplan: 1234 leaves a message for 1234@default (no greeting, no instructions:
// the beep, then the recording), 8500 checks it.
const voicemailDialplan = `[calls]
exten => 1234,1,VoiceMail(1234@default,s)
 same => n,Set(DB(vmstatus/last)=${VMSTATUS})
 same => n,Hangup()
exten => 1235,1,VoiceMail(1235@default,s)
 same => n,Set(DB(vmstatus/1235)=${VMSTATUS})
 same => n,Hangup()
exten => 8500,1,VoiceMailMain(1234@default)
 same => n,Hangup()
exten => 8501,1,NoOp(${MAILBOX_EXISTS(1234@default)}/${MAILBOX_EXISTS(999@default)}/${VM_INFO(1234,fullname)}/${VM_INFO(1234,count)})
`

func startVoicemailNode(t *testing.T) *callsNode {
	t.Helper()
	if _, err := os.Stat("/usr/bin/sipp"); err != nil {
		testenv.Unavailable(t, "sipp not installed (Debian sip-tester): %v", err)
	}
	if _, err := os.Stat("/usr/share/asterisk/sounds/en/vm-password.wav"); err != nil {
		testenv.Unavailable(t, "Asterisk's sounds not installed (Debian asterisk-core-sounds-en-wav): %v", err)
	}
	p := freePorts(t, 3)
	nd := NewNode(t, "", map[string]string{
		"sip.conf":        fmt.Sprintf(callsSIPConf, p[0]),
		"rtp.conf":        "[general]\nrtpstart = 21000\nrtpend = 21200\nstrictrtp = yes\n",
		"extensions.conf": voicemailDialplan,
		"voicemail.conf":  voicemailConf,
		"manager.conf":    fmt.Sprintf(managerUser, p[1]),
		"http.conf":       fmt.Sprintf("[general]\nenabled = yes\nbindaddr = 127.0.0.1\nbindport = %d\n", p[2]),
		"logger.conf":     sampleLogger,
	})
	nd.Start()
	return &callsNode{Node: nd, sip: fmt.Sprintf("127.0.0.1:%d", p[0]), ami: p[1], http: fmt.Sprintf("http://127.0.0.1:%d", p[2])}
}

// TestVoicemailLeaveAndDelete is issue 16's first acceptance on one server: sipp calls
// VoiceMail(1234@default) and sends g711a.pcap (7.05 s) then '#': the spool holds
// msg0000.wav of about that length and msg0000.txt; AMI MailboxCount says 1 new; sipp calls
// VoiceMailMain, keys the password 4242# over RFC 4733, plays the message and deletes it:
// the spool is empty and MailboxCount says 0.
func TestVoicemailLeaveAndDelete(t *testing.T) {
	n := startVoicemailNode(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server output:\n%s", tailOf(n.out.String(), 6000))
		}
	})
	if out := n.MustRX("voicemail show users"); !strings.Contains(out, "default    1234  John Doe") {
		t.Fatalf("voicemail show users:\n%s", out)
	}
	mustSipp(t, n.sip, "call-vm-leave.xml", "users.csv", "-m", "1", "-s", "1234", "-au", "alice", "-ap", "wonderland", "-mp", mediaPort(t))

	inbox := filepath.Join(n.Dir, "spool", "voicemail", "default", "1234", "INBOX")
	wav, err := os.ReadFile(filepath.Join(inbox, "msg0000.wav"))
	if err != nil {
		t.Fatal(err)
	}
	pcm, err := sound.ParseWAV(wav)
	if err != nil {
		t.Fatal(err)
	}
	// 236 packets of 30 ms = 7.08 s sent; allow for the first packets lost to the beep and
	// for scheduling on a loaded machine.
	if d := time.Duration(len(pcm)/2) * time.Second / 8000; d < 7*time.Second || d > 7100*time.Millisecond {
		t.Errorf("recorded %v, want about 7.08 s", d)
	}
	txt, err := os.ReadFile(filepath.Join(inbox, "msg0000.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"[message]", "origmailbox=1234", "context=calls", "exten=1234", "callerchan=SIP/alice-", "callerid=\"Alice\" <alice>", "duration=7"} {
		if !strings.Contains(string(txt), want) && !(want == "duration=7" && strings.Contains(string(txt), "duration=6")) {
			t.Errorf("msg0000.txt lacks %q:\n%s", want, txt)
		}
	}
	if out := n.MustRX("database get vmstatus last"); !strings.Contains(out, "SUCCESS") {
		t.Errorf("VMSTATUS: %s", out)
	}
	a := amiLogin(t, n.ami, "admin", "amp111")
	eventually(t, 5*time.Second, func() string {
		r := a.action("Action", "MailboxCount", "Mailbox", "1234@default")
		if field(r, "NewMessages") != "1" || field(r, "OldMessages") != "0" {
			return "MailboxCount: " + strings.Join(r, " | ")
		}
		return ""
	})
	a.send("Action", "VoicemailUsersList", "ActionID", "vu")
	entry := a.until("Event: VoicemailUserEntry")
	if field(entry, "VoiceMailbox") != "1234" || field(entry, "VMContext") != "default" || field(entry, "NewMessageCount") != "1" {
		t.Errorf("VoicemailUserEntry:\n%s", strings.Join(entry, "\n"))
	}
	if done := a.until("Event: VoicemailUserEntryComplete"); field(done, "ListItems") != "2" {
		t.Errorf("VoicemailUserEntryComplete:\n%s", strings.Join(done, "\n"))
	}
	if out := n.MustRX("voicemail show users for default"); !strings.Contains(out, "John Doe") || !strings.Contains(out, "         1\n") {
		t.Errorf("voicemail show users for default:\n%s", out)
	}

	mustSipp(t, n.sip, "call-vm-main.xml", "users.csv", "-m", "1", "-s", "8500", "-au", "alice", "-ap", "wonderland", "-mp", mediaPort(t))
	eventually(t, 5*time.Second, func() string {
		r := a.action("Action", "MailboxCount", "Mailbox", "1234@default")
		if field(r, "NewMessages") != "0" || field(r, "OldMessages") != "0" {
			return "MailboxCount after the delete: " + strings.Join(r, " | ")
		}
		return ""
	})
	left, _ := filepath.Glob(filepath.Join(n.Dir, "spool", "voicemail", "default", "1234", "*", "msg*"))
	if len(left) != 0 {
		t.Errorf("messages left in the spool: %v", left)
	}
	n.idle(t)
}

// TestVoicemailBadInput: a message under minsecs is discarded (VMSTATUS FAILED, nothing
// stored, nothing counted); a full mailbox (maxmsg=1) refuses a message with vm-mailboxfull;
// three wrong passwords end VoiceMailMain with vm-goodbye, a hangup and a log line.
func TestVoicemailBadInput(t *testing.T) {
	n := startVoicemailNode(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server output:\n%s", tailOf(n.out.String(), 6000))
		}
	})
	spool := filepath.Join(n.Dir, "spool", "voicemail", "default")
	// 1235 already holds its one message (left before the server started).
	full := filepath.Join(spool, "1235", "INBOX")
	if err := os.MkdirAll(full, 0o750); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(full, "msg0000.txt"), []byte("[message]\norigmailbox=1235\nduration=3\n"), 0o640)
	os.WriteFile(filepath.Join(full, "msg0000.wav"), append(wavHeader(16000), make([]byte, 16000)...), 0o640)

	mustSipp(t, n.sip, "call-vm-pound.xml", "users.csv", "-m", "1", "-s", "1234", "-au", "alice", "-ap", "wonderland", "-mp", mediaPort(t))
	if out := n.MustRX("database get vmstatus last"); !strings.Contains(out, "FAILED") {
		t.Errorf("VMSTATUS of a message under minsecs: %s", out)
	}
	if left, _ := filepath.Glob(filepath.Join(spool, "1234", "*", "msg*")); len(left) != 0 {
		t.Errorf("a message under minsecs was kept: %v", left)
	}

	mustSipp(t, n.sip, "call-vm-pound.xml", "users.csv", "-m", "1", "-s", "1235", "-au", "alice", "-ap", "wonderland", "-mp", mediaPort(t))
	if out := n.MustRX("database get vmstatus 1235"); !strings.Contains(out, "FAILED") {
		t.Errorf("VMSTATUS of a full mailbox: %s", out)
	}
	if left, _ := filepath.Glob(filepath.Join(full, "msg*.txt")); len(left) != 1 {
		t.Errorf("a full mailbox holds %v", left)
	}
	if !strings.Contains(n.out.String(), "No more messages possible (mailbox 1235@default has 1, maxmsg 1)") {
		t.Error("no log line for the full mailbox")
	}

	mustSipp(t, n.sip, "call-vm-wrongpw.xml", "users.csv", "-m", "1", "-s", "8500", "-au", "alice", "-ap", "wonderland", "-mp", mediaPort(t))
	if !strings.Contains(n.out.String(), "VoiceMailMain: 3 failed logins on SIP/alice-") {
		t.Error("no log line for three wrong passwords")
	}
	n.idle(t)
}

// wavHeader is a 16-bit 8 kHz mono WAV header for n bytes of samples.
func wavHeader(n int) []byte {
	h := []byte("RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x40\x1f\x00\x00\x80\x3e\x00\x00\x02\x00\x10\x00data\x00\x00\x00\x00")
	put := func(at, v int) { h[at], h[at+1], h[at+2], h[at+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24) }
	put(4, 36+n)
	put(40, n)
	return h
}

// TestVoicemailAcrossTheCluster is issue 16's cluster acceptance with the spool shared by the
// two servers (Asterisk's NFS layout: server 2's astspooldir is server 1's): a message left
// on server 1 reaches server 2's AMI MailboxCount and lights the lamp of a phone registered
// on server 2 with mailbox=1234@default (Messages-Waiting: yes); VoiceMailMain on server 2
// plays and deletes it: both servers count 0 and the phone gets Messages-Waiting: no.
func TestVoicemailAcrossTheCluster(t *testing.T) {
	if _, err := os.Stat("/usr/bin/sipp"); err != nil {
		testenv.Unavailable(t, "sipp not installed (Debian sip-tester): %v", err)
	}
	if _, err := os.Stat("/usr/share/asterisk/sounds/en/vm-password.wav"); err != nil {
		testenv.Unavailable(t, "Asterisk's sounds not installed (Debian asterisk-core-sounds-en-wav): %v", err)
	}
	routes := freePorts(t, 2)
	sipPorts := freePorts(t, 2)
	amiPorts := freePorts(t, 2)
	var n []*Node
	for i := range 2 {
		sipConf := fmt.Sprintf(callsSIPConf, sipPorts[i]) + "\n[dave]\ntype = friend\nhost = dynamic\nsecret = dv\ncontext = calls\nmailbox = 1234@default\n"
		nd := NewNode(t, fmt.Sprintf("entityid = 02:00:00:00:16:%02x\nsystemname = node%d", i+1, i+1), map[string]string{
			"sip.conf":        sipConf,
			"rtp.conf":        fmt.Sprintf("[general]\nrtpstart = %d\nrtpend = %d\nstrictrtp = yes\n", 21300+100*i, 21390+100*i),
			"extensions.conf": voicemailDialplan,
			"voicemail.conf":  voicemailConf,
			"cluster.conf":    clusterConf(i, routes, ""),
			"manager.conf":    fmt.Sprintf(managerUser, amiPorts[i]),
			"logger.conf":     sampleLogger,
		})
		n = append(n, nd)
	}
	// One spool for both: server 2's astspooldir is server 1's.
	startSharingSpool(t, n)
	ph := sipphone.New(t, fmt.Sprintf("127.0.0.1:%d", sipPorts[1]))
	if res := ph.Register("dave", "dv", 120); res.StatusCode != 200 {
		t.Fatalf("register: %d %s", res.StatusCode, res.Reason)
	}
	waiting := func(want string) time.Time {
		t.Helper()
		for {
			r, ok := ph.Next(10 * time.Second)
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

	// Server 1's MessageWaiting event (sent when it counted the new message) against the
	// NOTIFY server 2 sends the phone, both as this test receives them: one rough sample of the
	// cluster's delay, logged (negative when the NOTIFY came first).
	ev := amiLoginEvents(t, amiPorts[0], "on")
	counted := make(chan time.Time, 1)
	go func() {
		for {
			ev.c.SetReadDeadline(time.Now().Add(60 * time.Second))
			l, err := ev.r.ReadString('\n')
			if err != nil {
				return
			}
			if strings.HasPrefix(l, "Event: MessageWaiting") {
				counted <- time.Now()
				return
			}
		}
	}()
	mustSipp(t, fmt.Sprintf("127.0.0.1:%d", sipPorts[0]), "call-vm-leave.xml", "users.csv", "-m", "1", "-s", "1234", "-au", "alice", "-ap", "wonderland", "-mp", mediaPort(t))
	lit := waiting("yes")
	select {
	case at := <-counted:
		t.Logf("message counted on server 1 (AMI MessageWaiting) → NOTIFY from server 2: %v", lit.Sub(at))
	case <-time.After(5 * time.Second):
		t.Error("no MessageWaiting event on server 1")
	}
	count(a2, "1/0")
	count(a1, "1/0")

	mustSipp(t, fmt.Sprintf("127.0.0.1:%d", sipPorts[1]), "call-vm-main.xml", "users.csv", "-m", "1", "-s", "8500", "-au", "alice", "-ap", "wonderland", "-mp", mediaPort(t))
	waiting("no")
	count(a1, "0/0")
	count(a2, "0/0")
}

// TestVoicemailPostgreSQLCluster is issue 16's acceptance on PostgreSQL, without a shared
// spool: the mailbox is a row of Asterisk's voicemail table (realtime), the messages rows of
// voicemail_messages (odbcstorage = pgsql/general). A message left on server 1 is a row with
// the recording, server 2 counts it and lights its phone; VoiceMailMain on server 2 plays and
// deletes it (both count 0, the lamp goes off); a password changed in VoiceMailMain on
// server 1 is in the row.
func TestVoicemailPostgreSQLCluster(t *testing.T) {
	if _, err := os.Stat("/usr/bin/sipp"); err != nil {
		testenv.Unavailable(t, "sipp not installed (Debian sip-tester): %v", err)
	}
	if _, err := os.Stat("/usr/share/asterisk/sounds/en/vm-password.wav"); err != nil {
		testenv.Unavailable(t, "Asterisk's sounds not installed (Debian asterisk-core-sounds-en-wav): %v", err)
	}
	schema := pgScratch(t)
	dsn := os.Getenv("PLEIADES_TEST_PGSQL_DSN")
	if dsn == "" {
		dsn = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx := context.Background()
	pg, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close(ctx)
	if _, err := pg.Exec(ctx, "SET search_path TO "+schema); err != nil {
		t.Fatal(err)
	}
	if _, err := pg.Exec(ctx, `CREATE TABLE voicemail_messages (dir VARCHAR(255) NOT NULL, msgnum INTEGER NOT NULL,
		context VARCHAR(80), macrocontext VARCHAR(80), callerid VARCHAR(80), origtime INTEGER, duration INTEGER,
		recording BYTEA, flag VARCHAR(30), category VARCHAR(30), mailboxuser VARCHAR(30), mailboxcontext VARCHAR(30),
		msg_id VARCHAR(40), PRIMARY KEY (dir, msgnum))`); err != nil {
		t.Fatal(err)
	}
	if _, err := pg.Exec(ctx, `INSERT INTO voicemail (context, mailbox, password, fullname, email) VALUES ('default', '1234', '4242', 'John Doe', 'john@example.com')`); err != nil {
		t.Fatal(err)
	}
	routes := freePorts(t, 2)
	sipPorts := freePorts(t, 2)
	amiPorts := freePorts(t, 2)
	var n []*Node
	for i := range 2 {
		sipConf := fmt.Sprintf(callsSIPConf, sipPorts[i]) + "\n[dave]\ntype = friend\nhost = dynamic\nsecret = dv\ncontext = calls\nmailbox = 1234@default\n"
		nd := NewNode(t, fmt.Sprintf("entityid = 02:00:00:00:16:%02x\nsystemname = node%d", i+0x11, i+1), map[string]string{
			"sip.conf":        sipConf,
			"rtp.conf":        fmt.Sprintf("[general]\nrtpstart = %d\nrtpend = %d\nstrictrtp = yes\n", 21500+100*i, 21590+100*i),
			"extensions.conf": voicemailDialplan,
			"voicemail.conf":  "[general]\nminsecs = 1\nmaxsilence = 10\nmailcmd = cat > /dev/null\nodbcstorage = pgsql/general\n",
			"extconfig.conf":  "[settings]\nvoicemail => pgsql,test,voicemail\n",
			"res_pgsql.conf":  "[general]\ndbhost = 127.0.0.1\ndbport = 5432\ndbname = test\ndbuser = postgres\nsearch_path = " + schema + "\n",
			"cluster.conf":    clusterConf(i, routes, ""),
			"manager.conf":    fmt.Sprintf(managerUser, amiPorts[i]),
			"logger.conf":     sampleLogger,
		})
		n = append(n, nd)
	}
	// The rows' dir is astspooldir/voicemail/..., as Asterisk writes it: the servers of an
	// ODBC-storage cluster have one astspooldir (the directory itself holds no message).
	startSharingSpool(t, n)
	if out := n[1].MustRX("voicemail show users"); !strings.Contains(out, "default    1234  John Doe") {
		t.Fatalf("voicemail show users (realtime):\n%s", out)
	}
	ph := sipphone.New(t, fmt.Sprintf("127.0.0.1:%d", sipPorts[1]))
	if res := ph.Register("dave", "dv", 120); res.StatusCode != 200 {
		t.Fatalf("register: %d %s", res.StatusCode, res.Reason)
	}
	waiting := func(want string) {
		t.Helper()
		for {
			r, ok := ph.Next(10 * time.Second)
			if !ok {
				t.Fatalf("no message-summary NOTIFY with Messages-Waiting: %s", want)
			}
			if ev := r.Req.GetHeader("Event"); ev != nil && ev.Value() == "message-summary" && strings.Contains(string(r.Req.Body()), "Messages-Waiting: "+want) {
				return
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
	var dir string
	var size, duration int
	if err := pg.QueryRow(ctx, "SELECT dir, length(recording), duration FROM voicemail_messages WHERE msgnum = 0").Scan(&dir, &size, &duration); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(dir, "/voicemail/default/1234/INBOX") || size != 44+2*56640 || duration != 7 {
		t.Errorf("row: dir %s, %d bytes, %d s", dir, size, duration)
	}
	if files, _ := filepath.Glob(filepath.Join(n[0].Dir, "spool", "voicemail", "*", "*", "*", "msg*")); len(files) != 0 {
		t.Errorf("messages in the spool with odbcstorage: %v", files)
	}
	waiting("yes")
	count(a2, "1/0")
	count(a1, "1/0")

	mustSipp(t, fmt.Sprintf("127.0.0.1:%d", sipPorts[1]), "call-vm-main.xml", "users.csv", "-m", "1", "-s", "8500", "-au", "alice", "-ap", "wonderland", "-mp", mediaPort(t))
	waiting("no")
	count(a1, "0/0")
	count(a2, "0/0")
	var rows int
	pg.QueryRow(ctx, "SELECT count(*) FROM voicemail_messages").Scan(&rows)
	if rows != 0 {
		t.Errorf("%d rows left in voicemail_messages", rows)
	}

	mustSipp(t, fmt.Sprintf("127.0.0.1:%d", sipPorts[0]), "call-vm-passwd.xml", "users.csv", "-m", "1", "-s", "8500", "-au", "alice", "-ap", "wonderland", "-mp", mediaPort(t))
	var pw string
	if err := pg.QueryRow(ctx, "SELECT password FROM voicemail WHERE mailbox = '1234'").Scan(&pw); err != nil || pw != "1357" {
		t.Errorf("password in the row: %q %v", pw, err)
	}
}

// startSharingSpool gives server 2 server 1's astspooldir, starts both, waits until they are
// one cluster, and prints their output if the test fails.
func startSharingSpool(t *testing.T, n []*Node) {
	t.Helper()
	ast, err := os.ReadFile(n[1].Conf)
	if err != nil {
		t.Fatal(err)
	}
	n[1].WriteFile("asterisk.conf", strings.Replace(string(ast), n[1].Dir+"/spool", n[0].Dir+"/spool", 1))
	for _, nd := range n {
		nd.Start()
	}
	for _, nd := range n {
		waitMembers(t, nd, 2)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for i, nd := range n {
				t.Logf("server %d output:\n%s", i+1, tailOf(nd.out.String(), 4000))
			}
		}
	})
}
