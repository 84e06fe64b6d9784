package integration

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pleiades-pbx/pleiades/internal/media/sound"
	"github.com/pleiades-pbx/pleiades/test/testenv"
)

// vmReviewConf: 1236 asks its callers to review their message (review=yes); 1234 can call
// back the callers of its messages in context cb (callback=cb).
const vmReviewConf = `[general]
format = wav
maxsecs = 60
minsecs = 1
maxsilence = 10
mailcmd = cat > /dev/null

[default]
1234 => 4242,John Doe,,,callback=cb
1235 => 5555,Jane Roe
1236 => 6666,Rita Review,,,review=yes
1237 => 7777,Otto Operator,,,operator=yes
`

const vmReviewDialplan = `[calls]
exten => 1234,1,VoiceMail(1234@default,s)
 same => n,Hangup()
exten => 1236,1,VoiceMail(1236@default,s)
 same => n,Set(DB(vmstatus/1236)=${VMSTATUS})
 same => n,Hangup()
exten => 1237,1,VoiceMail(1237@default,s)
 same => n,Set(DB(vmoperator/after)=reached)
 same => n,Hangup()
exten => o,1,Set(DB(vmoperator/status)=${VMSTATUS})
 same => n,Hangup()
exten => 8500,1,VoiceMailMain(1234@default)
 same => n,Hangup()

[cb]
exten => alice,1,Set(DB(vmcallback/to)=${CONTEXT}/${EXTEN})
 same => n,Hangup()
`

// startVMReviewNode starts a server with vmReviewConf and vmReviewDialplan; extra files
// replace or add configuration files.
func startVMReviewNode(t *testing.T, extra ...map[string]string) *callsNode {
	t.Helper()
	if _, err := os.Stat("/usr/bin/sipp"); err != nil {
		testenv.Unavailable(t, "sipp not installed (Debian sip-tester): %v", err)
	}
	if _, err := os.Stat("/usr/share/asterisk/sounds/en/vm-review.wav"); err != nil {
		testenv.Unavailable(t, "Asterisk's sounds not installed (Debian asterisk-core-sounds-en-wav): %v", err)
	}
	p := freePorts(t, 3)
	files := map[string]string{
		"sip.conf":        fmt.Sprintf(callsSIPConf, p[0]),
		"rtp.conf":        "[general]\nrtpstart = 21700\nrtpend = 21800\nstrictrtp = yes\n",
		"extensions.conf": vmReviewDialplan,
		"voicemail.conf":  vmReviewConf,
		"manager.conf":    fmt.Sprintf(managerUser, p[1]),
		"http.conf":       fmt.Sprintf("[general]\nenabled = yes\nbindaddr = 127.0.0.1\nbindport = %d\n", p[2]),
		"logger.conf":     sampleLogger,
	}
	for _, e := range extra {
		maps.Copy(files, e)
	}
	nd := NewNode(t, "", files)
	nd.Start()
	n := &callsNode{Node: nd, sip: fmt.Sprintf("127.0.0.1:%d", p[0]), ami: p[1], http: fmt.Sprintf("http://127.0.0.1:%d", p[2])}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server output:\n%s", tailOf(n.out.String(), 6000))
		}
	})
	return n
}

// wavLength reads a spool message's audio length.
func wavLength(t *testing.T, path string) time.Duration {
	t.Helper()
	wav, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pcm, err := sound.ParseWAV(wav)
	if err != nil {
		t.Fatal(err)
	}
	return time.Duration(len(pcm)/2) * time.Second / 8000
}

// TestVoicemailReviewThroughTheBinary: review=yes through the real binary. sipp leaves 7 s
// (g711a.pcap) and '#'; in the review menu '3' records again, this time '#' 3 s into the
// pcap; '1' keeps it. The mailbox holds one message, of the second recording's length, and
// VMSTATUS is SUCCESS.
func TestVoicemailReviewThroughTheBinary(t *testing.T) {
	n := startVMReviewNode(t)
	mustSipp(t, n.sip, "call-vm-review.xml", "users.csv", "-m", "1", "-s", "1236", "-au", "alice", "-ap", "wonderland", "-mp", mediaPort(t))
	inbox := filepath.Join(n.Dir, "spool", "voicemail", "default", "1236", "INBOX")
	msgs, _ := filepath.Glob(filepath.Join(inbox, "msg*.txt"))
	if len(msgs) != 1 {
		t.Fatalf("INBOX holds %v, want one message", msgs)
	}
	// The first recording was 7 s; the one kept is the second, ended 3 s into the pcap
	// (plus the moment between the beep and the pcap).
	if d := wavLength(t, filepath.Join(inbox, "msg0000.wav")); d < 2500*time.Millisecond || d > 4500*time.Millisecond {
		t.Errorf("kept %v of audio, want the second recording (about 3 s)", d)
	}
	if out := n.MustRX("database get vmstatus 1236"); !strings.Contains(out, "SUCCESS") {
		t.Errorf("VMSTATUS: %s", out)
	}
	n.idle(t)
}

// TestVoicemailForwardThroughTheBinary: a message left for 1234 (call-vm-leave.xml) is
// forwarded from VoiceMailMain with 8, 1235#, 2: 1235's INBOX holds the same audio and
// caller ID, AMI MailboxCount says 1 new for 1235, and 1234 still has its message.
func TestVoicemailForwardThroughTheBinary(t *testing.T) {
	n := startVMReviewNode(t)
	mustSipp(t, n.sip, "call-vm-leave.xml", "users.csv", "-m", "1", "-s", "1234", "-au", "alice", "-ap", "wonderland", "-mp", mediaPort(t))
	mustSipp(t, n.sip, "call-vm-forward.xml", "users.csv", "-m", "1", "-s", "8500", "-au", "alice", "-ap", "wonderland", "-mp", mediaPort(t))
	spool := filepath.Join(n.Dir, "spool", "voicemail", "default")
	orig, err := os.ReadFile(filepath.Join(spool, "1234", "INBOX", "msg0000.wav"))
	if err != nil {
		t.Fatalf("1234's message: %v", err)
	}
	copied, err := os.ReadFile(filepath.Join(spool, "1235", "INBOX", "msg0000.wav"))
	if err != nil {
		t.Fatalf("the forwarded message: %v", err)
	}
	if !bytes.Equal(orig, copied) {
		t.Errorf("forwarded audio differs: %d bytes, original %d", len(copied), len(orig))
	}
	txt, _ := os.ReadFile(filepath.Join(spool, "1235", "INBOX", "msg0000.txt"))
	if !strings.Contains(string(txt), `callerid="Alice" <alice>`) {
		t.Errorf("forwarded metadata:\n%s", txt)
	}
	if !strings.Contains(n.out.String(), "Copying message from 1234@default to 1235@default") {
		t.Error("no log line for the copy")
	}
	a := amiLogin(t, n.ami, "admin", "amp111")
	eventually(t, 5*time.Second, func() string {
		r := a.action("Action", "MailboxCount", "Mailbox", "1235@default")
		if field(r, "NewMessages") != "1" {
			return "MailboxCount 1235: " + strings.Join(r, " | ")
		}
		return ""
	})
	n.idle(t)
}

// TestVoicemailCallbackThroughTheBinary: in VoiceMailMain, 3 (advanced), 2 (call back), 1
// (the number said): the channel leaves VoiceMailMain for the message's caller ID number
// (alice) in the mailbox's callback context, whose extension runs.
func TestVoicemailCallbackThroughTheBinary(t *testing.T) {
	n := startVMReviewNode(t)
	mustSipp(t, n.sip, "call-vm-leave.xml", "users.csv", "-m", "1", "-s", "1234", "-au", "alice", "-ap", "wonderland", "-mp", mediaPort(t))
	mustSipp(t, n.sip, "call-vm-callback.xml", "users.csv", "-m", "1", "-s", "8500", "-au", "alice", "-ap", "wonderland", "-mp", mediaPort(t))
	if out := n.MustRX("database get vmcallback to"); !strings.Contains(out, "cb/alice") {
		t.Errorf("the call back went to: %s", out)
	}
	n.idle(t)
}

// TestVoicemailOperatorThroughTheBinary: operator=yes, '0' 3 s into the recording, then 1
// during vm-saveoper: the 3 s recorded are kept, and the call goes to extension o with
// VMSTATUS USEREXIT (the priority after VoiceMail never runs).
func TestVoicemailOperatorThroughTheBinary(t *testing.T) {
	n := startVMReviewNode(t)
	mustSipp(t, n.sip, "call-vm-operator.xml", "users.csv", "-m", "1", "-s", "1237", "-au", "alice", "-ap", "wonderland", "-mp", mediaPort(t))
	inbox := filepath.Join(n.Dir, "spool", "voicemail", "default", "1237", "INBOX")
	if d := wavLength(t, filepath.Join(inbox, "msg0000.wav")); d < 2500*time.Millisecond || d > 4000*time.Millisecond {
		t.Errorf("kept %v of audio, want what was recorded before the 0 (about 3 s)", d)
	}
	if out := n.MustRX("database get vmoperator status"); !strings.Contains(out, "USEREXIT") {
		t.Errorf("extension o: %s", out)
	}
	if out, _ := n.RX("database get vmoperator after"); strings.Contains(out, "reached") {
		t.Errorf("the dialplan went on after VoiceMail: %s", out)
	}
	n.idle(t)
}

// TestVoicemailForwardPostgreSQL: the same forward with Asterisk's ODBC storage on
// PostgreSQL (odbcstorage = pgsql/general): the copy is a second row of voicemail_messages, in
// 1235's INBOX directory, with the same recording and caller ID; 1235 counts 1 new.
func TestVoicemailForwardPostgreSQL(t *testing.T) {
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
	n := startVMReviewNode(t, map[string]string{
		"voicemail.conf": strings.Replace(vmReviewConf, "[general]\n", "[general]\nodbcstorage = pgsql/general\n", 1),
		"res_pgsql.conf": "[general]\ndbhost = 127.0.0.1\ndbport = 5432\ndbname = test\ndbuser = postgres\nsearch_path = " + schema + "\n",
	})
	mustSipp(t, n.sip, "call-vm-leave.xml", "users.csv", "-m", "1", "-s", "1234", "-au", "alice", "-ap", "wonderland", "-mp", mediaPort(t))
	mustSipp(t, n.sip, "call-vm-forward.xml", "users.csv", "-m", "1", "-s", "8500", "-au", "alice", "-ap", "wonderland", "-mp", mediaPort(t))
	rows, err := pg.Query(ctx, "SELECT dir, msgnum, mailboxuser, callerid, md5(recording), msg_id FROM voicemail_messages ORDER BY mailboxuser")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var dir, user, cid, sum, id string
		var num int
		if err := rows.Scan(&dir, &num, &user, &cid, &sum, &id); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s %d %s %s %s %s", dir[strings.Index(dir, "/voicemail/"):], num, user, cid, sum, id))
	}
	if len(got) != 2 || !strings.HasPrefix(got[0], "/voicemail/default/1234/INBOX 0 1234 ") || !strings.HasPrefix(got[1], "/voicemail/default/1235/INBOX 0 1235 ") ||
		got[0][strings.Index(got[0], `"Alice"`):] != got[1][strings.Index(got[1], `"Alice"`):] {
		t.Fatalf("voicemail_messages:\n%s", strings.Join(got, "\n"))
	}
	a := amiLogin(t, n.ami, "admin", "amp111")
	eventually(t, 5*time.Second, func() string {
		r := a.action("Action", "MailboxCount", "Mailbox", "1235@default")
		if field(r, "NewMessages") != "1" {
			return "MailboxCount 1235: " + strings.Join(r, " | ")
		}
		return ""
	})
	n.idle(t)
}
