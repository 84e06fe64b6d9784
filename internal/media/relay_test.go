package media

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pleiades-pbx/pleiades/internal/media/sdp"
	"github.com/zaf/g711"
)

func g711EncodeUlaw(s int16) byte { return g711.EncodeUlawFrame(s) }
func g711EncodeAlaw(s int16) byte { return g711.EncodeAlawFrame(s) }

// call is two phones bridged through two sessions: A ⇄ sa ⇄ sb ⇄ B.
type call struct {
	a, b   *phone
	sa, sb *Session
}

func newCall(t *testing.T, e *Engine, ca, cb sdp.Codec, dtA, dtB int) *call {
	t.Helper()
	c := &call{a: newPhone(t), b: newPhone(t)}
	c.sa = openSession(t, e, SessionOptions{Name: "A"})
	c.sb = openSession(t, e, SessionOptions{Name: "B"})
	if err := c.sa.SetRemote(negotiated(c.a.addr(), ca, dtA)); err != nil {
		t.Fatal(err)
	}
	if err := c.sb.SetRemote(negotiated(c.b.addr(), cb, dtB)); err != nil {
		t.Fatal(err)
	}
	if err := Bridge(c.sa, c.sb); err != nil {
		t.Fatal(err)
	}
	return c
}

// checkStream checks what a phone received: count, payload type, one SSRC, consecutive
// sequence numbers, timestamps 160 apart, marker on the first packet only.
func checkStream(t *testing.T, pkts []*rtp.Packet, n int, pt uint8) {
	t.Helper()
	if len(pkts) != n {
		t.Fatalf("received %d packets, want %d", len(pkts), n)
	}
	for i, p := range pkts {
		if p.PayloadType != pt {
			t.Fatalf("packet %d: payload type %d, want %d", i, p.PayloadType, pt)
		}
		if p.Marker != (i == 0) {
			t.Fatalf("packet %d: marker %v", i, p.Marker)
		}
		if i == 0 {
			continue
		}
		q := pkts[i-1]
		if p.SSRC != q.SSRC || p.SequenceNumber != q.SequenceNumber+1 || p.Timestamp != q.Timestamp+160 {
			t.Fatalf("packet %d: ssrc %x seq %d ts %d after ssrc %x seq %d ts %d", i, p.SSRC, p.SequenceNumber, p.Timestamp, q.SSRC, q.SequenceNumber, q.Timestamp)
		}
	}
}

func TestRelaySameCodecBothWays(t *testing.T) {
	e := newEngine(t, testConfig())
	c := newCall(t, e, sdp.PCMU, sdp.PCMU, 101, 101)
	pa := payload(160, 1)
	c.a.audio(loopback(c.sa), 0, pa, 20, 0)
	got := c.b.recvN(20, time.Second)
	checkStream(t, got, 20, 0)
	for _, p := range got {
		if !bytes.Equal(p.Payload, pa) {
			t.Fatal("payload changed on a same-codec relay")
		}
	}
	if got[0].SSRC == c.a.ssrc {
		t.Fatal("the relay must send its own SSRC")
	}
	// The callee answers: its packets reach A, from sa's port.
	pb := payload(160, 100)
	c.b.audio(loopback(c.sb), 0, pb, 20, 0)
	back := c.a.recvN(20, time.Second)
	checkStream(t, back, 20, 0)
	if !bytes.Equal(back[5].Payload, pb) {
		t.Fatal("payload changed")
	}
	// The counters move just after each send.
	waitFor(t, "40 relayed", func() bool { return e.Stats().Relayed == 40 })
	st := e.Stats()
	if st.Relayed != 40 || st.Transcoded != 0 || st.Strangers != 0 || st.Sessions != 2 || st.PortsInUse != 4 {
		t.Fatalf("engine stats %+v", st)
	}
	sa := c.sa.Stats()
	if sa.RxPackets != 20 || sa.TxPackets != 20 || sa.RxBytes != 20*160 || sa.Lost != 0 || !sa.Bridged {
		t.Fatalf("session stats %+v", sa)
	}
}

func TestRelayTranscodesULawALaw(t *testing.T) {
	e := newEngine(t, testConfig())
	c := newCall(t, e, sdp.PCMU, sdp.PCMA, 101, 101)
	// A sends µ-law of a ramp; B must receive A-law that decodes to the same values
	// (within G.711's step).
	lin := make([]int16, 160)
	ulaw := make([]byte, 160)
	for i := range lin {
		lin[i] = int16((i - 80) * 300)
		ulaw[i] = linToUlaw[uint16(lin[i])>>2]
	}
	c.a.audio(loopback(c.sa), 0, ulaw, 5, 0)
	got := c.b.recvN(5, time.Second)
	checkStream(t, got, 5, 8)
	for i, b := range got[0].Payload {
		want := DecodeSample(PCMU, ulaw[i])
		have := DecodeSample(PCMA, b)
		d := int(want) - int(have)
		if d < 0 {
			d = -d
		}
		if d > int(abs16(want))/16+16 {
			t.Fatalf("sample %d: sent %d (µ-law), received %d (A-law)", i, want, have)
		}
	}
	// And back: A-law from B arrives at A as µ-law.
	alaw := make([]byte, 160)
	for i := range alaw {
		alaw[i] = linToAlaw[uint16(lin[i])>>2]
	}
	c.b.audio(loopback(c.sb), 8, alaw, 5, 0)
	back := c.a.recvN(5, time.Second)
	checkStream(t, back, 5, 0)
	if DecodeSample(PCMU, back[0].Payload[10]) != DecodeSample(PCMU, ulawToAlawBack(alaw[10])) {
		t.Fatal("A-law → µ-law mismatch")
	}
	waitFor(t, "10 relayed", func() bool { return e.Stats().Relayed == 10 })
	if st := e.Stats(); st.Transcoded != 10 || st.Relayed != 10 {
		t.Fatalf("stats %+v", st)
	}
}

func ulawToAlawBack(a byte) byte { return alawToUlaw[a] }

func abs16(v int16) int16 {
	if v < 0 {
		return -v
	}
	return v
}

func TestG711Tables(t *testing.T) {
	// The 14-bit linear tables give what zaf/g711 computes for every 16-bit sample.
	for s := -32768; s <= 32767; s++ {
		v := uint16(int16(s))
		var pcm = []byte{byte(v), byte(v >> 8)}
		var u, a [1]byte
		encodeLinear(u[:], pcm, PCMU)
		encodeLinear(a[:], pcm, PCMA)
		if u[0] != g711EncodeUlaw(int16(s)) || a[0] != g711EncodeAlaw(int16(s)) {
			t.Fatalf("sample %d: ulaw %x alaw %x", s, u[0], a[0])
		}
	}
}

func TestRelayPassesDTMFWithPayloadTypeMapping(t *testing.T) {
	e := newEngine(t, testConfig())
	var evs []DTMF
	got := make(chan DTMF, 16)
	c := &call{a: newPhone(t), b: newPhone(t)}
	c.sa = openSession(t, e, SessionOptions{OnDTMF: func(d DTMF) { got <- d }})
	c.sb = openSession(t, e, SessionOptions{})
	c.sa.SetRemote(negotiated(c.a.addr(), sdp.PCMU, 101))
	c.sb.SetRemote(negotiated(c.b.addr(), sdp.PCMU, 96))
	if err := Bridge(c.sa, c.sb); err != nil {
		t.Fatal(err)
	}
	to := loopback(c.sa)
	c.a.audio(to, 0, payload(160, 0), 3, 0)
	// Digit 5: three packets, then the end three times, as phones send it.
	c.a.seq++
	c.a.ts += 160
	start := c.a.ts
	for i, d := range []uint16{160, 320, 480} {
		c.a.sendRaw(to, rtp.Packet{Header: rtp.Header{Version: 2, Marker: i == 0, PayloadType: 101, SequenceNumber: c.a.seq, Timestamp: start, SSRC: c.a.ssrc}, Payload: []byte{5, 10, byte(d >> 8), byte(d)}})
		c.a.seq++
	}
	for range 3 {
		c.a.sendRaw(to, rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, SequenceNumber: c.a.seq, Timestamp: start, SSRC: c.a.ssrc}, Payload: []byte{5, 0x80 | 10, 0x02, 0x80}})
		c.a.seq++
	}
	pkts := c.b.recvN(9, time.Second)
	if len(pkts) != 9 {
		t.Fatalf("B received %d packets, want 9", len(pkts))
	}
	for _, p := range pkts[3:] {
		if p.PayloadType != 96 || p.Payload[0] != 5 || p.Timestamp != pkts[3].Timestamp {
			t.Fatalf("event packet %+v payload %v", p.Header, p.Payload)
		}
	}
	if pkts[3].SequenceNumber != pkts[2].SequenceNumber+1 {
		t.Fatal("sequence broken between audio and events")
	}
	for len(evs) < 2 {
		select {
		case d := <-got:
			evs = append(evs, d)
		case <-time.After(time.Second):
			t.Fatalf("DTMF events %+v", evs)
		}
	}
	select {
	case d := <-got:
		t.Fatalf("one more DTMF event %+v: the retransmitted ends must be dropped", d)
	case <-time.After(50 * time.Millisecond):
	}
	if evs[0] != (DTMF{Digit: '5'}) || evs[1] != (DTMF{Digit: '5', End: true, Duration: 80 * time.Millisecond}) {
		t.Fatalf("events %+v", evs)
	}
	// B has no telephone-event: A's events are not sent to it.
	c.sb.SetRemote(negotiated(c.b.addr(), sdp.PCMU, -1))
	c.a.sendRaw(to, rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, SequenceNumber: c.a.seq + 1, Timestamp: start + 1000, SSRC: c.a.ssrc}, Payload: []byte{1, 10, 0, 160}})
	if p, _ := c.b.recv(100 * time.Millisecond); p != nil {
		t.Fatalf("event sent to a leg without telephone-event: %+v", p.Header)
	}
}

func TestSourceChangeKeepsStreamContinuous(t *testing.T) {
	e := newEngine(t, testConfig())
	c := newCall(t, e, sdp.PCMU, sdp.PCMU, 101, 101)
	to := loopback(c.sa)
	c.a.audio(to, 0, payload(160, 0), 5, 0)
	// The phone restarts its stream (a new SSRC and random sequence, as after a re-INVITE).
	c.a.ssrc, c.a.seq, c.a.ts = c.a.ssrc+1, c.a.seq+30000, c.a.ts+123456
	c.a.audio(to, 0, payload(160, 0), 5, 0)
	got := c.b.recvN(10, time.Second)
	if len(got) != 10 {
		t.Fatalf("%d packets", len(got))
	}
	for i := 1; i < 10; i++ {
		if got[i].SequenceNumber != got[i-1].SequenceNumber+1 || got[i].SSRC != got[0].SSRC {
			t.Fatalf("packet %d: seq %d after %d", i, got[i].SequenceNumber, got[i-1].SequenceNumber)
		}
	}
	if !got[5].Marker || got[6].Marker {
		t.Fatal("marker bit expected on the first packet of the new source only")
	}
	if d := got[5].Timestamp - got[4].Timestamp; d < 160 || d > 8000 {
		t.Fatalf("timestamp jump %d across the source change", d)
	}
}

func TestHoldStopsSending(t *testing.T) {
	e := newEngine(t, testConfig())
	c := newCall(t, e, sdp.PCMU, sdp.PCMU, 101, 101)
	n := negotiated(c.b.addr(), sdp.PCMU, 101)
	n.Direction, n.Hold = sdp.SendOnly, true // B puts the call on hold
	c.sb.SetRemote(n)
	c.a.audio(loopback(c.sa), 0, payload(160, 0), 5, 0)
	if p, _ := c.b.recv(100 * time.Millisecond); p != nil {
		t.Fatal("media sent to a leg on hold")
	}
	n.Direction, n.Hold = sdp.SendRecv, false
	c.sb.SetRemote(n)
	c.a.audio(loopback(c.sa), 0, payload(160, 0), 5, 0)
	if got := c.b.recvN(5, time.Second); len(got) != 5 {
		t.Fatalf("%d packets after unhold", len(got))
	}
}

func TestUnbridgeAndRebridge(t *testing.T) {
	e := newEngine(t, testConfig())
	c := newCall(t, e, sdp.PCMU, sdp.PCMU, 101, 101)
	if err := Bridge(c.sa, c.sb); err != ErrBridged {
		t.Fatalf("second Bridge: %v", err)
	}
	c.sa.Unbridge()
	if c.sb.Bridged() != nil || c.sa.Bridged() != nil {
		t.Fatal("still bridged")
	}
	c.a.audio(loopback(c.sa), 0, payload(160, 0), 3, 0)
	if p, _ := c.b.recv(100 * time.Millisecond); p != nil {
		t.Fatal("relayed after Unbridge")
	}
	if err := Bridge(c.sb, c.sa); err != nil {
		t.Fatal(err)
	}
	c.a.audio(loopback(c.sa), 0, payload(160, 0), 3, 0)
	if got := c.b.recvN(3, time.Second); len(got) != 3 {
		t.Fatalf("%d after re-bridge", len(got))
	}
	c.sb.Close()
	if c.sa.Bridged() != nil {
		t.Fatal("Close must leave the bridge")
	}
	if err := Bridge(c.sa, c.sb); err != ErrClosed {
		t.Fatalf("Bridge with a closed session: %v", err)
	}
}

func TestEcho(t *testing.T) {
	e := newEngine(t, testConfig())
	p := newPhone(t)
	s := openSession(t, e, SessionOptions{})
	s.SetRemote(negotiated(p.addr(), sdp.PCMA, 101))
	res := make(chan error, 1)
	var digit byte
	go func() {
		var err error
		digit, err = s.Echo(context.Background(), "#")
		res <- err
	}()
	waitFor(t, "echo", func() bool { return s.Stats().Echoing })
	// µ-law in, A-law (the leg's codec) back.
	p.audio(loopback(s), 0, payload(160, 7), 10, 0)
	got := p.recvN(10, time.Second)
	checkStream(t, got, 10, 8)
	if got[3].Payload[20] != ulawToAlaw[payload(160, 7)[20]] {
		t.Fatal("echo did not transcode")
	}
	other := openSession(t, e, SessionOptions{})
	if err := Bridge(s, other); err != ErrBridged {
		t.Fatalf("Bridge of an echoing session: %v", err)
	}
	// '#' ends it.
	p.sendRaw(loopback(s), rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, SequenceNumber: p.seq + 1, Timestamp: p.ts + 160, SSRC: p.ssrc}, Payload: []byte{11, 0x80 | 10, 0, 160}})
	select {
	case err := <-res:
		if err != nil || digit != '#' {
			t.Fatalf("Echo returned %q, %v", digit, err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Echo did not end on #")
	}
	if s.Stats().Echoing {
		t.Fatal("still echoing")
	}
	// ctx ends it too.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.Echo(ctx, ""); err != context.DeadlineExceeded {
		t.Fatalf("Echo: %v", err)
	}
}

// The portable transport (a goroutine per socket, used where there is no reactor) relays
// and closes as the reactor does.
func TestRelayOnPortableTransport(t *testing.T) {
	useNetTransport = true
	defer func() { useNetTransport = false }()
	e := newEngine(t, testConfig())
	if _, ok := e.tr.(*netTransport); !ok {
		t.Fatalf("transport %T", e.tr)
	}
	c := newCall(t, e, sdp.PCMU, sdp.PCMA, 101, 101)
	c.a.audio(loopback(c.sa), 0, payload(160, 0), 10, 0)
	checkStream(t, c.b.recvN(10, time.Second), 10, 8)
	c.b.audio(loopback(c.sb), 8, payload(160, 0), 10, 0)
	checkStream(t, c.a.recvN(10, time.Second), 10, 0)
	rr := make([]byte, 8)
	rr[0], rr[1], rr[3] = 0x80, 201, 1
	c.a.conn.WriteToUDPAddrPort(rr, netip.AddrPortFrom(loopback(c.sa).Addr(), loopback(c.sa).Port()+1))
	waitFor(t, "RTCP", func() bool { return c.sa.Stats().RTCPPackets == 1 })
	e.Close()
	waitFor(t, "no goroutine left", func() bool { return countMediaGoroutines() == 0 })
}

// A leg bound to IPv6 relays to a leg on IPv4 and back.
func TestRelayIPv6ToIPv4(t *testing.T) {
	c6, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no IPv6 loopback: %v", err)
		}
		t.Skipf("no IPv6 loopback: %v", err)
	}
	t.Cleanup(func() { c6.Close() })
	e := newEngine(t, testConfig())
	a6 := &phone{t: t, conn: c6, ssrc: 1, seq: 1, ts: 1}
	b4 := newPhone(t)
	sa := openSession(t, e, SessionOptions{LocalIP: netip.IPv6Loopback()})
	sb := openSession(t, e, SessionOptions{})
	if !sa.LocalAddr().Addr().Is6() {
		t.Fatalf("bound to %v", sa.LocalAddr())
	}
	sa.SetRemote(negotiated(a6.addr(), sdp.PCMU, 101))
	sb.SetRemote(negotiated(b4.addr(), sdp.PCMU, 101))
	if err := Bridge(sa, sb); err != nil {
		t.Fatal(err)
	}
	a6.audio(sa.LocalAddr(), 0, payload(160, 0), 5, 0)
	checkStream(t, b4.recvN(5, time.Second), 5, 0)
	b4.audio(loopback(sb), 0, payload(160, 0), 5, 0)
	got := a6.recvN(5, time.Second)
	checkStream(t, got, 5, 0)
	if p, _ := sa.Peer(); p.Source != a6.addr() {
		t.Fatalf("source %v, want %v", p.Source, a6.addr())
	}
}
