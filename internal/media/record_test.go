package media

import (
	"bytes"
	"context"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pleiades-pbx/pleiades/internal/media/sdp"
	"github.com/pleiades-pbx/pleiades/internal/media/sound"
	"github.com/zaf/g711"
)

// loud is 20 ms of µ-law tone well above the silence threshold.
func loud() []byte {
	p := make([]byte, 160)
	for i := range p {
		v := int16(8000)
		if i%8 >= 4 {
			v = -8000
		}
		p[i] = g711.EncodeUlawFrame(v)
	}
	return p
}

// quiet is 20 ms of µ-law silence.
func quiet() []byte { return bytes.Repeat([]byte{0xff}, 160) }

type recResult struct {
	rec *Recording
	err error
}

func startRecording(s *Session, ctx context.Context, opts RecordOptions) chan recResult {
	out := make(chan recResult, 1)
	go func() {
		r, err := s.Record(ctx, opts)
		out <- recResult{r, err}
	}()
	return out
}

// waitRecording waits until the session records (Record attached its recorder).
func waitRecording(t *testing.T, s *Session) {
	waitFor(t, "the recorder", func() bool { return s.rec.Load() != nil })
}

func TestRecordEnds(t *testing.T) {
	e := newEngine(t, testConfig())
	tests := []struct {
		name    string
		opts    RecordOptions
		send    func(p *phone, to netip.AddrPort)
		want    RecordEnd
		digit   byte
		minDur  time.Duration
		maxDur  time.Duration
		trimmed bool
	}{
		{
			name: "hash ends it", opts: RecordOptions{Stop: "#"},
			send: func(p *phone, to netip.AddrPort) {
				p.audio(to, 0, loud(), 25, 0)
				sendEvent(p, to, 11)
			},
			want: EndDTMF, digit: '#', minDur: 500 * time.Millisecond, maxDur: 500 * time.Millisecond,
		},
		{
			name: "max duration in samples", opts: RecordOptions{Stop: "#", MaxDuration: 300 * time.Millisecond},
			send: func(p *phone, to netip.AddrPort) { p.audio(to, 0, loud(), 40, 0) },
			want: EndMaxDuration, minDur: 300 * time.Millisecond, maxDur: 300 * time.Millisecond,
		},
		{
			name: "silence after speech", opts: RecordOptions{MaxSilence: 400 * time.Millisecond},
			send: func(p *phone, to netip.AddrPort) {
				p.audio(to, 0, loud(), 10, 0)
				p.audio(to, 0, quiet(), 30, 0)
			},
			// 200 ms of speech + the 200 ms of silence Asterisk keeps
			want: EndSilence, minDur: 400 * time.Millisecond, maxDur: 400 * time.Millisecond, trimmed: true,
		},
		{
			name: "no packets is silence", opts: RecordOptions{MaxSilence: 300 * time.Millisecond},
			send: func(p *phone, to netip.AddrPort) { p.audio(to, 0, loud(), 5, 0) },
			want: EndSilence, minDur: 100 * time.Millisecond, maxDur: 100 * time.Millisecond,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPhone(t)
			s := openSession(t, e, SessionOptions{})
			s.SetRemote(negotiated(p.addr(), sdp.PCMU, 101))
			done := startRecording(s, context.Background(), tc.opts)
			waitRecording(t, s)
			tc.send(p, loopback(s))
			var res recResult
			select {
			case res = <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Record did not return")
			}
			if res.err != nil {
				t.Fatal(res.err)
			}
			r := res.rec
			if r.End != tc.want || r.Digit != tc.digit {
				t.Fatalf("ended %v digit %q, want %v %q", r.End, r.Digit, tc.want, tc.digit)
			}
			if d := r.Duration(); d < tc.minDur || d > tc.maxDur {
				t.Fatalf("duration %v, want %v..%v", d, tc.minDur, tc.maxDur)
			}
			if (r.Trimmed > 0) != tc.trimmed {
				t.Fatalf("trimmed %v", r.Trimmed)
			}
		})
	}
}

// sendEvent sends a 20 ms telephone-event: its begin, then its end three times.
func sendEvent(p *phone, to netip.AddrPort, ev byte) {
	p.send(to, 101, []byte{ev, 10, 0, 160}, true, 160)
	for range 3 {
		p.seq++
		p.sendRaw(to, rtpPacket(p, 101, []byte{ev, 0x80 | 10, 0, 160}))
	}
}

// rtpPacket is a packet with the phone's current sequence number and timestamp.
func rtpPacket(p *phone, pt uint8, pl []byte) rtp.Packet {
	return rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: p.seq, Timestamp: p.ts, SSRC: p.ssrc}, Payload: pl}
}

func TestRecordDecodesExactlyAndFillsGaps(t *testing.T) {
	e := newEngine(t, testConfig())
	p := newPhone(t)
	s := openSession(t, e, SessionOptions{})
	s.SetRemote(negotiated(p.addr(), sdp.PCMA, 101))
	done := startRecording(s, context.Background(), RecordOptions{Stop: "#"})
	waitRecording(t, s)
	to := loopback(s)
	a := payload(160, 3)
	p.send(to, 8, a, true, 160)
	p.send(to, 8, a, false, 160)
	p.sendRaw(to, rtpPacket(p, 8, a))  // a duplicate: dropped
	p.send(to, 0, quiet(), false, 320) // one packet lost before it, µ-law now
	sendEvent(p, to, 11)
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	pcm := res.rec.PCM
	if len(pcm) != 2*160*4 {
		t.Fatalf("%d samples, want 640 (two packets, a hole of one, one)", len(pcm)/2)
	}
	for i := range 160 {
		want := g711.DecodeAlawFrame(a[i])
		if got := int16(binary.LittleEndian.Uint16(pcm[2*i:])); got != want {
			t.Fatalf("sample %d: %d, want %d", i, got, want)
		}
		if got := int16(binary.LittleEndian.Uint16(pcm[2*(320+i):])); got != 0 {
			t.Fatalf("hole sample %d: %d, want silence", i, got)
		}
	}
}

func TestRecordHangupAndBusy(t *testing.T) {
	e := newEngine(t, testConfig())
	p := newPhone(t)
	s := openSession(t, e, SessionOptions{})
	s.SetRemote(negotiated(p.addr(), sdp.PCMU, 101))
	ctx, cancel := context.WithCancel(context.Background())
	done := startRecording(s, ctx, RecordOptions{Stop: "#"})
	waitRecording(t, s)
	if _, err := s.Record(context.Background(), RecordOptions{}); err != ErrRecording {
		t.Fatalf("second recording: %v", err)
	}
	p.audio(loopback(s), 0, loud(), 5, 0)
	waitFor(t, "audio", func() bool { return s.Stats().RxPackets >= 5 })
	cancel()
	res := <-done
	if res.err != nil || res.rec.End != EndHangup || res.rec.Duration() != 100*time.Millisecond {
		t.Fatalf("%v %+v", res.err, res.rec)
	}
	s.Close()
	if _, err := s.Record(context.Background(), RecordOptions{}); err != ErrClosed {
		t.Fatalf("closed: %v", err)
	}
}

func TestWAVRoundTrip(t *testing.T) {
	pcm := []byte{1, 2, 3, 4, 5, 6}
	var b bytes.Buffer
	if err := WriteWAV(&b, pcm); err != nil {
		t.Fatal(err)
	}
	if b.Len() != 44+6 {
		t.Fatalf("%d bytes", b.Len())
	}
	got, err := sound.ParseWAV(b.Bytes())
	if err != nil || !bytes.Equal(got, pcm) {
		t.Fatalf("%v %v", got, err)
	}
}
