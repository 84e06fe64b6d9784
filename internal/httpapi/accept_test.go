package httpapi

import (
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/pleiades-pbx/pleiades/internal/netaccept/netaccepttest"
)

// Injected accept errors (EMFILE): the listener keeps serving once they pass, and they are
// logged once, not once each.
func TestAcceptErrorsRetriedAndLogged(t *testing.T) {
	logs := &testLog{}
	f := newFixture(t, fixtureOpts{log: logs.logger(), before: func(s *Server) {
		s.wrapListener = func(ln net.Listener) net.Listener { return netaccepttest.Failing(ln, 8) }
	}})
	resp, err := http.Get(f.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	out := logs.String()
	if strings.Count(out, "HTTP accept error on") != 1 || !strings.Contains(out, "too many open files") ||
		!strings.Contains(out, "HTTP accepts connections again") {
		t.Errorf("logs:\n%s", out)
	}
}
