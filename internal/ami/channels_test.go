package ami

import (
	"context"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/channel"
	"github.com/pleiades-pbx/pleiades/internal/channel/channeltest"
	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/dialplan"
)

// channelFake adds the channel actions over a real channel registry to the fake backend.
type channelFake struct {
	*fakeBackend
	reg *channel.Registry
}

func (c channelFake) status(ch *channel.Channel) ChannelStatus {
	st := ChannelStatus{Snapshot: ch.Snapshot(), Type: "SIP", Variables: []Field{{"FOO", "bar"}}}
	if b := ch.Bridge(); b != nil {
		st.BridgeID = b.ID()
	}
	return st
}

func (c channelFake) Channels() []ChannelStatus {
	var out []ChannelStatus
	for _, ch := range c.reg.List() {
		out = append(out, c.status(ch))
	}
	return out
}

func (c channelFake) ChannelStatus(name string) (ChannelStatus, bool) {
	ch := c.reg.Get(name)
	if ch == nil {
		return ChannelStatus{}, false
	}
	return c.status(ch), true
}

func (c channelFake) HangupChannel(name string, cause channel.Cause) bool {
	ch := c.reg.Get(name)
	if ch == nil {
		return false
	}
	if cause == 0 {
		cause = channel.CauseNormalClearing
	}
	ch.RequestHangup(cause)
	return true
}

const channelsManagerConf = "[general]\nenabled=yes\nport=0\nbindaddr=127.0.0.1\n[admin]\nsecret=pw\nread=all\nwrite=all\n"

// startChannels starts an AMI server whose backend has reg's channels and publishes reg's
// events, and a dialplan engine running calls on reg.
func startChannels(t *testing.T, extensions string) (*testEnv, *channel.Registry, *channeltest.Driver, *dialplan.Engine) {
	t.Helper()
	reg := channel.NewRegistry(nil)
	env := startServer(t, channelsManagerConf, func(s *Server) {})
	env.srv.b = channelFake{fakeBackend: env.b, reg: reg}
	reg.Subscribe(func(e channel.Event) {
		if ev, ok := ChannelEvent(e); ok {
			env.srv.Publish(ev)
		}
	})
	drv := &channeltest.Driver{TB: t, Peers: map[string]func(*channeltest.Tech){}}
	reg.RegisterDriver(drv)
	e := dialplan.New(slog.New(slog.DiscardHandler), nil)
	t.Cleanup(e.Close)
	cfg, err := conf.Parse("extensions.conf", []byte(extensions), conf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Load(cfg); err != nil {
		t.Fatal(err)
	}
	e.SetChannels(reg)
	return env, reg, drv, e
}

// response sends an action and reads packets until its response (events are skipped).
func (c *client) response(lines ...string) *Packet {
	c.t.Helper()
	c.send(lines...)
	for {
		p := c.read()
		if p.Get("Response") != "" {
			return p
		}
	}
}

// readUntil reads packets until one is the event name, returning them all.
func (c *client) readUntil(name string) []*Packet {
	c.t.Helper()
	var out []*Packet
	for {
		p := c.read()
		out = append(out, p)
		if p.Get("Event") == name {
			return out
		}
	}
}

var channelVolatile = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`(?m)^((?:Dest)?(?:Uniqueid|Linkedid)): [0-9]+\.[0-9]+`), "$1: <id>"},
	{regexp.MustCompile(`(?m)^(BridgeUniqueid|BridgeId|BridgeID): bridge-[0-9.]+`), "$1: <bridge>"},
	{regexp.MustCompile(`(?m)^(Duration): [0-9:]+`), "$1: <duration>"},
	{regexp.MustCompile(`(?m)^(Seconds): [0-9]+`), "$1: <seconds>"},
}

func checkChannelGolden(t *testing.T, name, got string) {
	t.Helper()
	for _, v := range channelVolatile {
		got = v.re.ReplaceAllString(got, v.with)
	}
	path := "testdata/golden/" + name
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func packetsText(ps []*Packet) string {
	var b strings.Builder
	for _, p := range ps {
		for _, l := range p.Lines {
			b.WriteString(l + "\n")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// The AMI events of an answered Dial(SIP/bob) and its hangup, in Asterisk 20's order and
// field layout (issue 15 §7, without the device state changes the SIP driver adds):
// Newchannel (caller), Newchannel (callee), DialBegin, Newstate Ringing, Newstate Up,
// DialEnd ANSWER, Newstate Up (caller), BridgeEnter ×2; at the hangup BridgeLeave ×2 and
// Hangup ×2.
func TestAMIDialEvents(t *testing.T) {
	env, reg, drv, e := startChannels(t, "[from-sip]\nexten => 200,1,Dial(SIP/bob,20)\n")
	c := dial(t, env.addr)
	c.login("admin", "pw")
	drv.Peers["bob"] = func(t *channeltest.Tech) {
		t.Ring()
		t.AnswerFar()
	}
	leg, tech := channeltest.NewIncoming(t, reg, channeltest.Options{Peer: "alice", Context: "from-sip", Exten: "200", CallerID: [2]string{"100", "Alice"}})
	done := make(chan error, 1)
	go func() { done <- e.RunChannel(context.Background(), leg) }()
	got := c.readUntil("BridgeEnter")
	got = append(got, c.readUntil("BridgeEnter")...)

	// Status and CoreShowChannels during the call.
	c.send("Action: CoreShowChannels", "ActionID: csc")
	got = append(got, c.readUntil("CoreShowChannelsComplete")...)
	c.send("Action: Status", "Channel: "+leg.Name(), "Variables: FOO,NOPE", "ActionID: st")
	got = append(got, c.readUntil("StatusComplete")...)

	tech.HangUpFar(channel.CauseNormalClearing)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the call did not end")
	}
	got = append(got, c.readUntil("Hangup")...)
	got = append(got, c.readUntil("Hangup")...)
	var kept []*Packet
	for _, p := range got {
		if p.Get("Event") != "SuccessfulAuth" {
			kept = append(kept, p)
		}
	}
	got = kept
	var names []string
	for _, p := range got {
		if ev := p.Get("Event"); ev != "" && p.Get("ActionID") == "" && ev != "SuccessfulAuth" {
			names = append(names, ev+" "+p.Get("Channel")+" "+p.Get("ChannelStateDesc"))
		}
	}
	a, b := leg.Name(), "SIP/bob-00000002"
	want := []string{
		"Newchannel " + a + " Down",
		"Newstate " + a + " Ring",
		"Newchannel " + b + " Down",
		"DialBegin " + a + " Ring",
		"Newstate " + b + " Ringing",
		"Newstate " + b + " Up",
		"DialEnd " + a + " Ring",
		"Newstate " + a + " Up",
		"BridgeEnter " + a + " Up",
		"BridgeEnter " + b + " Up",
		"BridgeLeave " + a + " Up",
		"BridgeLeave " + b + " Up",
		"Hangup " + b + " Down", // app_dial hangs the peer up, then the caller's PBX ends
		"Hangup " + a + " Down",
	}
	if strings.Join(names, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(names, "\n"), strings.Join(want, "\n"))
	}
	checkChannelGolden(t, "channels_dial.golden", packetsText(got))
}

// The Hangup action: by name (a soft hangup: SoftHangupRequest, the call ends with the
// cause given), by /regex/, and for an unknown channel.
func TestAMIHangupAction(t *testing.T) {
	env, reg, _, e := startChannels(t, "[c]\nexten => 1,1,Answer()\n same => n,Wait(30)\n")
	c := dial(t, env.addr)
	c.login("admin", "pw")
	run := func(peer string) (*channel.Channel, *channeltest.Tech, chan error) {
		leg, tech := channeltest.NewIncoming(t, reg, channeltest.Options{Peer: peer, Context: "c", Exten: "1"})
		done := make(chan error, 1)
		go func() { done <- e.RunChannel(context.Background(), leg) }()
		return leg, tech, done
	}
	leg1, tech1, done1 := run("alice")
	_, tech2, done2 := run("carol")
	_, _, done3 := run("dave")
	deadline := time.Now().Add(10 * time.Second)
	for reg.Count() != 3 || leg1.Snapshot().Application != "Wait" {
		if time.Now().After(deadline) {
			t.Fatal("calls did not start")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The response and the SoftHangupRequest event, in either order.
	c.send("Action: Hangup", "Channel: "+leg1.Name(), "Cause: 21", "ActionID: h1")
	var p, ev *Packet
	for p == nil || ev == nil {
		x := c.read()
		switch {
		case x.Get("Response") != "":
			p = x
		case x.Get("Event") == "SoftHangupRequest":
			ev = x
		}
	}
	want(t, p, "Response", "Success", "Message", "Channel Hungup", "ActionID", "h1")
	want(t, ev, "Channel", leg1.Name(), "Cause", "32")
	<-done1
	if cause := tech1.WaitHangup(5 * time.Second); cause != channel.CauseCallRejected {
		t.Fatalf("hung up with %s", cause.Name())
	}
	c.send("Action: Hangup", "Channel: /^SIP/(carol|dave)-/", "ActionID: h2")
	got := c.readUntil("ChannelsHungupListComplete")
	var hung []string
	for _, p := range got {
		if p.Get("Event") == "ChannelHungup" {
			hung = append(hung, p.Get("Channel"))
		}
		if p.Get("Event") == "ChannelsHungupListComplete" {
			want(t, p, "ListItems", "2", "ActionID", "h2")
		}
	}
	if len(hung) != 2 {
		t.Fatalf("hung up %v", hung)
	}
	<-done2
	<-done3
	if cause := tech2.WaitHangup(5 * time.Second); cause != channel.CauseNormalClearing {
		t.Fatalf("hung up with %s", cause.Name())
	}
	p = c.response("Action: Hangup", "Channel: SIP/nobody-00000001")
	want(t, p, "Response", "Error", "Message", "No such channel")
	p = c.response("Action: Hangup")
	want(t, p, "Response", "Error", "Message", "No channel specified")
	p = c.response("Action: Status", "Channel: SIP/nobody-00000001")
	want(t, p, "Response", "Error", "Message", "No such channel")
}

// The events without a Dial: their names, classes and the fields after the snapshot.
func TestChannelEventShapes(t *testing.T) {
	snap := channel.Snapshot{Name: "SIP/alice-00000001", State: channel.Up, CallerNum: "100", Language: "en",
		Context: "c", Exten: "1", Priority: 2, UniqueID: "1.1", LinkedID: "1.1"}
	for _, tc := range []struct {
		ev    channel.Event
		name  string
		class Class
		extra string
	}{
		{channel.Event{Kind: channel.EventNewCallerID, Channel: snap}, "NewCallerid", ClassCall, "CID-CallingPres=0 (Presentation Allowed, Not Screened)"},
		{channel.Event{Kind: channel.EventDTMFBegin, Channel: snap, Digit: '5', Direction: "Received"}, "DTMFBegin", ClassDTMF, "Digit=5 Direction=Received"},
		{channel.Event{Kind: channel.EventDTMFEnd, Channel: snap, Digit: '#', Duration: 120 * time.Millisecond, Direction: "Sent"}, "DTMFEnd", ClassDTMF, "Digit=# DurationMs=120 Direction=Sent"},
		{channel.Event{Kind: channel.EventHangup, Channel: snap, Cause: channel.CauseUserBusy}, "Hangup", ClassCall, "Cause=17 Cause-txt=User busy"},
		{channel.Event{Kind: channel.EventHangupRequest, Channel: snap, Cause: channel.CauseNormalClearing}, "SoftHangupRequest", ClassCall, "Cause=32"},
		{channel.Event{Kind: channel.EventHold, Channel: snap}, "Hold", ClassCall, ""},
		{channel.Event{Kind: channel.EventNewAccountCode, Channel: snap, Old: "acme"}, "NewAccountCode", ClassCall, "OldAccountCode=acme"},
	} {
		ev, ok := ChannelEvent(tc.ev)
		if !ok || ev.Name != tc.name || ev.Class != tc.class {
			t.Fatalf("%v: %q %v %v", tc.ev.Kind, ev.Name, ev.Class, ok)
		}
		var keys, extra []string
		for i, f := range ev.Fields {
			if i < 14 {
				keys = append(keys, f.Key)
			} else {
				extra = append(extra, f.Key+"="+f.Value)
			}
		}
		if strings.Join(keys, " ") != "Channel ChannelState ChannelStateDesc CallerIDNum CallerIDName ConnectedLineNum ConnectedLineName Language AccountCode Context Exten Priority Uniqueid Linkedid" {
			t.Fatalf("%s snapshot fields: %v", tc.name, keys)
		}
		if strings.Join(extra, " ") != tc.extra {
			t.Fatalf("%s: %q, want %q", tc.name, strings.Join(extra, " "), tc.extra)
		}
	}
}
