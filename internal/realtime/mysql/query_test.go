package mysql

import (
	"context"
	"errors"
	"testing"

	"github.com/pleiades-pbx/pleiades/internal/realtime"
	"github.com/pleiades-pbx/pleiades/internal/realtime/realtimetest"
)

func TestQuerier(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	var q realtime.Querier = e.drv
	if _, err := q.Exec(ctx, e.section, "CREATE TABLE q (id INTEGER, name VARCHAR(20))"); err != nil {
		t.Fatal(err)
	}
	n, err := q.Exec(ctx, e.section, "INSERT INTO q VALUES (1, 'a;b'), (2, NULL), (?, ?)", 3, "c")
	if err != nil || n != 3 {
		t.Fatalf("insert: %d %v", n, err)
	}
	cols, rows, err := q.Query(ctx, e.section, "SELECT id, name FROM q WHERE id >= ? ORDER BY id", 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(cols) != 2 || cols[1] != "name" || len(rows) != 3 || *rows[0][1] != "a;b" || rows[1][1] != nil || *rows[2][0] != "3" {
		t.Fatalf("cols %v rows %d", cols, len(rows))
	}
	if _, rows, _ := q.Query(ctx, e.section, "SELECT id FROM q", 2); len(rows) != 2 {
		t.Errorf("maxRows 2: %d rows", len(rows))
	}
	if _, _, err := q.Query(ctx, e.section, "SELECT nosuch FROM q", 0); err == nil || errors.Is(err, realtime.ErrUnavailable) {
		t.Errorf("SQL error: %v", err)
	}
	if _, _, err := q.Query(ctx, "nosuch", "SELECT 1", 0); !errors.Is(err, realtime.ErrUnknownDatabase) {
		t.Errorf("unknown section: %v", err)
	}
	if !q.HasDatabase(e.section) || q.HasDatabase("nosuch") {
		t.Error("HasDatabase")
	}
}

// HasConnection (extconfig.conf's check of a mapping): a section, or both of a read/write pair.
func TestHasConnection(t *testing.T) {
	d := New(nil)
	if err := d.Configure(context.Background(), realtimetest.Conf(ConfigFile, "[r]\ndbname=x\n[w]\ndbname=y\n")); err != nil {
		t.Fatal(err)
	}
	for db, want := range map[string]bool{"r": true, "w": true, "r/w": true, "r/nosuch": false, "asterisk": false} {
		if got := d.HasConnection(db); got != want {
			t.Errorf("HasConnection(%q) = %v", db, got)
		}
	}
}
