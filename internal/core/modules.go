package core

import (
	"context"
	"path/filepath"
	"slices"
	"strings"

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
		&voicemailModule{},
		&queueModule{},
		&dialplanModule{},
		&mohModule{},
		&amiModule{},
		&sipModule{},
		&cdrModule{},
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

// asteriskModule is a module of Asterisk 20 (or a part built into it) that a Pleiades module
// answers for: "module show" lists it with Asterisk's description and support level, and
// "module reload" takes its name.
type asteriskModule struct {
	name        string // "chan_sip.so"; parts built into Asterisk have no ".so" ("manager")
	description string // Asterisk's
	support     string // Asterisk's support level: core, extended, deprecated
	reloads     bool   // Asterisk's module can be reloaded
	// driver, when set, is the realtime driver whose loading the module follows (see
	// realtime.Engine.Loaded): "Running" only while the driver is loaded.
	driver string
}

// asteriskModules maps each Pleiades module to the Asterisk modules it stands in for. A
// Pleiades module that has none (astdb: Asterisk's astdb is core, not a module) or whose own
// name differs from all of them is listed under its own name too.
var asteriskModules = map[string][]asteriskModule{
	"logger": {{name: "logger", description: "Logger", support: "core", reloads: true}},
	"res_realtime": {
		{name: "extconfig", description: "Configuration", support: "core", reloads: true},
		{name: "res_realtime.so", description: "Realtime Data Lookup/Rewrite", support: "core"},
		{name: "res_config_sqlite3.so", description: "SQLite 3 realtime config engine", support: "core", reloads: true, driver: "sqlite3"},
		{name: "res_config_pgsql.so", description: "PostgreSQL RealTime Configuration Driver", support: "extended", reloads: true, driver: "pgsql"},
		{name: "res_config_mysql.so", description: "MySQL RealTime Configuration Driver", support: "extended", reloads: true, driver: "mysql"},
		{name: "res_config_odbc.so", description: "Realtime ODBC configuration", support: "core", reloads: true, driver: "odbc"},
		{name: "res_odbc.so", description: "ODBC resource", support: "core", reloads: true, driver: "odbc"},
		{name: "res_config_curl.so", description: "Realtime Curl configuration", support: "core", reloads: true, driver: "curl"},
		{name: "res_config_ldap.so", description: "LDAP realtime interface", support: "extended", reloads: true, driver: "ldap"},
	},
	"res_state":   {{name: "func_devstate.so", description: "Gets or sets a device state in the dialplan", support: "core"}},
	"res_cluster": {{name: "res_corosync.so", description: "Corosync", support: "extended"}},
	"pbx_config": {
		{name: "pbx_config.so", description: "Text Extension Configuration", support: "core", reloads: true},
		{name: "pbx_realtime.so", description: "Realtime Switch", support: "extended"},
		{name: "func_odbc.so", description: "ODBC lookups", support: "core", reloads: true},
	},
	"cdr": {
		{name: "cdr", description: "CDR Engine", support: "core", reloads: true},
		{name: "cdr_adaptive_odbc.so", description: "Adaptive ODBC CDR backend", support: "core", reloads: true},
		{name: "cdr_csv.so", description: "Comma Separated Values CDR Backend", support: "extended", reloads: true},
		{name: "cdr_custom.so", description: "Customizable Comma Separated Values CDR Backend", support: "core", reloads: true},
		{name: "cdr_manager.so", description: "Asterisk Manager Interface CDR Backend", support: "core", reloads: true},
		{name: "cdr_pgsql.so", description: "PostgreSQL CDR Backend", support: "extended", reloads: true},
		{name: "cdr_sqlite3_custom.so", description: "SQLite3 Custom CDR Module", support: "extended", reloads: true},
		{name: "cel", description: "CEL Engine", support: "core", reloads: true},
		{name: "cel_manager.so", description: "Asterisk Manager Interface CEL Backend", support: "core", reloads: true},
		{name: "cel_odbc.so", description: "ODBC CEL backend", support: "core", reloads: true},
		{name: "cel_pgsql.so", description: "PostgreSQL CEL Backend", support: "extended", reloads: true},
	},
	"res_musiconhold": {{name: "res_musiconhold.so", description: "Music On Hold Resource", support: "core", reloads: true}},
	"manager":         {{name: "manager", description: "Asterisk Manager Interface", support: "core", reloads: true}},
	"chan_sip":        {{name: "chan_sip.so", description: "Session Initiation Protocol (SIP)", support: "deprecated", reloads: true}},
	"app_voicemail":   {{name: "app_voicemail.so", description: "Comedian Mail (Voicemail System)", support: "core", reloads: true}},
	"res_http": {
		{name: "http", description: "Built-in HTTP Server", support: "core", reloads: true},
		{name: "res_ari.so", description: "Asterisk RESTful Interface", support: "core", reloads: true},
		{name: "res_http_websocket.so", description: "HTTP WebSocket Support", support: "core"},
		{name: "res_prometheus.so", description: "Asterisk Prometheus Module", support: "extended", reloads: true},
	},
	"app_queue": {{name: "app_queue.so", description: "True Call Queueing", support: "core", reloads: true}},
}

// decliner is a Pleiades module some of whose Asterisk modules decline to load without
// their configuration (cdr_pgsql without cdr_pgsql.conf): "module show" lists those as
// "Not Running", as Asterisk does.
type decliner interface {
	Declined(asteriskName string) bool
}

// baseName is a module name without its ".so", lower case: how names are compared (as
// Asterisk's resource_name_match, case-insensitively).
func baseName(name string) string { return strings.TrimSuffix(strings.ToLower(name), ".so") }

// listsOwnName reports whether "module show" lists the Pleiades module under its own name:
// when none of its Asterisk modules has that name.
func listsOwnName(m Module) bool {
	for _, a := range asteriskModules[m.Name()] {
		if baseName(a.name) == baseName(m.Name()) {
			return false
		}
	}
	return true
}

// resolve finds the loaded module a name given to "module reload" means: a Pleiades module's
// own name first, then the name of an Asterisk module it answers for (".so" optional both
// ways, case ignored); alias is that Asterisk module, nil for a Pleiades name.
func (s *Server) resolve(name string) (m Module, alias *asteriskModule) {
	want := baseName(name)
	for _, m := range s.loaded {
		if strings.EqualFold(m.Name(), name) {
			return m, nil
		}
	}
	for _, m := range s.loaded {
		for i, a := range asteriskModules[m.Name()] {
			if baseName(a.name) == want {
				return m, &asteriskModules[m.Name()][i]
			}
		}
	}
	for _, m := range s.loaded {
		if baseName(m.Name()) == want {
			return m, nil
		}
	}
	return nil, nil
}

// moduleRow is one line of "module show".
type moduleRow struct {
	name, description, status, support string
}

// moduleRows lists every loaded module under the names it answers to, sorted as Asterisk
// sorts them (case-insensitively).
func (s *Server) moduleRows() []moduleRow {
	var rows []moduleRow
	for _, m := range s.Modules() {
		if listsOwnName(m) {
			rows = append(rows, moduleRow{m.Name(), m.Description(), "Running", "core"})
		}
		for _, a := range asteriskModules[m.Name()] {
			status := "Running"
			if a.driver != "" && (s.Realtime == nil || !s.Realtime.Loaded(a.driver)) {
				status = "Not Running"
			}
			if d, ok := m.(decliner); ok && d.Declined(a.name) {
				status = "Not Running"
			}
			rows = append(rows, moduleRow{a.name, a.description, status, a.support})
		}
	}
	slices.SortStableFunc(rows, func(a, b moduleRow) int {
		return strings.Compare(strings.ToLower(a.name), strings.ToLower(b.name))
	})
	return rows
}
