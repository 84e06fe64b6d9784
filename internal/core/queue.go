package core

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/ami"
	"github.com/pleiades-pbx/pleiades/internal/cdr"
	"github.com/pleiades-pbx/pleiades/internal/cluster"
	"github.com/pleiades-pbx/pleiades/internal/dialplan"
	"github.com/pleiades-pbx/pleiades/internal/event"
	"github.com/pleiades-pbx/pleiades/internal/queue"
)

// queueModule is app_queue: queues.conf and the realtime queues/queue_members families,
// Queue() and its companions in the dialplan, queue_log, the queue CLI commands and AMI
// events. Member state is the cluster-wide device state. It loads before pbx_config, which
// registers its applications before reading extensions.conf (registerQueueApps), and before
// the manager, which attaches its events (attachQueueAMI).
type queueModule struct {
	e       *queue.Engine
	sub     *event.Subscription
	cluster *clusterModule

	syncMu  sync.Mutex
	sync    *time.Timer // the sync request waiting to go out (stopped at Unload)
	stopped bool
}

// syncAfter asks the other servers for their queues' state after d (a server just joined:
// give it time to know this one, whose messages it drops until then).
func (m *queueModule) syncAfter(d time.Duration, share func(queue.Share)) {
	m.syncMu.Lock()
	defer m.syncMu.Unlock()
	if m.stopped {
		return
	}
	if m.sync != nil {
		m.sync.Reset(d) // joins close together: one request after the last
		return
	}
	m.sync = time.AfterFunc(d, func() {
		m.syncMu.Lock()
		stopped := m.stopped
		m.syncMu.Unlock()
		if !stopped {
			share(queue.SyncRequest())
		}
	})
}

func (*queueModule) Name() string        { return "app_queue" }
func (*queueModule) Description() string { return "True Call Queueing" }

func (m *queueModule) config(ctx context.Context, s *Server) (*queue.Config, error) {
	cfg, err := s.LoadConfig(ctx, "queues.conf")
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return &queue.Config{}, nil
	}
	return queue.Parse(cfg, s.Log)
}

func (m *queueModule) Load(ctx context.Context, s *Server) error {
	c, err := m.config(ctx, s)
	if err != nil {
		return err
	}
	d := queue.Deps{Log: s.Log, DB: s.DB, LogDir: s.Settings.Dirs.Log, CDR: queueCDR{s}}
	if s.DevState != nil {
		d.Devices = s.DevState
	}
	if s.Realtime != nil {
		d.Realtime = s.Realtime
	}
	var cm *clusterModule
	if s.Cluster != nil {
		cm, _ = s.Module("res_cluster").(*clusterModule)
		c := s.Cluster
		d.Share = func(sh queue.Share) {
			c.Publish(cluster.Event{Type: cluster.TypeQueue, Key: sh.Queue, Fields: sh.Fields()})
		}
	}
	m.e = queue.New(d)
	if cm != nil {
		cm.queues.Store(m.e) // member changes from the other servers
		m.cluster = cm
	}
	if s.Bus != nil {
		m.sub = s.Bus.Subscribe("queue:devices", event.KindDeviceStateChange, func(ev event.Event) {
			if e, ok := ev.(event.DeviceStateChange); ok {
				m.e.DeviceChanged(e.Device, e.State)
			}
		})
	}
	// After the subscription: members read their device's state once, then follow it.
	m.e.Apply(c)
	if d.Share != nil {
		// The other servers answer with their queues' state (pauses, dynamic members, last
		// calls made before this server's queues loaded); asked again when a server joins
		// (after a second: until it has heard this one it drops its messages).
		d.Share(queue.SyncRequest())
		s.Cluster.OnMember(func(ev cluster.MemberEvent) {
			if ev.Kind == cluster.MemberJoined && !ev.Member.Self {
				m.syncAfter(time.Second, d.Share)
			}
		})
	}
	s.CLI.MustRegister(m.e.Commands(func(ctx context.Context) error { return m.Reload(ctx, s) })...)
	return nil
}

func (m *queueModule) Reload(ctx context.Context, s *Server) error {
	if m.e == nil {
		return errors.New("app_queue not loaded")
	}
	c, err := m.config(ctx, s)
	if err != nil {
		return err
	}
	m.e.Apply(c)
	return nil
}

func (m *queueModule) Unload(context.Context) error {
	m.syncMu.Lock()
	m.stopped = true
	if m.sync != nil {
		m.sync.Stop()
	}
	m.syncMu.Unlock()
	if m.cluster != nil {
		m.cluster.queues.Store(nil)
	}
	if m.sub != nil {
		m.sub.Close()
	}
	if m.e != nil {
		return m.e.Close()
	}
	return nil
}

// queueCDR is app_queue's way to the CDR engine (updatecdr). The cdr module loads after
// app_queue and may be unloaded, so it is looked up at each connected call.
type queueCDR struct{ s *Server }

var _ queue.CDR = (*cdr.Engine)(nil)

func (q queueCDR) SetDstChannel(callerUID, peerUID, dst string) {
	if m, ok := q.s.Module("cdr").(*cdrModule); ok && m.e != nil {
		m.e.SetDstChannel(callerUID, peerUID, dst)
	}
}

// registerQueueApps gives the dialplan engine the queue applications and functions, before
// the dialplan loads (pbx_config calls it), so that extensions.conf's Queue() lines are not
// warned about as unknown applications.
func (s *Server) registerQueueApps(d *dialplan.Engine) {
	if e := s.queues(); e != nil {
		e.Register(d)
	}
}

// attachQueueAMI sends the queues' AMI events to srv (nil: nowhere); the manager calls it
// when it loads and unloads (it loads after app_queue).
func (s *Server) attachQueueAMI(srv *ami.Server) {
	e := s.queues()
	if e == nil {
		return
	}
	if srv == nil {
		e.SetAMI(nil)
		return
	}
	e.SetAMI(func(ev queue.Event) { srv.Publish(ami.QueueEvent(ev.Name, ev.Caller, ev.Dest, ev.Fields)) })
}

// queues returns the queue engine, nil while app_queue is not loaded.
func (s *Server) queues() *queue.Engine {
	if m, ok := s.Module("app_queue").(*queueModule); ok {
		return m.e
	}
	return nil
}

// amiQueueError maps the queue engine's errors to the AMI's.
func amiQueueError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, queue.ErrNoSuchQueue):
		return ami.ErrQueueNotFound
	case errors.Is(err, queue.ErrMemberExists):
		return ami.ErrQueueMemberHere
	case errors.Is(err, queue.ErrNoSuchMember), errors.Is(err, queue.ErrNoMatchingPause):
		return ami.ErrQueueNoMember
	case errors.Is(err, queue.ErrNotDynamic):
		return ami.ErrQueueNotDynamic
	}
	return err
}

func amiQueueItems(evs []queue.Event) []ami.QueueItem {
	out := make([]ami.QueueItem, len(evs))
	for i, ev := range evs {
		fs := make([]ami.Field, len(ev.Fields))
		for j, f := range ev.Fields {
			fs[j] = ami.Field{Key: f[0], Value: f[1]}
		}
		out[i] = ami.QueueItem{Event: ev.Name, Fields: fs}
	}
	return out
}

func (b *amiBackend) QueueStatus(q, member string) []ami.QueueItem {
	if e := b.s.queues(); e != nil {
		return amiQueueItems(e.Status(context.Background(), q, member))
	}
	return nil
}

func (b *amiBackend) QueueSummary(q string) []ami.QueueItem {
	if e := b.s.queues(); e != nil {
		return amiQueueItems(e.Summary(context.Background(), q))
	}
	return nil
}

func (b *amiBackend) QueueAdd(q, iface string, penalty int, paused bool, name, stateInterface string) error {
	e := b.s.queues()
	if e == nil {
		return ami.ErrQueueNotFound
	}
	ctx := context.Background()
	err := e.AddMember(ctx, q, queue.MemberConfig{Interface: iface, Penalty: penalty, Name: name, StateInterface: stateInterface}, "MANAGER")
	if err == nil && paused {
		err = e.Pause(ctx, q, iface, true, "")
	}
	return amiQueueError(err)
}

func (b *amiBackend) QueueRemove(q, iface string) error {
	e := b.s.queues()
	if e == nil {
		return ami.ErrQueueNotFound
	}
	return amiQueueError(e.RemoveMember(context.Background(), q, iface, "MANAGER"))
}

func (b *amiBackend) QueuePause(q, iface string, paused bool, reason string) error {
	e := b.s.queues()
	if e == nil {
		return ami.ErrQueueNotFound
	}
	return amiQueueError(e.Pause(context.Background(), q, iface, paused, reason))
}

func (b *amiBackend) QueuePenalty(q, iface string, penalty int) error {
	e := b.s.queues()
	if e == nil {
		return ami.ErrQueueNotFound
	}
	return amiQueueError(e.SetPenalty(context.Background(), q, iface, penalty))
}

func (b *amiBackend) QueueReload(string) error {
	return b.s.Reload(context.Background(), "app_queue")
}
