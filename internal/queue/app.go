package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/channel"
	"github.com/pleiades-pbx/pleiades/internal/dialplan"
	"github.com/pleiades-pbx/pleiades/internal/dialplan/expr"
)

// Register adds Queue(), AddQueueMember(), RemoveQueueMember(), PauseQueueMember(),
// UnpauseQueueMember(), QueueLog() and QUEUE_MEMBER(), QUEUE_MEMBER_COUNT(),
// QUEUE_WAITING_COUNT() to a dialplan engine.
func (e *Engine) Register(d *dialplan.Engine) {
	for _, a := range []*dialplan.App{
		{Name: "Queue", Synopsis: "Queue a call for a call queue.", Exec: e.appQueue},
		{Name: "AddQueueMember", Synopsis: "Dynamically adds queue members.", Exec: e.appAddMember},
		{Name: "RemoveQueueMember", Synopsis: "Dynamically removes queue members.", Exec: e.appRemoveMember},
		{Name: "PauseQueueMember", Synopsis: "Pauses a queue member.", Exec: func(ctx context.Context, ch *dialplan.Channel, data string) error {
			return e.appPause(ctx, ch, data, true)
		}},
		{Name: "UnpauseQueueMember", Synopsis: "Unpauses a queue member.", Exec: func(ctx context.Context, ch *dialplan.Channel, data string) error {
			return e.appPause(ctx, ch, data, false)
		}},
		{Name: "QueueLog", Synopsis: "Writes to the queue_log file.", Exec: e.appQueueLog},
	} {
		d.RegisterApp(a)
	}
	for _, f := range []*dialplan.Function{
		{Name: "QUEUE_MEMBER", Synopsis: "Provide a count of queue members based on name or interface.", Read: e.funcQueueMember},
		{Name: "QUEUE_MEMBER_COUNT", Synopsis: "Count number of members answering a queue.", Read: func(ctx context.Context, ch *dialplan.Channel, args string) (string, error) {
			return e.funcQueueMember(ctx, ch, strings.TrimSpace(args)+",logged")
		}},
		{Name: "QUEUE_WAITING_COUNT", Synopsis: "Count number of calls currently waiting in a queue.", Read: e.funcWaitingCount},
		{Name: "QUEUE_VARIABLES", Synopsis: "Return Queue information in variables.", Read: e.funcQueueVariables},
	} {
		d.RegisterFunction(f)
	}
}

func argsOf(data string) func(int) string {
	args := expr.SplitArgs(data, ',')
	return func(i int) string {
		if i < len(args) {
			return strings.TrimSpace(args[i])
		}
		return ""
	}
}

func snapshotOf(ch *dialplan.Channel) channel.Snapshot {
	if l := ch.Leg(); l != nil {
		return l.Snapshot()
	}
	num, name := ch.CallerID()
	return channel.Snapshot{Name: ch.Name, UniqueID: ch.UniqueID, CallerNum: num, CallerName: name, Context: ch.Context, Exten: ch.Exten, Priority: ch.Priority}
}

func callID(ch *dialplan.Channel) string {
	if ch.UniqueID != "" {
		return ch.UniqueID
	}
	return "NONE"
}

// queueOptions are the Queue() options Pleiades acts on.
type queueOptions struct {
	ringing bool // r: ringing instead of music on hold
	noRetry bool // n: no retry after the first round of ringing
	goOn    bool // c: continue in the dialplan when the member hangs up
}

func parseQueueOptions(s string) queueOptions {
	var o queueOptions
	depth := 0
	for _, c := range s {
		switch {
		case c == '(':
			depth++
		case c == ')':
			depth--
		case depth > 0:
		case c == 'r':
			o.ringing = true
		case c == 'n':
			o.noRetry = true
		case c == 'c':
			o.goOn = true
		}
	}
	return o
}

// appQueue is Queue(queuename[,options[,URL[,announceoverride[,timeout]]]]).
func (e *Engine) appQueue(ctx context.Context, ch *dialplan.Channel, data string) error {
	arg := argsOf(data)
	name := arg(0)
	if name == "" {
		ch.Logf(slog.LevelWarn, "Queue requires an argument: queuename[,options[,URL[,announceoverride[,timeout[,AGI[,gosub[,rule[,position]]]]]]]]")
		return errors.New("Queue without a queue name")
	}
	opts := parseQueueOptions(arg(1))
	start := e.d.Now()
	var deadline time.Time
	if secs, err := strconv.Atoi(arg(4)); err == nil && secs > 0 {
		deadline = start.Add(time.Duration(secs) * time.Second)
	}
	ch.SetVar("QUEUESTATUS", "")
	q, err := e.queue(ctx, name)
	if err != nil {
		ch.Logf(slog.LevelWarn, "Unable to join queue '%s'", name)
		ch.SetVar("QUEUESTATUS", "UNKNOWN")
		return nil
	}
	snap := snapshotOf(ch)
	cnum, cname := ch.CallerID()
	c := &Caller{Channel: ch.Name, UniqueID: ch.UniqueID, CIDNum: cnum, CIDName: cname, Joined: start, tried: map[*Member]bool{},
		snap: func() channel.Snapshot { return snapshotOf(ch) }}

	e.mu.Lock()
	status := ""
	if q.cfg.MaxLen > 0 && len(q.callers) >= q.cfg.MaxLen {
		status = "FULL"
	} else if empty, unavail := e.emptyStatus(q, q.cfg.JoinEmpty, start); empty {
		status = "JOINEMPTY"
	} else if unavail {
		status = "JOINUNAVAIL"
	}
	if status != "" {
		qname := q.cfg.Name
		e.mu.Unlock()
		ch.SetVar("QUEUESTATUS", status)
		ch.Verbosef(3, "Unable to join queue '%s' (%s)", qname, status)
		return nil
	}
	q.callers = append(q.callers, c)
	c.OrigPos = len(q.callers)
	qname, count := q.cfg.Name, len(q.callers)
	q.broadcast()
	e.mu.Unlock()

	e.qlog.write(callID(ch), qname, "NONE", "ENTERQUEUE", arg(2), cnum, strconv.Itoa(c.OrigPos))
	e.publish(Event{Name: "QueueCallerJoin", Caller: &snap, Fields: [][2]string{{"Queue", qname}, {"Position", strconv.Itoa(c.OrigPos)}, {"Count", strconv.Itoa(count)}}})
	ch.Verbosef(3, "%s joined queue '%s' at position %d", ch.Name, qname, c.OrigPos)

	w := &waiter{e: e, q: q, c: c, ch: ch, opts: opts, deadline: deadline, class: q.cfg.MusicClass, announceOverride: arg(3)}
	defer w.stopHold()
	defer e.leave(q, c)
	defer func() {
		e.mu.Lock()
		set := q.cfg.SetQueueVar
		e.mu.Unlock()
		if set {
			e.queueVars(ch, q)
		}
	}()
	return w.run(ctx)
}

// leave takes c off q (QueueCallerLeave).
func (e *Engine) leave(q *Queue, c *Caller) {
	e.mu.Lock()
	pos := 0
	for i, x := range q.callers {
		if x == c {
			pos = i + 1
			q.callers = slices.Delete(q.callers, i, i+1)
			break
		}
	}
	qname, count := q.cfg.Name, len(q.callers)
	q.broadcast()
	e.mu.Unlock()
	if pos == 0 {
		return
	}
	snap := c.snap()
	e.publish(Event{Name: "QueueCallerLeave", Caller: &snap, Fields: [][2]string{{"Queue", qname}, {"Count", strconv.Itoa(count)}, {"Position", strconv.Itoa(pos)}}})
}

// waiter is one caller's time in a queue.
type waiter struct {
	e                *Engine
	q                *Queue
	c                *Caller
	ch               *dialplan.Channel
	opts             queueOptions
	deadline         time.Time
	class            string
	announceOverride string // Queue()'s announceoverride: played to the member instead of announce=

	cands    []Candidate // reused by decide
	idx      []int
	holdStop func()
	holdWG   sync.WaitGroup
	rang     bool

	// Periodic announcements (periodic-announce every periodic-announce-frequency s, in
	// turn), played only to a caller who hears music on hold.
	nextPeriodic time.Time
	periodicIdx  int
	// Position announcements (announce-frequency), to a caller who hears music on hold:
	// when the last one started and the place it said (Asterisk's last_pos, last_pos_said),
	// when the caller became the head of the line, and when to look again.
	lastPos      time.Time
	lastPosSaid  int
	headSince    time.Time
	nextPosition time.Time
}

// periodicDue reports whether a periodic announcement is due now (arming the first one).
func (w *waiter) periodicDue(now time.Time) bool {
	w.e.mu.Lock()
	files, freq := w.q.cfg.PeriodicAnnounce, w.q.cfg.PeriodicFrequency
	w.e.mu.Unlock()
	if len(files) == 0 || freq <= 0 || w.opts.ringing || MusicOnHold == nil {
		w.nextPeriodic = time.Time{}
		return false
	}
	if w.nextPeriodic.IsZero() {
		w.nextPeriodic = w.c.Joined.Add(time.Duration(freq) * time.Second)
	}
	return !now.Before(w.nextPeriodic)
}

// announce plays the next periodic announcement, as app_queue's say_periodic_announcement:
// the music stops, the file plays (the next in turn, or with random-periodic-announce one
// drawn at random), the music starts again. The next is due periodic-announce-frequency
// seconds after this one began, or after it ended with relative-periodic-announce.
func (w *waiter) announce(ctx context.Context) {
	start := w.e.d.Now()
	w.e.mu.Lock()
	freq, qname, relative := w.q.cfg.PeriodicFrequency, w.q.cfg.Name, w.q.cfg.RelativePeriodic
	f := w.periodicFile()
	w.e.mu.Unlock()
	if f == "" {
		return
	}
	w.stopHold()
	if err := w.ch.PlayFiles(ctx, f); err != nil && ctx.Err() == nil {
		w.ch.Logf(slog.LevelWarn, "Queue %s: periodic announcement %s: %v", qname, f, err)
	}
	w.startHold(ctx)
	if relative {
		start = w.e.d.Now()
	}
	w.nextPeriodic = start.Add(time.Duration(freq) * time.Second)
}

// periodicFile is the periodic announcement to play now: the next in turn, or one drawn
// at random with random-periodic-announce ("" for none). Under e.mu.
func (w *waiter) periodicFile() string {
	files := w.q.cfg.PeriodicAnnounce
	if len(files) == 0 {
		return ""
	}
	if w.q.cfg.RandomPeriodic {
		return files[w.e.rnd(len(files))]
	}
	f := files[w.periodicIdx%len(files)]
	w.periodicIdx++
	return f
}

// startHold gives the caller music on hold (the hook), or ringing.
func (w *waiter) startHold(ctx context.Context) {
	if w.holdStop != nil {
		return
	}
	moh := MusicOnHold
	if w.opts.ringing || moh == nil {
		if !w.rang {
			w.ch.IndicateRinging()
			w.rang = true
		}
		w.holdStop = func() {}
		return
	}
	hctx, cancel := context.WithCancel(ctx)
	w.holdStop = cancel
	w.holdWG.Add(1)
	go func() {
		defer w.holdWG.Done()
		if err := moh(hctx, w.ch, w.class); err != nil && hctx.Err() == nil {
			w.e.log.Warn(fmt.Sprintf("queue %s: music on hold class %s for %s: %v", w.q.cfg.Name, w.class, w.ch.Name, err))
		}
	}()
}

func (w *waiter) stopHold() {
	if w.holdStop != nil {
		w.holdStop()
		w.holdWG.Wait()
		w.holdStop = nil
	}
}

// decide says whether the caller may ring members now and, if so, which (under e.mu): the
// head of the line may, and with autofill any caller whose place is within the number of
// members that could be rung (callers ahead of it that are ringing already hold theirs).
// Every member's candidate is built once and serves both questions.
func (w *waiter) decide(now time.Time) []*Member {
	q := w.q
	pos, ahead := 0, 0 // callers before this one; those of them not ringing yet
	for _, x := range q.callers {
		if x == w.c {
			break
		}
		pos++
		if !x.ringing {
			ahead++
		}
	}
	// Cheap refusals first: a woken line of callers mostly stops here.
	if pos > 0 && (!q.cfg.Autofill || ahead >= len(q.members)) {
		return nil
	}
	cands := w.cands[:0]
	free := 0
	outweighed := w.e.outweighed(q)
	for _, m := range q.members {
		c := w.e.candidate(q, m, now, w.c.tried)
		if outweighed != nil && outweighed[strings.ToLower(m.Interface)] {
			c.Busy = true
		}
		if c.Ringable() {
			free++
		}
		cands = append(cands, c)
	}
	w.cands = cands
	if pos > 0 && ahead >= free {
		return nil
	}
	choice := Choice{Strategy: q.cfg.Strategy, RRPos: q.rrpos, Rand: w.e.rnd}
	idx := Choose(w.idx[:0], cands, choice)
	if len(idx) == 0 && len(w.c.tried) > 0 {
		// Every member was tried this round: a new round starts.
		clear(w.c.tried)
		for i := range cands {
			cands[i].Tried = false
		}
		idx = Choose(idx[:0], cands, choice)
	}
	w.idx = idx
	out := make([]*Member, len(idx))
	for i, j := range idx {
		out[i] = q.members[j]
	}
	return out
}

// run waits, rings, and connects (or leaves) the caller.
func (w *waiter) run(ctx context.Context) error {
	e, q, c, ch := w.e, w.q, w.c, w.ch
	w.startHold(ctx)
	var retryUntil time.Time // after a round without answer: no ringing before
	for {
		now := e.d.Now()
		if !w.deadline.IsZero() && !now.Before(w.deadline) {
			return w.exit("TIMEOUT", "EXITWITHTIMEOUT")
		}
		e.mu.Lock()
		rt, name := q.realtime, q.cfg.Name
		e.mu.Unlock()
		if rt {
			// Members added to or removed from the table while the caller waits count
			// (read through the cache: at most once per RealtimeTTL).
			e.queue(ctx, name)
		}
		e.mu.Lock()
		if empty, unavail := e.emptyStatus(q, q.cfg.LeaveWhenEmpty, now); empty || unavail {
			e.mu.Unlock()
			if empty {
				return w.exit("LEAVEEMPTY", "EXITEMPTY")
			}
			return w.exit("LEAVEUNAVAIL", "EXITEMPTY")
		}
		var pick []*Member
		if !now.Before(retryUntil) {
			pick = w.decide(now)
			if len(pick) > 0 {
				c.ringing = true
				for _, m := range pick {
					m.ringing++
				}
			}
		}
		wake := q.wake
		retry := time.Duration(q.cfg.Retry) * time.Second
		ringFor := time.Duration(q.cfg.Timeout) * time.Second
		e.mu.Unlock()

		if len(pick) == 0 {
			if w.periodicDue(now) {
				w.announce(ctx)
				continue
			}
			if w.positionDue(now) {
				w.sayPosition(ctx, now)
				continue
			}
			wait := time.Second
			if now.Before(retryUntil) {
				wait = retryUntil.Sub(now)
			}
			for _, next := range []time.Time{w.nextPeriodic, w.nextPosition} {
				if !next.IsZero() {
					wait = min(wait, max(next.Sub(now), time.Millisecond))
				}
			}
			if !w.deadline.IsZero() {
				wait = min(wait, max(w.deadline.Sub(now), time.Millisecond))
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return w.abandon()
			case <-wake:
				t.Stop()
			case <-t.C:
			}
			continue
		}
		if !w.deadline.IsZero() {
			if left := w.deadline.Sub(now); ringFor == 0 || left < ringFor {
				ringFor = left
			}
		}
		res, err := w.ring(ctx, pick, ringFor)
		if res == ringAnswered || res == ringAbandoned {
			return err
		}
		if w.opts.noRetry && w.roundOver() {
			// "Exiting on time-out cycle": logged as the timeout argument's exit is.
			ch.Verbosef(3, "Exiting on time-out cycle")
			return w.exit("TIMEOUT", "EXITWITHTIMEOUT")
		}
		retryUntil = e.d.Now().Add(retry)
	}
}

// roundOver reports whether every member has been tried in this round (option n).
func (w *waiter) roundOver() bool {
	w.e.mu.Lock()
	defer w.e.mu.Unlock()
	if w.q.cfg.Strategy == RingAll {
		return true
	}
	for _, m := range w.q.members {
		if !w.c.tried[m] {
			return false
		}
	}
	return true
}

type ringOutcome int

const (
	ringNoAnswer ringOutcome = iota
	ringAnswered
	ringAbandoned
)

// ring rings the members picked, for ringFor, and connects the caller on an answer.
func (w *waiter) ring(ctx context.Context, pick []*Member, ringFor time.Duration) (ringOutcome, error) {
	e, q, c, ch := w.e, w.q, w.c, w.ch
	dests := make([]string, len(pick))
	for i, m := range pick {
		dests[i] = m.Interface
	}
	release := func() {
		e.mu.Lock()
		for _, m := range pick {
			m.ringing--
		}
		c.ringing = false
		q.broadcast()
		e.mu.Unlock()
	}
	e.mu.Lock()
	qname := q.cfg.Name
	e.mu.Unlock()
	caller := c.snap()
	dest := make([]*channel.Snapshot, len(pick)) // each member's leg, once made
	legs := make([]*channel.Channel, len(pick))
	ringStart := e.d.Now()
	stopAnnouncements := w.announceWhileRinging(ctx)
	res := ch.RingLegs(ctx, dests, dialplan.RingOptions{Timeout: ringFor, Ringback: w.opts.ringing, OnLeg: func(i int, leg *channel.Channel) {
		snap := leg.Snapshot()
		dest[i] = &snap
		legs[i] = leg
		m := pick[i]
		e.publish(Event{Name: "AgentCalled", Caller: &caller, Dest: &snap, Fields: [][2]string{{"Queue", qname}, {"MemberName", m.MemberName()}, {"Interface", m.Interface}}})
	}})
	if stopAnnouncements() && ctx.Err() == nil {
		// The announcements' music ended with them: the caller's comes back.
		w.stopHold()
		w.startHold(ctx)
	}
	ringTime := e.d.Now().Sub(ringStart)
	switch res.Status {
	case "ANSWER":
		m := pick[max(res.Index, 0)]
		release()
		return ringAnswered, w.connect(ctx, m, res.Answered, ringTime)
	case "CANCEL":
		release()
		for _, m := range pick {
			e.qlog.write(callID(ch), qname, m.MemberName(), "RINGCANCELED", strconv.FormatInt(ringTime.Milliseconds(), 10))
		}
		return ringAbandoned, w.abandon()
	}
	release()
	e.mu.Lock()
	if q.cfg.Strategy != RingAll {
		for _, m := range pick {
			c.tried[m] = true
		}
	}
	e.mu.Unlock()
	ch.Verbosef(3, "Nobody picked up in %d ms", ringTime.Milliseconds())
	for i, m := range pick {
		e.qlog.write(callID(ch), qname, m.MemberName(), "RINGNOANSWER", strconv.FormatInt(ringTime.Milliseconds(), 10))
		e.publish(Event{Name: "AgentRingNoAnswer", Caller: &caller, Dest: dest[i], Fields: [][2]string{{"Queue", qname}, {"MemberName", m.MemberName()},
			{"Interface", m.Interface}, {"RingTime", strconv.FormatInt(ringTime.Milliseconds(), 10)}}})
	}
	w.autopause(ctx, pick, legs)
	return ringNoAnswer, nil
}

// autopause pauses the members rung in vain, as app_queue's rna does with autopause on:
// with reason "Auto-Pause", in this queue (autopause=yes) or in all of the member's queues
// (all), through Pause (QueueMemberPause, queue_log PAUSE, a realtime row written back).
// A member who was busy is paused only with autopausebusy, one congested or unreachable
// only with autopauseunavail; a member whose leg could not be made at all is not paused;
// nor is one whose last call ended less than autopausedelay seconds ago.
func (w *waiter) autopause(ctx context.Context, pick []*Member, legs []*channel.Channel) {
	e, q := w.e, w.q
	e.mu.Lock()
	cfg := q.cfg
	now := e.d.Now()
	var ifaces []string
	for i, m := range pick {
		if cfg.Autopause == AutopauseNo || legs[i] == nil {
			continue
		}
		switch dialplan.DialStatusOfCause(legs[i].Cause()) {
		case "BUSY":
			if !cfg.AutopauseBusy {
				continue
			}
		case "CONGESTION", "CHANUNAVAIL":
			if !cfg.AutopauseUnavail {
				continue
			}
		}
		if cfg.AutopauseDelay > 0 && !m.LastCall.IsZero() && now.Sub(m.LastCall) < time.Duration(cfg.AutopauseDelay)*time.Second {
			continue
		}
		ifaces = append(ifaces, m.Interface)
	}
	e.mu.Unlock()
	ctx = context.WithoutCancel(ctx)
	for _, iface := range ifaces {
		queue, where := cfg.Name, "queue "+cfg.Name
		if cfg.Autopause == AutopauseAll {
			queue, where = "", "all queues"
		}
		if err := e.Pause(ctx, queue, iface, true, "Auto-Pause"); err != nil {
			w.ch.Verbosef(3, "Failed to pause Queue Member %s in %s!", iface, where)
			continue
		}
		w.ch.Verbosef(3, "Auto-Pausing Queue Member %s in %s since they failed to answer.", iface, where)
	}
}

// connect bridges the caller with the member m who answered on peer.
func (w *waiter) connect(ctx context.Context, m *Member, peer *channel.Channel, ringTime time.Duration) error {
	e, q, c, ch := w.e, w.q, w.c, w.ch
	now := e.d.Now()
	hold := now.Sub(c.Joined)
	e.mu.Lock()
	m.InCall = true
	for i, x := range q.members {
		if x == m {
			q.rrpos = i
		}
	}
	q.recordHold(hold)
	qname := q.cfg.Name
	updateCDR := e.general.UpdateCDR
	inSL := q.cfg.ServiceLevel > 0 && hold <= time.Duration(q.cfg.ServiceLevel)*time.Second
	pos := 0
	for i, x := range q.callers {
		if x == c {
			pos = i + 1
		}
	}
	e.mu.Unlock()
	e.leave(q, c) // the caller is out of the line once connected
	w.connectAnnouncements(ctx, peer, hold)
	caller, dest := c.snap(), peer.Snapshot()
	holdS := strconv.Itoa(int(hold.Seconds()))
	e.qlog.write(callID(ch), qname, m.MemberName(), "CONNECT", holdS, peer.UniqueID(), strconv.Itoa(int(ringTime.Seconds())))
	if updateCDR && e.d.CDR != nil && ch.Leg() != nil {
		// updatecdr: the caller's record names the member (its membername, the interface
		// when it has none) rather than the member's channel, as app_queue did up to
		// Asterisk 11.
		e.d.CDR.SetDstChannel(ch.Leg().UniqueID(), peer.UniqueID(), m.MemberName())
	}
	e.publish(Event{Name: "AgentConnect", Caller: &caller, Dest: &dest, Fields: [][2]string{{"Queue", qname}, {"MemberName", m.MemberName()},
		{"Interface", m.Interface}, {"RingTime", strconv.Itoa(int(ringTime.Seconds()))}, {"HoldTime", holdS}}})
	ch.SetVar("MEMBERINTERFACE", m.Interface)
	ch.SetVar("MEMBERNAME", m.MemberName())
	_ = pos
	start := e.d.Now()
	peerFirst, err := ch.BridgeLeg(ctx, peer, w.opts.goOn)
	talk := e.d.Now().Sub(start)
	end := e.d.Now()
	e.mu.Lock()
	m.InCall = false
	m.Calls++
	m.LastCall = end
	calls := m.Calls
	if e.general.SharedLastCall {
		k := strings.ToLower(m.Interface)
		lc := e.lastCalls[k]
		e.lastCalls[k] = lastCall{at: end, calls: lc.calls + 1, queue: q.cfg.Name}
	}
	q.completed++
	if inSL {
		q.completedInSL++
	}
	q.recordTalk(talk)
	q.broadcast()
	e.mu.Unlock()
	who, reason := "COMPLETECALLER", "caller"
	if peerFirst {
		who, reason = "COMPLETEAGENT", "agent"
	}
	e.qlog.write(callID(ch), qname, m.MemberName(), who, holdS, strconv.Itoa(int(talk.Seconds())), strconv.Itoa(c.OrigPos))
	caller = c.snap()
	e.publish(Event{Name: "AgentComplete", Caller: &caller, Dest: &dest, Fields: [][2]string{{"Queue", qname}, {"MemberName", m.MemberName()},
		{"Interface", m.Interface}, {"HoldTime", holdS}, {"TalkTime", strconv.Itoa(int(talk.Seconds()))}, {"Reason", reason}}})
	e.share(Share{Op: "call", Queue: qname, Interface: m.Interface, LastCall: end, Calls: calls})
	if peerFirst && w.opts.goOn {
		ch.SetVar("QUEUESTATUS", "CONTINUE")
	}
	return err
}

// abandon: the caller hung up while waiting or while members rang.
func (w *waiter) abandon() error {
	e, q, c := w.e, w.q, w.c
	now := e.d.Now()
	e.mu.Lock()
	pos := 0
	for i, x := range q.callers {
		if x == c {
			pos = i + 1
		}
	}
	q.abandoned++
	qname := q.cfg.Name
	e.mu.Unlock()
	wait := strconv.Itoa(int(now.Sub(c.Joined).Seconds()))
	e.qlog.write(callID(w.ch), qname, "NONE", "ABANDON", strconv.Itoa(pos), strconv.Itoa(c.OrigPos), wait)
	snap := c.snap()
	e.publish(Event{Name: "QueueCallerAbandon", Caller: &snap, Fields: [][2]string{{"Queue", qname}, {"Position", strconv.Itoa(pos)},
		{"OriginalPosition", strconv.Itoa(c.OrigPos)}, {"HoldTime", wait}}})
	return dialplan.ErrHangup
}

// exit leaves the queue with QUEUESTATUS status, logging event (EXITWITHTIMEOUT, EXITEMPTY).
func (w *waiter) exit(status, event string) error {
	e, q, c := w.e, w.q, w.c
	now := e.d.Now()
	e.mu.Lock()
	pos := 0
	for i, x := range q.callers {
		if x == c {
			pos = i + 1
		}
	}
	qname := q.cfg.Name
	e.mu.Unlock()
	e.qlog.write(callID(w.ch), qname, "NONE", event, strconv.Itoa(pos), strconv.Itoa(c.OrigPos), strconv.Itoa(int(now.Sub(c.Joined).Seconds())))
	w.ch.SetVar("QUEUESTATUS", status)
	return nil
}
