package core

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/cluster"
	"github.com/pleiades-pbx/pleiades/internal/devstate"
	"github.com/pleiades-pbx/pleiades/internal/eid"
	"github.com/pleiades-pbx/pleiades/internal/mwi"
	"github.com/pleiades-pbx/pleiades/internal/queue"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
	"github.com/pleiades-pbx/pleiades/internal/sip"
)

// clusterModule shares device state and MWI with the other servers over NATS (res_corosync's
// place). It reads cluster.conf, or Asterisk's res_corosync.conf when there is no cluster.conf;
// with neither it runs as a cluster of one (embedded NATS, no port opened).
type clusterModule struct {
	// queues is app_queue's engine once it has loaded: member changes from other servers go
	// there.
	queues atomic.Pointer[queue.Engine]
	c      *cluster.Cluster
	bridge *cluster.Bridge
	file   string
	server *Server
}

// realtimeLocal is the bridge plus realtime invalidations and queue member changes from
// other servers, which are signals for the realtime engine and the queues, not bus state:
// nothing to snapshot or purge.
type realtimeLocal struct {
	*cluster.Bridge
	rt     *realtime.Engine // nil: no realtime
	queues *atomic.Pointer[queue.Engine]
}

func (l realtimeLocal) Snapshot(typ string) []cluster.Event {
	if typ == cluster.TypeRealtime || typ == cluster.TypeQueue {
		return nil
	}
	return l.Bridge.Snapshot(typ)
}

func (l realtimeLocal) Apply(e cluster.Event) {
	switch e.Type {
	case cluster.TypeRealtime:
		if len(e.Fields) > 0 && l.rt != nil { // no fields: a sync's "gone", meaningless for a signal
			l.rt.ApplyRemote(e.Key, e.Fields[0])
		}
	case cluster.TypeQueue:
		if q := l.queues.Load(); q != nil {
			if sh, ok := queue.ParseShare(e.Key, e.Fields); ok {
				q.ApplyShare(sh)
			}
		}
	default:
		l.Bridge.Apply(e)
	}
}

func (l realtimeLocal) Purge(typ string, origin eid.EID) int {
	if typ == cluster.TypeRealtime || typ == cluster.TypeQueue {
		return 0
	}
	return l.Bridge.Purge(typ, origin)
}

func (*clusterModule) Name() string { return "res_cluster" }
func (*clusterModule) Description() string {
	return "Distributed device state and MWI over NATS"
}

func (m *clusterModule) readConfig(s *Server) (*cluster.Config, error) {
	for _, f := range []struct {
		name     string
		corosync bool
	}{{"cluster.conf", false}, {"res_corosync.conf", true}} {
		cfg, err := s.loadFile(f.name)
		if err != nil {
			return nil, err
		}
		if cfg != nil {
			m.file = f.name
			c, err := cluster.ParseConfig(cfg, f.corosync)
			if err != nil {
				return nil, err
			}
			return c, nil
		}
	}
	m.file = ""
	return cluster.DefaultConfig(), nil
}

func (m *clusterModule) Load(ctx context.Context, s *Server) error {
	m.server = s
	cfg, err := m.readConfig(s)
	if err != nil {
		return err
	}
	cfg.SystemName, cfg.Version = s.Settings.SystemName, Version
	if cfg.JetStream && cfg.JetStreamDir == "" {
		cfg.JetStreamDir = filepath.Join(s.Settings.Dirs.DB, "nats")
	}
	br, err := cluster.NewBridge(s.Bus, devstate.WireCodec{}, mwi.WireCodec{}, sip.LocationCodec{})
	if err != nil {
		return err
	}
	c, err := cluster.New(cfg, s.Settings.EID, s.Log, realtimeLocal{Bridge: br, rt: s.Realtime, queues: &m.queues})
	if err != nil {
		return err
	}
	// Locally originated changes go out; subscribe before Start so none is missed.
	br.Forward(c)
	startCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := c.Start(startCtx); err != nil {
		br.Close()
		return err
	}
	m.c, m.bridge = c, br
	s.Cluster = c
	if s.Realtime != nil {
		// "realtime invalidate" (CLI, AMI, HTTP) here is applied by every server.
		s.Realtime.OnInvalidate(func(ch realtime.Change) {
			c.Publish(cluster.Event{Type: cluster.TypeRealtime, Key: ch.Family, Fields: []string{ch.Key}, Time: ch.At})
		})
	}
	s.CLI.MustRegister(c.Commands()...)
	return nil
}

// Reload re-reads the file and refuses changes that need a restart.
func (m *clusterModule) Reload(_ context.Context, s *Server) error {
	cfg, err := m.readConfig(s)
	if err != nil {
		return err
	}
	cfg.SystemName, cfg.Version = s.Settings.SystemName, Version
	if cfg.JetStream && cfg.JetStreamDir == "" {
		cfg.JetStreamDir = filepath.Join(s.Settings.Dirs.DB, "nats")
	}
	if d := cluster.Diff(m.c.Config(), cfg); len(d) > 0 {
		return fmt.Errorf("%s: these changes need a restart and were not applied: %s", orDefault(m.file, "cluster.conf"), strings.Join(d, ", "))
	}
	return nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (m *clusterModule) Unload(ctx context.Context) error {
	if m.c != nil && m.server != nil && m.server.Realtime != nil {
		m.server.Realtime.OnInvalidate(nil)
	}
	if m.bridge != nil {
		m.bridge.Close()
	}
	if m.c != nil {
		stopCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		m.c.Stop(stopCtx)
	}
	return nil
}
