package voicemail

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/pleiades-pbx/pleiades/internal/cli"
)

func TestCLI(t *testing.T) {
	ctx := context.Background()
	e := New(Options{SpoolDir: t.TempDir()})
	c, _ := parse(t, "[zonemessages]\neastern=America/New_York|'vm-received' Q 'digits/at' IMp\n[default]\n1234 => 4242,John Doe,,,tz=eastern\n[other]\n1 => 1,Other One\n")
	e.Configure(ctx, c)
	e.Store().Save(ctx, Box{"default", "1234"}, "INBOX", Meta{}, []byte{0, 0})
	reloaded := 0
	reg := cli.NewRegistry()
	reg.MustRegister(e.Commands(func(context.Context) error { reloaded++; return nil })...)
	run := func(cmd string) (string, error) {
		var out bytes.Buffer
		err := reg.Run(ctx, cmd, &out, nil)
		return out.String(), err
	}
	out, err := run("voicemail show users")
	want := "Context    Mbox  User                      Zone       NewMsg\n" +
		"default    1234  John Doe                  eastern         1\n" +
		"other      1     Other One                                 0\n" +
		"2 voicemail users configured.\n"
	if err != nil || out != want {
		t.Fatalf("%v\n%q\nwant\n%q", err, out, want)
	}
	out, _ = run("voicemail show users for other")
	if !strings.Contains(out, "Other One") || strings.Contains(out, "John") || !strings.Contains(out, "1 voicemail users configured.") {
		t.Fatal(out)
	}
	if out, _ = run("voicemail show users for nowhere"); out != "No such voicemail context \"nowhere\"\n" {
		t.Fatalf("%q", out)
	}
	out, _ = run("voicemail show zones")
	if out != "Zone            Timezone             Message Format                               \n"+
		"eastern         America/New_York     'vm-received' Q 'digits/at' IMp              \n" {
		t.Fatalf("%q", out)
	}
	if out, _ = run("voicemail reload"); out != "Reloading voicemail configuration...\n" || reloaded != 1 {
		t.Fatalf("%q %d", out, reloaded)
	}
}

func TestAMIUsersList(t *testing.T) {
	ctx := context.Background()
	e := New(Options{SpoolDir: t.TempDir()})
	c, _ := parse(t, "[general]\nmaxmsg=20\n[default]\n1234 => 4242,John Doe,john@example.com,,attach=yes\n")
	e.Configure(ctx, c)
	e.Store().Save(ctx, Box{"default", "1234"}, "Old", Meta{}, []byte{0, 0})
	rep := e.amiUsersList(ctx, func(string) string { return "" })
	if rep.List == nil || len(rep.List.Items) != 1 || rep.List.Complete != "VoicemailUserEntryComplete" {
		t.Fatalf("%+v", rep)
	}
	got := map[string]string{}
	for _, f := range rep.List.Items[0] {
		got[f.Key] = f.Value
	}
	for k, v := range map[string]string{"VMContext": "default", "VoiceMailbox": "1234", "Fullname": "John Doe", "Email": "john@example.com",
		"AttachMessage": "Yes", "MaxMessageCount": "20", "NewMessageCount": "0", "OldMessageCount": "1"} {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
}
