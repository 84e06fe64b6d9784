package media

import (
	"context"
	"encoding/binary"
	"errors"
	"time"
)

// Bridge relays RTP both ways between a and b (two sessions of one engine), until
// Unbridge or Close of either. Each packet goes out as it came in, on the reading
// goroutine of the session that received it, with no allocation: only what must change
// is rewritten (the payload type for the other leg's numbers, our SSRC, and sequence
// numbers and timestamps shifted so each leg sees one continuous stream across source
// changes, playbacks and re-bridges, with the marker bit at each change); µ-law ↔ A-law is
// transcoded in place; RFC 4733 events pass through with the other leg's payload type.
func Bridge(a, b *Session) error {
	if a == nil || b == nil || a == b || a.e != b.e {
		return errors.New("media: Bridge needs two sessions of one engine")
	}
	e := a.e
	e.bridgeMu.Lock()
	defer e.bridgeMu.Unlock()
	if a.shut.Load() || b.shut.Load() {
		return ErrClosed
	}
	if a.bridged != nil || a.echoing || b.bridged != nil || b.echoing {
		return ErrBridged
	}
	a.bridged, b.bridged = b, a
	a.sink.Store(b)
	b.sink.Store(a)
	return nil
}

// Unbridge takes the session and its peer out of their bridge (nothing when not bridged).
// A packet being forwarded at that moment may still go out.
func (s *Session) Unbridge() {
	s.e.bridgeMu.Lock()
	s.unbridgeLocked()
	s.e.bridgeMu.Unlock()
}

// Bridged returns the session's bridge peer, nil when not bridged.
func (s *Session) Bridged() *Session {
	s.e.bridgeMu.Lock()
	defer s.e.bridgeMu.Unlock()
	return s.bridged
}

func (s *Session) unbridgeLocked() {
	if p := s.bridged; p != nil {
		p.bridged = nil
		p.sink.Store(nil)
		s.bridged = nil
		s.sink.Store(nil)
	}
	if s.echoing {
		s.echoing = false
		s.sink.Store(nil)
	}
}

// Echo sends back to the peer what it sends (Asterisk's Echo application: audio and DTMF),
// until ctx ends, the session closes (ErrClosed), or the peer ends a DTMF digit found in
// stop, which Echo returns. A bridged session cannot echo (ErrBridged).
func (s *Session) Echo(ctx context.Context, stop string) (byte, error) {
	var sub chan DTMF
	if stop != "" {
		sub = s.subscribeDTMF()
		defer s.unsubscribeDTMF(sub)
	}
	e := s.e
	e.bridgeMu.Lock()
	switch {
	case s.shut.Load():
		e.bridgeMu.Unlock()
		return 0, ErrClosed
	case s.bridged != nil || s.echoing:
		e.bridgeMu.Unlock()
		return 0, ErrBridged
	}
	s.echoing = true
	s.sink.Store(s)
	e.bridgeMu.Unlock()
	defer func() {
		e.bridgeMu.Lock()
		if s.echoing {
			s.echoing = false
			s.sink.Store(nil)
		}
		e.bridgeMu.Unlock()
	}()
	return s.waitStop(ctx, nil, sub, stop)
}

// forward sends a packet that src received (p: header and payload, hl: header length) out
// of d, reporting whether it went. It runs on src's reading goroutine and allocates
// nothing; p is src's read buffer, rewritten in place.
func (d *Session) forward(src *Session, p []byte, hl int, in Codec, event bool, ssrc uint32, seq uint16, ts uint32, now time.Time) bool {
	d.txMu.Lock()
	t := &d.tx
	if d.shut.Load() || !t.canSend || t.busy > 0 {
		d.txMu.Unlock()
		return false
	}
	var pt uint8
	if event {
		if t.dtmfPT < 0 {
			d.txMu.Unlock()
			return false
		}
		pt = uint8(t.dtmfPT)
	} else {
		if in != t.codec {
			transcode(p[hl:], in, t.codec)
		}
		pt = t.codec.PT()
	}
	marker := p[1] & 0x80
	if !t.prodSet || t.prod != src || t.prodSSR != ssrc {
		// A new source for this leg: go on from our last packet.
		outTS := t.spurtTS(now, 160)
		t.seqOff = t.seq + 1 - seq
		t.tsOff = outTS - ts
		t.prod, t.prodSet, t.prodSSR = src, true, ssrc
		marker = 0x80
	}
	outSeq, outTS := seq+t.seqOff, ts+t.tsOff
	p[0] &^= 0x20 // padding was cut off
	p[1] = marker | pt
	binary.BigEndian.PutUint16(p[2:], outSeq)
	binary.BigEndian.PutUint32(p[4:], outTS)
	binary.BigEndian.PutUint32(p[8:], t.ssrc)
	err := d.rtpS.sendTo(p, t.dest)
	if s := outSeq - t.seq; s != 0 && s < 0x8000 {
		t.seq = outSeq
	}
	if int32(outTS-t.ts) > 0 || !t.sent {
		t.ts = outTS
	}
	t.lastAt, t.sent = now, true
	d.txMu.Unlock()
	if err != nil {
		return false
	}
	d.ctr.txPackets.Add(1)
	d.ctr.txBytes.Add(uint64(len(p) - hl))
	return true
}

// spurtTS is the timestamp of a packet starting a new run from a new producer: the last
// one's plus the time since it (at least `least` samples), so the peer's jitter buffer sees
// real time pass.
func (t *txState) spurtTS(now time.Time, least uint32) uint32 {
	if !t.sent {
		return t.ts
	}
	adv := uint32(min(now.Sub(t.lastAt)/sampleTime, 1<<30))
	if adv < least {
		adv = least
	}
	return t.ts + adv
}

// sendLocal sends a packet the session makes itself (playback, DTMF): buf holds rtpHeader
// bytes of room and then plen bytes of payload. newSpurt starts a new run (marker bit,
// timestamp after the last packet by the time passed); otherwise the timestamp advances by
// advance samples (0 for the packets of one DTMF event).
func (s *Session) sendLocal(buf []byte, plen int, pt uint8, marker, newSpurt bool, advance uint32, now time.Time) error {
	s.txMu.Lock()
	t := &s.tx
	if s.shut.Load() {
		s.txMu.Unlock()
		return ErrClosed
	}
	if newSpurt || !t.prodSet || t.prod != nil {
		t.ts = t.spurtTS(now, max(advance, 1))
		t.prod, t.prodSet = nil, true
		marker = true
	} else {
		t.ts += advance
	}
	t.seq++
	t.lastAt, t.sent = now, true
	buf[0] = 0x80
	buf[1] = pt
	if marker {
		buf[1] |= 0x80
	}
	binary.BigEndian.PutUint16(buf[2:], t.seq)
	binary.BigEndian.PutUint32(buf[4:], t.ts)
	binary.BigEndian.PutUint32(buf[8:], t.ssrc)
	if !t.canSend {
		s.txMu.Unlock()
		return nil // held: the time passes, nothing is sent
	}
	err := s.rtpS.sendTo(buf[:rtpHeader+plen], t.dest)
	s.txMu.Unlock()
	if err != nil {
		return err
	}
	s.ctr.txPackets.Add(1)
	s.ctr.txBytes.Add(uint64(plen))
	return nil
}
