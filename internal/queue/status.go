package queue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/pleiades-pbx/pleiades/internal/state"
)

// selectQueues returns the queue named name, or every queue for "".
func (e *Engine) selectQueues(ctx context.Context, name string) []*Queue {
	if name != "" {
		q, err := e.queue(ctx, name)
		if err != nil {
			return nil
		}
		return []*Queue{q}
	}
	var out []*Queue
	for _, n := range e.Names(ctx) {
		if q, err := e.queue(ctx, n); err == nil {
			out = append(out, q)
		}
	}
	return out
}

// Status is AMI QueueStatus's list: per queue a QueueParams item, its QueueMember items
// (only member's when member is given) and its QueueEntry items, with Asterisk's fields.
func (e *Engine) Status(ctx context.Context, queue, member string) []Event {
	qs := e.selectQueues(ctx, queue)
	now := e.d.Now()
	var out []Event
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, q := range qs {
		sl := 0.0
		if q.completed > 0 {
			sl = 100 * float64(q.completedInSL) / float64(q.completed)
		}
		out = append(out, Event{Name: "QueueParams", Fields: [][2]string{
			{"Queue", q.cfg.Name}, {"Max", strconv.Itoa(q.cfg.MaxLen)}, {"Strategy", q.cfg.Strategy.String()},
			{"Calls", strconv.Itoa(len(q.callers))}, {"Holdtime", strconv.Itoa(q.avgHold)},
			{"TalkTime", strconv.Itoa(q.avgTalk)}, {"Completed", strconv.Itoa(q.completed)},
			{"Abandoned", strconv.Itoa(q.abandoned)}, {"ServiceLevel", strconv.Itoa(q.cfg.ServiceLevel)},
			{"ServicelevelPerf", fmt.Sprintf("%.1f", sl)}, {"ServicelevelPerf2", "0.0"}, {"Weight", strconv.Itoa(q.cfg.Weight)},
		}})
		for _, m := range q.members {
			if member != "" && !strings.EqualFold(member, m.Interface) && !strings.EqualFold(member, m.MemberName()) {
				continue
			}
			f := e.memberFields(q, m)
			// QueueMember names the member Name and its interface Location.
			fields := [][2]string{{"Queue", q.cfg.Name}, {"Name", m.MemberName()}, {"Location", m.Interface}}
			for _, kv := range f[3:] {
				if kv[0] != "Ringinuse" {
					fields = append(fields, kv)
				}
			}
			out = append(out, Event{Name: "QueueMember", Fields: fields})
		}
		for i, c := range q.callers {
			snap := c.snap()
			out = append(out, Event{Name: "QueueEntry", Fields: [][2]string{
				{"Queue", q.cfg.Name}, {"Position", strconv.Itoa(i + 1)}, {"Channel", c.Channel}, {"Uniqueid", c.UniqueID},
				{"CallerIDNum", unknownOr(c.CIDNum)}, {"CallerIDName", unknownOr(c.CIDName)},
				{"ConnectedLineNum", unknownOr(snap.ConnectedNum)}, {"ConnectedLineName", unknownOr(snap.ConnectedName)},
				{"Wait", strconv.Itoa(int(now.Sub(c.Joined).Seconds()))}, {"Priority", "0"},
			}})
		}
	}
	return out
}

func unknownOr(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// Summary is AMI QueueSummary's list: one QueueSummary item per queue.
func (e *Engine) Summary(ctx context.Context, queue string) []Event {
	qs := e.selectQueues(ctx, queue)
	now := e.d.Now()
	var out []Event
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, q := range qs {
		logged, avail := 0, 0
		for _, m := range q.members {
			c := e.candidate(q, m, now, nil)
			if c.State == state.Invalid || c.State == state.Unavailable {
				continue
			}
			logged++
			if !m.Paused && !m.InCall && !c.InWrapup && (c.State == state.Unknown || c.State == state.NotInUse) {
				avail++
			}
		}
		longest := 0
		if len(q.callers) > 0 {
			longest = int(now.Sub(q.callers[0].Joined).Seconds())
		}
		out = append(out, Event{Name: "QueueSummary", Fields: [][2]string{
			{"Queue", q.cfg.Name}, {"LoggedIn", strconv.Itoa(logged)}, {"Available", strconv.Itoa(avail)},
			{"Callers", strconv.Itoa(len(q.callers))}, {"HoldTime", strconv.Itoa(q.avgHold)},
			{"TalkTime", strconv.Itoa(q.avgTalk)}, {"LongestHoldTime", strconv.Itoa(longest)},
		}})
	}
	return out
}

// SetPenalty sets iface's penalty in queue, or in every queue it is a member of for ""
// (AMI QueuePenalty). The member's QueueMemberPenalty event follows, with the fields of
// QueueMemberAdded as in Asterisk 20.
func (e *Engine) SetPenalty(ctx context.Context, queue, iface string, penalty int) error {
	if penalty < 0 {
		return errors.New("negative penalty")
	}
	found := false
	for _, q := range e.selectQueues(ctx, queue) {
		e.mu.Lock()
		m := q.member(iface)
		var ev Event
		if m != nil {
			found = true
			m.Penalty = penalty
			q.broadcast()
			// Asterisk 12+ sends the member's whole state, as the other QueueMember* events.
			ev = e.memberEvent("QueueMemberPenalty", q, m)
		}
		e.mu.Unlock()
		e.publish(ev)
	}
	if !found {
		return ErrNoSuchMember
	}
	return nil
}
