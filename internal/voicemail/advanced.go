package voicemail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/dialplan"
	"github.com/pleiades-pbx/pleiades/internal/media"
)

// advancedWait is how long the advanced options, call back and forward menus wait for a
// digit (Asterisk: 6 s), advancedRepeats how many silent rounds end them.
const (
	advancedWait    = 6 * time.Second
	advancedRepeats = 3
)

// callbackContext and dialoutContext are the mailbox's callback= and dialout= options,
// else [general]'s (Asterisk's callcontext and dialcontext).
func (s *session) callbackContext() string {
	return s.m.opt("callback", s.e.cfg.Load().General.Vars["callback"])
}

func (s *session) dialoutContext() string {
	return s.m.opt("dialout", s.e.cfg.Load().General.Vars["dialout"])
}

// advanced is VoiceMailMain's advanced options (3), as Asterisk's: 1 reply (leave a message
// in the mailbox of the caller ID, when it is one of this context), 2 call back (with
// callback=), 3 the envelope, 4 an outgoing call (with dialout=), 5 leave a message for
// other mailboxes (with sendvoicemail=yes), * back to the main menu. Reply, call back and
// the envelope need a current message; a choice not available says vm-sorry.
func (s *session) advanced(ctx context.Context) (rune, error) {
	g := s.e.cfg.Load().General
	has := len(s.msgs) > 0
	var d rune
	var err error
	for repeats := 0; ; {
		switch d {
		case 0:
			var files []string
			if has {
				files = append(files, "vm-toreply")
				if s.callbackContext() != "" {
					files = append(files, "vm-tocallback")
				}
				files = append(files, "vm-tohearenv")
			}
			if s.dialoutContext() != "" {
				files = append(files, "vm-tomakecall")
			}
			if s.m.boolOpt("sendvoicemail", g.SendVoicemail) {
				files = append(files, "vm-leavemsg")
			}
			files = append(files, "vm-starmain")
			if d, err = s.v.play(ctx, "any", files...); err == nil && d == 0 {
				d, err = s.v.waitDigit(ctx, advancedWait)
			}
			if err != nil {
				return 0, err
			}
			if d == 0 {
				if repeats++; repeats > advancedRepeats {
					return 0, nil
				}
			}
			continue
		case '1':
			if !has {
				_, err = s.v.play(ctx, "any", "vm-sorry")
				return 0, err
			}
			return 0, s.reply(ctx)
		case '2':
			s.v.ch.Verbose(3, "Callback Requested")
			if !has || s.callbackContext() == "" {
				_, err = s.v.play(ctx, "any", "vm-sorry")
				return 0, err
			}
			return s.callback(ctx)
		case '3':
			if !has {
				_, err = s.v.play(ctx, "any", "vm-sorry")
				return 0, err
			}
			m := s.msgs[s.cur]
			format, loc := s.zone()
			files := dateFiles(format, time.Unix(m.Meta.OrigTime, 0), time.Now(), loc)
			files = append(files, callerIDFiles(m.Meta.CallerID)...)
			return s.v.play(ctx, "any", files...)
		case '4':
			if s.dialoutContext() == "" {
				_, err = s.v.play(ctx, "any", "vm-sorry")
				return 0, err
			}
			return 0, s.dialout(ctx, "", s.dialoutContext())
		case '5':
			if !s.m.boolOpt("sendvoicemail", g.SendVoicemail) {
				_, err = s.v.play(ctx, "any", "vm-sorry")
				return 0, err
			}
			return 0, s.sendVoicemail(ctx)
		case '*':
			return 0, nil
		default:
			d = 0
		}
	}
}

// reply is the advanced menu's 1: the caller ID number of the current message, when it is
// a mailbox of this mailbox's context, gets a message (Asterisk's leave_voicemail, without a
// greeting); otherwise vm-nonumber (no number) or vm-nobox (no such mailbox).
func (s *session) reply(ctx context.Context) error {
	_, num := splitCallerID(s.msgs[s.cur].Meta.CallerID)
	if num == "" || strings.EqualFold(num, "unknown") {
		s.v.ch.Verbose(3, "No CID number available, no reply sent")
		_, err := s.v.play(ctx, "any", "vm-nonumber")
		return err
	}
	target := Box{Context: s.box.Context, Mailbox: num}
	if _, err := s.e.Find(ctx, target); err != nil {
		s.v.ch.Verbose(3, fmt.Sprintf("No mailbox number '%s' in context '%s', no reply sent", num, s.box.Context))
		_, err := s.v.play(ctx, "any", "vm-nobox")
		return err
	}
	s.v.ch.Verbose(3, fmt.Sprintf("Leaving voicemail for '%s' in context '%s'", num, s.box.Context))
	exited, err := s.e.leave(ctx, s.v, []Box{target}, "")
	if exited {
		s.exit = true
	}
	return err
}

// callback is the advanced menu's 2 (callback=<context>): "the number I have is <caller ID>;
// press 1 to call it" (2: another number, with dialout=), * cancels. Calling leaves
// VoiceMailMain for the number in the callback context (dialout).
func (s *session) callback(ctx context.Context) (rune, error) {
	cid := s.msgs[s.cur].Meta.CallerID
	if cid == "" {
		return 0, nil
	}
	_, num := splitCallerID(cid)
	if strings.EqualFold(num, "unknown") {
		num = ""
	}
	var d rune
	var err error
	for retries := 0; ; {
		switch d {
		case '1':
			if num == "" {
				d = '2'
				continue
			}
			return 0, s.dialout(ctx, num, s.callbackContext())
		case '2':
			if s.dialoutContext() != "" {
				return 0, s.dialout(ctx, "", s.dialoutContext())
			}
			s.v.ch.Verbose(3, "Caller can not specify callback number - no dialout context available")
			_, err = s.v.play(ctx, "any", "vm-sorry")
			return 0, err
		case '*':
			return 0, nil
		case 0:
			var files []string
			if num != "" {
				s.v.ch.Verbose(3, fmt.Sprintf("Confirm CID number '%s' is number to use for callback", num))
				files = append(files, "vm-num-i-have")
				files = append(files, digitFiles(num)...)
				files = append(files, "vm-tocallnum")
				if s.dialoutContext() != "" {
					files = append(files, "vm-calldiffnum")
				}
			} else {
				files = append(files, "vm-nonumber")
				if s.dialoutContext() != "" {
					files = append(files, "vm-toenternumber")
				}
			}
			files = append(files, "vm-star-cancel")
			if d, err = s.v.play(ctx, "any", files...); err == nil && d == 0 {
				d, err = s.v.waitDigit(ctx, advancedWait)
			}
			if err != nil {
				return 0, err
			}
			if d == 0 {
				if retries++; retries > advancedRepeats {
					return 0, nil
				}
			}
		default:
			if d, err = s.v.play(ctx, "any", "vm-sorry"); err != nil {
				return 0, err
			}
			retries++
		}
	}
}

// dialout is Asterisk's dialout: the caller leaves VoiceMailMain for extension num (asked
// when empty: vm-enter-num-to-call, vm-then-pound, vm-star-cancel, '#' ends the number,
// '*' cancels) at priority 1 of context, and the dialplan goes on there.
func (s *session) dialout(ctx context.Context, num, context string) error {
	if num == "" {
		s.v.ch.Verbose(3, "Destination number will be entered manually")
		for retries := 0; num == ""; {
			if retries >= advancedRepeats {
				return nil
			}
			d, err := s.v.play(ctx, "any", "vm-enter-num-to-call", "vm-then-pound", "vm-star-cancel")
			if err == nil && d == 0 {
				d, err = s.v.waitDigit(ctx, advancedWait)
			}
			if err != nil {
				return err
			}
			switch d {
			case 0:
				retries++
				continue
			case '*':
				s.v.ch.Verbose(3, "User hit '*' to cancel outgoing call")
				return nil
			case '#':
				retries++
				continue
			}
			rest, err := s.v.read(ctx, "", 80, readTimeout)
			if err != nil {
				return err
			}
			num = string(d) + rest
		}
	} else {
		s.v.ch.Verbose(3, fmt.Sprintf("Destination number is CID number '%s'", num))
	}
	if strings.HasSuffix(num, "*") {
		return nil
	}
	ch := s.v.ch
	ch.Verbose(3, fmt.Sprintf("Placing outgoing call to extension '%s' in context '%s' from context '%s'", num, context, ch.Context))
	if err := ch.Goto(ctx, context, num, "1"); err != nil {
		ch.Log(slog.LevelWarn, fmt.Sprintf("VoiceMailMain: cannot go to %s@%s: %s", num, context, err))
		_, err := s.v.play(ctx, "any", "vm-sorry")
		return err
	}
	s.exit = true
	return nil
}

// maxMsg is a mailbox's maxmsg option, else [general]'s.
func (e *Engine) maxMsg(m *Mailbox) int {
	if n, err := strconv.Atoi(m.Options["maxmsg"]); err == nil && n > 0 {
		return n
	}
	return e.cfg.Load().General.MaxMsg
}

// askMailboxes is forward_message's question: vm-extension, then mailbox numbers of this
// mailbox's context separated by '*' and ended by '#'. Every one must exist (not this
// mailbox unless self) and have room in folder, else pbx-invalid (vm-mailboxfull for a full
// one) and the question again; each mailbox's recorded name is played when it has one.
// Three empty or wrong answers give up (nil).
func (s *session) askMailboxes(ctx context.Context, self bool, folder string) ([]*Mailbox, error) {
	for range menuRepeats {
		digits, err := s.v.read(ctx, "vm-extension", 80, readTimeout)
		if err != nil {
			return nil, err
		}
		if digits == "" {
			continue
		}
		var out []*Mailbox
		valid := true
		for x := range strings.SplitSeq(digits, "*") {
			if x == "" {
				continue
			}
			b := Box{Context: s.box.Context, Mailbox: x}
			m, err := s.e.Find(ctx, b)
			if err != nil || (!self && b == s.box) {
				s.v.ch.Log(slog.LevelInfo, fmt.Sprintf("'%s' is not a valid mailbox", x))
				valid = false
				break
			}
			if n, err := s.e.st().Count(ctx, b, folder); err != nil || n >= s.e.maxMsg(m) {
				s.v.ch.Log(slog.LevelInfo, fmt.Sprintf("Mailbox '%s' is full with capacity of %d, prompting for another extension.", b, s.e.maxMsg(m)))
				if _, err := s.v.play(ctx, "", "vm-mailboxfull"); err != nil {
					return nil, err
				}
				valid = false
				break
			}
			out = append(out, m)
			if p, ok := s.e.greeting(b, "greet"); ok {
				if _, err := s.v.play(ctx, "", p); err != nil {
					return nil, err
				}
			}
		}
		if valid && len(out) > 0 {
			return out, nil
		}
		if _, err := s.v.play(ctx, "", "pbx-invalid"); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// forward is the main menu's 8, Asterisk's forward_message: the mailboxes are asked
// (askMailboxes), then vm-forwardoptions: 1 records a comment (after the beep, '#' ends it)
// to put before the message and asks again (1 records it again), 2 sends, * cancels. The message is copied to the end
// of each mailbox's INBOX (Urgent when it is heard from Urgent), whose MWI is updated and
// owner mailed; vm-msgforwarded.
func (s *session) forward(ctx context.Context) (rune, error) {
	if len(s.msgs) == 0 {
		return s.v.play(ctx, "any", "vm-nomore")
	}
	folder := "INBOX"
	if s.folder == "Urgent" {
		folder = "Urgent"
	}
	targets, err := s.askMailboxes(ctx, false, folder)
	if err != nil || len(targets) == 0 {
		return 0, err
	}
	var prepend []byte
	var d rune
	for retries := 0; d != '2'; {
		switch d {
		case '1':
			if _, err := s.v.play(ctx, "", "beep"); err != nil {
				return 0, err
			}
			g := s.e.cfg.Load().General
			rec, err := s.v.sess.Record(ctx, media.RecordOptions{Stop: "#", MaxDuration: g.MaxMessage, MaxSilence: g.MaxSilence, SilenceThreshold: g.SilenceThreshold})
			s.v.drain()
			if err != nil {
				return 0, err
			}
			if rec.End == media.EndHangup {
				return 0, errHangup
			}
			prepend = rec.PCM
			d = 0
			continue
		case '*':
			return 0, nil
		default:
			if d, err = s.v.play(ctx, "any", "vm-forwardoptions", "vm-starmain"); err == nil && d == 0 {
				d, err = s.v.waitDigit(ctx, advancedWait)
			}
			if err != nil {
				return 0, err
			}
			if d == 0 {
				if retries++; retries > advancedRepeats {
					return 0, nil
				}
			}
		}
	}
	msg := s.msgs[s.cur]
	saved := 0
	for _, m := range targets {
		b := Box{Context: m.Context, Mailbox: m.Mailbox}
		s.v.ch.Log(slog.LevelInfo, fmt.Sprintf("Copying message from %s to %s", s.box, b))
		n, err := Copy(ctx, s.e.st(), s.box, s.folder, msg.Num, b, folder, prepend)
		if err != nil {
			s.e.log.Warn(fmt.Sprintf("Voicemail %s: unable to forward %s/msg%04d to %s: %s", s.box, s.folder, msg.Num, b, err))
			continue
		}
		saved++
		s.v.ch.Verbose(3, fmt.Sprintf("Forwarded message %s/msg%04d of %s to %s/msg%04d of %s", s.folder, msg.Num, s.box, folder, n, b))
		s.e.Refresh(context.WithoutCancel(ctx), b, true)
		if m.Email != "" {
			if pcm, err := s.e.st().Audio(ctx, b, folder, n); err == nil {
				meta := msg.Meta
				meta.Duration = max(len(pcm)/16000, 1)
				s.e.notify(m, meta, n, folder, pcm)
			}
		}
	}
	if saved == 0 {
		return s.v.play(ctx, "any", "vm-sorry")
	}
	return s.v.play(ctx, "any", "vm-msgforwarded")
}

// sendVoicemail is the advanced menu's 5 (sendvoicemail=yes): the mailboxes are asked, then
// a new message is left for them (leave_voicemail without a greeting).
func (s *session) sendVoicemail(ctx context.Context) error {
	targets, err := s.askMailboxes(ctx, true, "INBOX")
	if err != nil || len(targets) == 0 {
		return err
	}
	boxes := make([]Box, len(targets))
	for i, m := range targets {
		boxes[i] = Box{Context: m.Context, Mailbox: m.Mailbox}
	}
	exited, err := s.e.leave(ctx, s.v, boxes, "")
	if exited {
		s.exit = true
	}
	if errors.Is(err, dialplan.ErrHangup) {
		return errHangup
	}
	return err
}
