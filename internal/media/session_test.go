package media

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pleiades-pbx/pleiades/internal/media/sdp"
	"github.com/pleiades-pbx/pleiades/internal/media/sound"
)

// A phone behind NAT: its SDP names one address, its packets come from another. strictrtp
// takes the other after probation packets in sequence; symmetric RTP answers there.
func TestStrictLearningAndSymmetricRTP(t *testing.T) {
	cfg := testConfig()
	cfg.LearningTimeout = 400 * time.Millisecond
	e := newEngine(t, cfg)
	sdpAddr := newPhone(t) // the address in the SDP: nothing is sent from it
	nat := newPhone(t)     // where the phone's packets really come from
	far := newPhone(t)
	sa := openSession(t, e, SessionOptions{Symmetric: true})
	sb := openSession(t, e, SessionOptions{})
	sa.SetRemote(negotiated(sdpAddr.addr(), sdp.PCMU, 101))
	sb.SetRemote(negotiated(far.addr(), sdp.PCMU, 101))
	Bridge(sa, sb)

	nat.audio(loopback(sa), 0, payload(160, 0), 6, 20*time.Millisecond)
	got := far.recvN(6, 300*time.Millisecond)
	if len(got) != 6-(cfg.Probation-1) {
		t.Fatalf("far end received %d packets; want all but the first %d (probation)", len(got), cfg.Probation-1)
	}
	if st := sa.Stats(); st.Strangers != uint64(cfg.Probation-1) || st.StrictSource != nat.addr() {
		t.Fatalf("stats %+v", st)
	}
	// directmedia asks where the phone really is.
	if p, ok := sa.Peer(); !ok || p.Source != nat.addr() || p.SDPAddr != sdpAddr.addr() || p.Codec != PCMU || p.DTMFPT != 101 || p.Ptime != 20 {
		t.Fatalf("Peer() = %+v, %v", p, ok)
	}
	// Symmetric RTP: the far end's packets go to where the phone's come from.
	far.audio(loopback(sb), 0, payload(160, 0), 3, 0)
	if n := len(nat.recvN(3, 300*time.Millisecond)); n != 3 {
		t.Fatalf("NAT address received %d packets", n)
	}
	if p, _ := sdpAddr.recv(50 * time.Millisecond); p != nil {
		t.Fatal("sent to the SDP address despite symmetric RTP")
	}
	// The NAT moves the phone to another port during the learning window: it qualifies.
	moved := newPhone(t)
	moved.ssrc, moved.seq, moved.ts = nat.ssrc, nat.seq, nat.ts
	moved.audio(loopback(sa), 0, payload(160, 0), 5, 20*time.Millisecond)
	if n := len(far.recvN(5, 300*time.Millisecond)); n != 5-(cfg.Probation-1) {
		t.Fatalf("after the move the far end received %d", n)
	}
	far.audio(loopback(sb), 0, payload(160, 0), 2, 0)
	if n := len(moved.recvN(2, 300*time.Millisecond)); n != 2 {
		t.Fatalf("moved address received %d", n)
	}
	// After the window, the session locks; a stranger mid-call is dropped and counted.
	time.Sleep(cfg.LearningTimeout)
	moved.audio(loopback(sa), 0, payload(160, 0), 1, 0)
	waitFor(t, "lock", func() bool { return sa.Stats().StrictLocked })
	far.drain(50 * time.Millisecond)
	before := sa.Stats().Strangers
	stranger := newPhone(t)
	stranger.audio(loopback(sa), 0, payload(160, 0), 10, 20*time.Millisecond)
	if p, _ := far.recv(100 * time.Millisecond); p != nil {
		t.Fatal("a stranger's packet was relayed after lock")
	}
	waitFor(t, "strangers counted", func() bool { return sa.Stats().Strangers == before+10 })
	if st := e.Stats(); st.Strangers < 10 {
		t.Fatalf("engine stats %+v", st)
	}
	// The locked source still goes through.
	moved.audio(loopback(sa), 0, payload(160, 0), 2, 0)
	if n := len(far.recvN(2, 300*time.Millisecond)); n != 2 {
		t.Fatalf("locked source: %d", n)
	}
	// A new remote address (re-INVITE) starts learning again.
	sa.SetRemote(negotiated(stranger.addr(), sdp.PCMU, 101))
	stranger.audio(loopback(sa), 0, payload(160, 0), 2, 0)
	if n := len(far.recvN(2, 300*time.Millisecond)); n != 2 {
		t.Fatalf("after SetRemote: %d", n)
	}
}

// strictrtp=yes refuses a burst faster than any stream (Asterisk's flood check);
// strictrtp=seqno takes it; strictrtp=no takes anything.
func TestStrictModes(t *testing.T) {
	for _, tt := range []struct {
		mode StrictMode
		want int
	}{{StrictYes, 0}, {StrictSeqno, 10 - 3}, {StrictNo, 10}} {
		t.Run(tt.mode.String(), func(t *testing.T) {
			cfg := testConfig()
			cfg.Strict = tt.mode
			e := newEngine(t, cfg)
			src, far := newPhone(t), newPhone(t)
			sa := openSession(t, e, SessionOptions{})
			sb := openSession(t, e, SessionOptions{})
			sa.SetRemote(negotiated(netip.MustParseAddrPort("127.0.0.1:9"), sdp.PCMU, 101))
			sb.SetRemote(negotiated(far.addr(), sdp.PCMU, 101))
			Bridge(sa, sb)
			src.audio(loopback(sa), 0, payload(160, 0), 10, 0) // back to back
			if n := len(far.recvN(10, 200*time.Millisecond)); n != tt.want {
				t.Fatalf("relayed %d of a 10-packet burst, want %d", n, tt.want)
			}
			if p, _ := sa.Peer(); tt.want > 0 && p.Source != src.addr() {
				t.Fatalf("Peer().Source = %v, want %v", p.Source, src.addr())
			}
		})
	}
}

func TestSendDTMF(t *testing.T) {
	e := newEngine(t, testConfig())
	p := newPhone(t)
	s := openSession(t, e, SessionOptions{})
	if err := s.SendDTMF(context.Background(), "1", 0, 0); err != ErrNoDTMF && err != nil {
		t.Fatalf("before SetRemote: %v", err)
	}
	s.SetRemote(negotiated(p.addr(), sdp.PCMU, 96))
	if err := s.SendDTMF(context.Background(), "1x", 0, 0); err == nil {
		t.Fatal("x accepted as a digit")
	}
	start := time.Now()
	if err := s.SendDTMF(context.Background(), "1#", 100*time.Millisecond, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 240*time.Millisecond {
		t.Fatalf("two 100 ms digits 50 ms apart took %v", d)
	}
	pkts := p.recvN(16, 200*time.Millisecond)
	if len(pkts) != 16 {
		t.Fatalf("%d packets, want 2 × (5 + 3)", len(pkts))
	}
	for d, want := range []byte{1, 11} {
		digit := pkts[8*d : 8*d+8]
		for i, q := range digit {
			end := i >= 5
			dur := binary.BigEndian.Uint16(q.Payload[2:])
			wantDur := uint16(160 * min(i+1, 5))
			if q.PayloadType != 96 || q.Payload[0] != want || (q.Payload[1]&0x80 != 0) != end || dur != wantDur ||
				q.Timestamp != digit[0].Timestamp || q.Marker != (i == 0) {
				t.Fatalf("digit %d packet %d: %+v %v", d, i, q.Header, q.Payload)
			}
			if i > 0 && q.SequenceNumber != digit[i-1].SequenceNumber+1 {
				t.Fatal("sequence")
			}
		}
	}
	if pkts[8].Timestamp == pkts[0].Timestamp {
		t.Fatal("second digit must start a new event timestamp")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.SendDTMF(ctx, "123", 0, 0); err != context.Canceled {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestDTMFEndLostEndsAfterTimeout(t *testing.T) {
	cfg := testConfig()
	cfg.DTMFTimeout = 800 // 100 ms
	e := newEngine(t, cfg)
	got := make(chan DTMF, 8)
	p := newPhone(t)
	s := openSession(t, e, SessionOptions{OnDTMF: func(d DTMF) { got <- d }})
	s.SetRemote(negotiated(p.addr(), sdp.PCMU, 101))
	to := loopback(s)
	p.audio(to, 0, payload(160, 0), 2, 0)
	p.seq++
	p.sendRaw(to, rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, PayloadType: 101, SequenceNumber: p.seq, Timestamp: p.ts + 160, SSRC: p.ssrc}, Payload: []byte{7, 10, 0, 160}})
	if d := <-got; d != (DTMF{Digit: '7'}) {
		t.Fatalf("begin %+v", d)
	}
	// Audio goes on; no end ever comes. 160 + 800 samples later the digit ends.
	p.ts += 160
	for range 8 {
		p.send(to, 0, payload(160, 0), false, 160)
	}
	select {
	case d := <-got:
		if d != (DTMF{Digit: '7', End: true, Duration: 20 * time.Millisecond}) {
			t.Fatalf("end %+v", d)
		}
	case <-time.After(time.Second):
		t.Fatal("no end after dtmftimeout")
	}
}

const helloWorld = "/usr/share/asterisk/sounds/en/hello-world.wav"

func needSounds(t *testing.T) {
	if _, err := os.Stat(helloWorld); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v (CI installs asterisk-core-sounds-en-wav)", err)
		}
		t.Skip(err)
	}
}

func TestPlayback(t *testing.T) {
	needSounds(t)
	e := newEngine(t, testConfig())
	p := newPhone(t)
	s := openSession(t, e, SessionOptions{})
	if _, err := s.PlayFile(context.Background(), "/usr/share/asterisk/sounds", "en", "hello-world", ""); err != ErrNoRemote {
		t.Fatalf("Play before SetRemote: %v", err)
	}
	s.SetRemote(negotiated(p.addr(), sdp.PCMA, 101))
	f, err := sound.Find("/usr/share/asterisk/sounds", "en", "hello-world", sound.Alaw)
	if err != nil {
		t.Fatal(err)
	}
	clip, err := sound.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	want := (clip.Samples() + 159) / 160
	type arrival struct {
		p  *rtp.Packet
		at time.Time
	}
	arrivals := make(chan []arrival, 1)
	go func() {
		var a []arrival
		for len(a) < 2*want {
			q, _ := p.recv(500 * time.Millisecond)
			if q == nil {
				break
			}
			a = append(a, arrival{q, time.Now()})
		}
		arrivals <- a
	}()
	start := time.Now()
	if _, err := s.PlayFile(context.Background(), "/usr/share/asterisk/sounds", "en", "hello-world", ""); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if _, err := s.Play(context.Background(), clip, ""); err != nil { // a second play goes on
		t.Fatal(err)
	}
	got := <-arrivals
	if len(got) != 2*want {
		t.Fatalf("received %d packets for two plays of %d samples, want %d", len(got), clip.Samples(), 2*want)
	}
	nominal := time.Duration(want) * 20 * time.Millisecond
	if took < nominal-20*time.Millisecond || took > nominal+nominal/4 {
		t.Fatalf("a %v clip played in %v", nominal, took)
	}
	span := got[want-1].at.Sub(got[0].at)
	if exp := time.Duration(want-1) * 20 * time.Millisecond; span < exp-30*time.Millisecond || span > exp+exp/4 {
		t.Fatalf("first to last packet %v, want about %v (20 ms pacing)", span, exp)
	}
	for i, a := range got {
		q := a.p
		if q.PayloadType != 8 || len(q.Payload) != 160 || q.Marker != (i == 0 || i == want) {
			t.Fatalf("packet %d: %+v, %d bytes", i, q.Header, len(q.Payload))
		}
		if i > 0 {
			prev := got[i-1].p
			if q.SequenceNumber != prev.SequenceNumber+1 || q.SSRC != prev.SSRC {
				t.Fatalf("packet %d: seq %d after %d", i, q.SequenceNumber, prev.SequenceNumber)
			}
			if d := q.Timestamp - prev.Timestamp; (i != want && d != 160) || (i == want && d < 160) {
				t.Fatalf("packet %d: timestamp step %d", i, d)
			}
		}
	}
	// The payload is the file's audio in A-law.
	for i := range 160 {
		s16 := int16(binary.LittleEndian.Uint16(clip.Data[2*(1600+i):]))
		if got[10].p.Payload[i] != g711EncodeAlaw(s16) {
			t.Fatalf("sample %d of packet 10 differs from the file", i)
		}
	}
}

func TestPlayStopsOnDTMFAndContext(t *testing.T) {
	needSounds(t)
	e := newEngine(t, testConfig())
	p := newPhone(t)
	s := openSession(t, e, SessionOptions{})
	s.SetRemote(negotiated(p.addr(), sdp.PCMU, 101))
	go func() {
		time.Sleep(100 * time.Millisecond)
		// '1' is not a stop digit; '*' is.
		for i, ev := range []byte{1, 10} {
			p.sendRaw(loopback(s), rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, SequenceNumber: uint16(i), Timestamp: uint32(1000 * (i + 1)), SSRC: 1}, Payload: []byte{ev, 0x80 | 10, 0, 160}})
			time.Sleep(60 * time.Millisecond)
		}
	}()
	start := time.Now()
	d, err := s.PlayFile(context.Background(), "/usr/share/asterisk/sounds", "en", "hello-world", "*#")
	if err != nil || d != '*' {
		t.Fatalf("Play returned %q, %v", d, err)
	}
	if el := time.Since(start); el > 500*time.Millisecond {
		t.Fatalf("stopped after %v", el)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Millisecond)
	defer cancel()
	if _, err := s.PlayFile(ctx, "/usr/share/asterisk/sounds", "en", "hello-world", ""); err != context.DeadlineExceeded {
		t.Fatalf("Play with a context: %v", err)
	}
	if _, err := s.PlayFile(context.Background(), "/usr/share/asterisk/sounds", "en", "no-such-sound", ""); !errors.Is(err, sound.ErrNotFound) {
		t.Fatalf("missing file: %v", err)
	}
	// Close stops a play.
	go func() { time.Sleep(50 * time.Millisecond); s.Close() }()
	if _, err := s.PlayFile(context.Background(), "/usr/share/asterisk/sounds", "en", "hello-world", ""); err != ErrClosed {
		t.Fatalf("Play at Close: %v", err)
	}
}

func TestPortPool(t *testing.T) {
	cfg := testConfig()
	cfg.RTPEnd = cfg.RTPStart + 3 // two pairs: start, start+2
	e := newEngine(t, cfg)
	a := openSession(t, e, SessionOptions{})
	b := openSession(t, e, SessionOptions{})
	ports := map[int]bool{int(a.LocalAddr().Port()): true, int(b.LocalAddr().Port()): true}
	if !ports[cfg.RTPStart] || !ports[cfg.RTPStart+2] {
		t.Fatalf("ports %v from range %d-%d", ports, cfg.RTPStart, cfg.RTPEnd)
	}
	if _, err := e.NewSession(SessionOptions{LocalIP: netip.MustParseAddr("127.0.0.1")}); !errors.Is(err, ErrNoPorts) {
		t.Fatalf("third session: %v", err)
	}
	st := e.Stats()
	if st.Sessions != 2 || st.PortsInUse != 4 || st.PortsTotal != 4 {
		t.Fatalf("stats %+v", st)
	}
	// Close gives the ports back at once (no 32 s hold as in Asterisk): the port can be
	// bound again right away, by anyone.
	port := a.LocalAddr().Port()
	a.Close()
	if st := e.Stats(); st.Sessions != 1 || st.PortsInUse != 2 {
		t.Fatalf("after Close: %+v", st)
	}
	for _, p := range []uint16{port, port + 1} {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(p)})
		if err != nil {
			t.Fatalf("port %d not free after Close: %v", p, err)
		}
		c.Close()
	}
	c := openSession(t, e, SessionOptions{})
	if c.LocalAddr().Port() != port {
		t.Fatalf("new session on %d, want the freed %d", c.LocalAddr().Port(), port)
	}
	// A port taken by another program is skipped.
	c.Close()
	busy, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(port) + 1})
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if _, err := e.NewSession(SessionOptions{LocalIP: netip.MustParseAddr("127.0.0.1")}); !errors.Is(err, ErrNoPorts) {
		t.Fatalf("with the RTCP port busy: %v", err)
	}
	e.Close()
	if _, err := e.NewSession(SessionOptions{}); err != ErrClosed {
		t.Fatalf("after engine Close: %v", err)
	}
	if st := e.Stats(); st.Sessions != 0 || st.PortsInUse != 0 {
		t.Fatalf("after engine Close: %+v", st)
	}
}

func TestReconfigureRange(t *testing.T) {
	cfg := testConfig()
	e := newEngine(t, cfg)
	a := openSession(t, e, SessionOptions{})
	cfg2 := cfg
	cfg2.RTPStart, cfg2.RTPEnd = cfg.RTPEnd+100, cfg.RTPEnd+101
	e.Reconfigure(cfg2)
	b := openSession(t, e, SessionOptions{})
	if int(b.LocalAddr().Port()) != cfg2.RTPStart {
		t.Fatalf("new range not used: %v", b.LocalAddr())
	}
	if p := int(a.LocalAddr().Port()); p < cfg.RTPStart || p > cfg.RTPEnd {
		t.Fatal("old session moved")
	}
}

func TestReceiveStatistics(t *testing.T) {
	e := newEngine(t, testConfig())
	p := newPhone(t)
	s := openSession(t, e, SessionOptions{})
	s.SetRemote(negotiated(p.addr(), sdp.PCMU, 101))
	to := loopback(s)
	// 10 packets with 3 missing in the middle, irregular arrival.
	for i := range 10 {
		if i == 4 {
			p.seq += 3
			p.ts += 3 * 160
		}
		p.send(to, 0, payload(160, 0), false, 160)
		time.Sleep(time.Duration(5+15*(i%2)) * time.Millisecond)
	}
	waitFor(t, "packets", func() bool { return s.Stats().RxPackets == 10 })
	st := s.Stats()
	if st.Lost != 3 {
		t.Fatalf("lost %d, want 3", st.Lost)
	}
	if st.Jitter <= 0 || st.Jitter > 50*time.Millisecond {
		t.Fatalf("jitter %v", st.Jitter)
	}
	// The peer's RTCP receiver report about our stream.
	s.SendDTMF(context.Background(), "1", 20*time.Millisecond, 0) // sends, so we have an SSRC the peer knows
	s.txMu.Lock()
	ours := s.tx.ssrc
	s.txMu.Unlock()
	rr := make([]byte, 32)
	rr[0], rr[1] = 0x81, 201
	binary.BigEndian.PutUint16(rr[2:], 7)
	binary.BigEndian.PutUint32(rr[4:], p.ssrc)
	binary.BigEndian.PutUint32(rr[8:], ours)
	binary.BigEndian.PutUint32(rr[12:], 5)  // fraction 0, cumulative lost 5
	binary.BigEndian.PutUint32(rr[20:], 80) // jitter 80 samples = 10 ms
	rtcp := netip.AddrPortFrom(to.Addr(), to.Port()+1)
	if _, err := p.conn.WriteToUDPAddrPort(rr, rtcp); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "RTCP", func() bool { return s.Stats().RTCPPackets == 1 })
	if st := s.Stats(); st.RemoteLost != 5 || st.RemoteJitter != 10*time.Millisecond {
		t.Fatalf("remote report: %+v", st)
	}
	// Garbage on either port is dropped, never a crash.
	for _, b := range [][]byte{{}, {0x80}, {0x90, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, {0xa0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 200}, make([]byte, 1400)} {
		p.conn.WriteToUDPAddrPort(b, to)
		p.conn.WriteToUDPAddrPort(b, rtcp)
	}
	waitFor(t, "garbage dropped", func() bool { return s.Stats().Dropped >= 5 })
}

// The relay's per-packet path allocates nothing.
func TestRelayPathAllocatesNothing(t *testing.T) {
	e := newEngine(t, testConfig())
	c := newCall(t, e, sdp.PCMU, sdp.PCMA, 101, 101)
	pkt, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 5}, Payload: payload(160, 0)}).Marshal()
	ev, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, SSRC: 5}, Payload: []byte{1, 10, 0, 160}}).Marshal()
	from := c.a.addr()
	seq := uint16(0)
	allocs := testing.AllocsPerRun(200, func() {
		seq++
		binary.BigEndian.PutUint16(pkt[2:], seq)
		binary.BigEndian.PutUint32(pkt[4:], uint32(seq)*160)
		pkt[1] = 0
		c.sa.handle(pkt, from, time.Now())
		if seq%50 == 0 {
			seq++
			binary.BigEndian.PutUint16(ev[2:], seq)
			ev[1] = 101
			c.sa.handle(ev, from, time.Now())
		}
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per relayed packet", allocs)
	}
	if c.sa.Stats().Relayed < 200 {
		t.Fatalf("relayed %d", c.sa.Stats().Relayed)
	}
}

// Every goroutine a session starts ends with Close, whatever it was doing.
func TestNoGoroutineLeftAfterClose(t *testing.T) {
	e := NewEngine(testConfig(), nil)
	var ss []*Session
	for range 10 {
		s, err := e.NewSession(SessionOptions{LocalIP: netip.MustParseAddr("127.0.0.1")})
		if err != nil {
			t.Fatal(err)
		}
		s.SetRemote(negotiated(netip.MustParseAddrPort("127.0.0.1:9"), sdp.PCMU, 101))
		ss = append(ss, s)
	}
	Bridge(ss[0], ss[1])
	go ss[2].Echo(context.Background(), "")
	go ss[3].SendDTMF(context.Background(), "123456789", 0, 0)
	waitFor(t, "reading goroutines", func() bool { return countMediaGoroutines() > 0 })
	time.Sleep(20 * time.Millisecond)
	e.Close()
	// Close has waited for them; give the last ones the moment to leave the scheduler.
	waitFor(t, "no goroutine left after Engine.Close", func() bool { return countMediaGoroutines() == 0 })
}
