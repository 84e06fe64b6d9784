package sip

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/pleiades-pbx/pleiades/internal/cli"
	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
	"github.com/pleiades-pbx/pleiades/internal/realtime/sqlite"
	"github.com/pleiades-pbx/pleiades/internal/state"
	"github.com/pleiades-pbx/pleiades/test/sipphone"
)

// ---- fakes of the state engines ----

type fakeDS struct {
	mu     sync.Mutex
	states map[string]string
	hist   []string
}

func newFakeDS() *fakeDS { return &fakeDS{states: map[string]string{}} }

func (f *fakeDS) SetDevice(device string, st state.Device) {
	f.mu.Lock()
	f.states[device] = st.String()
	f.hist = append(f.hist, device+"="+st.String())
	f.mu.Unlock()
}

func (f *fakeDS) get(device string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.states[device]
}

type fakeHints struct {
	mu       sync.Mutex
	states   map[string]state.Extension
	watchers map[string]map[int]func(state.Extension)
	next     int
}

func newFakeHints() *fakeHints {
	return &fakeHints{states: map[string]state.Extension{}, watchers: map[string]map[int]func(state.Extension){}}
}

func (h *fakeHints) Lookup(exten, ctx string) (HintInfo, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	st, ok := h.states[exten+"@"+ctx]
	return HintInfo{Exten: exten, Context: ctx, State: st}, ok
}

func (h *fakeHints) Watch(exten, ctx string, fn func(state.Extension)) func() {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := exten + "@" + ctx
	if h.watchers[k] == nil {
		h.watchers[k] = map[int]func(state.Extension){}
	}
	h.next++
	id := h.next
	h.watchers[k][id] = fn
	return func() {
		h.mu.Lock()
		delete(h.watchers[k], id)
		h.mu.Unlock()
	}
}

func (h *fakeHints) set(exten, ctx string, st state.Extension) {
	h.mu.Lock()
	k := exten + "@" + ctx
	h.states[k] = st
	var fns []func(state.Extension)
	for _, fn := range h.watchers[k] {
		fns = append(fns, fn)
	}
	h.mu.Unlock()
	for _, fn := range fns {
		fn(st)
	}
}

func (h *fakeHints) watchers_(k string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.watchers[k])
}

type fakeMB struct {
	mu    sync.Mutex
	boxes map[string][3]int
	fns   []func(string, int, int, int)
}

func newFakeMB() *fakeMB { return &fakeMB{boxes: map[string][3]int{}} }

func (m *fakeMB) Get(box string) (int, int, int, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.boxes[box]
	return b[0], b[1], b[2], ok
}

func (m *fakeMB) Watch(fn func(string, int, int, int)) func() {
	m.mu.Lock()
	m.fns = append(m.fns, fn)
	m.mu.Unlock()
	return func() {}
}

func (m *fakeMB) set(box string, n, o, u int) {
	m.mu.Lock()
	m.boxes[box] = [3]int{n, o, u}
	fns := append([]func(string, int, int, int){}, m.fns...)
	m.mu.Unlock()
	for _, fn := range fns {
		fn(box, n, o, u)
	}
}

// ---- log capture ----

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// ---- server under test ----

type env struct {
	t     testing.TB
	s     *Server
	ds    *fakeDS
	hints *fakeHints
	mb    *fakeMB
	rt    *realtime.Engine
	db    string
	log   *logBuf
	addr  string // server UDP address
}

const baseConf = "[general]\nudpbindaddr=127.0.0.1:0\nrealm=pleiades\n"

// newEnv starts a server with sip.conf text conf (its [general] must include baseConf's
// udpbindaddr) and, when withRT, a sqlite realtime engine mapping sippeers.
func newEnv(t testing.TB, sipconf string, withRT bool) *env {
	t.Helper()
	return newEnvWith(t, sipconf, withRT, nil)
}

// newEnvWith is newEnv; before calls before the server starts.
func newEnvWith(t testing.TB, sipconf string, withRT bool, before func(*Server)) *env {
	t.Helper()
	return newEnvSys(t, sipconf, withRT, before, "pbx1")
}

// newEnvSys is newEnvWith for a server given sysname as asterisk.conf's systemname.
func newEnvSys(t testing.TB, sipconf string, withRT bool, before func(*Server), sysname string) *env {
	t.Helper()
	return newEnvFull(t, sipconf, withRT, before, sysname, nil)
}

// newEnvDB is newEnv for a server that keeps registrations in db.
func newEnvDB(t testing.TB, sipconf string, db DB) *env {
	t.Helper()
	return newEnvFull(t, sipconf, false, nil, "pbx1", db)
}

func newEnvFull(t testing.TB, sipconf string, withRT bool, before func(*Server), sysname string, db DB) *env {
	t.Helper()
	lb := &logBuf{}
	level := slog.Level(-100) // everything: verbose, debug and sipgo records
	if _, bench := t.(*testing.B); bench {
		level = slog.LevelWarn
	}
	log := slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: level}))
	e := &env{t: t, ds: newFakeDS(), hints: newFakeHints(), mb: newFakeMB(), log: lb}
	if withRT {
		e.rt, e.db = newRT(t, log)
	}
	e.s = New(log, e.rt, e.ds, e.hints, e.mb, sysname)
	if db != nil {
		e.s.SetDB(db)
	}
	if err := e.s.Configure(parseConf(t, sipconf)); err != nil {
		t.Fatal(err)
	}
	if before != nil {
		before(e.s)
	}
	if err := e.s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.s.Close)
	u, _ := e.s.Addr()
	e.addr = u.String()
	return e
}

func newRT(t testing.TB, log *slog.Logger) (*realtime.Engine, string) {
	t.Helper()
	dir := t.TempDir()
	db := filepath.Join(dir, "rt.sqlite3")
	ctx := context.Background()
	if err := sqlite.CreateDefaultSchema(ctx, db); err != nil {
		t.Fatal(err)
	}
	rt := realtime.New(log)
	rt.Register(sqlite.New(log))
	drv := fmt.Sprintf("[db]\ndbfile => %s\n", db)
	err := rt.Configure(ctx, parseConf(t, "[settings]\nsippeers => sqlite3,db,sippeers\n"), func(file string) (*conf.Config, error) {
		if file == "res_config_sqlite3.conf" {
			return conf.Parse(file, []byte(drv), conf.Options{})
		}
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt, db
}

// breakRT points the sippeers mapping at a database that cannot be opened.
func (e *env) breakRT() {
	e.t.Helper()
	drv := fmt.Sprintf("[db]\ndbfile => %s\n", filepath.Join(e.t.TempDir(), "nodir", "x", "rt.sqlite3"))
	err := e.rt.Configure(context.Background(), parseConf(e.t, "[settings]\nsippeers => sqlite3,db,sippeers\n"), func(file string) (*conf.Config, error) {
		if file == "res_config_sqlite3.conf" {
			return conf.Parse(file, []byte(drv), conf.Options{})
		}
		return nil, nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

func parseConf(t testing.TB, text string) *conf.Config {
	t.Helper()
	cfg, err := conf.Parse("sip.conf", []byte(text), conf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func (e *env) store(fields ...string) {
	e.t.Helper()
	var fs []realtime.Field
	for i := 0; i+1 < len(fields); i += 2 {
		fs = append(fs, realtime.Field{Name: fields[i], Value: fields[i+1]})
	}
	if _, err := e.rt.Store(context.Background(), "sippeers", fs...); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) row(name string) realtime.Row {
	e.t.Helper()
	r, err := e.rt.Load(context.Background(), "sippeers", realtime.Field{Name: "name", Value: name})
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *env) cli(line string) string {
	e.t.Helper()
	var out bytes.Buffer
	words := strings.Fields(line)
	for _, c := range e.s.Commands() {
		if len(words) >= len(c.Words) && strings.Join(words[:len(c.Words)], " ") == c.Name() {
			a := &cli.Args{Line: line, Words: words, Rest: words[len(c.Words):], Out: &out}
			if err := c.Handler(context.Background(), a); err != nil {
				out.WriteString("ERR: " + err.Error())
			}
			return out.String()
		}
	}
	e.t.Fatalf("no command %q", line)
	return ""
}

// waitFor polls cond for up to d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// ---- a SIP phone (test/sipphone) with the shorthands these tests use ----

type phone struct {
	*sipphone.Phone
	t      testing.TB
	port   int
	server string
}

func newPhone(t testing.TB, server string) *phone {
	t.Helper()
	p := sipphone.New(t, server)
	return &phone{Phone: p, t: t, port: p.Port, server: server}
}

// newReq builds a request from user (From) to toUser (To and Request-URI user).
func (ph *phone) newReq(method sip.RequestMethod, user, toUser string) *sip.Request {
	return ph.Request(method, user, toUser)
}

func (ph *phone) do(req *sip.Request) *sip.Response {
	ph.t.Helper()
	return ph.Do(req)
}

// auth answers the challenge in res with a digest for (user, pass), nonce-count nc.
func authorize(t testing.TB, req *sip.Request, res *sip.Response, user, pass string, nc int) {
	t.Helper()
	h := res.GetHeader("WWW-Authenticate")
	if h == nil {
		t.Fatalf("no WWW-Authenticate in %d", res.StatusCode)
	}
	ch, err := digest.ParseChallenge(h.Value())
	if err != nil {
		t.Fatal(err)
	}
	setAuth(t, req, ch, user, pass, nc)
}

func setAuth(t testing.TB, req *sip.Request, ch *digest.Challenge, user, pass string, nc int) {
	t.Helper()
	cred, err := digest.Digest(ch, digest.Options{Method: string(req.Method), URI: req.Recipient.Addr(), Username: user, Password: pass, Count: nc, Cnonce: "0a4f113b"})
	if err != nil {
		t.Fatal(err)
	}
	req.RemoveHeader("Authorization")
	req.AppendHeader(sip.NewHeader("Authorization", cred.String()))
}

// nextReq prepares req to be sent again as a new transaction (new branch, CSeq+1).
func nextReq(req *sip.Request) {
	req.RemoveHeader("Via")
	if c := req.CSeq(); c != nil {
		c.SeqNo++
	}
}

// register does REGISTER with digest; it returns the final response.
func (ph *phone) register(user, pass string, expires int) *sip.Response {
	ph.t.Helper()
	req := ph.newReq(sip.REGISTER, user, user)
	req.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(expires)))
	res := ph.do(req)
	if res.StatusCode != 401 {
		return res
	}
	authorize(ph.t, req, res, user, pass, 1)
	nextReq(req)
	return ph.do(req)
}

func (ph *phone) waitNotify(d time.Duration) *sip.Request {
	ph.t.Helper()
	r, ok := ph.Next(d)
	if !ok {
		ph.t.Fatalf("no NOTIFY within %v", d)
	}
	return r.Req
}

func (ph *phone) noNotify(d time.Duration) {
	ph.t.Helper()
	if r, ok := ph.Next(d); ok {
		ph.t.Fatalf("unexpected NOTIFY:\n%s", r.Req)
	}
}

type ctxT = context.Context

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// rawUA is a caller on a plain UDP socket, whose messages are written out in full.
type rawUA struct {
	t        *testing.T
	conn     net.PacketConn
	srv      *net.UDPAddr
	server   string
	callID   string
	lastCSeq string // the CSeq of the last message read
	last     []byte // the last request read
}

func newRawUA(t *testing.T, server, callID string) *rawUA {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	srv, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		t.Fatal(err)
	}
	return &rawUA{t: t, conn: conn, srv: srv, server: server, callID: callID}
}

// msg is a request of the call to 300 (with toTag: in its dialog).
func (u *rawUA) msg(method, branch, toTag string, cseq int, body string) []byte {
	me := u.conn.LocalAddr().String()
	to := "<sip:300@" + u.server + ">"
	if toTag != "" {
		to += ";tag=" + toTag
	}
	ct := ""
	if body != "" {
		ct = "Content-Type: application/sdp\r\n"
	}
	return fmt.Appendf(nil, "%s sip:300@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=%s;rport\r\nMax-Forwards: 70\r\n"+
		"From: <sip:alice@%s>;tag=a1\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d %s\r\nContact: <sip:alice@%s>\r\n%s"+
		"Content-Length: %d\r\n\r\n%s", method, u.server, me, branch, u.server, to, u.callID, cseq, method, me, ct, len(body), body)
}

// reply answers the last request read (its Via, From, To, Call-ID and CSeq copied).
func (u *rawUA) reply(code int, reason string) []byte {
	b := fmt.Appendf(nil, "SIP/2.0 %d %s\r\n", code, reason)
	for _, l := range strings.Split(string(u.last), "\r\n") {
		for _, h := range []string{"Via:", "From:", "To:", "Call-ID:", "CSeq:"} {
			if strings.HasPrefix(l, h) {
				b = append(append(b, l...), "\r\n"...)
			}
		}
	}
	return append(b, "Content-Length: 0\r\n\r\n"...)
}

func (u *rawUA) send(b []byte) {
	u.t.Helper()
	if _, err := u.conn.WriteTo(b, u.srv); err != nil {
		u.t.Fatal(err)
	}
}

// read returns the start line and To tag of the next message (ok=false after d).
func (u *rawUA) read(d time.Duration) (start, toTag string, ok bool) {
	buf := make([]byte, 65535)
	_ = u.conn.SetReadDeadline(time.Now().Add(d))
	n, _, err := u.conn.ReadFrom(buf)
	if err != nil {
		return "", "", false
	}
	b := buf[:n]
	start, _, _ = strings.Cut(string(b), "\r\n")
	if !strings.HasPrefix(start, "SIP/2.0 ") {
		u.last = b
	}
	for _, l := range strings.Split(string(b), "\r\n") {
		if v, ok := strings.CutPrefix(l, "To: "); ok {
			_, toTag, _ = strings.Cut(v, ";tag=")
		}
		if v, ok := strings.CutPrefix(l, "CSeq: "); ok {
			u.lastCSeq = v
		}
	}
	return start, toTag, true
}

// waitOK reads until the 200 OK to the INVITE and returns its To tag.
func (u *rawUA) waitOK(d time.Duration) string {
	u.t.Helper()
	for deadline := time.Now().Add(d); ; {
		st, tag, ok := u.read(time.Until(deadline))
		if !ok {
			u.t.Fatal("no 200 OK to the INVITE")
		}
		if strings.HasPrefix(st, "SIP/2.0 200") && u.lastCSeq == "1 INVITE" {
			return tag
		}
	}
}

// answerTo reads until the response whose CSeq is cseq and returns its status line ("" if
// none came within d).
func (u *rawUA) answerTo(cseq string, d time.Duration) string {
	for deadline := time.Now().Add(d); ; {
		st, _, ok := u.read(time.Until(deadline))
		if !ok {
			return ""
		}
		if u.lastCSeq == cseq && strings.HasPrefix(st, "SIP/2.0 ") {
			return st
		}
	}
}
