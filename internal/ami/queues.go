package ami

import (
	"github.com/pleiades-pbx/pleiades/internal/channel"
)

// QueueEvent is one of app_queue's events (QueueCallerJoin, AgentCalled, QueueMemberStatus,
// ...): class agent, the caller's channel fields (when caller is given), the member's
// channel as Dest* fields (when dest is given), then the queue's own fields in the order
// given.
func QueueEvent(name string, caller, dest *channel.Snapshot, fields [][2]string) Event {
	var fs []Field
	if caller != nil {
		fs = append(fs, snapshotFields("", *caller)...)
	}
	if dest != nil {
		fs = append(fs, snapshotFields("Dest", *dest)...)
	}
	for _, f := range fields {
		fs = append(fs, Field{f[0], f[1]})
	}
	return Event{Name: name, Class: ClassAgent, Fields: fs}
}
