package media

import (
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pleiades-pbx/pleiades/internal/media/sdp"
)

// benchRelay measures one packet's way through a bridge: the receive-side processing and
// the rewrite and send out of the other leg (the datagram is written to a real socket; the
// read is not included). ns/op is the relay's CPU per packet.
func benchRelay(b *testing.B, ca, cb sdp.Codec) {
	e := newEngine(b, testConfig())
	c := &call{a: newPhone(b), b: newPhone(b)}
	c.sa = openSession(b, e, SessionOptions{})
	c.sb = openSession(b, e, SessionOptions{})
	c.sa.SetRemote(negotiated(c.a.addr(), ca, 101))
	c.sb.SetRemote(negotiated(c.b.addr(), cb, 101))
	Bridge(c.sa, c.sb)
	// Drain the far end so its socket never overflows.
	go func() {
		buf := make([]byte, 1500)
		for {
			if _, _, err := c.b.conn.ReadFromUDPAddrPort(buf); err != nil {
				return
			}
		}
	}()
	pkt, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: codecOf(ca).PT(), SSRC: 5}, Payload: payload(160, 0)}).Marshal()
	from := c.a.addr()
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	b.ResetTimer()
	for i := range b.N {
		binary.BigEndian.PutUint16(pkt[2:], uint16(i))
		binary.BigEndian.PutUint32(pkt[4:], uint32(i)*160)
		pkt[1] = codecOf(ca).PT()
		c.sa.handle(pkt, from, time.Now())
	}
	b.StopTimer()
	if c.sa.Stats().Relayed < uint64(b.N) {
		b.Fatalf("relayed %d of %d", c.sa.Stats().Relayed, b.N)
	}
}

func BenchmarkRelaySameCodec(b *testing.B)  { benchRelay(b, sdp.PCMU, sdp.PCMU) }
func BenchmarkRelayTranscoded(b *testing.B) { benchRelay(b, sdp.PCMU, sdp.PCMA) }

func BenchmarkTranscode160(b *testing.B) {
	p := payload(160, 0)
	b.SetBytes(160)
	b.ReportAllocs()
	for range b.N {
		transcode(p, PCMU, PCMA)
	}
}

func BenchmarkEncodeLinear160(b *testing.B) {
	pcm := make([]byte, 320)
	out := make([]byte, 160)
	b.SetBytes(160)
	b.ReportAllocs()
	for range b.N {
		encodeLinear(out, pcm, PCMA)
	}
}

// BenchmarkRawSend is the floor of benchRelay: the same datagram written to the same kind
// of socket with nothing else done, measured in the same run.
func BenchmarkRawSend(b *testing.B) {
	src := newPhone(b)
	dst := newPhone(b)
	go func() {
		buf := make([]byte, 1500)
		for {
			if _, _, err := dst.conn.ReadFromUDPAddrPort(buf); err != nil {
				return
			}
		}
	}()
	pkt := make([]byte, 172)
	to := dst.addr()
	var conn *net.UDPConn = src.conn
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for range b.N {
		conn.WriteToUDPAddrPort(pkt, to)
	}
}
