package queue

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/channel"
)

// The position announcement, as app_queue's say_position: when it is due (positionDue) and
// what it says (positionFiles).

// holdEstimate is the estimated hold time say_position announces, in whole minutes and
// seconds rounded down to round (0: no seconds): the queue's average hold time avgHold plus
// half a minute, less what the caller waited, both in seconds. Asterisk's arithmetic is kept,
// quirks included: the difference is divided by 60 toward zero and then made positive, so a
// caller who waited longer than the estimate hears how much longer.
func holdEstimate(avgHold, waited, round int) (mins, secs int) {
	d := avgHold + 30 - waited
	mins = abs(d / 60)
	if round > 0 {
		secs = (abs(d) - 60*mins) / round * round
	}
	return mins, secs
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// positionFiles are the sound files of one position announcement to the caller at place pos
// (1: the head of the line): its place as announce-position says (queue-youarenext; or
// queue-thereare N queue-callswaiting; or, with "more" beyond announce-position-limit,
// queue-quantity1 LIMIT queue-quantity2), then the estimated hold time when announce-holdtime
// asks (queue-holdtime M queue-minute(s) S queue-seconds; "once": the caller's first
// announcement only; not to the head of the line), then queue-thankyou when the place was
// said. A sound set to "" is left out, as Asterisk skips an empty file name.
func positionFiles(cfg *QueueConfig, pos, avgHold, waited int, first bool) []string {
	var files []string
	thanks := false
	switch mode := cfg.AnnouncePosition; {
	case mode == PositionYes || mode == PositionMore || (mode == PositionLimit && pos <= cfg.AnnouncePositionLimit):
		thanks = true
		switch {
		case pos == 1:
			return nonEmpty(cfg.SoundNext, cfg.SoundThankYou)
		case mode == PositionMore && pos > cfg.AnnouncePositionLimit:
			files = append(files, cfg.SoundQuantity1)
			files = append(files, numberFiles(cfg.AnnouncePositionLimit)...)
			files = append(files, cfg.SoundQuantity2)
		default:
			files = append(files, cfg.SoundThereAre)
			files = append(files, numberFiles(pos)...)
			files = append(files, cfg.SoundCallsWaiting)
		}
	}
	mins, secs := holdEstimate(avgHold, waited, cfg.RoundSeconds)
	if mins+secs > 0 && (cfg.AnnounceHoldtime == HoldtimeYes || cfg.AnnounceHoldtime == HoldtimeOnce && first) {
		files = append(files, cfg.SoundHoldtime)
		if mins >= 1 {
			files = append(files, numberFiles(mins)...)
			if mins == 1 {
				files = append(files, cfg.SoundMinute)
			} else {
				files = append(files, cfg.SoundMinutes)
			}
		}
		if secs >= 1 {
			files = append(files, numberFiles(secs)...)
			files = append(files, cfg.SoundSeconds)
		}
	}
	if thanks {
		files = append(files, cfg.SoundThankYou)
	}
	return nonEmpty(files...)
}

func nonEmpty(files ...string) []string {
	return slices.DeleteFunc(files, func(f string) bool { return f == "" })
}

// positionDue reports whether a position announcement is due now, as app_queue decides it
// (checked about every second, as Asterisk does): announce-frequency is set; at least
// min-announce-frequency seconds passed since the last one began; and the caller's place
// changed since it was last said, or announce-frequency seconds passed. So a caller hears
// its place as soon as it joins, again when it moves up (not more often than
// min-announce-frequency) and every announce-frequency seconds. announce-position-only-up:
// not when the place is no better than the one last said. The head of the line hears it
// once it has been the head for a retry period (in Asterisk's loop, between rounds of
// ringing), at once with announce-to-first-user. Only a caller who hears music on hold is
// told: one who hears ringing may not have been answered.
func (w *waiter) positionDue(now time.Time) bool {
	w.e.mu.Lock()
	cfg := &w.q.cfg
	freq, minFreq, onlyUp, first, retry := cfg.AnnounceFrequency, cfg.MinAnnounceFrequency, cfg.AnnouncePositionOnlyUp, cfg.AnnounceToFirstUser, cfg.Retry
	pos := slices.Index(w.q.callers, w.c) + 1
	w.e.mu.Unlock()
	w.nextPosition = time.Time{}
	if freq <= 0 || w.opts.ringing || MusicOnHold == nil || pos == 0 {
		return false
	}
	if pos != 1 {
		w.headSince = time.Time{}
	} else if !first {
		if w.headSince.IsZero() {
			w.headSince = now
		}
		if t := w.headSince.Add(time.Duration(retry) * time.Second); now.Before(t) {
			w.nextPosition = t
			return false
		}
	}
	if !w.lastPos.IsZero() {
		since := now.Sub(w.lastPos)
		if since < time.Duration(minFreq)*time.Second {
			w.nextPosition = w.lastPos.Add(time.Duration(minFreq) * time.Second)
			return false
		}
		if w.lastPosSaid == pos && since < time.Duration(freq)*time.Second {
			w.nextPosition = w.lastPos.Add(time.Duration(freq) * time.Second)
			return false
		}
	}
	if onlyUp && w.lastPosSaid > 0 && w.lastPosSaid <= pos {
		return false
	}
	return true
}

// announceWhileRinging makes the caller's announcements while members ring, as app_queue's
// wait_for_answer does with announce-to-first-user: a goroutine plays the position and
// periodic announcements as they fall due (checked every second) to a caller who hears
// music. stop ends it, cutting a file short when a member answers, waits for it, and
// reports whether it played anything (the caller's music then has to start again).
func (w *waiter) announceWhileRinging(ctx context.Context) (stop func() bool) {
	w.e.mu.Lock()
	first := w.q.cfg.AnnounceToFirstUser
	w.e.mu.Unlock()
	if !first || w.opts.ringing || MusicOnHold == nil {
		return func() bool { return false }
	}
	actx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	played := false
	go func() {
		defer close(done)
		for actx.Err() == nil {
			now := w.e.d.Now()
			if w.positionDue(now) {
				played = true
				w.sayPosition(actx, now)
				continue
			}
			if w.periodicDue(now) {
				played = true
				w.announce(actx)
				continue
			}
			t := time.NewTimer(time.Second)
			select {
			case <-actx.Done():
			case <-t.C:
			}
			t.Stop()
		}
	}()
	return func() bool {
		cancel()
		<-done
		return played
	}
}

// sayPosition plays the caller its position announcement (positionFiles), the music stopped
// meanwhile.
func (w *waiter) sayPosition(ctx context.Context, now time.Time) {
	w.e.mu.Lock()
	cfg := w.q.cfg
	avgHold := w.q.avgHold
	pos := slices.Index(w.q.callers, w.c) + 1
	w.e.mu.Unlock()
	files := positionFiles(&cfg, pos, avgHold, int(now.Sub(w.c.Joined)/time.Second), w.lastPos.IsZero())
	w.lastPos, w.lastPosSaid = now, pos
	w.nextPosition = now.Add(time.Duration(cfg.AnnounceFrequency) * time.Second)
	if len(files) == 0 {
		return
	}
	if cfg.AnnouncePosition != PositionNo {
		w.ch.Verbosef(3, "Told %s in %s their queue position (which was %d)", w.ch.Name, cfg.Name, pos)
	}
	w.stopHold()
	if err := w.ch.PlayFiles(ctx, files...); err != nil && ctx.Err() == nil {
		w.ch.Logf(slog.LevelWarn, "Queue %s: position announcement: %v", cfg.Name, err)
	}
	w.startHold(ctx)
}

// connectAnnouncements are what app_queue's try_calling plays once a member answered, before
// the bridge: memberdelay seconds of silence to the member, then to the member the queue's
// announce (Queue()'s announceoverride instead; files joined with '&'), then with
// reportholdtime queue-reporthold and the caller's wait (M queue-minutes when a minute or
// more, S queue-seconds when over one second; the rest only if queue-reporthold played).
// The caller keeps its music (or ringing) meanwhile, then hears queue-callerannounce when
// set. A file that cannot be played is logged and the call goes on.
func (w *waiter) connectAnnouncements(ctx context.Context, peer *channel.Channel, hold time.Duration) {
	w.e.mu.Lock()
	cfg := w.q.cfg
	w.e.mu.Unlock()
	announce := w.announceOverride
	if announce == "" {
		announce = cfg.Announce
	}
	if cfg.MemberDelay > 0 {
		w.ch.Logf(slog.LevelInfo, "Delaying member connect for %d seconds", cfg.MemberDelay)
		t := time.NewTimer(time.Duration(cfg.MemberDelay) * time.Second)
		select {
		case <-ctx.Done():
		case <-peer.Done():
		case <-t.C:
		}
		t.Stop()
	}
	var files []string
	for f := range strings.SplitSeq(announce, "&") {
		if f = strings.TrimSpace(f); f != "" {
			files = append(files, f)
		}
	}
	if len(files) > 0 {
		if err := w.ch.PlayFilesToLeg(ctx, peer, files...); err != nil && ctx.Err() == nil {
			w.ch.Logf(slog.LevelError, "play_file failed for '%s' on %s: %v", announce, peer.Name(), err)
		}
	}
	if cfg.ReportHoldTime && cfg.SoundReportHold != "" {
		if err := w.ch.PlayFilesToLeg(ctx, peer, cfg.SoundReportHold); err == nil {
			if hf := reportHoldFiles(&cfg, int(hold/time.Second)); len(hf) > 0 {
				if err := w.ch.PlayFilesToLeg(ctx, peer, hf...); err != nil && ctx.Err() == nil {
					w.ch.Logf(slog.LevelError, "play_file failed on %s: %v", peer.Name(), err)
				}
			}
		}
	}
	w.stopHold()
	if f := cfg.SoundCallerAnnounce; f != "" {
		if err := w.ch.PlayFiles(ctx, f); err != nil && ctx.Err() == nil {
			w.ch.Logf(slog.LevelWarn, "Announcement file '%s' is unavailable, continuing anyway!", f)
		}
	}
}

// reportHoldFiles say a caller's wait of hold seconds to the member after queue-reporthold:
// whole minutes and queue-minutes (even for one), the seconds left and queue-seconds when
// more than one, as Asterisk's reportholdtime.
func reportHoldFiles(cfg *QueueConfig, hold int) []string {
	var files []string
	if m := hold / 60; m > 0 {
		files = append(append(files, numberFiles(m)...), cfg.SoundMinutes)
	}
	if s := hold % 60; s > 1 {
		files = append(append(files, numberFiles(s)...), cfg.SoundSeconds)
	}
	return nonEmpty(files...)
}

// numberFiles are the sound files that say n in English (Asterisk's digits/ files:
// digits/0..19, digits/20..90, digits/hundred, digits/thousand), as ast_say_number does.
func numberFiles(n int) []string {
	if n < 0 {
		return append([]string{"digits/minus"}, numberFiles(-n)...)
	}
	var out []string
	if n >= 1000 {
		out = append(append(out, numberFiles(n/1000)...), "digits/thousand")
		if n %= 1000; n == 0 {
			return out
		}
	}
	if n >= 100 {
		out = append(out, "digits/"+strconv.Itoa(n/100), "digits/hundred")
		if n %= 100; n == 0 {
			return out
		}
	}
	if n >= 20 {
		out = append(out, "digits/"+strconv.Itoa(n/10*10))
		if n %= 10; n == 0 {
			return out
		}
	}
	return append(out, "digits/"+strconv.Itoa(n))
}
