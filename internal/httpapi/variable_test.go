package httpapi

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// fakeVars refuses the functions named in escalating, as the dialplan does for HTTP users.
type fakeVars struct {
	mu   sync.Mutex
	vars map[string]string
}

func (f *fakeVars) escalates(name string) error {
	if strings.HasPrefix(name, "REALTIME") {
		return fmt.Errorf("%w: %s", ErrForbidden, name)
	}
	return nil
}

func (f *fakeVars) GetVar(name string) (string, error) {
	if err := f.escalates(name); err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.vars[name], nil
}

func (f *fakeVars) SetVar(name, value string) error {
	if err := f.escalates(name); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.vars[name] = value
	return nil
}

// ARI's /asterisk/variable: globals and functions through Deps.Variables; a refusal of the
// dialplan is 403; a read_only user may read, not write.
func TestAsteriskVariable(t *testing.T) {
	fv := &fakeVars{vars: map[string]string{}}
	f := newFixture(t, fixtureOpts{deps: func(d *Deps) { d.Variables = fv }})
	f.expect(t, "POST", "/ari/asterisk/variable?variable=FOO&value=bar", admin, 204, nil)
	var v map[string]string
	f.expect(t, "GET", "/ari/asterisk/variable?variable=FOO", viewer, 200, &v)
	if v["value"] != "bar" {
		t.Errorf("value %q", v)
	}
	var e errorBody
	f.expect(t, "GET", "/ari/asterisk/variable", viewer, 400, &e)
	if e.Message != "Variable name is required" {
		t.Errorf("400: %q", e.Message)
	}
	f.expect(t, "POST", "/ari/asterisk/variable?variable=FOO&value=x", viewer, 403, nil)
	f.expect(t, "GET", "/ari/asterisk/variable?variable=REALTIME(sippeers,name,carol)", admin, 403, &e)
	if !strings.Contains(e.Message, "escalates privileges") {
		t.Errorf("403: %q", e.Message)
	}
	f.expect(t, "POST", "/ari/asterisk/variable?variable=REALTIME_STORE(manager,name)&value=evil", admin, 403, nil)

	g := newFixture(t, fixtureOpts{})
	g.expect(t, "GET", "/ari/asterisk/variable?variable=FOO", admin, 503, nil)
}
