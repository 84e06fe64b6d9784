// Package event is Pleiades' in-process event bus with its state cache, the counterpart of
// Asterisk's stasis cache as used by device state and MWI, shaped so that the cluster layer
// only adds transport.
//
// # Events
//
// An Event has a Kind, a Key (the device, the mailbox@context) and an Origin: the Entity ID of
// the server it comes from. DeviceState and MWI are the shareable kinds ("device_state",
// "mwi"); the bus caches the last event per (kind, key, origin EID). DeviceStateChange and
// MessageWaiting are derived, local notifications that the devstate and mwi engines publish
// when a cluster-wide value changes; they are not cached. Cleared announces that a cached event
// was removed (Clear, Purge).
//
// # What the cluster layer uses
//
//	(a) publish local events:  bus.Subscribe("cluster:device_state", event.KindDeviceState, h, event.LocalOnly())
//	                           h gets DeviceState (send it) and Cleared (send a removal)
//	(b) inject remote events:  bus.Publish(event.DeviceState{Device: d, State: s, EID: remote})
//	                           (drop events that carry bus.Local() before this: a server ignores its own EID)
//	(c) a server left:         counts := bus.Purge(remote)  // map[Kind]int, for "Clearing N events of type T of node X"
//	(d) a server joined:       for _, ev := range bus.Dump(event.KindDeviceState, bus.Local()) { send(ev) }
//
// Publish of a cached kind that equals the cached event of its (key, origin) is dropped and
// returns false, so that repeated states (a phone re-registering) cost no traffic.
//
// # Subscriptions and queues
//
// Subscribe watches every key of a kind; SubscribeKeys watches only the given keys (subscribe
// narrowly: an event nobody watches costs a map lookup). Each subscription has its own
// goroutine and a bounded, named queue; the handler runs on that goroutine, one event at a
// time, in publish order per (key, origin). Publishers never block on subscribers: while a
// queue holds fewer than QueueLen events every event is queued; from QueueLen on, a new state
// of a (kind, key, origin) that is already waiting replaces the waiting one in place
// ("coalesced": the latest state wins, states are idempotent), and a key that is not waiting
// is still queued so that no key loses its latest state; past MaxPending events are dropped
// and counted (and logged). Depth, high-water mark, delivered, coalesced and dropped counts
// are in Stats and in the CLI command "event show queues" (and, in Asterisk 20's task
// processor columns, "core show taskprocessors": see WriteTaskprocessors); "event show cache"
// counts the cache per type and origin.
//
// # Lock order
//
// shard.mu (one of 64, by key hash; held while a key's event is cached and offered to the
// subscribers, which is what orders a key's events) -> Bus.subsMu (read) -> Subscription.mu.
// Subscribe and Subscription.Close take Bus.subsMu and Subscription.mu one after the other,
// never nested. No bus lock is held while a handler runs, so handlers may publish.
//
// # Wiring (for internal/core)
//
//	bus := event.NewBus(log, localEID)      // log *slog.Logger, localEID eid.EID
//	cliRegistry.MustRegister(bus.Commands()...)
//	... devstate.New(log, bus, db), mwi.New(log, bus) ...
//	registry.MustRegister(bus.Collector())  // queue and bus metrics (pleiades_event_*)
//	bus.Close()                             // last, after the modules that subscribe; waits for subscriber goroutines
package event
