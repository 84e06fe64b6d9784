package voicemail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/channel"
	"github.com/pleiades-pbx/pleiades/internal/dialplan"
	"github.com/pleiades-pbx/pleiades/internal/media"
)

// Register adds VoiceMail, VoiceMailMain, MAILBOX_EXISTS and VM_INFO to a dialplan engine.
func (e *Engine) Register(dp *dialplan.Engine) {
	dp.RegisterApp(&dialplan.App{Name: "VoiceMail", Synopsis: "Leave a Voicemail message.", Exec: e.appVoiceMail})
	dp.RegisterApp(&dialplan.App{Name: "VoiceMailMain", Synopsis: "Check Voicemail messages.", Exec: e.appVoiceMailMain})
	dp.RegisterApp(&dialplan.App{Name: "VoiceMailPurge", Synopsis: "Remove every message of a mailbox.", Exec: e.appVoiceMailPurge})
	dp.RegisterFunction(&dialplan.Function{Name: "MAILBOX_EXISTS", Synopsis: "Tell if a mailbox is configured.", Read: e.funcMailboxExists})
	dp.RegisterFunction(&dialplan.Function{Name: "VM_INFO", Synopsis: "Returns the selected attribute from a mailbox.", Read: e.funcVMInfo})
}

// Unregister removes what Register added.
func (e *Engine) Unregister(dp *dialplan.Engine) {
	dp.UnregisterApp("VoiceMail")
	dp.UnregisterApp("VoiceMailMain")
	dp.UnregisterApp("VoiceMailPurge")
	dp.UnregisterFunction("MAILBOX_EXISTS")
	dp.UnregisterFunction("VM_INFO")
}

// msgSeq numbers msg_id within a second on this server.
var msgSeq atomic.Uint32

// answer answers a leg that is not up yet.
func answer(ctx context.Context, ch *dialplan.Channel) error {
	leg := ch.Leg()
	if leg != nil && leg.State() != channel.Up {
		if err := leg.Answer(ctx); err != nil {
			return dialplan.ErrHangup
		}
	}
	return nil
}

// voiceMailArgs parses VoiceMail's data: mailbox[@context][&mailbox[@context]...][,options].
func voiceMailArgs(data string) (boxes []Box, opts string) {
	list, opts, _ := strings.Cut(data, ",")
	for mb := range strings.SplitSeq(list, "&") {
		if strings.TrimSpace(mb) != "" {
			boxes = append(boxes, SplitMailbox(mb))
		}
	}
	return boxes, strings.TrimSpace(opts)
}

// appVoiceMail is VoiceMail(mailbox[@context][&...][,options]): options u (unavailable
// greeting), b (busy greeting), s (no instructions), U (urgent), as app_voicemail's
// leave_voicemail. VMSTATUS is SUCCESS, USEREXIT or FAILED.
func (e *Engine) appVoiceMail(ctx context.Context, ch *dialplan.Channel, data string) error {
	boxes, opts := voiceMailArgs(data)
	if len(boxes) == 0 {
		ch.Log(slog.LevelWarn, "VoiceMail requires an argument (extension)")
		ch.SetVar("VMSTATUS", "FAILED")
		return nil
	}
	if err := answer(ctx, ch); err != nil {
		return err
	}
	ch.ResetSteps()
	v, err := newIVR(ch)
	if err != nil {
		ch.SetVar("VMSTATUS", "FAILED")
		return nil
	}
	_, err = e.leave(ctx, v, boxes, opts)
	return err
}

// leave is Asterisk's leave_voicemail: the greeting, the beep, the recording (with review=yes
// the review menu, with operator=yes '0' to the operator), the message stored in every
// mailbox of boxes and VMSTATUS set. exited is true when the caller left for extension a or o
// (the channel goes there: VMSTATUS USEREXIT); err is dialplan.ErrHangup after a hangup.
func (e *Engine) leave(ctx context.Context, v *ivr, boxes []Box, opts string) (exited bool, err error) {
	ch := v.ch
	g := e.cfg.Load().General
	first, err := e.Find(ctx, boxes[0])
	if err != nil {
		if errors.Is(err, ErrNoMailbox) {
			ch.Log(slog.LevelWarn, fmt.Sprintf("No entry in voicemail config file for '%s'", boxes[0].Mailbox))
		} else {
			ch.Log(slog.LevelError, fmt.Sprintf("Unable to look up mailbox %s: %s", boxes[0], err))
		}
		ch.SetVar("VMSTATUS", "FAILED")
		return false, nil
	}
	b := boxes[0]
	// The greeting: a recorded one (temp first), else Asterisk's "the person at extension
	// ... is unavailable / on the phone".
	var greet []string
	kind := ""
	switch {
	case strings.Contains(opts, "b"):
		kind = "busy"
	case strings.Contains(opts, "u"):
		kind = "unavail"
	}
	if kind != "" {
		if p, ok := e.greeting(b, "temp"); ok {
			greet = []string{p}
		} else if p, ok := e.greeting(b, kind); ok {
			greet = []string{p}
		} else {
			greet = append([]string{"vm-theperson"}, digitFiles(b.Mailbox)...)
			if kind == "busy" {
				greet = append(greet, "vm-isonphone")
			} else {
				greet = append(greet, "vm-isunavail")
			}
		}
	}
	if !strings.Contains(opts, "s") {
		greet = append(greet, "vm-intro")
	}
	d, err := v.play(ctx, "#*0", greet...)
	if err != nil {
		return false, dialplan.ErrHangup
	}
	// '0' reaches the operator (extension o) only with operator=yes and an o extension, as
	// Asterisk's ouseexten.
	operator := first.boolOpt("operator", g.Operator) && e.hasExten(ctx, ch, "o")
	switch {
	case d == '*' && e.gotoExten(ctx, ch, "a"):
		ch.SetVar("VMSTATUS", "USEREXIT")
		return true, nil
	case d == '0' && operator && e.gotoExten(ctx, ch, "o"):
		ch.SetVar("VMSTATUS", "USEREXIT")
		return true, nil
	}
	maxMsg := g.MaxMsg
	if n, err := strconv.Atoi(first.Options["maxmsg"]); err == nil && n > 0 {
		maxMsg = n
	}
	folder := "INBOX"
	if strings.Contains(opts, "U") {
		folder = "Urgent"
	}
	if n, err := e.st().Count(ctx, b, folder); err == nil && n >= maxMsg {
		ch.Log(slog.LevelWarn, fmt.Sprintf("No more messages possible (mailbox %s has %d, maxmsg %d)", b, n, maxMsg))
		v.play(ctx, "", "vm-mailboxfull")
		ch.SetVar("VMSTATUS", "FAILED")
		return false, nil
	}
	if _, err := v.play(ctx, "", "beep"); err != nil {
		return false, dialplan.ErrHangup
	}
	ch.Verbose(3, fmt.Sprintf("Recording the message for %s", b))
	start := time.Now()
	rv, err := e.recordReview(ctx, v, g, first.boolOpt("review", g.Review), operator)
	if err != nil {
		ch.Log(slog.LevelError, fmt.Sprintf("Recording failed on %s: %s", ch.Name, err))
		ch.SetVar("VMSTATUS", "FAILED")
		return false, nil
	}
	toOperator := func() (bool, error) {
		if e.gotoExten(ctx, ch, "o") {
			v.play(ctx, "", "transfer")
			ch.SetVar("VMSTATUS", "USEREXIT")
			return true, nil
		}
		ch.SetVar("VMSTATUS", "FAILED")
		return false, nil
	}
	if rv.discard {
		if rv.hangup {
			ch.SetVar("VMSTATUS", "FAILED")
			return false, dialplan.ErrHangup
		}
		if rv.operator {
			return toOperator()
		}
		ch.SetVar("VMSTATUS", "FAILED")
		return false, nil
	}
	rec := rv.rec
	secs := int(rec.Duration() / time.Second)
	if rec.Duration() < g.MinMessage || rec.Duration() == 0 {
		ch.Verbose(3, fmt.Sprintf("Recording was %d seconds long but needs to be at least %d - abandoning", secs, int(g.MinMessage/time.Second)))
		if rv.operator {
			return toOperator()
		}
		if !rv.hangup {
			v.play(ctx, "", "vm-goodbye")
		}
		ch.SetVar("VMSTATUS", "FAILED")
		if rv.hangup {
			return false, dialplan.ErrHangup
		}
		return false, nil
	}
	num, name := ch.CallerID()
	cid := num
	if name != "" {
		cid = fmt.Sprintf("%q <%s>", name, num)
	}
	now := time.Now()
	meta := NewMeta(Meta{
		OrigMailbox: b.Mailbox, Context: ch.Context, Exten: ch.Exten, Priority: ch.Priority,
		CallerChan: ch.Name, CallerID: cid,
		MsgID: fmt.Sprintf("%d-%08x", now.Unix(), msgSeq.Add(1)), Duration: max(secs, 1),
	}, start)
	if folder == "Urgent" {
		meta.Flag = "Urgent"
	}
	failed := false
	for _, target := range boxes {
		mbx := first
		if target != b {
			if mbx, err = e.Find(ctx, target); err != nil {
				ch.Log(slog.LevelWarn, fmt.Sprintf("No entry in voicemail config file for '%s'", target.Mailbox))
				continue
			}
		}
		m := meta
		m.OrigMailbox = target.Mailbox
		n, err := e.st().Save(ctx, target, folder, m, rec.PCM)
		if err != nil {
			failed = true
			ch.Log(slog.LevelError, fmt.Sprintf("Unable to store the message for %s: %s", target, err))
			continue
		}
		ch.Verbose(3, fmt.Sprintf("Saved message %s/msg%04d for %s (%d s, %s)", folder, n, target, meta.Duration, rec.End))
		e.Refresh(context.WithoutCancel(ctx), target, true)
		e.notify(mbx, m, n, folder, rec.PCM)
	}
	if rv.operator {
		// The message kept (vm-saveoper, 1) is stored, then the caller goes to the operator,
		// as Asterisk's leave_voicemail does.
		return toOperator()
	}
	if failed {
		if !rv.hangup {
			v.play(ctx, "", "vm-sorry")
		}
		ch.SetVar("VMSTATUS", "FAILED")
	} else {
		ch.SetVar("VMSTATUS", "SUCCESS")
	}
	if rv.hangup {
		return false, dialplan.ErrHangup
	}
	if _, err := v.play(ctx, "", "vm-goodbye"); err != nil {
		return false, dialplan.ErrHangup
	}
	return false, nil
}

// reviewed is what recordReview ends with: the recording to keep (rec), or none (discard),
// whether the caller hung up and whether the caller asked for the operator.
type reviewed struct {
	rec      *media.Recording
	discard  bool
	hangup   bool
	operator bool
}

// Review timeouts (Asterisk's play_record_review: 600 ms after vm-torerecord and
// vm-reachoper, 6 s for a choice, 3 s after vm-saveoper; three silent rounds keep the
// message).
const (
	reviewShortWait = 600 * time.Millisecond
	reviewWait      = 6 * time.Second
	saveOperWait    = 3 * time.Second
	reviewAttempts  = 3
)

// recordReview records a message as Asterisk's play_record_review does for a caller leaving
// one: '#' ends the recording; without review that is all. With review the caller then hears
// vm-review (1 accept, 2 listen, 3 record again) and, with the operator, vm-reachoper (0).
// With the operator, '0' during the recording or in the review menu asks vm-saveoper: 1
// keeps the message (vm-msgsaved), anything else drops it (vm-deleted); then the caller goes
// to the operator. A hangup keeps what was recorded.
func (e *Engine) recordReview(ctx context.Context, v *ivr, g General, review, operator bool) (reviewed, error) {
	stop := "#"
	if operator {
		stop = "#0"
	}
	var rec *media.Recording
	exists, recorded := false, false
	attempts := 0
	cmd := '3'
	for {
		var err error
		switch cmd {
		case '1':
			if !exists {
				cmd = '3'
				continue
			}
			v.ch.Verbose(3, "Saving message as is")
			v.play(ctx, "", "vm-msgsaved")
			return reviewed{rec: rec}, nil
		case '2':
			v.ch.Verbose(3, "Reviewing the message")
			cmd, err = v.playPCM(ctx, "any", rec.PCM)
		case '3':
			exists = false
			if recorded {
				v.ch.Verbose(3, "Re-recording the message")
				if _, err := v.play(ctx, "", "vm-intro", "beep"); err != nil {
					// Asterisk deletes the recording the caller chose to redo.
					return reviewed{discard: true, hangup: true}, nil
				}
			}
			recorded = true
			r, err := v.sess.Record(ctx, media.RecordOptions{
				Stop: stop, MaxDuration: g.MaxMessage, MaxSilence: g.MaxSilence, SilenceThreshold: g.SilenceThreshold,
			})
			v.drain()
			if err != nil {
				return reviewed{}, err
			}
			rec = r
			switch {
			case r.End == media.EndHangup:
				return reviewed{rec: rec, hangup: true}, nil
			case r.End == media.EndDTMF && r.Digit == '0':
				v.ch.Verbose(3, "User cancelled the message by pressing 0")
				cmd = '0'
			default:
				exists = true
				cmd = 0
			}
			continue
		case '0':
			if !operator {
				cmd, err = v.play(ctx, "any", "vm-sorry")
				break
			}
			d, err := v.play(ctx, "any", "vm-saveoper")
			if err == nil && d == 0 {
				d, err = v.waitDigit(ctx, saveOperWait)
			}
			if err != nil {
				return reviewed{discard: true, hangup: true}, nil
			}
			if d == '1' {
				v.play(ctx, "", "vm-msgsaved")
				return reviewed{rec: rec, operator: true}, nil
			}
			v.play(ctx, "", "vm-deleted")
			return reviewed{discard: true, operator: true}, nil
		case 0:
			if !review {
				return reviewed{rec: rec}, nil
			}
			if exists {
				cmd, err = v.play(ctx, "any", "vm-review")
			} else if cmd, err = v.play(ctx, "any", "vm-torerecord"); err == nil && cmd == 0 {
				cmd, err = v.waitDigit(ctx, reviewShortWait)
			}
			if err == nil && cmd == 0 && operator {
				if cmd, err = v.play(ctx, "any", "vm-reachoper"); err == nil && cmd == 0 {
					cmd, err = v.waitDigit(ctx, reviewShortWait)
				}
			}
			if err == nil && cmd == 0 {
				cmd, err = v.waitDigit(ctx, reviewWait)
			}
			if err == nil && cmd == 0 {
				if attempts++; attempts > reviewAttempts {
					return reviewed{rec: rec, discard: !exists}, nil
				}
			}
		default:
			cmd, err = v.play(ctx, "any", "vm-sorry")
		}
		if err != nil {
			return reviewed{rec: rec, discard: !exists && rec == nil, hangup: true}, nil
		}
	}
}

// hasExten tells whether exten exists in the channel's context.
func (e *Engine) hasExten(ctx context.Context, ch *dialplan.Channel, exten string) bool {
	dp := ch.Engine()
	if dp == nil {
		return false
	}
	cid, _ := ch.CallerID()
	return dp.Exists(ctx, ch.Context, exten, 1, cid)
}

// gotoExten jumps to exten in the channel's context when it exists ('a' for '*', 'o' for
// '0' in the greeting).
func (e *Engine) gotoExten(ctx context.Context, ch *dialplan.Channel, exten string) bool {
	if !e.hasExten(ctx, ch, exten) {
		return false
	}
	return ch.Goto(ctx, ch.Context, exten, "1") == nil
}

// funcMailboxExists is MAILBOX_EXISTS(mailbox[@context]): 1 or 0.
func (e *Engine) funcMailboxExists(ctx context.Context, ch *dialplan.Channel, args string) (string, error) {
	if strings.TrimSpace(args) == "" {
		return "", errors.New("MAILBOX_EXISTS requires an argument (<mailbox>[@<context>])")
	}
	if _, err := e.Find(ctx, SplitMailbox(args)); err != nil {
		return "0", nil
	}
	return "1", nil
}

// funcVMInfo is VM_INFO(mailbox[@context],attribute[,folder]): count (of folder, INBOX by
// default), email, exists, fullname, language, locale, pager, password, tz.
func (e *Engine) funcVMInfo(ctx context.Context, ch *dialplan.Channel, args string) (string, error) {
	parts := strings.Split(args, ",")
	if len(parts) < 2 || strings.TrimSpace(parts[0]) == "" {
		return "", errors.New("VM_INFO requires an argument (<mailbox>[@<context>],attribute[,folder])")
	}
	b := SplitMailbox(parts[0])
	attr := strings.ToLower(strings.TrimSpace(parts[1]))
	m, err := e.Find(ctx, b)
	if attr == "exists" {
		if err != nil {
			return "0", nil
		}
		return "1", nil
	}
	if err != nil {
		return "", nil
	}
	switch attr {
	case "count":
		folder := "INBOX"
		if len(parts) > 2 && strings.TrimSpace(parts[2]) != "" {
			folder = strings.TrimSpace(parts[2])
		}
		if FolderIndex(folder) < 0 {
			return "", fmt.Errorf("VM_INFO: invalid folder '%s'", folder)
		}
		n, err := e.st().Count(ctx, b, folder)
		if err != nil {
			return "", err
		}
		return strconv.Itoa(n), nil
	case "email":
		return m.Email, nil
	case "fullname":
		return m.FullName, nil
	case "pager":
		return m.Pager, nil
	case "password":
		return m.Password, nil
	case "language":
		return m.Options["language"], nil
	case "locale":
		return m.Options["locale"], nil
	case "tz":
		return m.Options["tz"], nil
	}
	return "", fmt.Errorf("VM_INFO: unknown attribute '%s'", attr)
}

// appVoiceMailPurge is VoiceMailPurge(mailbox[@context][&mailbox2...][,folder]) (Pleiades'; not
// an Asterisk application): every message of the mailboxes is removed, of every folder or of
// the folder named, then their counts go to MWI. VMPURGESTATUS is SUCCESS or FAILED (no
// mailbox given, a mailbox that does not exist, a folder that does not, a store error: the
// other mailboxes are still purged), VMPURGECOUNT the number of messages removed.
func (e *Engine) appVoiceMailPurge(ctx context.Context, ch *dialplan.Channel, data string) error {
	boxes, folder := voiceMailArgs(data)
	status, total := "SUCCESS", 0
	defer func() {
		ch.SetVar("VMPURGESTATUS", status)
		ch.SetVar("VMPURGECOUNT", strconv.Itoa(total))
	}()
	if len(boxes) == 0 {
		ch.Log(slog.LevelWarn, "VoiceMailPurge requires an argument (mailbox)")
		status = "FAILED"
		return nil
	}
	folders := Folders
	if folder != "" {
		if FolderIndex(folder) < 0 {
			ch.Log(slog.LevelWarn, fmt.Sprintf("VoiceMailPurge: no folder %q", folder))
			status = "FAILED"
			return nil
		}
		folders = []string{Folders[FolderIndex(folder)]}
	}
	for _, b := range boxes {
		if _, err := e.Find(ctx, b); err != nil {
			ch.Log(slog.LevelWarn, fmt.Sprintf("VoiceMailPurge: mailbox %s: %s", b, err))
			status = "FAILED"
			continue
		}
		n, err := e.Purge(ctx, b, folders...)
		total += n
		if err != nil {
			ch.Log(slog.LevelWarn, fmt.Sprintf("VoiceMailPurge: mailbox %s: %s", b, err))
			status = "FAILED"
		}
		ch.Verbose(3, fmt.Sprintf("VoiceMailPurge: %d messages removed from %s", n, b))
	}
	return nil
}
