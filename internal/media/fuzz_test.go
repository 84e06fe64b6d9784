package media

import (
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pleiades-pbx/pleiades/internal/media/sdp"
)

// FuzzPacket: whatever arrives on the RTP or RTCP port (headers, extensions, padding,
// telephone-events, RTCP reports) is handled or dropped, never a panic, and a relayed packet
// is never longer than what came in.
func FuzzPacket(f *testing.F) {
	audio, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 1, Timestamp: 160, SSRC: 9}, Payload: make([]byte, 160)}).Marshal()
	ext, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, Extension: true, ExtensionProfile: 0xBEDE, PayloadType: 8, SSRC: 9, CSRC: []uint32{1, 2}}, Payload: []byte{1, 2, 3}}).Marshal()
	ext = append(ext, 0, 0, 3) // padding
	ext[0] |= 0x20
	ev, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, SSRC: 9}, Payload: []byte{11, 0x8a, 0, 160}}).Marshal()
	rr := []byte{0x81, 201, 0, 7, 0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 80, 0, 0, 0, 0, 0, 0, 0, 0}
	for _, b := range [][]byte{audio, ext, ev, rr, {0x80}, {}} {
		f.Add(b)
	}
	e := NewEngine(testConfig(), nil)
	defer e.Close()
	a, err := e.NewSession(SessionOptions{})
	if err != nil {
		f.Fatal(err)
	}
	b, err := e.NewSession(SessionOptions{})
	if err != nil {
		f.Fatal(err)
	}
	a.SetRemote(negotiated(b.LocalAddr(), sdp.PCMU, 101))
	b.SetRemote(negotiated(a.LocalAddr(), sdp.PCMA, 96))
	Bridge(a, b)
	from := a.LocalAddr()
	f.Fuzz(func(t *testing.T, p []byte) {
		q := append([]byte(nil), p...)
		a.handle(q, from, time.Now())
		a.rtcpPacket(p)
	})
}
