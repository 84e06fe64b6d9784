package sqlite_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

func TestQuerier(t *testing.T) {
	d := newDriver(t, filepath.Join(t.TempDir(), "q.sqlite3"))
	var q realtime.Querier = d
	ctx := context.Background()
	if _, err := q.Exec(ctx, "asterisk", "CREATE TABLE q (id INTEGER, name TEXT, day DATE)"); err != nil {
		t.Fatal(err)
	}
	n, err := q.Exec(ctx, "asterisk", "INSERT INTO q VALUES (1, 'a;b', '2024-01-02'), (2, NULL, NULL), (?, ?, NULL)", 3, "c")
	if err != nil || n != 3 {
		t.Fatalf("insert: %d %v", n, err)
	}
	cols, rows, err := q.Query(ctx, "asterisk", "SELECT id, name, day FROM q ORDER BY id", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(cols) != 3 || cols[1] != "name" || len(rows) != 3 {
		t.Fatalf("cols %v, %d rows", cols, len(rows))
	}
	// Raw: no ^3B decoding; NULL is nil.
	if *rows[0][1] != "a;b" || rows[1][1] != nil || *rows[2][0] != "3" || rows[0][2] == nil {
		t.Errorf("rows %q %v %q", *rows[0][1], rows[1][1], *rows[2][0])
	}
	if _, rows, _ := q.Query(ctx, "asterisk", "SELECT id FROM q", 2); len(rows) != 2 {
		t.Errorf("maxRows 2: %d rows", len(rows))
	}
	if _, _, err := q.Query(ctx, "nosuch", "SELECT 1", 0); !errors.Is(err, realtime.ErrUnknownDatabase) {
		t.Errorf("unknown database: %v", err)
	}
	if _, _, err := q.Query(ctx, "asterisk", "SELECT nosuch FROM q", 0); err == nil || errors.Is(err, realtime.ErrUnavailable) {
		t.Errorf("SQL error: %v", err)
	}
	if !q.HasDatabase("asterisk") || q.HasDatabase("nosuch") {
		t.Error("HasDatabase")
	}
}
