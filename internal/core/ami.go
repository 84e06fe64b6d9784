package core

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/pleiades-pbx/pleiades/internal/ami"
	"github.com/pleiades-pbx/pleiades/internal/channel"
	"github.com/pleiades-pbx/pleiades/internal/cluster"
	"github.com/pleiades-pbx/pleiades/internal/dialplan"
	"github.com/pleiades-pbx/pleiades/internal/dialplan/expr"
	"github.com/pleiades-pbx/pleiades/internal/event"
	"github.com/pleiades-pbx/pleiades/internal/hint"
	"github.com/pleiades-pbx/pleiades/internal/httpapi"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

// amiModule is the Manager interface (manager.conf; off unless [general] enabled=yes, as in
// Asterisk). Its events come from the state core: DeviceStateChange and ExtensionStatus on
// every cluster-wide change (both through the hint engine, so that a device's
// ExtensionStatus events always precede its DeviceStateChange), MessageWaiting, cluster
// members joining and leaving, Reload.
type amiModule struct {
	srv    *ami.Server
	subs   []*event.Subscription
	cancel func()
	// queuesOff detaches app_queue's events from the manager.
	queuesOff func()
}

func (*amiModule) Name() string        { return "manager" }
func (*amiModule) Description() string { return "Asterisk Manager Interface" }

func (m *amiModule) Load(ctx context.Context, s *Server) error {
	m.srv = ami.New(s.Log, s.CLI, s.DB, &amiBackend{s: s})
	s.attachQueueAMI(m.srv)
	m.queuesOff = func() { s.attachQueueAMI(nil) }
	if s.Realtime != nil {
		m.srv.SetUserSource(realtimeManagers{s.Realtime})
	}
	m.srv.SetReloader(func(ctx context.Context) error { return m.configure(ctx, s) })
	if err := m.configure(ctx, s); err != nil {
		return err
	}
	if s.Voicemail != nil {
		for _, a := range s.Voicemail.Actions() {
			if err := m.srv.RegisterAction(a); err != nil {
				return err
			}
		}
	}
	if err := m.srv.Start(ctx); err != nil {
		return err
	}
	m.subs = append(m.subs,
		s.Bus.Subscribe("ami:mwi", event.KindMessageWaiting, func(ev event.Event) {
			if e, ok := ev.(event.MessageWaiting); ok {
				m.srv.Publish(ami.MessageWaitingEvent(e.Mailbox, e.New, e.Old))
			}
		}),
	)
	// ExtensionStatus and DeviceStateChange come from one ordered path, the hint engine's:
	// a device change's ExtensionStatus events first, then its DeviceStateChange, as Asterisk
	// sends them (two subscriptions would race).
	stopHints := s.Hints.WatchAll(func(h hint.State) {
		m.srv.Publish(ami.ExtensionStatusEvent(extState(h)))
	})
	stopDevices := s.Hints.WatchDevices(func(e event.DeviceStateChange) {
		m.srv.Publish(ami.DeviceStateChangeEvent(e.Device, e.State))
	})
	// Channel events (Newchannel, Dial*, Bridge*, Hangup, DTMF...) in the order the channel
	// layer publishes them.
	stopChannels := func() {}
	if s.Channels != nil {
		stopChannels = s.Channels.Subscribe(func(e channel.Event) {
			if ev, ok := ami.ChannelEvent(e); ok {
				m.srv.Publish(ev)
			}
		})
	}
	m.cancel = func() { stopChannels(); stopDevices(); stopHints() }
	if s.Cluster != nil {
		s.Cluster.OnMember(func(ev cluster.MemberEvent) {
			addr := ""
			if len(ev.Member.Addrs) > 0 {
				addr = ev.Member.Addrs[0]
			}
			if ev.Kind == cluster.MemberJoined {
				m.srv.Publish(ami.ClusterMemberJoinEvent(ev.Member.NodeName, ev.Member.EID.String(), addr))
			} else {
				m.srv.Publish(ami.ClusterMemberLeaveEvent(ev.Member.NodeName, ev.Member.EID.String(), addr, ev.Reason, 0))
			}
		})
	}
	s.AMIStats = func() httpapi.AMIStats {
		st := m.srv.Stats()
		return httpapi.AMIStats{Sessions: st.Sessions, Authenticated: st.Authenticated, FailedLogins: st.FailedLogins}
	}
	s.AMI = m.srv
	s.CLI.MustRegister(m.srv.Commands()...)
	return nil
}

func (m *amiModule) configure(ctx context.Context, s *Server) error {
	cfg, err := s.LoadConfig(ctx, "manager.conf")
	if err != nil {
		return err
	}
	return m.srv.Configure(cfg)
}

func (m *amiModule) Reload(ctx context.Context, s *Server) error { return m.configure(ctx, s) }

func (m *amiModule) Unload(context.Context) error {
	if m.queuesOff != nil {
		m.queuesOff()
	}
	if m.cancel != nil {
		m.cancel()
	}
	for _, sub := range m.subs {
		sub.Close()
		<-sub.Done()
	}
	if m.srv != nil {
		return m.srv.Close()
	}
	return nil
}

func extState(h hint.State) ami.ExtState {
	return ami.ExtState{Exten: h.Exten, Context: h.Context, Hint: h.Devices, Status: h.State, StatusText: h.State.String()}
}

// amiBackend answers the Manager's actions from the engines.
type amiBackend struct{ s *Server }

func (b *amiBackend) Reload(ctx context.Context, module string) error {
	if module != "" && b.s.Module(module) == nil {
		return ami.ErrNoSuchModule
	}
	err := b.s.Reload(ctx, module)
	if b.s.AMI != nil {
		status := "0"
		if err != nil {
			status = "-1"
		}
		b.s.AMI.Publish(ami.ReloadEvent(module, status))
	}
	return err
}

func (b *amiBackend) Settings() ami.CoreInfo {
	s := b.s
	return ami.CoreInfo{Version: Version, SystemName: s.Settings.SystemName, EID: s.Settings.EID.String(),
		RealtimeEnabled: s.Realtime != nil, HTTPEnabled: s.HTTP != nil && s.HTTP.Addr() != "",
		StartTime: s.Started, ReloadTime: s.LastReload(), FullyBooted: true}
}

func (b *amiBackend) ExtensionState(exten, context string) (ami.ExtState, bool) {
	h, ok := b.s.Hints.Resolve(exten, context)
	if !ok {
		return ami.ExtState{}, false
	}
	return ami.ExtState{Exten: exten, Context: context, Hint: h.Devices, Status: h.State, StatusText: h.State.String()}, true
}

func (b *amiBackend) ExtensionStates() []ami.ExtState {
	var out []ami.ExtState
	for _, h := range b.s.Hints.All() {
		out = append(out, extState(h))
	}
	return out
}

func (b *amiBackend) DeviceStates() []ami.DeviceState {
	var out []ami.DeviceState
	for _, d := range b.s.DevState.Devices() {
		out = append(out, ami.DeviceState{Device: d, State: b.s.DevState.State(d)})
	}
	return out
}

func (b *amiBackend) Mailbox(mailbox string) (ami.MailboxInfo, bool) {
	st, ok := b.s.MWI.Get(mailbox)
	if !ok {
		return ami.MailboxInfo{Mailbox: mailbox}, false
	}
	return ami.MailboxInfo{Mailbox: st.Mailbox, New: st.New, Old: st.Old, Urgent: st.Urgent}, true
}

func (b *amiBackend) Mailboxes() []ami.MailboxInfo {
	var out []ami.MailboxInfo
	for _, st := range b.s.MWI.Mailboxes() {
		out = append(out, ami.MailboxInfo{Mailbox: st.Mailbox, New: st.New, Old: st.Old, Urgent: st.Urgent})
	}
	return out
}

func (b *amiBackend) MWIUpdate(mailbox string, newMsgs, oldMsgs, urgent int) error {
	return b.s.MWI.Update(mailbox, newMsgs, oldMsgs, urgent)
}

func (b *amiBackend) MWIDelete(mailbox string) error {
	ok, err := b.s.MWI.Delete(mailbox)
	if err == nil && !ok {
		return fmt.Errorf("mailbox %s not found", mailbox)
	}
	return err
}

// RealtimeInvalidate implements ami.RealtimeBackend.
func (b *amiBackend) RealtimeInvalidate(family, key string) error {
	if b.s.Realtime == nil {
		return realtime.ErrNoMapping
	}
	return b.s.Realtime.Invalidate(family, key)
}

// forbidden turns the dialplan's refusal into the Manager's.
func forbidden(err error) error { return refusal(err, ami.ErrForbidden) }

// refusal wraps as, a front end's own refusal, around an error of the dialplan that refused
// something escalating.
func refusal(err, as error) error {
	if errors.Is(err, dialplan.ErrEscalation) {
		return fmt.Errorf("%w: %w", as, err)
	}
	return err
}

func (b *amiBackend) GetVar(name string, privileged bool) (string, error) {
	v, err := dialplanVars{b.s, "AMI/manager"}.get(name, privileged)
	return v, forbidden(err)
}

func (b *amiBackend) SetVar(name, value string, privileged bool) error {
	return forbidden(dialplanVars{b.s, "AMI/manager"}.set(name, value, privileged))
}

// dialplanVars reads and writes globals and functions for a front end (AMI Getvar/Setvar,
// ARI's /asterisk/variable): a function runs on a pseudo-channel named channel, which
// inhibits escalations unless the caller is privileged.
type dialplanVars struct {
	s       *Server
	channel string
}

func (v dialplanVars) newChannel(privileged bool) *dialplan.Channel {
	ch := v.s.Dialplan.NewChannel(v.channel, "default", "s", 1)
	if !privileged {
		ch.InhibitEscalations()
	}
	return ch
}

func (v dialplanVars) get(name string, privileged bool) (string, error) {
	if v.s.Dialplan == nil {
		return "", errors.New("no dialplan")
	}
	if fn, args, ok := expr.FunctionCall(name); ok {
		return v.newChannel(privileged).ReadFunction(context.Background(), fn, args)
	}
	val, _ := v.s.Dialplan.Global(name)
	return val, nil
}

func (v dialplanVars) set(name, value string, privileged bool) error {
	if v.s.Dialplan == nil {
		return errors.New("no dialplan")
	}
	if _, _, ok := expr.FunctionCall(name); ok {
		return v.newChannel(privileged).WriteFunction(context.Background(), name, value)
	}
	v.s.Dialplan.SetGlobal(name, value)
	return nil
}

func (b *amiBackend) CheckOriginate(req ami.OriginateRequest) error {
	if req.Privileged || req.App == "" || b.s.Dialplan == nil {
		return nil
	}
	return forbidden(b.s.Dialplan.CheckExternal(req.App, req.Data))
}

func (b *amiBackend) Originate(ctx context.Context, req ami.OriginateRequest) (ami.OriginateResult, error) {
	if b.s.Dialplan == nil {
		return ami.OriginateResult{}, errors.New("no dialplan")
	}
	vars := map[string]string{}
	for _, f := range req.Vars {
		vars[f.Key] = f.Value
	}
	dialled := make(chan dialplan.DialResult, 1)
	name, id, err := b.s.Dialplan.Originate(ctx, dialplan.Originate{Channel: req.Channel, App: req.App, Data: req.Data,
		Exten: req.Exten, Context: req.Context, Priority: req.Priority, Vars: vars, CallerID: req.CallerID,
		InhibitEscalations: !req.Privileged, Timeout: req.Timeout,
		Dialled: func(r dialplan.DialResult) { dialled <- r }})
	if err != nil {
		return ami.OriginateResult{Reason: int(dialplan.DialFailed)}, forbidden(err)
	}
	// Asterisk's Originate answers (or sends OriginateResponse) once the dial has an
	// outcome: success only when the far end answered.
	select {
	case r := <-dialled:
		if r != dialplan.DialAnswered {
			return ami.OriginateResult{Reason: int(r)}, fmt.Errorf("%w: %s: %s", ami.ErrNotAnswered, req.Channel, r)
		}
		return ami.OriginateResult{Channel: name, Uniqueid: id, Reason: int(r)}, nil
	case <-ctx.Done():
		return ami.OriginateResult{Reason: int(dialplan.DialFailed)}, ctx.Err()
	}
}

var (
	_ ami.Backend        = (*amiBackend)(nil)
	_ ami.ChannelBackend = (*amiBackend)(nil)
)

func (b *amiBackend) channelStatus(ch *channel.Channel) ami.ChannelStatus {
	snap := ch.Snapshot()
	st := ami.ChannelStatus{Snapshot: snap}
	st.Type, _, _ = strings.Cut(snap.Name, "/")
	if br := ch.Bridge(); br != nil {
		st.BridgeID = br.ID()
	}
	if m := ch.Media(); m != nil {
		if p, ok := m.Peer(); ok {
			st.Format = p.Codec.String()
		}
	}
	if d := b.s.Dialplan; d != nil {
		if dch := d.LegChannel(snap.Name); dch != nil {
			vars := dch.Vars()
			names := make([]string, 0, len(vars))
			for k := range vars {
				names = append(names, k)
			}
			sort.Strings(names)
			for _, k := range names {
				st.Variables = append(st.Variables, ami.Field{Key: k, Value: vars[k]})
			}
		}
	}
	return st
}

func (b *amiBackend) Channels() []ami.ChannelStatus {
	var out []ami.ChannelStatus
	if b.s.Channels == nil {
		return nil
	}
	for _, ch := range b.s.Channels.List() {
		out = append(out, b.channelStatus(ch))
	}
	return out
}

func (b *amiBackend) ChannelStatus(name string) (ami.ChannelStatus, bool) {
	if b.s.Channels == nil {
		return ami.ChannelStatus{}, false
	}
	ch := b.s.Channels.Get(name)
	if ch == nil {
		return ami.ChannelStatus{}, false
	}
	return b.channelStatus(ch), true
}

func (b *amiBackend) HangupChannel(name string, cause channel.Cause) bool {
	if b.s.Channels == nil {
		return false
	}
	ch := b.s.Channels.Get(name)
	if ch == nil {
		return false
	}
	if cause == 0 {
		cause = channel.CauseNormalClearing
	}
	ch.RequestHangup(cause)
	return true
}

// realtimeManagers finds manager users in the realtime family "manager" (Asterisk's
// manager.c: a row keyed by "name" with secret, read, write, permit, deny, ... columns) for
// users manager.conf does not define. An unmapped family or an absent row is "no such user";
// a database that does not answer is an error, so the login fails without saying which.
type realtimeManagers struct{ rt *realtime.Engine }

func (r realtimeManagers) ManagerUser(ctx context.Context, username string) ([]ami.Field, error) {
	if !r.rt.Mapped("manager") {
		return nil, ami.ErrUserNotFound
	}
	row, err := r.rt.Load(ctx, "manager", realtime.Field{Name: "name", Value: username})
	if errors.Is(err, realtime.ErrNotFound) {
		return nil, ami.ErrUserNotFound
	}
	if err != nil {
		return nil, err
	}
	out := make([]ami.Field, 0, len(row))
	for _, f := range row {
		out = append(out, ami.Field{Key: f.Name, Value: f.Value})
	}
	return out, nil
}
