package integration

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// readmeExtconfig returns the files of the README's extconfig.conf example (an ini block whose
// parts start with "; <file>.conf") and the load error the README prints after it.
func readmeExtconfig(t *testing.T) (files map[string]string, order []string, errLine string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "```ini\n; extconfig.conf\n")
	if i < 0 {
		t.Fatal("README has no extconfig.conf example")
	}
	s = s[i+len("```ini\n"):]
	block, rest, _ := strings.Cut(s, "```")
	files = map[string]string{}
	name := regexp.MustCompile(`^; (\S+\.conf)$`)
	cur := ""
	for _, l := range strings.Split(block, "\n") {
		if m := name.FindStringSubmatch(l); m != nil {
			cur = m[1]
			order = append(order, cur)
			continue
		}
		if cur != "" {
			files[cur] += l + "\n"
		}
	}
	for _, l := range strings.Split(rest, "\n") {
		if strings.HasPrefix(l, "extconfig.conf:") {
			return files, order, l
		}
	}
	t.Fatal("README prints no extconfig.conf load error after the example")
	return
}

// TestReadmeExtconfigExample runs the README's extconfig.conf example as written, with only the
// coordinates of the test servers put in (database test as postgres, in a scratch schema, and a
// scratch SQLite file): the server starts, a peer stored through priority 1 (odbc) loads back,
// and without res_odbc.conf a reload fails with the very line the README shows and keeps the
// running configuration.
func TestReadmeExtconfigExample(t *testing.T) {
	files, order, errLine := readmeExtconfig(t)
	if strings.Join(order, " ") != "extconfig.conf res_odbc.conf res_pgsql.conf res_config_sqlite3.conf" {
		t.Fatalf("README example files: %v", order)
	}
	schema := pgScratch(t)
	files["res_odbc.conf"] = strings.NewReplacer(`Database=asterisk\;Uid=asterisk\;`,
		`Database=test\;Uid=postgres\;CommLog=0\;ConnSettings={set search_path to `+schema+`}\;`).Replace(files["res_odbc.conf"])
	files["res_pgsql.conf"] = strings.NewReplacer("dbname = asterisk", "dbname = test", "dbuser = asterisk",
		"dbuser = postgres\nsearch_path = "+schema).Replace(files["res_pgsql.conf"])
	files["res_config_sqlite3.conf"] = strings.Replace(files["res_config_sqlite3.conf"],
		"/var/lib/pleiades/pleiades.sqlite3", filepath.Join(t.TempDir(), "pleiades.sqlite3"), 1)
	for _, f := range []string{"res_odbc.conf", "res_pgsql.conf", "res_config_sqlite3.conf"} {
		if !strings.Contains(files[f], "test") && !strings.Contains(files[f], "pleiades.sqlite3") {
			t.Fatalf("%s: the test's coordinates were not put in:\n%s", f, files[f])
		}
	}
	n := NewNode(t, "entityid = 02:aa:bb:cc:dd:42", files)
	n.Start()
	if out := n.MustRX("realtime store sippeers name readme_alice secret s3cret context phones"); !strings.Contains(out, "Stored RealTime record.") {
		t.Fatalf("store: %q", out)
	}
	if out := n.MustRX("realtime load sippeers name readme_alice"); !strings.Contains(out, "s3cret") {
		t.Fatalf("load: %q", out)
	}
	if err := os.Remove(filepath.Join(n.Dir, "etc", "res_odbc.conf")); err != nil {
		t.Fatal(err)
	}
	out, code := n.RX("module reload extconfig")
	if code == 0 || !strings.Contains(out, errLine) {
		t.Fatalf("reload without res_odbc.conf: %d %q\nwant the README's line %q", code, out, errLine)
	}
	if out := n.MustRX("core show config mappings"); !strings.Contains(out, "sippeers (db=asterisk, table=sippeers)") {
		t.Fatalf("mappings after the failed reload:\n%s", out)
	}
	if out := n.MustRX("realtime load sippeers name readme_alice"); !strings.Contains(out, "s3cret") {
		t.Fatalf("load after the failed reload: %q", out)
	}
}
