package ami

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/cli"
	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/state"
)

// fakeBackend is a Backend with fixed core settings and in-memory state.
type fakeBackend struct {
	mu        sync.Mutex
	vars      map[string]string
	hints     []ExtState
	devices   map[string]string
	mailboxes map[string]MailboxInfo
	reloads   []string
	originate []OriginateRequest
	invalid   []string // RealtimeInvalidate calls, "family|key"
	srv       *Server  // when set, SetVar on DEVICE_STATE publishes DeviceStateChange
	booted    bool
}

func newFakeBackend() *fakeBackend {
	return &fakeBackend{
		vars:      map[string]string{"GLOBALVAR": "gv"},
		devices:   map[string]string{"Custom:mystate": "NOT_INUSE", "SIP/alice": "INUSE"},
		mailboxes: map[string]MailboxInfo{"100@default": {Mailbox: "100@default", New: 3, Old: 2, Urgent: 1}},
		hints: []ExtState{
			{Exten: "1234", Context: "devstate_test", Hint: "Custom:mystate", Status: state.ExtNotInUse, StatusText: "Idle"},
			{Exten: "_X.", Context: "pattern", Hint: "SIP/x", Status: state.ExtNotInUse, StatusText: "Idle"},
			{Exten: "200", Context: "default", Hint: "SIP/alice", Status: state.ExtInUse, StatusText: "InUse"},
		},
	}
}

var fakeStart = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func (f *fakeBackend) Reload(ctx context.Context, module string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reloads = append(f.reloads, module)
	switch module {
	case "", "manager", "res_pjsip.so":
		return nil
	case "busy":
		return ErrReloadInProgress
	}
	return ErrNoSuchModule
}

func (f *fakeBackend) Settings() CoreInfo {
	return CoreInfo{Version: "Pleiades 0.1.0", SystemName: "", EID: "02:00:00:00:00:0a", MaxCalls: 0,
		RunUser: "pleiades", RunGroup: "pleiades", StartTime: fakeStart, ReloadTime: fakeStart,
		RealtimeEnabled: true, FullyBooted: f.booted}
}

func (f *fakeBackend) ExtensionState(exten, context string) (ExtState, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, h := range f.hints {
		if h.Exten == exten && h.Context == context {
			return h, true
		}
	}
	return ExtState{}, false
}

func (f *fakeBackend) ExtensionStates() []ExtState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]ExtState(nil), f.hints...)
}

func (f *fakeBackend) DeviceStates() []DeviceState {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []DeviceState
	for d, s := range f.devices {
		st, _ := state.ParseDevice(s)
		out = append(out, DeviceState{d, st})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Device < out[j].Device })
	return out
}

func (f *fakeBackend) Mailbox(mb string) (MailboxInfo, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.mailboxes[mb]
	return m, ok
}

func (f *fakeBackend) Mailboxes() []MailboxInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []MailboxInfo
	for _, m := range f.mailboxes {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Mailbox < out[j].Mailbox })
	return out
}

func (f *fakeBackend) MWIUpdate(mb string, n, o, u int) error {
	f.mu.Lock()
	f.mailboxes[mb] = MailboxInfo{Mailbox: mb, New: n, Old: o, Urgent: u}
	srv := f.srv
	f.mu.Unlock()
	if srv != nil {
		srv.Publish(MessageWaitingEvent(mb, n, o))
	}
	return nil
}

func (f *fakeBackend) RealtimeInvalidate(family, key string) error {
	if family != "sippeers" {
		return errors.New("not mapped")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.invalid = append(f.invalid, family+"|"+key)
	return nil
}

func (f *fakeBackend) MWIDelete(mb string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.mailboxes, mb)
	return nil
}

// fakeEscalating are the functions and applications the fake backend treats as escalating,
// as the dialplan marks its own.
var fakeEscalating = []string{"SHELL(", "REALTIME(", "REALTIME_STORE(", "DB(", "SYSTEM(", "EXECIF("}

func fakeEscalates(s string) bool {
	s = strings.ToUpper(s)
	for _, e := range fakeEscalating {
		if strings.Contains(s, e) {
			return true
		}
	}
	return false
}

func (f *fakeBackend) GetVar(name string, privileged bool) (string, error) {
	if !privileged && fakeEscalates(name) {
		return "", ErrForbidden
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if strings.HasPrefix(name, "DEVICE_STATE(") && strings.HasSuffix(name, ")") {
		s, ok := f.devices[name[len("DEVICE_STATE("):len(name)-1]]
		if !ok {
			return "UNKNOWN", nil
		}
		return s, nil
	}
	return f.vars[name], nil
}

func (f *fakeBackend) CheckOriginate(req OriginateRequest) error {
	if !req.Privileged && req.App != "" && fakeEscalates(req.App+"("+req.Data) {
		return ErrForbidden
	}
	return nil
}

func (f *fakeBackend) SetVar(name, value string, privileged bool) error {
	if !privileged && fakeEscalates(name) {
		return ErrForbidden
	}
	if strings.HasPrefix(name, "DEVICE_STATE(") && strings.HasSuffix(name, ")") {
		dev := name[len("DEVICE_STATE(") : len(name)-1]
		if !strings.HasPrefix(dev, "Custom:") {
			return errors.New("only Custom: devices")
		}
		f.mu.Lock()
		f.devices[dev] = value
		srv := f.srv
		f.mu.Unlock()
		if srv != nil {
			st, _ := state.ParseDevice(value)
			srv.Publish(DeviceStateChangeEvent(dev, st))
		}
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.vars[name] = value
	return nil
}

func (f *fakeBackend) Originate(ctx context.Context, req OriginateRequest) (OriginateResult, error) {
	f.mu.Lock()
	f.originate = append(f.originate, req)
	f.mu.Unlock()
	if !strings.HasPrefix(req.Channel, "Local/") {
		return OriginateResult{}, errors.New("unsupported technology")
	}
	// The far end's extension says how the dial ends (a real dialplan's Hangup(), Busy(),
	// Congestion(), or no Answer() within the timeout); anything else answers.
	exten, _, _ := strings.Cut(strings.TrimPrefix(req.Channel, "Local/"), "@")
	if r, ok := map[string]int{"hangup": 0, "noanswer": 3, "busy": 5, "congestion": 8}[exten]; ok {
		return OriginateResult{Reason: r}, fmt.Errorf("%w: %s", ErrNotAnswered, req.Channel)
	}
	return OriginateResult{Channel: req.Channel + "-00000001;1", Uniqueid: "1700000000.1", Reason: 4}, nil
}

type presenceFake struct{ *fakeBackend }

func (p presenceFake) PresenceState(provider string) (string, string, string, bool) {
	if provider == "CustomPresence:bob" {
		return "away", "lunch", "back at 2", true
	}
	return "", "", "", false
}

const testConf = `[general]
enabled = yes
port = 0
bindaddr = 127.0.0.1
displayconnects = yes

[admin]
secret = adminpw
read = all
write = all

[reader]
secret = readerpw
read = call
write = call,reporting

[nobody]
secret = nobodypw
read = system
write = system

[denied]
secret = deniedpw
deny = 0.0.0.0/0.0.0.0
permit = 10.0.0.0/255.0.0.0
read = all
write = all

[filtered]
secret = filteredpw
read = all
write = all
eventfilter = Event: DeviceStateChange
eventfilter = !Device: SIP/
eventfilter(action(include),name(UserEvent)) =

[security]
secret = securitypw
read = security
write = system
`

type testEnv struct {
	srv  *Server
	b    *fakeBackend
	addr string
	reg  *cli.Registry
	logs *logBuffer
}

// logBuffer collects log lines.
type logBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.lines = append(l.lines, string(p))
	l.mu.Unlock()
	return len(p), nil
}

func (l *logBuffer) contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, x := range l.lines {
		if strings.Contains(x, s) {
			return true
		}
	}
	return false
}

func startServer(t testing.TB, confText string, tweak func(*Server)) *testEnv {
	t.Helper()
	cfg, err := conf.Parse("manager.conf", []byte(confText), conf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg := cli.NewRegistry()
	reg.MustRegister(&cli.Command{Words: []string{"test", "echo"}, Summary: "echo",
		Handler: func(ctx context.Context, a *cli.Args) error {
			fmt.Fprintf(a.Out, "line one\n  line two\n")
			return nil
		}})
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.Level(-100)}))
	b := newFakeBackend()
	srv := New(log, reg, nil, b)
	b.srv = srv
	srv.failDelay = 0
	if tweak != nil {
		tweak(srv)
	}
	if err := srv.Configure(cfg); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return &testEnv{srv: srv, b: b, addr: srv.Addr().String(), reg: reg, logs: logs}
}

// client is a minimal AMI client for tests.
type client struct {
	t      testing.TB
	c      net.Conn
	r      *Reader
	banner string
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cl := &client{t: t, c: c}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("banner: %v", err)
	}
	cl.banner = line
	cl.r = &Reader{br: br}
	return cl
}

func (c *client) send(lines ...string) {
	c.t.Helper()
	c.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c.c, strings.Join(lines, "\r\n")+"\r\n\r\n"); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

func (c *client) read() *Packet {
	c.t.Helper()
	c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	p, err := c.r.ReadPacket()
	if p == nil {
		c.t.Fatalf("read: %v", err)
	}
	return p
}

func (c *client) action(lines ...string) *Packet {
	c.t.Helper()
	c.send(lines...)
	return c.read()
}

// readEvent reads packets until one is the event name.
func (c *client) readEvent(name string) *Packet {
	c.t.Helper()
	for {
		p := c.read()
		if p.Get("Event") == name {
			return p
		}
	}
}

func (c *client) login(user, secret string, extra ...string) {
	c.t.Helper()
	p := c.action(append([]string{"Action: Login", "Username: " + user, "Secret: " + secret}, extra...)...)
	if p.Get("Response") != "Success" {
		c.t.Fatalf("login %s: %q", user, p.Lines)
	}
}

// expectClosed waits for the server to close the connection.
func (c *client) expectClosed() {
	c.t.Helper()
	c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, err := c.r.ReadPacket(); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				c.t.Fatalf("connection not closed")
			}
			return
		}
	}
}

func want(t testing.TB, p *Packet, kv ...string) {
	t.Helper()
	for i := 0; i+1 < len(kv); i += 2 {
		if got := p.Get(kv[i]); got != kv[i+1] {
			t.Errorf("%s = %q, want %q (packet %q)", kv[i], got, kv[i+1], p.Lines)
		}
	}
}

type netipAddr = netip.Addr

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
