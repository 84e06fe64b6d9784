package cdr

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/channel"
)

// Engine builds CDRs from a server's channel events and posts them to its backends. It is
// safe for concurrent use; Handle never blocks on a backend.
type Engine struct {
	log *slog.Logger
	now func() time.Time

	mu      sync.Mutex
	set     Settings
	parties map[string]*party // by unique ID
	owner   map[string]string // party B's unique ID -> its party A's unique ID
	seq     int
	batch   []*Record
	timer   *time.Timer
	sinks   []*sink
	// held keeps, by backend name, the records posted while AddBackend replaces that
	// backend (between stopping the old one and starting the new one).
	held   map[string][]*Record
	outbox []*Record // records finished while e.mu is held, posted by unlock

	// Channel events wait here for the engine's goroutine (or for the next caller of lock),
	// so a call's own goroutine only appends to a slice: see Handle.
	qmu     sync.Mutex
	queued  []queuedEvent
	spare   []queuedEvent // the other buffer of queued (held under e.mu), so queuing allocates nothing
	wake    chan struct{}
	start   sync.Once
	stop    chan struct{}
	done    chan struct{}
	stopped atomic.Bool

	// idle is set while CDRs are off (cdr.conf enable=no) and no record is being built:
	// Handle and App then drop events at once, so a call pays nothing for the engine.
	idle atomic.Bool
}

// queuedEvent is a channel event and when it happened; for Set, the field and its value.
type queuedEvent struct {
	ev          channel.Event
	at          time.Time
	name, value string
}

// party is what the engine knows of one channel.
type party struct {
	snap     channel.Snapshot
	recs     []*rec // records with this channel as party A, oldest first
	disabled bool   // NoCDR
	account  string // CDR(accountcode)/CHANNEL(accountcode) set in the dialplan, "" for the channel's
	amaflags int
	userfld  string
	vars     map[string]string
}

// rec is a record being built.
type rec struct {
	Record
	b      string // party B's unique ID, "" for none
	status string // DialEnd's DIALSTATUS
	final  bool
	inH    bool // ended when party A started the h extension, before its hangup cause was known

	clidName, clidNum string // what CLID was made from (made again only when they change)
}

// New returns an engine with settings s; log may be nil.
func New(log *slog.Logger, s Settings) *Engine {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{log: log, now: time.Now, set: s, parties: map[string]*party{}, owner: map[string]string{},
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	e.idle.Store(!s.Enable)
	return e
}

// lock takes e.mu and applies the channel events queued so far, so every reader and writer
// of the records sees the events that happened before it was called (CDR() in the dialplan
// reads what the channel's last event changed).
func (e *Engine) lock() {
	e.mu.Lock()
	e.qmu.Lock()
	q := e.queued
	e.queued, e.spare = e.spare[:0], nil
	e.qmu.Unlock()
	for i := range q {
		e.apply(&q[i])
	}
	clear(q)
	e.spare = q[:0]
}

// unlock posts the records finished while e.mu was held (in order: posting under e.mu keeps
// the backends' queues in the order records were finished) and releases e.mu.
func (e *Engine) unlock() {
	// Off with nothing being built: events from now on are dropped, as they would do
	// nothing (a Newchannel makes no party while off). Records begun before CDRs were
	// turned off are finished first.
	e.idle.Store(!e.set.Enable && len(e.parties) == 0)
	if len(e.outbox) > 0 {
		for _, s := range e.sinks {
			s.add(e.outbox)
		}
		for name, h := range e.held {
			e.held[name] = append(h, e.outbox...)
		}
		e.outbox = nil
	}
	e.mu.Unlock()
}

// applyEvery is how long the engine's goroutine lets events gather after the first one
// before it applies them: a call's goroutine wakes it only when the queue was empty, so
// at most once per applyEvery however many calls there are. Each cycle costs two
// goroutine wake-ups (the first event's, the timer's), the most CPU a record cost when
// they came every 5 ms at 250 calls/s (a record or two a cycle). The records a cycle
// finishes reach the backends at once, and each backend works on them at once: at 50 ms
// that was ~50 records, several hundred µs of master.db's and cdr_pgsql's work at the same
// instant on the two CPUs the calls use, which is what the slowest calls waited for;
// 10 ms (~10 records at 1,000 calls/s) matches the backends' stepEvery, and gave a lower
// on/off p99 in bench/cdrtoggle.sh (docs/performance.md, stop 32). CDR() and the engine's
// other callers still apply what is queued first.
const applyEvery = 10 * time.Millisecond

// run applies queued channel events until Close.
func (e *Engine) run() {
	defer close(e.done)
	t := time.NewTimer(applyEvery)
	t.Stop()
	for {
		select {
		case <-e.wake:
		case <-e.stop:
			return
		}
		t.Reset(applyEvery)
		select {
		case <-t.C:
		case <-e.stop:
			return
		}
		e.lock()
		e.unlock()
	}
}

// Settings returns the engine's settings.
func (e *Engine) Settings() Settings {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.set
}

// SetSettings changes the settings (a reload); a batch waiting is posted when batch mode is
// turned off.
func (e *Engine) SetSettings(s Settings) {
	e.lock()
	e.set = s
	if !s.Batch {
		e.outbox = append(e.outbox, e.takeBatch()...)
	}
	e.unlock()
}

// Attach subscribes the engine to reg's channel events; the returned function detaches it.
func (e *Engine) Attach(reg *channel.Registry) (cancel func()) { return reg.Subscribe(e.Handle) }

// Handle takes one channel event. It is called on the goroutine of the call that made the
// event, so it only stamps the event with the time and queues it: the engine's goroutine
// applies it (Asterisk 12+'s CDR state machine, simplified: see the package doc), or
// whoever next reads or writes the records (CDR(), NoCDR, Flush...), whichever comes first.
// After Close, events are applied at once.
func (e *Engine) Handle(ev channel.Event) {
	if e.idle.Load() {
		return
	}
	e.enqueue(queuedEvent{ev: ev, at: e.now()})
}

func (e *Engine) enqueue(q queuedEvent) {
	if e.stopped.Load() {
		e.lock()
		e.apply(&q)
		e.unlock()
		return
	}
	e.start.Do(func() { go e.run() })
	e.qmu.Lock()
	e.queued = append(e.queued, q)
	first := len(e.queued) == 1
	e.qmu.Unlock()
	if first {
		select {
		case e.wake <- struct{}{}:
		default:
		}
	}
}

// apply applies one queued event; the caller holds e.mu.
func (e *Engine) apply(q *queuedEvent) {
	ev, now := &q.ev, q.at
	var out []*Record
	switch ev.Kind {
	case eventSet:
		if p := e.parties[ev.Channel.UniqueID]; p != nil {
			e.set1(p, q.name, q.value)
		}
	case channel.EventNewchannel:
		if !e.set.Enable {
			break
		}
		p := &party{snap: ev.Channel}
		p.recs = []*rec{e.newRec(p, ev.Channel.Created)}
		e.parties[ev.Channel.UniqueID] = p
	case channel.EventDialBegin:
		a := e.parties[ev.Channel.UniqueID]
		if a == nil || ev.Channel.UniqueID == "" {
			break
		}
		e.updateA(a, ev.Channel, now)
		if b := e.parties[ev.Dest.UniqueID]; b != nil {
			b.recs = nil // a dialed channel is party B of its caller's record, not a record of its own
		}
		cur := a.current()
		if cur == nil || cur.final || cur.b != "" {
			cur = e.newRec(a, now)
			a.recs = append(a.recs, cur)
		}
		cur.b = ev.Dest.UniqueID
		cur.DstChannel = ev.Dest.Name
		cur.PeerAccount = ev.Dest.AccountCode
		e.owner[ev.Dest.UniqueID] = ev.Channel.UniqueID
	case channel.EventDialEnd:
		a := e.parties[ev.Channel.UniqueID]
		if a == nil || ev.Channel.UniqueID == "" {
			break
		}
		for _, r := range a.recs {
			if r.b == ev.Dest.UniqueID && !r.final {
				r.status = ev.DialStatus
				if ev.DialStatus != "ANSWER" {
					e.finalize(r, 0, now)
				} else if r.Answer.IsZero() {
					r.Answer = now
				}
			}
		}
	case channel.EventBridgeLeave:
		uid := ev.Channel.UniqueID
		if p := e.parties[uid]; p != nil {
			for _, r := range p.recs {
				if r.b != "" && !r.final && r.status == "ANSWER" {
					e.finalize(r, 0, now)
				}
			}
		}
		if r := e.recOfB(uid); r != nil && !r.final {
			e.finalize(r, 0, now)
		}
	case channel.EventHangup:
		uid := ev.Channel.UniqueID
		if r := e.recOfB(uid); r != nil && !r.final {
			if r.Answer.IsZero() && r.status == "" {
				r.status = dialStatusOf(ev.Cause)
			}
			e.finalize(r, ev.Cause, now)
		}
		delete(e.owner, uid)
		p := e.parties[uid]
		if p == nil {
			break
		}
		e.updateA(p, ev.Channel, now)
		for _, r := range p.recs {
			switch {
			case !r.final:
				e.finalize(r, ev.Cause, now)
			case r.inH && r.status == "" && r.Answer.IsZero():
				// Ended at the h extension: the disposition follows the cause the call ended with.
				r.Disposition = e.dispOfCause(ev.Cause)
			}
		}
		delete(e.parties, uid)
		if p.disabled {
			break
		}
		for _, r := range p.recs {
			if !e.set.Unanswered && r.Answer.IsZero() && r.b == "" {
				continue
			}
			out = append(out, r.Record.clone())
		}
		e.outbox = append(e.outbox, e.post(out)...)
	case eventApp:
		if p := e.parties[ev.Channel.UniqueID]; p != nil {
			e.updateA(p, ev.Channel, now)
		}
	case eventDst:
		if p := e.parties[ev.Channel.UniqueID]; p != nil && ev.Dest.UniqueID != "" {
			for _, r := range p.recs {
				if r.b == ev.Dest.UniqueID {
					r.DstChannel = q.value
				}
			}
		}
	default:
		uid := ev.Channel.UniqueID
		if p := e.parties[uid]; p != nil {
			e.updateA(p, ev.Channel, now)
		}
		if r := e.recOfB(uid); r != nil && !r.final {
			r.PeerAccount = ev.Channel.AccountCode
			if ev.Channel.State == channel.Up && r.Answer.IsZero() {
				r.Answer = now
			}
		}
	}
}

// App records that the channel started an application (the dialplan's OnApp): lastapp and
// lastdata of its records being built, unless it runs the "h" extension (Asterisk does not
// let hangup logic change them); an application started in "h" ends the records there with
// endbeforehexten.
func (e *Engine) App(leg *channel.Channel, app, data string) {
	if e.idle.Load() {
		return
	}
	snap := leg.Snapshot()
	snap.Application, snap.AppData = app, data
	e.Handle(channel.Event{Kind: eventApp, Channel: snap})
}

// Queued forms of App (Channel is the snapshot with the application), Set and
// SetDstChannel (Channel and Dest carry the unique IDs).
const (
	eventApp channel.EventKind = -1 - iota
	eventSet
	eventDst
)

// dialStatusOf is the DIALSTATUS a hangup cause gives (as the dialplan's DialStatusOfCause).
func dialStatusOf(c channel.Cause) string {
	switch c {
	case channel.CauseUserBusy:
		return "BUSY"
	case channel.CauseCongestion, channel.CauseSwitchCongestion:
		return "CONGESTION"
	case channel.CauseNormalClearing, channel.CauseNoAnswer, channel.CauseNoUserResponse, channel.CauseAnsweredElsewhere:
		return "NOANSWER"
	}
	return "CHANUNAVAIL"
}

func (p *party) current() *rec {
	if len(p.recs) == 0 {
		return nil
	}
	return p.recs[len(p.recs)-1]
}

func (e *Engine) recOfB(uid string) *rec {
	a := e.parties[e.owner[uid]]
	if a == nil {
		return nil
	}
	for _, r := range a.recs {
		if r.b == uid {
			return r
		}
	}
	return nil
}

// newRec starts a record for party A at start.
func (e *Engine) newRec(p *party, start time.Time) *rec {
	e.seq++
	s := p.snap
	r := &rec{Record: Record{Channel: s.Name, UniqueID: s.UniqueID, LinkedID: s.LinkedID, Start: start,
		AMAFlags: AMADocumentation, Sequence: e.seq}}
	if p.amaflags != 0 {
		r.AMAFlags = p.amaflags
	}
	r.UserField = p.userfld
	if len(p.vars) > 0 {
		r.Vars = map[string]string{}
		for k, v := range p.vars {
			r.Vars[k] = v
		}
	}
	if cur := p.current(); cur != nil {
		r.LastApp, r.LastData = cur.LastApp, cur.LastData
	}
	e.fillA(p, r)
	return r
}

// fillA copies party A's snapshot into a record that is not final.
func (e *Engine) fillA(p *party, r *rec) {
	s := p.snap
	r.Src = s.CallerNum
	if r.CLID == "" || r.clidName != s.CallerName || r.clidNum != s.CallerNum {
		r.CLID, r.clidName, r.clidNum = clid(s.CallerName, s.CallerNum), s.CallerName, s.CallerNum
	}
	r.AccountCode = s.AccountCode
	if p.account != "" {
		r.AccountCode = p.account
	}
	if s.Exten != "h" {
		r.Dst, r.DContext = s.Exten, s.Context
		if s.Application != "" && s.Application != "AppDial" {
			r.LastApp, r.LastData = s.Application, s.AppData
		}
	}
}

// updateA applies party A's new snapshot to its records being built.
func (e *Engine) updateA(p *party, s channel.Snapshot, now time.Time) {
	old := p.snap
	p.snap = s
	if s.Exten == "h" && e.set.EndBeforeHExten {
		for _, r := range p.recs {
			if !r.final {
				e.finalize(r, 0, now)
				r.inH = true
			}
		}
		return
	}
	if len(p.recs) > 0 && allFinal(p.recs) && s.Application != "" && cepChanged(old, s) {
		// Every record of party A is finished (a dial that failed, a bridge that ended) and
		// the channel goes on to another application elsewhere in the dialplan: a new record
		// begins, as Asterisk's finalized state asks for one at a CEP change.
		p.recs = append(p.recs, e.newRec(p, now))
	}
	for _, r := range p.recs {
		if r.final {
			continue
		}
		e.fillA(p, r)
		if s.State == channel.Up && r.Answer.IsZero() && (r.b == "" || r.status == "ANSWER") {
			r.Answer = now
		}
	}
}

func allFinal(recs []*rec) bool {
	for _, r := range recs {
		if !r.final {
			return false
		}
	}
	return true
}

// cepChanged reports whether a snapshot runs another application at another place in the
// dialplan (context, extension or priority) than old: Asterisk's snapshot_cep_changed,
// which ignores the dial's own AppDial.
func cepChanged(old, s channel.Snapshot) bool {
	if s.Application == old.Application || strings.HasPrefix(strings.ToLower(s.Application), "appdial") {
		return false
	}
	return s.Context != old.Context || s.Exten != old.Exten || s.Priority != old.Priority
}

// finalize ends a record at now and sets its disposition (Asterisk's cdr_object_finalize).
func (e *Engine) finalize(r *rec, cause channel.Cause, now time.Time) {
	r.final = true
	r.End = now
	if r.status != "" {
		r.Disposition = e.dispOfStatus(r.status)
		if r.Disposition == DispAnswered && r.Answer.IsZero() {
			r.Answer = now
		}
		return
	}
	if !r.Answer.IsZero() {
		r.Disposition = DispAnswered
		return
	}
	r.Disposition = e.dispOfCause(cause)
}

// dispOfStatus maps a DIALSTATUS to a disposition (Asterisk's dial_status_to_disposition).
func (e *Engine) dispOfStatus(s string) Disposition {
	switch s {
	case "ANSWER":
		return DispAnswered
	case "BUSY":
		return DispBusy
	case "CANCEL", "NOANSWER":
		return DispNoAnswer
	case "CONGESTION":
		if e.set.Congestion {
			return DispCongestion
		}
	}
	return DispFailed
}

// dispOfCause maps the hangup cause of an unanswered record without a dial status.
func (e *Engine) dispOfCause(c channel.Cause) Disposition {
	switch c {
	case channel.CauseUserBusy:
		return DispBusy
	case channel.CauseCongestion, channel.CauseSwitchCongestion:
		if e.set.Congestion {
			return DispCongestion
		}
		return DispFailed
	case channel.CauseNoRouteDestination, channel.CauseSubscriberAbsent, channel.CauseChannelUnavailable:
		return DispFailed
	}
	return DispNoAnswer
}

func clid(name, num string) string {
	switch {
	case name != "" && num != "":
		return fmt.Sprintf("%q <%s>", name, num)
	case name != "":
		return fmt.Sprintf("%q", name)
	}
	return num
}

// post queues finished records for the backends: at once, or in the batch (cdr.conf
// batch, size, time). The caller holds e.mu and passes what it returns to deliver.
func (e *Engine) post(recs []*Record) []*Record {
	if len(recs) == 0 || !e.set.Batch {
		return recs
	}
	e.batch = append(e.batch, recs...)
	if len(e.batch) >= e.set.Size {
		return e.takeBatch()
	}
	if e.timer == nil {
		e.timer = time.AfterFunc(e.set.Time, func() { e.Submit() })
	}
	return nil
}

func (e *Engine) takeBatch() []*Record {
	out := e.batch
	e.batch = nil
	if e.timer != nil {
		e.timer.Stop()
		e.timer = nil
	}
	return out
}

// Submit posts the batch waiting now ("cdr submit"); it returns how many records it posted.
func (e *Engine) Submit() int {
	e.lock()
	out := e.takeBatch()
	e.outbox = append(e.outbox, out...)
	e.unlock()
	return len(out)
}

// BatchLen returns how many records wait in the batch.
func (e *Engine) BatchLen() int {
	e.lock()
	defer e.unlock()
	return len(e.batch)
}

// Active returns how many channels the engine follows.
func (e *Engine) Active() int {
	e.lock()
	defer e.unlock()
	return len(e.parties)
}

// The dialplan side: CDR(), NoCDR, ResetCDR, CHANNEL(accountcode).

// ErrNoCDR is returned for a channel the engine has no record of.
var ErrNoCDR = fmt.Errorf("cdr: no CDR for the channel")

// ErrReadOnly is returned when writing a CDR field that cannot be written.
var ErrReadOnly = fmt.Errorf("cdr: read-only CDR field")

// Get reads a field (or CDR variable) of the channel's current record, as CDR(name).
func (e *Engine) Get(uniqueID, name string) (string, error) {
	e.lock()
	defer e.unlock()
	p := e.parties[uniqueID]
	if p == nil || p.current() == nil {
		return "", ErrNoCDR
	}
	r := p.current()
	if strings.EqualFold(name, "billsec") || strings.EqualFold(name, "duration") {
		// A record still going is measured up to now, as Asterisk's CDR() does.
		c := r.Record
		if c.End.IsZero() {
			c.End = e.now()
		}
		v, _ := c.Field(name, e.set.InitiatedSecs)
		return v, nil
	}
	v, _ := r.Field(name, e.set.InitiatedSecs)
	return v, nil
}

// Set writes a field of the channel's records being built, as Set(CDR(name)=value):
// userfield, accountcode, amaflags and CDR variables; the other built-in fields are
// read-only. The write is queued with the channel's events (the call does not wait for the
// engine), so a channel the engine does not follow is ignored rather than an error.
func (e *Engine) Set(uniqueID, name, value string) error {
	switch lname := strings.ToLower(name); lname {
	case "userfield", "accountcode":
	case "amaflags":
		if ParseAMA(value) == 0 {
			return fmt.Errorf("cdr: %q is not an AMA flag", value)
		}
	default:
		if _, builtin := (&Record{}).Field(lname, false); builtin {
			return fmt.Errorf("%w: %s", ErrReadOnly, name)
		}
	}
	// Queued like the channel's events, in order with them (a Get applies both first).
	e.enqueue(queuedEvent{ev: channel.Event{Kind: eventSet, Channel: channel.Snapshot{UniqueID: uniqueID}}, at: e.now(), name: name, value: value})
	return nil
}

// SetDstChannel makes dst the dstchannel of the records with callerUID as party A and
// peerUID as party B, in place of the peer channel's name: app_queue's updatecdr, which
// names the queue member who answered. It is queued in order with the channels' events,
// like Set (the DialBegin that made peerUID party B comes first); a caller or a peer the
// engine does not follow is ignored. The record keeps the name if the peer hangs up before
// it is applied (the record is still posted at the caller's hangup).
func (e *Engine) SetDstChannel(callerUID, peerUID, dst string) {
	e.enqueue(queuedEvent{ev: channel.Event{Kind: eventDst, Channel: channel.Snapshot{UniqueID: callerUID},
		Dest: channel.Snapshot{UniqueID: peerUID}}, at: e.now(), value: dst})
}

// set1 applies a checked Set to party p; the caller holds e.mu.
func (e *Engine) set1(p *party, name, value string) {
	lname := strings.ToLower(name)
	switch lname {
	case "userfield":
		p.userfld = value
	case "accountcode":
		p.account = value
	case "amaflags":
		p.amaflags = ParseAMA(value)
	default:
		if p.vars == nil {
			p.vars = map[string]string{}
		}
		p.vars[name] = value
	}
	for _, r := range p.recs {
		if r.final {
			continue
		}
		switch lname {
		case "userfield":
			r.UserField = value
		case "accountcode":
			r.AccountCode = value
		case "amaflags":
			r.AMAFlags = p.amaflags
		default:
			if r.Vars == nil {
				r.Vars = map[string]string{}
			}
			r.Vars[name] = value
		}
	}
}

// Disable stops the channel's records from being posted (NoCDR).
func (e *Engine) Disable(uniqueID string) { e.SetDisabled(uniqueID, true) }

// SetDisabled turns the channel's records off or on again (CDR_PROP(disable)).
func (e *Engine) SetDisabled(uniqueID string, off bool) {
	e.lock()
	defer e.unlock()
	if p := e.parties[uniqueID]; p != nil {
		p.disabled = off
	}
}

// Fork ends the channel's current record now and starts a new one for the same party A
// (ForkCDR): the new record starts now, is answered now when the channel is up, and keeps
// the CDR variables unless resetVars.
func (e *Engine) Fork(uniqueID string, resetVars bool) {
	e.lock()
	defer e.unlock()
	p := e.parties[uniqueID]
	if p == nil || p.current() == nil {
		return
	}
	now := e.now()
	cur := p.current()
	if !cur.final {
		e.finalize(cur, 0, now)
	}
	if resetVars {
		p.vars = nil
	}
	r := e.newRec(p, now)
	if p.snap.State == channel.Up {
		r.Answer = now
	}
	p.recs = append(p.recs, r)
}

// Reset restarts the channel's current record at now (ResetCDR): start, answer and end are
// cleared (answer set again if the channel is up), variables kept only with keepVars.
func (e *Engine) Reset(uniqueID string, keepVars bool) {
	e.lock()
	defer e.unlock()
	p := e.parties[uniqueID]
	if p == nil || p.current() == nil {
		return
	}
	now := e.now()
	r := p.current()
	r.Start, r.End, r.Answer, r.final, r.Disposition = now, time.Time{}, time.Time{}, false, DispNull
	if p.snap.State == channel.Up {
		r.Answer = now
	}
	if !keepVars {
		r.Vars, p.vars = nil, nil
	}
}
