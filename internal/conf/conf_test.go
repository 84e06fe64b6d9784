package conf

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pleiades-pbx/pleiades/test/testenv"
)

// samplesDir is Asterisk's sample configs, kept beside the repository (required in CI).
func samplesDir(t testing.TB) string {
	t.Helper()
	return testenv.SharedPath(t, "asterisk-samples")
}

// notAsteriskConfig lists samples that Asterisk itself never parses: they are read by
// other programs (bash, a Perl CGI) and use "#" comments and variables without a category,
// which Asterisk's parser rejects too. The test checks that they fail the way Asterisk would.
var notAsteriskConfig = map[string]string{
	"ast_debug_tools.conf.sample": "ast_debug_tools.conf.sample:27: no category for variable",
	"dbsep.conf.sample":           "dbsep.conf.sample:25: no category for variable",
}

func TestSamples(t *testing.T) {
	dir := samplesDir(t)
	files, err := filepath.Glob(filepath.Join(dir, "*.conf.sample"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 50 {
		t.Fatalf("only %d samples in %s", len(files), dir)
	}
	for _, f := range files {
		base := filepath.Base(f)
		t.Run(base, func(t *testing.T) {
			// Dir is the samples folder, so #include names would resolve there; no sample
			// has an #include that is not commented out, which this checks.
			cfg, err := Load(f, Options{Dir: dir})
			if want, bad := notAsteriskConfig[base]; bad {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("got error %v, want one containing %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.Warnings) > 0 {
				t.Errorf("warnings: %v", cfg.Warnings)
			}
			var out strings.Builder
			if err := cfg.Write(&out); err != nil {
				t.Fatal(err)
			}
			back, err := Parse(f, []byte(out.String()), Options{Dir: dir})
			if err != nil {
				t.Fatalf("re-parse: %v\n%s", err, out.String())
			}
			if d := diff(cfg, back, false); d != "" {
				t.Fatalf("round trip: %s", d)
			}
		})
	}
}

// dump renders a configuration compactly for comparisons: one line per category and one per
// variable; "^" marks an inherited variable.
func dump(c *Config) string {
	var b strings.Builder
	for _, cat := range c.Categories {
		b.WriteString("[" + cat.Name + "]")
		if cat.Template {
			b.WriteString("!")
		}
		if len(cat.Inherits) > 0 {
			b.WriteString("(" + strings.Join(cat.Inherits, ",") + ")")
		}
		b.WriteString("\n")
		for _, v := range cat.Vars {
			b.WriteString(" ")
			if v.Inherited {
				b.WriteString("^")
			}
			op := "="
			if v.Object {
				op = "=>"
			}
			b.WriteString(v.Name + op + v.Value + "\n")
		}
	}
	return b.String()
}

func TestSyntax(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"assign", "[c]\na=1\n  b  =  two words  \n", "[c]\n a=1\n b=two words\n"},
		{"object", "[c]\nexten => s,1,NoOp()\nexten=>s,n,Hangup\n", "[c]\n exten=>s,1,NoOp()\n exten=>s,n,Hangup\n"},
		{"value with =", "[c]\nsetvar = A=B\nx=>=y\n", "[c]\n setvar=A=B\n x=>=y\n"},
		{"empty values", "[c]\na=\nb =>\n", "[c]\n a=\n b=>\n"},
		{"gt after space is value", "[c]\na = >x\n", "[c]\n a=>x\n"},
		{"duplicates kept in order", "[c]\nallow=ulaw\nallow=alaw\n", "[c]\n allow=ulaw\n allow=alaw\n"},
		{"append to last of name", "[c]\nx=1\nx=2\nx+=3\nX += 4\n", "[c]\n x=1\n x=23 4\n"},
		{"append without space", "[c]\nallow=ulaw\nallow+=,alaw\n", "[c]\n allow=ulaw,alaw\n"},
		{"append acts as set", "[c]\nallow += ulaw\n", "[c]\n allow=ulaw\n"},
		{"case kept", "[General]\nFoo=Bar\n", "[General]\n Foo=Bar\n"},
		{"category name not trimmed", "[ spaced ]\n", "[ spaced ]\n"},
		{"line comment", "; comment\n[c] ; here\na=1;x\nb = 2 ; y\n", "[c]\n a=1\n b=2\n"},
		{"escaped semicolon", "[c]\na=x\\;y\\;\nb=\\\\;z\n", "[c]\n a=x;y;\n b=\\;z\n"},
		{"escaped semicolon in name", "[c\\;d]\nn\\;m=1\n", "[c;d]\n n;m=1\n"},
		{"block comment", "[c]\n;--\na=1\n--;\nb=2\n", "[c]\n b=2\n"},
		{"block comment inline", "[c]\na=1;-- x --;2\nb=;--x\n--;3\n", "[c]\n a=12\n b=\n"},
		{"block comment nested", "[c]\n;-- a\n;-- b\n--; still\nx=1\n--;\ny=2\n", "[c]\n y=2\n"},
		{"three dashes are a line comment", "[c]\n;----------\na=1\n;---\n", "[c]\n a=1\n"},
		{"stray end marker is a line comment", "[c]\na=b--;c\nd=e\n", "[c]\n a=b--\n d=e\n"},
		{"semicolon inside block comment", "[c]\n;-- a ; b\n; c --;\nd=e\n", "[c]\n d=e\n"},
		{"crlf", "[c]\r\na = 1\r\n", "[c]\n a=1\n"},
		{"bom", "\xEF\xBB\xBF[c]\na=1\n", "[c]\n a=1\n"},
		{"no trailing newline", "[c]\na=1", "[c]\n a=1\n"},
		{"escaped first char", "[c]\n\\[x]=1\n\\#y=2\n\\==3\n", "[c]\n [x]=1\n #y=2\n ==3\n"},
		{"template", "[t](!)\na=1\n[c](t)\nb=2\n", "[t]!\n a=1\n[c](t)\n ^a=1\n b=2\n"},
		{"template chain", "[t1](!)\na=1\n[t2](!,t1)\nb=2\n[c](t2)\nc=3\n", "[t1]!\n a=1\n[t2]!(t1)\n ^a=1\n b=2\n[c](t2)\n ^a=1\n ^b=2\n c=3\n"},
		{"two templates in order", "[t1](!)\na=1\n[t2](!)\nb=2\n[c](t2, t1)\n", "[t1]!\n a=1\n[t2]!\n b=2\n[c](t2,t1)\n ^b=2\n ^a=1\n"},
		{"inherit from a normal category", "[a]\nx=1\n[b](a)\n", "[a]\n x=1\n[b](a)\n ^x=1\n"},
		{"template lookup is case-insensitive", "[T](!)\nx=1\n[c](t)\n", "[T]!\n x=1\n[c](t)\n ^x=1\n"},
		{"append to inherited", "[t](!)\nallow=ulaw\n[c](t)\nallow+=,alaw\n", "[t]!\n allow=ulaw\n[c](t)\n ^allow=ulaw,alaw\n"},
		{"plus appends", "[a]\nx=1\n[b]\ny=2\n[a](+)\nz=3\n", "[a]\n x=1\n z=3\n[b]\n y=2\n"},
		{"plus skips templates", "[a](!)\nx=1\n[a]\ny=1\n[a](+)\nz=1\n", "[a]!\n x=1\n[a]\n y=1\n z=1\n"},
		{"plus with template", "[t](!)\nx=1\n[a]\ny=2\n[a](+,t)\n", "[t]!\n x=1\n[a](t)\n y=2\n ^x=1\n"},
		{"empty options", "[c]()\n", "[c]\n"},
		{"same name twice", "[e]\nx=1\n[e]\nx=2\n", "[e]\n x=1\n[e]\n x=2\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("t.conf", []byte(tt.in), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got := dump(cfg); got != tt.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tt.want)
			}
			checkRoundTrip(t, cfg)
		})
	}
}

func checkRoundTrip(t *testing.T, cfg *Config) {
	t.Helper()
	text := cfg.String()
	back, err := Parse("rt.conf", []byte(text), Options{})
	if err != nil {
		t.Fatalf("re-parse: %v\n%s", err, text)
	}
	if d := diff(cfg, back, false); d != "" {
		t.Fatalf("round trip: %s\n%s", d, text)
	}
}

func TestFileAndLine(t *testing.T) {
	cfg, err := Load(filepath.Join("testdata", "include", "main.conf"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := "[general]\n a=1\n p=from-part\n b=2\n[part]\n x=1\n[a]\n n=10\n[b]\n n=20\n[part2]\n y=2\n"
	if got := dump(cfg); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	g := cfg.Category("general")
	check := func(what, file string, line int, wantFile string, wantLine int) {
		t.Helper()
		if filepath.Base(file) != wantFile || line != wantLine {
			t.Errorf("%s at %s:%d, want %s:%d", what, file, line, wantFile, wantLine)
		}
	}
	check("[general]", g.File, g.Line, "main.conf", 2)
	check("p", g.Vars[1].File, g.Vars[1].Line, "part.conf", 1)
	check("b", g.Vars[2].File, g.Vars[2].Line, "main.conf", 5)
	b := cfg.Category("b")
	check("[b]", b.File, b.Line, "20-b.conf", 1)
	check("n", b.Vars[0].File, b.Vars[0].Line, "20-b.conf", 2)

	// The same through Parse, with Dir given.
	data, err := os.ReadFile(filepath.Join("testdata", "include", "main.conf"))
	if err != nil {
		t.Fatal(err)
	}
	cfg2, err := Parse("main.conf", data, Options{Dir: filepath.Join("testdata", "include")})
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Equal(cfg2) {
		t.Fatalf("Parse differs from Load: %s", diff(cfg, cfg2, false))
	}
	checkRoundTrip(t, cfg)
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string // written to a temporary directory; main.conf is loaded
		want  []string          // each must appear in the error, in order
	}{
		{"no closing bracket", map[string]string{"main.conf": "[c]\n[broken\nx=1\n"},
			[]string{"main.conf:2: malformed category header: no closing ']'"}},
		{"no closing paren", map[string]string{"main.conf": "[t](!\n"},
			[]string{"main.conf:1: malformed category header: no closing ')'"}},
		{"unknown template", map[string]string{"main.conf": "[c]\n\n[d](nosuch)\nx=1\n"},
			[]string{`main.conf:3: category "d": template "nosuch" not found`}},
		{"template defined later", map[string]string{"main.conf": "[d](t)\n[t](!)\n"},
			[]string{`main.conf:1: category "d": template "t" not found`}},
		{"empty template name", map[string]string{"main.conf": "[t](!)\n[d](t,)\n"},
			[]string{`main.conf:2: category "d": empty template name`}},
		{"plus without category", map[string]string{"main.conf": "[a]\n[b](+)\n"},
			[]string{`main.conf:2: category "b" does not exist: cannot append to it with (+)`}},
		{"plus filter", map[string]string{"main.conf": "[a]\n[a](+type=x)\n"},
			[]string{`main.conf:2: category "a": filters in (+...) are not supported`}},
		{"variable before category", map[string]string{"main.conf": "; hi\nx = 1\ny = 2\n[c]\n"},
			[]string{"main.conf:2: no category for variable"}},
		{"unterminated block comment", map[string]string{"main.conf": "[c]\na=1\n;-- open\nb=2\n"},
			[]string{"main.conf:3: unterminated block comment"}},
		{"unterminated nested block comment", map[string]string{"main.conf": "[c]\n;-- one\n;-- two\n--;\n"},
			[]string{"main.conf:2: unterminated block comment"}},
		{"invalid escape", map[string]string{"main.conf": "[c]\n\\ x=1\n"},
			[]string{"main.conf:2: invalid escape"}},
		{"missing include", map[string]string{"main.conf": "[c]\n#include nothere.conf\n"},
			[]string{"main.conf:2: #include nothere.conf: file does not exist"}},
		{"empty glob", map[string]string{"main.conf": "[c]\n#include d/*.conf\n"},
			[]string{"main.conf:2: #include d/*.conf: no file matches"}},
		{"include without name", map[string]string{"main.conf": "[c]\n#include\n"},
			[]string{"main.conf:2: #include needs an argument"}},
		{"include loop", map[string]string{"main.conf": "[c]\n#include a.conf\n", "a.conf": "[a]\n\n#include b.conf\n", "b.conf": "#include a.conf\n"},
			[]string{"b.conf:1: #include a.conf: include loop: ", "a.conf -> ", "b.conf -> ", "a.conf"}},
		{"self include", map[string]string{"main.conf": "[c]\n#include \"main.conf\"\n"},
			[]string{"main.conf:2: #include main.conf: include loop"}},
		{"exec disabled", map[string]string{"main.conf": "[c]\n#exec /bin/echo x=1\n"},
			[]string{"main.conf:2: #exec is not enabled (execincludes=no in asterisk.conf)"}},
		{"error in included file", map[string]string{"main.conf": "[c]\n#include inc.conf\n", "inc.conf": "[ok]\n[bad\n"},
			[]string{"inc.conf:2: malformed category header"}},
		{"several errors", map[string]string{"main.conf": "x=1\n[a\ny=2\n[b](zz)\n[c]\n;--\n"},
			[]string{"main.conf:1: no category", "main.conf:2: malformed", `main.conf:4: category "b": template "zz"`, "main.conf:6: unterminated"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, body := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cfg, err := Load(filepath.Join(dir, "main.conf"), Options{})
			if err == nil {
				t.Fatalf("no error; got\n%s", dump(cfg))
			}
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error %T is not an ErrorList", err)
			}
			msg := err.Error()
			rest := msg
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("error\n%s\ndoes not contain %q (in order)", msg, w)
				}
				rest = rest[i+len(w):]
			}
			if strings.Count(msg, "\n")+1 != len(list) {
				t.Errorf("an error spans several lines:\n%s", msg)
			}
		})
	}
}

func TestLoopTestdata(t *testing.T) {
	for _, f := range []string{"a.conf", "self.conf"} {
		_, err := Load(filepath.Join("testdata", "loop", f), Options{})
		if err == nil || !strings.Contains(err.Error(), "include loop") {
			t.Errorf("%s: got %v, want an include loop error", f, err)
		}
	}
}

func TestUnreadable(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "none.conf"), Options{})
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "none.conf: file does not exist") {
		t.Fatalf("got %v", err)
	}
	_, err = Load(t.TempDir(), Options{}) // a directory
	if err == nil || strings.Contains(err.Error(), "\n") {
		t.Fatalf("got %v", err)
	}
}

func TestWarnings(t *testing.T) {
	cfg, err := Parse("w.conf", []byte("[c] (!)\n# comment\nnovalue\n= x\n[d]junk\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"w.conf:1: text after ']' ignored",
		"w.conf:2: unknown directive '#' ignored",
		"w.conf:3: no '=' in line, ignored",
		"w.conf:4: no variable name, line ignored",
		"w.conf:5: text after category header ignored",
	}
	if len(cfg.Warnings) != len(want) {
		t.Fatalf("warnings %v", cfg.Warnings)
	}
	for i, w := range want {
		if !strings.HasPrefix(cfg.Warnings[i].Error(), w) {
			t.Errorf("warning %d: %v, want %s", i, cfg.Warnings[i], w)
		}
	}
	if cfg.Categories[0].Template {
		t.Error("[c] (!) made a template; Asterisk needs '(' right after ']'")
	}
}

func TestTryInclude(t *testing.T) {
	cfg, err := Parse("m.conf", []byte("[c]\n#tryinclude nothere.conf\n#tryinclude d/*.conf\nx=1\n"), Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if got := dump(cfg); got != "[c]\n x=1\n" {
		t.Fatal(got)
	}
}

func TestExec(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	in := "[c]\n#exec printf 'a=1\\n[d]\\nb=2\\n'\nz=3\n#exec \"exit 3\"\n"
	_, err := Parse("m.conf", []byte(in), Options{ExecIncludes: true})
	if err == nil || !strings.Contains(err.Error(), "m.conf:4: #exec exit 3: exit status 3") {
		t.Fatalf("got %v", err)
	}
	cfg, err := Parse("m.conf", []byte(in[:strings.LastIndex(in, "#exec")]), Options{ExecIncludes: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := dump(cfg), "[c]\n a=1\n z=3\n[d]\n b=2\n"; got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if v := cfg.Category("d").Vars[0]; v.File != "#exec printf 'a=1\\n[d]\\nb=2\\n'" || v.Line != 3 {
		t.Errorf("exec output position %s:%d", v.File, v.Line)
	}
}

type fakeStatic map[string]*Config

func (f fakeStatic) LoadStatic(ctx context.Context, name string) (*Config, bool, error) {
	if name == "broken.conf" {
		return nil, false, errors.New("database down")
	}
	c, ok := f[name]
	return c, ok, nil
}

func TestStatic(t *testing.T) {
	db := &Config{File: "db.conf"}
	tmpl := db.AddCategory("tpl", "db", 1)
	tmpl.Template = true
	tmpl.Add("context", "from-db", false, "db", 2)
	db.AddCategory("dbcat", "db", 3).Add("exten", "s,1,NoOp", true, "db", 4)
	src := fakeStatic{"sip.conf": db, "top.conf": db}

	_, err := Parse("m.conf", []byte("[c]\n#include sip.conf\n[u](tpl)\n#include <local.conf>\n"),
		Options{Static: src, Dir: filepath.Join("testdata", "include")})
	if err == nil || !strings.Contains(err.Error(), "m.conf:4: #include local.conf: file does not exist") {
		t.Fatalf("got %v", err)
	}
	cfg, err := Parse("m.conf", []byte("[c]\n#include sip.conf\n[u](tpl)\n#include part2.conf\n"),
		Options{Static: src, Dir: filepath.Join("testdata", "include")})
	if err != nil {
		t.Fatal(err)
	}
	want := "[c]\n[tpl]!\n context=from-db\n[dbcat]\n exten=>s,1,NoOp\n[u](tpl)\n ^context=from-db\n[part2]\n y=2\n"
	if got := dump(cfg); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	cfg.Categories[1].Vars[0].Value = "changed"
	if db.Categories[0].Vars[0].Value != "from-db" {
		t.Error("static configuration was not copied")
	}

	top, err := Load("top.conf", Options{Static: src})
	if err != nil || top.File != "top.conf" || len(top.Categories) != 2 {
		t.Fatalf("static top: %v %+v", err, top)
	}
	_, err = Load("broken.conf", Options{Static: src})
	if err == nil || !strings.Contains(err.Error(), "database down") {
		t.Fatalf("got %v", err)
	}
	_, err = Parse("m.conf", []byte("[c]\n#include broken.conf\n"), Options{Static: src})
	if err == nil || !strings.Contains(err.Error(), "m.conf:2: #include broken.conf: static configuration: database down") {
		t.Fatalf("got %v", err)
	}
}

func TestIncludeDepth(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i <= MaxIncludeDepth+1; i++ {
		body := "[c" + string(rune('a'+i)) + "]\n#include f" + string(rune('a'+i+1)) + ".conf\n"
		if err := os.WriteFile(filepath.Join(dir, "f"+string(rune('a'+i))+".conf"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := Load(filepath.Join(dir, "fa.conf"), Options{})
	if err == nil || !strings.Contains(err.Error(), "nested more than 10 deep") {
		t.Fatalf("got %v", err)
	}
}

func TestWriteBuilt(t *testing.T) {
	c := &Config{File: "built.conf"}
	g := c.AddCategory("general", "", 0)
	g.Add("semi", "a;b\\;c", false, "", 0)
	g.Add("  padded  ", "  v  ", false, "", 0)
	g.Add("[odd", "x", true, "", 0)
	g.Add("#hash", "", false, "", 0)
	g.Add("\\back", ">gt", false, "", 0)
	g.Add("=", "eq", false, "", 0)
	g.Add("plus+", "p", false, "", 0)
	g.Add("dash", "--;--", false, "", 0)
	c.AddCategory("semi;cat", "", 0).Add("a", ";--x", false, "", 0)
	text := c.String()
	back, err := Parse("b.conf", []byte(text), Options{})
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	if d := diff(c, back, true); d != "" {
		t.Fatalf("%s\n%s", d, text)
	}
	if v := back.Category("general").Get("padded"); v != "v" {
		t.Errorf("padded value %q, want trimmed \"v\"", v)
	}

	for _, bad := range []func(c *Config){
		func(c *Config) { c.AddCategory("a]b", "", 0) },
		func(c *Config) { c.AddCategory("a", "", 0).Add("x", "line\nbreak", false, "", 0) },
		func(c *Config) { c.AddCategory("a", "", 0).Add("x=y", "v", false, "", 0) },
		func(c *Config) { c.AddCategory("a", "", 0).Add("", "v", false, "", 0) },
		func(c *Config) { c.AddCategory("a", "", 0).Inherits = []string{"nosuch"} },
	} {
		c := &Config{}
		bad(c)
		var sb strings.Builder
		err := c.Write(&sb)
		if !errors.Is(err, ErrNotRepresentable) || sb.Len() != 0 {
			t.Errorf("%s: got %v and %q, want ErrNotRepresentable and no output", dump(c), err, sb.String())
		}
	}
}

func TestWriteTemplates(t *testing.T) {
	// Inherited variables changed later, (+) sections with templates, templates with no
	// variables: everything must come back the same.
	for _, in := range []string{
		"[t](!)\na=1\nb=2\n[c](t)\nb+=3\nc=4\n",
		"[t](!)\na=1\n[e](!)\n[c](e,t,e)\nx=1\n",
		"[t](!)\na=1\n[c]\nx=1\n[c](+,t)\ny=2\n[c](+,t)\n",
		"[t](!)\na=1\n[c](t)\nx=1\n[c](+,t,!)\n[d](c)\n",
		"[a]\nx=1\n[a](+,a)\n",
	} {
		cfg, err := Parse("t.conf", []byte(in), Options{})
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		checkRoundTrip(t, cfg)
	}
	// A template appended to after it was inherited cannot be written back.
	cfg, err := Parse("t.conf", []byte("[a]\nx=1\n[c](a)\n[a](+)\ny=2\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var nr *notRepresentable
	if err := cfg.Write(&strings.Builder{}); !errors.Is(err, ErrNotRepresentable) || !errors.As(err, &nr) || !nr.stale {
		t.Fatalf("got %v", err)
	}
}

func TestBuilders(t *testing.T) {
	c := &Config{}
	tp := c.AddCategory("tpl", "x.conf", 1)
	tp.Template = true
	a := c.AddCategory("Alpha", "x.conf", 2)
	a.Add("yes", "On", false, "x.conf", 3)
	a.Add("n", "42", false, "x.conf", 4)
	a.Add("bad", "maybe", false, "x.conf", 5)
	c.AddCategory("alpha", "x.conf", 6)
	if got := c.Names(); strings.Join(got, ",") != "Alpha,alpha" {
		t.Errorf("Names %v", got)
	}
	if got := c.CategoriesNamed("ALPHA"); len(got) != 2 || got[0] != a {
		t.Errorf("CategoriesNamed %v", got)
	}
	if got := c.CategoriesNamed("TPL"); len(got) != 1 || got[0] != tp {
		t.Errorf("CategoriesNamed %v", got)
	}
	if b, err := a.Bool("YES", false); !b || err != nil {
		t.Errorf("Bool: %v %v", b, err)
	}
	if b, err := a.Bool("missing", true); !b || err != nil {
		t.Errorf("Bool default: %v %v", b, err)
	}
	if _, err := a.Bool("bad", false); err == nil || err.Error() != `x.conf:5: "bad": "maybe" is not a boolean (yes/no)` {
		t.Errorf("Bool error: %v", err)
	}
	if n, err := a.Int("n", 0); n != 42 || err != nil {
		t.Errorf("Int: %v %v", n, err)
	}
	if n, err := a.Int("bad", 7); n != 7 || err == nil {
		t.Errorf("Int error: %v %v", n, err)
	}
	cl := c.Clone()
	if !cl.Equal(c) {
		t.Fatal("clone differs")
	}
	cl.Categories[1].Vars[0].Value = "off"
	cl.Categories[1].Name = "x"
	if a.Vars[0].Value != "On" || a.Name != "Alpha" || cl.Equal(c) {
		t.Fatal("clone shares state")
	}
	if (*Config)(nil).Clone() != nil {
		t.Fatal("nil clone")
	}
}

func TestIsTrueFalse(t *testing.T) {
	for _, s := range []string{"yes", "YES", "true", "True", "y", "Y", "t", "T", "1", "on", "ON"} {
		if !IsTrue(s) || IsFalse(s) {
			t.Errorf("%q", s)
		}
	}
	for _, s := range []string{"no", "NO", "false", "FALSE", "n", "N", "f", "F", "0", "off", "Off"} {
		if !IsFalse(s) || IsTrue(s) {
			t.Errorf("%q", s)
		}
	}
	for _, s := range []string{"", " yes", "2", "yess", "of", "nope", "ja", "tru"} {
		if IsTrue(s) || IsFalse(s) {
			t.Errorf("%q", s)
		}
		if v, ok := ParseBool(s); v || ok {
			t.Errorf("ParseBool(%q) = %v, %v", s, v, ok)
		}
	}
	for s, want := range map[string]bool{"Yes": true, "t": true, "1": true, "ON": true, "no": false, "F": false, "0": false, "oFF": false} {
		if v, ok := ParseBool(s); v != want || !ok {
			t.Errorf("ParseBool(%q) = %v, %v", s, v, ok)
		}
	}
}
