package voicemail

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/channel/channeltest"
)

// keys sends digits with gap between them.
func keys(tech *channeltest.Tech, digits string, gap time.Duration) {
	for _, d := range []byte(digits) {
		tech.Phone.SendDigit(d)
		time.Sleep(gap)
	}
}

// inOrder fails unless every word of want is said in order in said.
func inOrder(t *testing.T, said string, want ...string) {
	t.Helper()
	rest := " " + said + " "
	for _, w := range want {
		i := strings.Index(rest, " "+w+" ")
		if i < 0 {
			t.Fatalf("%s not said in order; said: %s", w, said)
		}
		rest = rest[i+len(w)+1:]
	}
}

// review=yes: after '#' the caller hears vm-review; 3 records again (vm-intro, beep), 2 plays
// the new recording, 1 keeps it: the message stored is the second recording.
func TestVoiceMailReview(t *testing.T) {
	env := newAppEnv(t, "[general]\nreview=yes\nminsecs=1\n[default]\n1234 => 4242,John\n", "[c]\nexten => 1,1,VoiceMail(1234@default,s)\n same => n,Set(GLOBAL(S)=${VMSTATUS})\n")
	leg, tech, done := env.call(t, "1")
	wait(t, "VoiceMail", func() bool { return leg.Snapshot().Application == "VoiceMail" })
	time.Sleep(300 * time.Millisecond)
	tech.Phone.Send(60, 20*time.Millisecond) // 1.2 s
	keys(tech, "#", 400*time.Millisecond)
	keys(tech, "3", 400*time.Millisecond)     // record again
	tech.Phone.Send(125, 20*time.Millisecond) // 2.5 s
	keys(tech, "#", 400*time.Millisecond)
	keys(tech, "2", 500*time.Millisecond) // listen (stopped by the 1)
	keys(tech, "1", 100*time.Millisecond) // accept
	waitEnd(t, done)
	if v, _ := env.dp.Global("S"); v != "SUCCESS" {
		t.Fatalf("VMSTATUS %q", v)
	}
	msgs, err := env.vm.Store().List(context.Background(), Box{"default", "1234"}, "INBOX")
	if err != nil || len(msgs) != 1 || msgs[0].Meta.Duration != 2 {
		t.Fatalf("%+v %v (want one message of the second recording, 2 s)", msgs, err)
	}
	inOrder(t, env.logs.missing(), "beep", "vm-review", "vm-intro", "beep", "vm-review", "vm-msgsaved", "vm-goodbye")
}

// operator=yes: '0' during the recording asks vm-saveoper; 1 keeps the message, anything else
// drops it; either way the caller goes to extension o (VMSTATUS USEREXIT). With review the
// menu offers the operator (vm-reachoper).
func TestVoiceMailOperator(t *testing.T) {
	env := newAppEnv(t, "[general]\noperator=yes\nminsecs=1\n[default]\n1234 => 4242,John\n1235 => 1,Jane,,,review=yes\n", `[c]
exten => 1,1,VoiceMail(1234@default,s)
 same => n,Set(GLOBAL(R)=no)
exten => 2,1,VoiceMail(1235@default,s)
exten => o,1,Set(GLOBAL(O)=${O}${VMSTATUS}+)
`)
	ctx := context.Background()
	for _, tc := range []struct {
		exten, keys string
		box         Box
		kept        int
	}{{"1", "01", Box{"default", "1234"}, 1}, {"1", "05", Box{"default", "1234"}, 1}, {"2", "#02", Box{"default", "1235"}, 0}} {
		leg, tech, done := env.call(t, tc.exten)
		wait(t, "VoiceMail", func() bool { return leg.Snapshot().Application == "VoiceMail" })
		time.Sleep(300 * time.Millisecond)
		tech.Phone.Send(75, 20*time.Millisecond) // 1.5 s
		keys(tech, tc.keys, 400*time.Millisecond)
		waitEnd(t, done)
		if n, _ := env.vm.Store().Count(ctx, tc.box, "INBOX"); n != tc.kept {
			t.Fatalf("exten %s then %q: %s holds %d, want %d", tc.exten, tc.keys, tc.box, n, tc.kept)
		}
	}
	if v, _ := env.dp.Global("O"); v != "USEREXIT+USEREXIT+USEREXIT+" {
		t.Fatalf("extension o reached with %q", v)
	}
	if v, _ := env.dp.Global("R"); v != "" {
		t.Fatalf("the dialplan went on after VoiceMail: %q", v)
	}
	// The 1235 caller (review=yes) pressed '#' first: the review menu offers the operator.
	inOrder(t, env.logs.missing(), "vm-saveoper", "vm-msgsaved", "transfer", "vm-saveoper", "vm-deleted", "transfer",
		"vm-review", "vm-reachoper", "vm-saveoper", "vm-deleted", "transfer")
}

// 8 forwards the current message: a mailbox that does not exist is refused (pbx-invalid),
// then 1235# and 2 (as it is) copy it into 1235's INBOX, whose MWI is published; a second
// forward with 1 (a comment recorded first) puts the comment before the message.
func TestVoiceMailMainForward(t *testing.T) {
	env := newAppEnv(t, "[default]\n1234 => 4242,John\n1235 => 1,Jane\n", "[c]\nexten => 1,1,VoiceMailMain(1234@default,s)\n")
	ctx := context.Background()
	from, to := Box{"default", "1234"}, Box{"default", "1235"}
	orig := bytes.Repeat([]byte{1, 2}, 8000) // 1 s
	env.vm.Store().Save(ctx, from, "INBOX", NewMeta(Meta{MsgID: "m", CallerID: `"Bob" <20>`, Duration: 1}, time.Now()), orig)
	leg, tech, done := env.call(t, "1")
	wait(t, "VoiceMailMain", func() bool { return leg.Snapshot().Application == "VoiceMailMain" })
	time.Sleep(300 * time.Millisecond)
	keys(tech, "8", 300*time.Millisecond)
	keys(tech, "999#", 100*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	keys(tech, "1234#", 100*time.Millisecond) // itself: refused too
	time.Sleep(300 * time.Millisecond)
	keys(tech, "1235#", 100*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	keys(tech, "2", 500*time.Millisecond)
	keys(tech, "8", 300*time.Millisecond)
	keys(tech, "1235#", 100*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	keys(tech, "1", 300*time.Millisecond)
	tech.Phone.Send(50, 20*time.Millisecond) // a 1 s comment
	keys(tech, "#", 500*time.Millisecond)
	keys(tech, "2", 500*time.Millisecond) // vm-forwardoptions again: send
	keys(tech, "#", 100*time.Millisecond)
	waitEnd(t, done)
	msgs, err := env.vm.Store().List(ctx, to, "INBOX")
	if err != nil || len(msgs) != 2 || msgs[0].Meta.CallerID != `"Bob" <20>` || msgs[0].Meta.MsgID != "m" {
		t.Fatalf("1235's INBOX: %+v %v", msgs, err)
	}
	if a, _ := env.vm.Store().Audio(ctx, to, "INBOX", 0); !bytes.Equal(a, orig) {
		t.Fatalf("forwarded audio: %d bytes", len(a))
	}
	a, _ := env.vm.Store().Audio(ctx, to, "INBOX", 1)
	if len(a) < len(orig)+12000 || !bytes.Equal(a[len(a)-len(orig):], orig) || msgs[1].Meta.Duration < 2 {
		t.Fatalf("forwarded with a comment: %d bytes (%d s), want about %d", len(a), msgs[1].Meta.Duration, len(orig)+16000)
	}
	if n, _ := env.vm.Store().Count(ctx, from, "INBOX"); n != 1 {
		t.Fatalf("1234's INBOX holds %d (the original must stay)", n)
	}
	if got := env.mwi.updates(); !strings.Contains(got, "1235@default 1/0/0;1235@default 2/0/0") {
		t.Fatalf("MWI %q", got)
	}
	inOrder(t, env.logs.missing(), "vm-extension", "pbx-invalid", "vm-extension", "pbx-invalid", "vm-extension", "vm-forwardoptions",
		"vm-msgforwarded", "vm-extension", "vm-forwardoptions", "beep", "vm-forwardoptions", "vm-msgforwarded", "vm-goodbye")
}

// The advanced menu: 2 (call back, callback=) says the caller's number and 1 sends the
// channel to it in the callback context; 4 (dialout=) asks a number and goes there; 1 (reply)
// leaves a message in the caller's mailbox; 5 (sendvoicemail=yes) leaves one for the
// mailboxes keyed in.
func TestVoiceMailMainCallbackDialoutReply(t *testing.T) {
	env := newAppEnv(t, "[general]\ndialout=out\nminsecs=1\nsendvoicemail=yes\n[default]\n1234 => 4242,John,,,callback=cb\n1235 => 1,Jane\n", `[c]
exten => 1,1,VoiceMailMain(1234@default,s)
 same => n,Set(GLOBAL(R)=${R}back+)
[cb]
exten => 1235,1,Set(GLOBAL(R)=${R}${CONTEXT}/${EXTEN}+)
[out]
exten => 555,1,Set(GLOBAL(R)=${R}${CONTEXT}/${EXTEN}+)
`)
	ctx := context.Background()
	box := Box{"default", "1234"}
	env.vm.Store().Save(ctx, box, "INBOX", NewMeta(Meta{MsgID: "m", CallerID: `"Jane" <1235>`, Duration: 1}, time.Now()), make([]byte, 1600))
	run := func(f func(tech *channeltest.Tech)) {
		leg, tech, done := env.call(t, "1")
		wait(t, "VoiceMailMain", func() bool { return leg.Snapshot().Application == "VoiceMailMain" })
		time.Sleep(300 * time.Millisecond)
		f(tech)
		waitEnd(t, done)
	}
	run(func(tech *channeltest.Tech) { keys(tech, "321", 300*time.Millisecond) })
	run(func(tech *channeltest.Tech) {
		keys(tech, "34", 300*time.Millisecond)
		keys(tech, "555#", 100*time.Millisecond)
	})
	run(func(tech *channeltest.Tech) {
		keys(tech, "31", 300*time.Millisecond)
		tech.Phone.Send(75, 20*time.Millisecond)
		keys(tech, "#", 500*time.Millisecond)
		keys(tech, "#", 100*time.Millisecond)
	})
	run(func(tech *channeltest.Tech) {
		keys(tech, "35", 300*time.Millisecond)
		keys(tech, "1235*1234#", 100*time.Millisecond)
		time.Sleep(300 * time.Millisecond)
		tech.Phone.Send(75, 20*time.Millisecond)
		keys(tech, "#", 500*time.Millisecond)
		keys(tech, "#", 100*time.Millisecond)
	})
	if v, _ := env.dp.Global("R"); v != "cb/1235+out/555+back+back+" {
		t.Fatalf("where the calls went: %q", v)
	}
	msgs, err := env.vm.Store().List(ctx, Box{"default", "1235"}, "INBOX")
	if err != nil || len(msgs) != 2 || msgs[0].Meta.CallerID != `"Alice" <100>` || msgs[0].Meta.OrigMailbox != "1235" {
		t.Fatalf("the reply and the message sent: %+v %v", msgs, err)
	}
	if n, _ := env.vm.Store().Count(ctx, box, "INBOX"); n != 2 {
		t.Fatalf("1234 (sent to itself too) holds %d new", n)
	}
	inOrder(t, env.logs.missing(), "vm-toreply", "vm-tocallback", "vm-tohearenv", "vm-tomakecall", "vm-starmain",
		"vm-num-i-have", "digits/1", "digits/2", "digits/3", "digits/5", "vm-tocallnum", "vm-calldiffnum", "vm-star-cancel",
		"vm-toreply", "vm-enter-num-to-call", "vm-then-pound", "vm-toreply", "vm-intro", "beep", "vm-goodbye",
		"vm-leavemsg", "vm-extension", "vm-intro", "beep", "vm-goodbye")
}

// skipms: '#' during a message skips forward by skipms, '*' back; the message does not end
// VoiceMailMain ('#' in the main menu would).
func TestVoiceMailMainSkip(t *testing.T) {
	env := newAppEnv(t, "[general]\nskipms=2000\n[default]\n1234 => 4242,John\n", "[c]\nexten => 1,1,VoiceMailMain(1234@default,s)\n")
	ctx := context.Background()
	env.vm.Store().Save(ctx, Box{"default", "1234"}, "INBOX", NewMeta(Meta{MsgID: "m", Duration: 4}, time.Now()), make([]byte, 64000))
	leg, tech, done := env.call(t, "1")
	wait(t, "VoiceMailMain", func() bool { return leg.Snapshot().Application == "VoiceMailMain" })
	time.Sleep(300 * time.Millisecond)
	ended := func() int { return strings.Count(env.logs.missing(), "vm-helpexit") }
	// The time from a key to the end of the message (the instructions that follow it).
	played := func(first string, then string) time.Duration {
		n := ended()
		start := time.Now()
		keys(tech, first, 500*time.Millisecond)
		keys(tech, then, 0)
		wait(t, "the end of the message", func() bool { return ended() > n })
		return time.Since(start)
	}
	if d := played("1", "#"); d > 3200*time.Millisecond {
		t.Fatalf("with '#' after 0.5 s a 4 s message took %v (want about 2 s)", d)
	}
	time.Sleep(200 * time.Millisecond)
	if d := played("5", "*"); d < 4400*time.Millisecond {
		t.Fatalf("with '*' after 0.5 s a 4 s message took %v (want about 4.5 s)", d)
	}
	keys(tech, "#", 0)
	waitEnd(t, done)
	inOrder(t, env.logs.missing(), "vm-first", "vm-helpexit", "vm-helpexit", "vm-goodbye")
}

// nextaftercmd=yes: after a save (9) the next message plays; after the last one, vm-nomore.
func TestVoiceMailMainNextAfterCmd(t *testing.T) {
	env := newAppEnv(t, "[general]\nnextaftercmd=yes\n[default]\n1234 => 4242,John\n", "[c]\nexten => 1,1,VoiceMailMain(1234@default,s)\n")
	ctx := context.Background()
	b := Box{"default", "1234"}
	for _, id := range []string{"a", "b"} {
		env.vm.Store().Save(ctx, b, "INBOX", NewMeta(Meta{MsgID: id, Duration: 1}, time.Now()), make([]byte, 1600))
	}
	leg, tech, done := env.call(t, "1")
	wait(t, "VoiceMailMain", func() bool { return leg.Snapshot().Application == "VoiceMailMain" })
	time.Sleep(300 * time.Millisecond)
	keys(tech, "1927#", 400*time.Millisecond)
	waitEnd(t, done)
	inOrder(t, env.logs.missing(), "vm-first", "vm-savedto", "vm-Work", "vm-last", "vm-message", "vm-deleted", "vm-nomore", "vm-goodbye")
	if n, _ := env.vm.Store().Count(ctx, b, "Work"); n != 1 {
		t.Fatalf("Work holds %d", n)
	}
	if n, _ := env.vm.Store().Count(ctx, b, "INBOX"); n != 0 {
		t.Fatalf("INBOX holds %d", n)
	}
}
