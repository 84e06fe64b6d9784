package core

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pleiades-pbx/pleiades/internal/logger"
	"github.com/pleiades-pbx/pleiades/internal/state"
)

// TestStateModulesOwnTheirGoroutines loads the modules of the state core (astdb, realtime,
// state, cluster, dialplan with its hint poller) as Start does, cancels the context they were
// loaded with (it bounds start-up only: everything keeps running), uses them, and unloads
// them: no goroutine may be left.
func TestStateModulesOwnTheirGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	etc := filepath.Join(dir, "etc")
	os.MkdirAll(etc, 0o755)
	os.WriteFile(filepath.Join(etc, "asterisk.conf"), fmt.Appendf(nil, `[directories]
astetcdir => %[1]s/etc
astvarlibdir => %[1]s/lib
astdbdir => %[1]s/lib
astrundir => %[1]s/run
astlogdir => %[1]s/log
astspooldir => %[1]s/spool
[options]
entityid = 02:00:00:00:00:44
`, dir), 0o644)
	os.WriteFile(filepath.Join(etc, "extensions.conf"), []byte("[phones]\nexten => 100,hint,Custom:a\n[main]\ninclude => phones\nswitch => Realtime/phones@extensions\n"), 0o644)
	st, err := LoadSettings(filepath.Join(etc, "asterisk.conf"), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{st.Dirs.Run, st.Dirs.Log, st.Dirs.DB, st.Dirs.VarLib, st.Dirs.Spool} {
		os.MkdirAll(d, 0o755)
	}
	lg := logger.New()
	defer lg.Close()
	s := New(st, lg)
	ctx, cancel := context.WithCancel(context.Background())
	for _, m := range []Module{&astdbModule{}, &realtimeModule{}, &stateModule{}, &clusterModule{}, &dialplanModule{}} {
		if err := m.Load(ctx, s); err != nil {
			t.Fatalf("%s: %v", m.Name(), err)
		}
		s.loaded = append(s.loaded, m)
	}
	cancel()
	if err := s.DevState.SetCustom("Custom:a", "INUSE"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if h, ok := s.Hints.Resolve("100", "main"); ok && h.State == state.ExtInUse {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the state core stopped with the load context")
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.Unload(context.Background())
}
