package media

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// DTMF is a digit received as RFC 4733 telephone-events: a begin when its first packet
// arrives, an end (with its duration) when its end packet does (the retransmitted end
// packets are dropped) or when the stream's timestamps pass its start plus duration plus
// dtmftimeout (an end lost).
type DTMF struct {
	Digit    byte // 0-9 * # A-D, X for flash (event 16)
	End      bool
	Duration time.Duration // of an end
}

// ErrNoDTMF: the peer did not negotiate telephone-event.
var ErrNoDTMF = errors.New("media: the peer takes no RFC 4733 telephone-event")

const dtmfVolume = 10 // -10 dBm0, as Asterisk sends

// dtmfRx is the receive state of telephone-events (reading goroutine only).
type dtmfRx struct {
	active bool
	ts     uint32 // event start timestamp
	digit  byte
	dur    uint32
	ended  bool
	endTS  uint32
}

func eventDigit(e byte) (byte, bool) {
	switch {
	case e <= 9:
		return '0' + e, true
	case e == 10:
		return '*', true
	case e == 11:
		return '#', true
	case e >= 12 && e <= 15:
		return 'A' + e - 12, true
	case e == 16:
		return 'X', true
	}
	return 0, false
}

func digitEvent(d byte) (byte, bool) {
	switch {
	case d >= '0' && d <= '9':
		return d - '0', true
	case d == '*':
		return 10, true
	case d == '#':
		return 11, true
	case d >= 'A' && d <= 'D':
		return 12 + d - 'A', true
	case d >= 'a' && d <= 'd':
		return 12 + d - 'a', true
	}
	return 0, false
}

func samplesDuration(n uint32) time.Duration { return time.Duration(n) * time.Second / 8000 }

// dtmfReceived handles one telephone-event payload.
func (s *Session) dtmfReceived(pl []byte, ts uint32) {
	if len(pl) < 4 {
		return
	}
	digit, ok := eventDigit(pl[0])
	if !ok {
		return
	}
	end := pl[1]&0x80 != 0
	dur := uint32(binary.BigEndian.Uint16(pl[2:]))
	d := &s.rx.dtmf
	if d.ended && ts == d.endTS {
		return // a retransmitted end, or a late packet of an event already ended
	}
	if d.active && ts != d.ts {
		// A new event while the last one never ended.
		d.active = false
		s.emitDTMF(DTMF{Digit: d.digit, End: true, Duration: samplesDuration(d.dur)})
	}
	if !d.active {
		d.active, d.ts, d.digit, d.dur = true, ts, digit, dur
		s.emitDTMF(DTMF{Digit: digit})
	} else if dur > d.dur {
		d.dur = dur
	}
	if end {
		d.active, d.ended, d.endTS = false, true, ts
		s.emitDTMF(DTMF{Digit: digit, End: true, Duration: samplesDuration(dur)})
	}
}

// dtmfCheckTimeout ends a digit whose end packet was lost, once audio timestamps pass it
// by dtmftimeout.
func (s *Session) dtmfCheckTimeout(ts uint32) {
	d := &s.rx.dtmf
	if int32(ts-(d.ts+d.dur+s.cfg.DTMFTimeout)) > 0 {
		d.active, d.ended, d.endTS = false, true, d.ts
		s.emitDTMF(DTMF{Digit: d.digit, End: true, Duration: samplesDuration(d.dur)})
	}
}

func (s *Session) emitDTMF(ev DTMF) {
	if s.opts.OnDTMF != nil {
		s.opts.OnDTMF(ev)
	}
	s.dtmfMu.Lock()
	for ch := range s.dtmfSubs {
		select {
		case ch <- ev:
		default:
		}
	}
	s.dtmfMu.Unlock()
}

func (s *Session) subscribeDTMF() chan DTMF {
	ch := make(chan DTMF, 16)
	s.dtmfMu.Lock()
	if s.dtmfSubs == nil {
		s.dtmfSubs = map[chan DTMF]struct{}{}
	}
	s.dtmfSubs[ch] = struct{}{}
	s.dtmfMu.Unlock()
	return ch
}

func (s *Session) unsubscribeDTMF(ch chan DTMF) {
	s.dtmfMu.Lock()
	delete(s.dtmfSubs, ch)
	s.dtmfMu.Unlock()
}

// Default SendDTMF timings (Asterisk's SendDTMF: 100 ms tones, 250 ms between them).
const (
	DefaultDTMFDuration = 100 * time.Millisecond
	DefaultDTMFGap      = 250 * time.Millisecond
)

// SendDTMF sends digits (0-9 * # A-D; 'w' waits 500 ms) as RFC 4733 events, as Asterisk
// does: a packet every 20 ms while the tone lasts (the first with the marker bit, all with
// the event's start timestamp and a growing duration), then the end packet three times;
// gap between digits. duration and gap 0 take the defaults. Relayed audio to this session
// is held back while it runs. It returns when done, when ctx ends, or ErrClosed.
func (s *Session) SendDTMF(ctx context.Context, digits string, duration, gap time.Duration) error {
	for i := 0; i < len(digits); i++ {
		if _, ok := digitEvent(digits[i]); !ok && digits[i] != 'w' && digits[i] != 'W' {
			return fmt.Errorf("media: %q is not a DTMF digit", digits[i])
		}
	}
	if duration <= 0 {
		duration = DefaultDTMFDuration
	}
	if gap <= 0 {
		gap = DefaultDTMFGap
	}
	s.txMu.Lock()
	pt := s.tx.dtmfPT
	if pt >= 0 {
		s.tx.busy++
	}
	s.txMu.Unlock()
	if pt < 0 {
		return ErrNoDTMF
	}
	defer func() {
		s.txMu.Lock()
		s.tx.busy--
		s.txMu.Unlock()
	}()
	const step = 20 * time.Millisecond
	tick := time.NewTicker(step)
	defer tick.Stop()
	wait := func(d time.Duration) error {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return ErrClosed
		}
	}
	buf := make([]byte, rtpHeader+4)
	for i := 0; i < len(digits); i++ {
		if i > 0 {
			if err := wait(gap); err != nil {
				return err
			}
		}
		ev, ok := digitEvent(digits[i])
		if !ok { // 'w'
			if err := wait(500 * time.Millisecond); err != nil {
				return err
			}
			continue
		}
		steps := max(int(duration/step), 1)
		pl := buf[rtpHeader:]
		pl[0], pl[1] = ev, dtmfVolume
		tick.Reset(step)
		for k := 1; k <= steps; k++ {
			binary.BigEndian.PutUint16(pl[2:], uint16(k*160))
			if err := s.sendLocal(buf, 4, uint8(pt), k == 1, k == 1, 0, time.Now()); err != nil {
				return err
			}
			select {
			case <-tick.C:
			case <-ctx.Done():
				return ctx.Err()
			case <-s.done:
				return ErrClosed
			}
		}
		pl[1] = 0x80 | dtmfVolume
		for range 3 {
			if err := s.sendLocal(buf, 4, uint8(pt), false, false, 0, time.Now()); err != nil {
				return err
			}
		}
	}
	return nil
}
