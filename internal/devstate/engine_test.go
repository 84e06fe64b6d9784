package devstate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/test/golden"

	"github.com/pleiades-pbx/pleiades/internal/astdb"
	"github.com/pleiades-pbx/pleiades/internal/cli"
	"github.com/pleiades-pbx/pleiades/internal/eid"
	"github.com/pleiades-pbx/pleiades/internal/event"
	"github.com/pleiades-pbx/pleiades/internal/logger"
	"github.com/pleiades-pbx/pleiades/internal/state"
)

var (
	serverA = eid.EID{2, 0, 0, 0, 0, 0x0a} // this server
	serverB = eid.EID{2, 0, 0, 0, 0, 0x0b}
	serverC = eid.EID{2, 0, 0, 0, 0, 0x0c}
)

// logBuf is a slog handler that keeps messages (every level, debug 10 included).
type logBuf struct {
	mu    sync.Mutex
	lines []string
}

func (l *logBuf) Enabled(context.Context, slog.Level) bool { return true }
func (l *logBuf) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf("%d %s", r.Level, r.Message))
	l.mu.Unlock()
	return nil
}
func (l *logBuf) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logBuf) WithGroup(string) slog.Handler      { return l }
func (l *logBuf) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

type changes struct {
	mu  sync.Mutex
	evs []event.DeviceStateChange
}

func (c *changes) handle(ev event.Event) {
	c.mu.Lock()
	c.evs = append(c.evs, ev.(event.DeviceStateChange))
	c.mu.Unlock()
}

func (c *changes) take() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var parts []string
	for _, e := range c.evs {
		parts = append(parts, e.Device+"="+e.State.String())
	}
	c.evs = nil
	return strings.Join(parts, " ")
}

type fixture struct {
	t   *testing.T
	bus *event.Bus
	eng *Engine
	log *logBuf
	ch  *changes
}

func newFixture(t *testing.T, db *astdb.DB) *fixture {
	t.Helper()
	f := &fixture{t: t, bus: event.NewBus(nil, serverA), log: &logBuf{}, ch: &changes{}}
	f.bus.Subscribe("test", event.KindDeviceStateChange, f.ch.handle)
	var err error
	f.eng, err = New(slog.New(f.log), f.bus, db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.eng.Close()
		f.bus.Close()
	})
	return f
}

func (f *fixture) idle() {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.bus.WaitIdle(ctx); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) remote(from eid.EID, device string, s state.Device) {
	f.bus.Publish(event.DeviceState{Device: device, State: s, EID: from})
}

// The cross-server table of the spec's reference run: A is this server, B another.
func TestClusterAggregation(t *testing.T) {
	for _, c := range []struct {
		a, b state.Device
		want state.Device
		ext  string
	}{
		{state.InUse, state.NotInUse, state.InUse, "InUse"},
		{state.Ringing, state.InUse, state.RingInUse, "InUse&Ringing"},
		{state.OnHold, state.NotInUse, state.OnHold, "Hold"},
		{state.Busy, state.InUse, state.Busy, "Busy"},
		{state.Unavailable, state.NotInUse, state.NotInUse, "Idle"},
		{state.Unavailable, state.Unavailable, state.Unavailable, "Unavailable"},
		{state.Invalid, state.NotInUse, state.NotInUse, "Idle"},
		// The reference run shows NOT_INUSE here: Asterisk 22 refuses to set UNKNOWN (both the
		// CLI and DEVICE_STATE() reject the value), so the earlier state stayed. The rule itself
		// gives UNKNOWN, which a hint shows as Idle all the same.
		{state.Unknown, state.Unknown, state.Unknown, "Idle"},
		{state.Ringing, state.NotInUse, state.Ringing, "Ringing"},
		{state.OnHold, state.InUse, state.InUse, "InUse"},
		{state.OnHold, state.Ringing, state.RingInUse, "InUse&Ringing"},
	} {
		f := newFixture(t, nil)
		if err := f.eng.Set("Custom:mystate", c.a); err != nil {
			t.Fatal(err)
		}
		f.remote(serverB, "Custom:mystate", c.b)
		f.idle()
		got := f.eng.State("Custom:mystate")
		if got != c.want || got.Extension().String() != c.ext {
			t.Errorf("A %v + B %v = %v / %v, want %v / %s", c.a, c.b, got, got.Extension(), c.want, c.ext)
		}
	}
}

func TestChangeOnlyWhenAggregateChanges(t *testing.T) {
	f := newFixture(t, nil)
	f.eng.Set("SIP/alice", state.NotInUse)
	f.idle()
	if got := f.ch.take(); got != "SIP/alice=NOT_INUSE" {
		t.Fatalf("first state: %q", got)
	}
	f.remote(serverB, "SIP/alice", state.Unavailable) // NOT_INUSE still wins
	f.remote(serverC, "SIP/alice", state.NotInUse)
	f.eng.Set("SIP/alice", state.NotInUse) // repeated
	f.idle()
	if got := f.ch.take(); got != "" {
		t.Fatalf("changes without an aggregate change: %q", got)
	}
	f.remote(serverB, "SIP/alice", state.InUse)
	f.idle()
	f.remote(serverC, "SIP/alice", state.Ringing)
	f.idle()
	f.eng.Set("SIP/alice", state.Busy) // still RINGINUSE
	f.idle()
	if got := f.ch.take(); got != "SIP/alice=INUSE SIP/alice=RINGINUSE" {
		t.Fatalf("changes %q", got)
	}
	per := f.eng.PerEID("SIP/alice")
	if len(per) != 3 || !per[0].Local || per[0].State != state.Busy || per[1].EID != serverB || per[2].EID != serverC {
		t.Fatalf("PerEID = %+v", per)
	}
}

// A server leaves: its states are purged and the aggregates recomputed, so a crashed server's
// INUSE does not stay lit.
func TestPurgeRecomputes(t *testing.T) {
	f := newFixture(t, nil)
	f.eng.Set("Custom:mystate", state.NotInUse)
	f.remote(serverB, "Custom:mystate", state.InUse)
	f.remote(serverB, "Custom:onlyb", state.InUse)
	f.remote(serverB, "SIP/bob", state.Ringing)
	f.idle()
	if s := f.eng.State("Custom:mystate"); s != state.InUse {
		t.Fatalf("before purge: %v", s)
	}
	f.ch.take()
	counts := f.bus.Purge(serverB)
	if counts[event.KindDeviceState] != 3 {
		t.Fatalf("purged %v", counts)
	}
	f.idle()
	if s := f.eng.State("Custom:mystate"); s != state.NotInUse {
		t.Errorf("after purge: %v", s)
	}
	// Nobody has a state for these any more: the provider answers (Custom: never set here ->
	// UNKNOWN, a hint shows Idle); SIP/ has no provider on this server -> INVALID.
	if s := f.eng.State("Custom:onlyb"); s != state.Unknown {
		t.Errorf("Custom:onlyb after purge: %v", s)
	}
	if s := f.eng.State("SIP/bob"); s != state.Invalid {
		t.Errorf("SIP/bob after purge: %v", s)
	}
	got := strings.Fields(f.ch.take())
	want := map[string]bool{"Custom:mystate=NOT_INUSE": true, "Custom:onlyb=UNKNOWN": true, "SIP/bob=INVALID": true}
	if len(got) != 3 {
		t.Fatalf("changes after purge: %v", got)
	}
	for _, g := range got {
		if !want[g] {
			t.Errorf("unexpected change %s", g)
		}
	}
	// Coming back: the device is announced again.
	f.remote(serverB, "Custom:onlyb", state.Busy)
	f.idle()
	if got := f.ch.take(); got != "Custom:onlyb=BUSY" {
		t.Errorf("after return: %q", got)
	}
}

func TestProvidersAndUnknownDevices(t *testing.T) {
	f := newFixture(t, nil)
	if s := f.eng.State("Custom:never"); s != state.Unknown {
		t.Errorf("never-set Custom: %v", s)
	}
	if s := f.eng.State("custom:never"); s != state.Unknown {
		t.Errorf("never-set custom: %v", s)
	}
	for _, d := range []string{"SIP/alice", "Nope:x", "plainname", ""} {
		if s := f.eng.State(d); s != state.Invalid {
			t.Errorf("%q without provider: %v", d, s)
		}
	}
	asked := ""
	if err := f.eng.RegisterProvider("SIP/", ProviderFunc(func(d string) state.Device { asked = d; return state.Unavailable })); err != nil {
		t.Fatal(err)
	}
	if err := f.eng.RegisterProvider("sip/", ProviderFunc(func(string) state.Device { return state.Busy })); err == nil {
		t.Error("second provider for SIP/ accepted")
	}
	for _, bad := range []string{"", "SIP", "a/b/", "Custom"} {
		if err := f.eng.RegisterProvider(bad, ProviderFunc(func(string) state.Device { return state.Busy })); err == nil {
			t.Errorf("prefix %q accepted", bad)
		}
	}
	if s := f.eng.State("SIP/alice"); s != state.Unavailable || asked != "SIP/alice" {
		t.Errorf("provider: %v (asked %q)", s, asked)
	}
	// A cached state beats the provider.
	f.eng.Set("SIP/alice", state.InUse)
	if s := f.eng.State("SIP/alice"); s != state.InUse {
		t.Errorf("cached: %v", s)
	}
	f.eng.UnregisterProvider("SIP/")
	if s := f.eng.State("SIP/carol"); s != state.Invalid {
		t.Errorf("after unregister: %v", s)
	}
	if err := f.eng.Set("", state.InUse); err == nil {
		t.Error("Set of empty device accepted")
	}
	if err := f.eng.Set("SIP/x", state.Device(9)); err == nil {
		t.Error("Set of invalid state accepted")
	}
	f.eng.Set("SIP/gone", state.InUse)
	if !f.eng.Forget("SIP/gone") || f.eng.State("SIP/gone") != state.Invalid {
		t.Error("Forget")
	}
}

func TestSetCustom(t *testing.T) {
	f := newFixture(t, nil)
	if err := f.eng.SetCustom("SIP/alice", "INUSE"); err != ErrNotCustom {
		t.Errorf("non-Custom: %v", err)
	}
	if err := f.eng.SetCustom("Custom:", "INUSE"); err != ErrNoCustomName {
		t.Errorf("empty name: %v", err)
	}
	if err := f.eng.SetCustom("custom:lamp", "busy"); err != nil {
		t.Fatal(err)
	}
	if s := f.eng.State("Custom:lamp"); s != state.Busy {
		t.Errorf("Custom:lamp = %v", s)
	}
	if err := f.eng.SetCustom("Custom:lamp", "sparkly"); err != nil {
		t.Fatal(err)
	}
	if s := f.eng.State("Custom:lamp"); s != state.Unknown {
		t.Errorf("after bad value: %v", s)
	}
	if !strings.Contains(f.log.text(), "DEVICE_STATE function given invalid state value 'sparkly' for 'Custom:lamp': setting UNKNOWN") {
		t.Errorf("no warning logged:\n%s", f.log.text())
	}
}

// Custom states survive a restart: stored in astdb, published again as this server's state.
func TestCustomPersistence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "astdb.sqlite3")
	db, err := astdb.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, db)
	f.eng.SetCustom("Custom:mystate", "INUSE")
	f.eng.SetCustom("Custom:lamp", "RINGING")
	f.idle()
	f.eng.Close()
	f.bus.Close()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = astdb.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, err := db.Get(CustomFamily, "mystate"); err != nil || v != "INUSE" {
		t.Fatalf("astdb has %q, %v", v, err)
	}
	g := newFixture(t, db)
	g.idle()
	if s := g.eng.State("Custom:mystate"); s != state.InUse {
		t.Errorf("restored Custom:mystate = %v", s)
	}
	per := g.eng.PerEID("Custom:lamp")
	if len(per) != 1 || !per[0].Local || per[0].State != state.Ringing {
		t.Errorf("restored lamp: %+v", per)
	}
	// What the cluster sends a joining server includes them.
	if d := g.bus.Dump(event.KindDeviceState, serverA); len(d) != 2 {
		t.Errorf("Dump = %v", d)
	}
	if got := g.ch.take(); got != "Custom:lamp=RINGING Custom:mystate=INUSE" && got != "Custom:mystate=INUSE Custom:lamp=RINGING" {
		t.Errorf("changes at start: %q", got)
	}
}

// With debug on, each aggregation names which server contributed which state.
func TestDebugLogNamesContributions(t *testing.T) {
	f := newFixture(t, nil)
	f.eng.Set("Custom:mystate", state.InUse)
	f.idle()
	f.remote(serverB, "Custom:mystate", state.NotInUse)
	f.idle()
	text := f.log.text()
	lvl := int(logger.DebugLevel(1))
	for _, want := range []string{
		fmt.Sprintf("%d Adding per-server state of 'In use' for '02:00:00:00:00:0a'", lvl),
		fmt.Sprintf("%d Adding per-server state of 'Not in use' for '02:00:00:00:00:0b'", lvl),
		fmt.Sprintf("%d Aggregate devstate result is 'In use' for 'Custom:mystate'", lvl),
		fmt.Sprintf("%d Aggregate state for device 'Custom:mystate' has changed to 'In use'", lvl),
	} {
		if !strings.Contains(text, want) {
			t.Errorf("log lacks %q:\n%s", want, text)
		}
	}
	if strings.Count(text, "has changed to") != 1 {
		t.Errorf("change logged more than once:\n%s", text)
	}
}

// gated keeps what a handler lets through, asking Pleiades' logger whether a level is wanted.
type gated struct {
	logBuf
	h slog.Handler
}

func (g *gated) Enabled(ctx context.Context, l slog.Level) bool { return g.h.Enabled(ctx, l) }

// The debug lines are produced only at core set debug >= 1.
func TestDebugLevelGate(t *testing.T) {
	lg := logger.New()
	g := &gated{h: lg.Handler()}
	bus := event.NewBus(nil, serverA)
	defer bus.Close()
	eng, err := New(slog.New(g), bus, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	ctx := context.Background()
	eng.Set("Custom:x", state.InUse)
	bus.WaitIdle(ctx)
	if txt := g.text(); txt != "" {
		t.Fatalf("debug lines at debug 0: %q", txt)
	}
	lg.SetDebug(1)
	eng.Set("Custom:x", state.Busy)
	bus.WaitIdle(ctx)
	if txt := g.text(); !strings.Contains(txt, "Aggregate state for device 'Custom:x' has changed to 'Busy'") {
		t.Fatalf("no debug lines at debug 1: %q", txt)
	}
}

func TestCLIGolden(t *testing.T) {
	db, err := astdb.Open(filepath.Join(t.TempDir(), "astdb.sqlite3"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	f := newFixture(t, db)
	r := cli.NewRegistry()
	r.MustRegister(f.eng.Commands()...)
	var out bytes.Buffer
	run := func(line string) {
		fmt.Fprintf(&out, "> %s\n", line)
		err := r.Run(context.Background(), line, &out, nil)
		fmt.Fprintf(&out, "[err: %v]\n", err)
		f.idle()
	}
	run("devstate list")
	run("devstate change Custom:mystate INUSE")
	run("devstate change custom:lamp ringing")
	run("devstate change SIP/alice INUSE")
	run("devstate change Custom:mystate SPARKLY")
	run("devstate change Custom:mystate")
	run("devstate list")
	f.remote(serverB, "Custom:mystate", state.NotInUse)
	f.remote(serverC, "Custom:mystate", state.Ringing)
	f.idle()
	run("devstate show Custom:mystate")
	run("devstate show Custom:nothing")
	run("devstate show SIP/nobody")
	f.eng.Set("MWI:100@default", state.InUse) // as package mwi does
	f.idle()
	run("devstate show MWI:100@default")
	run("devstate show MWI:200@default")
	golden.Check(t, "cli.golden", out.String())

	if got := r.Complete("devstate change Custom:m"); fmt.Sprint(got) != "[Custom:mystate]" {
		t.Errorf("complete device: %v", got)
	}
	if got := r.Complete("devstate change Custom:mystate RING"); fmt.Sprint(got) != "[RINGING RINGINUSE]" {
		t.Errorf("complete state: %v", got)
	}
}

// DeleteCustom removes what SetCustom stored: the astdb entry goes (so it does not come back
// at the next start), and this server's state with it.
func TestDeleteCustom(t *testing.T) {
	path := filepath.Join(t.TempDir(), "astdb.sqlite3")
	db, err := astdb.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	f := newFixture(t, db)
	f.eng.SetCustom("Custom:gone", "INUSE")
	f.eng.SetCustom("Custom:kept", "BUSY")
	f.idle()
	if err := f.eng.DeleteCustom("custom:gone"); err != nil {
		t.Fatal(err)
	}
	if err := f.eng.DeleteCustom("SIP/x"); !errors.Is(err, ErrNotCustom) {
		t.Errorf("DeleteCustom(SIP/x) = %v", err)
	}
	f.idle()
	if s := f.eng.State("Custom:gone"); s != state.Unknown {
		t.Errorf("after delete: %v", s)
	}
	if per := f.eng.PerEID("Custom:gone"); len(per) != 0 {
		t.Errorf("this server still has a state: %+v", per)
	}
	cs, _ := f.eng.CustomStates()
	if len(cs) != 1 || cs[0].Name != "kept" {
		t.Errorf("CustomStates = %+v", cs)
	}
	f.eng.Close()
	if _, err := db.Get(CustomFamily, "gone"); !errors.Is(err, astdb.ErrNotFound) {
		t.Errorf("astdb still has it: %v", err)
	}
	if v, _ := db.Get(CustomFamily, "kept"); v != "BUSY" {
		t.Errorf("kept = %q", v)
	}
}
