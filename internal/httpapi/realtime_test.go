package httpapi

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
	"github.com/pleiades-pbx/pleiades/internal/realtime/sqlite"
)

// POST /api/realtime/invalidate/{family}[/{key}] is "realtime invalidate" for an ARI user
// with write access; the mappings show whether each family is live or TTL-only.
func TestRealtimeInvalidate(t *testing.T) {
	rt := realtime.New(nil)
	rt.Register(sqlite.New(nil))
	db := filepath.Join(t.TempDir(), "rt.sqlite3")
	drv := fmt.Sprintf("[pleiades]\ndbfile=%s\n", db)
	ext, err := conf.Parse("extconfig.conf", []byte("[settings]\nsippeers => sqlite3,pleiades,sippeers\n"), conf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlite.CreateDefaultSchema(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	if err := rt.Configure(context.Background(), ext, func(file string) (*conf.Config, error) {
		if file == "res_config_sqlite3.conf" {
			return conf.Parse(file, []byte(drv), conf.Options{})
		}
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	var mu sync.Mutex
	var got []string
	rt.Subscribe("", func(c realtime.Change) {
		mu.Lock()
		got = append(got, c.Family+"|"+c.Key+"|"+c.Source)
		mu.Unlock()
	})
	f := newFixture(t, fixtureOpts{deps: func(d *Deps) { d.Realtime = rt }})
	f.expect(t, "POST", "/api/realtime/invalidate/sippeers/alice", admin, 204, nil)
	f.expect(t, "POST", "/api/realtime/invalidate/sippeers", admin, 204, nil)
	f.expect(t, "POST", "/api/realtime/invalidate/voicemail/100@default", admin, 404, nil)
	f.expect(t, "POST", "/api/realtime/invalidate/sippeers/bob", viewer, 403, nil)
	mu.Lock()
	if !slices.Equal(got, []string{"sippeers|alice|local", "sippeers||local"}) {
		t.Errorf("changes: %q", got)
	}
	mu.Unlock()
	var rm RealtimeMappings
	f.expect(t, "GET", "/api/realtime/mappings", viewer, 200, &rm)
	if len(rm.Status) != 1 || rm.Status[0].Changes != "ttl" || rm.Status[0].Invalidations != 2 {
		t.Errorf("status: %+v", rm.Status)
	}
}
