package adaptive

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/pleiades-pbx/pleiades/internal/conf"
)

// fakeQ answers the column query with cols and records the INSERTs.
type fakeQ struct {
	cols    []string
	queries int
	execs   []string
	fail    bool
}

func (f *fakeQ) Query(_ context.Context, db, sql string, _ int, _ ...any) ([]string, [][]*string, error) {
	f.queries++
	if db != "conn" || sql != `SELECT * FROM "s"."t" WHERE 1=0` {
		return nil, nil, fmt.Errorf("unexpected %s %s", db, sql)
	}
	return f.cols, nil, nil
}

func (f *fakeQ) Exec(_ context.Context, _ string, sql string, args ...any) (int64, error) {
	if f.fail {
		return 0, errors.New("gone")
	}
	f.execs = append(f.execs, fmt.Sprintf("%s %q", sql, args))
	return 1, nil
}

func section(t *testing.T, text string) (*Writer, conf.ErrorList) {
	t.Helper()
	cfg, err := conf.Parse("x.conf", []byte(text), conf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var extra string
	w, errs := ParseSection("mod", cfg.Category("s1"), func(v *conf.Variable) (bool, string) {
		if v.Name == "extra" {
			extra = v.Value
			if v.Value == "bad" {
				return true, "extra: bad value"
			}
			return true, ""
		}
		return false, ""
	})
	if extra == "" && len(errs) == 0 {
		t.Fatal("the module's own key was not offered")
	}
	return w, errs
}

// A row fills the columns the table has: a static value, a field under its alias (its own
// column left out), the others by name; identifiers quoted, $n placeholders for pgsql; a
// failed INSERT makes the next one read the columns again.
func TestInsert(t *testing.T) {
	w, errs := section(t, "[s1]\nconnection=conn\ntable=t\nschema=s\nquoted_identifiers=\"\nextra=1\nalias src => source\n"+
		"static \"n1\" => node\nfilter dst != 9\n")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if w.Name() != "mod:s1" || len(w.Filters) != 1 || !w.Filters[0].Negate || w.Filters[0].Field != "dst" {
		t.Fatalf("%+v", w)
	}
	q := &fakeQ{cols: []string{"id", "source", "src", "dst", "node"}}
	w.Q, w.Dollar = q, true
	fields := map[string]string{"src": "100", "dst": "200"}
	value := func(f string) (string, bool) { v, ok := fields[f]; return v, ok }
	if err := w.Insert(t.Context(), value); err != nil {
		t.Fatal(err)
	}
	want := `INSERT INTO "s"."t" ("source","dst","node") VALUES ($1,$2,$3) ["100" "200" "n1"]`
	if len(q.execs) != 1 || q.execs[0] != want {
		t.Fatalf("execs %q\nwant %q", q.execs, want)
	}
	q.fail = true
	if err := w.Insert(t.Context(), value); err == nil || !strings.HasPrefix(err.Error(), "mod: [s1]: gone") {
		t.Fatalf("error %v", err)
	}
	q.fail = false
	w.Insert(t.Context(), value)
	if q.queries != 2 {
		t.Fatalf("columns read %d times, want 2 (again after the failure)", q.queries)
	}
}

func TestParseSectionErrors(t *testing.T) {
	_, errs := section(t, "[s1]\nstatic nope => col\nfilter  => x\nextra=bad\nbogus=1\nalias => c\n")
	got := errs.Error()
	for _, want := range []string{"x.conf:2: static needs a quoted value", "x.conf:3: filter needs a field", "x.conf:4: extra: bad value",
		"x.conf:5: unknown option \"bogus\"", "x.conf:6: alias needs a field"} {
		if !strings.Contains(got, want) {
			t.Errorf("errors %s\nlack %q", got, want)
		}
	}
}
