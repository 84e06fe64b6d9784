package sqlite_test

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/realtime/realtimetest"
	"github.com/pleiades-pbx/pleiades/internal/realtime/sqlite"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// driverConf builds a res_config_sqlite3.conf with one [name] section per pair.
func driverConf(kv ...string) *conf.Config {
	cfg := &conf.Config{File: "res_config_sqlite3.conf"}
	var cat *conf.Category
	for i := 0; i < len(kv); i += 2 {
		if kv[i] == "[" {
			cat = &conf.Category{Name: kv[i+1], File: cfg.File, Line: i + 1}
			cfg.Categories = append(cfg.Categories, cat)
			continue
		}
		cat.Vars = append(cat.Vars, &conf.Variable{Name: kv[i], Value: kv[i+1], File: cfg.File, Line: i + 1})
	}
	return cfg
}

func newDriver(t testing.TB, path string) *sqlite.Driver {
	t.Helper()
	d := sqlite.New(quietLog())
	if err := d.Configure(context.Background(), driverConf("[", "asterisk", "dbfile", path)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestConformance(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rt.sqlite3")
	d := newDriver(t, path)
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	realtimetest.Run(t, realtimetest.Backend{
		Driver:  d,
		DB:      "asterisk",
		Dialect: "sqlite",
		Exec: func(t testing.TB, q string) {
			t.Helper()
			if _, err := raw.Exec(q); err != nil {
				t.Fatalf("%v\n%s", err, q)
			}
		},
	})
}
