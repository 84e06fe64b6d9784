package moh

import (
	"context"
	"math/rand/v2"
	"net"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/channel"
	"github.com/pleiades-pbx/pleiades/internal/media"
	"github.com/pleiades-pbx/pleiades/internal/media/sdp"
)

// packet is one RTP packet a listener received.
type packet struct {
	at     time.Time
	first  byte // the payload's first byte: which file it came from
	marker bool
	ts     uint32
}

// listener is the far end of a leg: it records the RTP it receives.
type listener struct {
	conn *net.UDPConn
	mu   sync.Mutex
	pkts []packet
}

func newListener(t testing.TB) *listener {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	l := &listener{conn: c}
	done := make(chan struct{})
	t.Cleanup(func() { c.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			if n <= 12 {
				continue
			}
			l.mu.Lock()
			l.pkts = append(l.pkts, packet{at: time.Now(), first: buf[12], marker: buf[1]&0x80 != 0,
				ts: uint32(buf[4])<<24 | uint32(buf[5])<<16 | uint32(buf[6])<<8 | uint32(buf[7])})
			l.mu.Unlock()
		}
	}()
	return l
}

func (l *listener) packets() []packet {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]packet(nil), l.pkts...)
}

func (l *listener) addr() netip.AddrPort { return l.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// tech is a call leg's technology side with a real RTP session sending to a listener.
type tech struct {
	s  *media.Session
	mu sync.Mutex
	in []channel.Condition
}

func (t *tech) Call(context.Context) error   { return nil }
func (t *tech) Answer(context.Context) error { return nil }
func (t *tech) Indicate(c channel.Condition) error {
	t.mu.Lock()
	t.in = append(t.in, c)
	t.mu.Unlock()
	return nil
}
func (t *tech) SendDigit(rune, time.Duration) error { return nil }
func (t *tech) Media() *media.Session               { return t.s }
func (t *tech) Hangup(channel.Cause)                { t.s.Close() }

func (t *tech) indications() []channel.Condition {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]channel.Condition(nil), t.in...)
}

func mediaEngine(t testing.TB) *media.Engine {
	cfg := media.DefaultConfig()
	cfg.RTPStart = 42000 + 2*rand.IntN(5000)
	cfg.RTPEnd = cfg.RTPStart + 200
	e := media.NewEngine(cfg, nil)
	t.Cleanup(func() { e.Close() })
	return e
}

// newLeg makes a channel of reg whose media goes to a new listener, µ-law.
func newLeg(t testing.TB, reg *channel.Registry, med *media.Engine, name string, state channel.State) (*channel.Channel, *listener, *tech) {
	t.Helper()
	l := newListener(t)
	s, err := med.NewSession(media.SessionOptions{LocalIP: netip.MustParseAddr("127.0.0.1"), Name: name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.SetRemote(sdp.Negotiated{Remote: l.addr(), Codec: sdp.PCMU, Codecs: []sdp.Codec{sdp.PCMU}}); err != nil {
		t.Fatal(err)
	}
	tc := &tech{s: s}
	ch := reg.New(channel.Options{Name: reg.NewName("SIP", name), Tech: tc, Device: "SIP/" + name})
	ch.SetState(state)
	t.Cleanup(func() { ch.Hangup(channel.CauseNormalClearing) })
	return ch, l, tc
}

// ulawClass makes a class of two µ-law files of n samples each, "a" all 0x11 and "b" all
// 0x22, played a then b.
func ulawClass(t testing.TB, name string, n int, extra string) (*Registry, string) {
	t.Helper()
	d := t.TempDir()
	one := make([]byte, n)
	two := make([]byte, n)
	for i := range one {
		one[i], two[i] = 0x11, 0x22
	}
	writeFile(t, filepath.Join(d, "moh", "a.ulaw"), one)
	writeFile(t, filepath.Join(d, "moh", "b.ulaw"), two)
	c, warns := parseText(t, "["+name+"]\nmode=files\ndirectory=moh\nsort=alpha\n"+extra, d)
	if len(warns) != 0 {
		t.Fatal(warns)
	}
	r := New(nil)
	r.Apply(c)
	t.Cleanup(r.Close)
	return r, d
}

func waitUntil(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStreamPacedAndLoops: a class of two 0.4 s files plays a, b, a, b... in 20 ms packets
// sent in real time (not in a burst), with timestamps 160 apart within a file, and stops
// when asked.
func TestStreamPacedAndLoops(t *testing.T) {
	r, _ := ulawClass(t, "default", 3200, "")
	reg := channel.NewRegistry(nil)
	leg, l, _ := newLeg(t, reg, mediaEngine(t), "alice", channel.Up)
	start := time.Now()
	if err := r.StartMOH(leg, ""); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "90 packets", func() bool { return len(l.packets()) >= 90 })
	elapsed := time.Since(start)
	r.StopMOH(leg)
	if r.Playing() != 0 {
		t.Errorf("Playing() = %d after StopMOH", r.Playing())
	}
	pk := l.packets()
	// 90 packets are 1.8 s of audio: sent in real time they take about that long.
	if elapsed < 1500*time.Millisecond {
		t.Errorf("90 packets in %v: not paced", elapsed)
	}
	// The files in order, 20 packets each: a a ... b b ... a ... (the loop).
	var runs []byte
	for i, p := range pk {
		if i == 0 || p.first != pk[i-1].first {
			runs = append(runs, p.first)
		}
		// 160 a packet; from one file to the next the session's clock may add what passed.
		if i > 0 && (p.ts-pk[i-1].ts < 160 || p.ts-pk[i-1].ts > 2000 || p.first == pk[i-1].first && p.ts-pk[i-1].ts != 160) {
			t.Fatalf("packet %d: timestamp step %d", i, p.ts-pk[i-1].ts)
		}
	}
	if len(runs) < 4 || runs[0] != 0x11 || runs[1] != 0x22 || runs[2] != 0x11 || runs[3] != 0x22 {
		t.Fatalf("file order %x, want 11 22 11 22...", runs)
	}
	count := 0
	for _, p := range pk {
		if p.first == 0x22 {
			count++
		} else if count > 0 {
			break
		}
	}
	if count != 20 {
		t.Errorf("file b played %d packets, want 20", count)
	}
	// Nothing after the stop.
	n := len(l.packets())
	time.Sleep(200 * time.Millisecond)
	if m := len(l.packets()); m > n+1 {
		t.Errorf("%d packets after StopMOH", m-n)
	}
}

// TestStreamResumes: music stopped and started again on the same channel goes on in the
// file it was in (res_musiconhold keeps a channel's place), not from the class's start.
func TestStreamResumes(t *testing.T) {
	r, _ := ulawClass(t, "default", 8000, "") // 1 s files
	reg := channel.NewRegistry(nil)
	leg, l, _ := newLeg(t, reg, mediaEngine(t), "alice", channel.Up)
	if err := r.StartMOH(leg, ""); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "60 packets", func() bool { return len(l.packets()) >= 60 }) // into b
	r.StopMOH(leg)
	n := len(l.packets())
	if err := r.StartMOH(leg, ""); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "more packets", func() bool { return len(l.packets()) >= n+5 })
	r.StopMOH(leg)
	if p := l.packets()[n]; p.first != 0x22 {
		t.Errorf("after the restart the music began with %x, want file b (22) where it stopped", p.first)
	}
}

// TestClassChoice: the class asked for, the channel's own, "default", as ast_moh_start; an
// unknown class falls through with a warning; no class at all is ErrNoClass.
func TestClassChoice(t *testing.T) {
	d := t.TempDir()
	writeFile(t, filepath.Join(d, "moh", "a.ulaw"), make([]byte, 800))
	writeFile(t, filepath.Join(d, "jazz", "j.ulaw"), make([]byte, 800))
	text := "[default]\nmode=files\ndirectory=moh\n[jazz]\nmode=files\ndirectory=jazz\n[rock]\nmode=files\ndirectory=jazz\n"
	reg := channel.NewRegistry(nil)
	leg, _, _ := newLeg(t, reg, mediaEngine(t), "alice", channel.Up)
	for _, tt := range []struct {
		prefer       bool
		own, asked   string
		app, started string
	}{
		{true, "", "", "default", "default"},
		{true, "jazz", "", "jazz", "jazz"},
		{true, "jazz", "rock", "jazz", "rock"}, // preferchannelclass: the channel's class wins for an application; Dial's m(class) forces its own
		{false, "jazz", "rock", "rock", "rock"},
		{true, "nosuch", "", "default", "default"},
		{true, "", "nosuch", "default", "default"},
	} {
		extra := ""
		if !tt.prefer {
			extra = "[general]\npreferchannelclass=no\n"
		}
		c, _ := parseText(t, extra+text, d)
		r := New(nil)
		r.Apply(c)
		leg.SetMusicClass(tt.own)
		got, err := r.appClass(leg, tt.asked)
		if err != nil || got.Name != tt.app {
			t.Errorf("%+v: application class %v, %v", tt, got, err)
		}
		if err := r.StartMOH(leg, tt.asked); err != nil {
			t.Fatal(err)
		}
		r.mu.Lock()
		p := r.playing[leg]
		r.mu.Unlock()
		if p == nil || p.class != tt.started {
			t.Errorf("%+v: StartMOH played %+v", tt, p)
		}
		r.Close()
	}
	r := New(nil)
	if err := r.StartMOH(leg, ""); err != ErrNoClass {
		t.Errorf("no classes: %v", err)
	}
}

// TestAnsweredOnlyAndEarlyMedia: an unanswered channel gets progress (SIP 183) before the
// music, unless the class is answeredonly, which refuses it.
func TestAnsweredOnlyAndEarlyMedia(t *testing.T) {
	r, _ := ulawClass(t, "default", 800, "")
	reg := channel.NewRegistry(nil)
	leg, l, tc := newLeg(t, reg, mediaEngine(t), "alice", channel.Ring)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := r.PlayLeg(ctx, leg, ""); err != nil {
		t.Fatal(err)
	}
	if in := tc.indications(); len(in) == 0 || in[0] != channel.CondProgress {
		t.Errorf("indications %v, want Progress first", in)
	}
	if len(l.packets()) < 5 {
		t.Errorf("%d packets in 300 ms", len(l.packets()))
	}
	r2, _ := ulawClass(t, "default", 800, "answeredonly=yes\n")
	if err := r2.StartMOH(leg, ""); err != ErrNotAnswered {
		t.Errorf("answeredonly on a ringing channel: %v", err)
	}
}

// TestHangupEndsMusic: the leg's hangup stops its music, and Close waits for every player.
func TestHangupEndsMusic(t *testing.T) {
	r, _ := ulawClass(t, "default", 800, "")
	reg := channel.NewRegistry(nil)
	leg, _, _ := newLeg(t, reg, mediaEngine(t), "alice", channel.Up)
	if err := r.StartMOH(leg, ""); err != nil {
		t.Fatal(err)
	}
	leg.HungUp(channel.CauseNormalClearing)
	waitUntil(t, 2*time.Second, "the player to end", func() bool { return r.Playing() == 0 })
	leg2, _, _ := newLeg(t, reg, mediaEngine(t), "bob", channel.Up)
	if err := r.StartMOH(leg2, ""); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if r.Playing() != 0 {
		t.Error("Close left a player")
	}
	if err := r.StartMOH(leg2, ""); err != ErrClosed {
		t.Errorf("start after Close: %v", err)
	}
}

// TestConcurrentStartsOnePlayer: starts racing on one channel leave one player sending (50
// packets a second, not a multiple).
func TestConcurrentStartsOnePlayer(t *testing.T) {
	r, _ := ulawClass(t, "default", 8000, "")
	reg := channel.NewRegistry(nil)
	leg, l, _ := newLeg(t, reg, mediaEngine(t), "alice", channel.Up)
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.StartMOH(leg, ""); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	time.Sleep(200 * time.Millisecond)
	n := len(l.packets())
	time.Sleep(time.Second)
	if got := len(l.packets()) - n; got < 35 || got > 65 {
		t.Errorf("%d packets in a second after 10 concurrent starts", got)
	}
	if r.Playing() != 1 {
		t.Errorf("%d players", r.Playing())
	}
	r.StopMOH(leg)
	if r.Playing() != 0 {
		t.Errorf("%d players after StopMOH", r.Playing())
	}
}
