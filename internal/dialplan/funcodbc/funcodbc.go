package funcodbc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"weak"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/dialplan"
	"github.com/pleiades-pbx/pleiades/internal/dialplan/expr"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

// ConfigFile is the file Configure expects.
const ConfigFile = "func_odbc.conf"

const defaultSynopsis = "Runs the referenced query with the specified arguments"

// handle is one resolved dsn= entry.
type handle struct {
	name   string // as written
	driver string
	db     string
	q      realtime.Querier
}

// query is one [NAME] section.
type query struct {
	name         string // function name: PREFIX_NAME
	section      string
	read, write  []handle
	readSQL      string
	writeSQL     string
	insertSQL    string
	escapeCommas bool
	multirow     bool
	rowLimit     int
	minArgs      int
	synopsis     string
	syntax       string
	file         string
	line         int
}

// Module is func_odbc: the functions of func_odbc.conf plus SQL_ESC, SQL_ESC_BACKSLASHES,
// ODBC_FETCH and the ODBCFinish application. It is safe for concurrent use.
type Module struct {
	log *slog.Logger
	rt  *realtime.Engine
	e   *dialplan.Engine // where the functions are registered (Register)

	mu      sync.Mutex // serialises Configure/Close
	queries atomic.Pointer[map[string]*query]

	nextID  atomic.Int64
	results resultStore
}

// New returns a module resolving dsn= names through rt's drivers. Call Register, then
// Configure.
func New(log *slog.Logger, rt *realtime.Engine) *Module {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Module{log: log, rt: rt}
	empty := map[string]*query{}
	m.queries.Store(&empty)
	m.results.m = map[weak.Pointer[dialplan.Channel]]*chanResults{}
	return m
}

// Register registers SQL_ESC, SQL_ESC_BACKSLASHES, ODBC_FETCH and ODBCFinish on the dialplan
// engine e, where Configure then registers the functions of func_odbc.conf. Call it once,
// before Configure.
func (m *Module) Register(e *dialplan.Engine) {
	m.mu.Lock()
	m.e = e
	m.mu.Unlock()
	e.RegisterFunction(&dialplan.Function{Name: "SQL_ESC", Synopsis: "Escapes single ticks for use in SQL statements.",
		Read: func(_ context.Context, _ *dialplan.Channel, a string) (string, error) { return EscapeSQL(a), nil }})
	e.RegisterFunction(&dialplan.Function{Name: "SQL_ESC_BACKSLASHES", Synopsis: "Escapes backslashes for use in SQL statements.",
		Read: func(_ context.Context, _ *dialplan.Channel, a string) (string, error) {
			return EscapeBackslashes(a), nil
		}})
	// ODBC_FETCH reads rows a func_odbc query returned (escalates like them).
	e.RegisterFunction(&dialplan.Function{Name: "ODBC_FETCH", Synopsis: "Fetch a row from a multirow query.",
		Read: m.fetch, Escalates: dialplan.EscalatesRead})
	e.RegisterApp(&dialplan.App{Name: "ODBCFinish", Synopsis: "Clear the resultset of a successful multirow query.",
		Exec: func(_ context.Context, ch *dialplan.Channel, data string) error {
			m.results.drop(ch, strings.TrimSpace(data))
			return nil
		}})
}

// Close unregisters every function and application of the module.
func (m *Module) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.e == nil {
		return
	}
	for _, q := range *m.queries.Load() {
		m.e.UnregisterFunction(q.name)
	}
	empty := map[string]*query{}
	m.queries.Store(&empty)
	for _, n := range []string{"SQL_ESC", "SQL_ESC_BACKSLASHES", "ODBC_FETCH"} {
		m.e.UnregisterFunction(n)
	}
	m.e.UnregisterApp("ODBCFinish")
}

// Functions returns the names of the functions the running configuration defines, sorted.
func (m *Module) Functions() []string {
	qs := *m.queries.Load()
	out := make([]string, 0, len(qs))
	for n := range qs {
		out = append(out, qs[n].name)
	}
	slices.Sort(out)
	return out
}

// EscapeSQL doubles single quotes (SQL_ESC).
func EscapeSQL(s string) string { return strings.ReplaceAll(s, "'", "''") }

// EscapeBackslashes doubles backslashes (SQL_ESC_BACKSLASHES).
func EscapeBackslashes(s string) string { return strings.ReplaceAll(s, `\`, `\\`) }

// Configure applies func_odbc.conf (nil: no functions). The whole file is checked first; on
// any error (each naming file:line) nothing changes, so a failed reload keeps the running
// functions. On success, functions that disappeared are unregistered and the others
// (re)registered.
func (m *Module) Configure(cfg *conf.Config) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.e == nil {
		return errors.New("func_odbc: Configure before Register")
	}
	next := map[string]*query{}
	var errs []error
	if cfg != nil {
		for _, cat := range cfg.Categories {
			if cat.Template {
				continue
			}
			if strings.EqualFold(cat.Name, "general") {
				m.general(cat)
				continue
			}
			q, qerrs := m.parse(cat)
			errs = append(errs, qerrs...)
			if q == nil {
				continue
			}
			key := strings.ToLower(q.name)
			if old, dup := next[key]; dup {
				errs = append(errs, fmt.Errorf("%s:%d: [%s]: function %s is already defined at %s:%d", cat.File, cat.Line, cat.Name, q.name, old.file, old.line))
				continue
			}
			next[key] = q
		}
	}
	cur := *m.queries.Load()
	for key, q := range next {
		if _, ours := cur[key]; ours {
			continue
		}
		if f := m.e.LookupFunction(q.name); f != nil {
			errs = append(errs, fmt.Errorf("%s:%d: [%s]: a function named %s already exists", q.file, q.line, q.section, q.name))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	for key, q := range cur {
		if _, keep := next[key]; !keep {
			m.e.UnregisterFunction(q.name)
		}
	}
	for _, q := range next {
		// The operator's SQL may read or change anything the connection reaches (secrets
		// among them): both directions escalate (Asterisk marks none, and its manager
		// refuses "ODBC" in an Originate's data to users without the system class).
		f := &dialplan.Function{Name: q.name, Synopsis: q.synopsis, Escalates: dialplan.EscalatesBoth}
		name := q.name
		if q.readSQL != "" {
			f.Read = func(ctx context.Context, ch *dialplan.Channel, args string) (string, error) {
				return m.read(ctx, ch, name, args)
			}
		}
		if q.writeSQL != "" {
			f.Write = func(ctx context.Context, ch *dialplan.Channel, args, value string) error {
				return m.write(ctx, ch, name, args, value)
			}
		}
		m.e.RegisterFunction(f)
	}
	m.queries.Store(&next)
	return nil
}

func (m *Module) general(cat *conf.Category) {
	for _, v := range cat.Vars {
		switch strings.ToLower(v.Name) {
		case "single_db_connection":
			if conf.IsTrue(v.Value) {
				m.log.Info(fmt.Sprintf("%s:%d: single_db_connection=yes is ignored: every statement runs on a pooled connection (use one statement, or a stored procedure, where LAST_INSERT_ID() is needed)", v.File, v.Line))
			}
		default:
			m.log.Warn(fmt.Sprintf("%s:%d: [general] unknown option '%s' ignored", v.File, v.Line, v.Name))
		}
	}
}

// parse checks one [NAME] section.
func (m *Module) parse(cat *conf.Category) (*query, []error) {
	var errs []error
	bad := func(v *conf.Variable, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s:%d: [%s] %s: %s", v.File, v.Line, cat.Name, v.Name, fmt.Sprintf(format, args...)))
	}
	q := &query{section: cat.Name, escapeCommas: true, synopsis: defaultSynopsis, file: cat.File, line: cat.Line}
	prefix := "ODBC"
	var readV, writeV *conf.Variable
	var readHandles, writeHandles []handle
	var insertV *conf.Variable
	for _, v := range cat.Vars {
		val := strings.TrimSpace(v.Value)
		switch name := strings.ToLower(v.Name); name {
		case "dsn", "writehandle", "readhandle":
			hs, herrs := m.handles(val)
			for _, e := range herrs {
				bad(v, "%v", e)
			}
			if len(hs) == 0 && len(herrs) == 0 {
				bad(v, "no connection named")
			}
			if name == "readhandle" {
				readHandles = hs
			} else {
				writeHandles = hs
			}
		case "readsql", "read":
			if name == "read" {
				m.log.Warn(fmt.Sprintf("%s:%d: [%s] 'read' is deprecated; use 'readsql'", v.File, v.Line, cat.Name))
			}
			q.readSQL, readV = val, v
		case "writesql", "write":
			if name == "write" {
				m.log.Warn(fmt.Sprintf("%s:%d: [%s] 'write' is deprecated; use 'writesql'", v.File, v.Line, cat.Name))
			}
			q.writeSQL, writeV = val, v
		case "insertsql":
			q.insertSQL, insertV = val, v
		case "prefix":
			if val != "" {
				prefix = val
			}
			if strings.ContainsAny(val, "(),$ \t") {
				bad(v, "%q cannot start a function name", val)
			}
		case "escapecommas":
			q.escapeCommas = !conf.IsFalse(val)
		case "synopsis":
			if val != "" {
				q.synopsis = val
			}
		case "syntax":
			q.syntax = val
		case "mode":
			switch strings.ToLower(val) {
			case "multirow":
				q.multirow = true
			case "", "single", "singlerow":
			default:
				bad(v, "%q: want multirow", val)
			}
		case "rowlimit":
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 {
				bad(v, "%q is not a number of rows", val)
			}
			q.rowLimit = n
		case "minargs":
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 {
				bad(v, "%q is not a number of arguments", val)
			}
			q.minArgs = n
		default:
			bad(v, "unknown option")
		}
	}
	if q.insertSQL != "" && q.writeSQL == "" {
		bad(insertV, "insertsql without writesql (it runs when writesql changed no row)")
	}
	if readHandles == nil {
		readHandles = writeHandles
	}
	q.read, q.write = readHandles, writeHandles
	if q.readSQL == "" && q.writeSQL == "" {
		errs = append(errs, fmt.Errorf("%s:%d: [%s]: neither readsql nor writesql", cat.File, cat.Line, cat.Name))
	}
	if q.readSQL != "" && len(q.read) == 0 && readV != nil {
		errs = append(errs, fmt.Errorf("%s:%d: [%s] readsql: there is SQL, but no connection (dsn= or readhandle=) to read from", readV.File, readV.Line, cat.Name))
	}
	if q.writeSQL != "" && len(q.write) == 0 && writeV != nil {
		errs = append(errs, fmt.Errorf("%s:%d: [%s] writesql: there is SQL, but no connection (dsn= or writehandle=) to write to", writeV.File, writeV.Line, cat.Name))
	}
	if strings.ContainsAny(cat.Name, "(),$ \t") {
		errs = append(errs, fmt.Errorf("%s:%d: [%s]: not a valid function name", cat.File, cat.Line, cat.Name))
	}
	q.name = prefix + "_" + cat.Name
	if q.syntax == "" {
		q.syntax = "<arg1>[...[,<argN>]]"
	}
	q.syntax = q.name + "(" + q.syntax + ")"
	if len(errs) > 0 {
		return nil, errs
	}
	return q, nil
}

// handles resolves a dsn= list. A name is "driver:db" (a realtime driver and one of its
// connections: "pgsql:general", "sqlite3:asterisk", "mysql:general", "odbc:asterisk") or a bare
// connection name, looked up in res_odbc.conf first, then in the other drivers' configurations
// (sorted by driver name).
func (m *Module) handles(list string) ([]handle, []error) {
	var hs []handle
	var errs []error
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		h, err := m.resolve(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		hs = append(hs, h)
	}
	return hs, errs
}

func (m *Module) resolve(name string) (handle, error) {
	if m.rt == nil {
		return handle{}, errors.New("no realtime engine")
	}
	if drv, db, ok := strings.Cut(name, ":"); ok {
		if q, err := m.rt.Querier(drv); err == nil {
			if !q.HasDatabase(db) {
				return handle{}, fmt.Errorf("%s: driver %s has no connection %q", name, drv, db)
			}
			return handle{name: name, driver: drv, db: db, q: q}, nil
		} else if _, known := m.rt.Driver(drv); known {
			return handle{}, fmt.Errorf("%s: %v", name, err)
		}
	}
	drivers := m.rt.Queriers()
	slices.SortStableFunc(drivers, func(a, b string) int {
		switch {
		case a == "odbc" && b != "odbc":
			return -1
		case b == "odbc" && a != "odbc":
			return 1
		}
		return 0
	})
	for _, drv := range drivers {
		q, err := m.rt.Querier(drv)
		if err == nil && q.HasDatabase(name) {
			return handle{name: name, driver: drv, db: name, q: q}, nil
		}
	}
	return handle{}, fmt.Errorf("no connection %q (not in res_odbc.conf; use driver:connection, e.g. pgsql:general, for the other drivers; drivers that can: %s)",
		name, strings.Join(drivers, ", "))
}

func (m *Module) lookup(name string) (*query, error) {
	q := (*m.queries.Load())[strings.ToLower(name)]
	if q == nil {
		return nil, fmt.Errorf("no such function '%s'", name)
	}
	return q, nil
}

// pushVars sets name=value pairs on ch and returns a function restoring what was there.
func pushVars(ch *dialplan.Channel, kv [][2]string) (restore func()) {
	type saved struct {
		name, value string
		ok          bool
	}
	old := make([]saved, 0, len(kv))
	for _, p := range kv {
		v, ok := ch.Var(p[0])
		old = append(old, saved{p[0], v, ok})
		ch.SetVar(p[0], p[1])
	}
	return func() {
		for i := len(old) - 1; i >= 0; i-- {
			if old[i].ok {
				ch.SetVar(old[i].name, old[i].value)
			} else {
				ch.SetVar(old[i].name, "")
			}
		}
	}
}

func argVars(args []string) [][2]string {
	kv := [][2]string{{"ARGC", strconv.Itoa(len(args))}}
	for i, a := range args {
		kv = append(kv, [2]string{"ARG" + strconv.Itoa(i+1), a})
	}
	return kv
}

// read runs readsql: the first row as a comma-separated list (multirow: a result id).
func (m *Module) read(ctx context.Context, ch *dialplan.Channel, name, argText string) (string, error) {
	if ch == nil {
		ch = m.e.NewChannel("func_odbc", "", "", 1)
	}
	q, err := m.lookup(name)
	if err != nil {
		ch.SetVar("ODBCROWS", "-1")
		ch.SetVar("ODBCSTATUS", "FAILURE")
		return "", err
	}
	args := expr.SplitArgs(argText, ',')
	if len(args) < q.minArgs {
		return "", fmt.Errorf("%d arguments supplied to '%s' requiring minimum %d", len(args), q.name, q.minArgs)
	}
	restore := pushVars(ch, argVars(args))
	sql, serr := ch.Substitute(ctx, q.readSQL)
	restore()
	if serr != nil {
		m.log.Warn(fmt.Sprintf("%s: substituting readsql: %v", q.name, serr))
	}
	limit := 1
	switch {
	case q.multirow:
		limit = q.rowLimit // 0: all
	case q.rowLimit > 1:
		limit = q.rowLimit
	}
	var cols []string
	var rows [][]*string
	err = m.each(ctx, q.read, func(h handle) error {
		var err error
		cols, rows, err = h.q.Query(ctx, h.db, sql, limit)
		return err
	})
	if err != nil {
		ch.SetVar("ODBCROWS", "-1")
		ch.SetVar("ODBCSTATUS", "FAILURE")
		m.log.Error(fmt.Sprintf("Unable to execute query [%s]: %v", sql, err))
		return "", fmt.Errorf("%s: %w", q.name, err)
	}
	if len(cols) == 0 || len(rows) == 0 {
		ch.SetVar("ODBCROWS", "0")
		ch.SetVar("ODBCSTATUS", "NODATA")
		return "", nil
	}
	names := make([]string, len(cols))
	for i, c := range cols {
		if c == "" {
			c = "field" + strconv.Itoa(i)
		}
		names[i] = expr.EscapeCommas(c)
	}
	fields := strings.Join(names, ",")
	lines := make([]string, len(rows))
	for i, r := range rows {
		lines[i] = formatRow(r, q.escapeCommas)
	}
	ch.SetVar("ODBCROWS", strconv.Itoa(len(rows)))
	ch.SetVar("ODBCSTATUS", "SUCCESS")
	ch.SetVar("~ODBCFIELDS~", fields)
	switch {
	case q.multirow:
		id := strconv.FormatInt(m.nextID.Add(1), 10)
		m.results.put(ch, id, &resultSet{fields: fields, rows: lines})
		return id, nil
	case q.rowLimit > 1:
		// The other rows wait for ODBC_FETCH(<function name>).
		m.results.put(ch, q.name, &resultSet{fields: fields, rows: lines[1:]})
	}
	return lines[0], nil
}

// formatRow joins the columns with ',', NULL as empty, '\' and ',' escaped when asked.
func formatRow(r []*string, escape bool) string {
	var b strings.Builder
	for i, v := range r {
		if i > 0 {
			b.WriteByte(',')
		}
		if v == nil {
			continue
		}
		if escape {
			b.WriteString(expr.EscapeCommas(*v))
		} else {
			b.WriteString(*v)
		}
	}
	return b.String()
}

// each calls fn on the handles in order while it fails with realtime.ErrUnavailable.
func (m *Module) each(ctx context.Context, hs []handle, fn func(h handle) error) error {
	var errs []error
	for _, h := range hs {
		err := fn(h)
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", h.name, err))
		if !errors.Is(err, realtime.ErrUnavailable) || ctx.Err() != nil {
			break
		}
		m.log.Warn(fmt.Sprintf("func_odbc: %s unavailable, trying the next connection: %v", h.name, err))
	}
	return errors.Join(errs...)
}

// write runs writesql, and insertsql when writesql changed no row.
func (m *Module) write(ctx context.Context, ch *dialplan.Channel, name, argText, value string) error {
	if ch == nil {
		ch = m.e.NewChannel("func_odbc", "", "", 1)
	}
	q, err := m.lookup(name)
	if err != nil {
		ch.SetVar("ODBCSTATUS", "FAILURE")
		return err
	}
	args := expr.SplitArgs(argText, ',')
	if len(args) < q.minArgs {
		return fmt.Errorf("%d arguments supplied to '%s' requiring minimum %d", len(args), q.name, q.minArgs)
	}
	kv := argVars(args)
	for i, v := range expr.SplitArgs(value, ',') {
		kv = append(kv, [2]string{"VAL" + strconv.Itoa(i+1), v})
	}
	kv = append(kv, [2]string{"VALUE", value})
	restore := pushVars(ch, kv)
	writeSQL, err1 := ch.Substitute(ctx, q.writeSQL)
	insertSQL, err2 := "", error(nil)
	if q.insertSQL != "" {
		insertSQL, err2 = ch.Substitute(ctx, q.insertSQL)
	}
	restore()
	if err := errors.Join(err1, err2); err != nil {
		m.log.Warn(fmt.Sprintf("%s: substituting SQL: %v", q.name, err))
	}
	var n int64
	status := "SUCCESS"
	err = m.each(ctx, q.write, func(h handle) error {
		var err error
		n, err = h.q.Exec(ctx, h.db, writeSQL)
		return err
	})
	if err == nil && n == 0 && insertSQL != "" {
		status = "FAILOVER" // Asterisk's word for "the insertsql ran"
		err = m.each(ctx, q.write, func(h handle) error {
			var err error
			n, err = h.q.Exec(ctx, h.db, insertSQL)
			return err
		})
	}
	if err != nil {
		ch.SetVar("ODBCROWS", "-1")
		ch.SetVar("ODBCSTATUS", "FAILURE")
		return fmt.Errorf("%s: %w", q.name, err)
	}
	ch.SetVar("ODBCROWS", strconv.FormatInt(n, 10))
	ch.SetVar("ODBCSTATUS", status)
	return nil
}

// fetch is ODBC_FETCH(id): the next row of a stored result.
func (m *Module) fetch(_ context.Context, ch *dialplan.Channel, id string) (string, error) {
	if ch == nil {
		return "", errors.New("ODBC_FETCH needs a channel")
	}
	row, fields, ok := m.results.next(ch, strings.TrimSpace(id))
	if !ok {
		ch.SetVar("ODBC_FETCH_STATUS", "FAILURE")
		return "", nil
	}
	ch.SetVar("~ODBCFIELDS~", fields)
	ch.SetVar("ODBC_FETCH_STATUS", "SUCCESS")
	return row, nil
}

// Results of multirow queries (and of rowlimit > 1) belong to the channel that ran the query:
// they are kept per channel, weakly, so a channel that hangs up without ODBCFinish does not
// leak them.

type resultSet struct {
	fields string
	rows   []string
}

type chanResults struct {
	sets map[string]*resultSet
}

type resultStore struct {
	mu sync.Mutex
	m  map[weak.Pointer[dialplan.Channel]]*chanResults
}

func (s *resultStore) put(ch *dialplan.Channel, id string, rs *resultSet) {
	key := weak.Make(ch)
	s.mu.Lock()
	defer s.mu.Unlock()
	cr := s.m[key]
	if cr == nil {
		cr = &chanResults{sets: map[string]*resultSet{}}
		s.m[key] = cr
		runtime.AddCleanup(ch, func(k weak.Pointer[dialplan.Channel]) {
			s.mu.Lock()
			delete(s.m, k)
			s.mu.Unlock()
		}, key)
	}
	cr.sets[id] = rs
}

func (s *resultStore) next(ch *dialplan.Channel, id string) (row, fields string, ok bool) {
	key := weak.Make(ch)
	s.mu.Lock()
	defer s.mu.Unlock()
	cr := s.m[key]
	if cr == nil {
		return "", "", false
	}
	rs := cr.sets[id]
	if rs == nil {
		return "", "", false
	}
	if len(rs.rows) == 0 {
		delete(cr.sets, id)
		return "", "", false
	}
	row, rs.rows = rs.rows[0], rs.rows[1:]
	return row, rs.fields, true
}

func (s *resultStore) drop(ch *dialplan.Channel, id string) {
	key := weak.Make(ch)
	s.mu.Lock()
	defer s.mu.Unlock()
	if cr := s.m[key]; cr != nil {
		delete(cr.sets, id)
	}
}

// pending returns how many result sets ch holds (tests).
func (s *resultStore) pending(ch *dialplan.Channel) int {
	key := weak.Make(ch)
	s.mu.Lock()
	defer s.mu.Unlock()
	if cr := s.m[key]; cr != nil {
		return len(cr.sets)
	}
	return 0
}
