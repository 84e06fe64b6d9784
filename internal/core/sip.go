package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/pleiades-pbx/pleiades/internal/astdb"
	"github.com/pleiades-pbx/pleiades/internal/channel"
	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/devstate"
	"github.com/pleiades-pbx/pleiades/internal/event"
	"github.com/pleiades-pbx/pleiades/internal/hint"
	"github.com/pleiades-pbx/pleiades/internal/httpapi"
	"github.com/pleiades-pbx/pleiades/internal/logger"
	"github.com/pleiades-pbx/pleiades/internal/media"
	"github.com/pleiades-pbx/pleiades/internal/sip"
	"github.com/pleiades-pbx/pleiades/internal/state"
)

// sipModule is the SIP registrar and presence server (chan_sip's place) with realtime friends
// from family sippeers. Like chan_sip without sip.conf, it does not listen when there is no
// sip.conf; a reload that finds one starts it, and one that changes the bind addresses moves
// the listeners (sip.Server.Configure).
type sipModule struct {
	srv *sip.Server
	eng *media.Engine // the RTP engine this module made (nil: another module's)
}

// Name and Description are chan_sip's ("module reload chan_sip", "module show like chan_sip").
func (*sipModule) Name() string        { return "chan_sip" }
func (*sipModule) Description() string { return "Session Initiation Protocol (SIP)" }

func (m *sipModule) Load(ctx context.Context, s *Server) error {
	// sipgo's process-wide logger (a few transport-level messages) goes to Pleiades' log
	// at debug level 3, like the rest of sipgo's records.
	sipmsg.SetDefaultLogger(slog.New(shiftLevel{h: s.Logger.Handler(), to: logger.DebugLevel(3)}))
	// chan_sip reads Asterisk's system name, empty without systemname= (not the host name
	// Pleiades falls back to): the default realm and what rtsavesysname writes.
	sysname := ""
	if s.Settings.SystemNameSet {
		sysname = s.Settings.SystemName
	}
	m.srv = sip.New(s.Log, s.Realtime, sipDevices{ds: s.DevState, s: s}, sipHints{s}, &sipMailboxes{bus: s.Bus, mb: s}, sysname)
	m.srv.SetConfigSource(func(ctx context.Context) (*conf.Config, error) { return s.LoadConfig(ctx, "sip.conf") })
	if s.DB != nil {
		m.srv.SetDB(sipDB{s.DB}) // registrations outlive a restart (SIP/Registry, as chan_sip)
	}
	cfg, err := s.LoadConfig(ctx, "sip.conf")
	if err != nil {
		return err
	}
	if err := s.DevState.RegisterProvider("SIP/", devstate.ProviderFunc(m.srv.DeviceState)); err != nil {
		return err
	}
	s.CLI.MustRegister(m.srv.Commands()...)
	if err := m.setupCalls(ctx, s); err != nil {
		return err
	}
	s.SIPStats = func() httpapi.SIPStats {
		st := m.srv.Stats()
		return httpapi.SIPStats{Registrations: st.Registrations, Connections: st.Connections, Subscriptions: st.Subscriptions,
			Notifies: st.Notifies, NotifyFailures: st.NotifyFailures, LastFanout: st.LastFanout,
			InProgress: st.InProgress, Refused: st.Refused, Resent: st.Resent, Absorbed: st.Absorbed}
	}
	if cfg == nil {
		s.Log.Info("No sip.conf: the SIP registrar is not listening")
		return nil
	}
	if err := m.srv.Configure(cfg); err != nil {
		return err
	}
	if err := m.srv.Start(ctx); err != nil {
		return fmt.Errorf("sip: %w", err)
	}
	s.Log.Info(m.listening())
	return nil
}

// listening says where SIP listens.
func (m *sipModule) listening() string {
	udp, tcp := m.srv.Addr()
	if !tcp.IsValid() {
		return fmt.Sprintf("SIP listening on udp %s (no TCP)", udp)
	}
	return fmt.Sprintf("SIP listening on udp %s tcp %s", udp, tcp)
}

func (m *sipModule) Reload(ctx context.Context, s *Server) error {
	cfg, err := s.LoadConfig(ctx, "sip.conf")
	if err != nil {
		return err
	}
	if cfg == nil {
		return nil
	}
	if err := m.srv.Configure(cfg); err != nil {
		return err
	}
	if !m.srv.Running() {
		if err := m.srv.Start(ctx); err != nil {
			return fmt.Errorf("sip: %w", err)
		}
		s.Log.Info(m.listening())
	}
	return nil
}

func (m *sipModule) Unload(context.Context) error {
	if m.srv != nil {
		m.srv.Close()
	}
	if m.eng != nil {
		m.eng.Close()
	}
	return nil
}

// setupCalls gives the SIP server the channel registry, the RTP engine (rtp.conf, made here
// when no module made one) and the call handler (Server.CallHandler, read at each call).
func (m *sipModule) setupCalls(ctx context.Context, s *Server) error {
	if s.Channels == nil {
		s.Channels = channel.NewRegistry(s.Log)
	}
	if s.Media == nil {
		cfg := media.DefaultConfig()
		rc, err := s.LoadConfig(ctx, "rtp.conf")
		if err != nil {
			return err
		}
		if rc != nil {
			if cfg, err = media.ParseConfig(rc); err != nil {
				return err
			}
			for _, n := range cfg.Notices {
				s.Log.Log(ctx, logger.DebugLevel(1), "rtp.conf: "+n)
			}
		}
		m.eng = media.NewEngine(cfg, s.Log)
		s.Media = m.eng
	}
	// A stop refuses new SIP calls through the SIP server; the calls themselves are counted
	// once, by the dialplan engine that runs each incoming leg (as Asterisk counts them), so
	// the SIP server's own count of dialogs is not added again.
	s.AddCallCounter(refuseOnly{m.srv})
	// Calls across servers: this server's registrations go on the bus as sip_location events
	// (the cluster shares them), a call for a peer registered elsewhere goes to that server,
	// and another member's call for a peer registered here is delivered to it.
	m.srv.SetLocations(sip.NewBusLocations(s.Bus), s.Settings.EID)
	m.srv.SetDelivery(func(ch *channel.Channel, dest string) {
		if d := s.CallDeliver; d != nil {
			d(ch, dest)
			return
		}
		ch.Hangup(channel.CauseUnallocated)
	})
	m.srv.SetCalls(s.Channels, s.Media, func(ch *channel.Channel) {
		if h := s.CallHandler; h != nil {
			h(ch)
			return
		}
		ch.Hangup(channel.CauseUnallocated)
	})
	return nil
}

// sipDB is the internal database as the SIP module keeps registrations in it.
type sipDB struct{ db *astdb.DB }

func (d sipDB) Family(family string) (map[string]string, error) {
	es, err := d.db.Family(family)
	if err != nil {
		return nil, err
	}
	kv := make(map[string]string, len(es))
	for _, e := range es {
		kv[e.Key] = e.Value
	}
	return kv, nil
}

func (d sipDB) PutMany(family string, kv map[string]string) error { return d.db.PutMany(family, kv) }

func (d sipDB) Del(family, key string) error {
	if err := d.db.Del(family, key); err != nil && !errors.Is(err, astdb.ErrNotFound) {
		return err
	}
	return nil
}

// sipDevices sets SIP/<peer> as this server's own device state, shared across the cluster.
type sipDevices struct {
	ds *devstate.Engine
	s  *Server
}

func (d sipDevices) SetDevice(device string, st state.Device) { d.ds.Set(device, st) }

// deviceAnnounceWait bounds SetDeviceSync's wait: the change crosses the device-state
// engine's goroutine and the hint engine's (microseconds when they keep up).
const deviceAnnounceWait = 50 * time.Millisecond

// SetDeviceSync sets the state and returns once the hint engine has told AMI of the new
// cluster-wide aggregate (read back at once from the device-state cache), so that a call's
// DeviceStateChange precedes the channel event the SIP driver publishes next, as in Asterisk.
func (d sipDevices) SetDeviceSync(device string, st state.Device) {
	d.ds.Set(device, st)
	if h := d.s.Hints; h != nil {
		h.WaitDevice(device, d.ds.State(device), deviceAnnounceWait)
	}
}

// sipHints follows the hints a SUBSCRIBE's extension@context reaches (hint.Engine.Resolve)
// and their cluster-wide state.
type sipHints struct{ s *Server }

func (h sipHints) Lookup(exten, context string) (sip.HintInfo, bool) {
	st, ok := h.s.Hints.Resolve(exten, context)
	if !ok {
		return sip.HintInfo{}, false
	}
	return sip.HintInfo{Exten: exten, Context: context, State: st.State, Presence: st.Presence}, true
}

func (h sipHints) Watch(exten, context string, fn func(state.Extension)) func() {
	key := exten
	ctx := context
	if st, ok := h.s.Hints.Resolve(exten, context); ok {
		key, ctx = st.Exten, st.Context
	}
	return h.s.Hints.Watch(key, ctx, func(st hint.State) { fn(st.State) })
}

// sipMailboxes gives the registrar the cluster-wide mailbox counts and their changes.
type sipMailboxes struct {
	bus *event.Bus
	mb  *Server
}

func (m *sipMailboxes) Get(mailbox string) (newMsgs, oldMsgs, urgent int, ok bool) {
	st, ok := m.mb.MWI.Get(mailbox)
	if !ok {
		return 0, 0, 0, false
	}
	return st.New, st.Old, st.Urgent, true
}

func (m *sipMailboxes) Watch(fn func(mailbox string, newMsgs, oldMsgs, urgent int)) func() {
	sub := m.bus.Subscribe("sip:mwi", event.KindMessageWaiting, func(ev event.Event) {
		if e, ok := ev.(event.MessageWaiting); ok {
			fn(e.Mailbox, e.New, e.Old, e.Urgent)
		}
	})
	return func() {
		sub.Close()
		<-sub.Done()
	}
}

// shiftLevel logs every record of a library's logger at one level of ours.
type shiftLevel struct {
	h  slog.Handler
	to slog.Level
}

func (s shiftLevel) Enabled(ctx context.Context, _ slog.Level) bool { return s.h.Enabled(ctx, s.to) }
func (s shiftLevel) Handle(ctx context.Context, r slog.Record) error {
	r.Level = s.to
	return s.h.Handle(ctx, r)
}
func (s shiftLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return shiftLevel{h: s.h.WithAttrs(a), to: s.to}
}
func (s shiftLevel) WithGroup(name string) slog.Handler {
	return shiftLevel{h: s.h.WithGroup(name), to: s.to}
}

// refuseOnly is a CallCounter that refuses new calls through c but counts none: what it
// would count is counted elsewhere.
type refuseOnly struct{ c CallCounter }

func (refuseOnly) ActiveCalls() int             { return 0 }
func (r refuseOnly) RefuseNewCalls(refuse bool) { r.c.RefuseNewCalls(refuse) }
