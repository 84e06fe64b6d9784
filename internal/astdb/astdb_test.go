package astdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func openTemp(t testing.TB) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sub", "dir", FileName)
	db, err := Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

func mustPut(t testing.TB, db *DB, kv ...string) {
	t.Helper()
	for i := 0; i+2 < len(kv); i += 3 {
		if err := db.Put(kv[i], kv[i+1], kv[i+2]); err != nil {
			t.Fatalf("Put(%q, %q): %v", kv[i], kv[i+1], err)
		}
	}
}

func TestGetPutDel(t *testing.T) {
	db, _ := openTemp(t)
	values := []struct{ name, family, key, value string }{
		{"plain", "cidname", "5551234", "Alice"},
		{"empty value", "fam", "empty", ""},
		{"unicode", "名前", "ключ", "héllo wörld ☎ 📞"},
		{"quotes", "q", "k", `it's "quoted" \back\slash`},
		{"newlines", "n", "k", "line1\nline2\r\n\ttab"},
		{"nul and invalid utf8", "b", "k", "a\x00b\xff\xfe"},
		{"sql-ish", "x'; DROP TABLE astdb; --", "k", "'); DELETE FROM astdb; --"},
		{"wildcards", "fa_m%", "k_%", "100%_"},
		{"long", "long", "k", strings.Repeat("0123456789", 1000)},
		{"key with slash", "fam", "a/b/c", "deep"},
	}
	for _, tc := range values {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := db.Get(tc.family, tc.key); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Get before Put: err = %v, want ErrNotFound", err)
			}
			if err := db.Put(tc.family, tc.key, tc.value); err != nil {
				t.Fatalf("Put: %v", err)
			}
			got, err := db.Get(tc.family, tc.key)
			if err != nil || got != tc.value {
				t.Fatalf("Get = %q, %v; want %q", got, err, tc.value)
			}
			if err := db.Put(tc.family, tc.key, tc.value+"2"); err != nil {
				t.Fatalf("Put (replace): %v", err)
			}
			if got, _ := db.Get(tc.family, tc.key); got != tc.value+"2" {
				t.Fatalf("Get after replace = %q, want %q", got, tc.value+"2")
			}
			if err := db.Del(tc.family, tc.key); err != nil {
				t.Fatalf("Del: %v", err)
			}
			if err := db.Del(tc.family, tc.key); !errors.Is(err, ErrNotFound) {
				t.Fatalf("second Del: err = %v, want ErrNotFound", err)
			}
			if _, err := db.Get(tc.family, tc.key); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Get after Del: err = %v, want ErrNotFound", err)
			}
		})
	}
}

func TestDurabilitySettings(t *testing.T) {
	db, _ := openTemp(t)
	var sync int
	var mode string
	if err := db.w.QueryRow(`PRAGMA synchronous`).Scan(&sync); err != nil || sync != 2 {
		t.Errorf("writer synchronous = %d, %v; want 2 (FULL)", sync, err)
	}
	if err := db.w.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("writer journal_mode = %q, %v; want wal", mode, err)
	}
	var ms int
	if err := db.w.QueryRow(`PRAGMA busy_timeout`).Scan(&ms); err != nil || ms != busyTimeoutMS {
		t.Errorf("writer busy_timeout = %d, %v", ms, err)
	}
	// The read pool cannot write.
	if _, err := db.r.Exec(`INSERT INTO astdb VALUES ('/x/y', 'z')`); err == nil {
		t.Errorf("read pool accepted an INSERT")
	}
}

func TestPersistenceAndLayout(t *testing.T) {
	db, path := openTemp(t)
	mustPut(t, db,
		"SIP", "Registry/100", "reg-data",
		"cidname", "5551234", "Alice\n\"A\"",
		"uni", "ключ", "☎",
	)
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := db.Get("SIP", "Registry/100"); err == nil {
		t.Fatalf("Get after Close succeeded")
	}

	// The file is Asterisk's layout: table astdb, key "/family/key".
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	var schema string
	if err := raw.QueryRow(`SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'astdb'`).Scan(&schema); err != nil {
		t.Fatalf("schema: %v", err)
	}
	if want := "CREATE TABLE astdb(key VARCHAR(256), value VARCHAR(256), PRIMARY KEY(key))"; schema != want {
		t.Errorf("schema = %q, want %q", schema, want)
	}
	var v string
	if err := raw.QueryRow(`SELECT value FROM astdb WHERE key = '/SIP/Registry/100'`).Scan(&v); err != nil || v != "reg-data" {
		t.Errorf("raw read = %q, %v", v, err)
	}
	// A row written by someone else (Asterisk) is visible after reopening.
	if _, err := raw.Exec(`INSERT INTO astdb (key, value) VALUES ('/dnd/200', 'YES')`); err != nil {
		t.Fatal(err)
	}
	var mode string
	if err := raw.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	raw.Close()

	db2, err := Open(path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db2.Close()
	got, err := db2.Show("", "")
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{
		{"/SIP/Registry/100", "reg-data"},
		{"/cidname/5551234", "Alice\n\"A\""},
		{"/dnd/200", "YES"},
		{"/uni/ключ", "☎"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after reopen Show = %q, want %q", got, want)
	}
}

func TestOpenAwkwardPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a dir?with#odd%20chars&x=1")
	db, err := Open(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	mustPut(t, db, "f", "k", "v")
	db.Close()
	if _, err := os.Stat(filepath.Join(dir, FileName)); err != nil {
		t.Fatalf("file not where asked: %v", err)
	}
	if _, err := Open(""); err == nil {
		t.Errorf("Open(\"\") succeeded")
	}
}

// seed is a data set whose families contain LIKE wildcards and prefixes of each other.
func seed(t testing.TB, db *DB) {
	mustPut(t, db,
		"fam", "a", "1",
		"fam", "b/c", "2",
		"fam", "b/d", "3",
		"fam", "bc", "4",
		"fam_x", "a", "5",
		"famAx", "a", "6",
		"fa%", "a", "7",
		"fabulous", "a", "8",
		"fam!", "a", "9",
		"fam0", "a", "10",
		"Fam", "a", "11",
		"other", "a", "12",
	)
}

func keys(es []Entry) []string {
	out := []string{}
	for _, e := range es {
		out = append(out, e.Key)
	}
	return out
}

func TestShow(t *testing.T) {
	db, _ := openTemp(t)
	seed(t, db)
	// "/fam" itself is a key Asterisk's prefix match includes.
	if _, err := db.w.Exec(`INSERT INTO astdb VALUES ('/fam', 'bare')`); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		family, keytree string
		want            []string
	}{
		{"", "", []string{"/Fam/a", "/fa%/a", "/fabulous/a", "/fam", "/fam!/a", "/fam/a", "/fam/b/c", "/fam/b/d", "/fam/bc", "/fam0/a", "/famAx/a", "/fam_x/a", "/other/a"}},
		{"", "ignored", []string{"/Fam/a", "/fa%/a", "/fabulous/a", "/fam", "/fam!/a", "/fam/a", "/fam/b/c", "/fam/b/d", "/fam/bc", "/fam0/a", "/famAx/a", "/fam_x/a", "/other/a"}},
		{"fam", "", []string{"/fam", "/fam/a", "/fam/b/c", "/fam/b/d", "/fam/bc"}},
		{"fam", "b", []string{"/fam/b/c", "/fam/b/d"}},
		{"fam/b", "", []string{"/fam/b/c", "/fam/b/d"}},
		{"fam", "b/c", []string{"/fam/b/c"}},
		{"fam", "zzz", []string{}},
		{"fam_x", "", []string{"/fam_x/a"}},
		{"fa%", "", []string{"/fa%/a"}},
		{"fa_", "", []string{}},
		{"f%", "", []string{}},
		{"FAM", "", []string{}},
		{"fam!", "", []string{"/fam!/a"}},
		{"nosuch", "", []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.family+"|"+tc.keytree, func(t *testing.T) {
			got, err := db.Show(tc.family, tc.keytree)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(keys(got), tc.want) {
				t.Errorf("Show(%q, %q) = %q, want %q", tc.family, tc.keytree, keys(got), tc.want)
			}
		})
	}
}

func TestFamilyShowKeyFamilies(t *testing.T) {
	db, _ := openTemp(t)
	seed(t, db)
	got, err := db.Family("fam")
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{{"a", "1"}, {"b/c", "2"}, {"b/d", "3"}, {"bc", "4"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Family(fam) = %q, want %q", got, want)
	}
	if got, _ := db.Family("fa_"); len(got) != 0 {
		t.Errorf("Family(fa_) = %q, want nothing", got)
	}
	if _, err := db.Family(""); !errors.Is(err, ErrNoFamily) {
		t.Errorf("Family(\"\") err = %v", err)
	}

	sk, err := db.ShowKey("a")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/Fam/a", "/fa%/a", "/fabulous/a", "/fam!/a", "/fam/a", "/fam0/a", "/famAx/a", "/fam_x/a", "/other/a"}; !reflect.DeepEqual(keys(sk), want) {
		t.Errorf("ShowKey(a) = %q, want %q", keys(sk), want)
	}
	sk, _ = db.ShowKey("b/c")
	if want := []string{"/fam/b/c"}; !reflect.DeepEqual(keys(sk), want) {
		t.Errorf("ShowKey(b/c) = %q, want %q", keys(sk), want)
	}
	sk, _ = db.ShowKey("_")
	if len(sk) != 0 {
		t.Errorf("ShowKey(_) = %q, want nothing", keys(sk))
	}

	fams, err := db.Families()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"Fam", "fa%", "fabulous", "fam", "fam!", "fam0", "famAx", "fam_x", "other"}; !reflect.DeepEqual(fams, want) {
		t.Errorf("Families = %q, want %q", fams, want)
	}
}

func TestDelTree(t *testing.T) {
	tests := []struct {
		family, keytree string
		n               int
		left            []string // families (or keys under fam) that must survive
	}{
		{"fam", "", 4, []string{"/Fam/a", "/fa%/a", "/fabulous/a", "/fam!/a", "/fam0/a", "/famAx/a", "/fam_x/a", "/other/a"}},
		{"fam", "b", 2, []string{"/Fam/a", "/fa%/a", "/fabulous/a", "/fam!/a", "/fam/a", "/fam/bc", "/fam0/a", "/famAx/a", "/fam_x/a", "/other/a"}},
		{"fam/b", "", 2, []string{"/Fam/a", "/fa%/a", "/fabulous/a", "/fam!/a", "/fam/a", "/fam/bc", "/fam0/a", "/famAx/a", "/fam_x/a", "/other/a"}},
		{"fam_x", "", 1, []string{"/Fam/a", "/fa%/a", "/fabulous/a", "/fam!/a", "/fam/a", "/fam/b/c", "/fam/b/d", "/fam/bc", "/fam0/a", "/famAx/a", "/other/a"}},
		{"fa%", "", 1, []string{"/Fam/a", "/fabulous/a", "/fam!/a", "/fam/a", "/fam/b/c", "/fam/b/d", "/fam/bc", "/fam0/a", "/famAx/a", "/fam_x/a", "/other/a"}},
		{"fa_", "", 0, nil},
		{"%", "", 0, nil},
		{"fam", "nosuch", 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.family+"|"+tc.keytree, func(t *testing.T) {
			db, _ := openTemp(t)
			seed(t, db)
			before, _ := db.Show("", "")
			n, err := db.DelTree(tc.family, tc.keytree)
			if err != nil || n != tc.n {
				t.Fatalf("DelTree(%q, %q) = %d, %v; want %d", tc.family, tc.keytree, n, err, tc.n)
			}
			after, _ := db.Show("", "")
			want := tc.left
			if want == nil {
				want = keys(before)
			}
			if !reflect.DeepEqual(keys(after), want) {
				t.Errorf("left %q, want %q", keys(after), want)
			}
		})
	}
	db, _ := openTemp(t)
	seed(t, db)
	if _, err := db.DelTree("", ""); !errors.Is(err, ErrNoFamily) {
		t.Errorf("DelTree(\"\", \"\") err = %v, want ErrNoFamily", err)
	}
	if all, _ := db.Show("", ""); len(all) != 12 {
		t.Errorf("DelTree without family removed entries: %d left", len(all))
	}
}

func TestQueryReadOnly(t *testing.T) {
	db, _ := openTemp(t)
	seed(t, db)
	ctx := context.Background()
	cols, rows, err := db.Query(ctx, "SELECT key, value, NULL AS n FROM astdb WHERE key LIKE '/other/%'")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cols, []string{"key", "value", "n"}) || len(rows) != 1 ||
		rows[0][0].String != "/other/a" || rows[0][1].String != "12" || rows[0][2].Valid {
		t.Errorf("Query = %q %v", cols, rows)
	}
	if _, _, err := db.Query(ctx, "  -- comment\n /* c */ SELECT count(*) FROM astdb"); err != nil {
		t.Errorf("commented SELECT: %v", err)
	}
	if _, _, err := db.Query(ctx, "WITH t(x) AS (SELECT 1) SELECT x FROM t"); err != nil {
		t.Errorf("WITH ... SELECT: %v", err)
	}
	refused := []string{
		"DELETE FROM astdb",
		"UPDATE astdb SET value = 'x'",
		"INSERT INTO astdb VALUES ('/a/b', 'c')",
		"DROP TABLE astdb",
		"PRAGMA query_only = 0",
		"ATTACH 'x.db' AS x",
		"",
		"selectx",
	}
	for _, q := range refused {
		if _, _, err := db.Query(ctx, q); !errors.Is(err, ErrNotSelect) {
			t.Errorf("Query(%q) err = %v, want ErrNotSelect", q, err)
		}
	}
	// Statements that pass the keyword check but would write are stopped by the read-only
	// connection.
	sneaky := []string{
		"SELECT 1; DELETE FROM astdb",
		"SELECT 1; PRAGMA query_only = 0; DELETE FROM astdb",
		"SELECT 1; ATTACH 'evil.db' AS e; CREATE TABLE e.t(x)",
		"WITH x AS (SELECT 1) DELETE FROM astdb",
		"SELECT 1; DROP TABLE astdb",
	}
	for _, q := range sneaky {
		if _, _, err := db.Query(ctx, q); err == nil {
			t.Errorf("Query(%q) succeeded", q)
		}
	}
	if all, _ := db.Show("", ""); len(all) != 12 {
		t.Errorf("a query wrote: %d entries left", len(all))
	}
	if _, err := os.Stat("evil.db"); err == nil {
		os.Remove("evil.db")
		t.Errorf("ATTACH created a file")
	}
}

func TestConcurrent(t *testing.T) {
	db, path := openTemp(t)
	const workers, ops = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers*3)
	for w := range workers {
		wg.Add(3)
		fam := fmt.Sprintf("w%d", w)
		go func() { // writer
			defer wg.Done()
			for i := range ops {
				if err := db.Put(fam, fmt.Sprint(i), fmt.Sprint(i*i)); err != nil {
					errs <- err
					return
				}
			}
		}()
		go func() { // reader
			defer wg.Done()
			for i := range ops {
				v, err := db.Get(fam, fmt.Sprint(i))
				if err != nil && !errors.Is(err, ErrNotFound) {
					errs <- err
					return
				}
				if err == nil && v != fmt.Sprint(i*i) {
					errs <- fmt.Errorf("Get(%s, %d) = %q", fam, i, v)
					return
				}
				if _, err := db.Show(fam, ""); err != nil {
					errs <- err
					return
				}
			}
		}()
		go func() { // shared family: put, del, deltree races
			defer wg.Done()
			for i := range ops {
				k := fmt.Sprintf("%d-%d", w, i)
				if err := db.Put("shared", k, "x"); err != nil {
					errs <- err
					return
				}
				if err := db.Del("shared", k); err != nil {
					errs <- err
					return
				}
				if _, err := db.DelTree("shared", "nothing-here"); err != nil {
					errs <- err
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
	db.Close()

	db2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	for w := range workers {
		es, err := db2.Family(fmt.Sprintf("w%d", w))
		if err != nil || len(es) != ops {
			t.Errorf("family w%d: %d entries, %v; want %d", w, len(es), err, ops)
		}
	}
	if es, _ := db2.Family("shared"); len(es) != 0 {
		t.Errorf("shared family left %d entries", len(es))
	}
}

// TestTwoHandles checks that two DBs (as two processes would) on one file see each other's
// writes.
func TestTwoHandles(t *testing.T) {
	db1, path := openTemp(t)
	db2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	var wg sync.WaitGroup
	for i, db := range []*DB{db1, db2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 30 {
				if err := db.Put("f", fmt.Sprintf("%d-%d", i, j), "v"); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, db := range []*DB{db1, db2} {
		if es, _ := db.Family("f"); len(es) != 60 {
			t.Errorf("saw %d entries, want 60", len(es))
		}
	}
}

func TestFirstWord(t *testing.T) {
	for q, want := range map[string]string{
		"select 1":               "SELECT",
		"  \n\tSeLeCt*":          "SELECT",
		"(select 1)":             "SELECT",
		"-- x\nselect":           "SELECT",
		"/* a */ /*b*/select":    "SELECT",
		"-- only a comment":      "",
		"/* unterminated select": "",
		"delete from x":          "DELETE",
	} {
		if got := firstWord(q); got != want {
			t.Errorf("firstWord(%q) = %q, want %q", q, got, want)
		}
	}
}

func BenchmarkGet(b *testing.B) {
	db, _ := openTemp(b)
	for i := range 1000 {
		mustPut(b, db, "bench", fmt.Sprint(i), "some value")
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := db.Get("bench", fmt.Sprint(i%1000)); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

func BenchmarkGetSerial(b *testing.B) {
	db, _ := openTemp(b)
	for i := range 1000 {
		mustPut(b, db, "bench", fmt.Sprint(i), "some value")
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := db.Get("bench", fmt.Sprint(i%1000)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPut(b *testing.B) {
	db, _ := openTemp(b)
	b.ResetTimer()
	for i := range b.N {
		if err := db.Put("bench", fmt.Sprint(i%1000), "some value"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkShowFamily(b *testing.B) {
	db, _ := openTemp(b)
	for i := range 100 {
		mustPut(b, db, "bench", fmt.Sprint(i), "some value", "other", fmt.Sprint(i), "x")
	}
	b.ResetTimer()
	for range b.N {
		if es, err := db.Show("bench", ""); err != nil || len(es) != 100 {
			b.Fatal(len(es), err)
		}
	}
}
