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
// sip_location (a channel named "default"). A cluster is set up to share state, and Asterisk's "share nothing unless
// told" default is the commonest cause of "the cluster does not work". To share nothing,
// configure a channel with no publish_event/subscribe_event lines.
//
// The sip_location type (which server holds each SIP registration, for calls across servers:
// see internal/sip) is state like device_state, synced and purged, but shared like realtime
// when no channel names it, so that existing files need no change.
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
