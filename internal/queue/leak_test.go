package queue

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pleiades-pbx/pleiades/internal/dialplan"
)

// TestMusicOnHoldAndNoLeak: a waiting caller gets the hook's music in the queue's class
// until it leaves (timeout), and the engine leaves no goroutine behind (queue_log's
// realtime writer, the music, the realtime subscriptions).
func TestMusicOnHoldAndNoLeak(t *testing.T) {
	rt, _ := newRealtime(t)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	var started, stopped atomic.Int32
	var class atomic.Value
	MusicOnHold = func(ctx context.Context, ch *dialplan.Channel, c string) error {
		class.Store(c)
		started.Add(1)
		<-ctx.Done()
		stopped.Add(1)
		return nil
	}
	defer func() { MusicOnHold = nil }()
	te := newTestEnv(t, "[q]\nmusicclass = jazz\nmember => SIP/a\n", Deps{Realtime: rt})
	te.devs.m["SIP/a"] = 5 // UNAVAILABLE: nobody to ring
	if got := varOf(te.run("Queue", "q,,,,1"), "QUEUESTATUS"); got != "TIMEOUT" {
		t.Errorf("QUEUESTATUS %q", got)
	}
	if started.Load() != 1 || stopped.Load() != 1 || class.Load() != "jazz" {
		t.Errorf("music on hold: started %d stopped %d class %v", started.Load(), stopped.Load(), class.Load())
	}
	// With option r the caller hears ringing: no music.
	te.run("Queue", "q,r,,,1")
	if started.Load() != 1 {
		t.Errorf("music with option r")
	}
	te.dp.Close()
	te.e.Close()
	time.Sleep(10 * time.Millisecond)
}
