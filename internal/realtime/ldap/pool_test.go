package ldap

import (
	"context"
	"errors"
	"testing"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
	"github.com/pleiades-pbx/pleiades/internal/realtime/ldap/ldaptest"
)

// TestReloadRetiresPool: a reload closes the old pool's idle connections, and one in use then
// is closed when it comes back instead of being kept where nobody takes it.
func TestReloadRetiresPool(t *testing.T) {
	srv := ldaptest.Start(t)
	text := "[_general]\nurl = " + srv.URL + "\nbasedn = " + ldaptest.Suffix + "\n[sip]\nname = cn\n"
	cfg, err := conf.Parse(ConfigFile, []byte(text), conf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := New(nil)
	ctx := context.Background()
	if err := d.Configure(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Load(ctx, "", "sip", []realtime.Field{{Name: "name", Value: "x"}}); !errors.Is(err, realtime.ErrNotFound) {
		t.Fatal(err)
	}
	old := d.st.Load().pool
	idle, err := old.get(ctx) // the connection the Load left idle
	if err != nil {
		t.Fatal(err)
	}
	inUse, err := old.get(ctx) // a second one, dialed
	if err != nil {
		t.Fatal(err)
	}
	old.put(idle, false)
	if err := d.Configure(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if !idle.IsClosing() {
		t.Error("idle connection of the retired pool still open")
	}
	old.put(inUse, false)
	if !inUse.IsClosing() || len(old.idle) != 0 {
		t.Errorf("connection in use at the reload kept open (idle %d)", len(old.idle))
	}
}
