package funcs

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/devstate"
	"github.com/pleiades-pbx/pleiades/internal/dialplan"
	"github.com/pleiades-pbx/pleiades/internal/eid"
	"github.com/pleiades-pbx/pleiades/internal/event"
	"github.com/pleiades-pbx/pleiades/internal/hint"
	"github.com/pleiades-pbx/pleiades/internal/mwi"
	"github.com/pleiades-pbx/pleiades/internal/state"
)

type stateFixture struct {
	bus  *event.Bus
	ds   *devstate.Engine
	dp   *dialplan.Engine
	logs *bytes.Buffer // written by the dialplan engine, only on the goroutine running a channel
}

func newStateFixture(t *testing.T) *stateFixture {
	t.Helper()
	logs := &bytes.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	bus := event.NewBus(nil, eid.EID{2, 0, 0, 0, 0, 1})
	ds, err := devstate.New(nil, bus, nil)
	if err != nil {
		t.Fatal(err)
	}
	hints := hint.New(nil, bus, ds)
	mb, err := mwi.New(nil, bus, nil)
	if err != nil {
		t.Fatal(err)
	}
	dp := dialplan.New(log, nil)
	Register(dp, ds, hints, mb)
	t.Cleanup(func() { dp.Close(); hints.Close(); mb.Close(); ds.Close(); bus.Close() })
	return &stateFixture{bus, ds, dp, logs}
}

func (f *stateFixture) idle(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.bus.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
}

// DEVICE_STATE(Custom:x)=value accepts Asterisk's state names (ast_devstate_val, any case) and
// refuses everything else, UNKNOWN included, leaving the state as it was.
func TestDeviceStateWrite(t *testing.T) {
	f := newStateFixture(t)
	ch := f.dp.NewChannel("AMI/test", "default", "s", 1)
	ctx := context.Background()
	for _, tc := range []struct {
		value string
		want  state.Device // the state afterwards
		ok    bool
	}{
		{"INUSE", state.InUse, true},
		{"bogus", state.InUse, false},
		{"UNKNOWN", state.InUse, false},
		{"unknown", state.InUse, false},
		{"", state.InUse, false},
		{"not_inuse", state.NotInUse, true},
		{"BUSY", state.Busy, true},
		{"INVALID", state.Invalid, true},
		{"UNAVAILABLE", state.Unavailable, true},
		{"RINGING", state.Ringing, true},
		{"RINGINUSE", state.RingInUse, true},
		{"ONHOLD", state.OnHold, true},
		{"INUSE!", state.OnHold, false},
	} {
		err := ch.WriteFunction(ctx, "DEVICE_STATE(Custom:lamp)", tc.value)
		if (err == nil) != tc.ok {
			t.Errorf("write %q: err = %v, want ok %v", tc.value, err, tc.ok)
		}
		if !tc.ok && err != nil && err.Error() != "DEVICE_STATE function given invalid state value '"+tc.value+"'" {
			t.Errorf("write %q: message %q", tc.value, err)
		}
		f.idle(t)
		if got := f.ds.State("Custom:lamp"); got != tc.want {
			t.Errorf("after %q: state %s, want %s", tc.value, got, tc.want)
		}
	}
	// The device checks come first, as in func_devstate.
	if err := ch.WriteFunction(ctx, "DEVICE_STATE(SIP/alice)", "bogus"); err != devstate.ErrNotCustom {
		t.Errorf("SIP/alice: %v", err)
	}
	if err := ch.WriteFunction(ctx, "DEVICE_STATE(Custom:)", "bogus"); err != devstate.ErrNoCustomName {
		t.Errorf("Custom: %v", err)
	}
}

// Set(DEVICE_STATE(Custom:x)=bogus) in the dialplan logs Asterisk's ERROR, changes nothing
// and the call goes on.
func TestDeviceStateSetInDialplan(t *testing.T) {
	f := newStateFixture(t)
	cfg := "[t]\nexten => s,1,Set(DEVICE_STATE(Custom:lamp)=BUSY)\n" +
		" same => n,Set(DEVICE_STATE(Custom:lamp)=sparkly)\n" +
		" same => n,Set(DEVICE_STATE(Custom:lamp)=UNKNOWN)\n" +
		" same => n,Set(AFTER=${DEVICE_STATE(Custom:lamp)})\n"
	if err := f.dp.Load(mustParse(t, cfg)); err != nil {
		t.Fatal(err)
	}
	ch := dialplan.NewChannel("Local/s@t-1;2", "t", "s", 1)
	if err := f.dp.Run(context.Background(), ch); err != nil {
		t.Fatal(err)
	}
	if v, _ := ch.Var("AFTER"); v != "BUSY" {
		t.Errorf("AFTER = %q, want BUSY", v)
	}
	for _, v := range []string{"sparkly", "UNKNOWN"} {
		if !strings.Contains(f.logs.String(), "DEVICE_STATE function given invalid state value '"+v+"'") {
			t.Errorf("no ERROR for %q in:\n%s", v, f.logs)
		}
	}
}

func mustParse(t *testing.T, text string) *conf.Config {
	t.Helper()
	cfg, err := conf.Parse("extensions.conf", []byte(text), conf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
