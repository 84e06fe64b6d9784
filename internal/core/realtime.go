package core

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
	"github.com/pleiades-pbx/pleiades/internal/realtime/curl"
	"github.com/pleiades-pbx/pleiades/internal/realtime/ldap"
	"github.com/pleiades-pbx/pleiades/internal/realtime/mysql"
	"github.com/pleiades-pbx/pleiades/internal/realtime/odbc"
	"github.com/pleiades-pbx/pleiades/internal/realtime/pgsql"
	"github.com/pleiades-pbx/pleiades/internal/realtime/sqlite"
)

// builtinExtconfig maps the realtime families to the embedded SQLite database when the server
// runs on built-in defaults (no asterisk.conf) and the configuration directory has no
// extconfig.conf, so a fresh "pleiades -c" has working realtime.
const builtinExtconfig = `[settings]
sippeers => sqlite3,pleiades,sippeers
voicemail => sqlite3,pleiades,voicemail
extensions => sqlite3,pleiades,extensions
queues => sqlite3,pleiades,queues
queue_members => sqlite3,pleiades,queue_members
`

// realtimeModule is res_realtime with its configuration engines: extconfig.conf mappings, the
// four SQL drivers, static mode for every other module's files.
type realtimeModule struct {
	e       *realtime.Engine
	builtin bool
}

func (*realtimeModule) Name() string { return "res_realtime" }
func (*realtimeModule) Description() string {
	return "Realtime Data Lookup/Rewrite (sqlite3, pgsql, mysql, odbc, curl, ldap)"
}

func (m *realtimeModule) Load(ctx context.Context, s *Server) error {
	m.e = realtime.New(s.Log)
	m.e.Register(sqlite.New(s.Log))
	m.e.Register(pgsql.New(s.Log))
	m.e.Register(mysql.New(s.Log))
	m.e.Register(odbc.New(s.Log))
	m.e.Register(curl.New(s.Log))
	m.e.Register(ldap.New(s.Log))
	m.e.SetFileLoader(func(ctx context.Context, name string) (*conf.Config, error) {
		return conf.LoadContext(ctx, s.Settings.ConfPath(name), conf.Options{
			Dir: s.Settings.Dirs.Etc, ExecIncludes: s.Settings.ExecIncludes, Static: m.e,
		})
	})
	m.builtin = s.Settings.ConfigFile == ""
	if err := m.configure(ctx, s); err != nil {
		m.e.Close()
		return err
	}
	s.Static = m.e
	s.Realtime = m.e
	s.CLI.MustRegister(m.e.Commands()...)
	return nil
}

func (m *realtimeModule) defaultDB(s *Server) string {
	return filepath.Join(s.Settings.Dirs.VarLib, "realtime.sqlite3")
}

func (m *realtimeModule) configure(ctx context.Context, s *Server) error {
	// extconfig.conf never comes from a database.
	ext, err := s.loadFile("extconfig.conf")
	if err != nil {
		return err
	}
	// On built-in defaults the embedded database "pleiades" always exists (with Asterisk's
	// tables), so an extconfig.conf added to the data directory can map to it too.
	if m.builtin {
		if ext == nil {
			if ext, err = conf.Parse("(built-in extconfig.conf)", []byte(builtinExtconfig), conf.Options{}); err != nil {
				return err
			}
		}
		if err := sqlite.CreateDefaultSchema(ctx, m.defaultDB(s)); err != nil {
			return fmt.Errorf("creating the built-in realtime database %s: %w", m.defaultDB(s), err)
		}
	}
	return m.e.Configure(ctx, ext, func(file string) (*conf.Config, error) {
		cfg, err := s.loadFile(file)
		if err == nil && cfg == nil && m.builtin && file == "res_config_sqlite3.conf" {
			return conf.Parse("(built-in res_config_sqlite3.conf)", fmt.Appendf(nil, "[pleiades]\ndbfile => %s\n", m.defaultDB(s)), conf.Options{})
		}
		return cfg, err
	})
}

func (m *realtimeModule) Reload(ctx context.Context, s *Server) error { return m.configure(ctx, s) }

func (m *realtimeModule) Unload(context.Context) error {
	if m.e == nil {
		return nil
	}
	return m.e.Close()
}
