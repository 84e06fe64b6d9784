package queue

import (
	"sync"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/channel"
	"github.com/pleiades-pbx/pleiades/internal/channel/channeltest"
)

// fakeCDR records what the engine tells the CDR engine.
type fakeCDR struct {
	mu    sync.Mutex
	calls [][3]string
}

func (f *fakeCDR) SetDstChannel(callerUID, peerUID, dst string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, [3]string{callerUID, peerUID, dst})
}

// TestUpdateCDR: with [general] updatecdr=yes the CDR engine is told, when a member
// answers, to name the member (its membername, else its interface) as the dstchannel of
// the caller's record whose party B is the member's leg; with updatecdr=no it is told
// nothing.
func TestUpdateCDR(t *testing.T) {
	for _, tc := range []struct {
		name, general, member, want string
	}{
		{"membername", "updatecdr = yes", "member => SIP/bob,0,Bob Agent", "Bob Agent"},
		{"no membername", "updatecdr = yes", "member => SIP/bob", "SIP/bob"},
		{"off", "updatecdr = no", "member => SIP/bob,0,Bob Agent", ""},
		{"default", "", "member => SIP/bob,0,Bob Agent", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cdr := &fakeCDR{}
			te := newTestEnv(t, "[general]\n"+tc.general+"\n[sales]\n"+tc.member+"\n", Deps{CDR: cdr})
			reg := te.legs("[t]\nexten => 1,1,Queue(sales)\n", map[string]func(*channeltest.Tech){
				"bob": func(tt *channeltest.Tech) {
					tt.Ring()
					tt.AnswerFar()
					time.Sleep(50 * time.Millisecond)
					tt.HangUpFar(channel.CauseNormalClearing)
				},
			})
			leg, done := te.call(reg, "1")
			wait(t, done)
			var peerUID string
			te.evMu.Lock()
			for _, ev := range te.evs {
				if ev.Name == "AgentConnect" && ev.Dest != nil {
					peerUID = ev.Dest.UniqueID
				}
			}
			te.evMu.Unlock()
			if peerUID == "" {
				t.Fatalf("no AgentConnect: %s", te.eventNames())
			}
			cdr.mu.Lock()
			defer cdr.mu.Unlock()
			if tc.want == "" {
				if len(cdr.calls) != 0 {
					t.Fatalf("CDR told %v, want nothing", cdr.calls)
				}
				return
			}
			want := [3]string{leg.UniqueID(), peerUID, tc.want}
			if len(cdr.calls) != 1 || cdr.calls[0] != want {
				t.Fatalf("CDR told %v, want %v", cdr.calls, want)
			}
		})
	}
}
