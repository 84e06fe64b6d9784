package core

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/channel"
	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/devstate"
	"github.com/pleiades-pbx/pleiades/internal/dialplan"
	"github.com/pleiades-pbx/pleiades/internal/dialplan/funcodbc"
	"github.com/pleiades-pbx/pleiades/internal/dialplan/rtswitch"
	"github.com/pleiades-pbx/pleiades/internal/event"
	"github.com/pleiades-pbx/pleiades/internal/funcs"
	"github.com/pleiades-pbx/pleiades/internal/hint"
	"github.com/pleiades-pbx/pleiades/internal/mwi"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
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
	mb, err := mwi.New(s.Log, m.bus, s.DB)
	if err != nil {
		m.ds.Close()
		m.bus.Close()
		return err
	}
	m.mb = mb
	m.hints = hint.New(s.Log, m.bus, m.ds, hintsStatic, hintsRealtime)
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

// The hint sources, in the order that wins a hint key.
const (
	hintsStatic   = "extensions.conf"
	hintsRealtime = "realtime"
)

// dialplanModule is pbx_config: extensions.conf (from a file or, in static mode, a table),
// the applications and functions, and the hints it defines.
type dialplanModule struct {
	e       *dialplan.Engine
	sw      *rtswitch.Switch
	odbc    *funcodbc.Module
	rtHints *hint.Poller
	// rtCancel ends the switch's subscription to realtime changes; hintKick is set while a
	// read of realtime hints asked by a change is pending
	rtCancel func()
	hintKick atomic.Bool
	server   *Server
}

// realtimeHintInterval is how often hints held in realtime tables are read again, so that a
// row added, changed or removed in the database shows in "core show hints" and reaches
// watchers without a reload.
const realtimeHintInterval = 5 * time.Second

// hintSpecs gives the hint engine the dialplan's hints; where names the source line.
func hintSpecs(hs []dialplan.Hint, where func(dialplan.Hint) string) []hint.Spec {
	specs := make([]hint.Spec, 0, len(hs))
	for _, h := range hs {
		specs = append(specs, hint.Spec{Exten: h.Exten, Context: h.Context, Devices: h.Devices,
			Presence: h.Presence, Source: where(h)})
	}
	return specs
}

func fileLine(h dialplan.Hint) string { return fmt.Sprintf("%s:%d", h.File, h.Line) }
func fileOnly(h dialplan.Hint) string { return h.File }

// realtimeHints reads the realtime hints the running dialplan's Realtime switches reach.
func (m *dialplanModule) realtimeHints(ctx context.Context) ([]hint.Spec, error) {
	d := m.e.Dialplan()
	if d == nil {
		return nil, nil
	}
	rt, err := m.sw.DialplanHints(ctx, d)
	return hintSpecs(rt, fileOnly), err
}

// findHint is the hint engine's Finder: the dialplan's lookup through includes and patterns.
func (m *dialplanModule) findHint(exten, context string) (hint.Spec, bool) {
	h, ok := m.e.Hint(exten, context)
	if !ok {
		return hint.Spec{}, false
	}
	return hint.Spec{Exten: h.Exten, Context: h.Context, Devices: h.Devices, Presence: h.Presence, Source: fileLine(h)}, true
}

func (*dialplanModule) Name() string        { return "pbx_config" }
func (*dialplanModule) Description() string { return "Text Extension Configuration" }

func (m *dialplanModule) Load(ctx context.Context, s *Server) (err error) {
	m.server = s
	defer func() {
		if err != nil {
			m.Unload(ctx) // a module that fails to load is not unloaded by the server
		}
	}()
	m.e = dialplan.New(s.Log, s.DB)
	m.e.SetLiveDangerously(s.Settings.LiveDangerously)
	funcs.Register(m.e, s.DevState, s.Hints, s.MWI)
	if s.Voicemail != nil {
		s.Voicemail.Register(m.e) // VoiceMail, VoiceMailMain, MAILBOX_EXISTS, VM_INFO
	}
	s.registerQueueApps(m.e)
	m.sw = rtswitch.New(s.Log, s.Realtime)
	m.sw.Register(m.e)
	s.RTSwitch = m.sw
	m.odbc = funcodbc.New(s.Log, s.Realtime)
	m.odbc.Register(m.e)
	if err := m.configureODBC(ctx, s); err != nil {
		return err
	}
	m.rtHints = s.Hints.Poll(hintsRealtime, realtimeHintInterval, m.realtimeHints)
	if s.Realtime != nil {
		// Rows changed: drop the switch's cached lookups, and read realtime hints again now
		// when the family holds some (one read at a time; changes meanwhile ask for one more).
		m.rtCancel = s.Realtime.Subscribe("", func(c realtime.Change) {
			if m.sw.Changed(c) && m.hintKick.CompareAndSwap(false, true) {
				go func() {
					m.hintKick.Store(false)
					m.rtHints.Now(context.Background())
				}()
			}
		})
	}
	m.e.OnLoad(func(d *dialplan.Dialplan) {
		s.Hints.Sync(hintsStatic, hintSpecs(d.Hints(), fileLine))
		m.rtHints.Now(context.Background())
	})
	s.Hints.SetFinder(m.findHint)
	m.e.SetLoader(m.loadExtensions)
	cfg, err := m.loadExtensions(ctx)
	if err != nil {
		return err
	}
	if err := m.e.Load(cfg); err != nil {
		return err
	}
	if s.Channels == nil {
		s.Channels = channel.NewRegistry(s.Log)
	}
	m.e.SetChannels(s.Channels)
	m.e.SetSoundsDir(s.soundsDir())
	// Every incoming call leg (the SIP server's INVITE handler, on the call's goroutine)
	// runs the dialplan until it ends.
	s.CallHandler = m.e.Handler()
	s.CallDeliver = m.e.Deliverer()
	s.Dialplan = m.e
	s.CLI.MustRegister(m.e.Commands()...)
	s.CLI.MustRegister(m.e.ChannelCommands()...)
	return nil
}

// configureODBC applies func_odbc.conf (after the realtime drivers, whose connections it uses).
func (m *dialplanModule) configureODBC(ctx context.Context, s *Server) error {
	cfg, err := s.LoadConfig(ctx, "func_odbc.conf")
	if err != nil {
		return err
	}
	if cfg == nil {
		cfg = &conf.Config{File: s.Settings.ConfPath("func_odbc.conf")}
	}
	return m.odbc.Configure(cfg)
}

func (m *dialplanModule) Reload(ctx context.Context, s *Server) error {
	m.sw.Flush()
	odbcErr := m.configureODBC(ctx, s)
	cfg, err := m.loadExtensions(ctx)
	if err == nil {
		err = m.e.Load(cfg)
	}
	return errors.Join(err, odbcErr)
}

// loadExtensions reads extensions.conf (a file or, in static mode, a table); without one the
// dialplan is empty.
func (m *dialplanModule) loadExtensions(ctx context.Context) (*conf.Config, error) {
	cfg, err := m.server.LoadConfig(ctx, "extensions.conf")
	if err == nil && cfg == nil {
		cfg = &conf.Config{File: m.server.Settings.ConfPath("extensions.conf")}
	}
	return cfg, err
}

func (m *dialplanModule) Unload(context.Context) error {
	if m.server != nil && m.server.Hints != nil {
		m.server.Hints.SetFinder(nil)
	}
	if m.rtCancel != nil {
		m.rtCancel()
	}
	if m.rtHints != nil {
		m.rtHints.Close()
	}
	if m.e != nil {
		m.e.Close()
	}
	if m.odbc != nil {
		m.odbc.Close()
	}
	return nil
}
