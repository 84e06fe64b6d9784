package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

// Errors of the member operations (AddQueueMember, the CLI, AMI).
var (
	ErrMemberExists    = errors.New("member already in queue")
	ErrNoSuchMember    = errors.New("not a member of the queue")
	ErrNotDynamic      = errors.New("member is not dynamic")
	ErrNoMatchingPause = errors.New("no such member in any queue")
)

// persistFamily is Asterisk's astdb family of persistent dynamic members: key the queue,
// value the members as Asterisk 16+ writes them, a JSON array of {"interface", "penalty",
// "paused", "membername", "state_interface", "reason_paused", "wrapuptime"}; the older
// "interface;penalty;paused;membername;state_interface[;reason]|..." is read too.
const persistFamily = "Queue/PersistentMembers"

// persistedMember is one element of the astdb value.
type persistedMember struct {
	Interface      string `json:"interface"`
	Penalty        int    `json:"penalty"`
	Paused         int    `json:"paused"`
	MemberName     string `json:"membername"`
	StateInterface string `json:"state_interface"`
	ReasonPaused   string `json:"reason_paused"`
	Wrapuptime     int    `json:"wrapuptime"`
}

// parsePersisted reads an astdb value in either format.
func parsePersisted(v string) ([]persistedMember, error) {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "[") {
		var out []persistedMember
		err := json.Unmarshal([]byte(v), &out)
		return out, err
	}
	var out []persistedMember
	for _, item := range strings.Split(v, "|") {
		f := strings.Split(item, ";")
		for len(f) < 6 {
			f = append(f, "")
		}
		if f[0] == "" {
			continue
		}
		pen, _ := strconv.Atoi(f[1])
		paused, _ := strconv.Atoi(f[2])
		out = append(out, persistedMember{Interface: f[0], Penalty: pen, Paused: paused, MemberName: f[3], StateInterface: f[4], ReasonPaused: f[5]})
	}
	return out, nil
}

// Share is a member change sent to the other servers with a queue of the same name.
type Share struct {
	Op             string // "add", "remove", "pause", "unpause", "call"
	Queue          string
	Interface      string
	Penalty        int
	Name           string
	StateInterface string
	Reason         string    // pause reason
	LastCall       time.Time // "call": when the member's call ended
	Calls          int       // "call": calls taken
}

// Fields encodes s for the cluster (key: the queue).
func (s Share) Fields() []string {
	var lc string
	if !s.LastCall.IsZero() {
		lc = strconv.FormatInt(s.LastCall.UnixNano(), 10)
	}
	return []string{s.Op, s.Interface, strconv.Itoa(s.Penalty), s.Name, s.StateInterface, s.Reason, lc, strconv.Itoa(s.Calls)}
}

// ParseShare decodes what Fields encoded; ok false for a malformed one (ignored).
func ParseShare(queue string, f []string) (Share, bool) {
	if len(f) < 8 || f[1] == "" {
		return Share{}, false
	}
	s := Share{Op: f[0], Queue: queue, Interface: f[1], Name: f[3], StateInterface: f[4], Reason: f[5]}
	var err error
	if s.Penalty, err = strconv.Atoi(f[2]); err != nil {
		return Share{}, false
	}
	if f[6] != "" {
		ns, err := strconv.ParseInt(f[6], 10, 64)
		if err != nil {
			return Share{}, false
		}
		s.LastCall = time.Unix(0, ns)
	}
	if s.Calls, err = strconv.Atoi(f[7]); err != nil {
		return Share{}, false
	}
	return s, true
}

func (q *Queue) member(iface string) *Member {
	for _, m := range q.members {
		if strings.EqualFold(m.Interface, iface) {
			return m
		}
	}
	return nil
}

// AddMember adds a dynamic member (AddQueueMember, "queue add member", AMI QueueAdd).
// callid is what queue_log names as the call: the channel's unique ID (AddQueueMember),
// "MANAGER" (AMI) or "CLI", as Asterisk logs ADDMEMBER and REMOVEMEMBER.
func (e *Engine) AddMember(ctx context.Context, queue string, mc MemberConfig, callid string) error {
	q, err := e.queue(ctx, queue)
	if err != nil {
		return err
	}
	e.mu.Lock()
	m, err := e.addMember(q, mc)
	var ev Event
	if err == nil {
		ev = e.memberEvent("QueueMemberAdded", q, m)
	}
	name, g := q.cfg.Name, e.general
	e.mu.Unlock()
	if err != nil {
		return err
	}
	e.persist(name)
	agent := mc.Interface
	if g.LogMembernameAsAgent {
		agent = mc.MemberName()
	}
	e.qlog.write(callid, name, agent, "ADDMEMBER", "")
	e.publish(ev)
	e.share(Share{Op: "add", Queue: name, Interface: mc.Interface, Penalty: mc.Penalty, Name: mc.Name, StateInterface: mc.StateInterface})
	return nil
}

func (e *Engine) addMember(q *Queue, mc MemberConfig) (*Member, error) {
	if q.member(mc.Interface) != nil {
		return nil, ErrMemberExists
	}
	m := &Member{MemberConfig: mc, Dynamic: true, LoginTime: e.d.Now(), queue: q}
	q.members = append(q.members, m)
	q.broadcast()
	return m, nil
}

// RemoveMember removes a dynamic member.
func (e *Engine) RemoveMember(ctx context.Context, queue, iface, callid string) error {
	q, err := e.queue(ctx, queue)
	if err != nil {
		return err
	}
	e.mu.Lock()
	m, err := e.removeMember(q, iface)
	var ev Event
	if err == nil {
		ev = e.memberEvent("QueueMemberRemoved", q, m)
	}
	name, g := q.cfg.Name, e.general
	e.mu.Unlock()
	if err != nil {
		return err
	}
	e.persist(name)
	agent := m.Interface
	if g.LogMembernameAsAgent {
		agent = m.MemberName()
	}
	e.qlog.write(callid, name, agent, "REMOVEMEMBER", "")
	e.publish(ev)
	e.share(Share{Op: "remove", Queue: name, Interface: m.Interface})
	return nil
}

func (e *Engine) removeMember(q *Queue, iface string) (*Member, error) {
	m := q.member(iface)
	if m == nil {
		return nil, ErrNoSuchMember
	}
	if !m.Dynamic {
		return nil, ErrNotDynamic
	}
	for i, x := range q.members {
		if x == m {
			q.members = append(q.members[:i:i], q.members[i+1:]...)
			break
		}
	}
	q.broadcast()
	return m, nil
}

// Pause pauses (or unpauses) iface in queue, or in every queue it is a member of when queue
// is "" (queue_log PAUSEALL/UNPAUSEALL first, then PAUSE/UNPAUSE per queue, all with callid
// NONE, as Asterisk). It fails when no queue has the member.
func (e *Engine) Pause(ctx context.Context, queue, iface string, paused bool, reason string) error {
	var qs []*Queue
	if queue != "" {
		q, err := e.queue(ctx, queue)
		if err != nil {
			return err
		}
		qs = []*Queue{q}
	} else {
		e.mu.Lock()
		for _, q := range e.queues {
			qs = append(qs, q)
		}
		e.mu.Unlock()
	}
	found, found1 := false, false
	var writeErr error
	for _, q := range qs {
		e.mu.Lock()
		m := q.member(iface)
		if m == nil {
			e.mu.Unlock()
			continue
		}
		uid := ""
		if m.Realtime && !m.Dynamic {
			uid = m.UniqueID
		}
		name := q.cfg.Name
		e.mu.Unlock()
		if uid != "" {
			// A realtime member's pause goes to its row first; when the row cannot be
			// written, the member is not paused here either (Asterisk's set_member_paused).
			if err := e.writePaused(ctx, uid, paused, reason); err != nil {
				un := "un"
				if paused {
					un = ""
				}
				e.log.Warn(fmt.Sprintf("Failed update of realtime queue member %s:%s %spause and reason '%s': %v", name, iface, un, reason, err))
				writeErr = err
				continue
			}
		}
		e.mu.Lock()
		if m = q.member(iface); m == nil {
			e.mu.Unlock()
			continue
		}
		found = true
		e.setPaused(q, m, paused, reason)
		ev := e.memberEvent("QueueMemberPause", q, m)
		name, mname, mface := q.cfg.Name, m.MemberName(), m.Interface
		dynamic := m.Dynamic
		e.mu.Unlock()
		if dynamic {
			e.persist(name)
		}
		event := "UNPAUSE"
		if paused {
			event = "PAUSE"
		}
		if queue == "" && !found1 {
			found1 = true
			e.qlog.write("NONE", "NONE", mname, event+"ALL", reason)
		}
		e.qlog.write("NONE", name, mname, event, reason)
		e.publish(ev)
		op := "unpause"
		if paused {
			op = "pause"
		}
		e.share(Share{Op: op, Queue: name, Interface: mface, Reason: reason})
	}
	if !found {
		if writeErr != nil {
			return fmt.Errorf("queue: realtime member not paused: %w", writeErr)
		}
		if queue != "" {
			return ErrNoSuchMember
		}
		return ErrNoMatchingPause
	}
	return nil
}

// writePaused writes a realtime member's pause to its queue_members row (by uniqueid):
// paused 1 or 0 and reason_paused; a table without reason_paused (older Asterisk schemas)
// gets paused alone, and is remembered as such.
func (e *Engine) writePaused(ctx context.Context, uid string, paused bool, reason string) error {
	p := realtime.Field{Name: "paused", Value: strconv.Itoa(boolInt(paused))}
	if !e.rtNoReason.Load() {
		_, err := e.d.Realtime.Update(ctx, "queue_members", "uniqueid", uid, p, realtime.Field{Name: "reason_paused", Value: reason})
		if err == nil || ctx.Err() != nil {
			return err
		}
		if _, err2 := e.d.Realtime.Update(ctx, "queue_members", "uniqueid", uid, p); err2 != nil {
			return err
		}
		e.rtNoReason.Store(true)
		e.log.Info("realtime queue_members has no reason_paused column: pauses are written without their reason")
		return nil
	}
	_, err := e.d.Realtime.Update(ctx, "queue_members", "uniqueid", uid, p)
	return err
}

func (e *Engine) setPaused(q *Queue, m *Member, paused bool, reason string) {
	m.Paused = paused
	m.PausedReason = ""
	if paused {
		m.PausedReason = reason
	}
	m.LastPause = e.d.Now()
	q.broadcast()
}

// ApplyShare applies a member change made on another server to the queue of the same name
// here (nothing when this server has no such queue). It is not shared again.
func (e *Engine) ApplyShare(s Share) {
	if s.Op == "sync" {
		e.Resync()
		return
	}
	key := strings.ToLower(s.Queue)
	e.mu.Lock()
	q := e.queues[key]
	if q == nil {
		e.mu.Unlock()
		return
	}
	var ev Event
	switch s.Op {
	case "add":
		m, err := e.addMember(q, MemberConfig{Interface: s.Interface, Penalty: s.Penalty, Name: s.Name, StateInterface: s.StateInterface})
		if err == nil {
			ev = e.memberEvent("QueueMemberAdded", q, m)
		}
	case "remove":
		m, err := e.removeMember(q, s.Interface)
		if err == nil {
			ev = e.memberEvent("QueueMemberRemoved", q, m)
		}
	case "pause", "unpause":
		// A repeated state (a resync) changes nothing and says nothing.
		if m := q.member(s.Interface); m != nil && (m.Paused != (s.Op == "pause") || m.Paused && m.PausedReason != s.Reason) {
			e.setPaused(q, m, s.Op == "pause", s.Reason)
			ev = e.memberEvent("QueueMemberPause", q, m)
		}
	case "call":
		if m := q.member(s.Interface); m != nil {
			if s.LastCall.After(m.LastCall) {
				m.LastCall = s.LastCall
			}
			m.Calls = max(m.Calls, s.Calls)
			if e.general.SharedLastCall {
				k := strings.ToLower(m.Interface)
				if lc := e.lastCalls[k]; s.LastCall.After(lc.at) {
					e.lastCalls[k] = lastCall{at: s.LastCall, calls: max(lc.calls, s.Calls), queue: q.cfg.Name}
				}
			}
			q.broadcast()
		}
	}
	name := q.cfg.Name
	e.mu.Unlock()
	if s.Op == "add" || s.Op == "remove" {
		e.persist(name)
	}
	if ev.Name != "" {
		e.publish(ev)
	}
}

// SyncRequest is the Share a server sends when its queues load: every other server answers
// with its queues' state (Resync), so that a server that starts or joins later learns the
// pauses, dynamic members and last calls made before.
func SyncRequest() Share { return Share{Op: "sync", Queue: "*", Interface: "*"} }

// Resync sends this server's member state of every queue as Shares: dynamic members
// ("add"), paused members ("pause") and members' last calls ("call"). Receivers apply only
// what changes anything (a dynamic member removed meanwhile elsewhere comes back: the
// servers' states are united).
func (e *Engine) Resync() {
	var out []Share
	e.mu.Lock()
	for _, q := range e.queues {
		name := q.cfg.Name
		for _, m := range q.members {
			if m.Dynamic {
				out = append(out, Share{Op: "add", Queue: name, Interface: m.Interface, Penalty: m.Penalty, Name: m.Name, StateInterface: m.StateInterface})
			}
			if m.Paused {
				out = append(out, Share{Op: "pause", Queue: name, Interface: m.Interface, Reason: m.PausedReason})
			}
			if !m.LastCall.IsZero() {
				out = append(out, Share{Op: "call", Queue: name, Interface: m.Interface, LastCall: m.LastCall, Calls: m.Calls})
			}
		}
	}
	e.mu.Unlock()
	for _, s := range out {
		e.share(s)
	}
}

func (e *Engine) share(s Share) {
	if e.d.Share != nil {
		e.d.Share(s)
	}
}

func (e *Engine) publish(ev Event) {
	if fn := e.ami.Load(); fn != nil && ev.Name != "" {
		(*fn)(ev)
	}
}

// persist writes the dynamic members of queue to astdb (persistentmembers=yes).
func (e *Engine) persist(queue string) {
	if e.d.DB == nil {
		return
	}
	e.mu.Lock()
	if !e.general.PersistentMembers {
		e.mu.Unlock()
		return
	}
	q := e.queues[strings.ToLower(queue)]
	var list []persistedMember
	if q != nil {
		for _, m := range q.members {
			if m.Dynamic {
				list = append(list, persistedMember{Interface: m.Interface, Penalty: m.Penalty, Paused: boolInt(m.Paused),
					MemberName: m.MemberName(), StateInterface: m.Device(), ReasonPaused: m.PausedReason, Wrapuptime: q.cfg.WrapupTime})
			}
		}
	}
	e.mu.Unlock()
	b, _ := json.Marshal(list)
	var err error
	if len(list) == 0 {
		err = e.d.DB.Del(persistFamily, queue)
	} else {
		err = e.d.DB.Put(persistFamily, queue, string(b))
	}
	if err != nil && !strings.Contains(err.Error(), "not found") {
		e.log.Warn(fmt.Sprintf("queue %s: persistent members: %v", queue, err))
	}
}

// restoreDynamic reads the persistent dynamic members back (first load).
func (e *Engine) restoreDynamic() {
	if e.d.DB == nil {
		return
	}
	entries, err := e.d.DB.Family(persistFamily)
	if err != nil {
		e.log.Warn(fmt.Sprintf("queues: reading persistent members: %v", err))
		return
	}
	for _, en := range entries {
		q, err := e.queue(context.Background(), en.Key)
		if err != nil {
			e.log.Warn(fmt.Sprintf("queues: persistent members of %s: %v", en.Key, err))
			continue
		}
		list, err := parsePersisted(en.Value)
		if err != nil {
			e.log.Warn(fmt.Sprintf("queues: persistent members of %s: %v", en.Key, err))
			continue
		}
		e.mu.Lock()
		for _, pm := range list {
			if pm.Interface == "" {
				continue
			}
			mc := MemberConfig{Interface: pm.Interface, Penalty: pm.Penalty, Name: pm.MemberName, StateInterface: pm.StateInterface}
			if mc.Name == mc.Interface {
				mc.Name = ""
			}
			if mc.StateInterface == mc.Interface {
				mc.StateInterface = ""
			}
			m, err := e.addMember(q, mc)
			if err == nil && pm.Paused != 0 {
				m.Paused, m.PausedReason = true, pm.ReasonPaused
			}
		}
		e.mu.Unlock()
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
