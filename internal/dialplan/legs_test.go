package dialplan

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/channel"
	"github.com/pleiades-pbx/pleiades/internal/channel/channeltest"
	"github.com/pleiades-pbx/pleiades/internal/media"
)

// eventLog records channel events as "Kind Channel [detail]".
type eventLog struct {
	mu  sync.Mutex
	evs []channel.Event
}

func (l *eventLog) add(e channel.Event) {
	l.mu.Lock()
	l.evs = append(l.evs, e)
	l.mu.Unlock()
}

func (l *eventLog) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.evs {
		s := e.Kind.String() + " " + e.Channel.Name
		switch e.Kind {
		case channel.EventNewstate:
			s += " " + e.Channel.State.String()
		case channel.EventDialBegin:
			s += " -> " + e.Dest.Name + " " + e.DialString
		case channel.EventDialEnd:
			s += " -> " + e.Dest.Name + " " + e.DialStatus
		case channel.EventHangup:
			s += " " + e.Cause.Name()
		}
		out = append(out, s)
	}
	return out
}

type legEnv struct {
	e   *Engine
	reg *channel.Registry
	drv *channeltest.Driver
	log *eventLog
	med *media.Engine
}

func newLegEnv(t *testing.T, text string, withMedia bool) *legEnv {
	t.Helper()
	e, _ := newTestEngine(t, text)
	reg := channel.NewRegistry(nil)
	e.SetChannels(reg)
	env := &legEnv{e: e, reg: reg, log: &eventLog{}}
	if withMedia {
		cfg := media.DefaultConfig()
		cfg.RTPStart, cfg.RTPEnd = 30000+2*(os.Getpid()%4000), 30000+2*(os.Getpid()%4000)+400
		env.med = media.NewEngine(cfg, nil)
		t.Cleanup(func() { env.med.Close() })
	}
	env.drv = &channeltest.Driver{TB: t, Media: env.med, Peers: map[string]func(*channeltest.Tech){}}
	reg.RegisterDriver(env.drv)
	reg.Subscribe(env.log.add)
	return env
}

// call makes an incoming SIP/alice call to exten@context and runs the dialplan on it in
// the background; the returned channel gives RunChannel's result.
func (env *legEnv) call(t *testing.T, context, exten string, values map[string]any) (*channel.Channel, *channeltest.Tech, <-chan error) {
	t.Helper()
	leg, tech := channeltest.NewIncoming(t, env.reg, channeltest.Options{Peer: "alice", Context: context, Exten: exten,
		CallerID: [2]string{"100", "Alice"}, Media: env.med, Values: values})
	done := make(chan error, 1)
	go func() { done <- env.e.RunChannel(t.Context(), leg) }()
	return leg, tech, done
}

func waitDone(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the dialplan did not end")
		return nil
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The channel variables Asterisk gives a call: CHANNEL, EXTEN, CONTEXT, PRIORITY,
// CALLERID(all|num|name), UNIQUEID, and SIPCALLID from the technology.
func TestRunChannelVariables(t *testing.T) {
	env := newLegEnv(t, `[from-sip]
exten => 200,1,Set(GLOBAL(R)=${CHANNEL}|${EXTEN}|${CONTEXT}|${PRIORITY}|${CALLERID(all)}|${CALLERID(num)}|${CALLERID(name)}|${SIPCALLID})
 same => n,Set(GLOBAL(U)=${UNIQUEID})
`, false)
	leg, tech, done := env.call(t, "from-sip", "200", map[string]any{"SIPCALLID": "abc@host"})
	if err := waitDone(t, done); err != nil {
		t.Fatal(err)
	}
	r, _ := env.e.Global("R")
	want := leg.Name() + `|200|from-sip|1|"Alice" <100>|100|Alice|abc@host`
	if r != want {
		t.Fatalf("variables: %q, want %q", r, want)
	}
	if u, _ := env.e.Global("U"); u != leg.UniqueID() {
		t.Fatalf("UNIQUEID %q, want %q", u, leg.UniqueID())
	}
	if h := tech.Hangups(); len(h) != 1 || h[0] != channel.CauseNormalClearing {
		t.Fatalf("hangups %v, want NORMAL_CLEARING once", h)
	}
	if env.reg.Count() != 0 || env.e.ActiveCalls() != 0 {
		t.Fatalf("%d channels, %d calls left", env.reg.Count(), env.e.ActiveCalls())
	}
}

// The cause a leg is hung up with, as Asterisk's, for each way a call ends.
func TestRunChannelCauses(t *testing.T) {
	text := `[c]
exten => end,1,NoOp()
exten => hangup17,1,Hangup(17)
exten => busy,1,Busy()
exten => congestion,1,Congestion()
exten => answeredbusy,1,Answer()
 same => n,Busy()
exten => dialbusy,1,Dial(SIP/busybob)
exten => dialcong,1,Dial(SIP/congbob)
exten => dialabsent,1,Dial(SIP/absent)
exten => wait,1,Wait(30)
exten => _9X.,1,NoOp()
[withh]
exten => 1,1,Hangup(21)
exten => h,1,Set(GLOBAL(H)=${HANGUPCAUSE})
`
	for _, tc := range []struct {
		context, exten string
		far            func(*channeltest.Tech) // what the caller's phone does meanwhile
		want           channel.Cause
		indicated      channel.Condition
	}{
		{context: "c", exten: "end", want: channel.CauseNormalClearing},
		{context: "c", exten: "hangup17", want: channel.CauseUserBusy},
		{context: "c", exten: "busy", want: channel.CauseUserBusy},
		{context: "c", exten: "congestion", want: channel.CauseCongestion},
		{context: "c", exten: "answeredbusy", want: channel.CauseNormalClearing, indicated: channel.CondBusy,
			far: func(t *channeltest.Tech) { t.HangUpFar(channel.CauseNormalClearing) }},
		{context: "c", exten: "dialbusy", want: channel.CauseUserBusy},
		{context: "c", exten: "dialcong", want: channel.CauseCongestion},
		{context: "c", exten: "dialabsent", want: channel.CauseCongestion},
		{context: "c", exten: "nosuch", want: channel.CauseUnallocated},
		{context: "c", exten: "9", want: channel.CauseInvalidNumberFormat},
		{context: "c", exten: "wait", want: channel.CauseNormalClearing,
			far: func(t *channeltest.Tech) { t.HangUpFar(channel.CauseNormalClearing) }},
		{context: "withh", exten: "1", want: channel.CauseCallRejected},
	} {
		t.Run(tc.exten, func(t *testing.T) {
			env := newLegEnv(t, text, false)
			env.drv.Peers["busybob"] = func(t *channeltest.Tech) { t.Ring(); t.Busy() }
			env.drv.Peers["congbob"] = func(t *channeltest.Tech) { t.Congestion() }
			env.drv.Refuse = map[string]channel.Cause{"absent": channel.CauseSubscriberAbsent}
			_, tech, done := env.call(t, tc.context, tc.exten, nil)
			if tc.far != nil {
				if tc.indicated != 0 {
					waitFor(t, "the indication", func() bool { return slices.Contains(tech.Indications(), tc.indicated) })
				} else {
					time.Sleep(50 * time.Millisecond)
				}
				tc.far(tech)
			}
			waitDone(t, done)
			if c := tech.WaitHangup(5 * time.Second); c != tc.want {
				t.Fatalf("hung up with %d %s, want %d %s", c, c.Name(), tc.want, tc.want.Name())
			}
			switch tc.exten {
			case "busy":
				if !slices.Contains(tech.Indications(), channel.CondBusy) {
					t.Fatalf("busy not indicated: %v", tech.Indications())
				}
			case "congestion":
				if !slices.Contains(tech.Indications(), channel.CondCongestion) {
					t.Fatalf("congestion not indicated: %v", tech.Indications())
				}
			}
			if tc.context == "withh" {
				if h, _ := env.e.Global("H"); h != "21" {
					t.Fatalf("h extension saw HANGUPCAUSE %q", h)
				}
			}
			if env.reg.Count() != 0 {
				t.Fatalf("%d channels left", env.reg.Count())
			}
		})
	}
}

// While the server shuts down, a new call is refused with congestion (SIP 503).
func TestRunChannelRefusedWhileStopping(t *testing.T) {
	env := newLegEnv(t, "[c]\nexten => 1,1,NoOp()\n", false)
	env.e.RefuseNewCalls(true)
	_, tech, done := env.call(t, "c", "1", nil)
	if err := waitDone(t, done); err == nil {
		t.Fatal("a call was run while refusing")
	}
	if c := tech.WaitHangup(time.Second); c != channel.CauseCongestion {
		t.Fatalf("refused with %s", c.Name())
	}
	if env.e.ProcessedCalls() != 0 {
		t.Fatal("a refused call was counted")
	}
}

// DIALSTATUS as Asterisk sets it for each way a Dial ends.
func TestDialStatus(t *testing.T) {
	text := `[c]
exten => 1,1,Dial(${DEST},${TO})
 same => n,Set(GLOBAL(S)=${DIALSTATUS})
exten => h,1,Set(GLOBAL(S)=${DIALSTATUS})
`
	for _, tc := range []struct {
		name, dest, timeout string
		peer                func(*channeltest.Tech)
		caller              func(*channeltest.Tech)
		want                string
	}{
		{name: "answer", dest: "SIP/bob", peer: func(t *channeltest.Tech) { t.Ring(); t.AnswerFar(); t.HangUpFar(channel.CauseNormalClearing) }, want: "ANSWER"},
		{name: "busy", dest: "SIP/bob", peer: func(t *channeltest.Tech) { t.Ring(); t.Busy() }, want: "BUSY"},
		{name: "busy cause only", dest: "SIP/bob", peer: func(t *channeltest.Tech) { t.HangUpFar(channel.CauseUserBusy) }, want: "BUSY"},
		{name: "congestion", dest: "SIP/bob", peer: func(t *channeltest.Tech) { t.Congestion() }, want: "CONGESTION"},
		{name: "declined", dest: "SIP/bob", peer: func(t *channeltest.Tech) { t.HangUpFar(channel.CauseNormalClearing) }, want: "NOANSWER"},
		{name: "rejected", dest: "SIP/bob", peer: func(t *channeltest.Tech) { t.HangUpFar(channel.CauseCallRejected) }, want: "CHANUNAVAIL"},
		{name: "timeout", dest: "SIP/bob", timeout: "0.2", peer: func(t *channeltest.Tech) { t.Ring() }, want: "NOANSWER"},
		{name: "unavailable", dest: "SIP/absent", want: "CHANUNAVAIL"},
		{name: "no such technology", dest: "IAX2/bob", want: "CHANUNAVAIL"},
		{name: "busy and absent", dest: "SIP/bob&SIP/absent", peer: func(t *channeltest.Tech) { t.Busy() }, want: "BUSY"},
		{name: "busy and no answer", dest: "SIP/bob&SIP/carol", timeout: "0.3", peer: func(t *channeltest.Tech) { t.Busy() }, want: "NOANSWER"},
		{name: "cancel", dest: "SIP/bob", peer: func(t *channeltest.Tech) { t.Ring() },
			caller: func(t *channeltest.Tech) { t.HangUpFar(channel.CauseNormalClearing) }, want: "CANCEL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newLegEnv(t, text, false)
			env.e.SetGlobal("DEST", tc.dest)
			env.e.SetGlobal("TO", tc.timeout)
			env.drv.Peers["bob"] = tc.peer
			env.drv.Refuse = map[string]channel.Cause{"absent": channel.CauseSubscriberAbsent}
			_, tech, done := env.call(t, "c", "1", nil)
			if tc.caller != nil {
				waitFor(t, "bob's leg", func() bool { return len(env.drv.Techs("bob")) == 1 && env.drv.Techs("bob")[0].Calls() == 1 })
				time.Sleep(20 * time.Millisecond)
				tc.caller(tech)
			}
			waitDone(t, done)
			if s, _ := env.e.Global("S"); s != tc.want {
				t.Fatalf("DIALSTATUS %q, want %q\n%s", s, tc.want, strings.Join(env.log.lines(), "\n"))
			}
			if env.reg.Count() != 0 {
				t.Fatalf("%d channels left", env.reg.Count())
			}
		})
	}
}

// Dial(SIP/bob&SIP/carol): the first to answer wins; the other is cancelled (DialEnd CANCEL,
// hung up with ANSWERED_ELSEWHERE) and the winner bridged with the caller until one side
// hangs up.
func TestDialFirstAnswerWins(t *testing.T) {
	env := newLegEnv(t, "[c]\nexten => 1,1,Dial(SIP/bob&SIP/carol,20)\n", false)
	answer := make(chan struct{})
	env.drv.Peers["bob"] = func(t *channeltest.Tech) { t.Ring(); <-answer; t.AnswerFar() }
	env.drv.Peers["carol"] = func(t *channeltest.Tech) { t.Ring() }
	leg, tech, done := env.call(t, "c", "1", nil)
	waitFor(t, "both legs called", func() bool {
		b, c := env.drv.Techs("bob"), env.drv.Techs("carol")
		return len(b) == 1 && len(c) == 1 && b[0].Calls() == 1 && c[0].Calls() == 1
	})
	close(answer)
	bob, carol := env.drv.Techs("bob")[0], env.drv.Techs("carol")[0]
	if c := carol.WaitHangup(5 * time.Second); c != channel.CauseAnsweredElsewhere {
		t.Fatalf("carol hung up with %s", c.Name())
	}
	waitFor(t, "the bridge", func() bool { return leg.Bridge() != nil })
	if tech.Answers() != 1 || leg.State() != channel.Up {
		t.Fatalf("caller answered %d times, state %s", tech.Answers(), leg.State())
	}
	if !slices.Contains(tech.Indications(), channel.CondRinging) {
		t.Fatalf("the callee's ringing was not passed to the caller: %v", tech.Indications())
	}
	bob.HangUpFar(channel.CauseNormalClearing)
	waitDone(t, done)
	if c := tech.WaitHangup(5 * time.Second); c != channel.CauseNormalClearing {
		t.Fatalf("caller hung up with %s", c.Name())
	}
	lines := env.log.lines()
	var dialEnds []string
	for _, l := range lines {
		if strings.HasPrefix(l, "DialEnd") {
			dialEnds = append(dialEnds, l)
		}
	}
	want := []string{
		"DialEnd " + leg.Name() + " -> " + carol.Channel().Name() + " CANCEL",
		"DialEnd " + leg.Name() + " -> " + bob.Channel().Name() + " ANSWER",
	}
	if !slices.Equal(dialEnds, want) {
		t.Fatalf("DialEnd events %q, want %q", dialEnds, want)
	}
}

// The events of an answered Dial(SIP/bob) in Asterisk 20's order (issue 15 §7, without the
// device state changes the SIP driver adds).
func TestDialEventOrder(t *testing.T) {
	env := newLegEnv(t, "[c]\nexten => 1,1,Dial(SIP/bob)\n", false)
	env.drv.Peers["bob"] = func(t *channeltest.Tech) {
		t.Ring() // 180: bob Ringing, ringing passed to the caller, who stays in Ring
		time.Sleep(10 * time.Millisecond)
		t.AnswerFar()
	}
	leg, tech, done := env.call(t, "c", "1", nil)
	waitFor(t, "the bridge", func() bool { return leg.Bridge() != nil })
	if !slices.Contains(tech.Indications(), channel.CondRinging) {
		t.Fatalf("ringing not indicated to the caller: %v", tech.Indications())
	}
	bob := env.drv.Techs("bob")[0].Channel()
	tech.HangUpFar(channel.CauseNormalClearing)
	waitDone(t, done)
	waitFor(t, "bob's hangup", func() bool { return env.reg.Count() == 0 })
	a, b := leg.Name(), bob.Name()
	want := []string{
		"Newchannel " + a,
		"Newstate " + a + " Ring", // born Down, then Ring as chan_sip's INVITE handling
		"Newchannel " + b,
		"DialBegin " + a + " -> " + b + " bob",
		"Newstate " + b + " Ringing",
		"Newstate " + b + " Up",
		"DialEnd " + a + " -> " + b + " ANSWER",
		"Newstate " + a + " Up",
		"BridgeEnter " + a,
		"BridgeEnter " + b,
	}
	got := env.log.lines()
	if len(got) < len(want) || !slices.Equal(got[:len(want)], want) {
		t.Fatalf("events:\n%s\nwant first:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	rest := got[len(want):]
	for _, w := range []string{"BridgeLeave " + a, "BridgeLeave " + b, "Hangup " + a + " NORMAL_CLEARING", "Hangup " + b + " NORMAL_CLEARING"} {
		if !slices.Contains(rest, w) {
			t.Fatalf("no %q after the bridge:\n%s", w, strings.Join(rest, "\n"))
		}
	}
}

// Option g: after the callee hangs up, the dialplan goes on; without it the call ends.
func TestDialOptionG(t *testing.T) {
	env := newLegEnv(t, "[c]\nexten => 1,1,Dial(SIP/bob,,g)\n same => n,Set(GLOBAL(G)=after ${DIALSTATUS})\n", false)
	env.drv.Peers["bob"] = func(t *channeltest.Tech) {
		t.AnswerFar()
		time.Sleep(20 * time.Millisecond)
		t.HangUpFar(channel.CauseNormalClearing)
	}
	_, _, done := env.call(t, "c", "1", nil)
	waitDone(t, done)
	if g, _ := env.e.Global("G"); g != "after ANSWER" {
		t.Fatalf("after the callee hung up with g: %q", g)
	}
}

// Option r: ringing is indicated to the caller at once, before any callee rings.
func TestDialOptionR(t *testing.T) {
	env := newLegEnv(t, "[c]\nexten => 1,1,Dial(SIP/bob,0.2,r)\n", false)
	env.drv.Peers["bob"] = func(t *channeltest.Tech) {}
	_, tech, done := env.call(t, "c", "1", nil)
	waitDone(t, done)
	if ind := tech.Indications(); len(ind) == 0 || ind[0] != channel.CondRinging {
		t.Fatalf("indications %v, want ringing first", ind)
	}
}

func writeSound(t *testing.T, dir, name string, samples int) {
	t.Helper()
	p := filepath.Join(dir, "en", name+".ulaw")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, samples)
	for i := range b {
		b[i] = byte(i)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Playback answers the call and sends the file as RTP (20 ms packets) from
// astdatadir/sounds/<lang>/; PLAYBACKSTATUS says whether every file played.
func TestPlaybackSendsRTP(t *testing.T) {
	env := newLegEnv(t, `[c]
exten => 1,1,Playback(beep&nosuchfile)
 same => n,Set(GLOBAL(P)=${PLAYBACKSTATUS})
 same => n,Playback(beep)
 same => n,Set(GLOBAL(Q)=${PLAYBACKSTATUS})
`, true)
	dir := t.TempDir()
	writeSound(t, dir, "beep", 1600) // 10 packets
	env.e.SetSoundsDir(dir)
	_, tech, done := env.call(t, "c", "1", nil)
	waitDone(t, done)
	if tech.Answers() != 1 {
		t.Fatalf("answered %d times", tech.Answers())
	}
	if p, _ := env.e.Global("P"); p != "FAILED" {
		t.Fatalf("PLAYBACKSTATUS with a missing file: %q", p)
	}
	if q, _ := env.e.Global("Q"); q != "SUCCESS" {
		t.Fatalf("PLAYBACKSTATUS: %q", q)
	}
	waitFor(t, "20 packets at the phone", func() bool { return tech.Phone.Received() >= 20 })
}

// Echo sends back what the phone sends, until '#'.
func TestEchoReturnsRTP(t *testing.T) {
	env := newLegEnv(t, "[c]\nexten => 1,1,Answer()\n same => n,Echo()\n same => n,Set(GLOBAL(E)=done)\n", true)
	leg, tech, done := env.call(t, "c", "1", nil)
	waitFor(t, "Echo", func() bool { return leg.Snapshot().Application == "Echo" })
	time.Sleep(20 * time.Millisecond)
	tech.Phone.Send(20, 2*time.Millisecond)
	waitFor(t, "the echo", func() bool { return tech.Phone.Received() >= 15 })
	tech.Phone.SendDigit('#')
	waitDone(t, done)
	if v, _ := env.e.Global("E"); v != "done" {
		t.Fatal("Echo did not end on #")
	}
}

// Read collects RFC 4733 digits the phone sends, until '#'; SendDTMF sends digits as
// telephone-events.
func TestReadAndSendDTMF(t *testing.T) {
	env := newLegEnv(t, `[c]
exten => 1,1,Read(NUM,,,,,5)
 same => n,Set(GLOBAL(N)=${NUM}/${READSTATUS})
 same => n,SendDTMF(12,50,60)
 same => n,Read(NONE,,,,,0.2)
 same => n,Set(GLOBAL(M)=${NONE}/${READSTATUS})
`, true)
	leg, tech, done := env.call(t, "c", "1", nil)
	waitFor(t, "Read", func() bool { return leg.Snapshot().Application == "Read" })
	time.Sleep(20 * time.Millisecond)
	for _, d := range []byte("42#") {
		tech.Phone.SendDigit(d)
	}
	waitDone(t, done)
	if n, _ := env.e.Global("N"); n != "42/OK" {
		t.Fatalf("Read: %q", n)
	}
	if m, _ := env.e.Global("M"); m != "/TIMEOUT" {
		t.Fatalf("Read with no input: %q", m)
	}
	if d := tech.Digits(); d != "12" {
		t.Fatalf("SendDTMF sent %q", d)
	}
	waitFor(t, "telephone-events at the phone", func() bool { return tech.Phone.Events() > 0 })
}

// A bridged Dial relays RTP between the two phones.
func TestDialBridgesMedia(t *testing.T) {
	env := newLegEnv(t, "[c]\nexten => 1,1,Dial(SIP/bob)\n", true)
	env.drv.Peers["bob"] = func(t *channeltest.Tech) { t.AnswerFar() }
	leg, tech, done := env.call(t, "c", "1", nil)
	waitFor(t, "the bridge", func() bool { return leg.Bridge() != nil })
	bob := env.drv.Techs("bob")[0]
	time.Sleep(20 * time.Millisecond)
	tech.Phone.Send(10, 2*time.Millisecond)
	bob.Phone.Send(10, 2*time.Millisecond)
	waitFor(t, "media both ways", func() bool { return bob.Phone.Received() >= 8 && tech.Phone.Received() >= 8 })
	tech.HangUpFar(channel.CauseNormalClearing)
	waitDone(t, done)
	if c := bob.WaitHangup(5 * time.Second); c != channel.CauseNormalClearing {
		t.Fatalf("bob hung up with %s", c.Name())
	}
}

func ExampleDialStatusOfCause() {
	for _, c := range []channel.Cause{channel.CauseUserBusy, channel.CauseCongestion, channel.CauseSubscriberAbsent, channel.CauseNoAnswer, channel.CauseNormalClearing} {
		fmt.Println(c.Name(), DialStatusOfCause(c))
	}
	// Output:
	// USER_BUSY BUSY
	// NORMAL_CIRCUIT_CONGESTION CONGESTION
	// SUBSCRIBER_ABSENT CHANUNAVAIL
	// NO_ANSWER NOANSWER
	// NORMAL_CLEARING NOANSWER
}

// Originate to a technology's channel: it is called; once it answers the extension (or the
// application) runs on it; busy and unanswered legs are reported and hung up.
func TestOriginateLeg(t *testing.T) {
	env := newLegEnv(t, "[c]\nexten => 1,1,Set(GLOBAL(O)=${CHANNEL}|${CALLERID(num)})\n", false)
	env.drv.Peers["bob"] = func(t *channeltest.Tech) { t.Ring(); t.AnswerFar() }
	env.drv.Peers["busy"] = func(t *channeltest.Tech) { t.Busy() }
	env.drv.Peers["mute"] = func(t *channeltest.Tech) { t.Ring() }
	for _, tc := range []struct {
		dest string
		app  string
		want DialResult
	}{
		{"SIP/bob", "", DialAnswered},
		{"SIP/bob", "Set", DialAnswered},
		{"SIP/busy", "", DialBusy},
		{"SIP/mute", "", DialNoAnswer},
	} {
		res := make(chan DialResult, 1)
		o := Originate{Channel: tc.dest, Context: "c", Exten: "1", CallerID: `"Op" <555>`, Timeout: 300 * time.Millisecond,
			Dialled: func(r DialResult) { res <- r }}
		if tc.app != "" {
			o.App, o.Data = "Set", "GLOBAL(A)=app"
		}
		name, id, err := env.e.Originate(t.Context(), o)
		if err != nil || !strings.HasPrefix(name, tc.dest+"-") || id == "" {
			t.Fatalf("%s: %q %q %v", tc.dest, name, id, err)
		}
		select {
		case r := <-res:
			if r != tc.want {
				t.Fatalf("%s: %s, want %s", tc.dest, r, tc.want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no dial result", tc.dest)
		}
		waitFor(t, "the call's end", func() bool { return env.reg.Count() == 0 && env.e.ActiveCalls() == 0 })
	}
	if o, _ := env.e.Global("O"); !strings.HasPrefix(o, "SIP/bob-") || !strings.HasSuffix(o, "|555") {
		t.Fatalf("the extension ran with %q", o)
	}
	if a, _ := env.e.Global("A"); a != "app" {
		t.Fatalf("the application did not run: %q", a)
	}
	env.drv.Refuse = map[string]channel.Cause{"absent": channel.CauseSubscriberAbsent}
	if _, _, err := env.e.Originate(t.Context(), Originate{Channel: "SIP/absent", Context: "c", Exten: "1"}); !errors.Is(err, ErrOriginate) {
		t.Fatalf("originate to a refused leg: %v", err)
	}
	if env.e.ActiveCalls() != 0 || env.e.ProcessedCalls() != 4 {
		t.Fatalf("after a refused originate: %d active, %d processed", env.e.ActiveCalls(), env.e.ProcessedCalls())
	}
}

// Handler runs the call on the technology's goroutine and returns when it has ended (the
// SIP server hangs the leg up after its handler returns).
func TestHandlerIsSynchronous(t *testing.T) {
	env := newLegEnv(t, "[c]\nexten => 1,1,Wait(30)\n", false)
	leg, tech := channeltest.NewIncoming(t, env.reg, channeltest.Options{Peer: "alice", Context: "c", Exten: "1"})
	returned := make(chan struct{})
	go func() { env.e.Handler()(leg); close(returned) }()
	waitFor(t, "Wait", func() bool { return leg.Snapshot().Application == "Wait" })
	select {
	case <-returned:
		t.Fatal("the handler returned while the call runs")
	case <-time.After(50 * time.Millisecond):
	}
	tech.HangUpFar(channel.CauseNormalClearing)
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("the handler did not return after the hangup")
	}
	if env.reg.Count() != 0 {
		t.Fatal("the leg is still registered")
	}
}

// CALLERID() written on a leg changes the leg's caller ID (NewCallerid).
func TestCallerIDWriteOnLeg(t *testing.T) {
	env := newLegEnv(t, "[c]\nexten => 1,1,Set(CALLERID(all)=\"Bob B\" <555>)\n same => n,Set(GLOBAL(C)=${CALLERID(num)}/${CALLERID(name)})\n", false)
	_, _, done := env.call(t, "c", "1", nil)
	waitDone(t, done)
	if c, _ := env.e.Global("C"); c != "555/Bob B" {
		t.Fatalf("caller ID after the write: %q", c)
	}
	if !slices.ContainsFunc(env.log.lines(), func(l string) bool { return strings.HasPrefix(l, "NewCallerid SIP/alice-") }) {
		t.Fatalf("no NewCallerid:\n%s", strings.Join(env.log.lines(), "\n"))
	}
}
