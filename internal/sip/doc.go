// Package sip is Pleiades' SIP side: the parts of Asterisk's chan_sip that a PBX core needs
// before calls — registrar with digest authentication, static and realtime peers, qualify
// and NAT keepalive, presence (BLF dialog-info, PIDF, MWI) and the "sip ..." CLI. SIP
// parsing, transports and transactions are github.com/emiago/sipgo; INVITE is answered
// "501 Not Implemented" until calls come.
//
// # Lifecycle (for the module assembly)
//
//	s := sip.New(log, rtEngine, deviceStates, hints, mailboxes, systemName) // rt, ds, hints, mb may be nil
//	s.SetConfigSource(func(ctx) (*conf.Config, error) { return load("sip.conf") }) // for "sip reload"
//	s.SetDB(astdb)            // optional: registrations outlive a restart (SIP/Registry)
//	err := s.Configure(cfg)   // parse everything, then apply; on error nothing changes
//	err = s.Start(ctx)        // listen on udpbindaddr (and tcpbindaddr); ctx bounds the start only
//	udp, tcp := s.Addr()      // the addresses actually bound (port 0 in tests)
//	registry.Register(s.Commands()...)
//	state := s.DeviceState("SIP/alice") // devstate provider: NOT_INUSE, UNAVAILABLE or INVALID
//	st := s.Stats()           // counters for metrics
//	s.Close()                 // NOTIFY terminated to subscribers, flush write-backs (≤2 s), stop
//
// Configure may be called again at any time (reload). A change of udpbindaddr/tcpbindaddr
// (TCP turned on or off included) while running moves the listeners: the server stops
// (subscriptions end with a NOTIFY "terminated;reason=deactivated", which invites the phone
// to subscribe again at once; registrations stay) and starts on the new addresses; when they
// cannot be bound it binds the old ones again and Configure fails with "configuration not
// applied". "sip reload" on a server that had no sip.conf starts it (Start). Close may be
// followed by Start again.
//
// Goroutines. Everything the server starts is owned: the listeners, the janitor, the NOTIFY
// retransmitter and the write-back workers (a WaitGroup), and every other goroutine — hint
// fan-outs, the settling of NOTIFY transactions, MWI sends, timer callbacks (qualify,
// keepalive, registration and subscription expiry) — through Server.spawn and
// Server.afterFunc (tasks.go), which refuse to start anything once Close has begun. Close
// returns when all of them have ended. The state engines
// are reached only through the narrow interfaces DeviceStates, Hints and Mailboxes defined
// here; the lead's adapters implement them. DeviceStates.SetDevice is called only on a change,
// never with a lock of this package held. Hints.Watch may call its callback synchronously.
//
// # sip.conf
//
// [general]: udpbindaddr (bindaddr) with optional port, bindport, tcpenable, tcpbindaddr,
// realm (default: asterisk.conf's systemname when it is set, else "asterisk", as chan_sip),
// defaultexpiry (120), minexpiry (60), maxexpiry (3600),
// subminexpiry/submaxexpiry (60/3600, chan_sip's names for subscriptions), allowsubscribe,
// notifyringing (yes|no|notinuse, default yes), notifyhold (no), qualify, qualifyfreq (60),
// qualifygap (100 ms), qualifypeers (1), keepalive, rtcachefriends (no), rtsavesysname (no),
// rtupdate (yes), ignoreregexpire (no), rtautoclear (yes = 120 s, no, or seconds), alwaysauthreject (yes), context,
// subscribecontext, vmexten, useragent, fromdomain, tcpauthlimit (100), tcpauthtimeout (30),
// nat (auto_force_rport; read as chan_sip's sip_parse_nat_option, shown by the CLI: the
// registrar always binds at the source address), callcounter.
// Pleiades' own: noncelifetime (30 s), maxauthfailures (10; 0 = no limit), authfailurewindow
// (30 s), authblocktime (60 s),
// maxsubscriptions (100000), maxsubscriptionsperpeer (1000), maxregistrations (1000000
// realtime peers in memory), maxrequests (2000), maxrequestwait (200 ms) and retryafter
// (5 s): the overload rule, overload.go; REGISTERs over UDP take the fast path, fastpath.go. Peers: type=friend|peer|user, host=dynamic|<ip>, port, secret,
// md5secret, defaultuser (username), context, subscribecontext, mailbox (box[@ctx], several
// with ',' or '&'; context "default"), callerid, description, permit/deny, qualify
// (yes|no|ms), qualifyfreq, keepalive, allowsubscribe, vmexten, transport (udp|tcp), nat,
// accountcode, call-limit, callcounter (the last three shown by the CLI), busylevel,
// insecure, allow/disallow, session-timers, session-expires, session-minse and
// session-refresher (also in [general]; see Calls); a type=user needs no host=. Templates are resolved by internal/conf. Every error of the file is collected as
// file:line (a conf.ErrorList); keys chan_sip has but Pleiades does not act on (codecs,
// media, call options) are accepted silently, other unknown keys are logged as warnings.
//
// # Choices (and where Pleiades differs from chan_sip)
//
// Transactions and memory. A plain sipgo server keeps every UDP non-INVITE server
// transaction (request and response) for Timer J (32 s); at thousands of REGISTERs a second
// that is hundreds of MB. Pleiades terminates non-INVITE server transactions as soon as the
// final response is sent, and makes every handler safe for a retransmitted request instead:
// a REGISTER retransmitted unchanged (same nonce, nc and fingerprint, see Authentication) is
// processed again with the same result, an
// initial SUBSCRIBE retransmitted (same Call-ID, From tag and CSeq) gets the same 200 OK and
// To tag, an unauthenticated one just gets a fresh challenge. INVITE transactions keep
// sipgo's normal life until their final response (an error response's transaction waits for
// its ACK as RFC 3261 says), except after a 2xx: sipgo would keep the whole transaction for
// Timer L (64·T1, RFC 6026's Accepted state) only to drop retransmissions of the INVITE,
// ~100 MB of live heap at 1,000 calls/s; Pleiades lets it go after T1 and drops those
// retransmissions itself, unparsed, from a pointer-free set of hashed (branch, source) keys
// kept 64·T1 to 2·64·T1 (accepted.go; counted in Stats.Absorbed). Messages above 16 KiB are dropped before
// parsing (counted in Stats.Dropped); sipgo's own log records are passed on at debug level
// 3 so that garbage on the port cannot flood the logs (sipgo's process-wide logger,
// sip.SetDefaultLogger, is left to the assembly: a few connection-level messages use it). The UDP socket buffers are 4 MiB.
// NOTIFYs over UDP bypass sipgo's client transactions (notifytx.go): a dialog's NOTIFY text
// is rendered once and completed per change; a fan-out splits the subscriptions over
// GOMAXPROCS workers, each writing 64 NOTIFYs per sendmmsg through its own dup(2) of the
// listening socket (same source address and port; Go serialises writes on one descriptor);
// texts and transactions live in pooled blocks that return to the pool only when every
// NOTIFY of the block is settled; branches are this process's prefix and a counter. The
// socket is read 32 datagrams per recvmmsg (listeners.go), and answers to our NOTIFYs are
// matched by Via branch there, before sipgo parses anything; retransmission follows RFC 3261
// (Timer E from T1 doubling to T2, Timer F at 64*T1). NOTIFYs over TCP keep sipgo's
// transactions. Stats.LastFanout (pleiades_sip_notify_fanout_last_seconds) is the time from
// a hint change reaching this module to its last NOTIFY handed to the kernel.
// Bounded memory: nonces (stateless HMAC, no state per challenge; at most 2^20 tracked
// nonce-counts, in two generations that are dropped whole), subscriptions
// (maxsubscriptions, maxsubscriptionsperpeer: above them 503 with Retry-After), realtime
// peers in memory (maxregistrations), write-back queue (one entry per peer). One sipgo
// limit remains: its UDP transport remembers every distinct source address it has seen
// (a map entry per address) for the life of the listener.
//
// Authentication (REGISTER and SUBSCRIBE alike). Digest MD5 (RFC 2617, RFC 7616's MD5),
// qop="auth" offered; clients without qop are accepted and their nonce then serves one
// request. HA1 is md5(user:realm:secret), or md5secret as given (= md5(name:realm:secret)).
// The digest username must be the peer's name or its defaultuser and the realm ours. A nonce
// lives noncelifetime; an expired nonce with a correct response gets 401 with stale=true
// (real phones answer that with a new nonce). With qop each request needs a nonce-count
// above the last accepted one for that nonce (phones reuse a nonce with an increasing nc).
// The same nonce-count again is accepted only for the very request accepted with it, a
// retransmission: the server keeps a fingerprint of what a handler reads (Request-URI, From,
// To, Call-ID, CSeq, top Via branch, every Contact, Expires, Event, User-Agent); a captured
// request replayed with any of these changed (another Contact, Expires: 0) is a replay: 401
// stale=true and a security event, nothing applied. A wrong response kills its nonce: a
// later response with it is not checked but answered with a fresh challenge (not stale), so
// one challenge gives a guesser one verdict. maxauthfailures failures from one source
// address (IP, any port) within authfailurewindow block that address for authblocktime:
// every REGISTER and SUBSCRIBE from it is answered 403 Forbidden without looking at its
// credentials, a good one too (as the AMI login limit); a success does not clear the count
// (phones behind one NAT share the address), the block is logged once (NOTICE and security)
// and counted in Stats.Blocked. The table of addresses is bounded (100,000, swept every
// second). Every failure — wrong password, unknown peer, peer refused by its ACL, peer that
// may not register (type=user or a static host), username or realm mismatch, unsupported
// algorithm, malformed Authorization — gets the same 403 Forbidden (the reason never goes
// on the wire). alwaysauthreject=yes (the default, as in chan_sip): a name that does not
// exist, is refused by its ACL or may not register is answered exactly as a known one with a
// wrong password — a challenge, then 403 for the credentials (with the same MD5 work) — so
// nobody can tell names apart; its failure is logged when the credentials come.
// alwaysauthreject=no: an unknown peer gets 404 and a peer refused by its ACL or that may
// not register 403 at once, logged then. permit/deny (chan_sip's ast_apply_ha: last matching
// rule wins; addr, addr/bits, addr/mask) are checked against the source address. A peer
// with neither secret nor md5secret is accepted without a challenge, as in chan_sip. The
// digest-uri is not compared with the Request-URI (chan_sip only warns). The peer is the To
// user for REGISTER and the From user for SUBSCRIBE and OPTIONS.
//
// Log lines. Every failed authentication is logged at NOTICE in Asterisk's words, which
// fail2ban's stock asterisk filter reads: REGISTER as chan_sip, "Registration from '<To>'
// failed for '<ip:port>' - <reason>" with reason "Wrong password", "No matching peer found",
// "Username/auth name mismatch", "Device does not match ACL" or "Peer is not supposed to
// register"; other methods (SUBSCRIBE, and INVITE when calls come) as res_pjsip, "Request
// '<method>' from '<From>' failed for '<ip:port>' (callid: <Call-ID>) - <reason>" with "Failed
// to authenticate", "No matching endpoint found" or "Not match Endpoint ACL" (chan_sip's own
// line for them names no address). The same failure is a security event on the security
// channel: `SIP authentication failed from=<ip:port> peer="<name>" reason="..."` (also
// "authentication replay", "subscription refused"), the address first. Values from the
// network reach a log line only escaped (logsafe.go): control characters, bytes outside
// ASCII, quotes, backslash and parentheses as \xNN (in key=value fields also space and '='),
// so a client can neither start a line nor make one name another address.
//
// TCP. The listener handed to sipgo retries every accept error (EMFILE, ENFILE, ECONNABORTED,
// ...) after a pause from 5 ms doubling to 1 s and logs it (at most a line every 10 s); only
// Close ends it (sipgo's own Serve gave up at the first error). As in chan_sip, at most
// tcpauthlimit connections that have not yet carried a successfully authenticated REGISTER or
// SUBSCRIBE are open at once (a connection beyond that is closed as soon as it is accepted),
// and such a connection is closed tcpauthtimeout seconds after it was accepted. An
// authenticated connection on which nothing arrives for max(maxexpiry, submaxexpiry) + 60 s
// is closed: a phone that keeps its registration or subscription alive sends a request (or
// a keepalive) within that time. Stats.Connections (pleiades_sip_connections) counts the
// connections accepted and open.
//
// Registrar. One binding per peer (the first Contact), as chan_sip. Expires: the Contact's
// expires parameter, else the Expires header, else defaultexpiry; 0 unregisters, as does
// "Contact: *" with "Expires: 0" (a wildcard otherwise is 400); below minexpiry: 423 with
// Min-Expires; above maxexpiry: capped. A REGISTER without Contact queries the binding. type=user
// peers and peers with a static host cannot register (answered like unknown peers). The
// binding is the source address of the REGISTER (NAT-safe, like chan_sip's force_rport)
// with the Contact as Request-URI for requests to the peer. Device "SIP/<peer>" is
// NOT_INUSE while the peer has an address (registered, or a static host) and is not
// UNREACHABLE, else UNAVAILABLE; a qualify not yet answered counts as reachable.
//
// Registrations outlive a restart (SetDB, the internal database, before the first
// Configure). As chan_sip, every registration of a static peer is written to astdb,
// SIP/Registry/<peer> = "addr:port:expiry:username:contact" (chan_sip's value: the source
// address, the seconds granted, the peer's username, the Contact URI), and deleted when the
// peer unregisters or expires (not on expiry with ignoreregexpire). chan_sip's value holds no
// time, so Pleiades also writes SIP/RegistryExpires/<peer> (absolute expiry, Unix seconds).
// The writes leave the REGISTER path and are few: the chan_sip value is written when it
// changes, the expiry when it moved by more than half the expiry granted since it was last
// written (so a re-registration storm of unchanged bindings writes next to nothing); the
// latest change per peer is kept and flushed 500 ms after the first, one transaction per
// family (a failed write is logged, the registration stays in memory), and on Close. When
// Configure creates a dynamic static peer (at start, or a peer new in a reload) it takes the
// registration kept for it until the kept expiry plus half the expiry granted (the most the
// kept expiry can lag: never shorter than the phone's registration, at most half an expiry
// longer): one that expired while the server was down is dropped (kept for defaultexpiry
// with ignoreregexpire), one without Pleiades' expiry (written by an Asterisk) lasts its
// expiry from now, as chan_sip restores every entry. The transport is the Contact's transport=, else the peer's; the User-Agent is not
// kept (chan_sip keeps none either). A restored peer is NOT_INUSE, is qualified (staggered,
// below) and gets MWI on changes like any registered peer. Realtime peers keep their
// registration in their row (rtupdate=yes) and take it when they are loaded (below); with
// rtupdate=no it is not kept (chan_sip then uses astdb for them too). Entries of peers no
// longer in sip.conf are left alone, as chan_sip leaves them.
//
// Realtime peers (family sippeers). A name not in sip.conf is loaded by name on REGISTER,
// SUBSCRIBE and OPTIONS (From user) and on "sip show peer NAME load". With rtcachefriends=yes
// it stays in memory ("Cached RT") and is used without a query until rtautoclear seconds
// after loading; then an unregistered one leaves memory and a registered one is re-read on
// its next request (its registration stays). With rtcachefriends=no it is re-read on every
// request and stays in memory only while registered — unlike chan_sip, uncached realtime
// peers are qualified, kept alive and get MWI. A peer read from its row takes the row's
// registration (ipaddr, port, regseconds in the future, fullcontact, useragent), so nodes
// sharing a database share registrations and a restart or prune loses none. When the
// database fails, a peer in memory keeps serving (even a stale one); an unknown peer then
// gets 503 with Retry-After. A row deleted from the table removes the peer from memory on
// its next lookup; an OPTIONS from an unknown From user costs one query (as in chan_sip); a
// cached peer keeps the [general] defaults it was built with until it is re-read. With
// rtupdate=yes registration writes ipaddr, port, regseconds (absolute
// expiry), defaultuser (the Contact's user), fullcontact, useragent and, with rtsavesysname,
// regserver (the system name given to New); every qualify answer writes lastms; expiry and
// unregistration write ipaddr ”, port 0, regseconds 0, lastms 0 and blank defaultuser,
// fullcontact, useragent (and regserver). Writes never delay a response: they go through a
// queue holding one pending update per peer (later fields replace earlier ones) served by two
// workers; a failed write is logged and dropped. ignoreregexpire=yes: expiry does not clear
// the row, and a row whose regseconds has passed still gives its address (for
// defaultexpiry). "sip prune realtime [peer] NAME|all" drops realtime peers from memory (their
// registration stays in the row). realtime.Cache is not used: the peer table itself is the
// cache because each entry carries live registration and qualify state; it follows the same
// rule (errors never evict). Realtime peers follow the realtime engine's change feed for
// sippeers (rtchange.go; PostgreSQL NOTIFY, "realtime invalidate", the cluster): a changed
// row marks its peer stale and re-reads it at once in the background, so its auth data,
// context, ACLs and mailbox are in force at its next request and it stays registered; a
// deleted row, or one that is no longer a valid peer, drops the peer, its registration and
// its device state (UNAVAILABLE) without waiting for a request. A flush (the listener
// reconnected, or an invalidation without key) marks every realtime peer in memory stale and
// re-reads the registered ones at once (one at a time), the others at their next request.
// A change heard while a query for the peer was running leaves the peer stale, so
// an old row read before a COMMIT never wins over it. With PostgreSQL triggers installed, a
// registration's own write-back (rtupdate) notifies too: it costs one re-read of that row on
// each server holding the peer, and changes nothing else (qualify restarts only when its
// settings changed).
//
// Qualify and keepalive. Peers with qualify (yes = 2000 ms) get an OPTIONS every qualifyfreq
// at their binding (immediately on registration; when the server starts, staggered as
// chan_sip's sip_poke_all_peers: qualifypeers (1) peers, then the next ones qualifygap (100
// ms) later, and so on). No answer within the qualify time:
// UNREACHABLE (device UNAVAILABLE), then retried every min(qualifyfreq, 10 s); any answer,
// even an error status, is OK (lastms shown as "OK (n ms)"). chan_sip waits longer and calls
// a late answer LAGGED; Pleiades has no LAGGED. keepalive=N (general or per peer; yes = 60)
// sends "\r\n\r\n" over UDP, an OPTIONS over TCP, every N seconds.
//
// Presence. SUBSCRIBE with Event dialog (application/dialog-info+xml), presence
// (application/pidf+xml) or message-summary (application/simple-message-summary); other
// events: 489 with Allow-Events. The Request-URI user is looked up with Hints.Lookup in the
// peer's subscribecontext, else [general] subscribecontext, else the peer's context: 404 when
// there is no hint; allowsubscribe=no ([general] or peer): 403. message-summary reports the
// peer's own mailbox= (404 without one), whatever the Request-URI, as chan_sip. 200 OK (with
// our To tag and Expires), then a NOTIFY at once and on every change. Bodies follow chan_sip:
// idle and unavailable "terminated", in use and busy "confirmed", ringing "early" (direction
// recipient), hold "confirmed" with +sip.rendering=no when notifyhold=yes (in use
// otherwise); notifyringing=no does not notify ringing, notinuse only when not in use. As in
// chan_sip, the dialog-info entity (and a held dialog's target) is the SUBSCRIBE's To URI
// without its parameters (port kept), the PIDF entity the subscriber's From URI and its
// contact the To URI; the dialog and tuple id is the extension (the Request-URI user), which
// is also the user of our Contact in the 200 OK and every NOTIFY of the dialog; the NOTIFY's
// Request-URI is the subscriber's Contact as it gave it. A
// change that leaves the visible state unchanged sends nothing. dialog-info's version starts
// at 0 and increments with every NOTIFY of the subscription. Subscription-State is
// "active;expires=N"; expiry, unsubscription (Expires: 0) and shutdown send "terminated"
// (reason timeout; noresource at shutdown). A SUBSCRIBE in an unknown dialog: 481. A NOTIFY
// answered 481 or 5xx, or not answered (Timer F), ends the subscription. Route sets
// (Record-Route) are not kept: phones talk to us directly. All subscriptions to one hint
// share one Hints.Watch; a change is fanned out in parallel (2×GOMAXPROCS senders) and
// changes arriving during a fan-out coalesce (the latest state wins). Unsolicited MWI:
// NOTIFY (Event message-summary, Subscription-State active, "Messages-Waiting",
// "Message-Account: sip:<vmexten>@<fromdomain or our address>", "Voice-Message: new/old
// (urgent/0)") to every registered peer with mailbox= on its registration and on every
// Mailboxes.Watch change of one of its mailboxes; a peer with a message-summary subscription
// gets it in that dialog instead.
//
// CLI, in the layouts of Asterisk 20's chan_sip (the golden files under testdata/cli). "sip
// show peers [like REGEX]" (friends and peers sorted by name: name/username cut at 25
// columns, " D " and " A " in 3-column fields, Forcerport and Comedia as chan_sip's
// force_rport_string, "Auto (No)" by default and "Auto (Yes)" once the peer's last request
// came through a NAT — its source address differs from its Via — Port 0 without an address,
// the summary line; with sippeers mapped a last column "Cached RT" — Pleiades also lists
// uncached realtime peers while they are registered, marked "Realtime", which chan_sip does
// not list), "sip show users [like REGEX]" (friends and users, with the secret as chan_sip
// shows it), "sip show inuse [all]" (in use/ringing/on hold from the calls; call-limit or N/A),
// "sip show channels" (the calls' dialogs, see Calls), "sip show peer NAME
// [load]" (with Sess-Timers, Sess-Refresh, Sess-Expires, Min-Sess and Direct media as
// chan_sip shows them), "sip show subscriptions" (address, the peer's username or callerid number or
// "(None)", Call-ID, exten@context cut at 15 columns or "--" for MWI, last state, type,
// mailboxes, the Expires granted), "sip
// show registry" (no outbound registrations yet: always 0), "sip show settings" (chan_sip's
// sections, labels and columns for the settings Pleiades has, "No"/"Disabled" for the call
// and media features it has not, Pleiades' own limits under "Pleiades Settings:"), "sip prune
// realtime [peer] NAME|all", "sip reload" (through SetConfigSource; starts a server that had
// no sip.conf, moves listeners, prints "SIP now listening on ..." when they changed; a
// failure or a missing sip.conf fails the command and keeps the running configuration),
// "sip set debug on|off|ip ADDR|peer NAME" (SIP messages, as received and as sent, at verbose
// level 1; peer = the peer's current IP address).
//
// Lock order: Server.cfgMu → Server.runMu; call.mu, Server.dlgMu and the counters' peer.mu
// are never held together; Server.mu → peer.devMu → peer.mu;
// subscription.mu → Server.mu (read: the vmexten of an MWI account); Server.runMu is
// innermost (taken under peer.mu and subscription.mu, never held while taking another lock
// of this package). subStore.mu and
// hintWatch.mu are innermost (as are nonceStore.mu, authGuard.mu, tcpListener.mu, regStore.mu and
// tasks.mu): Hints.Watch is called with subStore.mu held and its callback
// takes only hintWatch.mu and starts the fan-out goroutine. DeviceStates.SetDevice runs with
// only peer.devMu held, Mailboxes.Get with only subscription.mu; Hints.Lookup and the realtime
// engine are called with no lock.
//
// # Calls
//
// SetCalls(reg, eng, handler) turns calls on (without it every INVITE gets 501). An INVITE
// whose Require (or Proxy-Require) names an option tag other than timer, replaces and 100rel
// gets 420 Bad Extension with Unsupported listing them, before anything else, as chan_sip.
// 100rel (RFC 3262, prack.go) goes beyond chan_sip, which has none and answers "Require:
// 100rel" with 420: a phone that supports it gets our 183 with SDP reliably ("Require:
// 100rel", an RSeq, retransmitted from T1 doubling until its PRACK; a second reliable one is
// not sent before that PRACK, and the 200 waits for it), one that requires it every 18x
// (a 18x while one is unacknowledged is dropped); a PRACK whose RAck names the pending one (or
// the last acknowledged, a retransmission) gets 200, any other 481; no PRACK within 64·T1
// ends the call unanswered with 504 Server Time-out (RFC 3262 3's 5xx; the channel's cause
// is NO_USER_RESPONSE). A 180 to a phone that only supports 100rel stays unreliable. On our
// outgoing calls the choice differs from chan_sip too: chan_sip's INVITE says "Supported:
// replaces, timer" (its option table marks 100rel not supported) and it never PRACKs, so a
// callee that requires 100rel cannot reach it reliably; Pleiades, which can PRACK, offers it
// ("Supported: replaces, timer, 100rel"; the initial INVITE only, and its resend after a 422,
// not our re-INVITEs, whose provisional responses are not followed) and PRACKs what the
// callee sends reliably (see the driver "SIP" below). A new
// INVITE (call.go, invite.go) is taken as chan_sip's handle_request_invite: the caller is a
// user/friend named by the From user, else a peer (not type=user) by its source address
// (the port too unless insecure=port), else a guest when allowguest=yes (the [general]
// context); an unknown caller, or one its permit/deny refuses, is challenged and refused
// like a wrong password when alwaysauthreject=yes (401, then 403), and every failure logs
// chan_sip's NOTICE "Failed to authenticate device <From>" and a security event, and counts
// for maxauthfailures. insecure=invite skips the challenge. Then call-limit (486 Busy Here
// when the peer has that many calls), the SDP offer (internal/media/sdp: 488 when it is
// malformed, has no audio or no codec in common with the peer's allow/disallow — of which
// Pleiades carries ulaw and alaw, in the peer's order; other names change nothing; an
// INVITE without SDP is a delayed offer: our offer goes in the 200 and the far end's answer
// must come in the ACK, else the call ends with BYE, BEARERCAPABILITY_NOTAVAIL), an RTP session from the engine's
// port pool (503 when none is free), 100 Trying, and a channel named as Asterisk names it
// ("SIP/alice-00000001", a guest "SIP/<address>-..."), Device "SIP/<peer>", caller ID from
// the From (the peer's callerid= overrides), its place the peer's context= and the
// Request-URI user ("s" when empty), value "SIPCALLID" the Call-ID; RFC 4733 digits
// received on its RTP session are queued to it as DTMFBegin/DTMFEnd frames (incoming and
// outgoing calls alike); handler runs it on its own goroutine and the server hangs it up
// when handler returns. A handler that refuses the call as UNALLOCATED (no such extension)
// gets 404 and chan_sip's NOTICE "Call from '<peer>' (<addr>) to extension '<exten>'
// rejected because extension not found in context '<context>'.".
//
// The channel's Tech is the call: Answer sends 200 OK with the SDP answer (retransmitted
// until the ACK on UDP; no ACK in 64·T1: the channel is asked to hang up, which sends BYE;
// a call hung up before the ACK came sends its BYE once it comes, RFC 3261 15);
// Indicate sends 180, 183 with SDP (early media), 486 or 503; Hangup sends the final
// response of an unanswered call with chan_sip's hangup_cause2sip status (UNALLOCATED 404,
// USER_BUSY 486, NO_ANSWER/SUBSCRIBER_ABSENT 480, CONGESTION 503, NO_USER_RESPONSE 408,
// CALL_REJECTED 403, BEARERCAPABILITY_NOTAVAIL 488, CHANNEL_NOT_IMPLEMENTED 503, ...; a cause
// it has no case for, NORMAL_CLEARING included, gets sip_hangup's 603 Declined: so a caller
// whose Dial() ended NOANSWER at its timeout and whose dialplan then hangs up gets 603, as
// from chan_sip — app_dial leaves the caller's cause unset at the timeout and Hangup() makes
// it NORMAL_CLEARING — while a callee's own 480 comes back as NO_ANSWER, 480), CANCEL
// for an unanswered outgoing call, BYE once answered, and nothing when the far end ended
// it; then the RTP ports go back to the pool at once. CANCEL of a ringing call: sipgo
// answers 200 and 487, the channel hangs up (NORMAL_CLEARING). BYE from the far end: 200 and
// the channel hangs up. A re-INVITE takes the new offer: sendonly, inactive or c=0.0.0.0 put
// the call on hold (FrameHold to the owner, device ONHOLD), sendrecv takes it off; a
// re-INVITE without SDP (a session refresh) gets the current SDP; an UPDATE (RFC 3311)
// without SDP gets 200 without a body, one with SDP is taken as a re-INVITE's offer. BYE,
// re-INVITE, UPDATE or ACK for a dialog
// that does not exist: 481. Requests go to the address the dialog's INVITE came from
// (or the peer's registered address): NAT-proof, and Record-Route is not followed (phones
// talk to Pleiades directly). UDP and TCP alike. A finished dialog is forgotten at once
// (chan_sip keeps it 32 s): a retransmitted BYE then gets 481.
//
// The driver "SIP" (outgoing.go) takes "peer", "peer/exten" or "exten@peer": a peer that
// does not exist, is not registered or is unreachable by qualify is refused with cause 20
// (SUBSCRIBER_ABSENT: Dial's CHANUNAVAIL, chan_sip's "cause 20"). Call sends the INVITE to
// the registered Contact (or host=; over TCP, the Contact's address once the connection it
// registered on is gone) with our offer (the peer's allowed codecs, telephone-event 101);
// 100 → FrameProceeding, 180 → FrameRinging, 183 → FrameProgress (its SDP applied: early
// media; Dial relays a single callee's early media to the caller until the answer), a
// reliable 18x (Require: 100rel and an RSeq) PRACKed once in its early dialog (To tag) with
// "RAck: <RSeq> <INVITE's CSeq> INVITE" (sipgo's non-INVITE transaction retransmits the
// PRACK until its answer; a 481 or no answer is only logged), the same 18x again — RSeq not
// one above the last PRACKed in that dialog: a retransmission or one out of order — neither
// PRACKed nor acted on (RFC 3262 4; at most 16 early dialogs per INVITE are followed; our
// INVITE sent again after a 422 is a new initial request, whose RSeqs are followed afresh),
// 2xx → ACK (retransmitted 2xx ACKed again) and FrameAnswer; an error response →
// its cause by chan_sip's hangup_sip2cause (486/600 USER_BUSY with FrameBusy, 503 CONGESTION
// with FrameCongestion, 404 UNALLOCATED, 480 NO_ANSWER, 408 and Timer B NO_USER_RESPONSE,
// ...). A 2xx crossing our CANCEL is ACKed and ended with BYE.
//
// Session timers (RFC 4028, stimer.go) as chan_sip runs them, with its options in [general]
// and per peer: session-timers (accept, the default: run them when the phone asks;
// originate: ask on every call — Session-Expires and Min-SE in our INVITE, without refresher
// parameter as chan_sip — and run them on calls where the phone did not ask; refuse: never,
// and an INVITE with "Require: timer" gets 420 Bad Extension with Unsupported: timer),
// session-expires (1800), session-minse (90, the RFC's floor; smaller values are a
// configuration error, as is session-expires below session-minse) and session-refresher
// (uas, the default, or uac). An INVITE with Session-Expires (or x) below our session-minse
// gets 422 Session Interval Too Small with Min-SE (ours, or the phone's when larger). The
// interval granted is the phone's capped at session-expires (unless that is below the
// phone's Min-SE: then the phone's), the refresher the one the request names, else
// session-refresher's side (uas: Pleiades, on an incoming call), and always Pleiades when
// the phone does not support timer. The 200 carries "Session-Expires: N;refresher=uac|uas"
// and, for a phone that supports timer, "Require: timer". Every re-INVITE or UPDATE from the
// phone refreshes the session (a new Session-Expires in it is negotiated again, 422
// included) and gets the same headers. When the phone refreshes and no refresh comes
// within the interval less min(32 s, a third of it) (RFC 4028 10), the call is hung up
// with BYE (NORMAL_CLEARING) and the WARNING "Session timer expired: <Call-ID> ...", as
// chan_sip's "Session timer expired" soft hangup. When Pleiades refreshes, it sends, at
// half the interval, an UPDATE without SDP to a phone that allows UPDATE, else a re-INVITE
// with the session's SDP unchanged (chan_sip always re-INVITEs), both with
// "Session-Expires: N;refresher=uac"; a 2xx restarts the timer (with the interval it
// names), 481, 408 or no answer ends the call as in chan_sip, a 422 raises the interval to
// its Min-SE and any other refusal is retried at the next half interval. On an outgoing
// call the 2xx's Session-Expires decides (refresher=uac: Pleiades); a 2xx without one
// leaves Pleiades refreshing a timer it asked for (originate) and none otherwise. A 422 to
// our INVITE sends it again, once, with its Min-SE as Session-Expires and Min-SE (same
// Call-ID and From tag, a new CSeq), as chan_sip's proc_422_rsp.
//
// directmedia (direct.go): directmedia=yes (canreinvite=yes, chan_sip's old name; update,
// outgoing and "yes,update" are taken as yes, since Pleiades always re-INVITEs), nonat (yes
// unless the peer is behind NAT), no (the default), in [general] and per peer, with
// directmediapermit/directmediadeny (an ACL of the peer applied to the other leg's media
// address). Chosen as Asterisk does it, by re-INVITE after the bridge forms, not at call
// setup: the call starts relayed (audio from its first packet), and when Dial's bridge
// holds two SIP legs that may both go direct — known peers with directmedia, not nat=comedia
// (symmetric RTP needs the relay), not a leg between cluster members, answered, not on hold,
// each ACL accepting the other's address, and the same codec (Pleiades does not transcode
// what it does not relay) — each leg gets a re-INVITE (after the ACK of our 200: RFC 3261
// 14.1) whose SDP is the other phone's media (its address, its codec with its payload type,
// telephone-event), with our session's o= and a raised version. Once both answered 2xx the
// relay stops (media.Session.Unbridge; the RTP ports stay reserved for the fallback). A
// refusal on either side sends the other back to us and the call stays relayed. Hold: the
// holding phone's re-INVITE is answered with the other phone's address (while direct), then
// both legs are re-INVITEd back to our ports (relay restarted first), so that the hold goes
// through Pleiades (device ONHOLD, music on hold to the held party); unhold goes direct
// again. A re-INVITE with a new media address re-targets the other leg. A session-timer
// refresh of a direct leg re-offers the direct SDP. When the bridge ends the survivor stays
// direct (it is hung up next); Dial's g option, which goes on in the dialplan, brings the
// caller's media back with a re-INVITE (channel.ReclaimMedia).
//
// Device state comes from per-peer counters as chan_sip's update_call_counter and
// sip_devicestate: in use (ringing calls included), ringing (outgoing calls not answered yet)
// and on hold; the state is ONHOLD, else RINGING (every call ringing) or RINGINUSE, else BUSY
// at call-limit or busylevel, else INUSE, else NOT_INUSE (UNAVAILABLE when not registered or
// unreachable). chan_sip keeps these counters only with call-limit or callcounter=yes, so
// without them its BLF lamps stay dark; Pleiades keeps them for every peer (the issue's
// device states from calls), and refuses calls only at a call-limit: an incoming call with
// 486, an outgoing one with USER_BUSY before any INVITE (busylevel refuses outgoing calls
// too, as chan_sip's sip_call). Two changes of an outgoing call are reported through
// DeviceSyncer when the sink has it (the core's: it waits until the hint engine has told AMI,
// at most 50 ms; about 4 µs when the state core keeps up, hint.BenchmarkSetAndWaitDevice): RINGING when the call is counted, before the INVITE, and INUSE at the
// answer, before FrameAnswer makes the channel Up — so AMI sends DeviceStateChange RINGING
// before the callee's Newstate Ringing and INUSE before its Newstate Up, Asterisk 20's order
// (the state core is asynchronous: without the wait the Newstate came first). The other
// changes stay asynchronous: at hangup Asterisk sends both Hangup events before
// DeviceStateChange NOT_INUSE, which is what the asynchronous path gives.
//
// "sip show channels" lists the calls' dialogs as chan_sip: address, peer (a guest: its
// caller number), Call-ID, negotiated codec ("(ulaw)"), hold, the last message ("Rx: ACK"),
// and the peer ("<guest>"); "sip show channelstats" their RTP counters. The server is a
// core CallCounter: ActiveCalls counts the dialogs, RefuseNewCalls(true) answers new
// INVITEs 503 while a stop is under way.
//
// Why sipgo's transactions with our own dialog table, and not sipgo's dialog caches or
// github.com/emiago/diago: a call here is a channel.Channel of Pleiades' own (its Tech,
// states, causes and events are the contract with the dialplan), with RTP from
// internal/media (Asterisk's strictrtp, the rtp.conf port pool, a packet relay without
// decoding). diago's DialogSession owns its own media session, bridge and playback, so a
// call would live twice (its dialog and our channel) and its media would have to be
// bypassed; sipgo's DialogServerCache/DialogClientCache track dialogs but neither the
// per-peer addressing (the INVITE's source, NAT) nor the chan_sip behaviours needed here
// (our tag, cause mapping, counters). What sipgo gives — the transaction layer (INVITE
// server and client state machines, CANCEL matching and its 487, ACK of error responses,
// retransmissions) and the transports — is used as is; the dialog (tags, CSeq, route to
// the Contact, 2xx retransmission until ACK, ACK of a 2xx, CANCEL building) is written in
// call.go, invite.go and outgoing.go. Note sipgo ends a server transaction when its
// handler returns, so handleInvite stays until the INVITE has its final response.
//
// # Calls across servers
//
// A phone registered on server 2 is dialled from server 1 with the same Dial(SIP/bob)
// (locate.go, crosscall.go). Three choices:
//
// Where each registration is: cluster state, like device state. Each server publishes, for
// every peer registered on it (not static hosts: every server has those from its own
// sip.conf), a sip_location event (peer, this server's SIP address, UDP, the registration's
// expiry, the server's secret) through Locations; the core's BusLocations puts it on the
// event bus and the cluster bridge (LocationCodec) shares it, so a joining server gets every
// member's table in its join sync and a member that leaves takes its entries with it (the
// cluster's purge). A lookup is local: no request goes over the network at call time, and
// Dial on a server that cannot see the cluster finds nothing rather than waiting. The
// address is our UDP bind address (bound to a wildcard: the address the kernel uses towards
// the phone). NATS request/reply ("who has bob?") was refused: it costs a round trip per
// call and a timeout when a member is slow, and would still need the departure handling that
// the event type gets for free. Asterisk has nothing of this (operators build a SIP trunk
// and dialplan per pair of servers).
//
// The call: the driver's Request for a peer not registered here takes the registration that
// expires last on another server and sends the INVITE there, Request-URI
// sip:<peer>[/<exten>]@<that server>, with the header X-Pleiades-Cluster:
// eid=<our EID>;ts=<Unix time>;mac=<HMAC-SHA256> — keyed with the called server's secret,
// over the Call-ID, the From tag, the Request-URI user and ts. The peer must be known here
// too (the same sip.conf or realtime on every server): its codecs and call-limit apply to
// the leg, as for a local call.
//
// Trust: the called server takes such an INVITE only with a MAC that verifies with its own
// secret, a time within 60 s of its clock, and a MAC not seen before (a captured INVITE
// cannot be replayed; sipgo's transactions absorb real retransmissions first); otherwise
// 403 Forbidden, the WARNING "Cluster call from <addr> to '<user>' refused: ...", and what
// any failed authentication gives (the NOTICE "Failed to authenticate device", a security
// event, a count towards maxauthfailures for the source). The
// secret is 32 random bytes made at start and known only to the cluster members (it
// travels in the sip_location events over the cluster's NATS, whose routes or credentials
// are the cluster's trust boundary), so reaching bob this way needs what joining the
// cluster needs. Source addresses alone were refused (UDP sources are easy to forge on a
// LAN); a shared secret in cluster.conf was refused as one more thing to configure, rotate
// and leak, when the cluster already has a private channel. The server then treats the
// INVITE as "deliver to the local peer": no digest, no dialplan; the incoming leg (named by
// the caller server's address, as a guest; codecs: the peer's) runs SetDelivery's function
// with "SIP/<peer>[/<exten>]" (the core: dialplan.Engine.Deliverer, app_dial's Dial without
// a timeout; the caller's Dial keeps its own), which rings the peer at its registration and
// NAT binding like any Dial here. A delivered call never goes on to a third server: a Request
// made for a leg from another member uses local registrations only, so two servers that
// disagree for a moment cannot bounce a call between them. Media is relayed by each server
// for its own legs (two relays in the path). The delivering server's final response to a
// failed call carries "Reason: Q.850;cause=N" (RFC 3326) and the caller's server takes that
// cause, so its Dial sets the same DIALSTATUS (CHANUNAVAIL when bob has just left, not the
// NOANSWER a bare 480 means). "sip show locations" lists every peer's registration: here,
// or the member's EID and SIP address, and the seconds left. Device state needs nothing new: SIP/bob goes
// RINGING and INUSE on server 2 (its outgoing leg) and on server 1 (its leg counts against
// bob's counters there), and devstate aggregates across the cluster.
//
// Not done yet (music on hold to a held party is internal/moh, through the bridge): Record-Route/route sets, 100rel on
// our re-INVITEs, preconditions (RFC 3312) and offers in PRACK or UPDATE during the early
// dialog, T.38, codecs other
// than G.711, TLS and WebSocket transports, outbound registrations (register =>), DNS names
// in host=, SHA-256 digest, qop=auth-int, several contacts per peer, Path,
// contactpermit/contactdeny, negated ACL rules.
package sip
