package media

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// RecordOptions say when Record stops.
type RecordOptions struct {
	// MaxDuration ends the recording once this much audio was recorded, or this much time
	// passed (whichever comes first); 0: no limit.
	MaxDuration time.Duration
	// MaxSilence ends the recording after this much silence (audio whose average absolute
	// amplitude is under SilenceThreshold, or no audio at all); 0: silence never ends it.
	MaxSilence time.Duration
	// SilenceThreshold is the average absolute amplitude (of 16-bit samples) under which a
	// packet is silence; 0: DefaultSilenceThreshold.
	SilenceThreshold int
	// Stop lists the DTMF digits that end the recording ("#" for VoiceMail and Record).
	Stop string
}

// DefaultSilenceThreshold is voicemail.conf's silencethreshold default (Asterisk's sample:
// 128).
const DefaultSilenceThreshold = 128

// RecordEnd says why a recording ended.
type RecordEnd uint8

// Why Record returned.
const (
	EndDTMF        RecordEnd = iota + 1 // a Stop digit (Recording.Digit)
	EndMaxDuration                      // MaxDuration reached
	EndSilence                          // MaxSilence of silence
	EndHangup                           // the session closed or ctx ended
)

func (e RecordEnd) String() string {
	switch e {
	case EndDTMF:
		return "dtmf"
	case EndMaxDuration:
		return "maxduration"
	case EndSilence:
		return "silence"
	case EndHangup:
		return "hangup"
	}
	return "unknown"
}

// Recording is what Record captured: the peer's audio as 16-bit little-endian linear
// samples at 8 kHz (Asterisk's slin, the payload of its "wav" format).
type Recording struct {
	PCM   []byte
	End   RecordEnd
	Digit byte // the Stop digit, for EndDTMF
	// Trimmed is the trailing silence removed when silence ended the recording (Asterisk
	// keeps the last 200 ms of it).
	Trimmed time.Duration
}

// Duration is the recording's length.
func (r *Recording) Duration() time.Duration {
	return time.Duration(len(r.PCM)/2) * sampleTime
}

// ErrRecording: the session is already recording.
var ErrRecording = errors.New("media: the session is already recording")

// silenceKept is how much of the trailing silence a recording ended by silence keeps.
const silenceKept = 200 * time.Millisecond

// maxGapFill is the longest hole in the received timestamps filled with silence; a larger
// jump (a new talk spurt after a long pause, a sender that restarted its clock) is not.
const maxGapFill = 2 * 8000

// recorder collects a session's received audio. add runs on the session's reader; the
// recording goroutine reads the result under mu once the recorder is detached.
type recorder struct {
	mu        sync.Mutex
	pcm       []byte
	maxBytes  int // 0: none
	silLimit  int // samples of silence that end it; 0: none
	threshold int
	silent    int // samples of silence at the end of pcm
	haveTS    bool
	ssrc      uint32
	nextTS    uint32

	lastAudio atomic.Int64 // UnixNano of the last audio packet (or of the start)
	ended     chan struct{}
	endOnce   sync.Once
	end       RecordEnd // under mu, set with ended
}

func (r *recorder) finish(e RecordEnd) {
	r.endOnce.Do(func() {
		r.end = e
		close(r.ended)
	})
}

// add appends one packet's audio. It runs on the session's reading goroutine.
func (r *recorder) add(pl []byte, codec Codec, ssrc, ts uint32, now time.Time) {
	r.lastAudio.Store(now.UnixNano())
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.ended:
		return
	default:
	}
	if r.haveTS && ssrc == r.ssrc {
		d := int32(ts - r.nextTS)
		switch {
		case d < 0 && d > -int32(len(pl)):
			// Overlaps what was recorded (a duplicate): keep only the new part.
			pl = pl[min(int(-d), len(pl)):]
		case d < 0:
			return // late, reordered: already past it
		case d > 0 && d <= maxGapFill:
			r.appendSilence(int(d)) // lost packets: keep the timing
		}
	}
	r.haveTS, r.ssrc, r.nextTS = true, ssrc, ts+uint32(len(pl))
	if len(pl) == 0 {
		return
	}
	table := &ulawLinear
	if codec == PCMA {
		table = &alawLinear
	}
	sum := 0
	for _, b := range pl {
		v := table[b]
		r.pcm = binary.LittleEndian.AppendUint16(r.pcm, uint16(v))
		if v < 0 {
			sum -= int(v)
		} else {
			sum += int(v)
		}
	}
	if sum/len(pl) < r.threshold {
		r.silent += len(pl)
	} else {
		r.silent = 0
	}
	if r.maxBytes > 0 && len(r.pcm) >= r.maxBytes {
		r.pcm = r.pcm[:r.maxBytes]
		r.finish(EndMaxDuration)
		return
	}
	if r.silLimit > 0 && r.silent >= r.silLimit {
		r.finish(EndSilence)
	}
}

func (r *recorder) appendSilence(n int) {
	if r.maxBytes > 0 {
		n = min(n, (r.maxBytes-len(r.pcm))/2)
	}
	r.pcm = append(r.pcm, make([]byte, 2*n)...)
	r.silent += n
}

// G.711 to linear, one look-up per byte.
var ulawLinear, alawLinear [256]int16

func init() {
	for i := range 256 {
		ulawLinear[i] = DecodeSample(PCMU, byte(i))
		alawLinear[i] = DecodeSample(PCMA, byte(i))
	}
}

// Record captures the audio the peer sends (PCMU or PCMA, decoded to 16-bit linear; holes
// in the timestamps up to 2 s are filled with silence, duplicates dropped) until a DTMF
// digit of opts.Stop ends, opts.MaxDuration is reached, opts.MaxSilence of silence passed
// (the trailing silence is then cut to its last 200 ms, as Asterisk's
// ast_play_and_record does), or the session closes or ctx ends (EndHangup, with what was
// recorded so far and a nil error: the caller decides whether to keep it). Telephone-events
// are not audio and are not recorded. It records whether the session is bridged or not, on
// the caller's goroutine; one recording at a time (ErrRecording).
func (s *Session) Record(ctx context.Context, opts RecordOptions) (*Recording, error) {
	if s.shut.Load() {
		return nil, ErrClosed
	}
	r := &recorder{threshold: opts.SilenceThreshold, ended: make(chan struct{})}
	if r.threshold <= 0 {
		r.threshold = DefaultSilenceThreshold
	}
	if opts.MaxDuration > 0 {
		r.maxBytes = 2 * int(opts.MaxDuration/sampleTime)
		r.pcm = make([]byte, 0, min(r.maxBytes, 2*8000*60))
	}
	if opts.MaxSilence > 0 {
		r.silLimit = int(opts.MaxSilence / sampleTime)
	}
	start := time.Now()
	r.lastAudio.Store(start.UnixNano())
	var sub chan DTMF
	if opts.Stop != "" {
		sub = s.subscribeDTMF()
		defer s.unsubscribeDTMF(sub)
	}
	if !s.rec.CompareAndSwap(nil, r) {
		return nil, ErrRecording
	}
	defer s.rec.Store(nil)

	var maxC <-chan time.Time
	if opts.MaxDuration > 0 {
		t := time.NewTimer(opts.MaxDuration)
		defer t.Stop()
		maxC = t.C
	}
	// No packets at all is silence too: a ticker checks how long ago the last audio came.
	var silC <-chan time.Time
	if opts.MaxSilence > 0 {
		t := time.NewTicker(min(opts.MaxSilence/4+time.Millisecond, 250*time.Millisecond))
		defer t.Stop()
		silC = t.C
	}
	rec := &Recording{}
wait:
	for {
		select {
		case <-r.ended:
			break wait
		case <-ctx.Done():
			r.finish(EndHangup)
		case <-s.done:
			r.finish(EndHangup)
		case <-maxC:
			r.finish(EndMaxDuration)
		case now := <-silC:
			if now.Sub(time.Unix(0, r.lastAudio.Load())) >= opts.MaxSilence {
				r.mu.Lock()
				r.silent = max(r.silent, r.silLimit)
				r.mu.Unlock()
				r.finish(EndSilence)
			}
		case ev := <-sub:
			if ev.End && strings.IndexByte(opts.Stop, ev.Digit) >= 0 {
				rec.Digit = ev.Digit
				r.finish(EndDTMF)
			}
		}
	}
	s.rec.Store(nil) // the reader adds nothing more once it sees nil or ended
	r.mu.Lock()
	rec.PCM, rec.End = r.pcm, r.end
	if r.end != EndDTMF {
		rec.Digit = 0
	}
	if r.end == EndSilence {
		keep := int(silenceKept / sampleTime)
		if cut := min(r.silent, len(rec.PCM)/2) - keep; cut > 0 {
			rec.PCM = rec.PCM[:len(rec.PCM)-2*cut]
			rec.Trimmed = time.Duration(cut) * sampleTime
		}
	}
	r.mu.Unlock()
	return rec, nil
}

// WAV is the header of a RIFF/WAVE file of 16-bit mono PCM at 8 kHz holding n bytes of
// samples: Asterisk's "wav" format (format_wav.c), which sound.ParseWAV reads back.
func WAV(n int) []byte {
	h := make([]byte, 44)
	copy(h[0:], "RIFF")
	binary.LittleEndian.PutUint32(h[4:], uint32(36+n))
	copy(h[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)   // fmt chunk size
	binary.LittleEndian.PutUint16(h[20:], 1)    // PCM
	binary.LittleEndian.PutUint16(h[22:], 1)    // mono
	binary.LittleEndian.PutUint32(h[24:], 8000) // sample rate
	binary.LittleEndian.PutUint32(h[28:], 16000)
	binary.LittleEndian.PutUint16(h[32:], 2) // block align
	binary.LittleEndian.PutUint16(h[34:], 16)
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], uint32(n))
	return h
}

// WriteWAV writes pcm (16-bit little-endian samples at 8 kHz) as a WAV file.
func WriteWAV(w io.Writer, pcm []byte) error {
	if _, err := w.Write(WAV(len(pcm))); err != nil {
		return err
	}
	_, err := w.Write(pcm)
	return err
}
