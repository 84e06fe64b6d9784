// Package ami is Pleiades' Asterisk Manager Interface (AMI) server, the counterpart of
// Asterisk's main/manager.c, res/res_manager_devicestate.c, res/res_mwi_external_ami.c and the
// AMI parts of main/db.c and main/extension_state.c. Operator panels, CRMs and AMI client
// libraries written for Asterisk 22 work unchanged: the wire format, field names and field
// order are Asterisk 22's (see /work/shared/spec/ami.md and the golden transcripts in
// testdata/golden).
//
// # Lifecycle (for the lead)
//
//	srv := ami.New(log, cliRegistry, astdb, backend)   // backend: an adapter over the engines
//	srv.SetUserSource(us)                              // optional: realtime family "manager"
//	srv.SetReloader(func(ctx) error { ...; return srv.Configure(cfg) }) // "manager reload"
//	err := srv.Configure(managerConf)                  // parse + validate all, then apply
//	err = srv.Start(ctx)                               // listen when [general] enabled=yes
//	reg.MustRegister(srv.Commands()...)                // manager show connected/users/user/commands/queues, manager reload
//	srv.Publish(ami.DeviceStateChangeEvent(dev, state.InUse))
//	srv.Addr(); srv.Stats(); srv.Close()
//
// Configure collects every error of manager.conf (file:line, as a conf.ErrorList) and then
// applies nothing; the running configuration stays. A good configuration is applied at once:
// new logins use the new users; logged-in sessions keep the permissions and filters they
// logged in with (as in Asterisk); a changed bindaddr/port opens the new listener before
// closing the old one (existing sessions stay connected); enabled=no closes the listener.
//
// # Wire format
//
// Banner "Asterisk Call Manager/11.0.0\r\n" (AMI 11.0.0, as Asterisk 22; Version). Packets
// are "Key: Value\r\n" lines ended by an empty line; a bare LF is accepted on input, a NUL
// ends a line's content and an empty line ends a packet, as in Asterisk. ActionID is echoed
// on every response and list item, where Asterisk puts it. Responses: Success, Error,
// Goodbye (Logoff); Command uses Asterisk 22's shape (Response, Message: Command output
// follows, one Output: line per line of CLI output; Response: Error when the command
// failed). Lists: "EventList: start" response, items, "<Name>Complete" with
// "EventList: Complete" and "ListItems: N". Events: Event, Privilege ("call,all"),
// Timestamp (timestampevents=yes, unix.microseconds), SystemName (when asterisk.conf sets
// one), then the fields in the order given to Publish. CR/LF inside a value is replaced by
// a space so that no value can break the framing.
//
// # Limits (hostile or broken clients)
//
//   - Lines longer than MaxLineLength (8 KiB; Asterisk: 1 KiB) are discarded in pieces and
//     the packet is answered "Failed to parse message: line too long"; a packet of more than
//     MaxHeaders (128) lines gets "Too many lines in message or allocation failure". A 1 MB
//     line therefore costs 8 KiB of memory.
//   - authtimeout (default 30 s): a connection that has not logged in by then is closed.
//   - authlimit (default 50): unauthenticated connections at once, all sources; Pleiades'
//     authlimitperaddress (default 10) bounds them per source address. Connections beyond
//     either are closed at accept, without a banner and without a goroutine, so a flood of
//     half-open connections costs only the accept.
//   - Failed logins: after MaxLoginFailures (5) failures within LoginFailureWindow (30 s)
//     from one address, every Login from that address is refused for LoginBlockTime (30 s),
//     even with the right secret; a successful login clears the address's record. Each
//     failure is answered after FailedLoginDelay (1 s, as Asterisk's sleep(1)) with
//     "Authentication failed" and the connection is closed.
//   - Requests before login: a connection that has not logged in is closed at its
//     MaxRefusedBeforeLogin-th (5th) refused request (any action but Login, Challenge and
//     Logoff, a packet without an action or one that does not parse), after that answer.
//     Asterisk has no such limit: there one client could have every security listener
//     flooded with RequestNotAllowed events.
//   - Failure security events (Severity Error: RequestNotAllowed, RequestBadFormat,
//     InvalidAccountID, InvalidPassword, ChallengeResponseFailed, FailedACL, SessionLimit)
//     are rate-limited per source address: SecurityEventBurst (20) at once, then SecurityEventRate (2) a
//     second; the rest are dropped, counted (Stats.SecurityEventsDropped) and noted once a
//     minute per address at NOTICE. SuccessfulAuth is never dropped.
//
// # Log lines
//
// Every authentication failure is logged at NOTICE in manager.c's wording, which fail2ban's
// stock asterisk filter bans on: "<ip> failed to authenticate as '<user>'" (wrong secret,
// wrong MD5 key, and after the two below), "<ip> tried to authenticate with nonexistent user
// '<user>'", "<ip> failed to pass IP ACL as '<user>'". The address block and the
// pre-login cut are NOTICE lines of Pleiades' own wording. Every security event is also
// written to the security log channel as Asterisk's res_security_log does
// (SecurityEvent="InvalidPassword",EventTV="...",...,RemoteAddress="IPV4/TCP/ip/port",...).
// A user name is the client's text: it is escaped (internal/logesc) in every log line, so
// that neither a quote nor a line break in it can make a filter read another address.
// displayconnects defaults to yes, as in Asterisk: "Manager 'admin' logged on from
// 127.0.0.1", "... logged off from ...", "... kicked from ..." (queue overflow or write
// stall, whose reason is logged at WARNING when it happens), "Connect attempt from '<ip>'
// unable to authenticate", "Client from <ip>, failed to authenticate in N seconds" (verbose 2).

// # Event fan-out
//
// Publish formats an event once and hands it to every logged-in session whose read classes
// and event mask cover the event's class (all its bits, as Asterisk checks) and whose
// eventfilters let it through: filtering happens before queueing, so an event nobody wants
// costs a loop over the sessions and nothing else. Each session has its own bounded queue
// (eventqueuesize, default DefaultEventQueueSize = 4096 events, and MaxQueuedBytes = 8 MiB)
// drained by its own writer goroutine with one writev per batch. Publish never blocks on a
// client: a session whose queue is full is disconnected at once (logged at WARNING, counted
// in Stats and "manager show queues"), and the others are not slowed. Publish calls are
// serialised, so every session sees events in the same order, and each session sees them in
// publish order. A write that stalls longer than the user's writetimeout (ms; default
// DefaultWriteStall = 10 s rather than Asterisk's 100 ms, since the queue absorbs bursts)
// also disconnects. Responses share the session's queue (so they stay in order with events);
// a client that sends requests without reading the answers is held back once its queue
// holds MaxQueuedBytes.
//
// An action's response is queued when the action returns: an event a Backend publishes
// synchronously while handling the action (Setvar on DEVICE_STATE) may reach the client
// before the response, which AMI clients handle (events are asynchronous in Asterisk too).
//
// # Users
//
// manager.conf categories other than [general] (templates skipped) are users: secret,
// permit/deny (last matching rule wins, as ast_apply_ha; "addr", "addr/bits",
// "addr/dotted.mask", "!" negation, IPv4 and IPv6), read/write class lists, eventfilter
// (legacy "[!]regex" and Asterisk 22's advanced "eventfilter(action(),name(),header(),
// method())" forms; Go RE2 syntax run with (?s)), displayconnects, allowmultiplelogin,
// writetimeout, setvar (added to Originate's variables). Names are matched without regard
// to case. A user missing from manager.conf is asked of the UserSource (realtime family
// "manager"), row fields named like manager.conf's options. Choices stricter than Asterisk,
// reported as file:line errors: unknown class names, bad ACL lines, named ACLs (acl=, not
// supported), bad eventfilters and regexes, non-boolean booleans, bad numbers. Unknown
// [general] keys and tls* keys (no AMI over TLS) are warnings.
//
// Login checks, in order: the rate limit, the user (InvalidAccountID), the ACL (FailedACL),
// the secret: plain (InvalidPassword) or MD5 after Challenge (Key = hex md5(challenge +
// secret); ChallengeResponseFailed), then allowmultiplelogin=no ("Login Already In Use",
// SessionLimit; Asterisk checks it before the secret, which tells anyone who is logged
// in). Success answers "Authentication accepted", then, when the Backend
// reports FullyBooted and the session receives system events, a FullyBooted event, then
// SuccessfulAuth, which the session that logged in receives too (when it reads the security
// class), as in Asterisk. Before login only Login, Challenge and Logoff are allowed
// ("Permission denied" and RequestNotAllowed otherwise). A packet without an action
// ("Missing action in request"; RequestType "Action: NONE") and, once logged in, an unknown
// action get RequestBadFormat; a known action the user's write classes do not cover gets
// RequestNotAllowed; these follow the request's response, as Asterisk's reach the session
// after the answer. Security events carry Asterisk's fields in its order (security_events.c:
// required fields, then optional ones): EventTV, Severity, Service (AMI), EventVersion,
// AccountID, SessionID, LocalAddress, RemoteAddress ("IPV4/TCP/127.0.0.1/5038"), the event's
// own fields, SessionTV (connect time, then login time, as Asterisk restarts it at login);
// RequestBadFormat, whose AccountID is optional, has it last, after SessionTV. RequestType
// is "Action: NAME" cut to 63 bytes (Asterisk's buffer). SuccessfulAuth says UsingPassword:
// 1, the truth (a secret or an MD5 key was checked); Asterisk's manager leaves the field
// unset and sends 0.
//
// # Actions
//
// Login, Logoff, Challenge, Ping, Events, ListCommands, Command (through the cli.Registry;
// "module load", "module unload", "restart gracefully" are blacklisted as in Asterisk),
// Reload, CoreSettings (adds PleiadesVersion), CoreStatus, ExtensionState,
// ExtensionStateList, DeviceStateList, PresenceState (only with a Backend implementing
// PresenceBackend), MailboxCount, MailboxStatus (Waiting is 1 whenever New > 0), MWIGet,
// MWIUpdate, MWIDelete (mailbox or /regex/), DBGet, DBGetTree, DBPut, DBDel, DBDelTree,
// Getvar, Setvar (globals and functions such as DEVICE_STATE(Custom:x), through the
// Backend; Channel: gets "No such channel"), Originate and UserEvent; and Pleiades' own
// RealtimeInvalidate (Family, optional Key; class system or config, like Reload; only with a
// Backend implementing RealtimeBackend): "realtime invalidate" for provisioning systems whose
// database cannot notify, applied by every server of the cluster.
//
// Originate succeeds only when the far end answers, as in Asterisk (the dialplan's Local
// channel: its ;2 half runs Answer()); Timeout (ms, default 30000; 0 or less is the default,
// where Asterisk waits without limit) bounds the wait. Without Async the response waits for
// the outcome: "Originate successfully queued", or "Originate failed" when the far end hung
// up or ended without answering, ran Busy() or Congestion(), or did not answer in time. With
// Async the action is acknowledged at once and an OriginateResponse event follows: Response
// Success and Reason 4 with the ;1 channel's name and Uniqueid, or Response Failure with
// Asterisk's reason (0 failed or hung up, 3 no answer within Timeout, 5 busy, 8 congestion),
// the requested channel and Uniqueid "<unknown>". Asterisk's "failed" extension (run in the
// Originate's Context when a call to Exten fails) and Originate's ChannelId, Codecs,
// EarlyMedia and PreDialGoSub are not supported.
//
// Privilege escalation: the Manager keeps no list of dangerous functions. Getvar, Setvar
// and Originate pass the user's privilege (the system write class) to the Backend, and the
// dialplan decides with each function's and application's own property (see package
// dialplan): a function that escalates (REALTIME*, DB*, func_odbc's, ...) read through
// Getvar or written through Setvar, or an Originate whose Application, or a function or
// application named in its Data, escalates, is refused to a user without the system class
// (ErrForbidden: "GetVar Access Forbidden: Variable", "Variable not set", "Originate Access
// Forbidden: app or data blacklisted"), unless asterisk.conf sets live_dangerously=yes.
// An Originate's application runs on a channel that refuses escalations wherever it meets
// one; an Originate to Exten/Context runs the operator's dialplan unrestricted. Asterisk
// refuses fewer (its Getvar/Setvar let any user call REALTIME_STORE or REALTIME), and
// refuses escalations to system users too where Pleiades lets them through. Write classes per
// action are Asterisk's (ListCommands shows them). Unknown actions get "Invalid/unknown
// command: X. Use Action: ListCommands to show available commands.".
//
// # Events the lead publishes
//
// Constructors give Asterisk's names and fields: DeviceStateChangeEvent, ExtensionStatusEvent,
// MessageWaitingEvent, FullyBootedEvent, ReloadEvent. Cluster membership has no AMI event in
// Asterisk; Pleiades names them ClusterMemberJoin (Node, EntityID, Address) and
// ClusterMemberLeave (Node, EntityID, Address, Reason, Cleared), class system. The server
// itself publishes security events (class security) and OriginateResponse and UserEvent.
// [general] disabledevents drops events by name before anything else.
//
// # Channels
//
// ChannelEvent turns a channel.Event (internal/channel: the core subscribes to the server's
// registry and publishes each) into Asterisk 20's event: Newchannel, Newstate, NewCallerid,
// DialBegin/DialEnd (the caller's snapshot, then the callee's prefixed "Dest", DialString or
// DialStatus), BridgeEnter/BridgeLeave (the bridge's Bridge* fields, then the channel's),
// Hangup (Cause, Cause-txt), DTMFBegin/DTMFEnd (class dtmf; DurationMs), Hold/Unhold; the
// snapshot fields in manager_channels.c's order, empty caller ID as "<unknown>". A
// channel's RequestHangup is Asterisk's soft hangup (CLI "channel request hangup", the
// Hangup action): it is sent as SoftHangupRequest with Cause 32 (AST_SOFTHANGUP_EXPLICIT),
// as Asterisk does; HangupRequest (a far-end hangup) is the technology's to publish.
//
// A Backend that also implements ChannelBackend (Channels, ChannelStatus, HangupChannel)
// answers the actions Hangup (Channel: a name, or /regex/ with ChannelHungup list items;
// Cause 0-127), CoreShowChannels (CoreShowChannel items: snapshot, Application,
// ApplicationData, Duration, BridgeId) and Status (Status items with Asterisk's fields,
// Variables: a,b and AllVariables: true; StatusComplete with ListItems and Items). Without
// one they answer "Not available: no channels".
//
// # Lock order
//
// Server.mu before Server.smu; Server.pubMu before session.mu and before Server.smu (a
// successful login queues its response and joins the published set under pubMu);
// Server.smu and session.mu are never held together; the login limiter's and the security
// event limiter's locks are leaves.
package ami
