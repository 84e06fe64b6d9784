package voicemail

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/media/sound"
)

func TestBuildMail(t *testing.T) {
	g := DefaultGeneral()
	g.ServerEmail = "pbx@example.com"
	g.EmailSubject = `[PBX]: New message ${VM_MSGNUM} in mailbox ${VM_MAILBOX}`
	g.EmailBody = `Dear ${VM_NAME}:\n\n\ta ${VM_DUR} long message from ${VM_CIDNAME} (${VM_CIDNUM})`
	m := &Mailbox{Context: "default", Mailbox: "1234", FullName: "John Doe", Email: "john@example.com", Options: map[string]string{}}
	meta := Meta{CallerID: `"Alice" <100>`, Duration: 75, OrigTime: 1700000000, MsgID: "x-1"}
	pcm := []byte{1, 0, 2, 0}
	mail := string(buildMail(g, m, meta, 2, "INBOX", pcm, time.Unix(1700000000, 0)))
	for _, want := range []string{
		"From: Asterisk PBX <pbx@example.com>\n", "To: John Doe <john@example.com>\n",
		"Subject: [PBX]: New message 3 in mailbox 1234\n", "X-Asterisk-VM-Duration: 75\n",
		"Dear John Doe:\n\n\ta 1:15 long message from Alice (100)", "Content-Type: audio/x-wav; name=\"msg0002.wav\"",
	} {
		if !strings.Contains(mail, want) {
			t.Errorf("lacks %q:\n%s", want, mail)
		}
	}
	// The attachment decodes to a WAV of the samples.
	i := strings.Index(mail, "Content-Disposition: attachment")
	body := mail[i:]
	body = body[strings.Index(body, "\n\n")+2:]
	body = body[:strings.Index(body, "\n\n")]
	wav, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(body, "\n", ""))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := sound.ParseWAV(wav); err != nil || string(got) != string(pcm) {
		t.Fatalf("attachment %v %v", got, err)
	}
	// Without attach: text only, Asterisk's default subject and body.
	g.EmailSubject, g.EmailBody = "", ""
	plain := string(buildMail(g, m, meta, 0, "INBOX", nil, time.Now()))
	if !strings.Contains(plain, "Subject: New message 1 in mailbox 1234\n") || !strings.Contains(plain, "just left a 1:15 long message (number 1)") ||
		strings.Contains(plain, "multipart") {
		t.Fatalf("plain:\n%s", plain)
	}
}

func TestNotifyRunsMailcmd(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "mail.txt")
	e := New(Options{SpoolDir: dir})
	c, _ := parse(t, "[general]\nattach=yes\nmailcmd=cat > "+out+"\n[default]\n1234 => 4242,John Doe,john@example.com\n")
	e.Configure(context.Background(), c)
	m, _ := e.Find(context.Background(), Box{"default", "1234"})
	e.notify(m, Meta{Duration: 1}, 0, "INBOX", []byte{0, 0})
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(out)
		if strings.Contains(string(b), "--\n") && strings.Contains(string(b), "To: John Doe <john@example.com>") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailcmd wrote:\n%s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A mailbox with a pager address gets Asterisk's short page too (sendpage): its own From,
// Subject and body, no attachment; pagersubject and pagerbody take the email's variables.
func TestNotifySendsPage(t *testing.T) {
	dir := t.TempDir()
	e := New(Options{SpoolDir: dir})
	c, err := parse(t, "[general]\nattach=yes\nmailcmd=cat > $(mktemp -p "+dir+" mail.XXXX)\npagerfromstring=PBX pager\n"+
		"[default]\n1234 => 4242,John Doe,john@example.com,555@pager.example.com\n"+
		"1235 => 4242,Jane,,556@pager.example.com,pagersubject=VM ${VM_MSGNUM} for ${VM_MAILBOX}|pagerbody=from ${VM_CIDNUM}\n")
	if err != nil {
		t.Fatal(err)
	}
	e.Configure(context.Background(), c)
	for _, box := range []string{"1234", "1235"} {
		m, _ := e.Find(context.Background(), Box{"default", box})
		e.notify(m, Meta{Duration: 65, CallerID: `"Alice" <100>`, OrigTime: 1700000000}, 0, "INBOX", []byte{0, 0})
	}
	var page, page2, mail string
	deadline := time.Now().Add(5 * time.Second)
	for page == "" || page2 == "" || mail == "" {
		if time.Now().After(deadline) {
			t.Fatalf("page %q, page 2 %q, mail %q", page, page2, mail)
		}
		time.Sleep(20 * time.Millisecond)
		files, _ := filepath.Glob(filepath.Join(dir, "mail.*"))
		for _, f := range files {
			b, _ := os.ReadFile(f)
			switch s := string(b); {
			case strings.Contains(s, "To: 555@pager.example.com") && strings.HasSuffix(s, "\n"):
				page = s
			case strings.Contains(s, "To: 556@pager.example.com") && strings.HasSuffix(s, "\n"):
				page2 = s
			case strings.Contains(s, "To: John Doe <john@example.com>") && strings.Contains(s, "--\n"):
				mail = s
			}
		}
	}
	for _, want := range []string{"From: PBX pager <", "Subject: New VM\n", "New 1:05 long msg in box 1234\nfrom Alice, on "} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, "base64") {
		t.Errorf("the page carries the recording:\n%s", page)
	}
	if !strings.Contains(page2, "Subject: VM 1 for 1235\n") || !strings.Contains(page2, "\n\nfrom 100\n") {
		t.Errorf("page with pagersubject and pagerbody:\n%s", page2)
	}
}
