package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/devstate"
	"github.com/pleiades-pbx/pleiades/internal/eid"
	"github.com/pleiades-pbx/pleiades/internal/event"
	"github.com/pleiades-pbx/pleiades/internal/hint"
	"github.com/pleiades-pbx/pleiades/internal/mwi"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

var (
	localEID  = eid.EID{2, 0, 0, 0, 0, 0x0a}
	remoteEID = eid.EID{2, 0, 0, 0, 0, 0x0b}
)

const testHTTPConf = `
[general]
enabled = yes
bindaddr = 127.0.0.1
bindport = 0
`

const testARIConf = `
[general]
enabled = yes

[admin]
type = user
password = secret

[viewer]
type = user
password = look
read_only = yes
`

// fakeCluster is a Cluster with settable members.
type fakeCluster struct {
	mu      sync.Mutex
	members []Member
	cbs     []func(MemberEvent)
}

func (c *fakeCluster) Members() []Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Member(nil), c.members...)
}

func (c *fakeCluster) OnMembershipChange(f func(MemberEvent)) func() {
	c.mu.Lock()
	c.cbs = append(c.cbs, f)
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		c.cbs = nil
		c.mu.Unlock()
	}
}

func (c *fakeCluster) change(ev MemberEvent) {
	c.mu.Lock()
	cbs := append([](func(MemberEvent)){}, c.cbs...)
	switch ev.Change {
	case "joined":
		c.members = append(c.members, ev.Member)
	case "left":
		for i, m := range c.members {
			if m.EID == ev.Member.EID {
				c.members = append(c.members[:i:i], c.members[i+1:]...)
				break
			}
		}
	}
	c.mu.Unlock()
	for _, f := range cbs {
		f(ev)
	}
}

type fixture struct {
	bus     *event.Bus
	ds      *devstate.Engine
	mwi     *mwi.Engine
	hints   *hint.Engine
	rt      *realtime.Engine
	cluster *fakeCluster
	srv     *Server
	base    string // http://127.0.0.1:port
}

type fixtureOpts struct {
	httpConf, ariConf string
	deps              func(*Deps)
	before            func(*Server) // before Start
	log               *slog.Logger
}

func parseConf(t testing.TB, name, text string) *conf.Config {
	t.Helper()
	c, err := conf.Parse(name, []byte(text), conf.Options{})
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return c
}

func newFixture(t testing.TB, o fixtureOpts) *fixture {
	t.Helper()
	if o.httpConf == "" {
		o.httpConf = testHTTPConf
	}
	if o.ariConf == "" {
		o.ariConf = testARIConf
	}
	bus := event.NewBus(nil, localEID)
	ds, err := devstate.New(nil, bus, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := mwi.New(nil, bus, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := hint.New(nil, bus, ds, "extensions.conf", "realtime")
	rt := realtime.New(nil)
	fc := &fakeCluster{members: []Member{
		{Name: "alpha", EID: localEID, Address: "127.0.0.1:6222", State: "up", LastHeartbeat: time.Now(), Self: true},
		{Name: "beta", EID: remoteEID, Address: "127.0.0.2:6222", State: "up", Site: "paris", SiteLink: "up", LastHeartbeat: time.Now().Add(-time.Second)},
	}}
	deps := Deps{Bus: bus, DevState: ds, MWI: m, Hints: h, Realtime: rt, Cluster: fc, Version: "test"}
	if o.deps != nil {
		o.deps(&deps)
	}
	srv := New(o.log, deps)
	if err := srv.Configure(parseConf(t, "http.conf", o.httpConf), parseConf(t, "ari.conf", o.ariConf)); err != nil {
		t.Fatal(err)
	}
	if o.before != nil {
		o.before(srv)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Close()
		h.Close()
		m.Close()
		ds.Close()
		bus.Close()
		rt.Close()
	})
	return &fixture{bus: bus, ds: ds, mwi: m, hints: h, rt: rt, cluster: fc, srv: srv, base: "http://" + srv.Addr()}
}

func (f *fixture) idle(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.bus.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
}

// do sends a request as user:password ("" for none) and returns status and body.
func (f *fixture) do(t testing.TB, method, path, auth string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, f.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		u, p, _ := strings.Cut(auth, ":")
		req.SetBasicAuth(u, p)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// expect checks status and decodes the JSON body into v (when v is not nil).
func (f *fixture) expect(t testing.TB, method, path, auth string, status int, v any) string {
	t.Helper()
	got, body, _ := f.do(t, method, path, auth)
	if got != status {
		t.Fatalf("%s %s: status %d, want %d; body %s", method, path, got, status, body)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(body), v); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, body)
		}
	}
	return body
}

const admin = "admin:secret"
const viewer = "viewer:look"

// testLog collects what the server logs.
type testLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *testLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *testLog) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.Level(-100)}))
}
