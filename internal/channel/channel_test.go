package channel

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/media"
	"github.com/pleiades-pbx/pleiades/internal/media/sdp"
)

// fakeTech records what the core asked of it.
type fakeTech struct {
	mu       sync.Mutex
	calls    []string
	hangups  int
	cause    Cause
	answerFn func() error
	sess     *media.Session
}

func (f *fakeTech) rec(s string) {
	f.mu.Lock()
	f.calls = append(f.calls, s)
	f.mu.Unlock()
}

func (f *fakeTech) Call(context.Context) error { f.rec("call"); return nil }
func (f *fakeTech) Answer(context.Context) error {
	f.rec("answer")
	if f.answerFn != nil {
		return f.answerFn()
	}
	return nil
}
func (f *fakeTech) Indicate(c Condition) error { f.rec("indicate " + c.String()); return nil }
func (f *fakeTech) SendDigit(d rune, _ time.Duration) error {
	f.rec("digit " + string(d))
	return nil
}
func (f *fakeTech) Media() *media.Session { return f.sess }
func (f *fakeTech) Hangup(c Cause) {
	f.mu.Lock()
	f.hangups++
	f.cause = c
	f.mu.Unlock()
}

func (f *fakeTech) log() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.calls, ",")
}

// recorder collects events as "Kind Channel State".
type recorder struct {
	mu  sync.Mutex
	evs []Event
}

func (r *recorder) add(e Event) {
	r.mu.Lock()
	r.evs = append(r.evs, e)
	r.mu.Unlock()
}

func (r *recorder) kinds() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b []string
	for _, e := range r.evs {
		b = append(b, e.Kind.String()+":"+e.Channel.State.String())
	}
	return strings.Join(b, " ")
}

func TestNamesAndUniqueIDs(t *testing.T) {
	r := NewRegistry(nil)
	if a, b := r.NewName("SIP", "alice"), r.NewName("SIP", "bob"); a != "SIP/alice-00000001" || b != "SIP/bob-00000002" {
		t.Fatalf("names %q %q", a, b)
	}
	if l := r.NewName("Local", "100@default"); l != "Local/100@default-00000001" {
		t.Fatalf("a technology has its own counter: %q", l)
	}
	u1, u2 := r.NewUniqueID(), r.NewUniqueID()
	if u1 == u2 || !strings.Contains(u1, ".") {
		t.Fatalf("unique IDs %q %q", u1, u2)
	}
}

func TestLifecycleEventsAndHangupOnce(t *testing.T) {
	r := NewRegistry(nil)
	var rec recorder
	cancel := r.Subscribe(rec.add)
	defer cancel()
	tech := &fakeTech{}
	ch := r.New(Options{Name: r.NewName("SIP", "alice"), Tech: tech, Device: "SIP/alice", CallerNum: "100", Context: "office", Exten: "200"})
	if ch.State() != Ring || ch.LinkedID() != ch.UniqueID() || r.Get(ch.Name()) != ch || r.Count() != 1 {
		t.Fatalf("new incoming channel: %v %q %q", ch.State(), ch.LinkedID(), ch.UniqueID())
	}
	if err := ch.Indicate(CondRinging); err != nil {
		t.Fatal(err)
	}
	if err := ch.Answer(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := ch.Answer(context.Background()); err != nil || strings.Count(tech.log(), "answer") != 1 {
		t.Fatalf("answering an Up channel again: %v %s", err, tech.log())
	}
	ch.Hangup(CauseNormalClearing)
	ch.Hangup(CauseUserBusy)
	if tech.hangups != 1 || tech.cause != CauseNormalClearing || ch.Cause() != CauseNormalClearing {
		t.Fatalf("hangups %d cause %v/%v", tech.hangups, tech.cause, ch.Cause())
	}
	select {
	case <-ch.Done():
	default:
		t.Fatal("Done not closed after Hangup")
	}
	if r.Count() != 0 || r.Get(ch.Name()) != nil {
		t.Fatal("hung-up channel still registered")
	}
	if got, want := rec.kinds(), "Newchannel:Down Newstate:Ring Newstate:Ringing Newstate:Up Hangup:Down"; got != want {
		t.Fatalf("events %q, want %q", got, want)
	}
	if err := ch.Answer(context.Background()); !errors.Is(err, ErrHungUp) {
		t.Fatalf("Answer after hangup: %v", err)
	}
}

func TestFarEndHangupAndFrames(t *testing.T) {
	r := NewRegistry(nil)
	tech := &fakeTech{}
	ch := r.New(Options{Name: "SIP/bob-00000001", Tech: tech, Outgoing: true})
	if ch.State() != Down {
		t.Fatalf("outgoing channel starts %v", ch.State())
	}
	ch.Queue(Frame{Kind: FrameRinging})
	ch.Queue(Frame{Kind: FrameAnswer})
	if ch.State() != Up {
		t.Fatalf("after answer frame: %v", ch.State())
	}
	if f := <-ch.Frames(); f.Kind != FrameRinging {
		t.Fatalf("first frame %v", f.Kind)
	}
	if f := <-ch.Frames(); f.Kind != FrameAnswer {
		t.Fatalf("second frame %v", f.Kind)
	}
	ch.HungUp(CauseUserBusy)
	<-ch.Done()
	if !ch.HungUpByFarEnd() || ch.Cause() != CauseUserBusy {
		t.Fatal("far-end hangup not recorded")
	}
	ch.Queue(Frame{Kind: FrameDTMFBegin, Digit: '1'}) // after the end: dropped, no panic
	ch.Hangup(CauseNormalClearing)
	if tech.hangups != 1 || tech.cause != CauseUserBusy {
		t.Fatalf("tech told %d times, cause %v", tech.hangups, tech.cause)
	}
}

func TestQueueNeverLosesAnAnswer(t *testing.T) {
	r := NewRegistry(nil)
	ch := r.New(Options{Name: "SIP/x-00000001", Outgoing: true})
	for range frameQueue * 2 {
		ch.Queue(Frame{Kind: FrameProgress})
	}
	ch.Queue(Frame{Kind: FrameAnswer})
	var last FrameKind
	for range len(ch.Frames()) {
		last = (<-ch.Frames()).Kind
	}
	if last != FrameAnswer {
		t.Fatalf("the answer was lost behind progress frames: last %v", last)
	}
}

func TestRequestHangupAndRequest(t *testing.T) {
	r := NewRegistry(nil)
	var rec recorder
	r.Subscribe(rec.add)
	ch := r.New(Options{Name: "SIP/y-00000001"})
	ch.RequestHangup(CauseNormalClearing)
	<-ch.Done()
	if ch.HungUpByFarEnd() {
		t.Fatal("a requested hangup is not the far end's")
	}
	if !strings.Contains(rec.kinds(), "HangupRequest") {
		t.Fatal("no HangupRequest event")
	}
	if _, err := r.Request(context.Background(), "IAX2/foo", nil); !errors.Is(err, ErrNoTech) || CauseOf(err) != CauseChannelUnavailable {
		t.Fatalf("unknown technology: %v (cause %v)", err, CauseOf(err))
	}
	if _, err := r.Request(context.Background(), "SIP", nil); CauseOf(err) != CauseChannelUnavailable {
		t.Fatalf("bad dial string: %v", err)
	}
}

func TestTexts(t *testing.T) {
	for s, want := range map[State]string{Down: "Down", Ring: "Ring", Ringing: "Ringing", Up: "Up", Busy: "Busy", State(42): "Unknown (42)"} {
		if s.String() != want {
			t.Errorf("%d: %q", int(s), s.String())
		}
	}
	if CauseNormalClearing.String() != "Normal Clearing" || CauseNormalClearing.Name() != "NORMAL_CLEARING" || Cause(999).Name() != "UNKNOWN" {
		t.Error("cause texts")
	}
}

// TestBridgeRelaysMediaAndEnds joins two channels whose techs have real RTP sessions: a
// packet from one phone reaches the other, hold passes across, and the bridge ends when one
// side hangs up.
func TestBridgeRelaysMediaAndEnds(t *testing.T) {
	cfg := media.DefaultConfig()
	cfg.RTPStart, cfg.RTPEnd = 42000, 42100
	eng := media.NewEngine(cfg, nil)
	defer eng.Close()
	phoneA, phoneB := udpPhone(t), udpPhone(t)
	sessA := session(t, eng, phoneA)
	sessB := session(t, eng, phoneB)
	r := NewRegistry(nil)
	var rec recorder
	r.Subscribe(rec.add)
	ta, tb := &fakeTech{sess: sessA}, &fakeTech{sess: sessB}
	a := r.New(Options{Name: "SIP/a-00000001", Tech: ta})
	b := r.New(Options{Name: "SIP/b-00000002", Tech: tb, Outgoing: true})
	br := r.NewBridge(a, b)
	done := make(chan *Channel, 1)
	go func() {
		first, err := br.Run(context.Background())
		if err != nil {
			t.Error(err)
		}
		done <- first
	}()
	waitUntil(t, func() bool { return a.Bridge() == br && b.Bridge() == br })
	// RTP: A's phone → session A → relay → session B → B's phone.
	pkt := []byte{0x80, 0x00, 0, 1, 0, 0, 0, 160, 0, 0, 0, 7}
	pkt = append(pkt, make([]byte, 160)...)
	buf := make([]byte, 1500)
	var got bool
	for i := 0; i < 20 && !got; i++ {
		phoneA.WriteToUDPAddrPort(pkt, loopbackOf(sessA))
		phoneB.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if n, _, err := phoneB.ReadFromUDPAddrPort(buf); err == nil && n == len(pkt) {
			got = true
		}
	}
	if !got {
		t.Fatal("no RTP relayed from A to B")
	}
	a.Queue(Frame{Kind: FrameHold})
	waitUntil(t, func() bool { return strings.Contains(tb.log(), "indicate Hold") })
	b.HungUp(CauseNormalClearing)
	select {
	case first := <-done:
		if first != b {
			t.Fatalf("bridge ended by %v, want b", first)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("bridge did not end when b hung up")
	}
	if a.Bridge() != nil || b.Bridge() != nil {
		t.Fatal("channels still in the bridge")
	}
	if k := rec.kinds(); strings.Count(k, "BridgeEnter") != 2 || strings.Count(k, "BridgeLeave") != 2 || !strings.Contains(k, "Hold") {
		t.Fatalf("events %s", k)
	}
	a.Hangup(CauseNormalClearing)
	b.Hangup(CauseNormalClearing)
}

func udpPhone(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func session(t *testing.T, eng *media.Engine, phone *net.UDPConn) *media.Session {
	t.Helper()
	s, err := eng.NewSession(media.SessionOptions{LocalIP: netip.MustParseAddr("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	remote := phone.LocalAddr().(*net.UDPAddr).AddrPort()
	if err := s.SetRemote(sdp.Negotiated{Remote: remote, Codec: sdp.PCMU, Codecs: []sdp.Codec{sdp.PCMU}, Ptime: 20, Direction: sdp.SendRecv}); err != nil {
		t.Fatal(err)
	}
	return s
}

func loopbackOf(s *media.Session) netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), s.LocalAddr().Port())
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met in 2 s")
}
