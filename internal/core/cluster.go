package core

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/cluster"
	"github.com/pleiades-pbx/pleiades/internal/eid"
	"github.com/pleiades-pbx/pleiades/internal/event"
	"github.com/pleiades-pbx/pleiades/internal/state"
)

// clusterModule shares device state and MWI with the other servers over NATS (res_corosync's
// place). It reads cluster.conf, or Asterisk's res_corosync.conf when there is no cluster.conf;
// with neither it runs as a cluster of one (embedded NATS, no port opened).
type clusterModule struct {
	c    *cluster.Cluster
	subs []*event.Subscription
	file string
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
	cfg, err := m.readConfig(s)
	if err != nil {
		return err
	}
	cfg.SystemName, cfg.Version = s.Settings.SystemName, Version
	local := &clusterLocal{bus: s.Bus}
	c, err := cluster.New(cfg, s.Settings.EID, s.Log, local)
	if err != nil {
		return err
	}
	// Locally originated changes go out; subscribe before Start so none is missed.
	m.subs = append(m.subs,
		s.Bus.Subscribe("cluster:device_state", event.KindDeviceState, func(ev event.Event) {
			switch e := ev.(type) {
			case event.DeviceState:
				c.Publish(cluster.Event{Type: cluster.TypeDeviceState, Key: e.Device, Fields: []string{e.State.String()}})
			case event.Cleared:
				c.Publish(cluster.Event{Type: cluster.TypeDeviceState, Key: e.Item})
			}
		}, event.LocalOnly()),
		s.Bus.Subscribe("cluster:mwi", event.KindMWI, func(ev event.Event) {
			switch e := ev.(type) {
			case event.MWI:
				c.Publish(mwiEvent(e))
			case event.Cleared:
				c.Publish(cluster.Event{Type: cluster.TypeMWI, Key: e.Item})
			}
		}, event.LocalOnly()),
	)
	startCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := c.Start(startCtx); err != nil {
		m.closeSubs()
		return err
	}
	m.c = c
	s.Cluster = c
	s.CLI.MustRegister(c.Commands()...)
	return nil
}

func mwiEvent(e event.MWI) cluster.Event {
	ev := cluster.Event{Type: cluster.TypeMWI, Key: e.Mailbox, EID: e.EID, Time: e.Time}
	if !e.Deleted {
		ev.Fields = []string{strconv.Itoa(e.New), strconv.Itoa(e.Old), strconv.Itoa(e.Urgent)}
	}
	return ev
}

// Reload re-reads the file and refuses changes that need a restart.
func (m *clusterModule) Reload(_ context.Context, s *Server) error {
	cfg, err := m.readConfig(s)
	if err != nil {
		return err
	}
	cfg.SystemName, cfg.Version = s.Settings.SystemName, Version
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

func (m *clusterModule) closeSubs() {
	for _, sub := range m.subs {
		sub.Close()
		<-sub.Done()
	}
	m.subs = nil
}

func (m *clusterModule) Unload(ctx context.Context) error {
	m.closeSubs()
	if m.c != nil {
		stopCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		m.c.Stop(stopCtx)
	}
	return nil
}

// clusterLocal maps the cluster's wire events onto the event bus.
type clusterLocal struct {
	bus *event.Bus
}

func (l *clusterLocal) kind(typ string) (event.Kind, bool) {
	switch typ {
	case cluster.TypeDeviceState:
		return event.KindDeviceState, true
	case cluster.TypeMWI:
		return event.KindMWI, true
	}
	return 0, false
}

func (l *clusterLocal) Snapshot(typ string) []cluster.Event {
	k, ok := l.kind(typ)
	if !ok {
		return nil
	}
	var out []cluster.Event
	for _, ev := range l.bus.Dump(k, l.bus.Local()) {
		switch e := ev.(type) {
		case event.DeviceState:
			out = append(out, cluster.Event{Type: typ, Key: e.Device, Fields: []string{e.State.String()}, EID: e.EID})
		case event.MWI:
			out = append(out, mwiEvent(e))
		}
	}
	return out
}

func (l *clusterLocal) Apply(e cluster.Event) {
	k, ok := l.kind(e.Type)
	if !ok {
		return
	}
	if k == event.KindDeviceState {
		if len(e.Fields) == 0 {
			l.bus.Clear(k, e.Key, e.EID)
			return
		}
		st, ok := state.ParseDevice(e.Fields[0])
		if !ok {
			st = state.Unknown
		}
		l.bus.Publish(event.DeviceState{Device: e.Key, State: st, EID: e.EID})
		return
	}
	m := event.MWI{Mailbox: e.Key, Time: e.Time, EID: e.EID, Deleted: len(e.Fields) == 0}
	if !m.Deleted {
		m.New = atoiField(e.Fields, 0)
		m.Old = atoiField(e.Fields, 1)
		m.Urgent = atoiField(e.Fields, 2)
	}
	l.bus.Publish(m)
}

func atoiField(f []string, i int) int {
	if i >= len(f) {
		return 0
	}
	n, _ := strconv.Atoi(f[i])
	return n
}

func (l *clusterLocal) Purge(typ string, origin eid.EID) int {
	k, ok := l.kind(typ)
	if !ok {
		return 0
	}
	n := 0
	for _, key := range l.bus.Keys(k) {
		if l.bus.Clear(k, key, origin) {
			n++
		}
	}
	return n
}

var _ cluster.Local = (*clusterLocal)(nil)
