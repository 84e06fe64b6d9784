package cel

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/ami"
	"github.com/pleiades-pbx/pleiades/internal/channel"
	"github.com/pleiades-pbx/pleiades/internal/channel/channeltest"
	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/dialplan"
)

type amiLog struct {
	mu  sync.Mutex
	evs []ami.Event
}

func (a *amiLog) Publish(ev ami.Event) {
	a.mu.Lock()
	a.evs = append(a.evs, ev)
	a.mu.Unlock()
}

func field(ev ami.Event, key string) string {
	for _, f := range ev.Fields {
		if f.Key == key {
			return f.Value
		}
	}
	return ""
}

func parse(t *testing.T, text string) Settings {
	t.Helper()
	cfg, err := conf.Parse("cel.conf", []byte(text), conf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseSettings(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A Dial answered and hung up: the CEL events Asterisk sends, in a consistent order, as AMI
// CEL events; apps= limits APP_START/APP_END to Dial.
func TestCELOfADial(t *testing.T) {
	dp := dialplan.New(nil, nil)
	defer dp.Close()
	cfg, _ := conf.Parse("extensions.conf", []byte("[c]\nexten => 200,1,NoOp(first)\n same => n,Dial(SIP/bob,20)\n"), conf.Options{})
	if err := dp.Load(cfg); err != nil {
		t.Fatal(err)
	}
	reg := channel.NewRegistry(nil)
	dp.SetChannels(reg)
	drv := &channeltest.Driver{TB: t, Peers: map[string]func(*channeltest.Tech){"bob": func(t *channeltest.Tech) {
		t.Ring()
		t.AnswerFar()
		time.Sleep(30 * time.Millisecond)
		t.HangUpFar(channel.CauseNormalClearing)
	}}}
	reg.RegisterDriver(drv)
	e := New(parse(t, "[general]\nenable=yes\napps=dial\nevents=ALL\ndateformat=%F %T\n[manager]\nenabled=yes\n"))
	reg.Subscribe(e.Handle)
	dp.OnApp(e.App)
	log := &amiLog{}
	e.AddSink(ManagerSink(log, func() string { return e.Settings().DateFormat }))
	leg, _ := channeltest.NewIncoming(t, reg, channeltest.Options{Peer: "alice", Context: "c", Exten: "200", CallerID: [2]string{"100", "Alice"}})
	dp.RunChannel(t.Context(), leg)
	deadline := time.Now().Add(10 * time.Second)
	for reg.Count() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	var seq []string
	for _, ev := range log.evs {
		if ev.Name != "CEL" {
			t.Fatalf("event %s", ev.Name)
		}
		ch := field(ev, "Channel")
		ch = ch[:strings.LastIndexByte(ch, '-')]
		seq = append(seq, field(ev, "EventName")+" "+ch)
		if _, err := time.Parse("2006-01-02 15:04:05", field(ev, "EventTime")); err != nil {
			t.Errorf("EventTime %q", field(ev, "EventTime"))
		}
		if field(ev, "LinkedID") != leg.UniqueID() {
			t.Errorf("%s: linkedid %q, want %q", field(ev, "EventName"), field(ev, "LinkedID"), leg.UniqueID())
		}
	}
	pos := func(s string) int {
		i := slices.Index(seq, s)
		if i < 0 {
			t.Fatalf("no %q in %v", s, seq)
		}
		return i
	}
	if seq[0] != "CHAN_START SIP/alice" || seq[len(seq)-1] != "LINKEDID_END SIP/alice" {
		t.Fatalf("first/last: %v", seq)
	}
	if !(pos("APP_START SIP/alice") < pos("CHAN_START SIP/bob") && pos("ANSWER SIP/bob") < pos("ANSWER SIP/alice") &&
		pos("HANGUP SIP/bob") < pos("CHAN_END SIP/bob") && pos("APP_END SIP/alice") < pos("HANGUP SIP/alice") &&
		pos("HANGUP SIP/alice") < pos("CHAN_END SIP/alice")) {
		t.Fatalf("order: %v", seq)
	}
	if n := strings.Count(strings.Join(seq, ","), "APP_START"); n != 1 {
		t.Fatalf("%d APP_START (only Dial is watched): %v", n, seq)
	}
}

// With CEL off (the default) the engine follows no channel, so a call pays nothing for it;
// a reload that turns it on gives the next call all its events.
func TestCELOffFollowsNothing(t *testing.T) {
	dp := dialplan.New(nil, nil)
	defer dp.Close()
	cfg, _ := conf.Parse("extensions.conf", []byte("[c]\nexten => 200,1,Answer()\n same => n,Hangup()\n"), conf.Options{})
	if err := dp.Load(cfg); err != nil {
		t.Fatal(err)
	}
	reg := channel.NewRegistry(nil)
	dp.SetChannels(reg)
	reg.RegisterDriver(&channeltest.Driver{TB: t})
	e := New(parse(t, "[general]\nenable=no\nevents=ALL\napps=all\n"))
	reg.Subscribe(e.Handle)
	dp.OnApp(e.App)
	log := &amiLog{}
	e.AddSink(ManagerSink(log, func() string { return "" }))
	call := func() {
		leg, _ := channeltest.NewIncoming(t, reg, channeltest.Options{Peer: "alice", Context: "c", Exten: "200"})
		dp.RunChannel(t.Context(), leg)
		for deadline := time.Now().Add(5 * time.Second); reg.Count() > 0 && time.Now().Before(deadline); {
			time.Sleep(2 * time.Millisecond)
		}
	}
	call()
	// a channel that is up: nothing kept for it either
	e.Handle(channel.Event{Kind: channel.EventNewchannel, Channel: channel.Snapshot{UniqueID: "1.1", LinkedID: "1.1"}})
	e.mu.Lock()
	followed := len(e.snaps) + len(e.app) + len(e.linked)
	e.mu.Unlock()
	log.mu.Lock()
	n := len(log.evs)
	log.mu.Unlock()
	if followed != 0 || n != 0 {
		t.Fatalf("CEL off: %d channels followed, %d events", followed, n)
	}
	e.SetSettings(parse(t, "[general]\nenable=yes\nevents=ALL\napps=all\n"))
	call()
	log.mu.Lock()
	defer log.mu.Unlock()
	var seq []string
	for _, ev := range log.evs {
		seq = append(seq, field(ev, "EventName"))
	}
	if len(seq) == 0 || seq[0] != "CHAN_START" || seq[len(seq)-1] != "LINKEDID_END" || !slices.Contains(seq, "APP_START") {
		t.Fatalf("CEL on after a reload: %v", seq)
	}
}

func TestSettingsAndTime(t *testing.T) {
	cfg, _ := conf.Parse("cel.conf", []byte("[general]\nenable=maybe\nevents=CHAN_START,NOPE\n"), conf.Options{})
	_, err := ParseSettings(cfg)
	if err == nil || !strings.Contains(err.Error(), "cel.conf:2: ") || !strings.Contains(err.Error(), "cel.conf:3: unknown event \"NOPE\"") {
		t.Fatalf("error %v", err)
	}
	tm := time.Date(2026, 12, 7, 4, 5, 6, 123456000, time.UTC)
	if got := FormatTime(tm, ""); got != "1796616306.123456" {
		t.Fatalf("default time %q", got)
	}
	if got := FormatTime(tm, "%F %T %%"); got != "2026-12-07 04:05:06 %" {
		t.Fatalf("dateformat %q", got)
	}
}
