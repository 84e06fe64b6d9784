package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/astdb"
	"github.com/pleiades-pbx/pleiades/internal/channel"
	"github.com/pleiades-pbx/pleiades/internal/dialplan"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
	"github.com/pleiades-pbx/pleiades/internal/state"
)

// Devices is the cluster-wide device state the queues read (devstate.Engine.State): a
// member's availability is its state_interface's aggregate over every server.
type Devices interface {
	State(device string) state.Device
}

// Realtime is the part of the realtime engine the queues use (realtime.Engine).
type Realtime interface {
	Mapped(family string) bool
	Load(ctx context.Context, family string, fields ...realtime.Field) (realtime.Row, error)
	LoadMulti(ctx context.Context, family string, fields ...realtime.Field) ([]realtime.Row, error)
	Store(ctx context.Context, family string, fields ...realtime.Field) (int64, error)
	Update(ctx context.Context, family, keyField, keyValue string, fields ...realtime.Field) (int64, error)
	Subscribe(family string, fn func(realtime.Change)) (cancel func())
}

// Event is an AMI event of a queue: Caller and Dest are the channels it is about (nil for
// none), Fields the queue's own fields after them, in Asterisk's order.
type Event struct {
	Name   string
	Caller *channel.Snapshot
	Dest   *channel.Snapshot
	Fields [][2]string
}

// MusicOnHold plays class to ch until ctx ends (internal/moh, wired by internal/core). nil:
// callers hear ringing while they wait.
var MusicOnHold func(ctx context.Context, ch *dialplan.Channel, class string) error

// CDR is the call detail records engine as updatecdr needs it (internal/cdr's Engine,
// wired by internal/core).
type CDR interface {
	// SetDstChannel makes dst the dstchannel of the caller's record whose party B is the
	// peer channel (both by unique ID), in place of the peer's channel name.
	SetDstChannel(callerUID, peerUID, dst string)
}

// Deps is what the engine is given.
type Deps struct {
	Log      *slog.Logger
	Devices  Devices   // nil: every device UNKNOWN (rung)
	Realtime Realtime  // nil: no realtime queues
	DB       *astdb.DB // persistentmembers: dynamic members in Queue/PersistentMembers (nil: none)
	LogDir   string    // astlogdir: queue_log goes there ("": none)
	// AMI publishes an event (nil: none; SetAMI sets it later).
	AMI func(Event)
	// Share sends a member change to the other servers (nil: a server alone).
	Share func(Share)
	// CDR is told whom a caller was connected to, for updatecdr (nil: no CDRs).
	CDR CDR
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// RealtimeTTL is how long a realtime queue and its members are used before they are read
	// again (0: 5 s). A change heard from the database or the cluster drops them at once.
	RealtimeTTL time.Duration
}

// Member is one member of a queue at run time.
type Member struct {
	MemberConfig
	Dynamic      bool // added by AddQueueMember, the CLI or AMI
	Realtime     bool // from queue_members
	PausedReason string
	LastPause    time.Time
	LoginTime    time.Time
	Calls        int
	LastCall     time.Time
	InCall       bool
	ringing      int
	queue        *Queue
	// state is the cluster-wide state of the member's device, read once and then kept by
	// DeviceChanged (valid when stateSet).
	state    state.Device
	stateSet bool
}

// Membership is "static", "dynamic" or "realtime" (AMI's Membership).
func (m *Member) Membership() string {
	switch {
	case m.Dynamic:
		return "dynamic"
	case m.Realtime:
		return "realtime"
	}
	return "static"
}

// Queue is one queue at run time.
type Queue struct {
	cfg      QueueConfig
	members  []*Member
	callers  []*Caller
	rrpos    int
	wake     chan struct{}
	realtime bool
	// rtVersion is the cached realtime config last applied (a new one is applied once).
	rtVersion *QueueConfig

	completed, abandoned, completedInSL int
	// avgHold and avgTalk are Asterisk's hold time and talk time in seconds, the figures of
	// "queue show", QueueParams, QueueSummary, QUEUE_VARIABLES and announce-holdtime: an
	// exponential average where each connected caller's wait (each completed call's talk)
	// weighs a quarter; the first call's talk time is taken whole.
	avgHold, avgTalk int
}

// recordHold counts a connected caller's wait in avgHold (app_queue's recalc_holdtime).
func (q *Queue) recordHold(hold time.Duration) {
	q.avgHold = (3*q.avgHold + int(hold/time.Second)) / 4
}

// recordTalk counts a completed call's talk in avgTalk (after completed was counted), as
// app_queue's update_queue: the first call's whole, then the exponential average.
func (q *Queue) recordTalk(talk time.Duration) {
	if q.completed <= 1 {
		q.avgTalk = int(talk / time.Second)
		return
	}
	q.avgTalk = (3*q.avgTalk + int(talk/time.Second)) / 4
}

// Name returns the queue's name.
func (q *Queue) Name() string { return q.cfg.Name }

// Caller is one caller waiting in a queue.
type Caller struct {
	Channel  string
	UniqueID string
	CIDNum   string
	CIDName  string
	Joined   time.Time
	OrigPos  int
	snap     func() channel.Snapshot
	tried    map[*Member]bool
	ringing  bool
}

// Engine holds the queues of one server.
type Engine struct {
	d    Deps
	ami  atomic.Pointer[func(Event)]
	log  *slog.Logger
	qlog *queueLog
	rnd  func(int) int
	// rtNoReason: queue_members has no reason_paused column (a pause is written without it).
	rtNoReason atomic.Bool

	mu      sync.Mutex
	general General
	queues  map[string]*Queue // lower-case name
	rtCache *realtime.Cache[*QueueConfig]
	rtAll   *realtime.Cache[[]string]
	rtStop  []func()
	// lastCalls is the shared_lastcall record by interface: every queue of the member sees it.
	lastCalls map[string]lastCall
}

type lastCall struct {
	at    time.Time
	calls int
	queue string // the queue the call came through (Asterisk's member->lastqueue): its wrapuptime applies
}

// New returns an engine with no queues; Apply gives it queues.conf.
func New(d Deps) *Engine {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.RealtimeTTL <= 0 {
		d.RealtimeTTL = 5 * time.Second
	}
	e := &Engine{d: d, log: d.Log, queues: map[string]*Queue{}, lastCalls: map[string]lastCall{}, rnd: newRand(0)}
	if d.AMI != nil {
		e.ami.Store(&d.AMI)
	}
	e.rtCache = realtime.NewCache[*QueueConfig](d.RealtimeTTL)
	e.rtAll = realtime.NewCache[[]string](d.RealtimeTTL)
	if d.LogDir != "" {
		e.qlog = newQueueLog(d.LogDir, d.Realtime, d.Log, d.Now)
	}
	if d.Realtime != nil {
		drop := func(c realtime.Change) {
			if c.Key == "" {
				e.rtCache.InvalidateFamily("queues")
			} else {
				e.rtCache.Invalidate("queues", c.Key)
			}
			e.rtAll.InvalidateFamily("queues")
		}
		e.rtStop = append(e.rtStop, d.Realtime.Subscribe("queues", drop), d.Realtime.Subscribe("queue_members", drop))
	}
	return e
}

// SetAMI sets where the engine's AMI events go (nil: nowhere); safe at any time (the
// manager loads after the queues, which must register their applications before the
// dialplan loads).
func (e *Engine) SetAMI(fn func(Event)) {
	if fn == nil {
		e.ami.Store(nil)
		return
	}
	e.ami.Store(&fn)
}

// Close stops following realtime changes and closes queue_log (a second Close does
// nothing; queue_log lines after it are dropped).
func (e *Engine) Close() error {
	e.mu.Lock()
	stops := e.rtStop
	e.rtStop = nil
	e.mu.Unlock()
	for _, f := range stops {
		f()
	}
	if e.qlog != nil {
		return e.qlog.close()
	}
	return nil
}

// General returns the [general] settings in force.
func (e *Engine) General() General {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.general
}

// Apply puts a parsed queues.conf in force (load and reload): new queues appear, removed
// static queues go once their callers have left, settings and static members follow the
// file; dynamic members, counters and waiting callers stay. On the first Apply with
// persistentmembers the dynamic members stored in astdb come back.
func (e *Engine) Apply(c *Config) {
	e.mu.Lock()
	first := len(e.queues) == 0
	e.general = c.General
	keep := map[string]bool{}
	for _, qc := range c.Queues {
		key := strings.ToLower(qc.Name)
		keep[key] = true
		q := e.queues[key]
		if q == nil {
			q = &Queue{rrpos: -1, wake: make(chan struct{})}
			e.queues[key] = q
		}
		q.realtime = false
		q.setConfig(qc, e.d.Now(), func(m *Member) bool { return !m.Dynamic })
	}
	for key, q := range e.queues {
		if !keep[key] && !q.realtime && len(q.callers) == 0 {
			delete(e.queues, key)
		}
	}
	persist := first && c.General.PersistentMembers
	e.mu.Unlock()
	e.rtCache.InvalidateFamily("queues")
	e.rtAll.InvalidateFamily("queues")
	if persist {
		e.restoreDynamic()
	}
	e.qlog.write("NONE", "NONE", "NONE", "QUEUESTART", "")
}

// setConfig applies qc: the members owned by the source (owned reports it) are replaced
// by qc's, keeping the run-time counters of those that stay; the others stay as they are.
func (q *Queue) setConfig(qc QueueConfig, now time.Time, owned func(*Member) bool) {
	old := map[string]*Member{}
	var others []*Member
	for _, m := range q.members {
		if owned(m) {
			old[strings.ToLower(m.Interface)] = m
		} else {
			others = append(others, m)
		}
	}
	members := make([]*Member, 0, len(qc.Members)+len(others))
	for _, mc := range qc.Members {
		m := old[strings.ToLower(mc.Interface)]
		if m == nil {
			m = &Member{LoginTime: now, queue: q}
			m.Paused = mc.Paused
		}
		paused := m.Paused
		if !strings.EqualFold(m.Device(), mc.Device()) {
			m.stateSet = false
		}
		m.MemberConfig = mc
		if !qc.Realtime {
			m.Paused = paused // static members keep a pause made at run time
		} else if m.Paused != paused || mc.RowReason != "" {
			// The row's pause (written back by Pause) and its reason_paused; a table
			// without that column leaves the reason given at run time.
			m.PausedReason = ""
			if m.Paused {
				m.PausedReason = mc.RowReason
			}
		}
		m.Realtime = qc.Realtime
		members = append(members, m)
	}
	q.cfg = qc
	q.cfg.Members = nil
	q.members = append(members, others...)
	q.broadcast()
}

// broadcast wakes every caller waiting for a change of the queue (under Engine.mu).
func (q *Queue) broadcast() {
	close(q.wake)
	q.wake = make(chan struct{})
}

// ErrNoSuchQueue is returned for a queue that neither queues.conf nor realtime has.
var ErrNoSuchQueue = errors.New("no such queue")

// queue returns the queue named name: a static one, else the realtime one (read through the
// cache). It takes e.mu itself; the queue returned is used under e.mu.
func (e *Engine) queue(ctx context.Context, name string) (*Queue, error) {
	key := strings.ToLower(name)
	e.mu.Lock()
	q := e.queues[key]
	e.mu.Unlock()
	if q != nil && !q.realtime {
		return q, nil
	}
	if e.d.Realtime == nil || !e.d.Realtime.Mapped("queues") {
		if q != nil {
			return q, nil
		}
		return nil, fmt.Errorf("%w: %s", ErrNoSuchQueue, name)
	}
	qc, err := e.rtCache.GetOrLoad(ctx, "queues", key, func(ctx context.Context) (*QueueConfig, error) {
		return e.loadRealtime(ctx, name)
	})
	if err != nil {
		if errors.Is(err, realtime.ErrNotFound) {
			e.mu.Lock()
			if q := e.queues[key]; q != nil && q.realtime && len(q.callers) == 0 {
				delete(e.queues, key)
			}
			e.mu.Unlock()
			return nil, fmt.Errorf("%w: %s", ErrNoSuchQueue, name)
		}
		if q != nil {
			return q, nil
		}
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	q = e.queues[key]
	if q != nil && !q.realtime {
		return q, nil // a static queue appeared meanwhile
	}
	if q == nil {
		q = &Queue{rrpos: -1, wake: make(chan struct{}), realtime: true}
		e.queues[key] = q
	}
	if q.cfg.Name == "" || q.rtVersion != qc {
		q.rtVersion = qc
		q.setConfig(*qc, e.d.Now(), func(m *Member) bool { return !m.Dynamic })
	}
	return q, nil
}

// loadRealtime reads one queue row and its members (two queries).
func (e *Engine) loadRealtime(ctx context.Context, name string) (*QueueConfig, error) {
	row, err := e.d.Realtime.Load(ctx, "queues", realtime.Field{Name: "name", Value: name})
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	g := e.general
	e.mu.Unlock()
	qc := defaultQueue(name, g)
	qc.Realtime = true
	for _, f := range row {
		if strings.EqualFold(f.Name, "name") {
			qc.Name = f.Value
			continue
		}
		if err := qc.set(f.Name, f.Value, "", 0); err != nil {
			e.log.Warn(fmt.Sprintf("realtime queue %s: %v", name, err))
		}
	}
	if e.d.Realtime.Mapped("queue_members") {
		rows, err := e.d.Realtime.LoadMulti(ctx, "queue_members", realtime.Field{Name: "queue_name", Value: qc.Name}, realtime.Field{Name: "interface LIKE", Value: "%"})
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			iface, _ := r.Get("interface")
			mc, err := ParseMember(iface)
			if err != nil {
				e.log.Warn(fmt.Sprintf("realtime queue %s: %v", name, err))
				continue
			}
			if v, ok := r.Get("penalty"); ok {
				fmt.Sscan(v, &mc.Penalty)
			}
			mc.Name, _ = r.Get("membername")
			mc.StateInterface, _ = r.Get("state_interface")
			mc.UniqueID, _ = r.Get("uniqueid")
			mc.RowReason, _ = r.Get("reason_paused")
			if v, ok := r.Get("paused"); ok {
				mc.Paused = v != "" && v != "0"
			}
			if v, ok := r.Get("ringinuse"); ok && v != "" {
				b := v == "1" || strings.EqualFold(v, "yes") || strings.EqualFold(v, "true")
				mc.RingInUse = &b
			}
			if !slices.ContainsFunc(qc.Members, func(o MemberConfig) bool { return strings.EqualFold(o.Interface, mc.Interface) }) {
				qc.Members = append(qc.Members, mc)
			}
		}
	}
	return &qc, nil
}

// Names returns the names of every queue: static ones, and the realtime ones (one query for
// the list, cached like the queues themselves).
func (e *Engine) Names(ctx context.Context) []string {
	e.mu.Lock()
	var out []string
	seen := map[string]bool{}
	for k, q := range e.queues {
		out = append(out, q.cfg.Name)
		seen[k] = true
	}
	e.mu.Unlock()
	if e.d.Realtime != nil && e.d.Realtime.Mapped("queues") {
		names, err := e.rtAll.GetOrLoad(ctx, "queues", "", func(ctx context.Context) ([]string, error) {
			rows, err := e.d.Realtime.LoadMulti(ctx, "queues", realtime.Field{Name: "name LIKE", Value: "%"})
			if err != nil {
				return nil, err
			}
			var n []string
			for _, r := range rows {
				if v, ok := r.Get("name"); ok {
					n = append(n, v)
				}
			}
			return n, nil
		})
		if err == nil {
			for _, n := range names {
				if !seen[strings.ToLower(n)] {
					out = append(out, n)
					seen[strings.ToLower(n)] = true
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	return out
}

// memberDevice returns the cluster-wide state of m's device.
func (e *Engine) deviceState(dev string) state.Device {
	if e.d.Devices == nil {
		return state.Unknown
	}
	return e.d.Devices.State(dev)
}

// candidate builds m's Candidate for a decision (under e.mu).
func (e *Engine) candidate(q *Queue, m *Member, now time.Time, tried map[*Member]bool) Candidate {
	ringinuse := q.cfg.RingInUse
	if m.RingInUse != nil {
		ringinuse = *m.RingInUse
	}
	last, calls := m.LastCall, m.Calls
	wrapup := q.cfg.WrapupTime
	if e.general.SharedLastCall {
		if lc, ok := e.lastCalls[strings.ToLower(m.Interface)]; ok {
			last, calls = lc.at, lc.calls
			// As Asterisk's can_ring_entry: the wrapuptime of the queue the last call came
			// through (lastqueue), which is what shared_lastcall is for ("respect the
			// wrapuptime of another queue for a shared member").
			if lq := e.queues[strings.ToLower(lc.queue)]; lq != nil {
				wrapup = lq.cfg.WrapupTime
			}
		}
	}
	if !m.stateSet {
		m.state, m.stateSet = e.deviceState(m.Device()), true
	}
	c := Candidate{
		Penalty:   m.Penalty,
		Calls:     calls,
		State:     m.state,
		Paused:    m.Paused,
		RingInUse: ringinuse,
		Busy:      m.ringing > 0 || m.InCall,
		Tried:     tried[m],
	}
	if !last.IsZero() {
		c.LastCall = last.UnixNano()
		if wrapup > 0 && now.Sub(last) < time.Duration(wrapup)*time.Second {
			c.InWrapup = true
		}
	}
	return c
}

// emptyStatus says why nobody could answer a caller, by the conditions of joinempty or
// leavewhenempty: "" when some member could, else JOINEMPTY/LEAVEEMPTY for no member
// (or every one excluded by penalty or condition), JOINUNAVAIL/LEAVEUNAVAIL when every
// member is unreachable or paused. With no condition a caller always stays.
func (e *Engine) emptyStatus(q *Queue, cond Empty, now time.Time) (empty, unavail bool) {
	if cond == 0 {
		return false, false
	}
	if len(q.members) == 0 {
		return true, false
	}
	for _, m := range q.members {
		c := e.candidate(q, m, now, nil)
		switch {
		case cond&EmptyPaused != 0 && m.Paused:
		case cond&EmptyWrapup != 0 && c.InWrapup:
		case cond&EmptyInUse != 0 && (c.State == state.InUse || c.State == state.Busy || c.State == state.OnHold || c.State == state.RingInUse || m.InCall):
		case cond&EmptyRinging != 0 && (c.State == state.Ringing || c.State == state.RingInUse):
		case cond&EmptyUnavailable != 0 && c.State == state.Unavailable:
		case cond&EmptyInvalid != 0 && c.State == state.Invalid:
		case cond&EmptyUnknown != 0 && c.State == state.Unknown:
		default:
			return false, false
		}
	}
	return false, true
}

// DeviceChanged takes a change of a device's cluster-wide state (give it every
// DeviceStateChange, subscribed before the first Apply so that none is missed): members keep
// their device's state, every member whose device it is gets a QueueMemberStatus event, and the callers of its queues look again for a
// member to ring.
func (e *Engine) DeviceChanged(device string, st state.Device) {
	var evs []Event
	e.mu.Lock()
	for _, q := range e.queues {
		hit := false
		for _, m := range q.members {
			if strings.EqualFold(m.Device(), device) {
				hit = true
				m.state, m.stateSet = st, true
				evs = append(evs, e.memberEvent("QueueMemberStatus", q, m))
			}
		}
		if hit {
			q.broadcast()
		}
	}
	e.mu.Unlock()
	for _, ev := range evs {
		e.publish(ev)
	}
}

// outweighed returns the interfaces (lower case) that q must not ring now because they are
// members of a queue of higher weight with callers waiting (Asterisk's weight), nil for none
// (under e.mu).
func (e *Engine) outweighed(q *Queue) map[string]bool {
	var out map[string]bool
	for _, o := range e.queues {
		if o == q || o.cfg.Weight <= q.cfg.Weight || len(o.callers) == 0 {
			continue
		}
		for _, m := range o.members {
			if out == nil {
				out = map[string]bool{}
			}
			out[strings.ToLower(m.Interface)] = true
		}
	}
	return out
}
