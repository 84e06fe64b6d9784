// Package realtimetest is the conformance suite every realtime driver's tests run.
//
// A driver test sets up a scratch database (a fresh SQLite file, a PostgreSQL schema, a MySQL
// database), configures the driver with a connection to it (requirements=warn, the default)
// and calls Run:
//
//	realtimetest.Run(t, realtimetest.Backend{
//		Driver:  drv,          // already Configure'd
//		DB:      "asterisk",   // connection name in the driver's config
//		Dialect: "postgres",   // "sqlite", "postgres" or "mysql"
//		Exec:    func(t testing.TB, sql string) { ... },
//	})
//
// Run creates the tables sippeers, extensions and voicemail exactly as Asterisk's own scripts
// create them (../shared/asterisk-schema/*.sql next to the module: the CREATE TABLE statements,
// and for PostgreSQL the CREATE TYPE statements of the enums they use; for SQLite the sqlite
// package's rendering of the same scripts), plus a static-mode ast_config table, and drops them
// all at the end. Exec must run one statement on the scratch database (no result needed).
// A store that is not SQL uses Dialect "none": nothing is created, and Exec receives only the
// INSERT (and ALTER TABLE) statements of the subtests; Skip names what it cannot do, and why.
//
// What every driver must do (the contract checked here):
//   - Load returns the first matching row in table column order, NULL and empty columns left out,
//     values decoded (realtime.DecodeValue); no row: an error wrapping realtime.ErrNotFound.
//   - LoadMulti returns every matching row ordered by the first field's column; no row: an empty
//     result and a nil error.
//   - Operators "=", "!=", "<", ">", "<=", ">=", "LIKE" after the field name; LIKE uses '\' as
//     escape character so `\_` and `\%` match a literal '_' and '%'.
//   - Update, Update2, Store and Destroy return the number of rows changed; 0 is not an error.
//   - Every value is a bound parameter, stored encoded (realtime.EncodeValue) and read decoded,
//     so quotes, backslashes, ';', '^', unicode and SQL text come back intact.
//   - A field that is not a column of the table: an error wrapping realtime.ErrUnknownField that
//     names the field, and nothing is sent; a field with an operator that is not allowed: an error.
//   - StaticLoad returns the uncommented rows of one file ordered cat_metric DESC, var_metric ASC,
//     category, var_name; a file with no row: an empty result and a nil error.
//   - Require with requirements=warn: nil when every column exists; a missing column is logged
//     and reported as an error wrapping realtime.ErrUnknownField, and the table is not changed.
//   - Unload forgets cached column metadata: a column added afterwards can be used.
//   - A cancelled context makes a call fail (not with ErrNotFound).
//
// The schema folder is found by walking up from the working directory to go.mod, then
// ../shared/asterisk-schema. When it is missing the suite skips, or fails when CI=true.
package realtimetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/test/testenv"

	"github.com/pleiades-pbx/pleiades/internal/realtime"
	"github.com/pleiades-pbx/pleiades/internal/realtime/sqlite"
)

// Backend is one driver connected to a scratch database.
type Backend struct {
	Driver  realtime.Driver                // already Configure'd
	DB      string                         // connection name in the driver's config
	Dialect string                         // "sqlite", "postgres", "mysql" or "none" (SQL dialect of Exec)
	Exec    func(t testing.TB, sql string) // runs raw SQL statements on that database (setup/teardown)
	// Skip names subtests a store cannot pass, each with the reason (a store that is not SQL:
	// curl's web service, an LDAP directory). The subtest is reported as skipped with it.
	Skip map[string]string
}

// Tables are the tables Run creates and drops.
var Tables = []string{"sippeers", "extensions", "voicemail", "ast_config"}

// SchemaDir returns the folder holding Asterisk's table scripts (../shared/asterisk-schema
// beside the module root), or "" when there is none.
func SchemaDir() string { return testenv.SharedDir("asterisk-schema") }

// Statements returns the statements that create the tables (Tables) for dialect, and the ones
// that drop them again. For postgres and mysql they are read from Asterisk's scripts in dir.
func Statements(dir, dialect string) (create, drop []string, err error) {
	var tables []string
	switch dialect {
	case "sqlite":
		create = sqlite.SchemaStatements("sippeers", "extensions", "voicemail")
	case "none":
		// A store that is not SQL sets up its own tables; Exec still receives the INSERT
		// statements of the subtests, which it translates.
		return nil, nil, nil
	case "postgres", "mysql":
		file := "postgresql_config.sql"
		if dialect == "mysql" {
			file = "mysql_config.sql"
		}
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			return nil, nil, err
		}
		var types []string
		create, types, err = extract(string(b), []string{"sippeers", "extensions", "voicemail"})
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", file, err)
		}
		defer func() {
			for _, ty := range types {
				drop = append(drop, "DROP TYPE IF EXISTS "+ty)
			}
		}()
	default:
		return nil, nil, fmt.Errorf("realtimetest: unknown dialect %q", dialect)
	}
	astConfig, err := astConfigDDL(dialect)
	if err != nil {
		return nil, nil, err
	}
	create = append(create, astConfig...)
	tables = Tables
	for i := len(tables) - 1; i >= 0; i-- {
		drop = append(drop, "DROP TABLE IF EXISTS "+tables[i])
	}
	return create, drop, nil
}

var (
	reCreateType  = regexp.MustCompile(`^CREATE TYPE (\w+) AS ENUM`)
	reCreateTable = regexp.MustCompile(`^CREATE TABLE (\w+) \(`)
	reWord        = regexp.MustCompile(`\w+`)
)

// extract returns the CREATE TABLE statements of tables from an alembic-generated script, each
// preceded by the CREATE TYPE statements (the latest definition before the table) it uses.
func extract(script string, tables []string) (stmts, types []string, err error) {
	typeDef := map[string]string{}
	found := map[string]bool{}
	for _, raw := range strings.Split(script, ";\n") {
		var lines []string
		for _, l := range strings.Split(raw, "\n") {
			if !strings.HasPrefix(strings.TrimSpace(l), "--") {
				lines = append(lines, l)
			}
		}
		s := strings.TrimSpace(strings.Join(lines, "\n"))
		if m := reCreateType.FindStringSubmatch(s); m != nil {
			typeDef[m[1]] = s
			continue
		}
		m := reCreateTable.FindStringSubmatch(s)
		if m == nil || !slices.Contains(tables, m[1]) || found[m[1]] {
			continue
		}
		found[m[1]] = true
		for _, w := range reWord.FindAllString(s, -1) {
			if def, ok := typeDef[w]; ok && !slices.Contains(types, w) {
				types = append(types, w)
				stmts = append(stmts, def)
			}
		}
		stmts = append(stmts, s)
	}
	for _, t := range tables {
		if !found[t] {
			return nil, nil, fmt.Errorf("no CREATE TABLE %s", t)
		}
	}
	return stmts, types, nil
}

// astConfigDDL returns the statements that make the static-mode table: for PostgreSQL and
// MySQL the DDL the project ships to users (contrib/ast_config.<dialect>.sql), so the
// conformance suite proves it; for SQLite the server's own schema.
func astConfigDDL(dialect string) ([]string, error) {
	if dialect == "sqlite" {
		return sqlite.SchemaStatements("ast_config"), nil
	}
	name := map[string]string{"postgres": "postgresql", "mysql": "mysql"}[dialect]
	file := filepath.Join(testenv.RepoDir(), "contrib", "ast_config."+name+".sql")
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var stmts []string
	for _, raw := range strings.Split(string(b), ";") {
		var lines []string
		for _, l := range strings.Split(raw, "\n") {
			if !strings.HasPrefix(strings.TrimSpace(l), "--") {
				lines = append(lines, l)
			}
		}
		if s := strings.TrimSpace(strings.Join(lines, "\n")); s != "" {
			stmts = append(stmts, s)
		}
	}
	return stmts, nil
}

type suite struct {
	b  Backend
	db string
	d  realtime.Driver
}

// Run runs the conformance suite against b. See the package documentation for the contract.
func Run(t *testing.T, b Backend) {
	t.Helper()
	if b.Driver == nil || b.Exec == nil {
		t.Fatal("realtimetest: Backend needs Driver and Exec")
	}
	dir := SchemaDir()
	if dir == "" && b.Dialect != "sqlite" {
		testenv.Unavailable(t, "realtimetest: ../shared/asterisk-schema not found next to go.mod")
	}
	create, drop, err := Statements(dir, b.Dialect)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range drop {
		b.Exec(t, s)
	}
	for _, s := range create {
		b.Exec(t, s)
	}
	t.Cleanup(func() {
		for _, s := range drop {
			b.Exec(t, s)
		}
	})
	s := &suite{b: b, db: b.DB, d: b.Driver}
	// Metadata may have been cached by an earlier run against other tables of the same name.
	for _, tb := range Tables {
		_ = s.d.Unload(context.Background(), s.db, tb)
	}
	s.seed(t)
	run := func(name string, f func(*testing.T)) {
		if why, ok := b.Skip[name]; ok {
			t.Run(name, func(t *testing.T) { t.Skip(why) })
			return
		}
		t.Run(name, f)
	}
	run("StoreLoad", s.testStoreLoad)
	run("NotFound", s.testNotFound)
	run("NullAndEmpty", s.testNullEmpty)
	run("LoadMulti", s.testLoadMulti)
	run("Operators", s.testOperators)
	run("LikeEscape", s.testLikeEscape)
	run("Extensions", s.testExtensions)
	run("Update", s.testUpdate)
	run("Update2", s.testUpdate2)
	run("Destroy", s.testDestroy)
	run("Values", s.testValues)
	run("MultiValued", s.testMultiValued)
	run("UnknownField", s.testUnknownField)
	run("Voicemail", s.testVoicemail)
	run("StaticLoad", s.testStatic)
	run("Require", s.testRequire)
	run("Unload", s.testUnload)
	run("Concurrent", s.testConcurrent)
	run("Cancelled", s.testCancelled)
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// F builds a field list from name, value pairs.
func F(kv ...string) []realtime.Field {
	if len(kv)%2 != 0 {
		panic("realtimetest.F: odd number of arguments")
	}
	out := make([]realtime.Field, 0, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		out = append(out, realtime.Field{Name: kv[i], Value: kv[i+1]})
	}
	return out
}

func (s *suite) store(t *testing.T, table string, kv ...string) {
	t.Helper()
	n, err := s.d.Store(ctx(t), s.db, table, F(kv...))
	if err != nil || n != 1 {
		t.Fatalf("Store(%s, %v) = %d, %v; want 1, nil", table, kv, n, err)
	}
}

func (s *suite) load(t *testing.T, table string, kv ...string) realtime.Row {
	t.Helper()
	r, err := s.d.Load(ctx(t), s.db, table, F(kv...))
	if err != nil {
		t.Fatalf("Load(%s, %v): %v", table, kv, err)
	}
	return r
}

func (s *suite) names(t *testing.T, table string, kv ...string) []string {
	t.Helper()
	rows, err := s.d.LoadMulti(ctx(t), s.db, table, F(kv...))
	if err != nil {
		t.Fatalf("LoadMulti(%s, %v): %v", table, kv, err)
	}
	var out []string
	for _, r := range rows {
		v, _ := r.Get("name")
		out = append(out, v)
	}
	return out
}

func want(t *testing.T, r realtime.Row, kv ...string) {
	t.Helper()
	for i := 0; i < len(kv); i += 2 {
		v, ok := r.Get(kv[i])
		if !ok || v != kv[i+1] {
			t.Errorf("row %v: %s = %q (present %v), want %q", r, kv[i], v, ok, kv[i+1])
		}
	}
}

func absent(t *testing.T, r realtime.Row, cols ...string) {
	t.Helper()
	for _, c := range cols {
		if v, ok := r.Get(c); ok {
			t.Errorf("row %v: %s = %q present, want it left out", r, c, v)
		}
	}
}

func (s *suite) seed(t *testing.T) {
	for i, port := range []string{"5061", "5062", "5063"} {
		s.store(t, "sippeers", "name", fmt.Sprintf("rt-m%d", i+1), "context", "multi", "port", port, "type", "friend", "host", "dynamic")
	}
	for _, n := range []string{"lk_a", "lkXa", "lk%b", "lkYb"} {
		s.store(t, "sippeers", "name", n, "context", "like")
	}
}

func (s *suite) testStoreLoad(t *testing.T) {
	s.store(t, "sippeers", "name", "rt-alice", "secret", "s3cret", "context", "from-internal",
		"host", "dynamic", "type", "friend", "port", "5060", "ipaddr", "")
	r := s.load(t, "sippeers", "name", "rt-alice")
	want(t, r, "name", "rt-alice", "secret", "s3cret", "context", "from-internal", "host", "dynamic",
		"type", "friend", "port", "5060")
	if _, ok := r.Get("id"); !ok {
		t.Errorf("row %v: id missing", r)
	}
	absent(t, r, "ipaddr", "fullcontact", "regseconds", "callerid")
	// Table column order.
	pos := func(c string) int {
		for i, f := range r {
			if strings.EqualFold(f.Name, c) {
				return i
			}
		}
		return -1
	}
	order := []string{"id", "name", "port", "host", "type", "context", "secret"}
	for i := 1; i < len(order); i++ {
		if pos(order[i-1]) >= pos(order[i]) {
			t.Errorf("row %v: columns not in table order (%s before %s)", r, order[i-1], order[i])
		}
	}
	// Several lookup fields, caller's order.
	r = s.load(t, "sippeers", "context", "from-internal", "name", "rt-alice", "host", "dynamic")
	want(t, r, "name", "rt-alice")
}

func (s *suite) testNotFound(t *testing.T) {
	r, err := s.d.Load(ctx(t), s.db, "sippeers", F("name", "rt-nobody"))
	if !errors.Is(err, realtime.ErrNotFound) {
		t.Fatalf("Load(nobody) = %v, %v; want ErrNotFound", r, err)
	}
	rows, err := s.d.LoadMulti(ctx(t), s.db, "sippeers", F("name LIKE", "rt-nobody%"))
	if err != nil || len(rows) != 0 {
		t.Fatalf("LoadMulti(nobody) = %v, %v; want no rows, nil", rows, err)
	}
}

func (s *suite) testNullEmpty(t *testing.T) {
	s.b.Exec(t, "INSERT INTO sippeers (name, host, context, secret) VALUES ('rt-null', '', NULL, 'x')")
	r := s.load(t, "sippeers", "name", "rt-null")
	want(t, r, "name", "rt-null", "secret", "x")
	absent(t, r, "host", "context", "ipaddr")
	for _, f := range r {
		if f.Value == "" {
			t.Errorf("row %v: empty field %s", r, f.Name)
		}
	}
}

func (s *suite) testLoadMulti(t *testing.T) {
	got := s.names(t, "sippeers", "name LIKE", "rt-m%")
	if !slices.Equal(got, []string{"rt-m1", "rt-m2", "rt-m3"}) {
		t.Errorf("LoadMulti(name LIKE rt-m%%) = %v", got)
	}
	rows, err := s.d.LoadMulti(ctx(t), s.db, "sippeers", F("context", "multi"))
	if err != nil || len(rows) != 3 {
		t.Fatalf("LoadMulti(context=multi) = %d rows, %v", len(rows), err)
	}
	for _, r := range rows {
		want(t, r, "context", "multi", "host", "dynamic")
		absent(t, r, "secret")
	}
}

func (s *suite) testOperators(t *testing.T) {
	for _, c := range []struct {
		op, val string
		want    []string
	}{
		{"port", "5062", []string{"rt-m2"}},
		{"port =", "5062", []string{"rt-m2"}},
		{"port !=", "5062", []string{"rt-m1", "rt-m3"}},
		{"port <", "5062", []string{"rt-m1"}},
		{"port >", "5061", []string{"rt-m2", "rt-m3"}},
		{"port <=", "5062", []string{"rt-m1", "rt-m2"}},
		{"port >=", "5062", []string{"rt-m2", "rt-m3"}},
		{"port >", "5063", nil},
		{"host LIKE", "dyn%", []string{"rt-m1", "rt-m2", "rt-m3"}},
	} {
		got := s.names(t, "sippeers", "name LIKE", "rt-m%", c.op, c.val)
		if !slices.Equal(got, c.want) {
			t.Errorf("LoadMulti(name LIKE rt-m%%, %s %s) = %v, want %v", c.op, c.val, got, c.want)
		}
	}
	r := s.load(t, "sippeers", "port >", "5062", "context", "multi")
	want(t, r, "name", "rt-m3")
	for _, bad := range []string{"port ; DROP", "port = 1 OR 1=1 --", "port <=>", "name =="} {
		if _, err := s.d.Load(ctx(t), s.db, "sippeers", F(bad, "1")); err == nil {
			t.Errorf("Load(%q): no error for a bad operator", bad)
		}
	}
}

func (s *suite) testLikeEscape(t *testing.T) {
	for _, c := range []struct {
		pat  string
		want []string
	}{
		{`lk\_a`, []string{"lk_a"}},
		{`lk_a`, []string{"lkXa", "lk_a"}},
		{`lk\%b`, []string{"lk%b"}},
		{`lk%b`, []string{"lk%b", "lkYb"}},
		{`lk%`, []string{"lk%b", "lkXa", "lkYb", "lk_a"}},
	} {
		got := s.names(t, "sippeers", "name LIKE", c.pat, "context", "like")
		// Collations differ in how they order '%', '_' and letters: compare as sets.
		slices.Sort(got)
		w := slices.Clone(c.want)
		slices.Sort(w)
		if !slices.Equal(got, w) {
			t.Errorf("LoadMulti(name LIKE %s) = %v, want %v", c.pat, got, w)
		}
	}
}

func (s *suite) testExtensions(t *testing.T) {
	for _, e := range [][]string{
		{"rt-ctx", "201", "1", "Answer", ""},
		{"rt-ctx", "201", "2", "Dial", "PJSIP/201,30"},
		{"rt-ctx", "_2XX", "1", "Dial", "PJSIP/${EXTEN}"},
		{"rt-ctx", "_X.", "1", "NoOp", "catch all"},
		{"rt-other", "_9X", "1", "NoOp", "other"},
	} {
		s.store(t, "extensions", "context", e[0], "exten", e[1], "priority", e[2], "app", e[3], "appdata", e[4])
	}
	// The realtime switch's exact query.
	r := s.load(t, "extensions", "exten", "201", "priority", "1", "context", "rt-ctx")
	want(t, r, "app", "Answer", "context", "rt-ctx", "exten", "201", "priority", "1")
	absent(t, r, "appdata")
	// And its pattern query.
	rows, err := s.d.LoadMulti(ctx(t), s.db, "extensions", F("exten LIKE", `\_%`, "priority", "1", "context", "rt-ctx"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows {
		v, _ := r.Get("exten")
		got = append(got, v)
	}
	if !slices.Equal(got, []string{"_2XX", "_X."}) {
		t.Errorf("pattern rows = %v, want [_2XX _X.]", got)
	}
	want(t, rows[0], "appdata", "PJSIP/${EXTEN}")
}

func (s *suite) testUpdate(t *testing.T) {
	s.store(t, "sippeers", "name", "rt-upd", "context", "upd", "host", "dynamic", "secret", "old")
	n, err := s.d.Update(ctx(t), s.db, "sippeers", "name", "rt-upd",
		F("ipaddr", "192.0.2.10", "port", "5070", "regseconds", "1700000000", "useragent", "Phone/1.0 (x; y)"))
	if err != nil || n != 1 {
		t.Fatalf("Update = %d, %v; want 1, nil", n, err)
	}
	r := s.load(t, "sippeers", "name", "rt-upd")
	want(t, r, "ipaddr", "192.0.2.10", "port", "5070", "regseconds", "1700000000", "secret", "old",
		"useragent", "Phone/1.0 (x; y)")
	// Blanking a column (registration expiry) leaves it out.
	if n, err = s.d.Update(ctx(t), s.db, "sippeers", "name", "rt-upd", F("ipaddr", "", "host", "")); err != nil || n != 1 {
		t.Fatalf("Update(blank) = %d, %v", n, err)
	}
	absent(t, s.load(t, "sippeers", "name", "rt-upd"), "ipaddr", "host")
	if n, err = s.d.Update(ctx(t), s.db, "sippeers", "name", "rt-nobody", F("secret", "x")); err != nil || n != 0 {
		t.Errorf("Update(no match) = %d, %v; want 0, nil", n, err)
	}
}

func (s *suite) testUpdate2(t *testing.T) {
	s.store(t, "sippeers", "name", "rt-u2a", "context", "u2", "port", "1")
	s.store(t, "sippeers", "name", "rt-u2b", "context", "u2", "port", "2")
	s.store(t, "sippeers", "name", "rt-u2c", "context", "u2", "port", "3")
	n, err := s.d.Update2(ctx(t), s.db, "sippeers", F("name", "rt-u2a", "context", "u2"), F("secret", "new", "callerid", `"A" <1>`))
	if err != nil || n != 1 {
		t.Fatalf("Update2 = %d, %v; want 1, nil", n, err)
	}
	want(t, s.load(t, "sippeers", "name", "rt-u2a"), "secret", "new", "callerid", `"A" <1>`)
	n, err = s.d.Update2(ctx(t), s.db, "sippeers", F("context", "u2", "port >=", "2"), F("callerid", "multi"))
	if err != nil || n != 2 {
		t.Fatalf("Update2(port >= 2) = %d, %v; want 2, nil", n, err)
	}
	want(t, s.load(t, "sippeers", "name", "rt-u2c"), "callerid", "multi")
	want(t, s.load(t, "sippeers", "name", "rt-u2a"), "callerid", `"A" <1>`)
	if n, err = s.d.Update2(ctx(t), s.db, "sippeers", F("context", "nothing"), F("callerid", "x")); err != nil || n != 0 {
		t.Errorf("Update2(no match) = %d, %v; want 0, nil", n, err)
	}
}

func (s *suite) testDestroy(t *testing.T) {
	s.store(t, "sippeers", "name", "rt-del1", "context", "del")
	s.store(t, "sippeers", "name", "rt-del2", "context", "del")
	s.store(t, "sippeers", "name", "rt-del3", "context", "del")
	n, err := s.d.Destroy(ctx(t), s.db, "sippeers", "name", "rt-del1", nil)
	if err != nil || n != 1 {
		t.Fatalf("Destroy = %d, %v; want 1, nil", n, err)
	}
	if _, err := s.d.Load(ctx(t), s.db, "sippeers", F("name", "rt-del1")); !errors.Is(err, realtime.ErrNotFound) {
		t.Errorf("Load after Destroy: %v, want ErrNotFound", err)
	}
	if n, err = s.d.Destroy(ctx(t), s.db, "sippeers", "context", "del", F("name", "rt-nomatch")); err != nil || n != 0 {
		t.Errorf("Destroy(extra field no match) = %d, %v; want 0, nil", n, err)
	}
	if n, err = s.d.Destroy(ctx(t), s.db, "sippeers", "context", "del", F("name", "rt-del2")); err != nil || n != 1 {
		t.Errorf("Destroy(extra field) = %d, %v; want 1, nil", n, err)
	}
	want(t, s.load(t, "sippeers", "name", "rt-del3"), "context", "del")
}

// Values that must survive a round trip untouched.
var values = []string{
	`'; DROP TABLE sippeers; --`,
	`O'Brien "the" \ back\\slash`,
	`Zoë Ünïcode 日本語 ✓ 😀`,
	`a;b;c`,
	`x^3By ^5E caret^`,
	`100% _sure_ \_ \%`,
	"tab\there\nnewline",
	`$1 ?? ? :name @p1 %s`,
	`-- comment /* c */`,
}

func (s *suite) testValues(t *testing.T) {
	for i, v := range values {
		name := fmt.Sprintf("rt-val%d", i)
		s.store(t, "sippeers", "name", name, "setvar", v, "fullname", v, "context", "values")
		r := s.load(t, "sippeers", "name", name)
		want(t, r, "setvar", v, "fullname", v)
		r = s.load(t, "sippeers", "setvar", v, "context", "values")
		want(t, r, "name", name)
		n, err := s.d.Update(ctx(t), s.db, "sippeers", "setvar", v, F("callerid", v))
		if err != nil || n != 1 {
			t.Errorf("Update(key %q) = %d, %v; want 1, nil", v, n, err)
		}
		want(t, s.load(t, "sippeers", "name", name), "callerid", v)
	}
	// The value as a key.
	evil := `x'; DROP TABLE sippeers; --`
	s.store(t, "sippeers", "name", evil, "context", "values")
	want(t, s.load(t, "sippeers", "name", evil), "name", evil)
	// Everything still there.
	want(t, s.load(t, "sippeers", "name", "rt-alice"), "secret", "s3cret")
	rows, err := s.d.LoadMulti(ctx(t), s.db, "sippeers", F("context", "values"))
	if err != nil || len(rows) != len(values)+1 {
		t.Errorf("LoadMulti(context=values) = %d rows, %v; want %d", len(rows), err, len(values)+1)
	}
}

func (s *suite) testMultiValued(t *testing.T) {
	// As Asterisk's pgsql and odbc drivers write a ';' inside a value.
	s.b.Exec(t, "INSERT INTO sippeers (name, allow, setvar) VALUES ('rt-raw', 'g722;ulaw', 'A=1^3BB=2')")
	r := s.load(t, "sippeers", "name", "rt-raw")
	want(t, r, "allow", "g722;ulaw", "setvar", "A=1;B=2")
	allow, _ := r.Get("allow")
	if got := realtime.SplitList(allow); !slices.Equal(got, []string{"g722", "ulaw"}) {
		t.Errorf("SplitList(%q) = %v", allow, got)
	}
	s.store(t, "sippeers", "name", "rt-list", "allow", "ulaw;alaw", "context", "list")
	want(t, s.load(t, "sippeers", "allow", "ulaw;alaw", "context", "list"), "name", "rt-list")
	want(t, s.load(t, "sippeers", "name", "rt-list"), "allow", "ulaw;alaw")
}

func (s *suite) testUnknownField(t *testing.T) {
	check := func(what string, err error, field string) {
		t.Helper()
		if !errors.Is(err, realtime.ErrUnknownField) {
			t.Errorf("%s: %v, want ErrUnknownField", what, err)
		} else if !strings.Contains(err.Error(), field) {
			t.Errorf("%s: error %q does not name %q", what, err, field)
		}
	}
	c := ctx(t)
	_, err := s.d.Load(c, s.db, "sippeers", F("nosuchcol", "x"))
	check("Load", err, "nosuchcol")
	_, err = s.d.Load(c, s.db, "sippeers", F("name", "rt-alice", "nosuchop LIKE", "x%"))
	check("Load(op)", err, "nosuchop")
	_, err = s.d.LoadMulti(c, s.db, "sippeers", F("nosuchmulti", "x"))
	check("LoadMulti", err, "nosuchmulti")
	_, err = s.d.Store(c, s.db, "sippeers", F("name", "rt-unknown", "nosuchstore", "x"))
	check("Store", err, "nosuchstore")
	if _, err := s.d.Load(c, s.db, "sippeers", F("name", "rt-unknown")); !errors.Is(err, realtime.ErrNotFound) {
		t.Errorf("a Store with an unknown field stored something (Load: %v)", err)
	}
	_, err = s.d.Update(c, s.db, "sippeers", "name", "rt-alice", F("nosuchset", "x"))
	check("Update(set)", err, "nosuchset")
	_, err = s.d.Update(c, s.db, "sippeers", "nosuchkey", "x", F("secret", "x"))
	check("Update(key)", err, "nosuchkey")
	_, err = s.d.Update2(c, s.db, "sippeers", F("nosuchlookup", "x"), F("secret", "x"))
	check("Update2(lookup)", err, "nosuchlookup")
	_, err = s.d.Update2(c, s.db, "sippeers", F("name", "rt-alice"), F("nosuchupdate", "x"))
	check("Update2(update)", err, "nosuchupdate")
	_, err = s.d.Destroy(c, s.db, "sippeers", "nosuchdkey", "x", nil)
	check("Destroy(key)", err, "nosuchdkey")
	_, err = s.d.Destroy(c, s.db, "sippeers", "name", "rt-alice", F("nosuchdfield", "x"))
	check("Destroy(field)", err, "nosuchdfield")
	want(t, s.load(t, "sippeers", "name", "rt-alice"), "secret", "s3cret")
	// A column name is never a place for SQL.
	_, err = s.d.Load(c, s.db, "sippeers", F(`name" = name OR "1`, "x"))
	if err == nil {
		t.Errorf("Load with a quoted column name: no error")
	}
}

func (s *suite) testVoicemail(t *testing.T) {
	s.store(t, "voicemail", "context", "default", "mailbox", "1000", "password", "1234",
		"fullname", "Jöhn Doe", "email", "john@example.com", "attach", "yes")
	r := s.load(t, "voicemail", "mailbox", "1000", "context", "default")
	want(t, r, "password", "1234", "fullname", "Jöhn Doe", "email", "john@example.com", "attach", "yes")
	if _, ok := r.Get("uniqueid"); !ok {
		t.Errorf("row %v: uniqueid missing", r)
	}
	absent(t, r, "pager", "stamp")
	n, err := s.d.Update2(ctx(t), s.db, "voicemail", F("context", "default", "mailbox", "1000"), F("password", "4321"))
	if err != nil || n != 1 {
		t.Fatalf("Update2(voicemail) = %d, %v", n, err)
	}
	want(t, s.load(t, "voicemail", "mailbox", "1000"), "password", "4321")
}

func (s *suite) testStatic(t *testing.T) {
	for _, r := range []string{
		"0, 0, 0, 'rt-test.conf', 'general', 'a', '1'",
		"0, 1, 0, 'rt-test.conf', 'general', 'b', '2'",
		"1, 0, 0, 'rt-test.conf', 'first', 'x', '9'",
		"0, 2, 1, 'rt-test.conf', 'general', 'hidden', 'no'",
		"0, 0, 0, 'rt-other.conf', 'general', 'z', 'z'",
		"1, 1, 0, 'rt-test.conf', 'first', '#include', 'rt-inc.conf'",
		"0, 0, 0, 'rt-test.conf', 'another', 'k', 'v;w'",
		"0, 3, 0, 'rt-test.conf', 'general', 'exten', '_X.,1,NoOp(it''s)'",
	} {
		s.b.Exec(t, "INSERT INTO ast_config (cat_metric, var_metric, commented, filename, category, var_name, var_val) VALUES ("+r+")")
	}
	rows, err := s.d.StaticLoad(ctx(t), s.db, "ast_config", "rt-test.conf")
	if err != nil {
		t.Fatal(err)
	}
	wantRows := []realtime.StaticRow{
		{CatMetric: 1, VarMetric: 0, Category: "first", Name: "x", Value: "9"},
		{CatMetric: 1, VarMetric: 1, Category: "first", Name: "#include", Value: "rt-inc.conf"},
		{CatMetric: 0, VarMetric: 0, Category: "another", Name: "k", Value: "v;w"},
		{CatMetric: 0, VarMetric: 0, Category: "general", Name: "a", Value: "1"},
		{CatMetric: 0, VarMetric: 1, Category: "general", Name: "b", Value: "2"},
		{CatMetric: 0, VarMetric: 3, Category: "general", Name: "exten", Value: "_X.,1,NoOp(it's)"},
	}
	if !slices.Equal(rows, wantRows) {
		t.Errorf("StaticLoad =\n%v\nwant\n%v", rows, wantRows)
	}
	rows, err = s.d.StaticLoad(ctx(t), s.db, "ast_config", "rt-missing.conf")
	if err != nil || len(rows) != 0 {
		t.Errorf("StaticLoad(missing) = %v, %v; want no rows, nil", rows, err)
	}
}

func (s *suite) testRequire(t *testing.T) {
	err := s.d.Require(ctx(t), s.db, "sippeers", []realtime.Requirement{
		{Name: "name", Type: realtime.TypeChar, Size: 10},
		{Name: "port", Type: realtime.TypeInteger},
		{Name: "regseconds", Type: realtime.TypeInteger},
	})
	if err != nil {
		t.Errorf("Require(existing columns): %v", err)
	}
	err = s.d.Require(ctx(t), s.db, "sippeers", []realtime.Requirement{
		{Name: "name", Type: realtime.TypeChar, Size: 10},
		{Name: "rt_required", Type: realtime.TypeChar, Size: 20},
	})
	if !errors.Is(err, realtime.ErrUnknownField) || !strings.Contains(fmt.Sprint(err), "rt_required") {
		t.Errorf("Require(missing column) with requirements=warn: %v, want ErrUnknownField naming rt_required", err)
	}
	_ = s.d.Unload(ctx(t), s.db, "sippeers")
	if _, err := s.d.Load(ctx(t), s.db, "sippeers", F("rt_required", "x")); !errors.Is(err, realtime.ErrUnknownField) {
		t.Errorf("requirements=warn created the column (Load: %v)", err)
	}
}

func (s *suite) testUnload(t *testing.T) {
	// Make sure the metadata is cached, then change the table behind the driver's back.
	s.load(t, "extensions", "exten", "201", "priority", "1", "context", "rt-ctx")
	s.b.Exec(t, "ALTER TABLE extensions ADD rt_extra VARCHAR(20)")
	if err := s.d.Unload(ctx(t), s.db, "extensions"); err != nil {
		t.Fatalf("Unload: %v", err)
	}
	s.store(t, "extensions", "context", "rt-unload", "exten", "1", "priority", "1", "app", "NoOp", "appdata", "x", "rt_extra", "yes")
	want(t, s.load(t, "extensions", "context", "rt-unload"), "rt_extra", "yes")
}

func (s *suite) testConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				r, err := s.d.Load(context.Background(), s.db, "sippeers", F("name", "rt-alice"))
				if err != nil {
					errs <- err
					return
				}
				if v, _ := r.Get("secret"); v != "s3cret" {
					errs <- fmt.Errorf("secret = %q", v)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func (s *suite) testCancelled(t *testing.T) {
	c, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.d.Load(c, s.db, "sippeers", F("name", "rt-alice"))
	if err == nil || errors.Is(err, realtime.ErrNotFound) {
		t.Errorf("Load with a cancelled context: %v, want an error", err)
	}
}

// TableStatements returns the statements that create tables (and the enum types they use)
// from Asterisk's postgresql_config.sql or mysql_config.sql in dir, for tests of other
// families (queues, queue_members).
func TableStatements(dir, dialect string, tables ...string) ([]string, error) {
	file := "postgresql_config.sql"
	if dialect == "mysql" {
		file = "mysql_config.sql"
	}
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return nil, err
	}
	create, _, err := extract(string(b), tables)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return create, nil
}
