// Package queue is Pleiades' call queues: Asterisk's app_queue on queues.conf and the
// realtime families queues and queue_members, with member availability taken from the
// cluster-wide device state.
//
// # Wiring (for internal/core)
//
//	e := queue.New(queue.Deps{Log, Devices: devstateEngine, Realtime: rtEngine, DB: astdb,
//	        LogDir: astlogdir, AMI: func(queue.Event), Share: func(queue.Share),
//	        CDR: cdrEngine})                  // updatecdr: SetDstChannel (internal/cdr)
//	sub := bus.Subscribe(..., event.KindDeviceStateChange, -> e.DeviceChanged(dev, st))
//	cfg, err := queue.Parse(queuesConf, log)  // conf.ErrorList, every error file:line
//	e.Apply(cfg)                              // load and reload (after the subscription)
//	e.Register(dialplanEngine)                // Queue(), AddQueueMember()... QUEUE_MEMBER()...
//	cli.MustRegister(e.Commands(reload)...)   // queue show/add/remove/pause/unpause/reload
//	e.ApplyShare(share)                       // a member change from another server
//	queue.MusicOnHold = func(ctx, ch, class) error // music for waiting callers (internal/moh)
//	e.Close()
//
// # queues.conf
//
// [general]: persistentmembers (default no: dynamic members are kept in astdb family
// Queue/PersistentMembers, key the queue, value Asterisk 16+'s JSON array of {interface,
// penalty, paused, membername, state_interface, reason_paused, wrapuptime}, the older
// "interface;penalty;paused;membername;state_interface|..." read too, and come back at
// start), autofill
// (default no), shared_lastcall (default no: a member's last call and calls taken are shared by
// all its queues, and the wrapuptime of the queue the last call came through applies in
// each, as Asterisk's lastqueue), updatecdr (default no; yes: when a member answers, the
// caller's CDR has the member's membername, or its interface without one, as dstchannel in
// place of the member's channel, told to the CDR engine through Deps.CDR; app_queue's option
// up to Asterisk 11, accepted and ignored by Asterisk 12 to 20),
// log_membername_as_agent; monitor-type is ignored with a NOTICE (Pleiades does not record
// queue calls); other Asterisk [general] keys are accepted, unknown ones warned about.
//
// A queue: strategy (ringall, leastrecent, fewestcalls, random, rrmemory, rrordered, linear,
// wrandom; roundrobin reads as rrmemory), timeout (15), retry (5), wrapuptime, maxlen,
// weight, servicelevel, joinempty/leavewhenempty (a list of penalty, paused, inuse, ringing,
// unavailable, invalid, unknown, wrapup; loose, strict, yes, no as Asterisk reads them),
// ringinuse (yes), autofill, announce-frequency, periodic-announce (',' or '|' list),
// periodic-announce-frequency, relative-periodic-announce, random-periodic-announce,
// announce-position (yes, no, limit, more),
// announce-position-limit (10), announce-position-only-up, min-announce-frequency (15),
// announce-holdtime (yes, no, once), announce-round-seconds (0, 5, 10, 15, 20 or 30),
// announce-to-first-user, the sound names queue-youarenext, queue-thereare,
// queue-callswaiting, queue-quantity1, queue-quantity2, queue-holdtime, queue-minute,
// queue-minutes, queue-seconds, queue-thankyou, queue-reporthold, queue-callerannounce,
// reportholdtime, memberdelay, autopause (yes, no, all), autopausedelay, autopausebusy,
// autopauseunavail, musicclass (or musiconhold; default "default"), announce, context,
// setqueuevar, and `member => interface[,penalty[,membername[,state_interface[,ringinuse]]]]`.
// Asterisk's other queue settings (member macros and gosubs, recording, ...) are accepted
// and have no effect yet;
// an unknown setting, a bad number or boolean, a member line that is not
// Technology/resource, a member given twice and a queue defined twice are errors naming
// file:line, and a reload with an error keeps the running queues. Realtime columns are read
// with '_' as '-' (announce_frequency), as Asterisk does.
//
// # Realtime queues
//
// A queue that queues.conf does not define is looked up in the realtime family "queues"
// (one Load by name) and its members in "queue_members" (one LoadMulti by queue_name); the
// result is cached for Deps.RealtimeTTL (5 s) and dropped at once on a realtime change of
// either family (PostgreSQL NOTIFY, "realtime invalidate", the cluster). So a member row added
// in the database is rung without a reload within the TTL (at once with notifications), and
// "queue show" costs at most one LoadMulti of the queue list plus two queries per realtime
// queue per TTL however often it runs (Asterisk re-reads every realtime queue on each "queue
// show"). A row's paused column pauses a realtime member (reason_paused its reason). A pause
// made at run time (PauseQueueMember, AMI QueuePause, the CLI, autopause) is written back to
// the member's row by its uniqueid (paused 1/0 and reason_paused; paused alone for a table
// without that column), as Asterisk's set_member_paused does, before it takes effect: when
// the row cannot be written the member is not paused (a warning says so). Dynamic members
// added to a realtime queue are kept across re-reads.
//
// # The member choice (strategy.go)
//
// Choose is a pure function over Candidates in member order (config order, realtime rows in
// their order, then dynamic members in the order they were added). A member may be rung when
// it is not paused, not in wrapuptime after its last call, not already rung or talking
// through this queue, its device (state_interface, else interface) neither INVALID nor
// UNAVAILABLE, and, when ringinuse is off (queue or member), its device NOT_INUSE or UNKNOWN
// (INUSE, BUSY, RINGING, RINGINUSE and ONHOLD skip it). Among those, the penalty counts first
// (the lowest tier rings), then the strategy: ringall rings the whole tier; leastrecent the
// member whose last call ended longest ago (never first); fewestcalls the fewest calls taken;
// random a uniform draw; wrandom a draw in [0,(penalty+1)·1000) for each member, lowest wins
// (penalty weighs the draw instead of forming tiers, as Asterisk's wrandom); rrmemory and
// rrordered the first member after the one who answered last, wrapping (the two are the same
// here: Pleiades keeps config order on reload, which is what rrordered adds); linear the first
// in member order. weight: a member of several queues is not rung for a queue while one of
// higher weight has callers waiting. Where Asterisk is unclear, Pleiades chose: a caller's attempts go round
// the members (a member rung in vain is not rung again for that caller until every member
// that could be was tried), so leastrecent, fewestcalls and random move on to the next member
// instead of ringing the same one again.
//
// # Queue()
//
// Queue(queuename[,options[,URL[,announceoverride[,timeout]]]]): options r (ringing instead
// of music on hold), n (no retry: leave after one round of ringing, QUEUESTATUS TIMEOUT,
// queue_log EXITWITHTIMEOUT), c
// (continue in the dialplan when the member hangs up, QUEUESTATUS CONTINUE); announceoverride
// replaces announce for this caller; other options, the URL and the AGI/gosub/rule/position
// arguments are accepted and ignored. Joining: an unknown queue sets QUEUESTATUS UNKNOWN; maxlen reached FULL;
// joinempty's conditions met by every member JOINEMPTY (no member at all) or JOINUNAVAIL.
// Waiting: the caller hears MusicOnHold's class (the queue's musicclass) or, without the
// hook or with r, ringing; with music, periodic-announce's files are played in turn (at
// random with random-periodic-announce) every periodic-announce-frequency seconds from the
// start of the last one (from its end with relative-periodic-announce) while no member rings
// (the music stops meanwhile,
// dialplan.Channel.PlayFiles; a caller who hears ringing gets none, as the leg may not be
// answered), and position announcements as app_queue's say_position (announce.go): with
// announce-frequency set, at once on joining, again when the caller's place changed (not
// within min-announce-frequency of the last one; with announce-position-only-up only when it
// improved) and every announce-frequency seconds. One says queue-youarenext to the head of
// the line, else queue-thereare N queue-callswaiting (announce-position yes; limit: only
// within announce-position-limit; more: beyond it queue-quantity1 LIMIT queue-quantity2),
// then, not to the head, with announce-holdtime (once: the first announcement only) and an
// estimate above zero, queue-holdtime M queue-minute(s) S queue-seconds, the estimate being
// Asterisk's: the queue's hold time (an exponential average, each connected caller's wait
// weighing a quarter: the hold time "queue show", QueueParams, QueueSummary and
// QUEUE_VARIABLES report, with the talk time averaged the same way) plus 30 s less the caller's wait, whole minutes toward zero then made
// positive, seconds rounded down to announce-round-seconds (0: none); then queue-thankyou
// when the place was said. Numbers are digits/ files (English, ast_say_number), an empty
// sound name is left out. The head of the line hears its announcement only after a retry
// period as the head (between rounds of ringing in Asterisk's loop). With
// announce-to-first-user a caller also gets its position and periodic announcements while
// members ring for it (wait_for_answer's), the head of the line at once. The head of the line rings members (with autofill, as many
// callers as there are members that could be rung). Members ring through the dialplan's
// Dial machinery (Channel.RingLegs: DialBegin/DialEnd, first answer wins, the others
// cancelled) for timeout seconds, then retry seconds pass before the next attempt. The first
// to answer is bridged with the caller (Channel.BridgeLeg) and the caller leaves the line;
// before the bridge, as try_calling: memberdelay seconds, then the member hears announce (or
// announceoverride; '&' joins files) and, with reportholdtime, queue-reporthold and the
// caller's wait (M queue-minutes, S queue-seconds when over 1 s) (Channel.PlayFilesToLeg),
// the caller still hearing its music; then the caller hears queue-callerannounce.
// autopause (app_queue's rna): each member rung in vain is paused with reason Auto-Pause,
// in this queue (yes) or in all its queues (all, queue_log PAUSEALL first), through Pause;
// a leg that ended busy only with autopausebusy, congested or unreachable only with
// autopauseunavail, a member whose leg could not be made not at all, nor one whose last call
// ended less than autopausedelay seconds ago. The
// Queue timeout argument ends the wait with QUEUESTATUS TIMEOUT; leavewhenempty's conditions
// end it with LEAVEEMPTY or LEAVEUNAVAIL. A caller who hangs up while members ring stops
// their ringing (CANCEL) and is logged as ABANDON. MEMBERINTERFACE and MEMBERNAME are set on
// the caller after a connect.
//
// AddQueueMember(queue[,interface[,penalty[,options[,membername[,stateinterface]]]]])
// (AQMSTATUS ADDED, MEMBERALREADY, NOSUCHQUEUE), RemoveQueueMember(queue[,interface])
// (RQMSTATUS REMOVED, NOTINQUEUE, NOSUCHQUEUE, NOTDYNAMIC), PauseQueueMember([queue],
// interface[,options[,reason]]) (PQMSTATUS PAUSED, NOTFOUND; no queue: every queue),
// UnpauseQueueMember (UPQMSTATUS), QueueLog(queue,uniqueid,agent,event[,additionalinfo]);
// QUEUE_MEMBER(queue,logged|free|ready|count|penalty|paused|ringinuse[,interface]),
// QUEUE_MEMBER_COUNT(queue) (= logged), QUEUE_WAITING_COUNT(queue), QUEUE_VARIABLES(queue)
// (sets QUEUENAME, QUEUEMAX, QUEUESTRATEGY, QUEUECALLS, QUEUEHOLDTIME, QUEUETALKTIME,
// QUEUECOMPLETED, QUEUEABANDONED, QUEUESRVLEVEL, QUEUESRVLEVELPERF; setqueuevar=yes sets
// them when a caller leaves).
//
// # queue_log
//
// astlogdir/queue_log, Asterisk's format: time|callid|queue|agent|event|data... with QUEUESTART
// at load, ENTERQUEUE (url|callerid|position), CONNECT (holdtime|member's uniqueid|ringtime),
// COMPLETECALLER/COMPLETEAGENT (holdtime|calltime|origposition), ABANDON and EXITWITHTIMEOUT,
// EXITEMPTY (position|origposition|waittime), RINGNOANSWER (ringtime in ms), RINGCANCELED,
// ADDMEMBER, REMOVEMEMBER (callid the channel's unique ID, MANAGER or CLI; agent the
// interface, or the member name with log_membername_as_agent), PAUSE/UNPAUSE (callid NONE;
// reason), PAUSEALL/UNPAUSEALL (queue NONE) before them when no queue was named. '|' and line ends inside a field become
// '_'. With a realtime "queue_log" mapping each line is also stored there (time, callid,
// queuename, agent, event, data1..data5) by a background writer.
//
// # Across the cluster
//
// A member's availability is its device's cluster-wide aggregate: busy on any server, it is
// not rung. Pauses, dynamic adds and removals and a member's last call (for leastrecent,
// fewestcalls and wrapuptime) are sent as Shares to the servers that have a queue of the
// same name (Deps.Share; ApplyShare takes them, without sending them on). A server whose
// queues load, or that sees another server join, sends a SyncRequest; every server answers
// with its state (Resync: dynamic members, pauses, last calls), applied only where it changes
// something. The states are united: a dynamic member removed on one server while another was
// cut off comes back when they meet again.
//
// # AMI
//
// Events (class agent), with the fields of Asterisk 20: QueueCallerJoin (Queue, Position,
// Count), QueueCallerLeave (Queue, Count, Position), QueueCallerAbandon (Queue, Position,
// OriginalPosition, HoldTime), AgentCalled, AgentConnect (RingTime, HoldTime),
// AgentComplete (HoldTime, TalkTime, Reason caller|agent), AgentRingNoAnswer (RingTime in ms),
// after the caller's channel fields and the member's leg's as Dest* (RingOptions.OnLeg tells
// the queue of each leg the Dial machinery makes); QueueMemberStatus,
// QueueMemberAdded, QueueMemberRemoved, QueueMemberPause with Queue, MemberName, Interface,
// StateInterface, Membership, Penalty, CallsTaken, LastCall, LastPause, LoginTime, InCall,
// Status, Paused, PausedReason, Ringinuse, Wrapuptime; QueueMemberPenalty (the same fields,
// as Asterisk 20). Actions (package
// ami, over core's QueueBackend): QueueStatus (QueueParams, QueueMember, QueueEntry items),
// QueueSummary, QueueAdd, QueueRemove, QueuePause, QueuePenalty, QueueReload.
//
// # Not yet
//
// Announcements in languages other than English (numbers are said the English way), a
// digit to leave the queue (context), queue rules.
package queue
