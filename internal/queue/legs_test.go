package queue

import (
	"context"
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
	"github.com/pleiades-pbx/pleiades/internal/state"
)

// legEnv adds call legs (channeltest's fake technology) to a testEnv.
func (te *testEnv) legs(extensions string, peers map[string]func(*channeltest.Tech)) *channel.Registry {
	te.t.Helper()
	reg := channel.NewRegistry(nil)
	te.dp.SetChannels(reg)
	reg.RegisterDriver(&channeltest.Driver{TB: te.t, Peers: peers})
	cfg, err := conf.Parse("extensions.conf", []byte(extensions), conf.Options{})
	if err != nil {
		te.t.Fatal(err)
	}
	if err := te.dp.Load(cfg); err != nil {
		te.t.Fatal(err)
	}
	return reg
}

func (te *testEnv) call(reg *channel.Registry, exten string) (*channel.Channel, <-chan error) {
	leg, _ := channeltest.NewIncoming(te.t, reg, channeltest.Options{Peer: "alice", Context: "t", Exten: exten, CallerID: [2]string{"100", "Alice"}})
	done := make(chan error, 1)
	go func() { done <- te.dp.RunChannel(te.t.Context(), leg) }()
	return leg, done
}

func (te *testEnv) eventNames() string {
	te.evMu.Lock()
	defer te.evMu.Unlock()
	var out []string
	for _, ev := range te.evs {
		if strings.HasPrefix(ev.Name, "QueueMember") {
			continue
		}
		s := ev.Name
		for _, f := range ev.Fields {
			if f[0] == "Interface" || f[0] == "Reason" {
				s += " " + f[1]
			}
		}
		out = append(out, s)
	}
	return strings.Join(out, ", ")
}

func wait(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the call did not end")
	}
}

// TestQueueCallOnLegs: ringall rings bob and carol; bob answers, carol is cancelled
// (ANSWERED_ELSEWHERE); bob hangs up first: COMPLETEAGENT, and with option c the dialplan
// goes on with QUEUESTATUS CONTINUE.
func TestQueueCallOnLegs(t *testing.T) {
	te := newTestEnv(t, "[sales]\nmember => SIP/bob\nmember => SIP/carol\n", Deps{})
	reg := te.legs("[t]\nexten => 1,1,Queue(sales,c)\n same => n,Set(GLOBAL(S)=${QUEUESTATUS}/${MEMBERINTERFACE})\n", map[string]func(*channeltest.Tech){
		"bob": func(tt *channeltest.Tech) {
			tt.Ring()
			time.Sleep(50 * time.Millisecond)
			tt.AnswerFar()
			time.Sleep(100 * time.Millisecond)
			tt.HangUpFar(channel.CauseNormalClearing)
		},
		"carol": func(tt *channeltest.Tech) { tt.Ring() },
	})
	_, done := te.call(reg, "1")
	wait(t, done)
	if got, _ := te.dp.Global("S"); got != "CONTINUE/SIP/bob" {
		t.Errorf("QUEUESTATUS/MEMBERINTERFACE %q", got)
	}
	want := "QueueCallerJoin, AgentCalled SIP/bob, AgentCalled SIP/carol, QueueCallerLeave, AgentConnect SIP/bob, AgentComplete SIP/bob agent"
	if got := te.eventNames(); got != want {
		t.Errorf("events:\n got %s\nwant %s", got, want)
	}
	log := te.log()
	for _, p := range []string{"|sales|NONE|ENTERQUEUE||100|1", "|sales|SIP/bob|CONNECT|0|", "|sales|SIP/bob|COMPLETEAGENT|0|0|1"} {
		found := false
		for _, l := range log {
			found = found || strings.Contains(l, p)
		}
		if !found {
			t.Errorf("queue_log lacks %q:\n%s", p, strings.Join(log, "\n"))
		}
	}
}

// TestQueueAbandonOnLegs: the caller hangs up while carol rings: her leg is hung up,
// RINGCANCELED and ABANDON are logged, QueueCallerAbandon is sent.
func TestQueueAbandonOnLegs(t *testing.T) {
	te := newTestEnv(t, "[sales]\nstrategy = linear\nmember => SIP/carol\n", Deps{})
	var carol *channeltest.Tech
	rang := make(chan struct{})
	reg := te.legs("[t]\nexten => 1,1,Queue(sales)\n", map[string]func(*channeltest.Tech){
		"carol": func(tt *channeltest.Tech) { carol = tt; tt.Ring(); close(rang) },
	})
	leg, done := te.call(reg, "1")
	select {
	case <-rang:
	case <-time.After(5 * time.Second):
		t.Fatal("carol never rang")
	}
	leg.HungUp(channel.CauseNormalClearing)
	wait(t, done)
	if c := carol.WaitHangup(5 * time.Second); c == 0 {
		t.Error("carol's leg still rings")
	}
	if got := te.eventNames(); !strings.HasSuffix(got, "QueueCallerAbandon, QueueCallerLeave") {
		t.Errorf("events: %s", got)
	}
	log := te.log()
	if !containsSuffix(log, "|sales|SIP/carol|RINGCANCELED|") || !containsSuffix(log, "|sales|NONE|ABANDON|1|1|0") {
		t.Errorf("queue_log:\n%s", strings.Join(log, "\n"))
	}
}

func containsSuffix(log []string, part string) bool {
	for _, l := range log {
		if strings.Contains(l, part) {
			return true
		}
	}
	return false
}

// TestLeaveWhenEmpty: a caller waiting while its only member becomes unavailable leaves with
// LEAVEUNAVAIL (EXITEMPTY logged).
func TestLeaveWhenEmpty(t *testing.T) {
	te := newTestEnv(t, "[q]\nleavewhenempty = unavailable\nretry = 1\nmember => SIP/a\n", Deps{})
	te.devs.mu.Lock()
	te.devs.m["SIP/a"] = state.InUse
	te.devs.mu.Unlock()
	done := make(chan string, 1)
	go func() { done <- varOf(te.run("Queue", "q,,,,8"), "QUEUESTATUS") }()
	time.Sleep(200 * time.Millisecond)
	te.devs.mu.Lock()
	te.devs.m["SIP/a"] = state.Unavailable
	te.devs.mu.Unlock()
	te.e.DeviceChanged("SIP/a", state.Unavailable)
	select {
	case got := <-done:
		if got != "LEAVEUNAVAIL" {
			t.Errorf("QUEUESTATUS %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the caller did not leave")
	}
	if !containsSuffix(te.log(), "|q|NONE|EXITEMPTY|1|1|") {
		t.Errorf("queue_log:\n%s", strings.Join(te.log(), "\n"))
	}
}

// TestPeriodicAnnounce: a caller hearing music on hold gets periodic-announce's files in
// turn every periodic-announce-frequency seconds, the music stopped meanwhile.
func TestPeriodicAnnounce(t *testing.T) {
	te := newTestEnv(t, "[q]\nperiodic-announce = one,two\nperiodic-announce-frequency = 1\nmember => SIP/nobody\n", Deps{})
	te.devs.mu.Lock()
	te.devs.m["SIP/nobody"] = state.Unavailable
	te.devs.mu.Unlock()
	var mu sync.Mutex
	var holds int
	MusicOnHold = func(ctx context.Context, ch *dialplan.Channel, class string) error {
		if l := ch.Leg(); l != nil && l.State() != channel.Up {
			l.Answer(ctx)
		}
		mu.Lock()
		holds++
		mu.Unlock()
		<-ctx.Done()
		return nil
	}
	defer func() { MusicOnHold = nil }()
	cfg := media.DefaultConfig()
	cfg.RTPStart, cfg.RTPEnd = 31000+2*(os.Getpid()%4000), 31000+2*(os.Getpid()%4000)+400
	med := media.NewEngine(cfg, nil)
	defer med.Close()
	reg := channel.NewRegistry(nil)
	te.dp.SetChannels(reg)
	dir := t.TempDir()
	for _, n := range []string{"one", "two"} {
		p := filepath.Join(dir, "en", n+".ulaw")
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, make([]byte, 1600), 0o644) // 200 ms, 10 packets
	}
	te.dp.SetSoundsDir(dir)
	cfgX, _ := conf.Parse("extensions.conf", []byte("[t]\nexten => 1,1,Queue(q,,,,3)\n"), conf.Options{})
	te.dp.Load(cfgX)
	leg, tech := channeltest.NewIncoming(t, reg, channeltest.Options{Peer: "alice", Context: "t", Exten: "1", Media: med})
	done := make(chan error, 1)
	go func() { done <- te.dp.RunChannel(t.Context(), leg) }()
	wait(t, done)
	mu.Lock()
	defer mu.Unlock()
	if holds < 3 {
		t.Errorf("music on hold started %d times, want the first and again after each of 2+ announcements", holds)
	}
	if got := tech.Phone.Received(); got < 15 {
		t.Errorf("the phone got %d packets of announcements", got)
	}
}

func TestNumberFiles(t *testing.T) {
	for n, want := range map[int]string{
		2: "digits/2", 13: "digits/13", 20: "digits/20", 42: "digits/40 digits/2", 100: "digits/1 digits/hundred",
		305: "digits/3 digits/hundred digits/5", 1999: "digits/1 digits/thousand digits/9 digits/hundred digits/90 digits/9",
		-3: "digits/minus digits/3",
	} {
		if got := strings.Join(numberFiles(n), " "); got != want {
			t.Errorf("%d: %s, want %s", n, got, want)
		}
	}
}

// TestPositionAnnouncement: the second caller in line, hearing music on hold, is told
// "there are 2 calls waiting, thank you" every announce-frequency seconds; the head of the
// line hears nothing (announce-to-first-user=no).
func TestPositionAnnouncement(t *testing.T) {
	te := newTestEnv(t, "[q]\nannounce-frequency = 1\nmember => SIP/nobody\n", Deps{})
	te.devs.mu.Lock()
	te.devs.m["SIP/nobody"] = state.Unavailable
	te.devs.mu.Unlock()
	MusicOnHold = func(ctx context.Context, ch *dialplan.Channel, class string) error {
		if l := ch.Leg(); l != nil && l.State() != channel.Up {
			l.Answer(ctx)
		}
		<-ctx.Done()
		return nil
	}
	defer func() { MusicOnHold = nil }()
	cfg := media.DefaultConfig()
	cfg.RTPStart, cfg.RTPEnd = 33000+2*(os.Getpid()%4000), 33000+2*(os.Getpid()%4000)+400
	med := media.NewEngine(cfg, nil)
	defer med.Close()
	reg := channel.NewRegistry(nil)
	te.dp.SetChannels(reg)
	dir := t.TempDir()
	for _, n := range []string{"queue-thereare", "digits/2", "queue-callswaiting", "queue-thankyou", "queue-youarenext"} {
		p := filepath.Join(dir, "en", n+".ulaw")
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, make([]byte, 1600), 0o644) // 10 packets each
	}
	te.dp.SetSoundsDir(dir)
	cfgX, _ := conf.Parse("extensions.conf", []byte("[t]\nexten => 1,1,Queue(q,,,,2)\n"), conf.Options{})
	te.dp.Load(cfgX)
	first, firstTech := channeltest.NewIncoming(t, reg, channeltest.Options{Peer: "first", Context: "t", Exten: "1", Media: med})
	done1 := make(chan error, 1)
	go func() { done1 <- te.dp.RunChannel(t.Context(), first) }()
	for te.read("QUEUE_WAITING_COUNT(q)") != "1" {
		time.Sleep(5 * time.Millisecond)
	}
	second, tech := channeltest.NewIncoming(t, reg, channeltest.Options{Peer: "second", Context: "t", Exten: "1", Media: med})
	done2 := make(chan error, 1)
	go func() { done2 <- te.dp.RunChannel(t.Context(), second) }()
	wait(t, done1)
	wait(t, done2)
	if got := tech.Phone.Received(); got < 35 {
		t.Errorf("the second caller got %d packets, want the 4 files (40)", got)
	}
	if got := firstTech.Phone.Received(); got != 0 {
		t.Errorf("the head of the line got %d packets of announcements", got)
	}
}
