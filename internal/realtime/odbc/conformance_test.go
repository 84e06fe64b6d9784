package odbc

import (
	"fmt"
	"testing"

	"github.com/pleiades-pbx/pleiades/internal/realtime/realtimetest"
)

// TestConformance runs the shared realtime suite through both ODBC drivers.
func TestConformance(t *testing.T) {
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			s := newScratch(t, tg)
			d := newDriver(t, fmt.Sprintf("[asterisk]\nconnstr => %s\nmax_connections => 8\nlogging => yes\n", confEscape(s.connStr)))
			realtimetest.Run(t, realtimetest.Backend{
				Driver:  d,
				DB:      "asterisk",
				Dialect: tg.dialect,
				Exec:    s.exec,
			})
		})
	}
}
