package mwi

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pleiades-pbx/pleiades/internal/astdb"
	"github.com/pleiades-pbx/pleiades/internal/event"
)

// start runs an engine on a fresh bus over db, as a server start does.
func start(t *testing.T, db *astdb.DB, log *slog.Logger) (*event.Bus, *Engine) {
	t.Helper()
	bus := event.NewBus(nil, serverA)
	e, err := New(log, bus, db)
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.WaitIdle(context.Background()); err != nil {
		t.Fatal(err)
	}
	return bus, e
}

func stop(bus *event.Bus, e *Engine) {
	e.Close()
	bus.Close()
}

func TestCountsSurviveARestart(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	db, err := astdb.Open(filepath.Join(t.TempDir(), astdb.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	bus, e := start(t, db, nil)
	e.now = func() time.Time { return t0 }
	e.Update("100", 2, 5, 0)
	e.Update("200@other", 1, 0, 3)
	e.Update("300", 9, 9, 9)
	if _, err := e.Delete("300"); err != nil {
		t.Fatal(err)
	}
	stop(bus, e) // writes what is pending
	if v, err := db.Get(Family, "100@default"); err != nil || !strings.HasPrefix(v, `{"msgs_new":"2","msgs_old":"5","pleiades_updated":"2026-11-25T12:00:00Z"}`) {
		t.Fatalf("astdb value %q %v", v, err)
	}

	bus, e = start(t, db, nil)
	for mb, want := range map[string]State{
		"100@default": {Mailbox: "100@default", New: 2, Old: 5, EID: serverA, Local: true, Time: t0},
		"200@other":   {Mailbox: "200@other", New: 1, Urgent: 3, EID: serverA, Local: true, Time: t0.Add(time.Nanosecond)},
	} {
		if got, ok := e.Get(mb); !ok || got != want {
			t.Errorf("%s after restart: %+v %v, want %+v", mb, got, ok, want)
		}
	}
	if _, ok := e.Get("300"); ok {
		t.Error("a deleted mailbox came back")
	}
	// A newer update from another server still wins over the restored counts, and a
	// local update after the restart is newer than every restored one.
	bus.Publish(event.MWI{Mailbox: "100@default", New: 7, Time: t0.Add(time.Second), EID: serverB})
	e.Update("200@other", 4, 4, 4)
	bus.WaitIdle(context.Background())
	if got, _ := e.Get("100"); got.New != 7 || got.EID != serverB {
		t.Errorf("newer remote update lost to the restored one: %+v", got)
	}
	if got, _ := e.Get("200@other"); got.New != 4 || !got.Time.After(t0) {
		t.Errorf("update after restart: %+v", got)
	}
	stop(bus, e)
}

func TestRestoreReadsAsterisksLayout(t *testing.T) {
	db, err := astdb.Open(filepath.Join(t.TempDir(), astdb.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for k, v := range map[string]string{
		"1000":         `{"msgs_new":"3","msgs_old":"1"}`, // res_mwi_external's own
		"1001@sales":   `{"msgs_new":4}`,                  // numbers, a field missing
		"1002@default": `not json`,
		"1003@default": `{"msgs_new":"-1"}`,
		"1004@default": `{"msgs_new":"2","extra":"x"}`,
		"@nobox":       `{"msgs_new":"1"}`,
	} {
		db.Put(Family, k, v)
	}
	var logs bytes.Buffer
	bus, e := start(t, db, slog.New(slog.NewTextHandler(&logs, nil)))
	defer stop(bus, e)
	var got []string
	for _, s := range e.Mailboxes() {
		got = append(got, s.Mailbox)
		if !s.Local {
			t.Errorf("%s is not this server's", s.Mailbox)
		}
	}
	if strings.Join(got, " ") != "1000@default 1001@sales 1004@default" {
		t.Errorf("restored %v", got)
	}
	if s, _ := e.Get("1000"); s.New != 3 || s.Old != 1 {
		t.Errorf("1000: %+v", s)
	}
	if s, _ := e.Get("1001@sales"); s.New != 4 || s.Old != 0 {
		t.Errorf("1001@sales: %+v", s)
	}
	for _, w := range []string{"1002@default", "1003@default"} {
		if !strings.Contains(logs.String(), "Mailbox '"+w+"' in astdb family mwi_external/mailboxes has invalid counts") {
			t.Errorf("no warning for %s:\n%s", w, logs.String())
		}
	}
}
