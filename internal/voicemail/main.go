package voicemail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/dialplan"
	"github.com/pleiades-pbx/pleiades/internal/media"
)

// menuTimeout is how long the menus wait for a digit before repeating their instructions;
// after menuRepeats silent rounds VoiceMailMain says goodbye (Asterisk: 5 s, 3 times).
const (
	menuTimeout = 5 * time.Second
	menuRepeats = 3
	readTimeout = 10 * time.Second
)

// session is one VoiceMailMain login: the mailbox, the folder open and its messages with
// what the caller did to them (applied on leaving the folder, as Asterisk's close_mailbox).
type session struct {
	e      *Engine
	v      *ivr
	m      *Mailbox
	box    Box
	folder string
	msgs   []Message
	cur    int
	heard  []bool
	del    []bool
	saveTo []string
	// exit: the caller left VoiceMailMain for another place of the dialplan (call back,
	// outgoing call, the operator from a reply): no goodbye, the dialplan goes on there.
	exit bool
}

// appVoiceMailMain is VoiceMailMain([mailbox][@context][,options]): options s (no password
// asked). The caller logs in (vm-login, vm-password; maxlogins wrong tries, then
// vm-goodbye and the call ends, logged), hears its counts, then the main menu: 1 play, 4/6
// previous/next, 5 repeat, 7 delete/undelete, 8 forward, 9 save to a folder, 2 change
// folder, 3 advanced options (advanced.go), 0 mailbox options (5: change password), * help,
// # exit. It returns nil without a goodbye when the caller left for another extension (call
// back, outgoing call): the dialplan goes on there.
func (e *Engine) appVoiceMailMain(ctx context.Context, ch *dialplan.Channel, data string) error {
	arg, opts, _ := strings.Cut(data, ",")
	if err := answer(ctx, ch); err != nil {
		return err
	}
	ch.ResetSteps()
	v, err := newIVR(ch)
	if err != nil {
		return nil
	}
	g := e.cfg.Load().General
	given := SplitMailbox(arg)
	if strings.TrimSpace(arg) == "" {
		given.Mailbox = ""
	}
	skipPW := strings.Contains(opts, "s") && given.Mailbox != ""
	var m *Mailbox
	for try := 0; ; try++ {
		if try >= g.MaxLogins {
			ch.Log(slog.LevelWarn, fmt.Sprintf("VoiceMailMain: %d failed logins on %s (last mailbox tried: %s), hanging up", try, ch.Name, given))
			v.play(ctx, "", "vm-goodbye")
			return dialplan.ErrHangup
		}
		b := given
		if b.Mailbox == "" || try > 0 && strings.TrimSpace(arg) == "" {
			prompt := "vm-login"
			if try > 0 {
				prompt = "vm-incorrect-mailbox"
			}
			mb, err := v.read(ctx, prompt, 80, readTimeout)
			if err != nil {
				return dialplan.ErrHangup
			}
			if mb == "" {
				continue
			}
			b.Mailbox = mb
			if given.Context != "" {
				b.Context = given.Context
			}
		}
		found, err := e.Find(ctx, b)
		if err != nil && !errors.Is(err, ErrNoMailbox) {
			ch.Log(slog.LevelError, fmt.Sprintf("Unable to look up mailbox %s: %s", b, err))
			v.play(ctx, "", "vm-sorry")
			return dialplan.ErrHangup
		}
		if skipPW && found != nil {
			m = found
			break
		}
		pw, err := v.read(ctx, "vm-password", 80, readTimeout)
		if err != nil {
			return dialplan.ErrHangup
		}
		if found != nil && (pw == found.Password || pw == strings.TrimPrefix(found.Password, "-")) {
			m = found
			break
		}
		ch.Verbose(3, fmt.Sprintf("Incorrect password '%s' for user '%s' (context = %s)", strings.Repeat("*", len(pw)), b.Mailbox, b.Context))
		if _, err := v.play(ctx, "", "vm-incorrect"); err != nil {
			return dialplan.ErrHangup
		}
		skipPW = false
	}
	s := &session{e: e, v: v, m: m, box: Box{m.Context, m.Mailbox}}
	ch.Verbose(3, fmt.Sprintf("User %s logged into voicemail", s.box))
	defer s.closeFolder(context.WithoutCancel(ctx))
	if err := s.run(ctx); err != nil {
		return dialplan.ErrHangup
	}
	return nil
}

// open loads a folder's messages.
func (s *session) open(ctx context.Context, folder string) error {
	msgs, err := s.e.st().List(ctx, s.box, folder)
	if err != nil {
		return err
	}
	s.folder, s.msgs, s.cur = folder, msgs, 0
	s.heard = make([]bool, len(msgs))
	s.del = make([]bool, len(msgs))
	s.saveTo = make([]string, len(msgs))
	return nil
}

// closeFolder applies what the caller did: heard INBOX messages go to Old, saved ones to
// their folder, deleted ones are removed (from the highest number down, so the numbers
// still to act on do not move), then MWI is told.
func (s *session) closeFolder(ctx context.Context) {
	changed := false
	for i := len(s.msgs) - 1; i >= 0; i-- {
		num := s.msgs[i].Num
		var err error
		switch {
		case s.del[i]:
			err = s.e.st().Delete(ctx, s.box, s.folder, num)
		case s.saveTo[i] != "" && s.saveTo[i] != s.folder:
			_, err = s.e.st().Move(ctx, s.box, s.folder, num, s.saveTo[i])
		case s.heard[i] && (s.folder == "INBOX" || s.folder == "Urgent"):
			_, err = s.e.st().Move(ctx, s.box, s.folder, num, "Old")
		default:
			continue
		}
		changed = true
		if err != nil {
			s.e.log.Warn(fmt.Sprintf("Voicemail %s: message %s/msg%04d: %s", s.box, s.folder, num, err))
		}
	}
	s.msgs, s.heard, s.del, s.saveTo = nil, nil, nil, nil
	if changed {
		s.e.Refresh(ctx, s.box, true)
	}
}

func plural(n int) string {
	if n == 1 {
		return "vm-message"
	}
	return "vm-messages"
}

// intro says "you have N new and M old messages" (vm-youhave ...).
func (s *session) intro(ctx context.Context) (rune, error) {
	n, o, u, err := s.e.Counts(ctx, s.box)
	if err != nil {
		return 0, err
	}
	n += u
	files := []string{"vm-youhave"}
	if n > 0 {
		files = append(files, numberFiles(n)...)
		files = append(files, "vm-INBOX")
		if o == 0 {
			files = append(files, plural(n))
		} else {
			files = append(files, "vm-and")
		}
	}
	if o > 0 {
		files = append(files, numberFiles(o)...)
		files = append(files, "vm-Old", plural(o))
	}
	if n == 0 && o == 0 {
		files = append(files, "vm-no", "vm-messages")
	}
	return s.v.play(ctx, "any", files...)
}

// instructions are the main menu's (vm_instructions_en).
func (s *session) instructions(ctx context.Context) (rune, error) {
	var files []string
	if len(s.msgs) > 0 {
		files = append(files, "vm-onefor", "vm-"+s.folder, "vm-messages")
	}
	files = append(files, "vm-opts")
	if len(s.msgs) > 0 {
		if s.cur > 0 {
			files = append(files, "vm-prev")
		}
		files = append(files, "vm-advopts", "vm-repeat")
		if s.cur < len(s.msgs)-1 {
			files = append(files, "vm-next")
		}
		if s.del[s.cur] {
			files = append(files, "vm-undelete")
		} else {
			files = append(files, "vm-delete")
		}
		files = append(files, "vm-toforward", "vm-savemessage")
	}
	files = append(files, "vm-helpexit")
	return s.v.play(ctx, "any", files...)
}

func (s *session) run(ctx context.Context) error {
	first := "INBOX"
	if n, _ := s.e.st().Count(ctx, s.box, "INBOX"); n == 0 {
		if u, _ := s.e.st().Count(ctx, s.box, "Urgent"); u > 0 {
			first = "Urgent"
		} else if o, _ := s.e.st().Count(ctx, s.box, "Old"); o > 0 {
			first = "Old"
		}
	}
	if err := s.open(ctx, first); err != nil {
		s.v.play(ctx, "", "vm-sorry")
		return nil
	}
	d, err := s.intro(ctx)
	if err != nil {
		return err
	}
	idle := 0
	for {
		if d == 0 {
			if d, err = s.instructions(ctx); err != nil {
				return err
			}
		}
		if d == 0 {
			if d, err = s.v.waitDigit(ctx, menuTimeout); err != nil {
				return err
			}
		}
		if d == 0 {
			if idle++; idle >= menuRepeats {
				s.v.play(ctx, "", "vm-goodbye")
				return nil
			}
			continue
		}
		idle = 0
		switch d {
		case '1':
			s.cur = 0
			d, err = s.playCurrent(ctx, true)
		case '5':
			d, err = s.playCurrent(ctx, false)
		case '4':
			if s.cur > 0 {
				s.cur--
				d, err = s.playCurrent(ctx, false)
			} else {
				d, err = s.v.play(ctx, "any", "vm-nomore")
			}
		case '6':
			if s.cur < len(s.msgs)-1 {
				s.cur++
				d, err = s.playCurrent(ctx, false)
			} else {
				d, err = s.v.play(ctx, "any", "vm-nomore")
			}
		case '7':
			d, err = s.toggleDelete(ctx)
		case '9':
			d, err = s.save(ctx)
		case '2':
			d, err = s.changeFolder(ctx)
		case '3':
			d, err = s.advanced(ctx)
		case '8':
			d, err = s.forward(ctx)
		case '0':
			d, err = s.options(ctx)
		case '*':
			d = 0
		case '#':
			s.v.play(ctx, "", "vm-goodbye")
			return nil
		default:
			d = 0
		}
		if err != nil {
			return err
		}
		if s.exit {
			return nil
		}
	}
}

// playCurrent plays the current message ("first message" when first), marks it heard.
func (s *session) playCurrent(ctx context.Context, first bool) (rune, error) {
	if len(s.msgs) == 0 {
		return s.v.play(ctx, "any", "vm-no", "vm-messages")
	}
	var intro []string
	switch {
	case first || s.cur == 0:
		intro = []string{"vm-first", "vm-message"}
	case s.cur == len(s.msgs)-1:
		intro = []string{"vm-last", "vm-message"}
	default:
		intro = append([]string{"vm-message"}, numberFiles(s.cur+1)...)
	}
	// The envelope (date, and caller ID with saycid) after "first message", as Asterisk's
	// play_message says it; a digit during either stops both.
	intro = append(intro, s.envelopeFiles(s.msgs[s.cur], time.Now())...)
	if d, err := s.v.play(ctx, "any", intro...); d != 0 || err != nil {
		return d, err
	}
	pcm, err := s.e.st().Audio(ctx, s.box, s.folder, s.msgs[s.cur].Num)
	if err != nil {
		s.e.log.Warn(fmt.Sprintf("Voicemail %s: message %s/msg%04d: %s", s.box, s.folder, s.msgs[s.cur].Num, err))
		return s.v.play(ctx, "any", "vm-sorry")
	}
	s.heard[s.cur] = true
	skip := time.Duration(s.e.cfg.Load().General.SkipMS) * time.Millisecond
	return s.v.playMessage(ctx, pcm, skip)
}

// next is nextaftercmd ([general], or the mailbox's option): after a delete or a save, the
// next message is played, or vm-nomore after the last one (Asterisk's VM_SKIPAFTERCMD). A
// digit pressed during the confirmation is the next command instead.
func (s *session) next(ctx context.Context, d rune, err error) (rune, error) {
	if d != 0 || err != nil || !s.m.boolOpt("nextaftercmd", s.e.cfg.Load().General.NextAfterCmd) {
		return d, err
	}
	if s.cur >= len(s.msgs)-1 {
		return s.v.play(ctx, "any", "vm-nomore")
	}
	s.cur++
	return s.playCurrent(ctx, false)
}

func (s *session) toggleDelete(ctx context.Context) (rune, error) {
	if len(s.msgs) == 0 {
		return 0, nil
	}
	s.del[s.cur] = !s.del[s.cur]
	if s.del[s.cur] {
		d, err := s.v.play(ctx, "any", "vm-deleted")
		return s.next(ctx, d, err)
	}
	d, err := s.v.play(ctx, "any", "vm-undeleted")
	return s.next(ctx, d, err)
}

// folderDigit asks for a folder: 0 INBOX ... 4 Friends (vm-savefolder / vm-changeto then
// "press N for <folder>").
func (s *session) folderDigit(ctx context.Context, prompt string) (string, error) {
	files := []string{prompt}
	for i := 0; i <= 4; i++ {
		files = append(files, "vm-press", "digits/"+fmt.Sprint(i), "vm-for", "vm-"+Folders[i], "vm-messages")
	}
	d, err := s.v.play(ctx, "any", files...)
	if err != nil {
		return "", err
	}
	if d == 0 {
		if d, err = s.v.waitDigit(ctx, menuTimeout); err != nil {
			return "", err
		}
	}
	if d >= '0' && d <= '4' {
		return Folders[d-'0'], nil
	}
	return "", nil
}

func (s *session) save(ctx context.Context) (rune, error) {
	if len(s.msgs) == 0 {
		return 0, nil
	}
	f, err := s.folderDigit(ctx, "vm-savefolder")
	if err != nil || f == "" {
		return 0, err
	}
	s.saveTo[s.cur] = f
	files := append([]string{"vm-message"}, numberFiles(s.cur+1)...)
	d, err := s.v.play(ctx, "any", append(files, "vm-savedto", "vm-"+f)...)
	return s.next(ctx, d, err)
}

func (s *session) changeFolder(ctx context.Context) (rune, error) {
	f, err := s.folderDigit(ctx, "vm-changeto")
	if err != nil || f == "" {
		return 0, err
	}
	s.closeFolder(context.WithoutCancel(ctx))
	if err := s.open(ctx, f); err != nil {
		return s.v.play(ctx, "any", "vm-sorry")
	}
	files := append([]string{"vm-youhave"}, numberFiles(len(s.msgs))...)
	files = append(files, "vm-"+f, plural(len(s.msgs)))
	return s.v.play(ctx, "any", files...)
}

// options is the mailbox options menu: 1 unavailable, 2 busy, 3 name greetings recorded;
// 5 change password; * back.
func (s *session) options(ctx context.Context) (rune, error) {
	for range menuRepeats {
		d, err := s.v.play(ctx, "any", "vm-options")
		if err != nil {
			return 0, err
		}
		if d == 0 {
			if d, err = s.v.waitDigit(ctx, menuTimeout); err != nil {
				return 0, err
			}
		}
		switch d {
		case '1':
			err = s.recordGreeting(ctx, "unavail", "vm-rec-unv")
		case '2':
			err = s.recordGreeting(ctx, "busy", "vm-rec-busy")
		case '3':
			err = s.recordGreeting(ctx, "greet", "vm-rec-name")
		case '4':
			err = s.recordGreeting(ctx, "temp", "vm-rec-temp")
		case '5':
			err = s.changePassword(ctx)
		case '*', '#':
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
	}
	return 0, nil
}

func (s *session) changePassword(ctx context.Context) error {
	if strings.HasPrefix(s.m.Password, "-") {
		_, err := s.v.play(ctx, "", "vm-sorry")
		return err
	}
	p1, err := s.v.read(ctx, "vm-newpassword", 80, readTimeout)
	if err != nil {
		return err
	}
	p2, err := s.v.read(ctx, "vm-reenterpassword", 80, readTimeout)
	if err != nil {
		return err
	}
	if p1 == "" || p1 != p2 {
		_, err := s.v.play(ctx, "", "vm-mismatch")
		return err
	}
	if err := s.e.SetPassword(ctx, s.m, p1); err != nil {
		s.e.log.Warn(fmt.Sprintf("Unable to change the password of mailbox %s: %s", s.box, err))
		_, err := s.v.play(ctx, "", "vm-sorry")
		return err
	}
	s.v.ch.Verbose(3, fmt.Sprintf("User %s changed the voicemail password", s.box))
	_, err = s.v.play(ctx, "", "vm-passchanged")
	return err
}

// recordGreeting records a greeting to <spool>/<context>/<mailbox>/<kind>.wav.
func (s *session) recordGreeting(ctx context.Context, kind, prompt string) error {
	if _, err := s.v.play(ctx, "", prompt, "beep"); err != nil {
		return err
	}
	g := s.e.cfg.Load().General
	rec, err := s.v.sess.Record(ctx, media.RecordOptions{Stop: "#", MaxDuration: 60 * time.Second, MaxSilence: g.MaxSilence, SilenceThreshold: g.SilenceThreshold})
	s.v.drain()
	if err != nil {
		return err
	}
	if rec.End == media.EndHangup {
		return errHangup
	}
	if err := s.e.saveGreeting(s.box, kind, rec.PCM); err != nil {
		s.e.log.Warn(fmt.Sprintf("Unable to save the %s greeting of %s: %s", kind, s.box, err))
		_, err := s.v.play(ctx, "", "vm-sorry")
		return err
	}
	_, err = s.v.play(ctx, "", "vm-msgsaved")
	return err
}
