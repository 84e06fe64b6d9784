package pgsql

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

// HasConnection (extconfig.conf's check of a mapping): the database field is ignored, so any
// name reaches the one connection once res_pgsql.conf is loaded, and none without it.
func TestHasConnection(t *testing.T) {
	d := New(nil)
	ctx := context.Background()
	if err := d.Configure(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if d.HasConnection("asterisk") {
		t.Error("no res_pgsql.conf, but a connection")
	}
	if err := d.Configure(ctx, realtimetest.Conf(ConfigFile, "[general]\ndbname=pbx\n")); err != nil {
		t.Fatal(err)
	}
	if !d.HasConnection("asterisk") || !d.HasConnection("pbx") {
		t.Error("res_pgsql.conf loaded, but no connection")
	}
	d.Close()
}
