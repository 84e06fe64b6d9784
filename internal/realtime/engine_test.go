package realtime_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
	"github.com/pleiades-pbx/pleiades/internal/realtime/sqlite"
)

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func newLog() (*slog.Logger, *logBuf) {
	b := &logBuf{}
	return slog.New(slog.NewTextHandler(b, nil)), b
}

func parse(t testing.TB, name, text string) *conf.Config {
	t.Helper()
	cfg, err := conf.Parse(name, []byte(text), conf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// env is an engine with the sqlite3 driver and databases "asterisk" and "backup" (created with
// the default schema) and "down" (a file in a directory that does not exist).
type env struct {
	e       *realtime.Engine
	drv     *sqlite.Driver
	dir     string
	log     *logBuf
	drvConf string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	dir := t.TempDir()
	log, buf := newLog()
	ctx := context.Background()
	for _, db := range []string{"asterisk", "backup"} {
		if err := sqlite.CreateDefaultSchema(ctx, filepath.Join(dir, db+".sqlite3")); err != nil {
			t.Fatal(err)
		}
	}
	en := &env{e: realtime.New(log), drv: sqlite.New(log), dir: dir, log: buf}
	en.drvConf = fmt.Sprintf("[asterisk]\ndbfile=%s\n[backup]\ndbfile=%s\n[down]\ndbfile=%s\n",
		filepath.Join(dir, "asterisk.sqlite3"), filepath.Join(dir, "backup.sqlite3"), filepath.Join(dir, "nodir", "x.sqlite3"))
	en.e.Register(en.drv)
	t.Cleanup(func() { en.e.Close() })
	return en
}

func (en *env) confs(file string) (*conf.Config, error) {
	if file == "res_config_sqlite3.conf" {
		return conf.Parse(file, []byte(en.drvConf), conf.Options{})
	}
	return nil, nil
}

func (en *env) configure(t testing.TB, ext string) error {
	t.Helper()
	return en.e.Configure(context.Background(), parse(t, "extconfig.conf", ext), en.confs)
}

func (en *env) exec(t testing.TB, db, q string, args ...any) {
	t.Helper()
	d, ok := en.drv.DB(db)
	if !ok {
		t.Fatalf("no db %s", db)
	}
	if _, err := d.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func F(kv ...string) []realtime.Field {
	var out []realtime.Field
	for i := 0; i < len(kv); i += 2 {
		out = append(out, realtime.Field{Name: kv[i], Value: kv[i+1]})
	}
	return out
}

func TestParseMapping(t *testing.T) {
	for _, c := range []struct {
		name, value string
		want        []realtime.Mapping
		err         string
	}{
		{"sippeers", "sqlite3,asterisk", []realtime.Mapping{{Name: "sippeers", Driver: "sqlite3", Database: "asterisk", Table: "sippeers", Priority: 1}}, ""},
		{"sippeers", " sqlite3 , asterisk , peers , 2 ", []realtime.Mapping{{Name: "sippeers", Driver: "sqlite3", Database: "asterisk", Table: "peers", Priority: 2}}, ""},
		{"example2", `ldap,"dc=oxymium,dc=net",example2`, []realtime.Mapping{{Name: "example2", Driver: "ldap", Database: "dc=oxymium,dc=net", Table: "example2", Priority: 1}}, ""},
		{"extensions.conf", "sqlite3,asterisk,ast_config", []realtime.Mapping{{Name: "extensions.conf", Static: true, Driver: "sqlite3", Database: "asterisk", Table: "ast_config", Priority: 1}}, ""},
		{"global", "sqlite3,asterisk,ast_config", []realtime.Mapping{{Name: "global", Static: true, Driver: "sqlite3", Database: "asterisk", Table: "ast_config", Priority: 1}}, ""},
		{"queues", "sqlite3,asterisk,,3", []realtime.Mapping{{Name: "queues", Driver: "sqlite3", Database: "asterisk", Table: "queues", Priority: 3}}, ""},
		{"sipfriends", "sqlite3,asterisk", []realtime.Mapping{
			{Name: "sipusers", Driver: "sqlite3", Database: "asterisk", Table: "sipfriends", Priority: 1},
			{Name: "sippeers", Driver: "sqlite3", Database: "asterisk", Table: "sipfriends", Priority: 1}}, ""},
		{"asterisk.conf", "sqlite3,asterisk", nil, "extconfig.conf:7: asterisk.conf cannot be loaded from a database"},
		{"extconfig.conf", "sqlite3,asterisk", nil, "extconfig.conf:7: extconfig.conf cannot be loaded from a database"},
		{"logger.conf", "sqlite3,asterisk", nil, "extconfig.conf:7: logger.conf cannot be loaded from a database"},
		{"sippeers", "sqlite3", nil, "extconfig.conf:7: sippeers => sqlite3: want driver,database[,table[,priority]]"},
		{"sippeers", "sqlite3,", nil, "extconfig.conf:7: sippeers => sqlite3,: want driver"},
		{"sippeers", "sqlite3,asterisk,t,first", nil, `extconfig.conf:7: sippeers => sqlite3,asterisk,t,first: priority "first"`},
		{"sippeers", "sqlite3,asterisk,t,0", nil, `priority "0": want a number >= 1`},
		{"sippeers", "sqlite3,asterisk,t,1,x", nil, "too many fields"},
		{"sippeers", `sqlite3,"asterisk`, nil, "unterminated quote"},
	} {
		got, err := realtime.ParseMapping(c.name, c.value, "extconfig.conf", 7)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s => %s: err %v, want %q", c.name, c.value, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s => %s: %v", c.name, c.value, err)
			continue
		}
		for i := range c.want {
			c.want[i].File, c.want[i].Line = "extconfig.conf", 7
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s => %s:\n got %+v\nwant %+v", c.name, c.value, got, c.want)
		}
	}
}

func TestConfigure(t *testing.T) {
	en := newEnv(t)
	ext := `[settings]
sippeers => sqlite3,asterisk,sippeers,1
sippeers => sqlite3,down,sippeers,2
sippeers => sqlite3,backup,sippeers,2
voicemail => sqlite3,asterisk
queues => sqlite3,asterisk,queues,1
queues => sqlite3,backup,queues,2
queues => sqlite3,backup,queues,4
extensions.conf => sqlite3,asterisk,ast_config
`
	if err := en.configure(t, ext); err != nil {
		t.Fatal(err)
	}
	static, fams := en.e.Mappings()
	var got []string
	for _, m := range append(static, fams...) {
		got = append(got, fmt.Sprintf("%s %s,%s,%s,%d @%d", m.Name, m.Driver, m.Database, m.Table, m.Priority, m.Line))
	}
	want := []string{
		"extensions.conf sqlite3,asterisk,ast_config,1 @9",
		"queues sqlite3,asterisk,queues,1 @6",
		"queues sqlite3,backup,queues,2 @7",
		"sippeers sqlite3,asterisk,sippeers,1 @2",
		"sippeers sqlite3,backup,sippeers,2 @4", // same priority: the later line wins
		"voicemail sqlite3,asterisk,voicemail,1 @5",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("mappings:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(en.log.String(), "extconfig.conf:8: queues priority 4 ignored") {
		t.Errorf("no warning for the gap; log:\n%s", en.log.String())
	}

	// Errors name file:line, and the running mappings stay.
	for _, c := range []struct{ ext, err string }{
		{"[settings]\nsippeers => nosuch,asterisk\n", "extconfig.conf:2: sippeers => nosuch,asterisk: no realtime driver \"nosuch\" (registered: sqlite3)"},
		{"[settings]\nvoicemail => sqlite3,asterisk\nsippeers => sqlite3,nodb\n", "extconfig.conf:3: sippeers => sqlite3,nodb: realtime: unknown database: sqlite3 has no connection [nodb] in res_config_sqlite3.conf"},
		{"[settings]\nlogger.conf => sqlite3,asterisk\n", "extconfig.conf:2: logger.conf cannot be loaded from a database"},
		{"[settings]\nsippeers => sqlite3\n", "extconfig.conf:2: sippeers => sqlite3: want driver,database[,table[,priority]]"},
	} {
		err := en.configure(t, c.ext)
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("Configure(%q) = %v, want %q", c.ext, err, c.err)
		}
		s2, f2 := en.e.Mappings()
		if len(s2) != len(static) || len(f2) != len(fams) {
			t.Errorf("a failed Configure changed the mappings: %v %v", s2, f2)
		}
	}
	// A broken driver config fails too and keeps the mappings.
	en.drvConf = "[asterisk]\nrequirements=sometimes\n"
	if err := en.configure(t, "[settings]\n"); err == nil || !strings.Contains(err.Error(), "res_config_sqlite3.conf:2: requirements=sometimes") {
		t.Errorf("bad driver config: %v", err)
	}
	if _, f2 := en.e.Mappings(); len(f2) != len(fams) {
		t.Errorf("a failed Configure changed the mappings")
	}
	// A good reload replaces them.
	en.drvConf = fmt.Sprintf("[asterisk]\ndbfile=%s\n", filepath.Join(en.dir, "asterisk.sqlite3"))
	if err := en.configure(t, "[settings]\nsippeers => sqlite3,asterisk\n"); err != nil {
		t.Fatal(err)
	}
	if s2, f2 := en.e.Mappings(); len(s2) != 0 || len(f2) != 1 {
		t.Errorf("after reload: %v %v", s2, f2)
	}
}

func TestFailoverSQLite(t *testing.T) {
	en := newEnv(t)
	if err := en.configure(t, "[settings]\nsippeers => sqlite3,down,sippeers,1\nsippeers => sqlite3,backup,sippeers,2\nvoicemail => sqlite3,asterisk,voicemail,1\nvoicemail => sqlite3,backup,voicemail,2\n"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	en.exec(t, "backup", "INSERT INTO sippeers (name, secret) VALUES ('alice', 'pw')")
	r, err := en.e.Load(ctx, "sippeers", F("name", "alice")...)
	if err != nil {
		t.Fatalf("Load with priority 1 down: %v", err)
	}
	if v, _ := r.Get("secret"); v != "pw" {
		t.Errorf("secret = %q", v)
	}
	// Writes fail over too.
	if n, err := en.e.Update(ctx, "sippeers", "name", "alice", F("ipaddr", "192.0.2.1")...); err != nil || n != 1 {
		t.Errorf("Update = %d, %v", n, err)
	}
	st := statusOf(en.e, "sippeers")
	if st.Queries != 2 || st.Failovers != 2 || st.Errors != 0 || !strings.Contains(st.LastError, "unavailable") {
		t.Errorf("status = %+v", st)
	}

	// No failover on "no rows": priority 1 answers.
	en.exec(t, "backup", "INSERT INTO voicemail (context, mailbox, password) VALUES ('default', '100', '1')")
	if _, err := en.e.Load(ctx, "voicemail", F("mailbox", "100")...); !errors.Is(err, realtime.ErrNotFound) {
		t.Errorf("Load(voicemail 100) = %v, want ErrNotFound from priority 1", err)
	}
	if rows, err := en.e.LoadMulti(ctx, "voicemail", F("mailbox", "100")...); err != nil || len(rows) != 0 {
		t.Errorf("LoadMulti(voicemail 100) = %v, %v; want no rows from priority 1", rows, err)
	}
	if n, err := en.e.Update2(ctx, "voicemail", F("mailbox", "100"), F("password", "2")); err != nil || n != 0 {
		t.Errorf("Update2 = %d, %v; want 0 from priority 1", n, err)
	}
	if st := statusOf(en.e, "voicemail"); st.Failovers != 0 || st.Errors != 0 {
		t.Errorf("voicemail status = %+v", st)
	}
	// No failover on other errors either.
	if _, err := en.e.Load(ctx, "voicemail", F("nosuch", "1")...); !errors.Is(err, realtime.ErrUnknownField) {
		t.Errorf("unknown field: %v", err)
	}
	if st := statusOf(en.e, "voicemail"); st.Failovers != 0 || st.Errors != 1 {
		t.Errorf("voicemail status = %+v", st)
	}
	// Not mapped.
	if _, err := en.e.Load(ctx, "iaxpeers", F("name", "x")...); !errors.Is(err, realtime.ErrNoMapping) {
		t.Errorf("unmapped family: %v", err)
	}
}

func statusOf(e *realtime.Engine, fam string) realtime.Status {
	for _, s := range e.Status() {
		if s.Family == fam {
			return s
		}
	}
	return realtime.Status{}
}

// countDriver answers every call with err and counts the calls.
type countDriver struct {
	name  string
	err   error
	calls int
	mu    sync.Mutex
}

func (d *countDriver) hit() error                                    { d.mu.Lock(); d.calls++; d.mu.Unlock(); return d.err }
func (d *countDriver) Name() string                                  { return d.name }
func (d *countDriver) ConfigFile() string                            { return d.name + ".conf" }
func (d *countDriver) Configure(context.Context, *conf.Config) error { return nil }
func (d *countDriver) Close() error                                  { return nil }
func (d *countDriver) Unload(context.Context, string, string) error  { return d.hit() }
func (d *countDriver) Load(context.Context, string, string, []realtime.Field) (realtime.Row, error) {
	return nil, d.hit()
}
func (d *countDriver) LoadMulti(context.Context, string, string, []realtime.Field) ([]realtime.Row, error) {
	return nil, d.hit()
}
func (d *countDriver) Update(context.Context, string, string, string, string, []realtime.Field) (int64, error) {
	return 0, d.hit()
}
func (d *countDriver) Update2(context.Context, string, string, []realtime.Field, []realtime.Field) (int64, error) {
	return 0, d.hit()
}
func (d *countDriver) Store(context.Context, string, string, []realtime.Field) (int64, error) {
	return 0, d.hit()
}
func (d *countDriver) Destroy(context.Context, string, string, string, string, []realtime.Field) (int64, error) {
	return 0, d.hit()
}
func (d *countDriver) Require(context.Context, string, string, []realtime.Requirement) error {
	return d.hit()
}
func (d *countDriver) StaticLoad(context.Context, string, string, string) ([]realtime.StaticRow, error) {
	return nil, d.hit()
}

func TestFailoverRule(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name     string
		err      error
		wantNext int
	}{
		{"unavailable", fmt.Errorf("connect: %w", realtime.ErrUnavailable), 1},
		{"not found", fmt.Errorf("x: %w", realtime.ErrNotFound), 0},
		{"unknown field", fmt.Errorf("x: %w", realtime.ErrUnknownField), 0},
		{"other", errors.New("syntax error"), 0},
	} {
		first := &countDriver{name: "one", err: c.err}
		second := &countDriver{name: "two"}
		log, _ := newLog()
		e := realtime.New(log)
		e.Register(first)
		e.Register(second)
		if err := e.Configure(ctx, parse(t, "extconfig.conf", "[settings]\nfam => one,db,t,1\nfam => two,db,t,2\nx.conf => one,db,t,1\nx.conf => two,db,t,2\n"), nil); err != nil {
			t.Fatal(err)
		}
		ops := []func() error{
			func() error { _, err := e.Load(ctx, "fam", F("a", "1")...); return err },
			func() error { _, err := e.LoadMulti(ctx, "fam", F("a", "1")...); return err },
			func() error { _, err := e.Update(ctx, "fam", "a", "1", F("b", "2")...); return err },
			func() error { _, err := e.Update2(ctx, "fam", F("a", "1"), F("b", "2")); return err },
			func() error { _, err := e.Store(ctx, "fam", F("a", "1")...); return err },
			func() error { _, err := e.Destroy(ctx, "fam", "a", "1"); return err },
			func() error { _, _, err := e.LoadStatic(ctx, "x.conf"); return err },
		}
		for i, op := range ops {
			err := op()
			if c.wantNext == 1 && err != nil {
				t.Errorf("%s op %d: %v after failover", c.name, i, err)
			}
			if c.wantNext == 0 && !errors.Is(err, c.err) && !strings.Contains(fmt.Sprint(err), c.err.Error()) {
				t.Errorf("%s op %d: err %v, want %v", c.name, i, err, c.err)
			}
		}
		if first.calls != len(ops) || second.calls != c.wantNext*len(ops) {
			t.Errorf("%s: calls = %d, %d; want %d, %d", c.name, first.calls, second.calls, len(ops), c.wantNext*len(ops))
		}
	}
	// Every mapping down: one error naming both.
	one := &countDriver{name: "one", err: realtime.ErrUnavailable}
	two := &countDriver{name: "two", err: realtime.ErrUnavailable}
	e := realtime.New(nil)
	e.Register(one)
	e.Register(two)
	if err := e.Configure(ctx, parse(t, "extconfig.conf", "[settings]\nfam => one,db1,t,1\nfam => two,db2,t,2\n"), nil); err != nil {
		t.Fatal(err)
	}
	_, err := e.Load(ctx, "fam", F("a", "1")...)
	if !errors.Is(err, realtime.ErrUnavailable) || !strings.Contains(err.Error(), "every mapping unavailable") ||
		!strings.Contains(err.Error(), "(one,db1)") || !strings.Contains(err.Error(), "(two,db2)") {
		t.Errorf("all down: %v", err)
	}
}

func TestStatic(t *testing.T) {
	en := newEnv(t)
	if err := en.configure(t, "[settings]\nextensions.conf => sqlite3,asterisk,ast_config\ninc.conf => sqlite3,asterisk,ast_config\nloop.conf => sqlite3,asterisk,ast_config\n"); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"extensions.conf": "[general]\nstatic=yes\nwriteprotect=no\n\n[globals]\nA=1\n#include \"inc.conf\"\nB=2\\;x\n\n[default]\nexten=_X.,1,NoOp(it's)\n#include \"disk.conf\"\n",
		"inc.conf":        "[incl]\nx=1\n[incl2]\ny=2\n",
		"disk.conf":       "[fromdisk]\nz=3\n",
	}
	for n, s := range files {
		if err := os.WriteFile(filepath.Join(en.dir, n), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ins := func(cm, vm int, file, cat, name, val string) {
		en.exec(t, "asterisk", "INSERT INTO ast_config (cat_metric, var_metric, commented, filename, category, var_name, var_val) VALUES (?,?,0,?,?,?,?)",
			cm, vm, file, cat, name, val)
	}
	ins(3, 0, "extensions.conf", "general", "static", "yes")
	ins(3, 1, "extensions.conf", "general", "writeprotect", "no")
	ins(2, 0, "extensions.conf", "globals", "A", "1")
	ins(2, 1, "extensions.conf", "globals", "#include", "inc.conf")
	ins(2, 2, "extensions.conf", "globals", "B", "2;x")
	ins(1, 0, "extensions.conf", "default", "exten", "_X.,1,NoOp(it's)")
	ins(1, 1, "extensions.conf", "default", "#include", "disk.conf")
	en.exec(t, "asterisk", "INSERT INTO ast_config (cat_metric, var_metric, commented, filename, category, var_name, var_val) VALUES (1, 5, 1, 'extensions.conf', 'default', 'hidden', 'x')")
	ins(1, 0, "inc.conf", "incl", "x", "1")
	ins(0, 0, "inc.conf", "incl2", "y", "2")
	ins(0, 0, "loop.conf", "a", "#include", "loop.conf")

	en.e.SetFileLoader(func(ctx context.Context, name string) (*conf.Config, error) {
		return conf.LoadContext(ctx, name, conf.Options{Dir: en.dir, Static: en.e})
	})
	ctx := context.Background()
	got, mapped, err := en.e.LoadStatic(ctx, "extensions.conf")
	if err != nil || !mapped {
		t.Fatalf("LoadStatic = %v, %v", mapped, err)
	}
	want, err := conf.Load(filepath.Join(en.dir, "extensions.conf"), conf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(want) {
		t.Errorf("static config differs from the file:\n%s\nwant\n%s", dump(got), dump(want))
	}
	if c := got.Categories[0]; c.File != "sqlite3:asterisk/ast_config:extensions.conf" || c.Line != 1 || c.Vars[1].Line != 2 {
		t.Errorf("provenance: %s:%d, var line %d", c.File, c.Line, c.Vars[1].Line)
	}
	// Through conf with the engine as StaticSource.
	viaConf, err := conf.LoadContext(ctx, "extensions.conf", conf.Options{Dir: en.dir, Static: en.e})
	if err != nil {
		t.Fatal(err)
	}
	if !viaConf.Equal(want) {
		t.Errorf("conf.Load with Static differs:\n%s", dump(viaConf))
	}
	// Not mapped, never mapped, loops.
	if _, mapped, _ := en.e.LoadStatic(ctx, "sip.conf"); mapped {
		t.Errorf("sip.conf mapped")
	}
	if _, _, err := en.e.LoadStatic(ctx, "loop.conf"); err == nil || !strings.Contains(err.Error(), "loop") {
		t.Errorf("include loop: %v", err)
	}
	// global catches every other file, never asterisk.conf.
	if err := en.configure(t, "[settings]\nglobal => sqlite3,asterisk,ast_config\n"); err != nil {
		t.Fatal(err)
	}
	if cfg, mapped, err := en.e.LoadStatic(ctx, "inc.conf"); !mapped || err != nil || len(cfg.Categories) != 2 {
		t.Errorf("global: %v %v %v", cfg, mapped, err)
	}
	if _, mapped, _ := en.e.LoadStatic(ctx, "asterisk.conf"); mapped {
		t.Errorf("asterisk.conf mapped by global")
	}
	if cfg, mapped, err := en.e.LoadStatic(ctx, "empty.conf"); !mapped || err != nil || len(cfg.Categories) != 0 {
		t.Errorf("empty: %v %v %v", cfg, mapped, err)
	}
}

func dump(c *conf.Config) string {
	var b strings.Builder
	for _, cat := range c.Categories {
		fmt.Fprintf(&b, "[%s]\n", cat.Name)
		for _, v := range cat.Vars {
			fmt.Fprintf(&b, "  %s=%s (obj %v)\n", v.Name, v.Value, v.Object)
		}
	}
	return b.String()
}

func TestRequireUnloadEngine(t *testing.T) {
	en := newEnv(t)
	if err := en.configure(t, "[settings]\nsippeers => sqlite3,asterisk\n"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := en.e.Require(ctx, "sippeers", realtime.Requirement{Name: "name", Type: realtime.TypeChar, Size: 40}); err != nil {
		t.Error(err)
	}
	if err := en.e.Require(ctx, "sippeers", realtime.Requirement{Name: "newcol", Type: realtime.TypeChar, Size: 40}); !errors.Is(err, realtime.ErrUnknownField) {
		t.Errorf("Require(missing) = %v", err)
	}
	// createclose adds the column.
	en.drvConf = fmt.Sprintf("[asterisk]\ndbfile=%s\nrequirements=createclose\n", filepath.Join(en.dir, "asterisk.sqlite3"))
	if err := en.configure(t, "[settings]\nsippeers => sqlite3,asterisk\n"); err != nil {
		t.Fatal(err)
	}
	if err := en.e.Require(ctx, "sippeers", realtime.Requirement{Name: "newcol", Type: realtime.TypeInteger}); err != nil {
		t.Errorf("Require(createclose) = %v", err)
	}
	if _, err := en.e.Store(ctx, "sippeers", F("name", "n", "newcol", "5")...); err != nil {
		t.Errorf("Store(newcol) = %v", err)
	}
	if err := en.e.Unload(ctx, "sippeers"); err != nil {
		t.Error(err)
	}
}

// connDriver is a driver that knows its connections (realtime.ConnectionChecker), configured
// from a file where each category is one connection.
type connDriver struct {
	countDriver
	conns map[string]bool
}

func (d *connDriver) Configure(_ context.Context, cfg *conf.Config) error {
	d.conns = map[string]bool{}
	if cfg != nil {
		for _, c := range cfg.Categories {
			d.conns[c.Name] = true
		}
	}
	return nil
}

func (d *connDriver) HasConnection(db string) bool { return d.conns[db] }

// A mapping whose connection is not defined (the driver's file is missing, or has no such
// section) is a load error naming extconfig.conf:line; a reload that adds one keeps the
// mappings in force.
func TestMappingToMissingConnection(t *testing.T) {
	ctx := context.Background()
	log, _ := newLog()
	e := realtime.New(log)
	drv := &connDriver{countDriver: countDriver{name: "odbc"}}
	e.Register(drv)
	files := map[string]string{}
	confs := func(file string) (*conf.Config, error) {
		if text, ok := files[file]; ok {
			return parse(t, file, text), nil
		}
		return nil, nil
	}
	ext := "[settings]\nvoicemail => odbc,asterisk\nsippeers => odbc,asterisk,sippeers\n"
	err := e.Configure(ctx, parse(t, "extconfig.conf", ext), confs)
	if err == nil || !errors.Is(err, realtime.ErrUnknownDatabase) ||
		!strings.Contains(err.Error(), "extconfig.conf:2: voicemail => odbc,asterisk: realtime: unknown database: odbc has no connection [asterisk] in odbc.conf (no such file)") ||
		!strings.Contains(err.Error(), "extconfig.conf:3: sippeers => odbc,asterisk,sippeers:") {
		t.Fatalf("no odbc.conf: %v", err)
	}
	files["odbc.conf"] = "[asterisk]\n"
	if err := e.Configure(ctx, parse(t, "extconfig.conf", ext), confs); err != nil {
		t.Fatal(err)
	}
	err = e.Configure(ctx, parse(t, "extconfig.conf", ext+"queues => odbc,other\n"), confs)
	if err == nil || !strings.Contains(err.Error(), "extconfig.conf:4: queues => odbc,other: realtime: unknown database: odbc has no connection [other] in odbc.conf") ||
		strings.Contains(err.Error(), "no such file") {
		t.Fatalf("no [other]: %v", err)
	}
	if _, fams := e.Mappings(); len(fams) != 2 || !e.Mapped("sippeers") || e.Mapped("queues") {
		t.Fatalf("a failed reload changed the mappings: %v", fams)
	}
	// The driver's file went away: the reload fails, and the driver keeps its running
	// configuration too (it was reconfigured before the mappings were checked).
	delete(files, "odbc.conf")
	if err := e.Configure(ctx, parse(t, "extconfig.conf", ext), confs); err == nil || !strings.Contains(err.Error(), "(no such file)") {
		t.Fatalf("odbc.conf removed: %v", err)
	}
	if !drv.HasConnection("asterisk") || !e.Mapped("sippeers") {
		t.Fatal("a failed reload dropped the driver's running configuration")
	}
}
