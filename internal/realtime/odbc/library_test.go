package odbc

import (
	"context"
	"testing"

	"github.com/pleiades-pbx/pleiades/internal/realtime/odbc/unixodbc"
	"github.com/pleiades-pbx/pleiades/internal/realtime/realtimetest"
)

// TestLibraryMissingFailsLoad: without unixODBC's library, a res_odbc.conf with a connection
// fails to load with one line naming the library and the Debian package; without connections
// nothing needs the library.
func TestLibraryMissingFailsLoad(t *testing.T) {
	t.Setenv(unixodbc.LibraryEnv, "libodbc-pleiades-missing.so.9")
	d := New(testLogger())
	defer d.Close()
	err := d.Configure(context.Background(), realtimetest.Conf("res_odbc.conf", "[asterisk]\ndsn => asterisk\n"))
	want := "odbc: libodbc-pleiades-missing.so.9 not found (install Debian package unixodbc)"
	if err == nil || err.Error() != want {
		t.Fatalf("Configure = %v, want %q", err, want)
	}
	if d.HasDatabase("asterisk") {
		t.Error("the connection was configured anyway")
	}
	if err := d.Configure(context.Background(), realtimetest.Conf("res_odbc.conf", "[asterisk]\nenabled => no\ndsn => asterisk\n")); err != nil {
		t.Errorf("Configure without enabled connections = %v", err)
	}
}
