package dialplan

import (
	"strings"
	"testing"

	"github.com/pleiades-pbx/pleiades/internal/channel"
	"github.com/pleiades-pbx/pleiades/internal/channel/channeltest"
)

// DeliverChannel dials the destination without the dialplan (the context has no extension
// at all) and hangs the leg up with a cause that tells the caller's server the Dial's result.
func TestDeliverChannel(t *testing.T) {
	for _, tc := range []struct {
		name string
		dest string
		peer func(*channeltest.Tech)
		want channel.Cause
	}{
		{name: "answered", dest: "SIP/bob", peer: func(t *channeltest.Tech) { t.Ring(); t.AnswerFar(); t.HangUpFar(channel.CauseNormalClearing) }, want: channel.CauseNormalClearing},
		{name: "busy", dest: "SIP/bob", peer: func(t *channeltest.Tech) { t.Ring(); t.Busy() }, want: channel.CauseUserBusy},
		{name: "absent", dest: "SIP/absent", want: channel.CauseSubscriberAbsent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newLegEnv(t, "[empty]\n", false)
			env.drv.Peers["bob"] = tc.peer
			env.drv.Refuse = map[string]channel.Cause{"absent": channel.CauseSubscriberAbsent}
			leg, _ := channeltest.NewIncoming(t, env.reg, channeltest.Options{Peer: "node1", Context: "empty", Exten: "bob",
				CallerID: [2]string{"100", "Alice"}})
			done := make(chan error, 1)
			go func() { done <- env.e.DeliverChannel(t.Context(), leg, tc.dest) }()
			if err := waitDone(t, done); err != nil {
				t.Fatal(err)
			}
			if got := leg.Cause(); got != tc.want {
				t.Errorf("leg hung up with %v, want %v\n%s", got, tc.want, strings.Join(env.log.lines(), "\n"))
			}
			if env.reg.Count() != 0 {
				t.Errorf("%d channels left", env.reg.Count())
			}
		})
	}
}
