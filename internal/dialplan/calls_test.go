package dialplan

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/cli"
)

// The engine counts its running channels and refuses new ones while the server stops
// gracefully (it is the server's CallCounter).
func TestActiveCallsAndRefusal(t *testing.T) {
	e, _ := newTestEngine(t, "[default]\nexten => s,1,Wait(0.3)\n")
	defer e.Close()
	if n := e.ActiveCalls(); n != 0 {
		t.Fatalf("%d active calls at rest", n)
	}
	if _, _, err := e.Originate(context.Background(), Originate{Channel: "Local/s@default", App: "Wait", Data: "0.3"}); err != nil {
		t.Fatal(err)
	}
	if n := e.ActiveCalls(); n != 2 {
		t.Fatalf("%d active calls during an originated call, want its two halves", n)
	}
	if n := e.ProcessedCalls(); n != 2 {
		t.Fatalf("%d calls processed after one originated call, want its two halves", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for e.ActiveCalls() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d active calls after the call ended", e.ActiveCalls())
		}
		time.Sleep(10 * time.Millisecond)
	}

	e.RefuseNewCalls(true)
	if _, _, err := e.Originate(context.Background(), Originate{Channel: "Local/s@default", App: "Wait", Data: "1"}); !errors.Is(err, ErrRefused) || !errors.Is(err, ErrOriginate) {
		t.Fatalf("Originate while refusing: %v", err)
	}
	reg := cli.NewRegistry()
	reg.MustRegister(e.Commands()...)
	var out bytes.Buffer
	if err := reg.Run(context.Background(), "console dial", &out, nil); !errors.Is(err, cli.ErrFailed) || out.String() != "Unable to dial: new calls are refused: Pleiades is shutting down\n" {
		t.Fatalf("console dial while refusing: %v %q", err, out.String())
	}
	if e.ActiveCalls() != 0 || e.ProcessedCalls() != 2 {
		t.Fatalf("refused calls counted: %d active, %d processed", e.ActiveCalls(), e.ProcessedCalls())
	}
	e.RefuseNewCalls(false)
	out.Reset()
	if err := reg.Run(context.Background(), "console dial", &out, nil); err != nil {
		t.Fatalf("console dial after the refusal ended: %v %q", err, out.String())
	}
}
