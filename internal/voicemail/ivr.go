package voicemail

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/channel"
	"github.com/pleiades-pbx/pleiades/internal/dialplan"
	"github.com/pleiades-pbx/pleiades/internal/media"
	"github.com/pleiades-pbx/pleiades/internal/media/sound"
)

// errHangup: the caller hung up (or the channel's context ended).
var errHangup = errors.New("voicemail: hangup")

// ivr plays prompts to a leg and reads its DTMF: what app_voicemail does with
// ast_play_and_wait, ast_waitfordigit and ast_readstring. Digits come from the leg's frames
// (RFC 4733 as the channel queues them); a digit pressed during a prompt stops it and is
// the answer.
type ivr struct {
	ch     *dialplan.Channel
	leg    *channel.Channel
	sess   *media.Session
	sounds string
	lang   string
}

func newIVR(ch *dialplan.Channel) (*ivr, error) {
	leg := ch.Leg()
	if leg == nil || leg.Media() == nil {
		return nil, errors.New("no media")
	}
	v := &ivr{ch: ch, leg: leg, sess: leg.Media(), lang: leg.Snapshot().Language}
	if v.lang == "" {
		v.lang = "en"
	}
	if e := ch.Engine(); e != nil {
		v.sounds = e.SoundsDir()
	}
	return v, nil
}

// digitFrom returns the digit of a DTMF end frame.
func digitFrom(f channel.Frame) (rune, bool) {
	if f.Kind == channel.FrameDTMFEnd {
		return f.Digit, true
	}
	return 0, false
}

// drain drops the DTMF frames already queued (the '#' that ended a recording).
func (v *ivr) drain() {
	for {
		select {
		case <-v.leg.Frames():
		default:
			return
		}
	}
}

// playClip plays one clip or file; when stop is not empty a digit in it (any digit for
// "any") stops it and is returned.
func (v *ivr) playWith(ctx context.Context, stop string, play func(context.Context) error) (rune, error) {
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- play(pctx) }()
	defer cancel()
	for {
		select {
		case err := <-done:
			if ctx.Err() != nil {
				return 0, errHangup
			}
			if errors.Is(err, media.ErrClosed) {
				return 0, errHangup
			}
			return 0, err
		case <-v.leg.Done():
			cancel()
			<-done
			return 0, errHangup
		case f := <-v.leg.Frames():
			d, ok := digitFrom(f)
			if !ok || stop == "" || (stop != "any" && !strings.ContainsRune(stop, d)) {
				continue
			}
			cancel()
			<-done
			return d, nil
		}
	}
}

// play plays files one after the other; a digit of stop ("any": every digit; "": none) ends
// the playback and is returned. A file that cannot be found is logged and skipped.
func (v *ivr) play(ctx context.Context, stop string, files ...string) (rune, error) {
	for _, f := range files {
		if f == "" {
			continue
		}
		d, err := v.playWith(ctx, stop, func(c context.Context) error {
			_, err := v.sess.PlayFile(c, v.sounds, v.lang, f, "")
			return err
		})
		if errors.Is(err, errHangup) {
			return 0, err
		}
		if err != nil && ctx.Err() == nil {
			if errors.Is(err, sound.ErrNotFound) {
				v.ch.Log(slog.LevelWarn, "File "+f+" does not exist in any format")
			}
			continue
		}
		if d != 0 {
			return d, nil
		}
	}
	return 0, nil
}

// playPCM plays recorded audio (16-bit 8 kHz linear).
func (v *ivr) playPCM(ctx context.Context, stop string, pcm []byte) (rune, error) {
	clip := &sound.Clip{Encoding: sound.Linear, Data: pcm}
	return v.playWith(ctx, stop, func(c context.Context) error {
		_, err := v.sess.Play(c, clip, "")
		return err
	})
}

// Keys during a message (Asterisk's listen control defaults): '#' forward and '*' back by
// skipms, '0' pause and resume, '2' from the start; any other digit stops the message and is
// the next command.
const (
	keyForward = '#'
	keyReverse = '*'
	keyPause   = '0'
	keyRestart = '2'
)

// playMessage plays a message with Asterisk's listen controls (ast_control_streamfile with
// skipms): '#' skips forward and '*' back by skip, '0' pauses until '0' again (another digit
// while paused stops), '2' starts again; any other digit stops it and is returned.
// Skipping past the end ends the message.
func (v *ivr) playMessage(ctx context.Context, pcm []byte, skip time.Duration) (rune, error) {
	const bytesPerMS = 16 // 16-bit samples at 8 kHz
	step := int(skip/time.Millisecond) * bytesPerMS
	pos := 0
	for pos < len(pcm) {
		start := time.Now()
		d, err := v.playPCM(ctx, "any", pcm[pos:])
		if err != nil || d == 0 {
			return d, err
		}
		pos += int(time.Since(start)/time.Millisecond) * bytesPerMS
		switch d {
		case keyForward:
			pos += step
		case keyReverse:
			pos = max(pos-step, 0)
		case keyRestart:
			pos = 0
		case keyPause:
			for {
				d, err := v.waitDigit(ctx, time.Hour)
				if err != nil {
					return 0, err
				}
				if d == keyPause {
					break
				}
				if d != 0 {
					return d, nil
				}
			}
		default:
			return d, nil
		}
		pos -= pos % 2
	}
	return 0, nil
}

// waitDigit waits up to timeout for a digit (0 on timeout).
func (v *ivr) waitDigit(ctx context.Context, timeout time.Duration) (rune, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return 0, errHangup
		case <-v.leg.Done():
			return 0, errHangup
		case <-t.C:
			return 0, nil
		case f := <-v.leg.Frames():
			if d, ok := digitFrom(f); ok {
				return d, nil
			}
		}
	}
}

// read plays prompt (a digit stops it and counts) and collects up to max digits until '#'
// or timeout between digits (Asterisk's ast_readstring after ast_streamfile).
func (v *ivr) read(ctx context.Context, prompt string, max int, timeout time.Duration) (string, error) {
	var b strings.Builder
	if prompt != "" {
		d, err := v.play(ctx, "any", prompt)
		if err != nil {
			return "", err
		}
		if d == '#' {
			return "", nil
		}
		if d != 0 {
			b.WriteRune(d)
		}
	}
	for b.Len() < max {
		d, err := v.waitDigit(ctx, timeout)
		if err != nil {
			return b.String(), err
		}
		if d == 0 || d == '#' {
			break
		}
		b.WriteRune(d)
	}
	return b.String(), nil
}

// numberFiles are the digits/ files that say n in English (Asterisk's ast_say_number for
// "en": thousands, hundreds, tens and units).
func numberFiles(n int) []string {
	if n < 0 {
		return append([]string{"digits/minus"}, numberFiles(-n)...)
	}
	if n == 0 {
		return []string{"digits/0"}
	}
	var out []string
	if n >= 1000 {
		out = append(out, numberFiles(n/1000)...)
		out = append(out, "digits/thousand")
		n %= 1000
	}
	if n >= 100 {
		out = append(out, "digits/"+strconv.Itoa(n/100), "digits/hundred")
		n %= 100
	}
	switch {
	case n >= 20:
		out = append(out, "digits/"+strconv.Itoa(n/10*10))
		if n%10 != 0 {
			out = append(out, "digits/"+strconv.Itoa(n%10))
		}
	case n > 0:
		out = append(out, "digits/"+strconv.Itoa(n))
	}
	return out
}

// digitFiles say s digit by digit (ast_say_digit_str).
func digitFiles(s string) []string {
	var out []string
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			out = append(out, "digits/"+string(r))
		case r == '*':
			out = append(out, "digits/star")
		case r == '#':
			out = append(out, "digits/pound")
		}
	}
	return out
}
