package queue

import (
	"strings"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/channel/channeltest"
)

// TestAutopause: bob is rung once (Queue option n, timeout 1) and does not answer, is busy
// or congested: whether he is paused, and in which of his two queues, per autopause,
// autopausebusy, autopauseunavail and autopausedelay; a pause is a QueueMemberPause with
// PausedReason Auto-Pause and a queue_log PAUSE (PAUSEALL first for autopause=all).
func TestAutopause(t *testing.T) {
	for _, c := range []struct {
		name      string
		conf      string
		bob       string // what bob's phone does: ring, busy, congestion
		recent    bool   // bob's last call ended a moment ago
		inQ, inQ2 bool   // paused afterwards in q, in q2
	}{
		{"off", "", "ring", false, false, false},
		{"no", "autopause = no", "ring", false, false, false},
		{"yes, no answer", "autopause = yes", "ring", false, true, false},
		{"all, no answer", "autopause = all", "ring", false, true, true},
		{"yes, busy", "autopause = yes", "busy", false, false, false},
		{"yes, busy, autopausebusy", "autopause = yes\nautopausebusy = yes", "busy", false, true, false},
		{"yes, congestion", "autopause = yes\nautopausebusy = yes", "congestion", false, false, false},
		{"yes, congestion, autopauseunavail", "autopause = yes\nautopauseunavail = yes", "congestion", false, true, false},
		{"delay, recent call", "autopause = yes\nautopausedelay = 60", "ring", true, false, false},
		{"delay, no call yet", "autopause = yes\nautopausedelay = 60", "ring", false, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			te := newTestEnv(t, "[q]\ntimeout = 1\n"+c.conf+"\nmember => SIP/bob\n[q2]\nmember => SIP/bob\n", Deps{})
			if c.recent {
				te.e.mu.Lock()
				te.e.queues["q"].members[0].LastCall = time.Now().Add(-5 * time.Second)
				te.e.mu.Unlock()
			}
			reg := te.legs("[t]\nexten => 1,1,Queue(q,n)\n same => n,Set(GLOBAL(S)=${QUEUESTATUS})\n", map[string]func(*channeltest.Tech){
				"bob": func(tt *channeltest.Tech) {
					switch c.bob {
					case "busy":
						tt.Busy()
					case "congestion":
						tt.Congestion()
					default:
						tt.Ring()
					}
				},
			})
			_, done := te.call(reg, "1")
			wait(t, done)
			if got, _ := te.dp.Global("S"); got != "TIMEOUT" {
				t.Errorf("QUEUESTATUS %q", got)
			}
			if log := te.log(); !containsSuffix(log, "|q|NONE|EXITWITHTIMEOUT|1|1|") {
				t.Errorf("queue_log: no EXITWITHTIMEOUT after the round (option n):\n%s", strings.Join(log, "\n"))
			}
			for _, x := range []struct {
				q    string
				want bool
			}{{"q", c.inQ}, {"q2", c.inQ2}} {
				if got := te.read("QUEUE_MEMBER(" + x.q + ",paused,SIP/bob)"); got != map[bool]string{true: "1", false: "0"}[x.want] {
					t.Errorf("bob paused in %s: %s, want %v", x.q, got, x.want)
				}
			}
			var pauses []string
			te.evMu.Lock()
			for _, ev := range te.evs {
				if ev.Name == "QueueMemberPause" {
					s := ""
					for _, f := range ev.Fields {
						if f[0] == "Queue" || f[0] == "Paused" || f[0] == "PausedReason" {
							s += f[1] + " "
						}
					}
					pauses = append(pauses, strings.TrimSpace(s))
				}
			}
			te.evMu.Unlock()
			var want []string
			if c.inQ && c.inQ2 {
				// e.queues is a map: the two queues in either order.
				if len(pauses) == 2 && pauses[0] > pauses[1] {
					pauses[0], pauses[1] = pauses[1], pauses[0]
				}
				want = []string{"q 1 Auto-Pause", "q2 1 Auto-Pause"}
			} else if c.inQ {
				want = []string{"q 1 Auto-Pause"}
			}
			if strings.Join(pauses, ", ") != strings.Join(want, ", ") {
				t.Errorf("QueueMemberPause events %q, want %q", pauses, want)
			}
			log := te.log()
			if c.inQ != containsSuffix(log, "NONE|q|SIP/bob|PAUSE|Auto-Pause") {
				t.Errorf("queue_log (PAUSE in q: %v):\n%s", c.inQ, strings.Join(log, "\n"))
			}
			if c.inQ2 != containsSuffix(log, "NONE|NONE|SIP/bob|PAUSEALL|Auto-Pause") {
				t.Errorf("queue_log (PAUSEALL: %v):\n%s", c.inQ2, strings.Join(log, "\n"))
			}
		})
	}
}
