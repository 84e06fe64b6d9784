// Package httpapi is Pleiades' HTTP server (Asterisk's main/http.c and res/ari): an
// ARI-compatible REST API for device states and mailboxes, Pleiades' own REST API for hints,
// cluster members and realtime mappings, a WebSocket event stream, Prometheus metrics and a
// BLF board page. The JSON shapes, with examples, are in the project README ("Web" section)
// and in docs/openapi.yaml.
//
// # Routes (below http.conf's prefix)
//
//	GET    /ari/deviceStates                 every device some server has a state for: [{name, state}]
//	GET    /ari/deviceStates/{name}          {name, state} (cluster-wide); 404 "Device not found"
//	PUT    /ari/deviceStates/{name}?deviceState=INUSE   Custom: and Stasis: devices; 204
//	DELETE /ari/deviceStates/{name}          204; 404 when this server has no state for it
//	GET    /ari/mailboxes                    [{name, old_messages, new_messages, urgent_messages}]
//	GET    /ari/mailboxes/{name}             404 "Mailbox not found"
//	PUT    /ari/mailboxes/{name}?oldMessages=&newMessages=[&urgentMessages=]   204
//	DELETE /ari/mailboxes/{name}             204; 404
//	GET    /ari/asterisk/variable?variable=NAME             {value}: a global or a function
//	POST   /ari/asterisk/variable?variable=NAME&value=V     204
//	GET    /ari/events?app=NAME[&filters]    WebSocket (app required, as in ARI)
//	GET    /api/events[?app=NAME][&filters]  WebSocket (app optional)
//	GET    /api/hints[?context=C][&exten=PREFIX]
//	GET    /api/cluster/members
//	GET    /api/realtime/mappings            mappings, and per family counters and changes: live|ttl
//	POST   /api/realtime/invalidate/{family}[/{key}]   204; 404 family not mapped ("realtime invalidate")
//	GET    /metrics                          Prometheus text format
//	GET    /board/                           the BLF board (embedded web/ files)
//
// Device and mailbox names may be sent escaped ("SIP%2Falice") or not ("SIP/alice"); they
// are at most MaxNameLength (256) bytes, longer ones are answered 400 ("Device name too
// long (at most 256 bytes)") and never stored. PUT and DELETE also answer POST for PUT, as
// Asterisk does. Errors are ARI's {"message": "..."}
// with 400 (bad or missing parameter), 401 (no or wrong credentials, with WWW-Authenticate:
// Basic realm="<auth_realm>"), 403 (read_only user changing state), 404, 429 (too many failed
// authentications from the address, with Retry-After), 409 ("Uncontrolled
// device specified": PUT/DELETE of a device that is neither Custom: nor Stasis:), 503 (an
// engine not wired: Deps.MWI, Hints or Realtime nil).
//
// # Choices
//
//   - Configuration: http.conf [general] enabled (default no), bindaddr (required when enabled,
//     as in Asterisk; a port written there is ignored), bindport (default 8088; 0 = any free
//     port, for tests), prefix, servername (default "Pleiades/<version>"; empty: no Server
//     header), sessionlimit (default 100, see "Slow clients" below), session_inactivity (ms,
//     default 30000: time to read a request's headers),
//     session_keep_alive (ms, default 15000; 0: no persistent connections), redirect = <from>
//     <to> (302), tlsenable, tlsbindaddr (default bindaddr:8089), tlscertfile, tlsprivatekey
//     (default: the certificate file), tlsdisablev1/v11/v12 (minimum TLS version; v1 off by
//     default). Pleiades additions: metrics_auth (/metrics needs an ARI user; default: yes
//     when bindaddr or tlsbindaddr is not a loopback address, no on a loopback-only server,
//     like res_prometheus without auth; an explicit no on an exposed server is warned
//     about), sessionlimit_per_address (see below), board (default yes). Not supported, a warning each:
//     enable_static, enable_status, tlscipher, tlsservercipherorder (Go chooses), [post_mappings],
//     type=restriction categories (per-URI ACLs); unknown options and categories warn too.
//   - ari.conf: [general] enabled (default yes; no: /ari and /api answer 404), pretty,
//     allowed_origins (CORS and WebSocket Origin check; "*" allows all), auth_realm (default
//     "Asterisk REST Interface"), websocket_write_timeout (ms, default 100: a write blocked
//     longer drops the client); Pleiades' websocket_queue (default 1024, see below). Users:
//     [name] type=user, password, password_format=plain (default) or crypt, read_only.
//     channelvars, per-user permit/deny/acl and type=outbound_websocket are ignored with a
//     warning. A user category without a password, or of another type, is an error.
//   - crypt passwords: SHA-512 and SHA-256 crypt ("$6$", "$5$": `mkpasswd -m sha-512`, which
//     Asterisk's sample advises; implemented here after Drepper's specification and tested
//     against openssl's output) and bcrypt ("$2a$", "$2b$", "$2y$", golang.org/x/crypto).
//     MD5-crypt and DES crypt are refused at configuration time. Plain passwords are compared
//     in constant time.
//   - Configure parses and validates both files in full (every error, file:line, as a
//     conf.ErrorList) and changes nothing on error. A running server opens a new listener
//     before closing the old one, so a busy port leaves the old one serving; a change of
//     session_* options gives the same socket a new http.Server (the old one finishes its
//     requests). Users, realm, prefix, CORS, TLS certificate and queue settings apply to the
//     next request or connection.
//   - Authentication is HTTP Basic, or ARI's api_key=user:password query parameter (browsers
//     cannot set headers on a WebSocket). Every failure (wrong password, unknown user, an
//     Authorization that is not Basic) is logged at NOTICE in manager.c's wording, so that
//     fail2ban's asterisk filter bans on it: "<ip> failed to authenticate as '<user>' (HTTP
//     GET /ari/...)", user name and path escaped (internal/logesc); Asterisk logs only
//     "Invalid userid/password" without an address. After MaxAuthFailures (5) failures
//     within AuthFailureWindow (30 s) from one address, every request with credentials from
//     it is answered 429 for AuthBlockTime (30 s), even with the right password
//     (internal/loginlimit, as the Manager's Login); requests without credentials do not
//     count. With no user configured every request to /ari and
//     /api is refused (as in Asterisk; a warning says so). A request carrying
//     X-Requested-With gets its 401 without WWW-Authenticate, so that the board's fetches do
//     not raise the browser's login dialog. The board's files need no credentials (they hold
//     no data); the page asks for a user, or takes ?api_key=user:password.
//   - GET /ari/deviceStates lists every device any server has a state for (ARI lists only
//     its Stasis: devices): Pleiades' operators want the whole picture. States are the
//     cluster-wide aggregates. GET of one device answers 404 when no server has a state for
//     it and no provider knows its prefix (its state would be INVALID); a never-set Custom:
//     or Stasis: device reads UNKNOWN, as DEVICE_STATE() does.
//   - PUT accepts the nine state names, case-insensitive (ARI's list lacks UNKNOWN; accepting
//     it costs nothing). Custom: devices go through devstate.Engine.SetCustom (astdb, shared
//     with DEVICE_STATE() and "devstate change"). Stasis: devices are ARI's own: this package
//     registers a devstate provider for "Stasis:" and publishes their states as this server's
//     (they are not persisted; Asterisk keeps them in astdb). DELETE of a Stasis: device
//     removes it (its state falls back to UNKNOWN); DELETE of a Custom: device is
//     devstate.Engine.DeleteCustom: its astdb entry and this server's state are removed.
//   - Mailboxes: names without "@context" are in "default" (mwi.Normalize). PUT may also
//     carry urgentMessages (Pleiades). DELETE is mwi.Engine.Delete (cluster-wide).
//   - WebSocket stream: every message is one JSON object with "type", "timestamp" (ARI's
//     format), "asterisk_id" (this server's EID) and, when the connection gave app=NAME,
//     "application". Types: DeviceStateChanged (ARI's name and shape: device_state {name,
//     state}; every device, as with ARI's subscribeAll), ExtensionStatus (hint: the same
//     object as /api/hints), MessageWaiting (mailbox, waiting), ClusterMember (change,
//     reason, member). Filters (query parameters, repeatable or comma-separated): types=,
//     device= (prefixes of device names), exten= (prefixes of hint extensions), context=
//     (hint contexts), mailbox= (prefixes of mailbox@context); a filter narrows only its own
//     type. No snapshot is sent at connect: clients read the REST resources after opening the
//     socket (the board does).
//   - Bounded queues: each connection has a queue of websocket_queue messages, filled without
//     blocking by the event bus's and hint engine's goroutines; a connection whose queue is
//     full is dropped ("slow consumer", close code 1008), and one whose single write blocks
//     longer than websocket_write_timeout is dropped ("write timeout"); both are counted in
//     pleiades_websocket_clients_dropped_total. Nobody else waits for a slow client. Upstream
//     the bus coalesces per device (latest state wins) before the hub.
//   - Metrics use a registry of this server's own (not the global one), with Go and process
//     collectors and this server's own HTTP and WebSocket counters. AMI's and SIP's counters
//     are read at scrape time (Deps.Sources, a func each). The event bus, devstate, mwi,
//     hint, cluster and realtime packages each have a Collector that the server assembly
//     registers on Metrics.Registry. Families are listed in the project README.
//   - The board (web/index.html, board.css, board.js; embed, no build step, no framework)
//     opens /api/events, then loads /api/hints and /api/cluster/members; ExtensionStatus
//     events repaint a lamp; DeviceStateChanged and ClusterMember events trigger a debounced
//     reload (a server's contribution can change without the aggregate changing); it reloads
//     every 10 s and reconnects with backoff. Lamps carry data-key="exten@context" and
//     data-state="<state text>" for tests and scripts. The layout is a CSS grid that goes to
//     two columns on a phone.
//
// # Dialplan variables and privilege escalation
//
// /ari/asterisk/variable reads and writes globals and dialplan functions through
// Deps.Variables (the core runs them on a channel that inhibits escalations: an HTTP user is
// never privileged, as every ARI request in Asterisk runs with escalations inhibited). A
// function that escalates (REALTIME*, DB*, func_odbc's...) is answered 403 ("NAME escalates
// privileges: refused to HTTP users (asterisk.conf live_dangerously=no)"; Asterisk answers
// 204 and sets nothing) unless asterisk.conf has live_dangerously=yes. A function that fails
// otherwise reads as "", as AMI's Getvar. Nothing else of the HTTP API evaluates dialplan
// functions.
//
// # Slow clients (slowloris) and accept errors
//
// A connection counts against the limits from accept to close (a WebSocket included).
// sessionlimit_per_address (Pleiades, default 50; 0: none) bounds the connections of one
// client address: more are closed at once. When sessionlimit is reached, a new connection
// evicts the connection that has waited longest without a request in progress (its headers
// still arriving, or idle between keep-alive requests); one that is being answered or is a
// WebSocket is never evicted, and the new connection is closed at once only when all are.
// So clients that trickle their headers (100 of them from 100 addresses, reconnecting as
// soon as they are cut) cannot lock others out: a request that arrives at once is served.
// Asterisk closes every connection over sessionlimit instead. Counted in
// pleiades_http_sessions_rejected_total and pleiades_http_sessions_evicted_total. The accept
// loop (internal/netaccept) survives descriptor exhaustion: it retries with a backoff of
// 5 ms doubling to 1 s and logs rarely.
//
// # Wiring (for internal/core)
//
//	srv := httpapi.New(log, httpapi.Deps{Bus: bus, DevState: ds, MWI: m, Hints: hints,
//		Realtime: rt, Cluster: clusterAdapter, Sources: httpapi.Sources{...}, Version: core.Version})
//	cliRegistry.MustRegister(srv.Commands()...)   // http show status, ari show status, ari show users
//	err := srv.Configure(httpConf, ariConf)      // at load and at every reload
//	err = srv.Start(ctx)
//	... srv.Addr() ...
//	srv.Close()                                  // before hints, mwi, devstate and the bus close
//
// # Lock order
//
// Server.mu -> binding.mu. hub.mu is taken alone (never while calling out); the hub's bus and
// hint handlers take only hub.mu, so they may run while the hint engine holds its own locks.
package httpapi
