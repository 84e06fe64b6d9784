package core

import (
	"context"
	"path/filepath"

	"github.com/pleiades-pbx/pleiades/internal/voicemail"
)

// voicemailModule is app_voicemail: voicemail.conf (and the realtime voicemail family), the
// message store under astspooldir/voicemail, VoiceMail/VoiceMailMain and their functions,
// MWI from the stored messages, "voicemail ..." commands and the Voicemail* manager actions.
type voicemailModule struct {
	e *voicemail.Engine
	s *Server
}

func (*voicemailModule) Name() string        { return "app_voicemail" }
func (*voicemailModule) Description() string { return "Comedian Mail (Voicemail System)" }

func (m *voicemailModule) Load(ctx context.Context, s *Server) error {
	o := voicemail.Options{Log: s.Log, Realtime: s.Realtime, SpoolDir: filepath.Join(s.Settings.Dirs.Spool, "voicemail")}
	if s.MWI != nil {
		o.MWI = s.MWI
	}
	if s.Cluster != nil {
		o.NATS = s.Cluster.Conn // storage=nats
	}
	cfg, err := m.parse(ctx, s)
	if err != nil {
		return err
	}
	m.e, m.s = voicemail.New(o), s
	if err := m.e.Configure(ctx, cfg); err != nil {
		m.e.Close()
		return err
	}
	s.Voicemail = m.e // pbx_config and manager, loaded after it, register its apps and actions
	s.CLI.MustRegister(m.e.Commands(func(ctx context.Context) error { return s.Reload(ctx, "app_voicemail") })...)
	return nil
}

func (m *voicemailModule) parse(ctx context.Context, s *Server) (*voicemail.Config, error) {
	raw, err := s.LoadConfig(ctx, "voicemail.conf")
	if err != nil {
		return nil, err
	}
	return voicemail.ParseConfig(raw)
}

func (m *voicemailModule) Reload(ctx context.Context, s *Server) error {
	cfg, err := m.parse(ctx, s)
	if err != nil {
		return err
	}
	return m.e.Configure(ctx, cfg)
}

func (m *voicemailModule) Unload(context.Context) error {
	if m.e == nil {
		return nil
	}
	m.e.Close()
	return nil
}
