package voicemail

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/channel"
	"github.com/pleiades-pbx/pleiades/internal/channel/channeltest"
	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/dialplan"
	"github.com/pleiades-pbx/pleiades/internal/media"
)

// appEnv runs the applications on fake SIP legs with real RTP (channeltest), a sounds
// directory holding only the files a test writes (the others are skipped), and a spool.
type appEnv struct {
	vm     *Engine
	dp     *dialplan.Engine
	reg    *channel.Registry
	med    *media.Engine
	sounds string
	mwi    *fakeMWI
	logs   *logLines
}

// logLines keeps the dialplan's log messages (a sound file missing from the test's sounds
// directory is logged: that is how a test sees what was played).
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) Enabled(context.Context, slog.Level) bool { return true }
func (l *logLines) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.lines = append(l.lines, r.Message)
	l.mu.Unlock()
	return nil
}
func (l *logLines) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logLines) WithGroup(string) slog.Handler      { return l }

// missing lists the sound files logged as missing, in order, as one string.
func (l *logLines) missing() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, m := range l.lines {
		if f, ok := strings.CutPrefix(m, "File "); ok {
			if f, ok = strings.CutSuffix(f, " does not exist in any format"); ok {
				out = append(out, f)
			}
		}
	}
	return strings.Join(out, " ")
}

func newAppEnv(t *testing.T, vmConf, dialplanText string) *appEnv {
	t.Helper()
	return newAppEnvStore(t, vmConf, dialplanText, nil)
}

// newAppEnvStore is newAppEnv with its messages in st (nil: the spool).
func newAppEnvStore(t *testing.T, vmConf, dialplanText string, st Store) *appEnv {
	t.Helper()
	env := &appEnv{mwi: &fakeMWI{}, sounds: t.TempDir(), logs: &logLines{}}
	env.vm = New(Options{MWI: env.mwi, SpoolDir: t.TempDir(), Store: st})
	c, err := parse(t, vmConf)
	if err != nil {
		t.Fatal(err)
	}
	env.vm.Configure(context.Background(), c)
	env.dp = dialplan.New(slog.New(env.logs), nil)
	t.Cleanup(env.dp.Close)
	env.vm.Register(env.dp)
	raw, err := conf.Parse("extensions.conf", []byte(dialplanText), conf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.dp.Load(raw); err != nil {
		t.Fatal(err)
	}
	env.reg = channel.NewRegistry(nil)
	env.dp.SetChannels(env.reg)
	env.dp.SetSoundsDir(env.sounds)
	cfg := media.DefaultConfig()
	cfg.RTPStart = 34000 + 2*(os.Getpid()%2000)
	cfg.RTPEnd = cfg.RTPStart + 200
	env.med = media.NewEngine(cfg, nil)
	t.Cleanup(func() { env.med.Close() })
	return env
}

// sound writes a µ-law sound of d under sounds/en.
func (env *appEnv) sound(t *testing.T, name string, d time.Duration) {
	t.Helper()
	p := filepath.Join(env.sounds, "en", name+".ulaw")
	os.MkdirAll(filepath.Dir(p), 0o755)
	b := make([]byte, int(d/time.Millisecond)*8)
	for i := range b {
		b[i] = 0xff
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func (env *appEnv) call(t *testing.T, exten string) (*channel.Channel, *channeltest.Tech, chan error) {
	t.Helper()
	leg, tech := channeltest.NewIncoming(t, env.reg, channeltest.Options{Peer: "alice", Context: "c", Exten: exten,
		CallerID: [2]string{"100", "Alice"}, Media: env.med})
	done := make(chan error, 1)
	go func() { done <- env.dp.RunChannel(context.Background(), leg) }()
	return leg, tech, done
}

func wait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitEnd(t *testing.T, done chan error) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("the dialplan did not end")
	}
}

// A caller who hangs up instead of pressing '#' leaves the message (as in Asterisk).
func TestVoiceMailHangupKeepsTheMessage(t *testing.T) {
	env := newAppEnv(t, "[general]\nminsecs=1\n[default]\n1234 => 4242,John\n", "[c]\nexten => 1,1,VoiceMail(1234@default,s)\n")
	leg, tech, done := env.call(t, "1")
	wait(t, "VoiceMail", func() bool { return leg.Snapshot().Application == "VoiceMail" })
	time.Sleep(200 * time.Millisecond)
	tech.Phone.Send(100, 20*time.Millisecond) // 2 s
	time.Sleep(100 * time.Millisecond)
	tech.HangUpFar(channel.CauseNormalClearing)
	waitEnd(t, done)
	msgs, err := env.vm.Store().List(context.Background(), Box{"default", "1234"}, "INBOX")
	if err != nil || len(msgs) != 1 || msgs[0].Meta.Duration != 2 || msgs[0].Meta.CallerID != `"Alice" <100>` || msgs[0].Meta.Exten != "1" {
		t.Fatalf("%+v %v", msgs, err)
	}
	if got := env.mwi.updates(); got != "1234@default 1/0/0" {
		t.Fatalf("MWI %q", got)
	}
}

// '*' during the greeting goes to extension a; an unknown mailbox fails at once.
func TestVoiceMailStarAndUnknownMailbox(t *testing.T) {
	env := newAppEnv(t, "[default]\n1234 => 4242,John\n", `[c]
exten => 1,1,VoiceMail(1234@default,u)
 same => n,Set(GLOBAL(R)=no)
exten => a,1,Set(GLOBAL(A)=${VMSTATUS})
exten => 2,1,VoiceMail(999@default)
 same => n,Set(GLOBAL(U)=${VMSTATUS})
`)
	env.sound(t, "vm-theperson", 2*time.Second)
	leg, tech, done := env.call(t, "1")
	wait(t, "VoiceMail", func() bool { return leg.Snapshot().Application == "VoiceMail" })
	time.Sleep(300 * time.Millisecond)
	tech.Phone.SendDigit('*')
	waitEnd(t, done)
	if v, _ := env.dp.Global("A"); v != "USEREXIT" {
		t.Fatalf("after '*': A=%q", v)
	}
	_, _, done = env.call(t, "2")
	waitEnd(t, done)
	if v, _ := env.dp.Global("U"); v != "FAILED" {
		t.Fatalf("unknown mailbox: %q", v)
	}
}

// VoiceMailMain: the password, 1 (play), 9 then 2 (save to Work), # (exit): the message is in
// Work and the counts are published.
func TestVoiceMailMainSaveToFolder(t *testing.T) {
	env := newAppEnv(t, "[default]\n1234 => 4242,John\n", "[c]\nexten => 1,1,VoiceMailMain(1234@default)\n")
	ctx := context.Background()
	b := Box{"default", "1234"}
	env.vm.Store().Save(ctx, b, "INBOX", Meta{MsgID: "m"}, make([]byte, 16000))
	leg, tech, done := env.call(t, "1")
	wait(t, "VoiceMailMain", func() bool { return leg.Snapshot().Application == "VoiceMailMain" })
	time.Sleep(200 * time.Millisecond)
	for _, d := range []byte("4242#") {
		tech.Phone.SendDigit(d)
		time.Sleep(30 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	for _, d := range []byte("192#") {
		tech.Phone.SendDigit(d)
		time.Sleep(300 * time.Millisecond)
	}
	waitEnd(t, done)
	if n, _ := env.vm.Store().Count(ctx, b, "Work"); n != 1 {
		t.Fatalf("Work holds %d", n)
	}
	if n, _ := env.vm.Store().Count(ctx, b, "INBOX"); n != 0 {
		t.Fatalf("INBOX holds %d", n)
	}
	if got := env.mwi.updates(); got != "1234@default 0/0/0" {
		t.Fatalf("MWI %q", got)
	}
}

// VoiceMailPurge empties a mailbox (every folder, or the one named) and MWI follows; an
// unknown mailbox or folder is FAILED.
func TestVoiceMailPurge(t *testing.T) {
	env := newAppEnv(t, "[default]\n1234 => 4242,John\n1235 => 1,Jane\n", `[c]
exten => 1,1,VoiceMailPurge(1234@default,Old)
 same => n,Set(GLOBAL(S1)=${VMPURGESTATUS}/${VMPURGECOUNT})
exten => 2,1,VoiceMailPurge(1234&1235)
 same => n,Set(GLOBAL(S2)=${VMPURGESTATUS}/${VMPURGECOUNT})
exten => 3,1,VoiceMailPurge(999@default&1235)
 same => n,Set(GLOBAL(S3)=${VMPURGESTATUS}/${VMPURGECOUNT})
exten => 4,1,VoiceMailPurge(1234,Spam)
 same => n,Set(GLOBAL(S4)=${VMPURGESTATUS}/${VMPURGECOUNT})
exten => 5,1,VoiceMailPurge()
 same => n,Set(GLOBAL(S5)=${VMPURGESTATUS}/${VMPURGECOUNT})
`)
	ctx := context.Background()
	b := Box{"default", "1234"}
	for _, f := range []string{"INBOX", "INBOX", "Old", "Old", "Work", "Urgent"} {
		env.vm.Store().Save(ctx, b, f, Meta{}, make([]byte, 160))
	}
	env.vm.Store().Save(ctx, Box{"default", "1235"}, "INBOX", Meta{}, make([]byte, 160))
	for _, tc := range [][2]string{{"1", "SUCCESS/2"}, {"2", "SUCCESS/5"}, {"3", "FAILED/0"}, {"4", "FAILED/0"}, {"5", "FAILED/0"}} {
		exten, want := tc[0], tc[1]
		_, _, done := env.call(t, exten)
		waitEnd(t, done)
		if v, _ := env.dp.Global("S" + exten); v != want {
			t.Fatalf("exten %s: %q, want %q", exten, v, want)
		}
		if exten == "1" {
			if n, _ := env.vm.Store().Count(ctx, b, "INBOX"); n != 2 {
				t.Fatalf("INBOX purged with Old: %d left", n)
			}
		}
	}
	for _, f := range Folders {
		if n, _ := env.vm.Store().Count(ctx, b, f); n != 0 {
			t.Fatalf("%s holds %d", f, n)
		}
	}
	if got := env.mwi.updates(); got != "1234@default 3/0/1;1234@default 0/0/0;1235@default 0/0/0" {
		t.Fatalf("MWI %q", got)
	}
}

// VoiceMailMain says the envelope before the message (the date, and the caller with saycid),
// and again with 3 (advanced options) then 3.
func TestVoiceMailMainEnvelope(t *testing.T) {
	env := newAppEnv(t, "[general]\nsaycid=yes\n[default]\n1234 => 4242,John\n", "[c]\nexten => 1,1,VoiceMailMain(1234@default,s)\n")
	ctx := context.Background()
	b := Box{"default", "1234"}
	env.vm.Store().Save(ctx, b, "INBOX", NewMeta(Meta{MsgID: "m", CallerID: `"Bob" <20>`}, time.Now()), make([]byte, 1600))
	leg, tech, done := env.call(t, "1")
	wait(t, "VoiceMailMain", func() bool { return leg.Snapshot().Application == "VoiceMailMain" })
	time.Sleep(300 * time.Millisecond)
	mark := len(env.logs.missing())
	for _, d := range []byte("133#") {
		tech.Phone.SendDigit(d)
		time.Sleep(400 * time.Millisecond)
	}
	waitEnd(t, done)
	got := env.logs.missing()[mark:]
	// Today's message: "received at H MM a.m./p.m."; the digits depend on the clock, so only
	// the fixed parts are checked, in order.
	want := []string{"vm-first", "vm-message", "vm-received", "digits/at", "vm-from-phonenumber", "digits/2", "digits/0",
		"vm-advopts", "vm-received", "digits/at", "vm-from-phonenumber", "digits/2", "digits/0", "vm-goodbye"}
	rest := got
	for _, w := range want {
		i := strings.Index(" "+rest+" ", " "+w+" ")
		if i < 0 {
			t.Fatalf("%s not said in order; said: %s", w, got)
		}
		rest = rest[min(len(rest), i+len(w)):]
	}
}

// failingStore refuses every save, as a full disk or a database gone mid-write would.
type failingStore struct{ Store }

func (failingStore) Save(context.Context, Box, string, Meta, []byte) (int, error) {
	return 0, errors.New("disk full")
}

// A store that fails the write: the caller hears vm-sorry, VMSTATUS is FAILED, nothing is
// counted and no MWI is sent (the "disk or database that fails mid-write").
func TestVoiceMailStoreFailsMidWrite(t *testing.T) {
	fs := NewFileStore(t.TempDir())
	env := newAppEnvStore(t, "[general]\nminsecs=1\n[default]\n1234 => 4242,John\n",
		"[c]\nexten => 1,1,VoiceMail(1234@default,s)\n same => n,Set(GLOBAL(ST)=${VMSTATUS})\n", failingStore{fs})
	leg, tech, done := env.call(t, "1")
	wait(t, "VoiceMail", func() bool { return leg.Snapshot().Application == "VoiceMail" })
	time.Sleep(200 * time.Millisecond)
	tech.Phone.Send(100, 20*time.Millisecond) // 2 s of audio
	time.Sleep(100 * time.Millisecond)
	tech.Phone.SendDigit('#')
	waitEnd(t, done)
	if got, _ := env.dp.Global("ST"); got != "FAILED" {
		t.Fatalf("VMSTATUS %q", got)
	}
	if m := env.logs.missing(); !strings.Contains(m, "vm-sorry") {
		t.Fatalf("the caller did not hear vm-sorry: %s", m)
	}
	if n, _ := fs.Count(context.Background(), Box{"default", "1234"}, "INBOX"); n != 0 {
		t.Fatalf("%d messages counted after a failed write", n)
	}
	if got := env.mwi.updates(); got != "" {
		t.Fatalf("MWI sent for a message not stored: %q", got)
	}
}
