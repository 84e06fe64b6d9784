package voicemail

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/conf"
)

func parse(t *testing.T, text string) (*Config, error) {
	t.Helper()
	raw, err := conf.Parse("voicemail.conf", []byte(text), conf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return ParseConfig(raw)
}

func TestParseConfig(t *testing.T) {
	c, err := parse(t, `[general]
format=wav49|gsm|wav
serveremail=pbx@example.com
attach=yes
maxmsg=50
maxsecs=120
minsecs=2
maxsilence=5
silencethreshold=200
review=yes
operator=yes
saycid=yes
skipms=2000
emailsubject=[PBX]: New message ${VM_MSGNUM} in mailbox ${VM_MAILBOX}
emailbody=Dear ${VM_NAME}:\n\n\tjust wanted to let you know you were just left a ${VM_DUR} long message
mailcmd=/usr/local/bin/mail -t
pollmailboxes=yes
pollfreq=10

[zonemessages]
eastern=America/New_York|'vm-received' Q 'digits/at' IMp
european=Europe/Copenhagen|'vm-received' a d b 'digits/at' HM

[default]
1234 => 4242,John Doe,john@example.com,pager@example.com,attach=no|tz=eastern|maxmsg=10
1235 => 1111,Jane

[other]
1234 => 5678,Company2 User,root@localhost
`)
	if err != nil {
		t.Fatal(err)
	}
	g := c.General
	if g.MaxMsg != 50 || g.MaxMessage != 120*time.Second || g.MinMessage != 2*time.Second || g.MaxSilence != 5*time.Second ||
		g.SilenceThreshold != 200 || !g.Attach || !g.Review || !g.Operator || !g.SayCID || g.SkipMS != 2000 ||
		g.MailCmd != "/usr/local/bin/mail -t" || !g.PollMailboxes || g.PollFreq != 10*time.Second ||
		strings.Join(g.Formats, ",") != "wav49,gsm,wav" || g.ServerEmail != "pbx@example.com" ||
		!strings.Contains(g.EmailSubject, "${VM_MAILBOX}") {
		t.Fatalf("general: %+v", g)
	}
	if len(c.Zones) != 2 || c.Zones[0] != (Zone{"eastern", "America/New_York", "'vm-received' Q 'digits/at' IMp"}) {
		t.Fatalf("zones: %+v", c.Zones)
	}
	m := c.Mailboxes["1234@default"]
	if m == nil || m.Password != "4242" || m.FullName != "John Doe" || m.Email != "john@example.com" || m.Pager != "pager@example.com" ||
		m.Options["attach"] != "no" || m.Options["tz"] != "eastern" || m.Options["maxmsg"] != "10" || m.Line != 25 {
		t.Fatalf("1234@default: %+v", m)
	}
	if m := c.Mailboxes["1235@default"]; m == nil || m.Password != "1111" || m.FullName != "Jane" || m.Email != "" {
		t.Fatalf("1235: %+v", m)
	}
	if m := c.Mailboxes["1234@other"]; m == nil || m.Password != "5678" {
		t.Fatalf("1234@other: %+v", m)
	}
	if strings.Join(c.Contexts, ",") != "default,other" {
		t.Fatalf("contexts %v", c.Contexts)
	}
	list := c.SortedMailboxes()
	if len(list) != 3 || list[0].ID() != "1234@default" || list[2].ID() != "1234@other" {
		t.Fatalf("sorted %v", list)
	}
}

func TestParseConfigDefaults(t *testing.T) {
	c, err := ParseConfig(nil)
	if err != nil || c.General.MaxMsg != 100 || c.General.MaxLogins != 3 || c.General.SilenceThreshold != 128 ||
		c.General.MailCmd != "/usr/sbin/sendmail -t" || len(c.Mailboxes) != 0 {
		t.Fatalf("%+v %v", c, err)
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"[general]\nmaxmsg=lots\n", "voicemail.conf:2: maxmsg"},
		{"[general]\nattach=perhaps\n", "voicemail.conf:2: attach"},
		{"[general]\nmaxsecs=-1\n", "voicemail.conf:2: maxsecs"},
		{"[general]\nodbcstorage=oracle/x\n", "voicemail.conf:2: odbcstorage"},
		{"[general]\nodbctable=a-b\n", "voicemail.conf:2: odbctable"},
		{"[general]\nstorage=cloud\n", "voicemail.conf:2: storage: \"cloud\""},
		{"[general]\n\nstorage=odbc\n", "voicemail.conf:3: storage = odbc needs odbcstorage"},
		{"[general]\nstorage=nats\nodbcstorage=pgsql/general\n", "voicemail.conf:2: storage = nats, but odbcstorage"},
		{"[general]\nnatsbucket=a.b\n", "voicemail.conf:2: natsbucket"},
		{"[general]\nnatsreplicas=0\n", "voicemail.conf:2: natsreplicas"},
		{"[general]\nnatsreplicas=7\n", "voicemail.conf:2: natsreplicas: 7"},
		{"[zonemessages]\nmars=Mars/Olympus|'vm-received'\n", "voicemail.conf:2: zone mars: unknown timezone"},
		{"[zonemessages]\nnozone=\n", "voicemail.conf:2: zone nozone"},
		{"[default]\n\n1234 => 4242,A,,,attach\n", "voicemail.conf:3: mailbox 1234: option \"attach\""},
		{"[default]\n1234 => 4242,A,,,maxmsg=0\n", "voicemail.conf:2: mailbox 1234: maxmsg"},
		{"[default]\n1234 => 4242,A,,,saycid=maybe\n", "voicemail.conf:2: mailbox 1234: saycid"},
		{"[default]\n1234 => 4242,A,,,nextaftercmd=often\n", "voicemail.conf:2: mailbox 1234: nextaftercmd"},
		{"[default]\n12/34 => 4242\n", "voicemail.conf:2: mailbox \"12/34\""},
	} {
		_, err := parse(t, tc.text)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.text, err, tc.want)
		}
	}
}

func TestTemplatesAndAliases(t *testing.T) {
	c, err := parse(t, `[general]
aliasescontext=myaliases
[tpl](!)
1000 => 1,Template Box
[sales](tpl)
2000 => 2,Sales
[myaliases]
1234@devices => 1234@default
`)
	if err != nil {
		t.Fatal(err)
	}
	if c.Mailboxes["2000@sales"] == nil || c.Mailboxes["1000@sales"] == nil || c.Mailboxes["1000@tpl"] != nil || len(c.Mailboxes) != 2 {
		t.Fatalf("%v", c.Mailboxes)
	}
}

func TestRewritePassword(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "voicemail.conf")
	text := "[general]\n\n[default]\n1234 => 4242,John Doe,john@example.com ; a comment\n1235=>1111 ; only a password\n"
	os.WriteFile(path, []byte(text), 0o640)
	if err := rewritePassword(path, 4, "1234", "4242", "9876"); err != nil {
		t.Fatal(err)
	}
	if err := rewritePassword(path, 5, "1235", "1111", "2222"); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	want := "[general]\n\n[default]\n1234 => 9876,John Doe,john@example.com ; a comment\n1235=>2222 ; only a password\n"
	if string(got) != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	// The line no longer holds the old password: nothing is written.
	if err := rewritePassword(path, 4, "1234", "4242", "1"); err == nil {
		t.Fatal("stale password accepted")
	}
	if err := rewritePassword(path, 5, "1234", "9876", "1"); err == nil {
		t.Fatal("another mailbox's line accepted")
	}
	if err := rewritePassword(path, 99, "1234", "9876", "1"); err == nil {
		t.Fatal("a line past the end accepted")
	}
	if got2, _ := os.ReadFile(path); string(got2) != want {
		t.Fatal("a refused rewrite changed the file")
	}
}

func TestNumberFiles(t *testing.T) {
	for n, want := range map[int]string{
		0: "digits/0", 7: "digits/7", 20: "digits/20", 21: "digits/20 digits/1", 100: "digits/1 digits/hundred",
		342: "digits/3 digits/hundred digits/40 digits/2", 1005: "digits/1 digits/thousand digits/5",
	} {
		if got := strings.Join(numberFiles(n), " "); got != want {
			t.Errorf("%d: %s, want %s", n, got, want)
		}
	}
	if got := strings.Join(digitFiles("12#"), " "); got != "digits/1 digits/2 digits/pound" {
		t.Error(got)
	}
}

func FuzzParseMailboxLine(f *testing.F) {
	f.Add("1234", "4242,John Doe,john@example.com,pager@example.com,attach=yes|tz=eastern")
	f.Add("1", ",,,,|||")
	f.Add("x", "1,2,3,4,maxmsg=abc")
	f.Fuzz(func(t *testing.T, name, value string) {
		m, err := ParseMailboxLine("default", name, value)
		if err == nil && (m == nil || m.Mailbox == "" || m.Context != "default") {
			t.Fatalf("%+v", m)
		}
	})
}

func FuzzParseMeta(f *testing.F) {
	f.Add(string(FormatMeta(Meta{OrigMailbox: "1234", Context: "default", CallerID: `"A" <1>`, OrigTime: 5, Duration: 3})))
	f.Add("[message]\norigtime=abc\n=\n;x\n")
	f.Fuzz(func(t *testing.T, s string) {
		m := ParseMeta([]byte(s))
		// What FormatMeta writes reads back the same.
		if strings.ContainsAny(m.CallerID+m.Context+m.OrigMailbox, "\n\r") {
			return
		}
		back := ParseMeta(FormatMeta(m))
		if back.OrigTime != m.OrigTime || back.Duration != m.Duration || back.Context != m.Context {
			t.Fatalf("%+v != %+v", back, m)
		}
	})
}

// The voicemail.conf of README.md's Voicemail section parses.
func TestReadmeVoicemailConf(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "```ini\n; voicemail.conf\n")
	if i < 0 {
		t.Fatal("README.md has no voicemail.conf example")
	}
	block := s[i+len("```ini\n"):]
	block = block[:strings.Index(block, "```")]
	c, err := parse(t, block)
	if err != nil {
		t.Fatal(err)
	}
	if c.Mailboxes["1234@default"] == nil || c.Zone("eastern") == nil || !c.General.Attach {
		t.Fatalf("%+v", c)
	}
}
