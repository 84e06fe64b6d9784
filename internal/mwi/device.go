package mwi

import (
	"context"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/devstate"
	"github.com/pleiades-pbx/pleiades/internal/event"
	"github.com/pleiades-pbx/pleiades/internal/state"
)

// Device returns the name of mailbox's message waiting device: "MWI:" and the mailbox as
// given (normalized: "MWI:100@default").
func Device(mailbox string) string { return devstate.MWIPrefix + mailbox }

// DeviceState is the state of a mailbox's MWI: device for its cluster-wide counts, as
// Asterisk's res_mwi_devstate sets it: INUSE while there are new messages (Waiting), else
// NOT_INUSE. A deleted mailbox (announced with Waiting false) is NOT_INUSE: Asterisk leaves
// the device as it was, lit if it was, which would keep a lamp on for a mailbox that no longer
// exists. Old and urgent counts do not light it (Asterisk's new count includes the urgent
// messages; Pleiades' Waiting, as AMI MessageWaiting shows it, is New > 0).
func DeviceState(mw event.MessageWaiting) state.Device {
	if mw.Waiting {
		return state.InUse
	}
	return state.NotInUse
}

// publishDevice sets this server's state of mw's MWI: device (on the subscription's goroutine,
// right after the MessageWaiting it follows).
func (e *Engine) publishDevice(mw event.MessageWaiting) {
	e.bus.Publish(event.DeviceState{Device: Device(mw.Mailbox), State: DeviceState(mw), EID: e.local})
}

// restoreWait bounds how long New waits for the restored mailboxes' devices.
const restoreWait = 5 * time.Second

// settle waits until the events published so far (the restored mailboxes, their MWI:
// devices and the aggregates those make) have been handled, so that a server reports its
// restored MWI: devices from the moment it is up.
func (e *Engine) settle() {
	ctx, cancel := context.WithTimeout(context.Background(), restoreWait)
	defer cancel()
	if err := e.bus.WaitIdle(ctx); err != nil {
		e.log.Warn("Restored mailboxes not yet applied to their MWI: devices: " + err.Error())
	}
}
