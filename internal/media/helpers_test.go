package media

import (
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pleiades-pbx/pleiades/internal/media/sdp"
)

// TestMain checks that no test leaves a goroutine of the package running.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		deadline := time.Now().Add(5 * time.Second)
		for {
			n := countMediaGoroutines()
			if n == 0 {
				break
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				os.Stderr.Write(buf)
				os.Stderr.WriteString("media goroutines left after the tests\n")
				code = 1
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	os.Exit(code)
}

func countMediaGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "internal/media.readLoop") || strings.Contains(g, "internal/media.(*reactor).run") {
			n++
		}
	}
	return n
}

// testConfig is a config over a random 400-port range high up, learning window short.
func testConfig() Config {
	c := DefaultConfig()
	c.RTPStart = 40000 + 2*rand.IntN(9000)
	c.RTPEnd = c.RTPStart + 400
	c.LearningTimeout = 300 * time.Millisecond
	return c
}

func newEngine(t testing.TB, cfg Config) *Engine {
	t.Helper()
	e := NewEngine(cfg, nil)
	t.Cleanup(func() { e.Close() })
	return e
}

func openSession(t testing.TB, e *Engine, opts SessionOptions) *Session {
	t.Helper()
	if !opts.LocalIP.IsValid() {
		opts.LocalIP = netip.MustParseAddr("127.0.0.1")
	}
	s, err := e.NewSession(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// phone is a UDP endpoint on 127.0.0.1 speaking RTP through pion/rtp (an implementation
// independent of the package's own header code).
type phone struct {
	t    testing.TB
	conn *net.UDPConn
	ssrc uint32
	seq  uint16
	ts   uint32
}

func newPhone(t testing.TB) *phone {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &phone{t: t, conn: c, ssrc: rand.Uint32(), seq: uint16(rand.Uint32()), ts: rand.Uint32()}
}

func (p *phone) addr() netip.AddrPort { return p.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// send sends one packet of the phone's stream: seq +1, ts +advance.
func (p *phone) send(to netip.AddrPort, pt uint8, payload []byte, marker bool, advance uint32) {
	p.t.Helper()
	p.seq++
	p.ts += advance
	p.sendRaw(to, rtp.Packet{Header: rtp.Header{Version: 2, Marker: marker, PayloadType: pt, SequenceNumber: p.seq, Timestamp: p.ts, SSRC: p.ssrc}, Payload: payload})
}

func (p *phone) sendRaw(to netip.AddrPort, pkt rtp.Packet) {
	p.t.Helper()
	b, err := pkt.Marshal()
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.conn.WriteToUDPAddrPort(b, to); err != nil {
		p.t.Fatal(err)
	}
}

// audio sends n 20 ms packets of payload b, paced by gap (0: back to back).
func (p *phone) audio(to netip.AddrPort, pt uint8, b []byte, n int, gap time.Duration) {
	p.t.Helper()
	for i := range n {
		p.send(to, pt, b, i == 0, 160)
		if gap > 0 {
			time.Sleep(gap)
		}
	}
}

// recv returns the next packet, or nil after timeout.
func (p *phone) recv(timeout time.Duration) (*rtp.Packet, netip.AddrPort) {
	p.t.Helper()
	buf := make([]byte, 1500)
	p.conn.SetReadDeadline(time.Now().Add(timeout))
	n, from, err := p.conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, netip.AddrPort{}
		}
		p.t.Fatal(err)
	}
	var pkt rtp.Packet
	if err := pkt.Unmarshal(buf[:n]); err != nil {
		p.t.Fatalf("received a bad RTP packet: %v", err)
	}
	return &pkt, netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
}

// recvN collects packets until n arrived or nothing came for timeout.
func (p *phone) recvN(n int, timeout time.Duration) []*rtp.Packet {
	p.t.Helper()
	var out []*rtp.Packet
	for len(out) < n {
		pkt, _ := p.recv(timeout)
		if pkt == nil {
			break
		}
		out = append(out, pkt)
	}
	return out
}

// drain reads and drops everything for d.
func (p *phone) drain(d time.Duration) int {
	n := 0
	for {
		pkt, _ := p.recv(d)
		if pkt == nil {
			return n
		}
		n++
	}
}

func negotiated(remote netip.AddrPort, c sdp.Codec, dtmfPT int) sdp.Negotiated {
	n := sdp.Negotiated{Remote: remote, Codec: c, Codecs: []sdp.Codec{c}}
	if dtmfPT >= 0 {
		n.DTMF, n.HasDTMF = sdp.Codec{PT: uint8(dtmfPT), Name: "telephone-event", Rate: 8000}, true
	}
	return n
}

func loopback(s *Session) netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), s.LocalAddr().Port())
}

func payload(n int, b byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = b + byte(i)
	}
	return p
}

// waitFor polls cond for up to 2 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
