package cdr

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/channel"
	"github.com/pleiades-pbx/pleiades/internal/channel/channeltest"
	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/dialplan"
)

// memBackend collects records; fail makes Write fail while set.
type memBackend struct {
	name string
	mu   sync.Mutex
	recs []*Record
	fail bool
}

func (m *memBackend) Name() string { return m.name }

func (m *memBackend) Write(_ context.Context, recs []*Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return errFail
	}
	m.recs = append(m.recs, recs...)
	return nil
}

func (m *memBackend) records() []*Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*Record(nil), m.recs...)
}

var errFail = &channel.CauseError{Cause: channel.CauseNetworkOutOfOrder}

type env struct {
	dp  *dialplan.Engine
	reg *channel.Registry
	drv *channeltest.Driver
	cdr *Engine
	mem *memBackend
}

func newEnv(t *testing.T, extensions string, s Settings) *env {
	t.Helper()
	dp := dialplan.New(nil, nil)
	t.Cleanup(dp.Close)
	cfg, err := conf.Parse("extensions.conf", []byte(extensions), conf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := dp.Load(cfg); err != nil {
		t.Fatal(err)
	}
	reg := channel.NewRegistry(nil)
	dp.SetChannels(reg)
	drv := &channeltest.Driver{TB: t, Peers: map[string]func(*channeltest.Tech){}}
	reg.RegisterDriver(drv)
	e := New(nil, s)
	e.Attach(reg)
	Register(dp, e)
	mem := &memBackend{name: "mem"}
	if err := e.AddBackend(mem, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(context.Background()) })
	return &env{dp: dp, reg: reg, drv: drv, cdr: e, mem: mem}
}

// call runs an incoming call from SIP/alice ("Alice" <100>) to exten@c; caller, when set,
// is what the caller's far end does once the dialplan runs.
func (v *env) call(t *testing.T, exten string, caller func(*channeltest.Tech)) (*channel.Channel, []*Record) {
	t.Helper()
	leg, tech := channeltest.NewIncoming(t, v.reg, channeltest.Options{Peer: "alice", Context: "c", Exten: exten,
		CallerID: [2]string{"100", "Alice"}})
	done := make(chan error, 1)
	go func() { done <- v.dp.RunChannel(t.Context(), leg) }()
	if caller != nil {
		caller(tech)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the call did not end")
	}
	deadline := time.Now().Add(10 * time.Second)
	for v.reg.Count() > 0 || v.cdr.Active() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d channels left", v.reg.Count())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := v.cdr.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	return leg, v.mem.records()
}

// line is the fields the rules decide, for comparison.
func line(r *Record) string {
	return strings.Join([]string{r.Src, r.Dst, r.DContext, r.CLID, peer(r.Channel), peer(r.DstChannel), r.LastApp, r.LastData,
		r.Disposition.String(), AMAString(r.AMAFlags), r.AccountCode, r.UserField}, "|")
}

// peer strips a channel name's counter: "SIP/bob-00000002" -> "SIP/bob".
func peer(name string) string {
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		return name[:i]
	}
	return name
}

// The CDR Asterisk 12+ gives for each way a call ends, built from the channel events of
// real dialplan runs on fake legs.
func TestRules(t *testing.T) {
	ringing := func(t *channeltest.Tech) { t.Ring() }
	for _, tc := range []struct {
		name       string
		dialplan   string
		settings   func(*Settings)
		peers      map[string]func(*channeltest.Tech)
		caller     func(*channeltest.Tech)
		want       []string
		answered   []bool
		wantBillOK bool
	}{
		{name: "answered", dialplan: "exten => 200,1,Dial(SIP/bob,20)",
			peers: map[string]func(*channeltest.Tech){"bob": func(t *channeltest.Tech) {
				t.Ring()
				t.AnswerFar()
				time.Sleep(50 * time.Millisecond)
				t.HangUpFar(channel.CauseNormalClearing)
			}},
			want:     []string{`100|200|c|"Alice" <100>|SIP/alice|SIP/bob|Dial|SIP/bob,20|ANSWERED|DOCUMENTATION||`},
			answered: []bool{true}},
		{name: "no answer", dialplan: "exten => 200,1,Dial(SIP/bob,0.2)",
			peers:    map[string]func(*channeltest.Tech){"bob": ringing},
			want:     []string{`100|200|c|"Alice" <100>|SIP/alice|SIP/bob|Dial|SIP/bob,0.2|NO ANSWER|DOCUMENTATION||`},
			answered: []bool{false}},
		{name: "busy", dialplan: "exten => 200,1,Dial(SIP/bob,20)",
			peers:    map[string]func(*channeltest.Tech){"bob": func(t *channeltest.Tech) { t.Ring(); t.Busy() }},
			want:     []string{`100|200|c|"Alice" <100>|SIP/alice|SIP/bob|Dial|SIP/bob,20|BUSY|DOCUMENTATION||`},
			answered: []bool{false}},
		{name: "congestion is failed", dialplan: "exten => 200,1,Dial(SIP/bob,20)",
			peers:    map[string]func(*channeltest.Tech){"bob": func(t *channeltest.Tech) { t.Congestion() }},
			want:     []string{`100|200|c|"Alice" <100>|SIP/alice|SIP/bob|Dial|SIP/bob,20|FAILED|DOCUMENTATION||`},
			answered: []bool{false}},
		{name: "congestion logged", dialplan: "exten => 200,1,Dial(SIP/bob,20)", settings: func(s *Settings) { s.Congestion = true },
			peers:    map[string]func(*channeltest.Tech){"bob": func(t *channeltest.Tech) { t.Congestion() }},
			want:     []string{`100|200|c|"Alice" <100>|SIP/alice|SIP/bob|Dial|SIP/bob,20|CONGESTION|DOCUMENTATION||`},
			answered: []bool{false}},
		{name: "cancelled", dialplan: "exten => 200,1,Dial(SIP/bob,20)",
			peers: map[string]func(*channeltest.Tech){"bob": ringing},
			caller: func(t *channeltest.Tech) {
				time.Sleep(100 * time.Millisecond)
				t.HangUpFar(channel.CauseNormalClearing)
			},
			want:     []string{`100|200|c|"Alice" <100>|SIP/alice|SIP/bob|Dial|SIP/bob,20|NO ANSWER|DOCUMENTATION||`},
			answered: []bool{false}},
		{name: "two dialed one answers", dialplan: "exten => 200,1,Dial(SIP/bob&SIP/carol,20)",
			peers: map[string]func(*channeltest.Tech){"bob": ringing, "carol": func(t *channeltest.Tech) {
				t.Ring()
				time.Sleep(50 * time.Millisecond)
				t.AnswerFar()
				time.Sleep(50 * time.Millisecond)
				t.HangUpFar(channel.CauseNormalClearing)
			}},
			want: []string{
				`100|200|c|"Alice" <100>|SIP/alice|SIP/bob|Dial|SIP/bob&SIP/carol,20|NO ANSWER|DOCUMENTATION||`,
				`100|200|c|"Alice" <100>|SIP/alice|SIP/carol|Dial|SIP/bob&SIP/carol,20|ANSWERED|DOCUMENTATION||`,
			},
			answered: []bool{false, true}},
		{name: "failed dial then the dialplan goes on", dialplan: "exten => 200,1,Dial(SIP/bob,0.2)\n same => n,Answer()\n same => n,Set(CDR(userfield)=after)\n same => n,Hangup()",
			peers: map[string]func(*channeltest.Tech){"bob": ringing},
			want: []string{
				`100|200|c|"Alice" <100>|SIP/alice|SIP/bob|Dial|SIP/bob,0.2|NO ANSWER|DOCUMENTATION||`,
				`100|200|c|"Alice" <100>|SIP/alice||Hangup||ANSWERED|DOCUMENTATION||after`,
			},
			answered: []bool{false, true}},
		{name: "bridge ended then the dialplan goes on", dialplan: "exten => 200,1,Dial(SIP/bob,20,g)\n same => n,Set(CDR(userfield)=after)\n same => n,Hangup()",
			peers: map[string]func(*channeltest.Tech){"bob": func(t *channeltest.Tech) {
				t.Ring()
				t.AnswerFar()
				time.Sleep(50 * time.Millisecond)
				t.HangUpFar(channel.CauseNormalClearing)
			}},
			want: []string{
				`100|200|c|"Alice" <100>|SIP/alice|SIP/bob|Dial|SIP/bob,20,g|ANSWERED|DOCUMENTATION||`,
				`100|200|c|"Alice" <100>|SIP/alice||Hangup||ANSWERED|DOCUMENTATION||after`,
			},
			answered: []bool{true, true}},
		{name: "answered without dial", dialplan: "exten => 200,1,Answer()\n same => n,Set(CDR(userfield)=vip)\n same => n,Set(CDR(accountcode)=acct1)\n same => n,Hangup()",
			want:     []string{`100|200|c|"Alice" <100>|SIP/alice||Hangup||ANSWERED|DOCUMENTATION|acct1|vip`},
			answered: []bool{true}},
		{name: "unanswered without dial not logged", dialplan: "exten => 200,1,Hangup(17)"},
		{name: "unanswered logged", dialplan: "exten => 200,1,Set(CDR(amaflags)=billing)\n same => n,Hangup(17)", settings: func(s *Settings) { s.Unanswered = true },
			want:     []string{`100|200|c|"Alice" <100>|SIP/alice||Hangup|17|BUSY|BILLING||`},
			answered: []bool{false}},
		{name: "unanswered with an h extension", dialplan: "exten => 200,1,Hangup(17)\nexten => h,1,NoOp(bye)", settings: func(s *Settings) { s.Unanswered = true },
			want:     []string{`100|200|c|"Alice" <100>|SIP/alice||Hangup|17|BUSY|DOCUMENTATION||`},
			answered: []bool{false}},
		{name: "h extension counted with endbeforehexten=no", dialplan: "exten => 200,1,Answer()\nexten => h,1,Set(CDR(userfield)=in h)\n same => n,NoOp(x)",
			settings: func(s *Settings) { s.EndBeforeHExten = false },
			want:     []string{`100|200|c|"Alice" <100>|SIP/alice||Answer||ANSWERED|DOCUMENTATION||in h`},
			answered: []bool{true}},
		{name: "ForkCDR", dialplan: "exten => 200,1,Answer()\n same => n,Set(CDR(userfield)=first)\n same => n,ForkCDR()\n same => n,Set(CDR(userfield)=second)\n same => n,Hangup()",
			want: []string{
				`100|200|c|"Alice" <100>|SIP/alice||ForkCDR||ANSWERED|DOCUMENTATION||first`,
				`100|200|c|"Alice" <100>|SIP/alice||Hangup||ANSWERED|DOCUMENTATION||second`,
			},
			answered: []bool{true, true}},
		{name: "CDR_PROP disable then enable", dialplan: "exten => 200,1,Answer()\n same => n,Set(CDR_PROP(disable)=1)\n same => n,Set(CDR_PROP(disable)=0)\n same => n,Hangup()",
			want:     []string{`100|200|c|"Alice" <100>|SIP/alice||Hangup||ANSWERED|DOCUMENTATION||`},
			answered: []bool{true}},
		{name: "CDR_PROP disable", dialplan: "exten => 200,1,Answer()\n same => n,Set(CDR_PROP(disable)=1)\n same => n,Hangup()"},
		{name: "NoCDR", dialplan: "exten => 200,1,Answer()\n same => n,NoCDR()\n same => n,Hangup()"},
		{name: "h extension does not change the record", dialplan: "exten => 200,1,Answer()\n same => n,Wait(0.05)\nexten => h,1,Set(X=1)\n same => n,NoOp(in h)",
			want:     []string{`100|200|c|"Alice" <100>|SIP/alice||Wait|0.05|ANSWERED|DOCUMENTATION||`},
			answered: []bool{true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := DefaultSettings()
			if tc.settings != nil {
				tc.settings(&s)
			}
			v := newEnv(t, "[c]\n"+tc.dialplan+"\n", s)
			for k, f := range tc.peers {
				v.drv.Peers[k] = f
			}
			leg, recs := v.call(t, "200", tc.caller)
			var got []string
			for _, r := range recs {
				got = append(got, line(r))
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			for i, r := range recs {
				if r.UniqueID != leg.UniqueID() || r.LinkedID != leg.LinkedID() {
					t.Errorf("record %d: uniqueid %q linkedid %q, want the caller's %q %q", i, r.UniqueID, r.LinkedID, leg.UniqueID(), leg.LinkedID())
				}
				if r.Start.IsZero() || r.End.Before(r.Start) {
					t.Errorf("record %d: start %v end %v", i, r.Start, r.End)
				}
				if got := !r.Answer.IsZero(); got != tc.answered[i] {
					t.Errorf("record %d: answered %v, want %v", i, got, tc.answered[i])
				}
				if r.Answer.IsZero() && r.Billsec(false) != 0 {
					t.Errorf("record %d: billsec %d unanswered", i, r.Billsec(false))
				}
				if i > 0 && r.Sequence <= recs[i-1].Sequence {
					t.Errorf("sequence %d after %d", r.Sequence, recs[i-1].Sequence)
				}
			}
		})
	}
}

func TestDurationBillsec(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r := &Record{Start: t0, Answer: t0.Add(2300 * time.Millisecond), End: t0.Add(10700 * time.Millisecond)}
	if r.Duration() != 10 || r.Billsec(false) != 8 || r.Billsec(true) != 8 {
		t.Fatalf("duration %d billsec %d/%d", r.Duration(), r.Billsec(false), r.Billsec(true))
	}
	r.End = t0.Add(10900 * time.Millisecond)
	if r.Billsec(false) != 8 || r.Billsec(true) != 9 {
		t.Fatalf("initiatedseconds: %d/%d", r.Billsec(false), r.Billsec(true))
	}
}

func TestParseSettings(t *testing.T) {
	for _, tc := range []struct {
		name, text, err string
		check           func(Settings) bool
	}{
		{name: "defaults", text: "[general]\n", check: func(s Settings) bool {
			return s.Enable && !s.Unanswered && s.EndBeforeHExten && s.SafeShutdown && s.Size == 100 && s.Time == 300*time.Second
		}},
		{name: "all", text: "[general]\nenable=no\nunanswered=yes\ncongestion=yes\nendbeforehexten=no\ninitiatedseconds=yes\nbatch=yes\nsize=10\ntime=5\nscheduleronly=yes\nsafeshutdown=no\n",
			check: func(s Settings) bool {
				return !s.Enable && s.Unanswered && s.Congestion && !s.EndBeforeHExten && s.InitiatedSecs && s.Batch && s.Size == 10 && s.Time == 5*time.Second && !s.SafeShutdown
			}},
		{name: "bad values", text: "[general]\nenable=maybe\nsize=x\ntime=-1\n",
			err: "cdr.conf:2: \"enable\": \"maybe\" is not a boolean (yes/no)\ncdr.conf:3: \"size\": \"x\" is not a positive integer\ncdr.conf:4: \"time\": \"-1\" is not a positive number of seconds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := conf.Parse("cdr.conf", []byte(tc.text), conf.Options{})
			if err != nil {
				t.Fatal(err)
			}
			s, _, err := ParseSettings(cfg)
			if tc.err != "" {
				if err == nil || !strings.HasSuffix(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !tc.check(s) {
				t.Fatalf("settings %+v, err %v", s, err)
			}
		})
	}
}

// Batch mode holds records until size of them wait (or "cdr submit").
func TestBatch(t *testing.T) {
	s := DefaultSettings()
	s.Batch, s.Size, s.Unanswered = true, 2, true
	v := newEnv(t, "[c]\nexten => 200,1,Hangup()\n", s)
	_, recs := v.call(t, "200", nil)
	if len(recs) != 0 || v.cdr.BatchLen() != 1 {
		t.Fatalf("%d posted, %d in the batch", len(recs), v.cdr.BatchLen())
	}
	_, recs = v.call(t, "200", nil)
	if len(recs) != 2 || v.cdr.BatchLen() != 0 {
		t.Fatalf("%d posted, %d in the batch after size reached", len(recs), v.cdr.BatchLen())
	}
	v.call(t, "200", nil)
	if n := v.cdr.Submit(); n != 1 {
		t.Fatalf("submit posted %d", n)
	}
	v.cdr.Flush(t.Context())
	if len(v.mem.records()) != 3 {
		t.Fatalf("%d records", len(v.mem.records()))
	}
}

// CDR() reads the record being built; CHANNEL(accountcode) and CDR(accountcode) are one
// value; an unknown built-in cannot be written.
func TestCDRFunctionRead(t *testing.T) {
	v := newEnv(t, "[c]\nexten => 200,1,Answer()\n"+
		" same => n,Set(CHANNEL(accountcode)=acme)\n"+
		" same => n,Set(GLOBAL(X)=${CDR(src)}|${CDR(clid)}|${CDR(lastapp)}|${CDR(accountcode)}|${CDR(dst)}|${CDR(amaflags)}|${CHANNEL(amaflags)})\n"+
		" same => n,Set(CDR(src)=nope)\n"+
		" same => n,Set(GLOBAL(U)=${CDR(uniqueid)})\n"+
		" same => n,Hangup()\n", DefaultSettings())
	leg, recs := v.call(t, "200", nil)
	if x, _ := v.dp.Global("X"); x != `100|"Alice" <100>|Set|acme|200|DOCUMENTATION|3` {
		t.Fatalf("CDR() reads %q", x)
	}
	if u, _ := v.dp.Global("U"); u != leg.UniqueID() {
		t.Fatalf("CDR(uniqueid) %q", u)
	}
	if len(recs) != 1 || recs[0].Src != "100" || recs[0].AccountCode != "acme" {
		t.Fatalf("records %+v", recs)
	}
}

// CHANNEL(accountcode) and CDR(accountcode) set the channel's account code (Asterisk 12+):
// its snapshot (core show channel, AMI) carries it, NewAccountCode says it changed, and
// CHANNEL(accountcode) reads it back.
func TestAccountCodeOnTheChannel(t *testing.T) {
	v := newEnv(t, "[c]\nexten => 200,1,Answer()\n"+
		" same => n,Set(CHANNEL(accountcode)=acme)\n"+
		" same => n,Set(GLOBAL(A)=${CHANNEL(accountcode)})\n"+
		" same => n,Set(CDR(accountcode)=zenith)\n"+
		" same => n,Set(GLOBAL(B)=${CHANNEL(accountcode)})\n"+
		" same => n,Hangup()\n", DefaultSettings())
	var mu sync.Mutex
	var changes []string
	off := v.reg.Subscribe(func(ev channel.Event) {
		if ev.Kind == channel.EventNewAccountCode {
			mu.Lock()
			changes = append(changes, ev.Old+">"+ev.Channel.AccountCode)
			mu.Unlock()
		}
	})
	defer off()
	leg, recs := v.call(t, "200", nil)
	a, _ := v.dp.Global("A")
	b, _ := v.dp.Global("B")
	if a != "acme" || b != "zenith" || leg.Snapshot().AccountCode != "zenith" {
		t.Fatalf("CHANNEL(accountcode) read %q then %q, snapshot %q", a, b, leg.Snapshot().AccountCode)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(changes, ",") != ">acme,acme>zenith" {
		t.Fatalf("NewAccountCode events %q", changes)
	}
	if len(recs) != 1 || recs[0].AccountCode != "zenith" {
		t.Fatalf("records %+v", recs)
	}
}

func TestUnknownOptionWarned(t *testing.T) {
	cfg, _ := conf.Parse("cdr.conf", []byte("[general]\nenable=yes\nbogus=1\n"), conf.Options{})
	_, warns, err := ParseSettings(cfg)
	if err != nil || len(warns) != 1 || warns[0] != `cdr.conf:3: unknown option "bogus" in [general]` {
		t.Fatalf("warns %q err %v", warns, err)
	}
}

// With CDRs on, CHANNEL() still has the dialplan's own items (musicclass, name).
func TestChannelFunctionKeepsTheDialplansItems(t *testing.T) {
	v := newEnv(t, "[c]\nexten => 200,1,Answer()\n"+
		" same => n,Set(CHANNEL(musicclass)=jazz)\n"+
		" same => n,Set(GLOBAL(M)=${CHANNEL(musicclass)}|${CHANNEL(channeltype)})\n"+
		" same => n,Hangup()\n", DefaultSettings())
	v.call(t, "200", nil)
	if m, _ := v.dp.Global("M"); m != "jazz|SIP" {
		t.Fatalf("CHANNEL(musicclass)|CHANNEL(channeltype) = %q", m)
	}
}

// deliver hands records straight to every backend's queue (the tests' way in, without calls).
func (e *Engine) deliver(recs []*Record) {
	e.lock()
	e.outbox = append(e.outbox, recs...)
	e.unlock()
}

// TestSetDstChannel: app_queue's updatecdr. An application that rings like a queue (two
// members, the second answers) names the member who answered in the caller's record in
// place of its channel; the record of the member who did not answer keeps its channel, and
// a call for unknown channels is ignored.
func TestSetDstChannel(t *testing.T) {
	v := newEnv(t, "[c]\nexten => 200,1,QueueLike()\n", DefaultSettings())
	v.dp.RegisterApp(&dialplan.App{Name: "QueueLike", Exec: func(ctx context.Context, ch *dialplan.Channel, _ string) error {
		res := ch.RingLegs(ctx, []string{"SIP/bob", "SIP/carol"}, dialplan.RingOptions{Timeout: 5 * time.Second})
		if res.Answered == nil {
			t.Errorf("ring: %s", res.Status)
			return nil
		}
		v.cdr.SetDstChannel("no-such-caller", res.Answered.UniqueID(), "nobody")
		v.cdr.SetDstChannel(ch.Leg().UniqueID(), "no-such-peer", "nobody")
		v.cdr.SetDstChannel(ch.Leg().UniqueID(), res.Answered.UniqueID(), "Carol Agent")
		_, err := ch.BridgeLeg(ctx, res.Answered, false)
		return err
	}})
	v.drv.Peers["bob"] = func(t *channeltest.Tech) { t.Ring() }
	v.drv.Peers["carol"] = func(t *channeltest.Tech) {
		t.Ring()
		time.Sleep(50 * time.Millisecond)
		t.AnswerFar()
		time.Sleep(50 * time.Millisecond)
		t.HangUpFar(channel.CauseNormalClearing)
	}
	_, recs := v.call(t, "200", nil)
	var got []string
	for _, r := range recs {
		got = append(got, peer(r.DstChannel)+"|"+r.Disposition.String())
	}
	want := []string{"SIP/bob|NO ANSWER", "Carol Agent|ANSWERED"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// With CDRs off a call's events are dropped where they are made (nothing queued, nothing
// followed); records being built when CDRs were turned off are still finished, and turning
// CDRs on again records the next call.
func TestCDROffFollowsNothing(t *testing.T) {
	off := DefaultSettings()
	off.Enable = false
	v := newEnv(t, "[c]\nexten => 200,1,Answer()\n same => n,Hangup()\nexten => 300,1,Answer()\n same => n,Wait(0.3)\n", off)
	if _, recs := v.call(t, "200", nil); len(recs) != 0 {
		t.Fatalf("CDRs off: %d records", len(recs))
	}
	v.cdr.Handle(channel.Event{Kind: channel.EventNewchannel, Channel: channel.Snapshot{UniqueID: "1.1", LinkedID: "1.1"}})
	v.cdr.qmu.Lock()
	queued := len(v.cdr.queued)
	v.cdr.qmu.Unlock()
	if queued != 0 || v.cdr.Active() != 0 {
		t.Fatalf("CDRs off: %d events queued, %d channels followed", queued, v.cdr.Active())
	}

	on := DefaultSettings()
	v.cdr.SetSettings(on)
	go func() {
		// turned off while the call to 300 is up: its record is still finished
		for v.cdr.Active() == 0 {
			time.Sleep(time.Millisecond)
		}
		v.cdr.SetSettings(off)
	}()
	if _, recs := v.call(t, "300", nil); len(recs) != 1 || recs[0].Dst != "300" || recs[0].Disposition != DispAnswered {
		t.Fatalf("record begun before CDRs were turned off: %+v", recs)
	}
	if !v.cdr.idle.Load() {
		t.Fatal("CDRs off and no record left: the engine still takes events")
	}
	v.cdr.SetSettings(on)
	if _, recs := v.call(t, "200", nil); len(recs) != 2 {
		t.Fatalf("CDRs on again: %d records in all, want 2", len(recs))
	}
}
