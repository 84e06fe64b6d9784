package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/pleiades-pbx/pleiades/internal/dialplan"
	"github.com/pleiades-pbx/pleiades/internal/state"
)

// channelDevice is the device of a channel name ("SIP/alice-00000001" -> "SIP/alice"), the
// default interface of AddQueueMember and the pause applications.
func channelDevice(name string) string {
	if i := strings.LastIndexByte(name, '-'); i > strings.IndexByte(name, '/') && i > 0 {
		return name[:i]
	}
	return name
}

// appAddMember is AddQueueMember(queuename[,interface[,penalty[,options[,membername[,stateinterface]]]]]);
// AQMSTATUS ADDED, MEMBERALREADY or NOSUCHQUEUE.
func (e *Engine) appAddMember(ctx context.Context, ch *dialplan.Channel, data string) error {
	arg := argsOf(data)
	if arg(0) == "" {
		ch.Logf(slog.LevelWarn, "AddQueueMember requires an argument (queuename[,interface[,penalty[,options[,membername[,stateinterface]]]]])")
		return errors.New("AddQueueMember without a queue")
	}
	mc := MemberConfig{Interface: arg(1), Name: arg(4), StateInterface: arg(5)}
	if mc.Interface == "" {
		mc.Interface = channelDevice(ch.Name)
	}
	if p := arg(2); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			ch.Logf(slog.LevelWarn, "Penalty '%s' is invalid, must be an integer >= 0", p)
		} else {
			mc.Penalty = n
		}
	}
	err := e.AddMember(ctx, arg(0), mc, callID(ch))
	switch {
	case err == nil:
		ch.Verbosef(3, "Added interface '%s' to queue '%s'", mc.Interface, arg(0))
		ch.SetVar("AQMSTATUS", "ADDED")
	case errors.Is(err, ErrMemberExists):
		ch.Logf(slog.LevelWarn, "Unable to add interface '%s' to queue '%s': Already there", mc.Interface, arg(0))
		ch.SetVar("AQMSTATUS", "MEMBERALREADY")
	case errors.Is(err, ErrNoSuchQueue):
		ch.Logf(slog.LevelWarn, "Unable to add interface to queue '%s': No such queue", arg(0))
		ch.SetVar("AQMSTATUS", "NOSUCHQUEUE")
	default:
		ch.Logf(slog.LevelWarn, "Unable to add interface '%s' to queue '%s': %v", mc.Interface, arg(0), err)
		ch.SetVar("AQMSTATUS", "NOSUCHQUEUE")
	}
	return nil
}

// appRemoveMember is RemoveQueueMember(queuename[,interface]); RQMSTATUS REMOVED,
// NOTINQUEUE, NOSUCHQUEUE or NOTDYNAMIC.
func (e *Engine) appRemoveMember(ctx context.Context, ch *dialplan.Channel, data string) error {
	arg := argsOf(data)
	if arg(0) == "" {
		ch.Logf(slog.LevelWarn, "RemoveQueueMember requires an argument (queuename[,interface])")
		return errors.New("RemoveQueueMember without a queue")
	}
	iface := arg(1)
	if iface == "" {
		iface = channelDevice(ch.Name)
	}
	err := e.RemoveMember(ctx, arg(0), iface, callID(ch))
	switch {
	case err == nil:
		ch.Verbosef(3, "Removed interface '%s' from queue '%s'", iface, arg(0))
		ch.SetVar("RQMSTATUS", "REMOVED")
	case errors.Is(err, ErrNoSuchMember):
		ch.Logf(slog.LevelWarn, "Unable to remove interface '%s' from queue '%s': Not there", iface, arg(0))
		ch.SetVar("RQMSTATUS", "NOTINQUEUE")
	case errors.Is(err, ErrNotDynamic):
		ch.Logf(slog.LevelWarn, "Unable to remove interface '%s' from queue '%s': Not dynamic", iface, arg(0))
		ch.SetVar("RQMSTATUS", "NOTDYNAMIC")
	default:
		ch.Logf(slog.LevelWarn, "Unable to remove interface from queue '%s': No such queue", arg(0))
		ch.SetVar("RQMSTATUS", "NOSUCHQUEUE")
	}
	return nil
}

// appPause is PauseQueueMember([queuename],interface[,options[,reason]]) (PQMSTATUS PAUSED
// or NOTFOUND) and UnpauseQueueMember (UPQMSTATUS UNPAUSED or NOTFOUND).
func (e *Engine) appPause(ctx context.Context, ch *dialplan.Channel, data string, paused bool) error {
	arg := argsOf(data)
	app, v, ok := "UnpauseQueueMember", "UPQMSTATUS", "UNPAUSED"
	if paused {
		app, v, ok = "PauseQueueMember", "PQMSTATUS", "PAUSED"
	}
	if arg(1) == "" {
		ch.Logf(slog.LevelWarn, "%s requires an argument ([queuename],interface[,options][,reason])", app)
		return errors.New(app + " without an interface")
	}
	if err := e.Pause(ctx, arg(0), arg(1), paused, arg(3)); err != nil {
		ch.Logf(slog.LevelWarn, "Attempt to %s interface %s, not found", strings.ToLower(strings.TrimSuffix(app, "QueueMember")), arg(1))
		ch.SetVar(v, "NOTFOUND")
		return nil
	}
	ch.SetVar(v, ok)
	return nil
}

// appQueueLog is QueueLog(queuename,uniqueid,agent,event[,additionalinfo]): additionalinfo's
// '|'-separated parts are the line's data fields.
func (e *Engine) appQueueLog(_ context.Context, ch *dialplan.Channel, data string) error {
	arg := argsOf(data)
	if arg(0) == "" || arg(1) == "" || arg(2) == "" || arg(3) == "" {
		ch.Logf(slog.LevelWarn, "QueueLog requires arguments (queuename,uniqueid,agent,event[,additionalinfo])")
		return nil
	}
	var extra []string
	if a := arg(4); a != "" {
		extra = strings.Split(a, "|")
	}
	e.qlog.write(arg(1), arg(0), arg(2), arg(3), extra...)
	return nil
}

// funcQueueMember is QUEUE_MEMBER(queuename,option[,interface]): option logged, free,
// ready, count (numbers of members), or penalty, paused, ringinuse of interface.
func (e *Engine) funcQueueMember(ctx context.Context, _ *dialplan.Channel, args string) (string, error) {
	arg := argsOf(args)
	if arg(0) == "" || arg(1) == "" {
		return "", fmt.Errorf("QUEUE_MEMBER: missing argument in QUEUE_MEMBER(queuename,option[,interface])")
	}
	q, err := e.queue(ctx, arg(0))
	if err != nil {
		return "", fmt.Errorf("QUEUE_MEMBER: queue %s not found", arg(0))
	}
	now := e.d.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	opt := strings.ToLower(arg(1))
	switch opt {
	case "logged", "free", "ready", "count":
		n := 0
		for _, m := range q.members {
			c := e.candidate(q, m, now, nil)
			logged := c.State != state.Unavailable && c.State != state.Invalid
			free := logged && !m.Paused && !m.InCall && (c.State == state.NotInUse || c.State == state.Unknown)
			switch {
			case opt == "count",
				opt == "logged" && logged,
				opt == "free" && free,
				opt == "ready" && free && !c.InWrapup:
				n++
			}
		}
		return strconv.Itoa(n), nil
	case "penalty", "paused", "ringinuse":
		m := q.member(arg(2))
		if arg(2) == "" || m == nil {
			return "", fmt.Errorf("QUEUE_MEMBER: invalid interface %q for queue %s", arg(2), arg(0))
		}
		switch opt {
		case "penalty":
			return strconv.Itoa(m.Penalty), nil
		case "paused":
			return boolNum(m.Paused), nil
		}
		r := q.cfg.RingInUse
		if m.RingInUse != nil {
			r = *m.RingInUse
		}
		return boolNum(r), nil
	}
	return "", fmt.Errorf("QUEUE_MEMBER: invalid option %q", arg(1))
}

// funcWaitingCount is QUEUE_WAITING_COUNT(queuename): callers waiting ("0" for an unknown
// queue, with a warning, as Asterisk).
func (e *Engine) funcWaitingCount(ctx context.Context, ch *dialplan.Channel, args string) (string, error) {
	name := strings.TrimSpace(args)
	if name == "" {
		return "0", fmt.Errorf("QUEUE_WAITING_COUNT requires an argument: queuename")
	}
	q, err := e.queue(ctx, name)
	if err != nil {
		ch.Logf(slog.LevelWarn, "queue %s was not found", name)
		return "0", nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return strconv.Itoa(len(q.callers)), nil
}

// queueVars sets QUEUENAME, QUEUEMAX, QUEUESTRATEGY, QUEUECALLS, QUEUEHOLDTIME,
// QUEUETALKTIME, QUEUECOMPLETED, QUEUEABANDONED, QUEUESRVLEVEL and QUEUESRVLEVELPERF on ch
// (QUEUE_VARIABLES(), setqueuevar=yes).
func (e *Engine) queueVars(ch *dialplan.Channel, q *Queue) {
	e.mu.Lock()
	sl := 0.0
	if q.completed > 0 {
		sl = 100 * float64(q.completedInSL) / float64(q.completed)
	}
	vars := [][2]string{
		{"QUEUENAME", q.cfg.Name}, {"QUEUEMAX", strconv.Itoa(q.cfg.MaxLen)}, {"QUEUESTRATEGY", q.cfg.Strategy.String()},
		{"QUEUECALLS", strconv.Itoa(len(q.callers))}, {"QUEUEHOLDTIME", strconv.Itoa(q.avgHold)},
		{"QUEUETALKTIME", strconv.Itoa(q.avgTalk)}, {"QUEUECOMPLETED", strconv.Itoa(q.completed)},
		{"QUEUEABANDONED", strconv.Itoa(q.abandoned)}, {"QUEUESRVLEVEL", strconv.Itoa(q.cfg.ServiceLevel)},
		{"QUEUESRVLEVELPERF", fmt.Sprintf("%2.1f", sl)},
	}
	e.mu.Unlock()
	for _, v := range vars {
		ch.SetVar(v[0], v[1])
	}
}

// funcQueueVariables is QUEUE_VARIABLES(queuename): it sets the QUEUE* variables on the
// channel and reads "0" ("-1" for an unknown queue).
func (e *Engine) funcQueueVariables(ctx context.Context, ch *dialplan.Channel, args string) (string, error) {
	name := strings.TrimSpace(args)
	if name == "" {
		return "", fmt.Errorf("QUEUE_VARIABLES requires an argument: queuename")
	}
	q, err := e.queue(ctx, name)
	if err != nil {
		ch.Logf(slog.LevelWarn, "queue %s was not found", name)
		return "-1", nil
	}
	e.queueVars(ch, q)
	return "0", nil
}
