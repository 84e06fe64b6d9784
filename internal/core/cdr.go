package core

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/cdr"
	"github.com/pleiades-pbx/pleiades/internal/cel"
	"github.com/pleiades-pbx/pleiades/internal/channel"
	"github.com/pleiades-pbx/pleiades/internal/diskqueue"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

// cdrModule is call detail records (Asterisk's cdr core with cdr_csv, cdr_manager and
// cdr_pgsql): cdr.conf's [general], Master.csv in astlogdir/cdr-csv (cdr_csv.conf),
// AMI Cdr events (cdr_manager.conf enabled=yes), PostgreSQL (cdr_pgsql.conf) with its
// queue in astspooldir/cdr/pgsql.queue, and the embedded SQLite database astlogdir/master.db
// (on unless cdr_sqlite3_custom.conf [master] enabled=no) queued in
// astspooldir/cdr/sqlite3.queue, and cdr_custom.conf's [mappings] in astlogdir/cdr-custom.
//
// It also runs CEL (cel.conf, cel_manager's AMI CEL events with [manager] enabled=yes),
// cel_pgsql (cel_pgsql.conf) queued in astspooldir/cel/pgsql.queue and cel_odbc
// (cel_odbc.conf, one backend per section on a res_odbc.conf connection, or "driver:name"
// for another realtime driver's) queued in astspooldir/cel/odbc-<section>.queue.
type cdrModule struct {
	e         *cdr.Engine
	cel       *cel.Engine
	celMu     sync.Mutex   // guards celQueues (read by "cel show status" and "module show")
	celQueues []*cel.Queue // the CEL database backends running
	celOut    cel.Fanout   // the CEL engine's one receiver; celSinks changes what it feeds
	detach    func()
	celOff    func()
}

func (*cdrModule) Name() string        { return "cdr" }
func (*cdrModule) Description() string { return "Call Detail Records" }

// Declined reports the backends that are off for want of their configuration, as Asterisk's
// cdr_pgsql and cel_pgsql decline to load without a [global] in their .conf file.
func (m *cdrModule) Declined(asteriskName string) bool {
	switch baseName(asteriskName) {
	case "cdr_pgsql":
		return m.e == nil || !slices.ContainsFunc(m.e.Status(), func(b cdr.BackendStatus) bool { return b.Name == "pgsql" })
	case "cel_pgsql", "cel_odbc":
		m.celMu.Lock()
		defer m.celMu.Unlock()
		return !slices.ContainsFunc(m.celQueues, func(q *cel.Queue) bool { return strings.HasPrefix(q.Name(), baseName(asteriskName)) })
	}
	return false
}

func (m *cdrModule) Load(ctx context.Context, s *Server) error {
	set, err := m.settings(ctx, s)
	if err != nil {
		return err
	}
	m.e = cdr.New(s.Log, set)
	if s.Channels == nil {
		s.Channels = channel.NewRegistry(s.Log)
	}
	m.detach = m.e.Attach(s.Channels)
	if s.Dialplan != nil {
		cdr.Register(s.Dialplan, m.e)
	}
	s.CLI.MustRegister(m.e.Commands()...)
	celSet, err := m.celSettings(ctx, s)
	if err != nil {
		return err
	}
	m.cel = cel.New(celSet)
	s.CLI.MustRegister(m.cel.Commands(m.celStatus)...)
	m.celOff = s.Channels.Subscribe(m.cel.Handle)
	m.cel.AddSink(m.celOut.Sink)
	if s.Dialplan != nil {
		s.Dialplan.OnApp(m.cel.App)
	}
	if err := m.celSinks(ctx, s); err != nil {
		return err
	}
	m.backends(ctx, s) // logged; a bad backend does not stop the server
	return nil
}

func (m *cdrModule) celSettings(ctx context.Context, s *Server) (cel.Settings, error) {
	cfg, err := s.LoadConfig(ctx, "cel.conf")
	if err != nil {
		return cel.Settings{}, err
	}
	return cel.ParseSettings(cfg)
}

// celSinks (re)starts CEL's receivers: cel_manager, cel_pgsql (cel_pgsql.conf) and
// cel_odbc (cel_odbc.conf). The database backends' queues are files: a backend stopped by a
// reload leaves its backlog there and its successor writes it first; the events that come
// while the queues are replaced are held (celOut) and go to the new ones after it.
func (m *cdrModule) celSinks(ctx context.Context, s *Server) error {
	cfg, err := s.LoadConfig(ctx, "cel_pgsql.conf")
	if err != nil {
		return err
	}
	pg, err := cel.ParsePgSQL(cfg)
	if err != nil {
		return err
	}
	ocfg, err := s.LoadConfig(ctx, "cel_odbc.conf")
	if err != nil {
		return err
	}
	odbcs, _, err := cel.ParseODBC(ocfg)
	if err != nil {
		return err
	}
	m.celOut.Hold()
	m.closeCELQueues()
	var sinks []cel.Sink
	if m.cel.Settings().Manager && s.AMI != nil {
		sinks = append(sinks, cel.ManagerSink(s.AMI, func() string { return m.cel.Settings().DateFormat }))
	}
	start := func(b cel.Backend, spool string) {
		q, err := cel.Start(b, s.Log, filepath.Join(s.Settings.Dirs.Spool, "cel", spool), nil)
		if err != nil {
			s.Log.Error("CEL backend not started", "backend", b.Name(), "err", err)
			return
		}
		m.celMu.Lock()
		m.celQueues = append(m.celQueues, q)
		m.celMu.Unlock()
		sinks = append(sinks, q.Sink)
	}
	if pg != nil {
		pg.Log = s.Log
		start(pg, "pgsql.queue")
	}
	for _, o := range odbcs {
		q, dollar := m.querier(s, o.Connection)
		if q == nil {
			s.Log.Error("cel_odbc: no realtime connection of that name; section skipped", "section", o.Section, "connection", o.Connection)
			continue
		}
		if i := strings.IndexByte(o.Connection, ':'); i >= 0 {
			o.Connection = o.Connection[i+1:]
		}
		o.Q, o.Dollar, o.Log = q, dollar, s.Log
		start(o, "odbc-"+o.Section+".queue")
	}
	m.celOut.Resume(sinks...)
	return nil
}

func (m *cdrModule) closeCELQueues() {
	m.celMu.Lock()
	qs := m.celQueues
	m.celQueues = nil
	m.celMu.Unlock()
	for _, q := range qs {
		q.Close()
	}
}

// celStatus is the CEL database backends' queues, for "cel show status".
func (m *cdrModule) celStatus() []diskqueue.Status {
	m.celMu.Lock()
	defer m.celMu.Unlock()
	var out []diskqueue.Status
	for _, q := range m.celQueues {
		out = append(out, q.Status())
	}
	return out
}

func (m *cdrModule) settings(ctx context.Context, s *Server) (cdr.Settings, error) {
	cfg, err := s.LoadConfig(ctx, "cdr.conf")
	if err != nil {
		return cdr.Settings{}, err
	}
	set, warns, err := cdr.ParseSettings(cfg)
	for _, w := range warns {
		s.Log.Warn(w)
	}
	return set, err
}

// backends (re)starts the backends the configuration asks for; a queue handed from one
// configuration to the next keeps its spool file. A backend whose configuration is bad
// (with its file:line) is left out and logged, the others run: calls never depend on a
// backend. The errors are returned joined (a reload reports them).
func (m *cdrModule) backends(ctx context.Context, s *Server) error {
	var errs []error
	for _, step := range []func(context.Context, *Server) error{m.csvBackend, m.managerBackend, m.pgsqlBackend,
		m.customBackend, m.adaptive, m.sqliteBackend} {
		if err := step(ctx, s); err != nil {
			s.Log.Error("CDR backend not loaded", "err", err)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (m *cdrModule) csvBackend(ctx context.Context, s *Server) error {
	csvCfg, err := s.LoadConfig(ctx, "cdr_csv.conf")
	if err != nil {
		return err
	}
	csvSet, err := cdr.ParseCSVSettings(csvCfg)
	if err != nil {
		return err
	}
	return m.e.AddBackend(&cdr.CSV{Dir: filepath.Join(s.Settings.Dirs.Log, "cdr-csv"), Set: csvSet}, "")
}

func (m *cdrModule) managerBackend(ctx context.Context, s *Server) error {
	mgrCfg, err := s.LoadConfig(ctx, "cdr_manager.conf")
	if err != nil {
		return err
	}
	on, maps, err := cdr.ParseManager(mgrCfg)
	if err != nil {
		return err
	}
	if on && s.AMI != nil {
		return m.e.AddBackend(&cdr.Manager{AMI: s.AMI, Mappings: maps}, "")
	}
	m.e.RemoveBackend("cdr_manager")
	return nil
}

func (m *cdrModule) pgsqlBackend(ctx context.Context, s *Server) error {
	pgCfg, err := s.LoadConfig(ctx, "cdr_pgsql.conf")
	if err != nil {
		return err
	}
	pg, err := cdr.ParsePgSQL(pgCfg)
	if err != nil {
		return err
	}
	if pg != nil {
		pg.Log = s.Log
		return m.e.AddBackend(pg, filepath.Join(s.Settings.Dirs.Spool, "cdr", "pgsql.queue"))
	}
	m.e.RemoveBackend("pgsql")
	return nil
}

func (m *cdrModule) customBackend(ctx context.Context, s *Server) error {
	custCfg, err := s.LoadConfig(ctx, "cdr_custom.conf")
	if err != nil {
		return err
	}
	cust, err := cdr.ParseCustom(custCfg, filepath.Join(s.Settings.Dirs.Log, "cdr-custom"), s.Dialplan)
	if err != nil {
		return err
	}
	if cust != nil {
		return m.e.AddBackend(cust, "")
	}
	m.e.RemoveBackend("cdr-custom")
	return nil
}

func (m *cdrModule) sqliteBackend(ctx context.Context, s *Server) error {
	sqCfg, err := s.LoadConfig(ctx, "cdr_sqlite3_custom.conf")
	if err != nil {
		return err
	}
	on, table, warn, err := cdr.ParseSQLite(sqCfg)
	if err != nil {
		return err
	}
	if warn != "" {
		s.Log.Warn(warn)
	}
	if on {
		sq := &cdr.SQLite{Path: filepath.Join(s.Settings.Dirs.Log, "master.db"), Table: table}
		return m.e.AddBackend(sq, filepath.Join(s.Settings.Dirs.Spool, "cdr", "sqlite3.queue"))
	}
	m.e.RemoveBackend("sqlite3")
	return nil
}

func (m *cdrModule) Reload(ctx context.Context, s *Server) error {
	set, err := m.settings(ctx, s)
	if err != nil {
		return err
	}
	celSet, err := m.celSettings(ctx, s)
	if err != nil {
		return err
	}
	m.e.SetSettings(set)
	m.cel.SetSettings(celSet)
	if err := m.celSinks(ctx, s); err != nil {
		return err
	}
	return m.backends(ctx, s)
}

func (m *cdrModule) Unload(ctx context.Context) error {
	if m.e == nil {
		return nil
	}
	m.detach()
	m.celOff()
	m.cel.ClearSinks()
	m.celOut.Hold() // an event on its way goes to no stopped queue; a next Load's queues get it
	m.closeCELQueues()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	m.e.Close(ctx)
	return nil
}

// adaptive starts a backend per cdr_adaptive_odbc.conf section, on the realtime driver
// connection it names (res_odbc.conf's first, then mysql, sqlite3, pgsql; "driver:name"
// picks one), queued in astspooldir/cdr/adaptive_odbc-<section>.queue.
func (m *cdrModule) adaptive(ctx context.Context, s *Server) error {
	cfg, err := s.LoadConfig(ctx, "cdr_adaptive_odbc.conf")
	if err != nil {
		return err
	}
	as, err := cdr.ParseAdaptive(cfg)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, a := range as {
		q, dollar := m.querier(s, a.Connection)
		if q == nil {
			s.Log.Error("cdr_adaptive_odbc: no realtime connection of that name; section skipped", "section", a.Section, "connection", a.Connection)
			continue
		}
		if i := strings.IndexByte(a.Connection, ':'); i >= 0 {
			a.Connection = a.Connection[i+1:]
		}
		a.Q, a.Dollar, a.Log = q, dollar, s.Log
		if err := m.e.AddBackend(a, filepath.Join(s.Settings.Dirs.Spool, "cdr", "adaptive_odbc-"+a.Section+".queue")); err != nil {
			return err
		}
		want[a.Name()] = true
	}
	for _, st := range m.e.Status() {
		if strings.HasPrefix(st.Name, "adaptive_odbc:") && !want[st.Name] {
			m.e.RemoveBackend(st.Name)
		}
	}
	return nil
}

func (m *cdrModule) querier(s *Server, conn string) (realtime.Querier, bool) {
	if s.Realtime == nil {
		return nil, false
	}
	drivers := []string{"odbc", "mysql", "sqlite3", "pgsql"}
	if d, name, ok := strings.Cut(conn, ":"); ok {
		drivers, conn = []string{d}, name
	}
	for _, d := range drivers {
		q, err := s.Realtime.Querier(d)
		if err == nil && q.HasDatabase(conn) {
			return q, d == "pgsql"
		}
	}
	return nil, false
}
