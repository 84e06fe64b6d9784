package event

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/pleiades-pbx/pleiades/internal/state"
)

// TestCloseLeavesNoGoroutine: every subscription's goroutine is the bus's; Close ends them all,
// closed subscriptions or not.
func TestCloseLeavesNoGoroutine(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	b := NewBus(nil, local)
	b.Subscribe("a", KindDeviceState, func(Event) {})
	b.SubscribeKeys("b", KindMWI, []string{"1@default"}, func(Event) {})
	s := b.Subscribe("c", KindDeviceStateChange, func(Event) {})
	s.Close()
	b.Publish(DeviceState{Device: "Custom:a", State: state.InUse, EID: local})
	b.Close()
}
