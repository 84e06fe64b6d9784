package hint

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestPollerSyncsAndKeepsHintsWhenTheSourceFails(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	f := newFixture(t)
	var round atomic.Int32
	p := f.e.Poll("realtime", 20*time.Millisecond, func(ctx context.Context) ([]Spec, error) {
		switch round.Add(1) {
		case 1:
			return []Spec{{Exten: "1", Context: "rt", Devices: "Custom:a"}}, nil
		case 2:
			return nil, errors.New("database away")
		default:
			<-ctx.Done() // a load that does not answer is cut off
			return nil, ctx.Err()
		}
	})
	p.Now(context.Background())
	if _, ok := f.e.Get("1", "rt"); !ok {
		t.Fatal("first load not synced")
	}
	deadline := time.Now().Add(5 * time.Second)
	for round.Load() < 4 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if round.Load() < 4 {
		t.Fatal("the poller did not poll")
	}
	if _, ok := f.e.Get("1", "rt"); !ok {
		t.Fatal("a failed load dropped the known hints")
	}
	p.Close()
	f.e.Close() // and the engine's own goroutines: nothing may be left
	f.ds.Close()
	f.bus.Close()
}

func TestEngineCloseStopsItsPollers(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	f := newFixture(t)
	for range 3 {
		f.e.Poll("realtime", time.Millisecond, func(context.Context) ([]Spec, error) { return nil, nil })
	}
	f.e.Close()
	f.ds.Close()
	f.bus.Close()
}
