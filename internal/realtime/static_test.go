package realtime_test

import (
	"testing"

	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

func TestNeverStatic(t *testing.T) {
	for name, want := range map[string]bool{
		"asterisk.conf":              true,
		"/etc/asterisk/logger.conf":  true,
		"EXTCONFIG.CONF":             true,
		"extensions.conf":            false,
		"sip.conf":                   false,
		"asterisk.conf.d/extra.conf": false,
	} {
		if got := realtime.NeverStatic(name); got != want {
			t.Errorf("NeverStatic(%q) = %v, want %v", name, got, want)
		}
	}
}
