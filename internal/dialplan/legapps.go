package dialplan

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/channel"
	"github.com/pleiades-pbx/pleiades/internal/media/sound"
)

// Applications that act on a real call leg's signalling and media. On a console or Local
// channel (no leg, no media) they do what can be done without one and say so in the doc.
func init() {
	for _, a := range []*App{
		{Name: "Progress", Synopsis: "Indicate progress", Exec: appProgress},
		{Name: "Playback", Synopsis: "Play a file", Exec: appPlayback},
		{Name: "Echo", Synopsis: "Echo media, DTMF back to the calling party", Exec: appEcho},
		{Name: "SendDTMF", Synopsis: "Sends arbitrary DTMF digits", Exec: appSendDTMF},
		{Name: "Read", Synopsis: "Read a variable", Exec: appRead},
		{Name: "Dial", Synopsis: "Attempt to connect to another device or endpoint and bridge the call", Exec: appDial},
	} {
		builtins.apps.put(a.Name, a)
	}
}

// legFailure is Busy([timeout]) and Congestion([timeout]) on a real leg: the condition is
// indicated and HANGUPCAUSE set (17 or 34). An unanswered leg becomes Busy and the call
// ends at once (the indication was its final response, SIP 486/503, after which chan_sip
// hangs the channel up); an answered one waits for the hangup or the timeout (the caller
// hears the tone).
func legFailure(ctx context.Context, ch *Channel, data string, cond channel.Condition, cause channel.Cause) error {
	ch.leg.Indicate(cond)
	ch.SetVar("HANGUPCAUSE", strconv.Itoa(int(cause)))
	ch.endCause = cause
	if ch.leg.State() != channel.Up {
		// Before an answer the indication is the call's final response (SIP 486/503):
		// chan_sip hangs the channel up right after sending it, so the call ends here.
		ch.leg.SetState(channel.Busy)
		return ErrHangup
	}
	ch.ResetSteps()
	secs, err := strconv.ParseFloat(strings.TrimSpace(data), 64)
	if err != nil || secs <= 0 {
		<-ctx.Done()
		return ErrHangup
	}
	t := time.NewTimer(time.Duration(secs * float64(time.Second)))
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	return ErrHangup
}

func appProgress(ctx context.Context, ch *Channel, data string) error {
	if ch.leg != nil {
		ch.leg.Indicate(channel.CondProgress)
	}
	return nil
}

func (ch *Channel) language() string {
	if ch.leg != nil {
		if l := ch.leg.Snapshot().Language; l != "" {
			return l
		}
	}
	return "en"
}

// playOne plays one sound file to the leg (or, without a leg, checks that it exists).
func (ch *Channel) playOne(ctx context.Context, name string) error {
	dir := ""
	if ch.engine != nil {
		dir = ch.engine.SoundsDir()
	}
	if ch.leg == nil {
		_, err := sound.Find(dir, ch.language(), name, sound.Ulaw)
		return err
	}
	s := ch.leg.Media()
	if s == nil {
		return errors.New("no media")
	}
	// A file stops the channel's music on hold (file.c's ast_openstream_full deactivates
	// the generator), for good: StartMusicOnHold, then Playback, leaves silence after.
	if ch.engine != nil {
		if m := ch.engine.Channels().MusicOnHold(); m != nil {
			m.StopMOH(ch.leg)
		}
	}
	_, err := s.PlayFile(ctx, dir, ch.language(), name, "")
	return err
}

// appPlayback is Playback(file[&file2...][,options]): options skip (do nothing unless the
// leg is up) and noanswer (play without answering); otherwise a leg not yet up is answered
// first. PLAYBACKSTATUS is SUCCESS, or FAILED when a file could not be played (each
// failure logged as Asterisk does, the next file still tried).
func appPlayback(ctx context.Context, ch *Channel, data string) error {
	files, opts, _ := strings.Cut(data, ",")
	if strings.TrimSpace(files) == "" {
		ch.logf(slog.LevelWarn, "Playback requires an argument (filename)")
		return errors.New("playback without a file")
	}
	skip := strings.Contains(opts, "skip")
	noAnswer := strings.Contains(opts, "noanswer")
	if ch.leg != nil && ch.leg.State() != channel.Up {
		if skip {
			return nil
		}
		if !noAnswer {
			if err := ch.leg.Answer(ctx); err != nil {
				return ErrHangup
			}
		}
	}
	ch.ResetSteps()
	failed := false
	for f := range strings.SplitSeq(files, "&") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		ch.verbosef(3, "<%s> Playing '%s' (language '%s')", ch.Name, f, ch.language())
		if err := ch.playOne(ctx, f); err != nil {
			failed = true
			if ctx.Err() != nil {
				break
			}
			if errors.Is(err, sound.ErrNotFound) {
				ch.logf(slog.LevelWarn, "File %s does not exist in any format", f)
			}
			ch.logf(slog.LevelWarn, "Playback failed on %s for %s", ch.Name, data)
		}
	}
	if failed {
		ch.SetVar("PLAYBACKSTATUS", "FAILED")
	} else {
		ch.SetVar("PLAYBACKSTATUS", "SUCCESS")
	}
	if ctx.Err() != nil {
		return ErrHangup
	}
	return nil
}

// appEcho is Echo(): what the caller sends (audio, DTMF) goes back to it until it hangs up
// or presses '#'.
func appEcho(ctx context.Context, ch *Channel, data string) error {
	ch.ResetSteps()
	if ch.leg == nil || ch.leg.Media() == nil {
		<-ctx.Done()
		return ErrHangup
	}
	d, err := ch.leg.Media().Echo(ctx, "#")
	if err == nil && d == '#' {
		return nil
	}
	return ErrHangup
}

// appSendDTMF is SendDTMF(digits[,timeout_ms[,duration_ms]]): each digit is sent out of
// band (RFC 4733) for duration_ms (default 100), timeout_ms (default 250) apart; 'w' waits
// half a second, 'W' a second.
func appSendDTMF(ctx context.Context, ch *Channel, data string) error {
	args := splitArgs(data, ',')
	digits := strings.TrimSpace(args[0])
	if digits == "" {
		ch.logf(slog.LevelWarn, "SendDTMF requires an argument")
		return nil
	}
	gap, dur := 250*time.Millisecond, 100*time.Millisecond
	if len(args) > 1 {
		if n, err := strconv.Atoi(strings.TrimSpace(args[1])); err == nil && n > 0 {
			gap = time.Duration(n) * time.Millisecond
		}
	}
	if len(args) > 2 {
		if n, err := strconv.Atoi(strings.TrimSpace(args[2])); err == nil && n > 0 {
			dur = time.Duration(n) * time.Millisecond
		}
	}
	ch.ResetSteps()
	for i, d := range digits {
		wait := time.Duration(0)
		switch {
		case d == 'w':
			wait = 500 * time.Millisecond
		case d == 'W':
			wait = time.Second
		case strings.ContainsRune("0123456789*#ABCDabcd", d):
			if ch.leg != nil {
				if err := ch.leg.SendDigit(d, dur); err != nil {
					return ErrHangup
				}
			}
			if i < len(digits)-1 {
				wait = gap
			}
		default:
			ch.logf(slog.LevelWarn, "Illegal DTMF character '%c' in string. (0-9*#aAbBcCdD allowed)", d)
			continue
		}
		if wait > 0 && !sleepCtx(ctx, wait) {
			return ErrHangup
		}
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// DefaultReadTimeout is how long Read() waits for each digit when not told (Asterisk's
// response timeout, 10 s).
const DefaultReadTimeout = 10 * time.Second

// appRead is Read(variable[,filename[&filename2...][,maxdigits[,options[,attempts[,timeout]]]]]):
// it plays the prompt (a digit stops it and counts), then collects DTMF received from the
// leg (RFC 4733, as the technology queues it) until maxdigits (0: up to 255), '#', or the
// timeout between digits. READSTATUS: OK, TIMEOUT (nothing entered), HANGUP, SKIPPED
// (option s on a leg not up), ERROR. A leg not up is answered unless option n.
func appRead(ctx context.Context, ch *Channel, data string) error {
	args := splitArgs(data, ',')
	arg := func(i int) string {
		if i < len(args) {
			return strings.TrimSpace(args[i])
		}
		return ""
	}
	name := arg(0)
	if name == "" {
		ch.logf(slog.LevelWarn, "Read requires an argument (variable)")
		ch.SetVar("READSTATUS", "ERROR")
		return nil
	}
	prompt, opts := arg(1), arg(3)
	maxDigits, _ := strconv.Atoi(arg(2))
	if maxDigits <= 0 || maxDigits > 255 {
		maxDigits = 255
	}
	attempts, _ := strconv.Atoi(arg(4))
	if attempts <= 0 {
		attempts = 1
	}
	timeout := DefaultReadTimeout
	if f, err := strconv.ParseFloat(arg(5), 64); err == nil && f > 0 {
		timeout = time.Duration(f * float64(time.Second))
	}
	if ch.leg == nil {
		ch.SetVar(name, "")
		ch.SetVar("READSTATUS", "ERROR")
		return nil
	}
	if ch.leg.State() != channel.Up {
		switch {
		case strings.Contains(opts, "s"):
			ch.SetVar("READSTATUS", "SKIPPED")
			return nil
		case !strings.Contains(opts, "n"):
			if err := ch.leg.Answer(ctx); err != nil {
				ch.SetVar("READSTATUS", "HANGUP")
				return ErrHangup
			}
		}
	}
	ch.ResetSteps()
	status, got := "TIMEOUT", ""
	for try := 0; try < attempts; try++ {
		var err error
		got, err = ch.readDigits(ctx, prompt, maxDigits, timeout)
		if err != nil {
			ch.SetVar(name, got)
			ch.SetVar("READSTATUS", "HANGUP")
			return ErrHangup
		}
		if got != "" {
			status = "OK"
			ch.verbosef(3, "User entered '%s'", got)
			break
		}
		ch.verbosef(3, "User entered nothing.")
	}
	ch.SetVar(name, got)
	ch.SetVar("READSTATUS", status)
	return nil
}

// readDigits plays prompt (stopped by the first digit) and collects digits from the leg's
// frames; '#' ends the input and is not part of it.
func (ch *Channel) readDigits(ctx context.Context, prompt string, maxDigits int, timeout time.Duration) (string, error) {
	var (
		playDone chan struct{}
		stopPlay = func() {}
	)
	if prompt != "" {
		pctx, cancel := context.WithCancel(ctx)
		playDone = make(chan struct{})
		stopPlay = func() { cancel(); <-playDone }
		go func() {
			defer close(playDone)
			for f := range strings.SplitSeq(prompt, "&") {
				if pctx.Err() != nil {
					return
				}
				if err := ch.playOne(pctx, strings.TrimSpace(f)); err != nil && pctx.Err() == nil {
					ch.logf(slog.LevelWarn, "Read: unable to play %s on %s: %v", f, ch.Name, err)
				}
			}
		}()
	}
	defer stopPlay()
	var b strings.Builder
	// The timeout starts once the prompt has played (Asterisk's ast_readstring after
	// ast_streamfile).
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	if playDone != nil {
		timer.Stop()
	}
	for {
		select {
		case <-ctx.Done():
			return b.String(), ctx.Err()
		case <-playDone:
			playDone = nil
			timer.Reset(timeout)
		case <-timer.C:
			return b.String(), nil
		case f := <-ch.leg.Frames():
			if f.Kind != channel.FrameDTMFEnd {
				continue
			}
			if playDone != nil {
				stopPlay()
				stopPlay = func() {}
				playDone = nil
			}
			if f.Digit == '#' {
				return b.String(), nil
			}
			b.WriteRune(f.Digit)
			if b.Len() >= maxDigits {
				return b.String(), nil
			}
			timer.Stop()
			timer.Reset(timeout)
		}
	}
}

// indicateRinging sends ringing to the far end of an incoming leg (SIP 180) without
// changing its state: Asterisk's ast_indicate(AST_CONTROL_RINGING) leaves the caller in
// Ring (only an outgoing leg whose far end rings becomes Ringing), so an answered Dial
// publishes a single Newstate Ringing, the callee's. channel.Channel.Indicate would move the
// leg to Ringing, hence the technology is asked directly (the dialplan owns the leg).
func indicateRinging(leg *channel.Channel) {
	select {
	case <-leg.Done():
		return
	default:
	}
	if t := leg.Tech(); t != nil {
		t.Indicate(channel.CondRinging)
	}
}
