package pgsql

import (
	"errors"
	"testing"

	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

func TestQuerier(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	var q realtime.Querier = e.drv
	if _, err := q.Exec(ctx, e.db, "CREATE TABLE q (id INTEGER, name TEXT)"); err != nil {
		t.Fatal(err)
	}
	n, err := q.Exec(ctx, e.db, "INSERT INTO q VALUES (1, 'a;b'), (2, NULL), ($1, $2)", 3, "c")
	if err != nil || n != 3 {
		t.Fatalf("insert: %d %v", n, err)
	}
	cols, rows, err := q.Query(ctx, e.db, "SELECT id, name FROM q WHERE id >= $1 ORDER BY id", 0, "1")
	if err != nil {
		t.Fatal(err)
	}
	if len(cols) != 2 || cols[1] != "name" || len(rows) != 3 || *rows[0][1] != "a;b" || rows[1][1] != nil || *rows[2][0] != "3" {
		t.Fatalf("cols %v rows %d", cols, len(rows))
	}
	if _, rows, _ := q.Query(ctx, "", "SELECT id FROM q", 1); len(rows) != 1 {
		t.Errorf("maxRows 1: %d rows", len(rows))
	}
	if _, _, err := q.Query(ctx, e.db, "SELECT nosuch FROM q", 0); err == nil || errors.Is(err, realtime.ErrUnavailable) {
		t.Errorf("SQL error: %v", err)
	}
	if !q.HasDatabase("general") || !q.HasDatabase(e.db) || q.HasDatabase("other") {
		t.Error("HasDatabase")
	}
}
