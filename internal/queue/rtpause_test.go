package queue

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

// TestRealtimePauseWriteBack: pausing a realtime member (PauseQueueMember, the CLI, AMI all
// go through Engine.Pause) writes paused and reason_paused to its queue_members row, by
// uniqueid; unpausing writes 0; a re-read of the row keeps the pause; a dynamic member of
// the same queue writes nothing.
func TestRealtimePauseWriteBack(t *testing.T) {
	rt, _ := newRealtime(t)
	ctx := context.Background()
	rt.Store(ctx, "queues", realtime.Field{Name: "name", Value: "rtq"})
	rt.Store(ctx, "queue_members", realtime.Field{Name: "queue_name", Value: "rtq"}, realtime.Field{Name: "interface", Value: "SIP/r1"},
		realtime.Field{Name: "uniqueid", Value: "41"}, realtime.Field{Name: "paused", Value: "0"})
	te := newTestEnv(t, "", Deps{Realtime: rt, RealtimeTTL: time.Hour})
	row := func() (string, string) {
		t.Helper()
		r, err := rt.Load(ctx, "queue_members", realtime.Field{Name: "uniqueid", Value: "41"})
		if err != nil {
			t.Fatal(err)
		}
		p, _ := r.Get("paused")
		reason, _ := r.Get("reason_paused")
		return p, reason
	}
	te.run("PauseQueueMember", "rtq,SIP/r1,,lunch")
	if p, reason := row(); p != "1" || reason != "lunch" {
		t.Errorf("after PauseQueueMember: paused=%q reason_paused=%q, want 1, lunch", p, reason)
	}
	// The row read again (a change heard): the member stays paused.
	rt.Invalidate("queue_members", "rtq")
	if out, _ := te.cli("queue show rtq"); !strings.Contains(out, "SIP/r1 (ringinuse enabled) (realtime) (paused:lunch ") {
		t.Errorf("after a re-read:\n%s", out)
	}
	te.cli("queue unpause member SIP/r1 queue rtq")
	if p, reason := row(); p != "0" || reason != "" {
		t.Errorf("after queue unpause: paused=%q reason_paused=%q, want 0 and none", p, reason)
	}
	rt.Invalidate("queue_members", "rtq")
	if out, _ := te.cli("queue show rtq"); strings.Contains(out, "paused") {
		t.Errorf("after unpause and a re-read:\n%s", out)
	}
	// A dynamic member has no row.
	if err := te.e.AddMember(ctx, "rtq", MemberConfig{Interface: "SIP/dyn"}, "NONE"); err != nil {
		t.Fatal(err)
	}
	if err := te.e.Pause(ctx, "rtq", "SIP/dyn", true, ""); err != nil {
		t.Errorf("pausing a dynamic member of a realtime queue: %v", err)
	}
	if rows, _ := rt.LoadMulti(ctx, "queue_members", realtime.Field{Name: "interface LIKE", Value: "%"}); len(rows) != 1 {
		t.Errorf("%d rows in queue_members, want the one", len(rows))
	}
}
