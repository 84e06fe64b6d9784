package core

import (
	"context"
	"fmt"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/devstate"
	"github.com/pleiades-pbx/pleiades/internal/dialplan"
	"github.com/pleiades-pbx/pleiades/internal/event"
	"github.com/pleiades-pbx/pleiades/internal/funcs"
	"github.com/pleiades-pbx/pleiades/internal/hint"
	"github.com/pleiades-pbx/pleiades/internal/mwi"
)

// stateModule is the state core: the event bus, device states (Custom: devices kept in astdb),
// MWI and hints, shared by everything that shows or changes state.
type stateModule struct {
	bus   *event.Bus
	ds    *devstate.Engine
	mb    *mwi.Engine
	hints *hint.Engine
}

func (*stateModule) Name() string        { return "res_state" }
func (*stateModule) Description() string { return "Event bus, device state, MWI and hints" }

func (m *stateModule) Load(_ context.Context, s *Server) error {
	m.bus = event.NewBus(s.Log, s.Settings.EID)
	ds, err := devstate.New(s.Log, m.bus, s.DB)
	if err != nil {
		m.bus.Close()
		return err
	}
	m.ds = ds
	m.mb = mwi.New(s.Log, m.bus)
	m.hints = hint.New(s.Log, m.bus, m.ds, "extensions.conf", "realtime")
	s.Bus, s.DevState, s.MWI, s.Hints = m.bus, m.ds, m.mb, m.hints
	s.CLI.MustRegister(m.bus.Commands()...)
	s.CLI.MustRegister(m.ds.Commands()...)
	s.CLI.MustRegister(m.mb.Commands()...)
	s.CLI.MustRegister(m.hints.Commands()...)
	return nil
}

func (*stateModule) Reload(context.Context, *Server) error { return nil }

func (m *stateModule) Unload(context.Context) error {
	if m.bus == nil {
		return nil
	}
	m.hints.Close()
	m.mb.Close()
	m.ds.Close()
	m.bus.Close()
	return nil
}

// dialplanModule is pbx_config: extensions.conf (from a file or, in static mode, a table),
// the applications and functions, and the hints it defines.
type dialplanModule struct {
	e *dialplan.Engine
}

func (*dialplanModule) Name() string        { return "pbx_config" }
func (*dialplanModule) Description() string { return "Text Extension Configuration" }

func (m *dialplanModule) Load(ctx context.Context, s *Server) error {
	m.e = dialplan.New(s.Log, s.DB)
	funcs.Register(m.e, s.DevState, s.Hints, s.MWI)
	m.e.OnLoad(func(d *dialplan.Dialplan) {
		var specs []hint.Spec
		for _, h := range d.Hints() {
			specs = append(specs, hint.Spec{Exten: h.Exten, Context: h.Context, Devices: h.Devices,
				Presence: h.Presence, Source: fmt.Sprintf("%s:%d", h.File, h.Line)})
		}
		s.Hints.Sync("extensions.conf", specs)
	})
	load := func(ctx context.Context) (*conf.Config, error) {
		cfg, err := s.LoadConfig(ctx, "extensions.conf")
		if err == nil && cfg == nil {
			cfg = &conf.Config{File: s.Settings.ConfPath("extensions.conf")}
		}
		return cfg, err
	}
	m.e.SetLoader(load)
	cfg, err := load(ctx)
	if err != nil {
		return err
	}
	if err := m.e.Load(cfg); err != nil {
		return err
	}
	s.Dialplan = m.e
	s.CLI.MustRegister(m.e.Commands()...)
	return nil
}

func (m *dialplanModule) Reload(ctx context.Context, s *Server) error {
	cfg, err := s.LoadConfig(ctx, "extensions.conf")
	if err != nil {
		return err
	}
	if cfg == nil {
		cfg = &conf.Config{File: s.Settings.ConfPath("extensions.conf")}
	}
	return m.e.Load(cfg)
}

func (m *dialplanModule) Unload(context.Context) error {
	if m.e != nil {
		m.e.Close()
	}
	return nil
}
