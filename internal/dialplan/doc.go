// Package dialplan is Pleiades' PBX core: extensions.conf contexts, extensions, pattern
// matching, includes, switches and hints (Asterisk's main/pbx.c and pbx/pbx_config.c), the
// executor that runs channels through them, the built-in applications and functions, and
// the CLI commands `dialplan show`, `dialplan reload`, `console dial` and
// `channel originate`.
//
// # Wiring (for internal/core)
//
//	e := dialplan.New(log *slog.Logger, db *astdb.DB) *Engine  // db may be nil
//	e.SetLoader(func(ctx context.Context) (*conf.Config, error)) // what `dialplan reload` reads
//	e.Load(cfg *conf.Config) error      // build + install atomically; nil cfg is the only error
//	e.Commands() []*cli.Command         // register with the CLI registry
//	e.OnLoad(func(*dialplan.Dialplan))  // called after every successful Load (hint engine)
//	e.Close()                           // hang up background (originated) channels, wait
//
//	e.RegisterApp(&dialplan.App{Name, Synopsis, Exec func(ctx, ch *Channel, data string) error,
//	        Escalates bool})
//	e.RegisterFunction(&dialplan.Function{Name, Synopsis,
//	        Read func(ctx, ch *Channel, args string) (string, error),
//	        Write func(ctx, ch *Channel, args, value string) error,
//	        Escalates dialplan.EscalatesRead|EscalatesWrite})
//	e.RegisterSwitch(name string, s dialplan.Switch)      // nil s unregisters
//	e.UnregisterApp(name); e.UnregisterFunction(name)
//	e.LookupApp / LookupFunction / LookupSwitch(name); e.Apps(); e.Functions()
//	e.SetLiveDangerously(on bool)        // asterisk.conf live_dangerously
//
//	ch := dialplan.NewChannel(name, context, exten string, priority int) *Channel
//	ch := e.NewChannel(...)             // bound to e without running (AMI's Getvar/Setvar)
//	ch.InhibitEscalations()             // the channel acts for an external, unprivileged origin
//	err := e.Run(ctx, ch)               // synchronous; nil on a normal end of call
//	err := e.CheckExternal(app, data)   // early answer for an external origin's app and data
//
//	e.SetChannels(reg *channel.Registry) // the server's call legs: Dial() requests through it
//	e.SetSoundsDir(dir string)           // astdatadir/sounds for Playback() and Read()
//	h := e.Handler() func(*channel.Channel) // give to a channel technology: each incoming
//	                                     // leg runs the dialplan in its own goroutine
//	err := e.RunChannel(ctx, leg)        // the same, synchronously (ErrRefused while stopping)
//	e.ChannelCommands() []*cli.Command   // core show channels, core show channel, channel request hangup
//	e.LegChannel(name) *Channel          // the dialplan side of a running leg (its variables)
//	e.ActiveChannels() int               // legs + console/Local channels ("N active channels")
//	res := ch.RingLegs(ctx, dests, RingOptions{Timeout, Ringback, OnLeg}) // Dial's ringing (app_queue)
//	peerFirst, err := ch.BridgeLeg(ctx, res.Answered, goOn) // Dial's answer and bridge
//	err = ch.PlayFiles(ctx, "file1", "file2")                // Playback's playing (announcements)
//
//	e.Exists / CanMatch / MatchMore(ctx, context, exten string, priority int, callerID string) bool
//	e.FindPriority(ctx, context, exten, priorityOrLabel, callerID string) (int, bool)
//	e.Find(ctx, context, exten string, priority int, callerID string) (Found, bool)
//	e.Hints() []Hint;  e.Hint(exten, context string) (Hint, bool)
//	e.Global(name) / e.SetGlobal(name, value)
//
// # Registries
//
// This package's own applications and functions are built-ins, registered once at init
// and seen by every engine. Everything else is registered on an engine (Engine.Register*):
// internal/funcs' DEVICE_STATE(), EXTENSION_STATE(), HINT(), VM_INFO(), rtswitch's REALTIME*
// and switch, func_odbc's functions, internal/moh's MusicOnHold, StartMusicOnHold and
// StopMusicOnHold. They close over one server's engines, so they belong
// to that server's dialplan engine: two engines in one process (tests) do not see each
// other's, and they go with the engine when the module unloads. An engine's own entry
// shadows a built-in of the same name for that engine only. Lookups are safe for
// concurrent use and names are case-insensitive. Applications and functions live here
// rather than in internal/apps: they need the Channel and the executor's jump state.
//
// # Privilege escalation (Asterisk's AST-2014-006 protection, tightened)
//
// A function may escalate on read, on write or both (Function.Escalates), an application
// may escalate (App.Escalates: it runs a shell command or an application its data names).
// A channel that acts for an external, unprivileged origin is marked with
// InhibitEscalations (Asterisk marks the manager's and HTTP server's threads instead): the
// AMI's pseudo-channel for Getvar/Setvar of a user without the system write class, the
// half of an AMI Originate that runs the user's Application (Originate.InhibitEscalations),
// the HTTP API's. Every function read or written and every application run on such a
// channel goes through one check (ReadFunction, WriteFunction, ExecApp), wherever it is
// met: in substituted data, in Set/MSet/SET(), in ExecIf. A refused function logs
// Asterisk's ERROR "Dangerous function NAME read blocked" (or write) and fails with an
// error wrapping ErrEscalation; a refused application logs "Dangerous application NAME
// blocked on channel 'X'". Engine.CheckExternal gives the early answer for an Originate:
// the application, or any NAME( of its data, that escalates. asterisk.conf
// live_dangerously=yes (Engine.SetLiveDangerously; default no) lifts all of it. A call
// that an external origin sends to an extension runs the operator's dialplan and is not
// restricted; a remote console's `channel originate` is not restricted either.
//
// Built-ins that escalate: DB (both), DB_DELETE (read), DB_EXISTS (read: it copies the
// value into DB_RESULT; Asterisk does not mark it), ExecIf. Where Asterisk marks fewer
// (REALTIME, REALTIME_STORE, REALTIME_FIELD, REALTIME_HASH, func_odbc's functions), the
// registering package says why it marks them.
//
// # Structure and speed
//
// A Load builds a new immutable *Dialplan and swaps it in with an atomic.Pointer: lookups
// and running channels never take a lock against a reload; a channel simply sees the new
// dialplan at its next priority. Each context keeps its plain extensions in a map (plus a
// sorted key list for CanMatch/MatchMore prefix scans) and its patterns compiled and sorted in
// Asterisk's order; with more than a few patterns an index by first dialled character narrows
// the patterns tried. Lookup cost therefore does not grow with the number of contexts or
// extensions: about 0.1 µs for a plain extension or a pattern found through an include and
// under 0.5 µs for a miss in a 100,000-extension, 1,000-context dialplan (see bench_test.go),
// without allocating.
//
// # Asterisk behaviour kept
//
//   - Lookup order (pbx_find_extension with extenpatternmatchnew=no, Asterisk's default): the
//     context's extensions in ext_cmp order — every plain extension before every pattern;
//     patterns compared position by position, the smaller character set first, '.' after any
//     set, '!' after '.', and the end of a pattern after everything (so _12XX sorts before
//     _12X) — the first one that matches, whose Caller ID match fits and that has the
//     priority wins (a match without that priority lets later ones answer); then the
//     context's switches; then its includes depth-first in order, each include's time
//     condition checked against the engine clock. A context is searched at most once per
//     lookup, which breaks include loops; depth is bounded at 512. (The Pleiades brief said
//     switches come after includes; Asterisk's code asks them before the includes, and so
//     does Pleiades.) A MatchMore that meets a pattern ending in '!' stops with "no", as in
//     Asterisk.
//   - Extensions with a Caller ID match (exten => 100/_2XX,...) sort before the same name
//     without one; an empty match ("100/") matches only callers without a number.
//   - Dashes in extensions and dialled numbers are ignored; '[' without ']' is warned about
//     and never matches; an empty set is ignored.
//   - extensions.conf: exten/same, priorities number, n, s, hint, n(label), label names, +N;
//     include => ctx[,times,weekdays,mdays,months[,tz]] (or '|'-separated); switch, lswitch,
//     eswitch; ignorepat; [general] static, writeprotect, clearglobalvars, autofallthrough
//     (default yes), userscontext; extenpatternmatchnew is accepted and ignored (Pleiades
//     has one matcher with the documented semantics). ${...} in extension names, includes
//     and switch lines is substituted with the globals at load, as Asterisk does.
//   - Problems never fail a load; they are warned about with file:line (conf.Error shape
//     "file:line: message") and the line is skipped: duplicate priority ("Unable to register
//     extension 's' priority 1 in 't', already in use"), repeated label, bad priority, 'n'
//     on a first line, bad time specs, unknown directives. Pleiades adds a warning for an
//     application that is not registered at load time (the call would hang up there).
//   - Execution: every priority's data is substituted (internal/dialplan/expr) and logged at
//     verbose 3 as `Executing [exten@context:prio] App("Channel", "data") in new stack`;
//     Goto logs `Goto (context,exten,prio)`. A missing priority of an existing extension
//     ends the call with `Auto fallthrough, channel 'X' status is 'S'` (S from DIALSTATUS or
//     UNKNOWN); an extension that does not exist goes to "i" (setting INVALID_EXTEN), else
//     "e", else the call ends with Asterisk's warning. An unknown application logs
//     "No application 'X' for extension (ctx, exten, prio)" (a WARNING, as in Asterisk) and
//     hangs up; Run returns ErrNoApp.
//   - Variables: channel variables and globals are case-sensitive; EXTEN, CONTEXT, PRIORITY,
//     CHANNEL, UNIQUEID are built in and read first, EPOCH last. Set(_X=..)/Set(__X=..)
//     store X (there are no child channels to inherit yet). Set(NAME(args)=v) writes a
//     function; Set(X=) unsets X.
//   - Gosub pushes a frame; ARG1..ARGn and ARGC are LOCAL to it (ARGs of the caller beyond n
//     are blanked), LOCAL(x) saves x's previous value, Return([v]) restores them, sets
//     GOSUB_RETVAL and returns to the priority after the Gosub.
//
// # Where Pleiades differs or clarifies
//
//   - Runaway loops: a channel that executes Engine.MaxSteps priorities (DefaultMaxSteps,
//     100,000) without calling Wait() is hung up with an ERROR log and Run returns
//     ErrLoopBound. Asterisk has no such bound and spins a CPU forever on
//     "exten => s,1,Goto(s,1)". Applications that really wait call Channel.ResetSteps.
//   - "App,data" without parentheses is accepted as App with data (Asterisk would look for an
//     application called "App,data").
//   - autofallthrough=no: Asterisk would wait for more digits; channels here carry no media,
//     so the call ends the same way, logged as "No more priorities ...".
//   - Hints(): the hints of plain extensions (pattern hints only exist for a lookup, as
//     Asterisk creates them on subscription); Hint(exten, context) follows includes and
//     patterns like a call would. Realtime hints will come from the Realtime switch.
//   - `dialplan show` lists contexts in load order (Asterisk's order after a fresh load),
//     extensions in lookup order, files by base name with line.
//   - `console dial` runs channel Console/dsp synchronously; when the console that asked
//     does not receive verbose-3 log lines itself (no session, e.g. `pleiades -rx`, or a
//     session below verbose 3), the channel's log lines are also written to the command's
//     output, so `pleiades -rx "console dial check@devstate_test"` prints the Executing lines.
//   - `channel originate Local/exten@context application App data|extension exten@context`
//     (and Engine.Originate) starts a Local channel in the background and returns at once:
//     ";2" runs x@c, and "Local/x@c-0000000N;1" runs the application or extension once ;2
//     answers (Answer()), as Asterisk dials the channel first. The dial fails, and ;1 never
//     runs, when ;2's dialplan ends without answering (DialFailed, Asterisk's reason 0),
//     runs Busy() (DialBusy, 5) or Congestion() (DialCongestion, 8), or does not answer
//     within Originate.Timeout (default 30 s; DialNoAnswer, 3); a failed dial hangs ;2 up.
//     Originate.Dialled tells the outcome (the AMI's Originate waits for it). After the
//     answer the Local halves are not bridged and run independently (Local channels carry
//     no media): one ending does not hang the other up. Any other technology the registry
//     has ("channel originate SIP/alice extension 100@ctx", AMI Originate) is requested and
//     called as pbx_outgoing does: on the answer within the timeout the application or the
//     extension runs on the leg (then hung up with its cause); busy (5), congestion (8), no
//     answer (3) or a failure (0) is reported through Dialled and the leg hung up.
//   - Busy([timeout]) and Congestion([timeout]) make an unanswered channel Busy (HANGUPCAUSE
//     17 or 34) and end the call after timeout seconds, or at once without one (Asterisk
//     waits for the caller to hang up, which the dial of an originate does at once; a
//     channel here has no caller that could). Ringing() makes it Ringing.
//   - The engine counts its running channels (ActiveCalls: console dial, each half of an
//     originated call) and, while the server shuts down gracefully, refuses new ones
//     (RefuseNewCalls; console dial and Originate fail with ErrRefused): it is the server's
//     CallCounter (internal/core), what `core stop gracefully` waits on.
//   - Functions that fail (unknown function, bad arguments) expand to "" and are logged as a
//     warning naming the priority's file:line.
//
// # Real call legs (RunChannel)
//
// A call leg of internal/channel (a SIP call) runs the same executor through a Channel
// bound to it (Channel.Leg): its name and unique ID are the leg's, CALLERID() reads and
// writes the leg's caller ID (NewCallerid), the location and application are copied to the
// leg before each priority (core show channels, AMI), and a variable the dialplan does not
// have is looked up as a string value the technology attached to the leg (SIPCALLID,
// leg.Set("SIPCALLID", id)). The leg's hangup (far end BYE/CANCEL, a soft hangup) cancels
// the running application's context. Choices where Asterisk spreads the work elsewhere:
//
//   - Counting: each leg running the dialplan is a call (ActiveCalls, refused with
//     NORMAL_CIRCUIT_CONGESTION, SIP 503, while the server stops); outgoing legs Dial made
//     are channels but not calls, as Asterisk counts PBX threads.
//   - A start extension that does not exist is refused before the dialplan as chan_sip does
//     (UNALLOCATED, 404; INVALID_NUMBER_FORMAT, 484, when more digits could match); an empty
//     extension starts at "s" (pbx.c).
//   - The cause of the hangup: the far end's; else Hangup(cause) or HANGUPCAUSE; BUSY
//     (17) or congestion (34) after a Dial that failed so when the dialplan falls through
//     (pbx.c's autofallthrough, without its 10 s wait); UNALLOCATED for an invalid
//     extension with no "i"; else NORMAL_CLEARING. The "h" extension runs first, with
//     HANGUPCAUSE set.
//   - Dial(Tech/a&Tech/b[,timeout[,options]]) is app_dial's: legs requested through the
//     registry (a refused request counts by its cause), DialBegin per leg before its Call,
//     the callee's ringing passed once to the caller (r: at once instead), progress passed
//     as progress; the first answer wins: DialEnd CANCEL for the others, then DialEnd
//     ANSWER, the others hung up with ANSWERED_ELSEWHERE (26), the caller answered and both
//     joined in a channel.Bridge (RTP relayed by internal/media) until one hangs up: the
//     callee is hung up with the caller's cause; a callee hangup ends the call unless g.
//     DIALSTATUS: ANSWER; CANCEL when the caller hangs up; NOANSWER at the timeout or when
//     every leg ended without a busy/congestion/unavailable cause; else BUSY, CONGESTION or
//     CHANUNAVAIL when all failed so (app_dial's handle_cause and precedence;
//     DialStatusOfCause is ast_hangup_cause_to_dial_status); CHANUNAVAIL when no leg could
//     be requested. DIALEDPEERNAME, DIALEDPEERNUMBER and HANGUPCAUSE are set. Outgoing legs
//     show AppDial((Outgoing Line)) and inherit the caller's extension and, when they have
//     none, its CHANNEL(musicclass). Early media: a single callee's progress (SIP 183 with
//     SDP) is passed on to the caller and, as app_dial's wait_for_answer forwards a single
//     callee's voice frames, the two RTP sessions are relayed (media.Bridge) from then until
//     the answer or the end of the dial (not with r or m, nor with several callees; RingLegs,
//     app_queue's ringing, relays none). Option
//     m[(class)]: the caller hears music on hold (progress, then the music as early media;
//     no ringing passed on) until the answer or the end of the dial, through the registry's
//     channel.MusicOnHold (internal/moh); without one the caller gets progress and silence.
//     The options other than r, g and m are ignored.
//   - Playback(f1&f2[,skip|noanswer]) answers first (unless noanswer; skip does nothing on
//     a leg not up) and plays each file with media.Session.PlayFile from the sounds
//     directory (sounds/<lang>/name.<fmt>, then sounds/name.<fmt>: wav, sln, ulaw, alaw...);
//     PLAYBACKSTATUS SUCCESS or FAILED. Echo() echoes audio and DTMF until '#'. Read()
//     collects DTMF the technology queued as frames (RFC 4733), the prompt stopped by the
//     first digit, '#' ending the input, READSTATUS as app_read. SendDTMF() sends each digit
//     through the technology (RFC 4733), 'w'/'W' pausing. Busy()/Congestion() indicate the
//     condition: before an answer that is the final response (SIP 486/503) and the call
//     ends with cause 17/34 (chan_sip hangs up after it); after one they wait for the
//     hangup or their timeout; Ringing() and
//     Progress() indicate 180/183; Answer() answers through the technology.
//   - Record(name.format[,silence[,maxduration[,options]]]) (record.go) records the caller
//     with media.Session.Record to name.wav (or .sln/.raw: headerless 16-bit linear; other
//     formats are refused with RECORD_STATUS ERROR) under the sounds directory unless the
//     name is absolute, "%d" numbered; '#' ends it ('*' with t, any digit with y, none with
//     x), silence seconds of silence (threshold 256, dsp.conf's default), maxduration
//     seconds; beep first unless q; n/s as Playback; the file is dropped on a hangup unless
//     k. RECORD_STATUS DTMF, SILENCE, TIMEOUT, HANGUP, SKIP or ERROR; RECORDED_FILE.
//   - On a console or Local channel (no leg) Playback only checks the files exist, Read
//     fails (READSTATUS ERROR), Echo waits, and Dial waits for the answered callee to hang
//     up (there is no media to bridge).
//
// Functions: LEN, IF, IFTIME, ISNULL, EXISTS, CUT, FIELDQTY, FILTER, REGEX, TOUPPER, TOLOWER,
// GLOBAL, LOCAL, DB, DB_EXISTS (sets DB_RESULT), DB_DELETE, CALLERID(num|name|all), SET,
// STRFTIME, EPOCH, RAND, CHANNEL (musicclass read and written — on a leg, the leg's class that
// music on hold reads —; language, name, uniqueid, linkedid, state, channeltype read; any
// other item fails with func_channel's "unknown or unavailable item requested"). Applications: Answer, Hangup, NoOp, Verbose, Log, Set, MSet, Goto,
// GotoIf, GotoIfTime, Gosub, GosubIf, Return, ExecIf, While, EndWhile, ExitWhile,
// ContinueWhile, Wait, Busy, Congestion, Ringing, Progress, Playback, Echo, SendDTMF, Read,
// Record, Dial (VoiceMail and VoiceMailMain come from package voicemail).
package dialplan
