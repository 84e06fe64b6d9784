package moh

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/channel"
	"github.com/pleiades-pbx/pleiades/internal/channel/channeltest"
	"github.com/pleiades-pbx/pleiades/internal/cli"
	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/dialplan"
)

// logLines collects log messages.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (s *logLines) Enabled(context.Context, slog.Level) bool { return true }
func (s *logLines) Handle(_ context.Context, r slog.Record) error {
	s.mu.Lock()
	s.lines = append(s.lines, r.Message)
	s.mu.Unlock()
	return nil
}
func (s *logLines) WithAttrs([]slog.Attr) slog.Handler { return s }
func (s *logLines) WithGroup(string) slog.Handler      { return s }
func (s *logLines) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.lines, "\n")
}

// env is a dialplan engine with a channel registry, the fake SIP driver with media, and
// music on hold (class "default": two 0.4 s µ-law files; "jazz" too) registered.
type env struct {
	e   *dialplan.Engine
	reg *channel.Registry
	drv *channeltest.Driver
	r   *Registry
	log *logLines
}

func newEnv(t *testing.T, extensions string) *env {
	t.Helper()
	r, d := ulawClass(t, "default", 3200, "")
	writeFile(t, filepath.Join(d, "jazz", "j.ulaw"), bytes.Repeat([]byte{0x33}, 800))
	c, _ := parseText(t, "[default]\nmode=files\ndirectory=moh\nsort=alpha\n[jazz]\nmode=files\ndirectory=jazz\ndigit=5\n", d)
	r.Apply(c)
	log := &logLines{}
	r.log = slog.New(log)
	e := dialplan.New(slog.New(log), nil)
	t.Cleanup(e.Close)
	cfg, err := conf.Parse("extensions.conf", []byte(extensions), conf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Load(cfg); err != nil {
		t.Fatal(err)
	}
	reg := channel.NewRegistry(nil)
	e.SetChannels(reg)
	drv := &channeltest.Driver{TB: t, Media: mediaEngine(t), Peers: map[string]func(*channeltest.Tech){}}
	reg.RegisterDriver(drv)
	r.Register(e)
	return &env{e: e, reg: reg, drv: drv, r: r, log: log}
}

// call makes an incoming SIP/alice call to exten@t and runs the dialplan in the background.
func (v *env) call(t *testing.T, exten string) (*channel.Channel, *channeltest.Tech, <-chan error) {
	t.Helper()
	leg, tech := channeltest.NewIncoming(t, v.reg, channeltest.Options{Peer: "alice", Context: "t", Exten: exten,
		CallerID: [2]string{"100", "Alice"}, Media: v.drv.Media})
	done := make(chan error, 1)
	go func() { done <- v.e.RunChannel(t.Context(), leg) }()
	return leg, tech, done
}

func wait(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the dialplan did not end")
	}
}

// TestMusicOnHoldApp: MusicOnHold(default,1) plays a second of music (about 50 packets)
// as early media (progress first, no answer) and the dialplan goes on.
func TestMusicOnHoldApp(t *testing.T) {
	v := newEnv(t, "[t]\nexten => 1,1,MusicOnHold(default,1)\n same => n,Set(AFTER=yes)\n same => n,Hangup()\n")
	start := time.Now()
	leg, tech, done := v.call(t, "1")
	wait(t, done)
	took := time.Since(start)
	if took < 900*time.Millisecond || took > 5*time.Second {
		t.Errorf("MusicOnHold(default,1) took %v", took)
	}
	if n := tech.Phone.Received(); n < 35 || n > 60 {
		t.Errorf("the caller received %d packets in 1 s of music", n)
	}
	if in := tech.Indications(); !slices.Contains(in, channel.CondProgress) {
		t.Errorf("indications %v: no progress before the early media", in)
	}
	if tech.Answers() != 0 {
		t.Error("MusicOnHold answered the call")
	}
	_ = leg
	if !strings.Contains(v.log.text(), "Started music on hold, class 'default', on channel 'SIP/alice-") {
		t.Errorf("log:\n%s", v.log.text())
	}
}

// TestStartStopMusicOnHold: the music plays while the dialplan goes on, until
// StopMusicOnHold.
func TestStartStopMusicOnHold(t *testing.T) {
	v := newEnv(t, "[t]\nexten => 1,1,Answer()\n same => n,StartMusicOnHold(jazz)\n same => n,Wait(1)\n same => n,StopMusicOnHold()\n same => n,Wait(0.6)\n same => n,Hangup()\n")
	var evMu sync.Mutex
	var evs []string
	v.reg.Subscribe(func(e channel.Event) {
		if e.Kind == channel.EventMusicOnHoldStart || e.Kind == channel.EventMusicOnHoldStop {
			evMu.Lock()
			evs = append(evs, e.Kind.String()+" "+e.MusicClass)
			evMu.Unlock()
		}
	})
	_, tech, done := v.call(t, "1")
	var atStop int
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && !strings.Contains(v.log.text(), "Stopped music on hold") {
		time.Sleep(10 * time.Millisecond)
	}
	atStop = tech.Phone.Received()
	wait(t, done)
	if atStop < 35 {
		t.Errorf("%d packets during Wait(1)", atStop)
	}
	if after := tech.Phone.Received() - atStop; after > 2 {
		t.Errorf("%d packets after StopMusicOnHold", after)
	}
	if !strings.Contains(v.log.text(), "class 'jazz'") {
		t.Errorf("log:\n%s", v.log.text())
	}
	evMu.Lock()
	defer evMu.Unlock()
	if got := strings.Join(evs, "|"); got != "MusicOnHoldStart jazz|MusicOnHoldStop " {
		t.Errorf("events %q", got)
	}
}

// TestDialMusicUntilNoAnswer: Dial(...,m) gives the caller music instead of ringing while
// the callee rings, and the music stops when the dial ends.
func TestDialMusicUntilNoAnswer(t *testing.T) {
	v := newEnv(t, "[t]\nexten => 1,1,Dial(SIP/bob,1,m)\n same => n,Set(STATUS=${DIALSTATUS})\n same => n,Wait(0.5)\n same => n,Hangup()\n")
	v.drv.Peers["bob"] = func(tc *channeltest.Tech) { tc.Ring() }
	_, tech, done := v.call(t, "1")
	wait(t, done)
	n := tech.Phone.Received()
	if n < 35 || n > 80 {
		t.Errorf("the caller received %d packets in a 1 s dial", n)
	}
	in := tech.Indications()
	if !slices.Contains(in, channel.CondProgress) || slices.Contains(in, channel.CondRinging) {
		t.Errorf("indications %v: want progress and no ringing with m", in)
	}
	if v.r.Playing() != 0 {
		t.Error("the music still plays after the dial")
	}
}

// TestDialMusicStopsAtAnswerAndHold: m(jazz) plays until bob answers; then alice puts the
// call on hold: bob hears music (his own class, inherited from alice: jazz) until the
// unhold. The caller's class is inherited by the callee's leg.
func TestDialMusicStopsAtAnswerAndHold(t *testing.T) {
	v := newEnv(t, "[t]\nexten => 1,1,Set(CHANNEL(musicclass)=jazz)\n same => n,Dial(SIP/bob,10,m(default))\n same => n,Hangup()\n")
	answer := make(chan struct{})
	v.drv.Peers["bob"] = func(tc *channeltest.Tech) {
		tc.Ring()
		<-answer
		tc.AnswerFar()
	}
	alice, tech, done := v.call(t, "1")
	waitUntil(t, 5*time.Second, "music before the answer", func() bool { return tech.Phone.Received() >= 20 })
	if !strings.Contains(v.log.text(), "Started music on hold, class 'default'") {
		t.Errorf("m(default) did not play default:\n%s", v.log.text())
	}
	close(answer)
	waitUntil(t, 5*time.Second, "the bridge", func() bool { return alice.Bridge() != nil })
	time.Sleep(100 * time.Millisecond)
	before := tech.Phone.Received()
	time.Sleep(300 * time.Millisecond)
	if got := tech.Phone.Received() - before; got > 1 {
		t.Errorf("the caller got %d packets after the answer (the music goes on)", got)
	}
	bob := v.drv.Techs("bob")[0]
	if c := bob.Channel().MusicClass(); c != "jazz" {
		t.Errorf("bob's music class %q, want alice's jazz", c)
	}
	alice.Queue(channel.Frame{Kind: channel.FrameHold})
	waitUntil(t, 5*time.Second, "music to the held party", func() bool { return bob.Phone.Received() >= 25 })
	if !strings.Contains(v.log.text(), "class 'jazz', on channel 'SIP/bob-") {
		t.Errorf("bob's hold music is not his class:\n%s", v.log.text())
	}
	alice.Queue(channel.Frame{Kind: channel.FrameUnhold})
	waitUntil(t, 5*time.Second, "the music to stop", func() bool { return v.r.Playing() == 0 })
	n := bob.Phone.Received()
	time.Sleep(300 * time.Millisecond)
	if got := bob.Phone.Received() - n; got > 1 {
		t.Errorf("bob got %d packets after the unhold", got)
	}
	// Held again, then the call ends while held: the music ends with it.
	alice.Queue(channel.Frame{Kind: channel.FrameHold})
	waitUntil(t, 5*time.Second, "music again", func() bool { return v.r.Playing() == 1 })
	bob.HangUpFar(channel.CauseNormalClearing)
	wait(t, done)
	waitUntil(t, 5*time.Second, "no music after the hangup", func() bool { return v.r.Playing() == 0 })
}

// TestMusicOnHoldWithoutClass: no class can play: a warning, the dialplan goes on.
func TestMusicOnHoldWithoutClass(t *testing.T) {
	v := newEnv(t, "[t]\nexten => 1,1,MusicOnHold(x,1)\n same => n,Hangup()\n")
	v.r.Apply(&Config{PreferChannelClass: true})
	start := time.Now()
	_, _, done := v.call(t, "1")
	wait(t, done)
	if time.Since(start) > 900*time.Millisecond {
		t.Error("MusicOnHold waited without a class")
	}
	for _, w := range []string{"Music on Hold class 'x' not found in memory. Verify your configuration.", "Unable to start music on hold class 'x' on channel SIP/alice-"} {
		if !strings.Contains(v.log.text(), w) {
			t.Errorf("no %q in:\n%s", w, v.log.text())
		}
	}
}

// TestCLI: moh show classes and moh show files in res_musiconhold's shape.
func TestCLI(t *testing.T) {
	d := dataDir(t)
	c, _ := parseText(t, DefaultFile+"[q]\nmode=files\ndirectory=moh\nsort=alpha\nannouncement=queue-thankyou\n[p]\nmode=playlist\nentry=/srv/a\n", d)
	r := New(nil)
	r.Apply(c)
	reloaded := 0
	reg := cli.NewRegistry()
	reg.MustRegister(r.Commands(func(context.Context) error { reloaded++; return nil })...)
	run := func(line string) string {
		var b bytes.Buffer
		if err := reg.Run(context.Background(), line, &b, nil); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		return b.String()
	}
	want := "Class: default\n\tMode: files\n\tDirectory: moh\n" +
		"Class: q\n\tMode: files\n\tDirectory: moh\n\tAnnouncement: queue-thankyou\n" +
		"Class: p\n\tMode: playlist\n\tDirectory: nodir\n\tFormat: slin\n"
	if got := run("moh show classes"); got != want {
		t.Errorf("moh show classes:\n%s\nwant:\n%s", got, want)
	}
	m := d + "/moh/"
	want = "Class: default\n\tFile: " + m + "C-song\n\tFile: " + m + "a-song\n\tFile: " + m + "b-song\n" +
		"Class: q\n\tFile: " + m + "a-song\n\tFile: " + m + "b-song\n\tFile: " + m + "C-song\n" +
		"Class: p\n\tFile: /srv/a\n"
	if got := run("moh show files"); got != want {
		t.Errorf("moh show files:\n%s\nwant:\n%s", got, want)
	}
	run("moh reload")
	if reloaded != 1 {
		t.Error("moh reload did not reload")
	}
}

func TestLeadingInt(t *testing.T) {
	for in, want := range map[string]int{"3": 3, "1.5": 1, "20s": 20, "-2": -2, "+4": 4} {
		if n, err := leadingInt(in); err != nil || n != want {
			t.Errorf("leadingInt(%q) = %d, %v", in, n, err)
		}
	}
	for _, in := range []string{"", "abc", "-", ".5"} {
		if _, err := leadingInt(in); err == nil {
			t.Errorf("leadingInt(%q): no error", in)
		}
	}
}

// TestMusicOnHoldDigit: while MusicOnHold() plays, the caller's digit 5 switches to the
// class with digit=5 (jazz), which becomes the channel's class.
func TestMusicOnHoldDigit(t *testing.T) {
	v := newEnv(t, "[t]\nexten => 1,1,Answer()\n same => n,MusicOnHold(,2)\n same => n,Hangup()\n")
	leg, tech, done := v.call(t, "1")
	waitUntil(t, 5*time.Second, "music", func() bool { return tech.Phone.Received() >= 10 })
	tech.DTMF('7') // no class has it
	tech.DTMF('5')
	wait(t, done)
	if !strings.Contains(v.log.text(), "Started music on hold, class 'jazz'") {
		t.Errorf("digit 5 did not switch to jazz:\n%s", v.log.text())
	}
	if leg.MusicClass() != "jazz" {
		t.Errorf("musicclass %q after the digit", leg.MusicClass())
	}
	if v.r.Playing() != 0 {
		t.Error("music still playing after MusicOnHold ended")
	}
}

// TestPlaybackStopsMusic: a file played on the channel stops its music on hold, as
// Asterisk's streams deactivate the generator (and it does not come back).
func TestPlaybackStopsMusic(t *testing.T) {
	v := newEnv(t, "[t]\nexten => 1,1,Answer()\n same => n,StartMusicOnHold()\n same => n,Wait(0.5)\n same => n,Playback(beep)\n same => n,Wait(0.5)\n same => n,Hangup()\n")
	d := t.TempDir()
	writeFile(t, filepath.Join(d, "beep.ulaw"), make([]byte, 800))
	v.e.SetSoundsDir(d)
	_, tech, done := v.call(t, "1")
	wait(t, done)
	if !strings.Contains(v.log.text(), "Stopped music on hold") {
		t.Errorf("the music was not stopped:\n%s", v.log.text())
	}
	// 0.5 s of music and the 0.1 s file: about 30 packets, not the 55 of music going on.
	if n := tech.Phone.Received(); n < 15 || n > 42 {
		t.Errorf("%d packets", n)
	}
}
