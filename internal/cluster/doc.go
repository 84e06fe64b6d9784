// Package cluster shares device state and MWI between Pleiades servers over NATS: membership,
// event channels and transport, the part of Asterisk's res_ais/res_corosync that is not the
// state engines themselves.
//
// # Lifecycle (for the server assembly)
//
//	cfg, err := cluster.ParseConfig(confTree, isCorosync) // conf.ErrorList, every error file:line
//	cfg.SystemName, cfg.Version = settings.SystemName, core.Version
//	br, err := cluster.NewBridge(bus, devstate.WireCodec{}, mwi.WireCodec{}) // the bus as Local
//	c, err := cluster.New(cfg, settings.EntityID, log, br)    // or any other cluster.Local
//	br.Forward(c)                                             // this server's events go out
//	c.OnMember(func(ev cluster.MemberEvent) { ... })          // before Start (AMI events later)
//	err = c.Start(ctx)                                        // embedded server up, subscribed, first heartbeat out
//	registry.MustRegister(c.Commands()...)
//	c.Publish(ev)   // for every locally originated device_state / mwi change
//	c.Members(); c.Stats(); c.DuplicateEID()
//	registry.MustRegister(c.Collector())                      // Prometheus metrics
//	br.Close(); c.Stop(ctx) // announces leaving, purges remote events from Local, shuts NATS down
//
// Reconfiguration is not supported: a change of cluster.conf needs a restart. For reload,
// parse the new file with ParseConfig (which refuses a bad file with every error) and compare
// it with Diff(running.Config(), newCfg): a non-empty list names the settings that would need
// a restart, so reload can refuse with that message and keep the running configuration.
//
// # Configuration (cluster.conf)
//
//	[general]
//	mode = embedded            ; or external
//	node_name = pbx-a          ; default: asterisk.conf systemname, else the host name
//	cluster_name = pleiades    ; subject prefix and NATS cluster name
//	listen = 10.0.0.1:6222     ; embedded: route port (none: a cluster of one)
//	routes = 10.0.0.2:6222,10.0.0.3:6222
//	client_listen = 127.0.0.1:4223 ; embedded: optional NATS client port for tools
//	;nats_url = nats://n1:4222,nats://n2:4222 ; external (default nats://127.0.0.1:4222)
//	;tls_ca = ca.pem  tls_cert = cert.pem  tls_key = key.pem  credentials = pbx.creds ; external
//	route_tls_ca = ca.pem  route_tls_cert = pbx-a.pem  route_tls_key = pbx-a-key.pem ; embedded: mutual TLS on routes
//	route_user = pbx  route_password = secret          ; embedded: every route in and out carries it
//	client_user = tools  client_password = secret      ; embedded: client_listen takes only this user
//	strict_members = no        ; yes: ignore a server announcing a live member's Entity ID
//	heartbeat_interval = 1000  ; ms
//	member_timeout = 5000      ; ms, must exceed heartbeat_interval (3x or more advised)
//
//	[device_state]             ; the seed's ais.conf shape
//	type = event_channel
//	publish_event = device_state
//	subscribe_event = device_state
//
// An event type is sent only if some channel publishes it and taken only if some channel
// subscribes to it. publish_event/subscribe_event take one type per line (repeat the line) or
// a comma-separated list. ParseConfig(cfg, true) reads Asterisk's res_corosync.conf instead:
// [general] with publish_event/subscribe_event lines (the cluster.conf [general] keys are
// accepted there too), forming one channel named "general". Every mistake is an error with
// file:line, all of a file at once: unknown keys or sections, unknown event types, a bad mode,
// host:port or number, keys of the other mode, routes without listen, tls_cert without
// tls_key, a scalar key given twice. Nothing is declined silently (Asterisk 22's res_corosync
// declines a comma list without a word).
//
// No event channel at all means: publish and subscribe device_state, mwi, realtime and
// sip_location, and queue (a channel named "default"). A cluster is set up to share state, and Asterisk's "share nothing unless
// told" default is the commonest cause of "the cluster does not work". To share nothing,
// configure a channel with no publish_event/subscribe_event lines.
//
// The sip_location type (which server holds each SIP registration, for calls across servers:
// see internal/sip) is state like device_state, synced and purged, but shared like realtime
// when no channel names it, so that existing files need no change.
//
// The queue type (queue member changes: pause, unpause, dynamic add and remove, a member's
// last call; internal/queue's Share) is a signal like realtime and shared like it when no
// channel names it.
//
// The realtime type (explicit realtime invalidations: "realtime invalidate" on one server is
// applied by every server) is a signal, not state: it is never part of a join's sync and
// nothing of it is purged. When no channel names it, it is published whenever any type is
// published and taken whenever any type is subscribed to, so a cluster.conf or
// res_corosync.conf written for device_state and mwi keeps caches in step without a change;
// name it in a channel to control it like the others.
//
// # Transport
//
// Embedded mode (default) runs github.com/nats-io/nats-server/v2 inside the process with no
// client port (DontListen) and connects nats.go to it in-process (nats.InProcessServer), so
// nothing listens unless configured; listen= opens the route port, routes= are solicited
// (nats-route://), and nats-server's route gossip completes the mesh. Port 0 picks a free port
// (tests). A single server without routes is a cluster of one. External mode connects to an
// existing NATS cluster (nats_url, tls_*, credentials; the user needs publish and subscribe
// rights on "<cluster_name>.>" and "_INBOX.>"); it keeps retrying in the background if NATS
// is down at start. nats.go reconnects forever; events published while disconnected are
// buffered (8 MB), and anything lost is repaired by the resync below.
//
// # Route security (embedded mode)
//
// route_tls_ca, route_tls_cert and route_tls_key (all three or none) put every route under
// mutual TLS: the embedded server requires and verifies a client certificate signed by the
// cluster CA on each route it accepts, and verifies the peer's certificate (chain to the same
// CA, and the host name or IP routed to, as nats-server does for solicited routes) on each
// route it makes. Host names are verified rather than the chain alone because skipping it
// means InsecureSkipVerify, which nats-server warns about at every start, and because a
// certificate stolen from one box should not serve for another address. One certificate per
// server serves both directions, so it must allow serverAuth and clientAuth. ParseConfig
// loads the files (relative names against the configuration file's directory) and refuses,
// with file:line, a missing file, a CA file with no certificate, a key that does not match, a
// certificate not signed by the CA, expired or not yet valid, or without both usages; Start
// loads them again.
//
// route_user/route_password is nats-server's cluster authorization: routes accepted must
// present it, routes made (configured and gossiped) carry it. TLS and a password can be used
// together; a password without TLS travels in clear. The embedded server's client port is
// never anonymous unless the operator opened client_listen without client_user: when routing
// needs a hidden loopback client port, or client_user is set, the port takes only an nkey
// made at each start for this process's own in-process connection (nothing secret stored),
// plus client_user (its password bcrypt-hashed in memory, so that nats-server compares
// hashes and does not warn about plaintext passwords).
// Nothing else of NATS is configured (no monitoring port, no system account) except, with
// jetstream=yes ([general], default no), JetStream, which voicemail.conf's storage=nats keeps
// its messages in: the store directory is jetstream_dir (default <astdbdir>/nats). It is off
// by default because nothing else needs it and a JetStream cluster elects a meta leader among
// its servers (a few seconds after start, and it needs a majority of them up to create
// buckets). Every server of a cluster that uses it should set it the same way. A JetStream
// cluster needs routes configured on every server: a server with jetstream=yes, listen= and
// no routes= routes to its own listen address (nats-server drops a route to itself), which
// needs a fixed port; with route TLS its certificate must then also name that address
// (127.0.0.1 for a wildcard listen). In external mode the NATS server's own configuration
// enables JetStream.
//
// A server whose listen= is not loopback and that has neither route TLS nor route_user logs
// a WARNING at every start (so does a non-loopback client_listen without client_user):
// allowed, as the issue asks, for a LAN that is trusted, but never silent. nats-server's
// messages about a route or client refused (authentication error, TLS handshake error) are
// logged as "Cluster: refused a connection from ADDR: why" in the operator's terms.
//
// # Sites (NATS gateways)
//
//	[general]
//	site = berlin               ; this server's site
//	gateway_listen = 10.0.0.1:7222 ; where the other sites' servers connect
//	;gateway_advertise = 203.0.113.5:7222 ; the address the other sites are told (NAT)
//	site_stale_timeout = 60000  ; ms: another site's silent member stays, marked stale
//	[paris]
//	type = site
//	gateways = 10.1.0.1:7222,10.1.0.2:7222 ; some of paris's gateway_listen addresses
//
// The servers of one site form a route mesh as without sites (listen=, routes=); the NATS
// cluster of a site is named after the site. Sites are joined with NATS gateways, not leaf
// nodes: leaf nodes are hub and spoke (three sites need a hub; a spoke's message to another
// spoke crosses the WAN twice and the hub's outage cuts the spokes apart), while gateways link
// every pair of sites directly. Each server opens one outbound gateway connection per other
// site (to any of its servers; the others are learnt by gossip, so gateways= needs only some
// of them), so a site pair of n and m servers has n+m connections instead of the n×m routes
// a cluster stretched over the WAN would need, and a message crosses the WAN once per site,
// then travels the site's routes. nats-server reconnects a lost gateway by itself (to another
// server of the site if the first is gone). Gateways use the route security: route_tls_*
// (the same cluster CA; certificates must name the gateway addresses too) and
// route_user/route_password. A non-loopback gateway_listen without either is warned about
// at every start, like listen=.
//
// Heartbeats carry the site (appended to the heartbeat body: older servers ignore it), so
// every server knows each member's site; `cluster show members` prints it per member and,
// for each configured site, the state of this server's link ("link up (to ADDR, N inbound)"
// or "link down"); /api/cluster/members has "site" and, for another site's members,
// "site_link" (SiteLinks, read from nats-server's Gatewayz). The board groups members by site.
//
// A site cut off: a member of another site unheard for member_timeout is not purged but
// marked stale (logged as a WARNING; `cluster show members` shows "stale (site S
// unreachable; states kept, purged in N s)", the API state "stale", the board a red lamp):
// its states are kept, since across a WAN a lost link is far likelier than every server of a
// site dying at once, and a PBX should keep showing the last known lamps. After
// site_stale_timeout (default 60000 ms with site=; 0 = purge at member_timeout like a member
// of this site) it is purged as before. When it is heard again (same start time) it is no
// longer stale and this server asks it for its state: the snapshot replaces what was kept, so
// deletions made during the cut are applied and no state is left that neither side holds.
// A restart meanwhile (a newer start time) is a restart as always. Members of this server's
// own site are purged at member_timeout as before: within a site a silent server is a dead
// one. gateway_advertise (host:port) is the gateway address told to the other sites when
// they must reach this server through NAT or a proxy (the cut-off test routes the gateways
// through proxies this way).
//
// # Duplicate Entity IDs and strict_members
//
// A heartbeat from a member's Entity ID with another node name or start time is either a
// restart or a second server using the ID. Without strict_members the newer start time wins
// (a restart), and a heartbeat of the older one that still arrives with another node name is
// reported as an ERROR (as a server using this server's own ID always is). With
// strict_members = yes, a newer start time under another node name while the member is alive
// is not taken as a restart: the newcomer is reported and every message of it ignored; it
// can take the ID only after the holder is gone (leave or member_timeout). A real restart
// keeps its node name and is unaffected.
//
// # Subjects and messages
//
//	<cluster>.hb               heartbeat: node name, EID, addresses, start time, version
//	<cluster>.leave            graceful stop
//	<cluster>.ping             cluster ping
//	<cluster>.ev.<type>        one event
//	<cluster>.sync.<eid hex>   "send me your events of these types" (to one member)
//	_INBOX.<random>            snapshot batches, sent to the member that asked
//
// Messages use a compact versioned binary format (codec.go; FuzzDecode checks that no input
// makes the decoder panic and that encoding round-trips). Binary rather than JSON: an event
// is about 40 bytes instead of about 150, and decoding does no reflection (see
// BenchmarkCodec). Every message carries the origin's EID, its start time (incarnation) and,
// for broadcast messages, a per-origin sequence number. nats.NoEcho keeps our own messages
// away; a message with our EID that still arrives comes from another server with the same
// EID: it is dropped, and if it is a heartbeat with another node name or start time, an error
// is logged (on every heartbeat) and `cluster show members` shows a warning.
//
// A server subscribes to "<cluster>.>" with one subscription, so that each origin's messages
// are handled in the order it sent them (NATS keeps per-publisher order; a subscription per
// subject would not). The price: every server receives every event type and drops the types
// it does not subscribe to (counted in Stats) — cheap next to the certainty of ordering.
//
// # Membership
//
// Every server sends a heartbeat each heartbeat_interval (every 100 ms for a second after
// start, after a new route comes up, after a NATS reconnect, and after seeing a new member, so
// that joining takes milliseconds, not a heartbeat interval). A member is lost after
// member_timeout without any message from it (this drops a hung server too, which corosync
// did not), and leaves at once when it sends a leave. A heartbeat with a newer start time
// from a known EID is a restart: the old incarnation leaves, the new one joins. Messages from
// servers that are not (yet) members are dropped: their first heartbeat starts a sync that
// covers them.
//
// # Join sync and repair
//
// When a server hears a member for the first time (start, a new server, a healed partition,
// a member back from a hang) it asks that member for its events (a pull: each side asks for
// what it lacks, so one-sided losses heal too). The member reads its broadcast sequence
// number S, then Local.Snapshot for each type it publishes and the asker subscribes to, and
// sends the events in batches of at most 256 KB to the asker's inbox; the last batch is
// marked final. Ordering between the snapshot and live events that overtake or trail it is
// settled per (origin, type, key) by stamps: a live event with sequence n has stamp 2n, a
// snapshot event 2S+1, and only a higher stamp is applied. When the final batch arrives,
// every key of that origin and type which the snapshot did not list and no newer live event
// touched is removed (Apply with no Fields), so after a sync this server's view of the member
// equals what a fresh server would get.
//
// A gap in a member's sequence numbers (a short partition below member_timeout, a NATS
// reconnect, a slow-consumer drop) makes the receiver ask for a new snapshot; a lost or
// incomplete snapshot is asked for again after member_timeout. Nothing is left stale.
//
// # Departure
//
// When a member is lost or leaves, Local.Purge is called for each subscribed type and
// "Clearing N events of type T of node X (EID)" is logged as a NOTICE, then "Node X (EID) at
// ADDR left the cluster" (or "was lost (no heartbeat)"). OnMember callbacks see every join
// and departure, in order, with a reason. Stop purges every member's events too: a stopped
// cluster leaves no remote state behind.
//
// # Logging and metrics
//
// At debug level 1 (logger.DebugLevel(1)) each applied remote event is logged with its EID.
// Each received ping logs "Got event PING from server with EID: '...'" as a NOTICE. Stats
// returns per-type counters (sent, received, from sync, applied, dropped, not published),
// the receive latency (now - Event.Time: mean, max and p50/p90/p99 from power-of-two
// buckets), and counters of joins, departures, syncs, gaps, drops and errors;
// `cluster show stats` prints them. Collector gives the Prometheus metrics: members and their
// health, events by type, membership changes and the propagation latency histogram.
//
// # The bus bridge
//
// Bridge is the Local of a server: it applies remote events to the event bus, snapshots this
// server's cached events and purges a departed member's. What an event type carries is the
// business of the engine that owns it, through a Codec: devstate.WireCodec (the state's name)
// and mwi.WireCodec (new, old, urgent and the update's time); the bridge only moves them.
//
// # Concurrency
//
// Received messages and timers are handled under one mutex (procMu), so Local.Apply and
// Local.Purge are never called concurrently; Snapshot runs in a sender goroutine. Broadcast
// sends take pubMu (sequence number and publish together, so numbers go out in order). The
// members view has its own RWMutex. Lock order: procMu, then pubMu or viewMu.
package cluster
