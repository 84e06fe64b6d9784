package media

import (
	"context"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/media/sound"
)

// PlayFile finds name as Asterisk does (sound.Find under soundsDir = astdatadir/sounds,
// in language lang, preferring a file already in the session's codec) and plays it (Play).
func (s *Session) PlayFile(ctx context.Context, soundsDir, lang, name, stop string) (byte, error) {
	s.txMu.Lock()
	codec := s.tx.codec
	s.txMu.Unlock()
	prefer := sound.Ulaw
	if codec == PCMA {
		prefer = sound.Alaw
	}
	f, err := sound.Find(soundsDir, lang, name, prefer)
	if err != nil {
		return 0, err
	}
	c, err := sound.Load(f)
	if err != nil {
		return 0, err
	}
	return s.Play(ctx, c, stop)
}

// Play sends clip to the peer in the session's codec, one packet per ptime (20 ms unless
// the peer's SDP said otherwise) paced by a ticker, the first with the marker bit, sequence
// numbers and timestamps going on from whatever the session sent before. Relayed packets
// to this session are held back while it plays. It returns when the clip has been played
// (one packet time after the last packet), when ctx ends (its error), when the session
// closes (ErrClosed), or, when stop is not empty, when the peer ends a DTMF digit found in
// stop, which it returns (Background, Read). Before SetRemote it fails with ErrNoRemote.
func (s *Session) Play(ctx context.Context, clip *sound.Clip, stop string) (byte, error) {
	var sub chan DTMF
	if stop != "" {
		sub = s.subscribeDTMF()
		defer s.unsubscribeDTMF(sub)
	}
	s.mu.Lock()
	has := s.hasRem
	s.mu.Unlock()
	if !has {
		return 0, ErrNoRemote
	}
	s.txMu.Lock()
	codec, ptime := s.tx.codec, s.tx.ptime
	s.tx.busy++
	s.txMu.Unlock()
	defer func() {
		s.txMu.Lock()
		s.tx.busy--
		s.txMu.Unlock()
	}()
	frame := ptime * 8
	buf := make([]byte, rtpHeader+frame)
	silence := byte(0xff)
	if codec == PCMA {
		silence = 0xd5
	}
	// Packets go out on a schedule kept against the clock (start + k·ptime), not one tick
	// after the previous send, so a late wake-up (a loaded machine) is made up by sending the
	// next packets sooner; a lag beyond maxPlayLag starts the schedule again from now, rather
	// than bursting a long stretch of audio into the far end's jitter buffer.
	interval := time.Duration(ptime) * time.Millisecond
	next := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	total := clip.Samples()
	for off := 0; off < total; off += frame {
		pl := buf[rtpHeader:]
		n := min(frame, total-off)
		switch clip.Encoding {
		case sound.Linear:
			encodeLinear(pl[:n], clip.Data[2*off:2*(off+n)], codec)
		case sound.Ulaw:
			copy(pl, clip.Data[off:off+n])
			transcode(pl[:n], PCMU, codec)
		case sound.Alaw:
			copy(pl, clip.Data[off:off+n])
			transcode(pl[:n], PCMA, codec)
		}
		for i := n; i < frame; i++ {
			pl[i] = silence
		}
		if err := s.sendLocal(buf, frame, codec.PT(), off == 0, off == 0, uint32(frame), time.Now()); err != nil {
			return 0, err
		}
		next = next.Add(interval)
		wait := time.Until(next)
		if wait < -maxPlayLag {
			next, wait = time.Now(), 0
		}
		timer.Reset(max(wait, 0))
		if d, err := s.waitStop(ctx, timer.C, sub, stop); d != 0 || err != nil {
			return d, err
		}
	}
	return 0, nil
}

// waitStop waits until tick fires (nil: never), returning 0, nil then; or until ctx ends,
// the session closes (ErrClosed) or the peer ends a DTMF digit found in stop (the digit).
func (s *Session) waitStop(ctx context.Context, tick <-chan time.Time, sub <-chan DTMF, stop string) (byte, error) {
	for {
		select {
		case <-tick:
			return 0, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-s.done:
			return 0, ErrClosed
		case ev := <-sub:
			if ev.End && strings.IndexByte(stop, ev.Digit) >= 0 {
				return ev.Digit, nil
			}
		}
	}
}

// maxPlayLag is how far playback may fall behind its schedule and still catch up.
const maxPlayLag = 200 * time.Millisecond
