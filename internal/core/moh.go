package core

import (
	"context"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/logger"
	"github.com/pleiades-pbx/pleiades/internal/moh"
	"github.com/pleiades-pbx/pleiades/internal/queue"
)

// mohModule is res_musiconhold: musiconhold.conf's classes, the MusicOnHold,
// StartMusicOnHold and StopMusicOnHold applications, music for Dial's m option and for a
// held party in a bridge, and the moh CLI commands. It loads after the dialplan, whose
// engine and channel registry it hooks into. Without musiconhold.conf it runs Asterisk's
// sample: [default] mode=files directory=moh (astdatadir/moh).
type mohModule struct {
	r      *moh.Registry
	server *Server
}

func (*mohModule) Name() string        { return "res_musiconhold" }
func (*mohModule) Description() string { return "Music On Hold Resource" }

func (m *mohModule) Load(ctx context.Context, s *Server) error {
	m.server = s
	m.r = moh.New(s.Log)
	m.r.SetSoundsDir(s.soundsDir())
	if err := m.Reload(ctx, s); err != nil {
		return err
	}
	if s.Dialplan != nil {
		m.r.Register(s.Dialplan)
	}
	s.MOH = m.r
	queue.MusicOnHold = m.r.Play // callers waiting in a queue hear the queue's musicclass
	s.CLI.MustRegister(m.r.Commands(func(ctx context.Context) error { return s.Reload(ctx, m.Name()) })...)
	return nil
}

// Reload reads musiconhold.conf again and scans the classes' directories again; what is
// wrong in it is logged (file:line) and skipped, as Asterisk does, so a reload never fails
// on the file's content.
func (m *mohModule) Reload(ctx context.Context, s *Server) error {
	cfg, err := s.LoadConfig(ctx, "musiconhold.conf")
	if err != nil {
		return err
	}
	builtin := cfg == nil
	if builtin {
		cfg, err = conf.Parse(s.Settings.ConfPath("musiconhold.conf")+" (built-in default)", []byte(moh.DefaultFile), conf.Options{})
		if err != nil {
			return err
		}
	}
	c, warns := moh.Parse(cfg, moh.Options{DataDir: s.Settings.Dirs.Data})
	for _, w := range warns {
		if builtin {
			// The operator wrote nothing: astdatadir/moh without files is said at verbose 3
			// (Asterisk's level for "Files not found"), the warning below says the rest.
			s.Log.Log(ctx, logger.Verbose(3), w.Error())
			continue
		}
		s.Log.Warn(w.Error())
	}
	if len(c.Classes) == 0 {
		s.Log.Warn("No music on hold classes configured, disabling music on hold.")
	}
	m.r.Apply(c)
	return nil
}

func (m *mohModule) Unload(context.Context) error {
	if m.r == nil {
		return nil
	}
	if m.server != nil && m.server.Dialplan != nil {
		m.r.Unregister(m.server.Dialplan)
	}
	queue.MusicOnHold = nil
	m.r.Close()
	return nil
}
