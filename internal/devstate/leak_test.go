package devstate

import (
	"path/filepath"
	"testing"

	"go.uber.org/goleak"

	"github.com/pleiades-pbx/pleiades/internal/astdb"
	"github.com/pleiades-pbx/pleiades/internal/eid"
	"github.com/pleiades-pbx/pleiades/internal/event"
)

// TestCloseLeavesNoGoroutine: the astdb writer and the subscription end with Close.
func TestCloseLeavesNoGoroutine(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	db, err := astdb.Open(filepath.Join(t.TempDir(), "astdb.sqlite3"))
	if err != nil {
		t.Fatal(err)
	}
	bus := event.NewBus(nil, eid.EID{2, 0, 0, 0, 0, 1})
	e, err := New(nil, bus, db)
	if err != nil {
		t.Fatal(err)
	}
	e.SetCustom("Custom:a", "INUSE")
	e.Close()
	bus.Close()
	if v, err := db.Get(CustomFamily, "a"); err != nil || v != "INUSE" {
		t.Errorf("astdb after Close: %q %v", v, err)
	}
	db.Close()
}
