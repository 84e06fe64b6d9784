package dialplan

import (
	"strings"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/channel"
	"github.com/pleiades-pbx/pleiades/internal/channel/channeltest"
	"github.com/pleiades-pbx/pleiades/internal/cli"
	"github.com/pleiades-pbx/pleiades/test/golden"
)

// core show channels [concise|verbose|count] and core show channel during a Dial that
// rings, in Asterisk 20's layouts (main/cli.c); unique and bridge IDs are masked.
func TestShowChannelsGolden(t *testing.T) {
	env := newLegEnv(t, "[from-sip]\nexten => 200,1,Set(FOO=bar)\n same => n,Dial(SIP/bob&SIP/carol,20,r)\n", false)
	env.drv.Peers["bob"] = func(t *channeltest.Tech) { t.Ring() }
	leg, tech, done := env.call(t, "from-sip", "200", map[string]any{"SIPCALLID": "abc@host"})
	waitFor(t, "both callees ringing", func() bool {
		b := env.drv.Techs("bob")
		return len(b) == 1 && b[0].Channel().State() == channel.Ringing && len(env.drv.Techs("carol")) == 1 && env.drv.Techs("carol")[0].Calls() == 1
	})
	var latest time.Time
	for _, ch := range env.reg.List() {
		if ch.Created().After(latest) {
			latest = ch.Created()
		}
	}
	now := latest.Add(3725*time.Second + 500*time.Millisecond)
	mask := func(s string) string {
		for _, ch := range env.reg.List() {
			s = strings.ReplaceAll(s, ch.UniqueID(), "UNIQUEID")
		}
		return s
	}
	var out strings.Builder
	for _, mode := range []string{"", "concise", "verbose", "count"} {
		out.WriteString("> core show channels " + mode + "\n")
		env.e.WriteChannels(&out, mode, now)
	}
	out.WriteString("> core show channel " + leg.Name() + "\n")
	env.e.WriteChannel(&out, leg, now)
	golden.Check(t, "core_show_channels.golden", mask(out.String()))

	// channel request hangup: the caller's dialplan ends, the callees are cancelled.
	got, err := runChanCLI(t, env.e, "channel request hangup "+leg.Name())
	if err != nil || got != "Requested Hangup on channel '"+leg.Name()+"'\n" {
		t.Fatalf("channel request hangup: %q %v", got, err)
	}
	waitDone(t, done)
	if c := tech.WaitHangup(5 * time.Second); c != channel.CauseNormalClearing {
		t.Fatalf("hung up with %s", c.Name())
	}
	waitFor(t, "every channel gone", func() bool { return env.reg.Count() == 0 })
	if got, _ := runChanCLI(t, env.e, "channel request hangup SIP/nobody-00000009"); got != "SIP/nobody-00000009 is not a known channel\n" {
		t.Fatalf("unknown channel: %q", got)
	}
	if got, _ := runChanCLI(t, env.e, "core show channels count"); got != "0 active channels\n0 active calls\n1 call processed\n" {
		t.Fatalf("count after the call: %q", got)
	}
}

func runChanCLI(t *testing.T, e *Engine, line string) (string, error) {
	t.Helper()
	var out strings.Builder
	r := newChanCLI(e)
	err := r.Run(t.Context(), line, &out, nil)
	return out.String(), err
}

func newChanCLI(e *Engine) *cli.Registry {
	r := cli.NewRegistry()
	r.MustRegister(e.ChannelCommands()...)
	return r
}
