package odbc

import (
	"errors"
	"fmt"
	"testing"

	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

func TestQuerier(t *testing.T) {
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			s := newScratch(t, tg)
			d := newDriver(t, fmt.Sprintf("[asterisk]\nconnstr => %s\nmax_connections => 2\n[down]\nconnstr => Driver=PostgreSQL Unicode\\;Server=127.0.0.1\\;Port=1\\;\nconnect_timeout => 2\n", confEscape(s.connStr)))
			ctx := tctx(t)
			if _, err := d.Exec(ctx, "asterisk", "CREATE TABLE q (id INTEGER, name VARCHAR(20))"); err != nil {
				t.Fatal(err)
			}
			n, err := d.Exec(ctx, "asterisk", "INSERT INTO q (id, name) VALUES (1, 'a'), (2, NULL), (3, 'c,d')")
			if err != nil || n != 3 {
				t.Fatalf("insert: %d %v", n, err)
			}
			cols, rows, err := d.Query(ctx, "asterisk", "SELECT id, name FROM q WHERE id >= ? ORDER BY id", 2, 1)
			if err != nil {
				t.Fatal(err)
			}
			if len(cols) != 2 || len(rows) != 2 || *rows[0][0] != "1" || *rows[0][1] != "a" || rows[1][1] != nil {
				t.Fatalf("cols %v rows %d", cols, len(rows))
			}
			if !d.HasDatabase("asterisk") || !d.HasDatabase("down") || d.HasDatabase("nosuch") {
				t.Error("HasDatabase")
			}
			if _, _, err := d.Query(ctx, "down", "SELECT 1", 0); !errors.Is(err, realtime.ErrUnavailable) {
				t.Errorf("unreachable server: %v, want ErrUnavailable", err)
			}
			if _, _, err := d.Query(ctx, "nosuch", "SELECT 1", 0); !errors.Is(err, realtime.ErrUnknownDatabase) {
				t.Errorf("unknown connection: %v", err)
			}
		})
	}
}
