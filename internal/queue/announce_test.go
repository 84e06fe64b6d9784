package queue

import (
	"context"
	"fmt"
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

func TestHoldEstimate(t *testing.T) {
	for _, c := range []struct{ avg, waited, round, mins, secs int }{
		{0, 0, 0, 0, 0},       // no history, just joined: nothing to say
		{0, 89, 0, 0, 0},      // (30-89)/60 is 0 toward zero
		{0, 90, 0, 1, 0},      // waited past the estimate: |(30-90)/60| = 1
		{300, 10, 0, 5, 0},    // 320 s: 5 minutes
		{300, 10, 5, 5, 20},   // and 20 seconds
		{300, 10, 30, 5, 0},   // 20 s rounds down to 0
		{100, 0, 15, 2, 0},    // 130 s: 2 minutes, 10 s rounds to 0
		{100, 0, 10, 2, 10},   // 2 minutes 10 seconds
		{40, 0, 20, 1, 0},     // 70 s
		{20, 0, 20, 0, 40},    // 50 s: no minute, 40 seconds
		{0, 200, 20, 2, 40},   // 170 s past: Asterisk says it as it were ahead
		{59, 0, 0, 1, 0},      // 89 s
		{600, 600, 0, 0, 0},   // exactly the estimate: 30 s left
		{600, 600, 30, 0, 30}, // said with rounding
	} {
		m, s := holdEstimate(c.avg, c.waited, c.round)
		if m != c.mins || s != c.secs {
			t.Errorf("avg %d waited %d round %d: %d min %d s, want %d min %d s", c.avg, c.waited, c.round, m, s, c.mins, c.secs)
		}
	}
}

// TestPositionFiles: the files of one announcement, in say_position's order, for each
// announce-position mode, the hold time (yes, once, rounding) and empty sound names.
func TestPositionFiles(t *testing.T) {
	for _, c := range []struct {
		name     string
		conf     string
		pos      int
		avg      int
		waited   int
		notFirst bool
		want     string
	}{
		{"next", "", 1, 0, 0, false, "queue-youarenext queue-thankyou"},
		{"next skips hold time", "announce-holdtime=yes", 1, 300, 0, false, "queue-youarenext queue-thankyou"},
		{"there are", "", 3, 0, 0, false, "queue-thereare digits/3 queue-callswaiting queue-thankyou"},
		{"there are 42", "", 42, 0, 0, false, "queue-thereare digits/40 digits/2 queue-callswaiting queue-thankyou"},
		{"no position", "announce-position=no", 3, 0, 0, false, ""},
		{"no position, hold time without thanks", "announce-position=no\nannounce-holdtime=yes", 3, 300, 10, false,
			"queue-holdtime digits/5 queue-minutes"},
		{"limit within", "announce-position=limit\nannounce-position-limit=5", 5, 0, 0, false,
			"queue-thereare digits/5 queue-callswaiting queue-thankyou"},
		{"limit beyond", "announce-position=limit\nannounce-position-limit=5", 6, 0, 0, false, ""},
		{"limit beyond, hold time", "announce-position=limit\nannounce-position-limit=5\nannounce-holdtime=yes", 6, 100, 0, false,
			"queue-holdtime digits/2 queue-minutes"},
		{"more within", "announce-position=more\nannounce-position-limit=5", 4, 0, 0, false,
			"queue-thereare digits/4 queue-callswaiting queue-thankyou"},
		{"more beyond", "announce-position=more\nannounce-position-limit=5", 12, 0, 0, false,
			"queue-quantity1 digits/5 queue-quantity2 queue-thankyou"},
		{"more default limit 10", "announce-position=more", 11, 0, 0, false,
			"queue-quantity1 digits/10 queue-quantity2 queue-thankyou"},
		{"hold time", "announce-holdtime=yes", 2, 300, 10, false,
			"queue-thereare digits/2 queue-callswaiting queue-holdtime digits/5 queue-minutes queue-thankyou"},
		{"one minute", "announce-holdtime=yes", 2, 40, 0, false,
			"queue-thereare digits/2 queue-callswaiting queue-holdtime digits/1 queue-minute queue-thankyou"},
		{"minutes and seconds", "announce-holdtime=yes\nannounce-round-seconds=10", 2, 100, 0, false,
			"queue-thereare digits/2 queue-callswaiting queue-holdtime digits/2 queue-minutes digits/10 queue-seconds queue-thankyou"},
		{"seconds only", "announce-holdtime=yes\nannounce-round-seconds=20", 2, 20, 0, false,
			"queue-thereare digits/2 queue-callswaiting queue-holdtime digits/40 queue-seconds queue-thankyou"},
		{"nothing to say of the hold time", "announce-holdtime=yes", 2, 0, 0, false,
			"queue-thereare digits/2 queue-callswaiting queue-thankyou"},
		{"once, first", "announce-holdtime=once", 2, 300, 0, false,
			"queue-thereare digits/2 queue-callswaiting queue-holdtime digits/5 queue-minutes queue-thankyou"},
		{"once, later", "announce-holdtime=once", 2, 300, 0, true, "queue-thereare digits/2 queue-callswaiting queue-thankyou"},
		{"own sounds, no thanks", "queue-thereare=custom/there\nqueue-callswaiting=custom/waiting\nqueue-thankyou=", 2, 0, 0, false,
			"custom/there digits/2 custom/waiting"},
		{"own hold sounds", "announce-holdtime=yes\nqueue-holdtime=h\nqueue-minutes=m\nqueue-minute=m1\nqueue-seconds=s\nannounce-round-seconds=5\nannounce-position=no",
			2, 40, 0, false, "h digits/1 m1 digits/10 s"},
		{"own quantity sounds", "announce-position=more\nannounce-position-limit=2\nqueue-quantity1=q1\nqueue-quantity2=q2", 3, 0, 0, false,
			"q1 digits/2 q2 queue-thankyou"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := parseString(t, "[q]\n"+c.conf+"\n")
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(positionFiles(cfg.Queue("q"), c.pos, c.avg, c.waited, !c.notFirst), " ")
			if got != c.want {
				t.Errorf("got  %q\nwant %q", got, c.want)
			}
		})
	}
}

func TestParseAnnouncements(t *testing.T) {
	cfg, err := parseString(t, `[q]
announce-position = more
announce-position-limit = 3
announce-position-only-up = yes
min-announce-frequency = 20
announce-holdtime = once
announce-round-seconds = 15
`)
	if err != nil {
		t.Fatal(err)
	}
	q := cfg.Queue("q")
	if q.AnnouncePosition != PositionMore || q.AnnouncePositionLimit != 3 || !q.AnnouncePositionOnlyUp || q.MinAnnounceFrequency != 20 ||
		q.AnnounceHoldtime != HoldtimeOnce || q.RoundSeconds != 15 {
		t.Errorf("%+v", q)
	}
	d, _ := parseString(t, "[d]\n")
	if q := d.Queue("d"); q.AnnouncePosition != PositionYes || q.AnnouncePositionLimit != 10 || q.MinAnnounceFrequency != 15 || q.AnnounceHoldtime != HoldtimeNo {
		t.Errorf("defaults: %+v", q)
	}
	for _, bad := range []string{
		"announce-position = sometimes", "announce-holdtime = twice", "announce-round-seconds = 7",
		"announce-position-limit = -1", "min-announce-frequency = x",
	} {
		_, err := parseString(t, "[q]\n"+bad+"\n")
		if err == nil || !strings.Contains(err.Error(), "queues.conf:2") {
			t.Errorf("%s: %v, want an error at queues.conf:2", bad, err)
		}
	}
}

// TestPositionDue: when say_position would speak, on a clock moved by hand: at once on
// joining, then not before min-announce-frequency even when the place changed, then on a
// change, else every announce-frequency; only-up; the head of the line after a retry period.
func TestPositionDue(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	te := newTestEnv(t, "[q]\nannounce-frequency=60\nmin-announce-frequency=15\nretry=5\n[up]\nannounce-frequency=60\nmin-announce-frequency=0\nannounce-position-only-up=yes\n", Deps{Now: func() time.Time { return now }})
	MusicOnHold = func(ctx context.Context, ch *dialplan.Channel, class string) error { return nil }
	defer func() { MusicOnHold = nil }()
	mk := func(qname string, n int) (*Queue, []*waiter) {
		q, err := te.e.queue(t.Context(), qname)
		if err != nil {
			t.Fatal(err)
		}
		var ws []*waiter
		for range n {
			c := &Caller{Joined: now}
			q.callers = append(q.callers, c)
			ws = append(ws, &waiter{e: te.e, q: q, c: c})
		}
		return q, ws
	}
	say := func(w *waiter) { w.lastPos, w.lastPosSaid = now, placeOf(w) }
	q, ws := mk("q", 3)
	w := ws[2]
	step := func(d time.Duration, want bool, why string) {
		t.Helper()
		now = now.Add(d)
		if got := w.positionDue(now); got != want {
			t.Errorf("%s: due %v, want %v", why, got, want)
		}
		if want {
			say(w)
		}
	}
	step(0, true, "joined")
	step(time.Second, false, "just said")
	q.callers = q.callers[1:] // moved up to 2
	step(10*time.Second, false, "moved, within min-announce-frequency")
	step(5*time.Second, true, "moved, min-announce-frequency passed")
	step(30*time.Second, false, "same place, within announce-frequency")
	step(30*time.Second, true, "announce-frequency passed")

	// The head of the line: only after a retry period as the head.
	q.callers = q.callers[1:]
	step(60*time.Second, false, "just became the head")
	step(5*time.Second, true, "the head for a retry period")

	// only-up: a place no better than the last one said is not said.
	_, ups := mk("up", 3)
	w = ups[2]
	step(0, true, "joined (only-up)")
	step(61*time.Second, false, "same place after announce-frequency (only-up)")
	ups[0].q.callers = ups[0].q.callers[1:]
	step(time.Second, true, "moved up (only-up)")
}

func placeOf(w *waiter) int {
	for i, c := range w.q.callers {
		if c == w.c {
			return i + 1
		}
	}
	return 0
}

// TestConnectAnnouncements: once bob answers, before the bridge, bob's phone hears the
// queue's announce (or Queue()'s announceoverride instead) and queue-reporthold (a wait
// under two seconds says no number), and the caller hears queue-callerannounce: counted in
// RTP packets of files of distinct lengths.
func TestConnectAnnouncements(t *testing.T) {
	dir := t.TempDir()
	for n, packets := range map[string]int{"mem-ann": 50, "over-ann": 20, "queue-reporthold": 10, "caller-ann": 10} {
		p := filepath.Join(dir, "en", n+".ulaw")
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, make([]byte, 160*packets), 0o644)
	}
	for _, c := range []struct {
		name           string
		args           string
		member, caller [2]int // packets bob's and the caller's phones get, at least and at most
	}{
		{"announce", "q,r", [2]int{55, 62}, [2]int{8, 12}},
		{"announceoverride", "q,r,,over-ann", [2]int{25, 32}, [2]int{8, 12}},
	} {
		t.Run(c.name, func(t *testing.T) {
			te := newTestEnv(t, "[q]\nannounce = mem-ann\nreportholdtime = yes\nqueue-callerannounce = caller-ann\nmember => SIP/bob\n", Deps{})
			cfg := media.DefaultConfig()
			cfg.RTPStart, cfg.RTPEnd = 35000+2*(os.Getpid()%3000), 35000+2*(os.Getpid()%3000)+400
			med := media.NewEngine(cfg, nil)
			defer med.Close()
			reg := channel.NewRegistry(nil)
			te.dp.SetChannels(reg)
			te.dp.SetSoundsDir(dir)
			var bob *channeltest.Tech
			reg.RegisterDriver(&channeltest.Driver{TB: t, Media: med, Peers: map[string]func(*channeltest.Tech){
				"bob": func(tt *channeltest.Tech) {
					bob = tt
					tt.Ring()
					tt.AnswerFar()
					time.Sleep(2500 * time.Millisecond)
					tt.HangUpFar(channel.CauseNormalClearing)
				},
			}})
			x, _ := conf.Parse("extensions.conf", []byte("[t]\nexten => 1,1,Queue("+c.args+")\n"), conf.Options{})
			te.dp.Load(x)
			leg, tech := channeltest.NewIncoming(t, reg, channeltest.Options{Peer: "alice", Context: "t", Exten: "1", Media: med})
			done := make(chan error, 1)
			go func() { done <- te.dp.RunChannel(t.Context(), leg) }()
			wait(t, done)
			if got := bob.Phone.Received(); got < c.member[0] || got > c.member[1] {
				t.Errorf("bob's phone got %d packets, want %d to %d", got, c.member[0], c.member[1])
			}
			if got := tech.Phone.Received(); got < c.caller[0] || got > c.caller[1] {
				t.Errorf("the caller's phone got %d packets, want %d to %d", got, c.caller[0], c.caller[1])
			}
		})
	}
}

func TestReportHoldFiles(t *testing.T) {
	cfg := defaultQueue("q", General{})
	for hold, want := range map[int]string{0: "", 1: "", 2: "digits/2 queue-seconds", 60: "digits/1 queue-minutes",
		61: "digits/1 queue-minutes", 125: "digits/2 queue-minutes digits/5 queue-seconds"} {
		if got := strings.Join(reportHoldFiles(&cfg, hold), " "); got != want {
			t.Errorf("%d s: %q, want %q", hold, got, want)
		}
	}
}

// TestPeriodicAnnounceTiming: the next periodic announcement is due periodic-announce-frequency
// seconds after this one began, or after it ended with relative-periodic-announce (the clock
// moves 7 s at each reading: the file "plays" 7 s); files go in turn, or at random with
// random-periodic-announce.
func TestPeriodicAnnounceTiming(t *testing.T) {
	for _, c := range []struct {
		conf   string
		next   time.Duration // after the announcement began
		random bool
	}{
		{"", 30 * time.Second, false},
		{"relative-periodic-announce = yes", 37 * time.Second, false},
		{"random-periodic-announce = yes", 30 * time.Second, true},
	} {
		var mu sync.Mutex
		clock := time.Unix(1_700_000_000, 0)
		te := newTestEnv(t, "[q]\nperiodic-announce = a,b,c\nperiodic-announce-frequency = 30\n"+c.conf+"\n", Deps{Now: func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			now := clock
			clock = clock.Add(7 * time.Second)
			return now
		}})
		te.e.rnd = newRand(7)
		q, err := te.e.queue(t.Context(), "q")
		if err != nil {
			t.Fatal(err)
		}
		w := &waiter{e: te.e, q: q, c: &Caller{}, ch: te.dp.NewChannel("Console/dsp", "t", "s", 1)}
		mu.Lock()
		began := clock
		mu.Unlock()
		w.announce(t.Context())
		if got := w.nextPeriodic.Sub(began); got != c.next {
			t.Errorf("%q: next announcement %v after this one began, want %v", c.conf, got, c.next)
		}
		var got []string
		te.e.mu.Lock()
		for range 12 {
			got = append(got, w.periodicFile())
		}
		te.e.mu.Unlock()
		seq := strings.Join(got, "")
		switch {
		case !c.random && seq != "bcabcabcabca":
			t.Errorf("%q: files in turn %s", c.conf, seq)
		case c.random && (seq == "bcabcabcabca" || strings.Count(seq, "a") == 0 || strings.Count(seq, "b") == 0 || strings.Count(seq, "c") == 0):
			t.Errorf("%q: files drawn %s", c.conf, seq)
		}
	}
}

// TestHoldAndTalkAverages: Asterisk's exponential averages, shown by "queue show" and said
// by announce-holdtime: each wait weighs a quarter from 0; the first talk time is taken
// whole, then each weighs a quarter.
func TestHoldAndTalkAverages(t *testing.T) {
	te := newTestEnv(t, "[q]\n", Deps{})
	q, err := te.e.queue(t.Context(), "q")
	if err != nil {
		t.Fatal(err)
	}
	te.e.mu.Lock()
	q.recordHold(100 * time.Second) // 25
	q.recordHold(100 * time.Second) // (75+100)/4 = 43
	q.completed = 1
	q.recordTalk(60 * time.Second) // 60
	q.completed = 2
	q.recordTalk(20 * time.Second) // (180+20)/4 = 50
	te.e.mu.Unlock()
	if out, _ := te.cli("queue show q"); !strings.Contains(out, "q has 0 calls (max unlimited) in 'ringall' strategy (43s holdtime, 50s talktime), W:0, C:2,") {
		t.Errorf("queue show q:\n%s", out)
	}
}

// TestAnnounceWhileRinging: with announce-to-first-user the head of the line, hearing music,
// is told "you are next, thank you" while bob's phone rings (and never answers); without it,
// nothing while members ring.
func TestAnnounceWhileRinging(t *testing.T) {
	MusicOnHold = func(ctx context.Context, ch *dialplan.Channel, class string) error {
		if l := ch.Leg(); l != nil && l.State() != channel.Up {
			l.Answer(ctx)
		}
		<-ctx.Done()
		return nil
	}
	defer func() { MusicOnHold = nil }()
	dir := t.TempDir()
	for _, n := range []string{"queue-youarenext", "queue-thankyou"} {
		p := filepath.Join(dir, "en", n+".ulaw")
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, make([]byte, 1600), 0o644) // 10 packets each
	}
	for _, c := range []struct {
		first bool
		min   int
		max   int
	}{{true, 17, 22}, {false, 0, 0}} {
		te := newTestEnv(t, fmt.Sprintf("[q]\ntimeout = 2\nannounce-frequency = 30\nannounce-to-first-user = %v\nmember => SIP/bob\n", c.first), Deps{})
		cfg := media.DefaultConfig()
		cfg.RTPStart, cfg.RTPEnd = 37000+2*(os.Getpid()%3000), 37000+2*(os.Getpid()%3000)+400
		med := media.NewEngine(cfg, nil)
		defer med.Close()
		reg := channel.NewRegistry(nil)
		te.dp.SetChannels(reg)
		te.dp.SetSoundsDir(dir)
		reg.RegisterDriver(&channeltest.Driver{TB: t, Media: med, Peers: map[string]func(*channeltest.Tech){
			"bob": func(tt *channeltest.Tech) { tt.Ring() },
		}})
		x, _ := conf.Parse("extensions.conf", []byte("[t]\nexten => 1,1,Queue(q,n)\n"), conf.Options{})
		te.dp.Load(x)
		leg, tech := channeltest.NewIncoming(t, reg, channeltest.Options{Peer: "alice", Context: "t", Exten: "1", Media: med})
		done := make(chan error, 1)
		go func() { done <- te.dp.RunChannel(t.Context(), leg) }()
		wait(t, done)
		if got := tech.Phone.Received(); got < c.min || got > c.max {
			t.Errorf("announce-to-first-user %v: the caller got %d packets while bob rang, want %d to %d", c.first, got, c.min, c.max)
		}
		if log := te.log(); !containsSuffix(log, "|q|SIP/bob|RINGNOANSWER|") {
			t.Errorf("bob did not ring:\n%s", strings.Join(log, "\n"))
		}
	}
}
