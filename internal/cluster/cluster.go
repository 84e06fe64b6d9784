package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/pleiades-pbx/pleiades/internal/eid"
	"github.com/pleiades-pbx/pleiades/internal/logger"
)

// Event is one state change shared between servers.
type Event struct {
	// Type is the event type: TypeDeviceState, TypeMWI or TypeRealtime.
	Type string
	// Key names the state: a device ("Custom:mystate") or a mailbox ("1234@default").
	Key string
	// Fields is the type-specific payload:
	//   - device_state: [state name], e.g. ["INUSE"] (devstate's DEVICE_STATE() names);
	//   - mwi: [new, old, urgent] message counts in decimal, e.g. ["2", "5", "0"];
	//   - realtime: Key is the family, Fields [row key] ("" for every row), e.g. ["alice"].
	// A receiver must accept and ignore fields after the ones it knows, so a type can grow.
	// No fields at all means the key was removed on its origin (e.g. MWIDelete): Apply must
	// forget the (Key, EID) entry.
	Fields []string
	// EID is the origin server. Publish stamps this server's EID.
	EID eid.EID
	// Time is the origin time of the change (latency metrics; Publish stamps now if zero).
	Time time.Time
}

// Local is what the cluster needs from this server's state engines.
//
// The cluster calls Apply and Purge from one goroutine at a time (never concurrently with each
// other), in the order events must take effect. Snapshot is called from another goroutine,
// possibly while Apply runs. None of them may call Stop; they may call Publish, Members and
// Stats.
type Local interface {
	// Snapshot returns every event this server originated of type typ (join sync). Events with
	// another EID are ignored.
	Snapshot(typ string) []Event
	// Apply takes an event from another server (never one with this server's EID).
	Apply(e Event)
	// Purge forgets every event of type typ that came from origin and returns how many.
	Purge(typ string, origin eid.EID) int
}

// Member is one server of the cluster as this server sees it.
type Member struct {
	NodeName string
	EID      eid.EID
	// Addrs are the addresses the member announces (its route listen address in embedded
	// mode, its host addresses in external mode).
	Addrs   []string
	Version string
	// Site is the member's site (site= in its cluster.conf; "" without sites).
	Site string
	// Started is the member's start time (it tells a restart from a long silence).
	Started time.Time
	// Joined is when this server first heard it (this incarnation).
	Joined time.Time
	// LastHeartbeat is when its last heartbeat arrived (now for this server).
	LastHeartbeat time.Time
	// Self marks this server.
	Self bool
	// Synced is true once the member's snapshot was received in full (always true for Self).
	Synced bool
	// Stale is true while a member of another site is unheard for longer than
	// member_timeout: its states are kept until site_stale_timeout after StaleSince.
	Stale      bool
	StaleSince time.Time
}

// MemberEventKind tells a join from a departure.
type MemberEventKind int

// Member event kinds.
const (
	MemberJoined MemberEventKind = iota + 1
	MemberLeft
)

func (k MemberEventKind) String() string {
	switch k {
	case MemberJoined:
		return "joined"
	case MemberLeft:
		return "left"
	}
	return "unknown"
}

// MemberEvent is passed to OnMember callbacks.
type MemberEvent struct {
	Kind   MemberEventKind
	Member Member
	// Reason of a departure: "leave" (graceful stop), "timeout" (no heartbeat for
	// member_timeout), "restart" (it came back with a new start time) or "stop" (this server
	// stopped its cluster).
	Reason string
}

// Cluster shares this server's events with the other servers and theirs with this one.
type Cluster struct {
	cfg      *Config
	self     eid.EID
	node     string
	log      *slog.Logger
	local    Local
	started  time.Time
	inc      uint64
	pubTypes map[string]bool
	subTypes map[string]bool
	prefix   string
	evSubj   map[string]string

	stats   *statsCollector
	metrics *metrics

	// transport (set by Start)
	srv    *server.Server
	nc     *nats.Conn
	subs   []*nats.Subscription
	inbox  string
	addrs  []string
	routes atomic.Int64 // last seen route count (embedded)

	state atomic.Int32 // stateNew, stateRunning, stateStopped

	// pubMu orders broadcast messages: the sequence number and the publish happen together.
	pubMu sync.Mutex
	seq   uint64
	buf   []byte

	// procMu serializes the handling of received messages and of timers; it is held while
	// calling Local.Apply/Purge and the OnMember callbacks. Lock order: procMu, then pubMu or
	// viewMu (never the other way).
	procMu sync.Mutex
	peers  map[eid.EID]*peer
	reqID  uint64

	// viewMu guards the members view read by Members and the CLI.
	viewMu sync.RWMutex
	view   map[eid.EID]*Member
	dup    *duplicate
	taken  map[eid.EID]*TakenID // other servers' Entity IDs announced twice

	cbMu      sync.RWMutex
	callbacks []func(MemberEvent)

	kick     chan struct{}
	fastTill atomic.Int64 // unix nanos until which heartbeats go out fast (just joined/healed)
	stop     chan struct{}
	wg       sync.WaitGroup // timer loop
	syncWG   sync.WaitGroup // snapshot senders
}

type duplicate struct {
	node    string
	started time.Time
	seen    time.Time
}

const (
	stateNew int32 = iota
	stateRunning
	stateStopped
)

// peer is another member, as tracked by the receive path (under procMu).
type peer struct {
	m         *Member
	inc       uint64
	lastSeq   uint64
	lastHeard time.Time
	sync      *syncState // outstanding snapshot request
	resync    bool       // another request is wanted once the outstanding one ends
	keys      map[typeKey]*keyState
	floor     map[string]uint64 // per type: stamps at or below are covered by a finished snapshot
	stale     bool              // another site's member unheard: states kept (site_stale_timeout)
}

type syncState struct {
	id      uint64
	next    uint64
	started time.Time
}

type typeKey struct{ typ, key string }

// keyState orders the updates of one (type, key) of one origin. A live event has stamp
// 2*seq, a snapshot event 2*snapshot-seq+1: the snapshot read everything published up to its
// sequence number, and nothing after.
type keyState struct {
	stamp   uint64
	mark    uint64 // id of the last snapshot that listed the key
	deleted bool
}

// New checks the configuration and prepares a cluster; Start connects it. cfg must come from
// ParseConfig (or DefaultConfig); self is this server's Entity ID; log receives every message
// (nil: slog.Default()); l is this server's state.
func New(cfg *Config, self eid.EID, log *slog.Logger, l Local) (*Cluster, error) {
	if cfg == nil {
		cfg = DefaultConfig()
	}
	if self.IsZero() {
		return nil, errors.New("cluster: the Entity ID is not set")
	}
	if l == nil {
		return nil, errors.New("cluster: no Local state")
	}
	if log == nil {
		log = slog.Default()
	}
	if cfg.ClusterName == "" {
		cfg.ClusterName = DefaultClusterName
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if cfg.MemberTimeout <= cfg.HeartbeatInterval {
		return nil, fmt.Errorf("cluster: member_timeout %v must be longer than heartbeat_interval %v", cfg.MemberTimeout, cfg.HeartbeatInterval)
	}
	now := time.Now()
	c := &Cluster{
		cfg: cfg, self: self, node: cfg.resolvedNodeName(), log: log, local: l,
		started: now, inc: uint64(now.UnixNano()),
		pubTypes: map[string]bool{}, subTypes: map[string]bool{},
		prefix: cfg.ClusterName, evSubj: map[string]string{},
		peers: map[eid.EID]*peer{}, view: map[eid.EID]*Member{}, taken: map[eid.EID]*TakenID{},
		kick: make(chan struct{}, 1), stop: make(chan struct{}),
	}
	for _, t := range cfg.PublishedTypes() {
		c.pubTypes[t] = true
	}
	for _, t := range cfg.SubscribedTypes() {
		c.subTypes[t] = true
	}
	for _, t := range knownTypes {
		c.evSubj[t] = c.prefix + ".ev." + t
	}
	c.stats = newStatsCollector()
	c.metrics = newMetrics()
	return c, nil
}

// NodeName returns the node name in use.
func (c *Cluster) NodeName() string { return c.node }

// Config returns the configuration the cluster runs with.
func (c *Cluster) Config() *Config { return c.cfg }

// OnMember registers a callback for joins and departures. Callbacks run one at a time, in
// order, on the cluster's receive path: they must return quickly and must not call Stop.
func (c *Cluster) OnMember(f func(MemberEvent)) {
	c.cbMu.Lock()
	c.callbacks = append(c.callbacks, f)
	c.cbMu.Unlock()
}

// Start brings up the transport (the embedded NATS server, or the connection to the external
// cluster), subscribes, and announces this server. ctx bounds the start-up only.
func (c *Cluster) Start(ctx context.Context) error {
	if !c.state.CompareAndSwap(stateNew, stateRunning) {
		return errors.New("cluster: Start called twice")
	}
	if err := c.connect(ctx); err != nil {
		c.state.Store(stateStopped)
		c.closeTransport()
		return err
	}
	c.inbox = c.nc.NewInbox()
	bsub, err := c.nc.Subscribe(c.prefix+".>", c.onBroadcast)
	if err == nil {
		c.subs = append(c.subs, bsub)
		var dsub *nats.Subscription
		dsub, err = c.nc.Subscribe(c.inbox, c.onDirect)
		if err == nil {
			c.subs = append(c.subs, dsub)
		}
	}
	for _, s := range c.subs {
		// Generous bounds: a join sync can bring a burst; a gap is repaired by a resync anyway.
		_ = s.SetPendingLimits(1<<20, 256<<20)
	}
	if err == nil && c.nc.IsConnected() {
		err = c.flush(ctx)
	}
	if err != nil {
		c.state.Store(stateStopped)
		c.closeTransport()
		return fmt.Errorf("cluster: subscribing: %w", err)
	}
	c.viewMu.Lock()
	c.view[c.self] = &Member{NodeName: c.node, EID: c.self, Addrs: c.addrs, Version: c.cfg.Version, Site: c.cfg.Site,
		Started: c.started, Joined: c.started, Self: true, Synced: true}
	c.viewMu.Unlock()
	c.fastTill.Store(time.Now().Add(fastWindow).UnixNano())
	c.sendHeartbeat()
	c.wg.Add(1)
	go c.loop()
	c.log.Info(fmt.Sprintf("Cluster '%s': node %s (%s) started in %s mode%s", c.prefix, c.node, c.self, c.cfg.Mode, c.transportSummary()))
	return nil
}

// Stop announces this server's departure, purges every other member's events from Local
// (a stopped cluster keeps no remote state), and shuts the transport down. ctx bounds the
// wait for the leave message to go out and for snapshot senders to finish sending; Stop
// returns once every goroutine of the cluster has ended (a sender cut off by the closed
// connection ends at once).
func (c *Cluster) Stop(ctx context.Context) {
	if !c.state.CompareAndSwap(stateRunning, stateStopped) {
		return
	}
	close(c.stop)
	c.wg.Wait()
	c.publishBroadcast(&message{Kind: kindLeave})
	if c.nc != nil && c.nc.IsConnected() {
		_ = c.flush(ctx)
	}
	for _, s := range c.subs {
		_ = s.Unsubscribe()
	}
	done := make(chan struct{})
	go func() { c.syncWG.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	c.procMu.Lock()
	for _, p := range c.sortedPeers() {
		c.lose(p, "stop")
	}
	c.procMu.Unlock()
	c.closeTransport()
	<-done // senders still running after ctx ended find the connection closed
}

// flush waits until the server has everything sent so far (nats.go wants a deadline: 10 s
// when ctx has none).
func (c *Cluster) flush(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	return c.nc.FlushWithContext(ctx)
}

// crash stops without the leave announcement and without purging: the others must notice by
// themselves (tests).
func (c *Cluster) crash() {
	if !c.state.CompareAndSwap(stateRunning, stateStopped) {
		return
	}
	close(c.stop)
	c.wg.Wait()
	c.closeTransport()
	c.syncWG.Wait()
}

// Publish sends a locally originated change to the cluster if its type is published. It is
// safe for concurrent use, but changes of one key must be published in the order they
// happened (from the engine's dispatch goroutine, or under its lock).
func (c *Cluster) Publish(e Event) {
	ts := c.stats.typ(e.Type)
	if !c.pubTypes[e.Type] || c.state.Load() != stateRunning {
		ts.unpublished.Add(1)
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.EID = c.self
	c.publishBroadcast(&message{Kind: kindEvent, Events: []Event{e}})
	ts.sent.Add(1)
}

// Ping sends a PING every other member logs (corosync ping).
func (c *Cluster) Ping() error {
	if c.state.Load() != stateRunning {
		return errors.New("cluster: not running")
	}
	c.publishBroadcast(&message{Kind: kindPing})
	return nil
}

func (c *Cluster) subject(m *message) string {
	switch m.Kind {
	case kindEvent:
		if s, ok := c.evSubj[m.Events[0].Type]; ok {
			return s
		}
		return c.prefix + ".ev." + m.Events[0].Type
	case kindHeartbeat:
		return c.prefix + ".hb"
	case kindLeave:
		return c.prefix + ".leave"
	case kindPing:
		return c.prefix + ".ping"
	case kindSyncReq:
		return c.prefix + ".sync." + eidToken(m.Target)
	}
	return c.prefix + ".other"
}

func eidToken(e eid.EID) string { return strings.ReplaceAll(e.String(), ":", "") }

// publishBroadcast numbers and sends one message on the cluster's broadcast subjects.
func (c *Cluster) publishBroadcast(m *message) {
	if c.nc == nil {
		return
	}
	c.pubMu.Lock()
	defer c.pubMu.Unlock()
	c.seq++
	m.Origin, m.Incarnation, m.Seq = c.self, c.inc, c.seq
	c.buf = m.encode(c.buf[:0])
	if err := c.nc.Publish(c.subject(m), c.buf); err != nil {
		c.stats.publishErrors.Add(1)
		c.log.Debug(fmt.Sprintf("cluster: publishing %s: %v", m.Kind, err))
	}
}

func (c *Cluster) currentSeq() uint64 {
	c.pubMu.Lock()
	defer c.pubMu.Unlock()
	return c.seq
}

const fastWindow = time.Second
const fastInterval = 100 * time.Millisecond

func (c *Cluster) sendHeartbeat() {
	c.publishBroadcast(&message{Kind: kindHeartbeat, Node: c.node, Version: c.cfg.Version, Addrs: c.addrs, Site: c.cfg.Site})
}

// kickHeartbeat asks the loop for an early heartbeat (a new member must learn of us at once).
func (c *Cluster) kickHeartbeat() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// loop sends heartbeats, notices lost members and route changes.
func (c *Cluster) loop() {
	defer c.wg.Done()
	check := c.cfg.MemberTimeout / 5
	if check > c.cfg.HeartbeatInterval {
		check = c.cfg.HeartbeatInterval
	}
	check = max(check, 10*time.Millisecond)
	tick := min(check, fastInterval/2)
	t := time.NewTicker(tick)
	defer t.Stop()
	var lastHB, lastCheck time.Time
	lastHB = time.Now()
	for {
		select {
		case <-c.stop:
			return
		case <-c.kick:
			c.sendHeartbeat()
			lastHB = time.Now()
		case now := <-t.C:
			if c.srv != nil {
				if n := int64(c.srv.NumRoutes()); n != c.routes.Swap(n) && n > 0 {
					// A route came up (start, a new server, a healed partition): be heard at once.
					c.fastTill.Store(now.Add(fastWindow).UnixNano())
					c.sendHeartbeat()
					lastHB = now
				}
			}
			interval := c.cfg.HeartbeatInterval
			if now.UnixNano() < c.fastTill.Load() {
				interval = min(interval, fastInterval)
			}
			if now.Sub(lastHB) >= interval {
				c.sendHeartbeat()
				lastHB = now
			}
			if now.Sub(lastCheck) >= check {
				lastCheck = now
				c.checkTimeouts(now)
			}
		}
	}
}

func (c *Cluster) checkTimeouts(now time.Time) {
	c.procMu.Lock()
	defer c.procMu.Unlock()
	for _, p := range c.sortedPeers() {
		if p.stale {
			if since := now.Sub(p.m.StaleSince); since > c.cfg.SiteStaleTimeout {
				c.log.Warn(fmt.Sprintf("Node %s (%s) of site %s stayed unreachable for site_stale_timeout (%d ms): its states are purged",
					p.m.NodeName, p.m.EID, p.m.Site, c.cfg.SiteStaleTimeout.Milliseconds()))
				c.lose(p, "timeout")
			}
			continue
		}
		if now.Sub(p.lastHeard) > c.cfg.MemberTimeout && c.otherSite(p) && c.cfg.SiteStaleTimeout > 0 {
			c.markStale(p, now)
			continue
		}
		if now.Sub(p.lastHeard) > c.cfg.MemberTimeout {
			c.log.Warn(fmt.Sprintf("Node %s (%s) sent no heartbeat for %d ms (member_timeout %d ms)",
				p.m.NodeName, p.m.EID, now.Sub(p.lastHeard).Milliseconds(), c.cfg.MemberTimeout.Milliseconds()))
			c.lose(p, "timeout")
			continue
		}
		if p.sync != nil && now.Sub(p.sync.started) > c.cfg.MemberTimeout {
			c.log.Debug(fmt.Sprintf("cluster: snapshot from %s (%s) did not arrive; asking again", p.m.NodeName, p.m.EID))
			p.sync = nil
			c.requestSync(p)
		}
	}
}

// otherSite reports whether p belongs to another site than this server's.
func (c *Cluster) otherSite(p *peer) bool {
	return c.cfg.Site != "" && p.m.Site != "" && p.m.Site != c.cfg.Site
}

// markStale keeps a silent member of another site, its states marked stale.
func (c *Cluster) markStale(p *peer, now time.Time) {
	p.stale, p.sync, p.resync = true, nil, false
	c.viewMu.Lock()
	p.m.Stale, p.m.StaleSince, p.m.Synced = true, now, false
	c.viewMu.Unlock()
	c.stats.stale.Add(1)
	c.log.Warn(fmt.Sprintf("Node %s (%s) of site %s sent no heartbeat for %d ms: its states are kept, marked stale, for site_stale_timeout (%d ms)",
		p.m.NodeName, p.m.EID, p.m.Site, now.Sub(p.lastHeard).Milliseconds(), c.cfg.SiteStaleTimeout.Milliseconds()))
}

// unstale takes back a stale member heard again, and asks for its state: what changed
// meanwhile (deletions included) is repaired by the snapshot.
func (c *Cluster) unstale(p *peer, m *message, now time.Time) {
	p.stale = false
	c.viewMu.Lock()
	was := now.Sub(p.m.StaleSince)
	p.m.Stale, p.m.StaleSince = false, time.Time{}
	c.viewMu.Unlock()
	c.log.Info(fmt.Sprintf("Node %s (%s) of site %s is heard again after %d ms stale: asking for its state",
		p.m.NodeName, p.m.EID, p.m.Site, was.Milliseconds()))
	p.lastSeq = m.Seq - 1 // the gap is covered by the sync
	c.requestSync(p)
}

func (c *Cluster) sortedPeers() []*peer {
	ps := make([]*peer, 0, len(c.peers))
	for _, p := range c.peers {
		ps = append(ps, p)
	}
	slices.SortFunc(ps, func(a, b *peer) int {
		return strings.Compare(a.m.NodeName+a.m.EID.String(), b.m.NodeName+b.m.EID.String())
	})
	return ps
}

// onBroadcast handles everything under <cluster>.>: one subscription, so that each origin's
// messages are handled in the order it sent them.
func (c *Cluster) onBroadcast(msg *nats.Msg) {
	m, err := decode(msg.Data)
	if err != nil {
		c.stats.decodeErrors.Add(1)
		c.log.Debug(fmt.Sprintf("cluster: dropping undecodable message on %s: %v", msg.Subject, err))
		return
	}
	c.procMu.Lock()
	defer c.procMu.Unlock()
	if c.state.Load() != stateRunning {
		return
	}
	c.handleBroadcast(m, time.Now())
}

func (c *Cluster) handleBroadcast(m *message, now time.Time) {
	if m.Origin == c.self {
		if m.Kind == kindHeartbeat && (m.Node != c.node || m.Incarnation != c.inc) {
			c.duplicateEID(m, now)
		}
		c.stats.droppedOwn.Add(1)
		if m.Kind == kindEvent {
			c.stats.typ(m.Events[0].Type).dropped.Add(1)
		}
		return
	}
	if m.Kind == kindSyncReq && m.Target == c.self {
		c.serveSync(m)
	}
	p := c.peers[m.Origin]
	if p != nil && p.inc != m.Incarnation && m.Kind == kindHeartbeat {
		other := m.Node != p.m.NodeName
		switch {
		case m.Incarnation > p.inc && other && c.cfg.StrictMembers:
			// Another server claims a live member's Entity ID: the holder keeps it.
			c.takenEID(p, m, now, true)
			c.stats.droppedNotMember.Add(1)
			return
		case m.Incarnation > p.inc:
			if other {
				c.takenEID(p, m, now, false)
			}
			c.lose(p, "restart")
			p = nil
		default:
			// A heartbeat of an older incarnation: still in flight after a restart, or a
			// second server with this Entity ID that lost it to a newer start.
			if other {
				c.takenEID(p, m, now, false)
			}
			c.stats.droppedNotMember.Add(1)
			return
		}
	}
	if p == nil {
		if m.Kind != kindHeartbeat {
			// Not (or no longer) a member: its first heartbeat starts a sync that covers this.
			c.stats.droppedNotMember.Add(1)
			if m.Kind == kindEvent {
				c.stats.typ(m.Events[0].Type).dropped.Add(1)
			}
			return
		}
		c.join(m, now)
		return
	}
	if p.inc != m.Incarnation {
		c.stats.droppedNotMember.Add(1)
		return
	}
	if p.stale {
		c.unstale(p, m, now)
	}
	if m.Seq != p.lastSeq+1 {
		c.stats.gaps.Add(1)
		if m.Seq <= p.lastSeq {
			// Replayed or reordered: nothing we can use.
			c.stats.droppedStale.Add(1)
			return
		}
		c.log.Debug(fmt.Sprintf("cluster: missed %d messages from %s (%s); asking for its state again",
			m.Seq-p.lastSeq-1, p.m.NodeName, p.m.EID))
		c.requestSync(p)
	}
	p.lastSeq = m.Seq
	p.lastHeard = now
	switch m.Kind {
	case kindHeartbeat:
		c.viewMu.Lock()
		p.m.LastHeartbeat = now
		if !slices.Equal(p.m.Addrs, m.Addrs) || p.m.NodeName != m.Node || p.m.Version != m.Version || p.m.Site != m.Site {
			p.m.Addrs, p.m.NodeName, p.m.Version, p.m.Site = m.Addrs, m.Node, m.Version, m.Site
		}
		c.viewMu.Unlock()
	case kindEvent:
		e := m.Events[0]
		ts := c.stats.typ(e.Type)
		if !c.subTypes[e.Type] {
			ts.dropped.Add(1)
			c.stats.droppedUnsubscribed.Add(1)
			return
		}
		ts.received.Add(1)
		if !e.Time.IsZero() {
			c.stats.latency.observe(now.Sub(e.Time))
			c.metrics.observePropagation(e.Type, now.Sub(e.Time))
		}
		c.apply(p, e, 2*m.Seq, 0, ts)
	case kindLeave:
		c.lose(p, "leave")
	case kindPing:
		c.log.Info(fmt.Sprintf("Got event PING from server with EID: '%s'", m.Origin))
	}
}

// apply applies one event if it is newer than what this server has for its key.
func (c *Cluster) apply(p *peer, e Event, stamp, mark uint64, ts *typeStats) {
	k := typeKey{e.Type, e.Key}
	ks := p.keys[k]
	if ks == nil {
		if stamp <= p.floor[e.Type] {
			ts.dropped.Add(1)
			c.stats.droppedStale.Add(1)
			return
		}
		ks = &keyState{}
		p.keys[k] = ks
	} else if stamp <= ks.stamp {
		ts.dropped.Add(1)
		c.stats.droppedStale.Add(1)
		return
	}
	ks.stamp, ks.deleted = stamp, len(e.Fields) == 0
	if mark != 0 {
		ks.mark = mark
	}
	if c.log.Enabled(context.Background(), logger.DebugLevel(1)) {
		c.log.Log(context.Background(), logger.DebugLevel(1), fmt.Sprintf("Received %s event '%s' %v from server with EID: '%s'",
			e.Type, e.Key, shownFields(e), e.EID))
	}
	ts.applied.Add(1)
	c.local.Apply(e)
}

func (c *Cluster) join(m *message, now time.Time) {
	mem := &Member{NodeName: m.Node, EID: m.Origin, Addrs: m.Addrs, Version: m.Version, Site: m.Site,
		Started: time.Unix(0, int64(m.Incarnation)), Joined: now, LastHeartbeat: now}
	p := &peer{m: mem, inc: m.Incarnation, lastSeq: m.Seq, lastHeard: now,
		keys: map[typeKey]*keyState{}, floor: map[string]uint64{}}
	c.peers[m.Origin] = p
	c.viewMu.Lock()
	c.view[m.Origin] = mem
	c.viewMu.Unlock()
	c.stats.joins.Add(1)
	c.log.Info(fmt.Sprintf("Node %s (%s) at %s joined the cluster", mem.NodeName, mem.EID, addrList(mem.Addrs)))
	// Be heard at once, so that the newcomer learns of us (and asks for our state) now rather
	// than at our next heartbeat.
	c.fastTill.Store(now.Add(fastWindow).UnixNano())
	c.kickHeartbeat()
	c.requestSync(p)
	c.notify(MemberEvent{Kind: MemberJoined, Member: *mem})
}

// lose forgets a member and every event it gave us.
func (c *Cluster) lose(p *peer, reason string) {
	delete(c.peers, p.m.EID)
	c.viewMu.Lock()
	delete(c.view, p.m.EID)
	mem := *p.m
	c.viewMu.Unlock()
	for _, t := range knownTypes {
		if !c.subTypes[t] || isSignal(t) {
			continue
		}
		n := c.local.Purge(t, p.m.EID)
		c.log.Info(fmt.Sprintf("Clearing %d events of type %s of node %s (%s)", n, t, mem.NodeName, mem.EID))
	}
	c.stats.departures.Add(1)
	how := map[string]string{"leave": "left the cluster", "timeout": "was lost (no heartbeat)",
		"restart": "restarted", "stop": "is forgotten (cluster stopped)"}[reason]
	c.log.Info(fmt.Sprintf("Node %s (%s) at %s %s", mem.NodeName, mem.EID, addrList(mem.Addrs), how))
	c.notify(MemberEvent{Kind: MemberLeft, Member: mem, Reason: reason})
}

func (c *Cluster) notify(ev MemberEvent) {
	c.metrics.memberChanges.WithLabelValues(ev.Kind.String()).Inc()
	c.cbMu.RLock()
	cbs := slices.Clone(c.callbacks)
	c.cbMu.RUnlock()
	for _, f := range cbs {
		f(ev)
	}
}

func addrList(a []string) string {
	if len(a) == 0 {
		return "(no address)"
	}
	return strings.Join(a, ",")
}

func (c *Cluster) duplicateEID(m *message, now time.Time) {
	c.stats.duplicateEID.Add(1)
	c.viewMu.Lock()
	c.dup = &duplicate{node: m.Node, started: time.Unix(0, int64(m.Incarnation)), seen: now}
	c.viewMu.Unlock()
	c.log.Error(fmt.Sprintf("Another server (node %s, started %s) uses this server's Entity ID %s: every server in a cluster needs its own entityid in asterisk.conf [options]",
		m.Node, time.Unix(0, int64(m.Incarnation)).Format(time.RFC3339), c.self))
}

// takenEID reports a server announcing the Entity ID of member p under another node name;
// ignored tells whether strict_members turns it away.
func (c *Cluster) takenEID(p *peer, m *message, now time.Time, ignored bool) {
	c.stats.duplicateEID.Add(1)
	c.viewMu.Lock()
	c.taken[m.Origin] = &TakenID{Node: m.Node, Holder: p.m.NodeName, EID: m.Origin, Seen: now, Ignored: ignored}
	c.viewMu.Unlock()
	what := "every server in a cluster needs its own entityid in asterisk.conf [options]"
	if ignored {
		what = "ignored (strict_members); " + what
	}
	c.log.Error(fmt.Sprintf("Node %s (started %s) announces Entity ID %s, which member %s holds: %s",
		m.Node, time.Unix(0, int64(m.Incarnation)).Format(time.RFC3339), m.Origin, p.m.NodeName, what))
}

// TakenID is a server seen announcing the Entity ID of another member.
type TakenID struct {
	Node    string  // the server announcing it
	Holder  string  // the member that holds it (for a newer start without strict_members, the one it displaced)
	EID     eid.EID // the Entity ID
	Seen    time.Time
	Ignored bool // turned away (strict_members)
}

// TakenIDs lists the servers seen within member_timeout announcing another member's Entity
// ID, sorted by Entity ID.
func (c *Cluster) TakenIDs() []TakenID {
	c.viewMu.RLock()
	defer c.viewMu.RUnlock()
	var out []TakenID
	for _, t := range c.taken {
		if time.Since(t.Seen) <= c.cfg.MemberTimeout {
			out = append(out, *t)
		}
	}
	slices.SortFunc(out, func(a, b TakenID) int { return strings.Compare(a.EID.String(), b.EID.String()) })
	return out
}

// DuplicateEID reports the last server seen using this server's Entity ID within
// member_timeout.
func (c *Cluster) DuplicateEID() (node string, seen time.Time, ok bool) {
	c.viewMu.RLock()
	defer c.viewMu.RUnlock()
	if c.dup == nil || time.Since(c.dup.seen) > c.cfg.MemberTimeout {
		return "", time.Time{}, false
	}
	return c.dup.node, c.dup.seen, true
}

// requestSync asks p for every event it originated of the types this server subscribes to.
func (c *Cluster) requestSync(p *peer) {
	types := slices.DeleteFunc(c.cfg.SubscribedTypes(), isSignal)
	if len(types) == 0 {
		// Nothing to take from anyone: the member is as synced as it will get.
		c.viewMu.Lock()
		p.m.Synced = true
		c.viewMu.Unlock()
		return
	}
	if p.sync != nil {
		p.resync = true
		return
	}
	c.reqID++
	p.sync = &syncState{id: c.reqID, started: time.Now()}
	p.resync = false
	c.stats.syncRequests.Add(1)
	c.publishBroadcast(&message{Kind: kindSyncReq, Target: p.m.EID, Reply: c.inbox, ReqID: c.reqID, Types: types})
}

// serveSync sends this server's events to a member that asked (in the background: Snapshot
// may take a while).
func (c *Cluster) serveSync(req *message) {
	var types []string
	for _, t := range req.Types {
		if c.pubTypes[t] && !slices.Contains(types, t) {
			types = append(types, t)
		}
	}
	if req.Reply == "" {
		return
	}
	c.stats.syncServed.Add(1)
	c.syncWG.Add(1)
	go func() {
		defer c.syncWG.Done()
		// The sequence number is read before the snapshot: everything published up to it is
		// in the snapshot, anything after is newer than it.
		snap := c.currentSeq()
		limit := 256 << 10
		if mp := int(c.nc.MaxPayload()); mp > 0 && mp/2 < limit {
			limit = mp / 2
		}
		out := &message{Kind: kindSyncData, Origin: c.self, Incarnation: c.inc, ReqID: req.ReqID, SnapSeq: snap}
		var buf []byte
		size, sent := 0, 0
		flush := func(final bool) {
			out.Final = final
			if final {
				out.Types = types
			}
			buf = out.encode(buf[:0])
			if err := c.nc.Publish(req.Reply, buf); err != nil {
				c.stats.publishErrors.Add(1)
			}
			out.Batch++
			out.Events = out.Events[:0]
			size = 0
		}
		for _, t := range types {
			for _, e := range c.local.Snapshot(t) {
				if e.Type != t || (e.EID != c.self && !e.EID.IsZero()) || len(e.Fields) == 0 {
					continue
				}
				out.Events = append(out.Events, e)
				size += len(e.Key) + 16
				for _, f := range e.Fields {
					size += len(f) + 2
				}
				sent++
				if size >= limit {
					flush(false)
				}
			}
		}
		flush(true)
		c.stats.syncEventsSent.Add(uint64(sent))
	}()
}

// onDirect handles messages sent to this server's inbox (snapshots).
func (c *Cluster) onDirect(msg *nats.Msg) {
	m, err := decode(msg.Data)
	if err != nil {
		c.stats.decodeErrors.Add(1)
		return
	}
	c.procMu.Lock()
	defer c.procMu.Unlock()
	if c.state.Load() != stateRunning || m.Kind != kindSyncData || m.Origin == c.self {
		return
	}
	p := c.peers[m.Origin]
	if p == nil || p.inc != m.Incarnation || p.sync == nil || p.sync.id != m.ReqID {
		c.stats.droppedStale.Add(uint64(len(m.Events)))
		return
	}
	if m.Batch != p.sync.next {
		c.log.Debug(fmt.Sprintf("cluster: snapshot from %s (%s) lost a part; asking again", p.m.NodeName, p.m.EID))
		p.sync = nil
		c.requestSync(p)
		return
	}
	p.sync.next++
	stamp := 2*m.SnapSeq + 1
	for _, e := range m.Events {
		ts := c.stats.typ(e.Type)
		if !c.subTypes[e.Type] {
			ts.dropped.Add(1)
			continue
		}
		ts.syncReceived.Add(1)
		c.apply(p, e, stamp, m.ReqID, ts)
	}
	if !m.Final {
		return
	}
	// Everything of these types the member did not list, and that no newer live event
	// touched, is gone on the member: forget it here too.
	for _, t := range m.Types {
		if !c.subTypes[t] {
			continue
		}
		for k, ks := range p.keys {
			if k.typ != t {
				continue
			}
			if ks.mark != m.ReqID && ks.stamp < stamp && !ks.deleted {
				ks.deleted, ks.stamp = true, stamp
				c.local.Apply(Event{Type: t, Key: k.key, EID: p.m.EID, Time: time.Now()})
			}
			if ks.deleted && ks.stamp <= stamp {
				delete(p.keys, k)
			}
		}
		p.floor[t] = max(p.floor[t], stamp)
	}
	p.sync = nil
	c.viewMu.Lock()
	p.m.Synced = true
	c.viewMu.Unlock()
	c.stats.syncsDone.Add(1)
	if p.resync {
		c.requestSync(p)
	}
}

// Members returns this server and every member it hears, sorted by node name.
func (c *Cluster) Members() []Member {
	c.viewMu.RLock()
	out := make([]Member, 0, len(c.view))
	for _, m := range c.view {
		mm := *m
		mm.Addrs = slices.Clone(m.Addrs)
		if mm.Self {
			mm.LastHeartbeat = time.Now()
		}
		out = append(out, mm)
	}
	c.viewMu.RUnlock()
	slices.SortFunc(out, func(a, b Member) int {
		if n := strings.Compare(a.NodeName, b.NodeName); n != 0 {
			return n
		}
		return strings.Compare(a.EID.String(), b.EID.String())
	})
	return out
}

// shownFields are an event's fields as the debug log shows them: a sip_location's secret (its
// fourth field, see internal/sip) is left out.
func shownFields(e Event) []string {
	if e.Type != TypeSIPLocation || len(e.Fields) < 4 {
		return e.Fields
	}
	f := slices.Clone(e.Fields)
	f[3] = "(secret)"
	return f
}
