package queue

import (
	"strconv"
	"time"
)

func unix(t time.Time) string {
	if t.IsZero() {
		return "0"
	}
	return strconv.FormatInt(t.Unix(), 10)
}

func boolNum(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// memberFields are the fields of Asterisk's QueueMember* events and of QueueStatus's
// QueueMember lines, in Asterisk's order (under e.mu).
func (e *Engine) memberFields(q *Queue, m *Member) [][2]string {
	if !m.stateSet {
		m.state, m.stateSet = e.deviceState(m.Device()), true
	}
	ringinuse := q.cfg.RingInUse
	if m.RingInUse != nil {
		ringinuse = *m.RingInUse
	}
	return [][2]string{
		{"Queue", q.cfg.Name},
		{"MemberName", m.MemberName()},
		{"Interface", m.Interface},
		{"StateInterface", m.Device()},
		{"Membership", m.Membership()},
		{"Penalty", strconv.Itoa(m.Penalty)},
		{"CallsTaken", strconv.Itoa(m.Calls)},
		{"LastCall", unix(m.LastCall)},
		{"LastPause", unix(m.LastPause)},
		{"LoginTime", unix(m.LoginTime)},
		{"InCall", boolNum(m.InCall)},
		{"Status", strconv.Itoa(int(m.state))},
		{"Paused", boolNum(m.Paused)},
		{"PausedReason", m.PausedReason},
		{"Ringinuse", boolNum(ringinuse)},
		{"Wrapuptime", strconv.Itoa(q.cfg.WrapupTime)},
	}
}

func (e *Engine) memberEvent(name string, q *Queue, m *Member) Event {
	return Event{Name: name, Fields: e.memberFields(q, m)}
}
