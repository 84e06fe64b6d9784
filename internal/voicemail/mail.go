package voicemail

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"mime"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/media"
)

// mailVars are the variables emailsubject and emailbody may use (Asterisk's VM_*).
func mailVars(m *Mailbox, meta Meta, num int, folder string) map[string]string {
	cidName, cidNum := splitCallerID(meta.CallerID)
	return map[string]string{
		"VM_NAME":        m.FullName,
		"VM_DUR":         fmt.Sprintf("%d:%02d", meta.Duration/60, meta.Duration%60),
		"VM_MSGNUM":      fmt.Sprint(num + 1),
		"VM_MAILBOX":     m.Mailbox,
		"VM_CALLERID":    orUnknown(meta.CallerID),
		"VM_CIDNAME":     orUnknown(cidName),
		"VM_CIDNUM":      orUnknown(cidNum),
		"VM_DATE":        time.Unix(meta.OrigTime, 0).Format("Monday, January 02, 2006 at 03:04:05 PM"),
		"VM_MESSAGEFILE": fmt.Sprintf("%s/msg%04d", folder, num),
		"VM_CATEGORY":    meta.Category,
		"VM_FLAG":        meta.Flag,
	}
}

// splitCallerID splits `"Name" <num>` (or a bare number).
func splitCallerID(cid string) (name, num string) {
	if i := strings.LastIndexByte(cid, '<'); i >= 0 && strings.HasSuffix(cid, ">") {
		return strings.Trim(strings.TrimSpace(cid[:i]), `"`), cid[i+1 : len(cid)-1]
	}
	return "", cid
}

// expandMailText replaces ${VAR} and turns the \n and \t of voicemail.conf into newlines and
// tabs, as Asterisk does for emailsubject and emailbody.
func expandMailText(s string, vars map[string]string) string {
	s = strings.NewReplacer(`\n`, "\n", `\t`, "\t").Replace(s)
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteString(vars[s[i+2:i+j]])
		s = s[i+j+1:]
	}
}

// serverEmail is the From address: serveremail, with @hostname added when it has no domain.
func serverEmail(addr string) string {
	if strings.Contains(addr, "@") {
		return addr
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return addr + "@" + host
}

// buildMail is the notification Asterisk's make_email writes: headers, the text body and,
// with attach, the recording as audio/x-wav in base64.
func buildMail(g General, m *Mailbox, meta Meta, num int, folder string, pcm []byte, now time.Time) []byte {
	vars := mailVars(m, meta, num, folder)
	subject := fmt.Sprintf("New message %d in mailbox %s", num+1, m.Mailbox)
	if s := m.opt("emailsubject", g.EmailSubject); s != "" {
		subject = expandMailText(s, vars)
	}
	body := fmt.Sprintf("Dear %s:\n\n\tjust wanted to let you know you were just left a %s long message (number %d)\n"+
		"in mailbox %s from %s, on %s so you might\nwant to check it when you get a chance.  Thanks!\n\n\t\t\t\t--Asterisk\n",
		m.FullName, vars["VM_DUR"], num+1, m.Mailbox, vars["VM_CALLERID"], vars["VM_DATE"])
	if s := m.opt("emailbody", g.EmailBody); s != "" {
		body = expandMailText(s, vars)
	}
	var b bytes.Buffer
	mailFrom(&b, g, m, "fromstring", g.FromString, now)
	fmt.Fprintf(&b, "To: %s <%s>\n", mime.QEncoding.Encode("utf-8", m.FullName), m.Email)
	fmt.Fprintf(&b, "Subject: %s\n", mime.QEncoding.Encode("utf-8", subject))
	fmt.Fprintf(&b, "Message-ID: <Asterisk-%d-%s-%s@pleiades>\n", num, m.Mailbox, meta.MsgID)
	fmt.Fprintf(&b, "X-Asterisk-VM-Message-Num: %d\nX-Asterisk-VM-Context: %s\nX-Asterisk-VM-Extension: %s\n", num+1, m.Context, m.Mailbox)
	fmt.Fprintf(&b, "X-Asterisk-VM-Caller-ID-Num: %s\nX-Asterisk-VM-Caller-ID-Name: %s\nX-Asterisk-VM-Duration: %d\n", vars["VM_CIDNUM"], vars["VM_CIDNAME"], meta.Duration)
	fmt.Fprintf(&b, "X-Asterisk-VM-Orig-date: %s\nX-Asterisk-VM-Orig-time: %d\nX-Asterisk-VM-Message-ID: %s\n", meta.OrigDate, meta.OrigTime, meta.MsgID)
	b.WriteString("MIME-Version: 1.0\n")
	if pcm == nil {
		b.WriteString("Content-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n\n")
		b.WriteString(body)
		return b.Bytes()
	}
	bound := fmt.Sprintf("----voicemail_%d%s%d", num, m.Mailbox, now.UnixNano())
	fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"%s\"\n\nThis is a multi-part message in MIME format.\n\n", bound)
	fmt.Fprintf(&b, "--%s\nContent-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n\n%s\n", bound, body)
	name := fmt.Sprintf("msg%04d.wav", num)
	fmt.Fprintf(&b, "--%s\nContent-Type: audio/x-wav; name=\"%s\"\nContent-Transfer-Encoding: base64\nContent-Description: Voicemail sound attachment.\nContent-Disposition: attachment; filename=\"%s\"\n\n", bound, name, name)
	enc := base64.StdEncoding.EncodeToString(append(media.WAV(len(pcm)), pcm...))
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\n\n--" + bound + "--\n")
	return b.Bytes()
}

// mailFrom writes the Date and From lines: the name from the mailbox's option opt or def
// ("Asterisk PBX" when neither), the address serveremail's.
func mailFrom(b *bytes.Buffer, g General, m *Mailbox, opt, def string, now time.Time) {
	from := m.opt(opt, def)
	if from == "" {
		from = "Asterisk PBX"
	}
	fmt.Fprintf(b, "Date: %s\n", now.Format(time.RFC1123Z))
	fmt.Fprintf(b, "From: %s <%s>\n", mime.QEncoding.Encode("utf-8", from), serverEmail(m.opt("serveremail", g.ServerEmail)))
}

// buildPage is the short mail Asterisk's sendpage writes to a mailbox's pager address:
// pagerfromstring, pagersubject and pagerbody (the same variables as the email) or
// Asterisk's default text, no attachment.
func buildPage(g General, m *Mailbox, meta Meta, num int, folder string, now time.Time) []byte {
	vars := mailVars(m, meta, num, folder)
	flag := ""
	if meta.Flag != "" {
		flag = meta.Flag + " "
	}
	subject := "New " + flag + "VM"
	if s := m.opt("pagersubject", g.PagerSubject); s != "" {
		subject = expandMailText(s, vars)
	}
	who := vars["VM_CIDNAME"]
	if who == "unknown" {
		who = vars["VM_CIDNUM"]
	}
	body := fmt.Sprintf("New %s long %smsg in box %s\nfrom %s, on %s", vars["VM_DUR"], flag, m.Mailbox, who, vars["VM_DATE"])
	if s := m.opt("pagerbody", g.PagerBody); s != "" {
		body = expandMailText(s, vars)
	}
	var b bytes.Buffer
	mailFrom(&b, g, m, "pagerfromstring", g.PagerFromString, now)
	fmt.Fprintf(&b, "To: %s\n", m.Pager)
	fmt.Fprintf(&b, "Subject: %s\n", mime.QEncoding.Encode("utf-8", subject))
	b.WriteString("MIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n\n")
	b.WriteString(body + "\n")
	return b.Bytes()
}

// notify mails a new message to the mailbox's email address (with the recording when attach
// is on) and a short page to its pager address, through mailcmd, run by /bin/sh with the
// message on its standard input, in the background (as Asterisk runs it); a failure is logged.
func (e *Engine) notify(m *Mailbox, meta Meta, num int, folder string, pcm []byte) {
	g := e.cfg.Load().General
	if m.Pager != "" {
		e.mail(g.MailCmd, m, m.Pager, buildPage(g, m, meta, num, folder, time.Now()))
	}
	if m.Email == "" {
		return
	}
	if !m.boolOpt("attach", g.Attach) {
		pcm = nil
	}
	e.mail(g.MailCmd, m, m.Email, buildMail(g, m, meta, num, folder, pcm, time.Now()))
}

// mail runs cmd with msg on its standard input, in the background.
func (e *Engine) mail(cmd string, m *Mailbox, to string, msg []byte) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c := exec.CommandContext(ctx, "/bin/sh", "-c", cmd)
		c.Stdin = bytes.NewReader(msg)
		if out, err := c.CombinedOutput(); err != nil {
			e.log.Warn(fmt.Sprintf("Voicemail notification for %s to %s through '%s' failed: %v %s", m.ID(), to, cmd, err, strings.TrimSpace(string(out))))
		}
	}()
}
