package ami

import (
	"errors"
	"strconv"
	"strings"

	"github.com/pleiades-pbx/pleiades/internal/channel"
	"github.com/pleiades-pbx/pleiades/internal/conf"
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

// QueueItem is one item of a QueueStatus or QueueSummary list: its event name and fields.
type QueueItem struct {
	Event  string
	Fields []Field
}

// Errors a QueueBackend returns; the actions answer them with Asterisk's messages.
var (
	ErrQueueNotFound   = errors.New("ami: no such queue")
	ErrQueueMemberHere = errors.New("ami: member already in queue")
	ErrQueueNoMember   = errors.New("ami: no such member")
	ErrQueueNotDynamic = errors.New("ami: member not dynamic")
)

// QueueBackend is implemented by a Backend that has call queues (app_queue); without it the
// queue actions answer an error. queue "" means every queue.
type QueueBackend interface {
	QueueStatus(queue, member string) []QueueItem
	QueueSummary(queue string) []QueueItem
	QueueAdd(queue, iface string, penalty int, paused bool, name, stateInterface string) error
	QueueRemove(queue, iface string) error
	QueuePause(queue, iface string, paused bool, reason string) error
	QueuePenalty(queue, iface string, penalty int) error
	QueueReload(queue string) error
}

func init() {
	for _, a := range []*action{
		{"QueueStatus", 0, "Show queue status.", (*Server).actQueueStatus},
		{"QueueSummary", 0, "Show queue summary.", (*Server).actQueueSummary},
		{"QueueAdd", ClassAgent, "Add interface to queue.", (*Server).actQueueAdd},
		{"QueueRemove", ClassAgent, "Remove interface from queue.", (*Server).actQueueRemove},
		{"QueuePause", ClassAgent, "Makes a queue member temporarily unavailable.", (*Server).actQueuePause},
		{"QueuePenalty", ClassAgent, "Set the penalty for a queue member.", (*Server).actQueuePenalty},
		{"QueueReload", 0, "Reload a queue, queues, or any sub-section of a queue or queues.", (*Server).actQueueReload},
	} {
		actions[strings.ToLower(a.name)] = a
		actionOrder = append(actionOrder, a)
	}
	sortActions()
}

func (s *Server) queueBackend(r *request) (QueueBackend, bool) {
	qb, ok := s.b.(QueueBackend)
	if !ok || s.b == nil {
		r.fail("Not available: no queues")
		return nil, false
	}
	return qb, true
}

func (s *Server) actQueueStatus(r *request) {
	qb, ok := s.queueBackend(r)
	if !ok {
		return
	}
	items := qb.QueueStatus(r.p.Get("Queue"), r.p.Get("Member"))
	r.listStart("Queue status will follow")
	for _, it := range items {
		r.listItemLast(it.Event, it.Fields...)
	}
	r.listComplete("QueueStatusComplete", len(items))
}

func (s *Server) actQueueSummary(r *request) {
	qb, ok := s.queueBackend(r)
	if !ok {
		return
	}
	items := qb.QueueSummary(r.p.Get("Queue"))
	r.listStart("Queue summary will follow")
	for _, it := range items {
		r.listItemLast(it.Event, it.Fields...)
	}
	r.listComplete("QueueSummaryComplete", len(items))
}

func (s *Server) actQueueAdd(r *request) {
	queue, iface := r.p.Get("Queue"), r.p.Get("Interface")
	if queue == "" {
		r.fail("'Queue' not specified.")
		return
	}
	if iface == "" {
		r.fail("'Interface' not specified.")
		return
	}
	qb, ok := s.queueBackend(r)
	if !ok {
		return
	}
	penalty := 0
	if p := r.p.Get("Penalty"); p != "" {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 0 {
			r.fail("Invalid penalty")
			return
		}
		penalty = n
	}
	paused := conf.IsTrue(r.p.Get("Paused"))
	switch err := qb.QueueAdd(queue, iface, penalty, paused, r.p.Get("MemberName"), r.p.Get("StateInterface")); {
	case err == nil:
		r.ack("Added interface to queue")
	case errors.Is(err, ErrQueueMemberHere):
		r.fail("Unable to add interface: Already there")
	case errors.Is(err, ErrQueueNotFound):
		r.fail("Unable to add interface to queue: No such queue")
	default:
		r.fail("Out of memory")
	}
}

func (s *Server) actQueueRemove(r *request) {
	queue, iface := r.p.Get("Queue"), r.p.Get("Interface")
	if queue == "" || iface == "" {
		r.fail("Need 'Queue' and 'Interface' parameters.")
		return
	}
	qb, ok := s.queueBackend(r)
	if !ok {
		return
	}
	switch err := qb.QueueRemove(queue, iface); {
	case err == nil:
		r.ack("Removed interface from queue")
	case errors.Is(err, ErrQueueNoMember):
		r.fail("Unable to remove interface: Not there")
	case errors.Is(err, ErrQueueNotDynamic):
		r.fail("Member not dynamic")
	default:
		r.fail("Unable to remove interface from queue: No such queue")
	}
}

func (s *Server) actQueuePause(r *request) {
	iface, paused := r.p.Get("Interface"), r.p.Get("Paused")
	if iface == "" || paused == "" {
		r.fail("Need 'Interface' and 'Paused' parameters.")
		return
	}
	qb, ok := s.queueBackend(r)
	if !ok {
		return
	}
	p := conf.IsTrue(paused)
	if err := qb.QueuePause(r.p.Get("Queue"), iface, p, r.p.Get("Reason")); err != nil {
		r.fail("Interface not found")
		return
	}
	if p {
		r.ack("Interface paused successfully")
	} else {
		r.ack("Interface unpaused successfully")
	}
}

func (s *Server) actQueuePenalty(r *request) {
	iface, penalty := r.p.Get("Interface"), r.p.Get("Penalty")
	if iface == "" || penalty == "" {
		r.fail("Need 'Interface' and 'Penalty' parameters.")
		return
	}
	qb, ok := s.queueBackend(r)
	if !ok {
		return
	}
	n, err := strconv.Atoi(strings.TrimSpace(penalty))
	if err != nil || n < 0 {
		r.fail("Invalid penalty")
		return
	}
	if err := qb.QueuePenalty(r.p.Get("Queue"), iface, n); err != nil {
		r.fail("Invalid interface, queuename or penalty")
		return
	}
	r.ack("Interface penalty set successfully")
}

func (s *Server) actQueueReload(r *request) {
	qb, ok := s.queueBackend(r)
	if !ok {
		return
	}
	if err := qb.QueueReload(r.p.Get("Queue")); err != nil {
		r.fail("Error encountered while reloading queue")
		return
	}
	r.ack("Queue reloaded successfully")
}
