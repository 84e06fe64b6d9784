package core

import (
	"context"
	"path/filepath"

	"github.com/pleiades-pbx/pleiades/internal/astdb"
	"github.com/pleiades-pbx/pleiades/internal/logger"
)

// Modules returns the compiled-in modules in load order: each may use what the ones before it
// set up on the Server. This list is the one place that says what Pleiades is made of.
func Modules() []Module {
	return []Module{
		&loggerModule{},
		&astdbModule{},
		&realtimeModule{},
		&stateModule{},
		&clusterModule{},
		&dialplanModule{},
		&amiModule{},
		&sipModule{},
		&httpModule{},
	}
}

// loggerModule applies logger.conf.
type loggerModule struct{}

func (*loggerModule) Name() string        { return "logger" }
func (*loggerModule) Description() string { return "Logger (logger.conf channels)" }

func (m *loggerModule) Load(ctx context.Context, s *Server) error { return m.Reload(ctx, s) }

func (*loggerModule) Reload(ctx context.Context, s *Server) error {
	cfg, err := s.LoadConfig(ctx, "logger.conf")
	if err != nil {
		return err
	}
	st, err := logger.ParseSettings(cfg)
	if err != nil {
		return err
	}
	return s.Logger.Configure(st, s.Settings.Dirs.Log)
}

func (*loggerModule) Unload(context.Context) error { return nil }

// astdbModule opens the internal database (astdb.sqlite3 in astdbdir).
type astdbModule struct {
	db *astdb.DB
}

func (*astdbModule) Name() string        { return "astdb" }
func (*astdbModule) Description() string { return "Internal database (astdb)" }

func (m *astdbModule) Load(_ context.Context, s *Server) error {
	db, err := astdb.Open(filepath.Join(s.Settings.Dirs.DB, "astdb.sqlite3"))
	if err != nil {
		return err
	}
	m.db = db
	s.DB = db
	s.CLI.MustRegister(astdb.Commands(db)...)
	return nil
}

func (*astdbModule) Reload(context.Context, *Server) error { return nil }

func (m *astdbModule) Unload(context.Context) error {
	if m.db == nil {
		return nil
	}
	return m.db.Close()
}
