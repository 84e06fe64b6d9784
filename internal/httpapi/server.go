package httpapi

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/devstate"
	"github.com/pleiades-pbx/pleiades/internal/eid"
	"github.com/pleiades-pbx/pleiades/internal/event"
	"github.com/pleiades-pbx/pleiades/internal/hint"
	"github.com/pleiades-pbx/pleiades/internal/logger"
	"github.com/pleiades-pbx/pleiades/internal/loginlimit"
	"github.com/pleiades-pbx/pleiades/internal/mwi"
	"github.com/pleiades-pbx/pleiades/internal/netaccept"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

// ErrClosed is returned by Start after Close.
var ErrClosed = errors.New("httpapi: server closed")

// Member is one server of the cluster as the cluster layer sees it.
type Member struct {
	Name    string  // node name
	EID     eid.EID // Entity ID
	Address string  // where it is reached (host:port), "" when unknown
	// State is free text shown as is: "up" for a live member; the cluster adapter may use
	// "suspect", "down", "syncing", ...
	State         string
	LastHeartbeat time.Time
	Self          bool
	Site          string // the member's site ("" without sites)
	// SiteLink is this server's gateway link to the member's site when that is another
	// site: "up" or "down" ("" for this server's own site or without sites).
	SiteLink string
}

// MemberEvent tells of a change of membership.
type MemberEvent struct {
	Change string // "joined", "left" or "updated"
	Member Member
	Reason string // of a departure: "leave", "timeout", "restart", "stop"; may be ""
}

// Cluster is what the server needs from the cluster layer (internal/cluster, adapted by the
// lead). OnMembershipChange registers a callback run for every change; it must not block for
// long (the server only queues). The returned cancel may be nil.
type Cluster interface {
	Members() []Member
	OnMembershipChange(func(MemberEvent)) (cancel func())
}

// Variables reads and writes dialplan global variables and functions ("DEVICE_STATE(x)")
// for ARI's /asterisk/variable. An HTTP user acts as an external origin: a function that
// escalates privileges is refused with an error wrapping ErrForbidden.
type Variables interface {
	GetVar(name string) (string, error)
	SetVar(name, value string) error
}

// ErrForbidden is what Variables wraps when the dialplan refuses a function that escalates.
var ErrForbidden = errors.New("httpapi: privilege escalation refused")

// AMIStats is what /metrics shows of the Manager interface.
type AMIStats struct {
	Sessions, Authenticated int
	FailedLogins            uint64
}

// SIPStats is what /metrics shows of the SIP registrar.
type SIPStats struct {
	Registrations  int           // current registrations (contacts)
	Connections    int           // open TCP/TLS/WS connections
	Subscriptions  int           // active SUBSCRIBE dialogs
	Notifies       uint64        // NOTIFYs sent
	NotifyFailures uint64        // NOTIFYs not sent or answered with an error
	LastFanout     time.Duration // time to send every NOTIFY of the last hint change
	InProgress     int           // requests being processed (the overload rule's measure)
	Refused        uint64        // new requests answered 503 by the overload rule
	Resent         uint64        // REGISTER retransmissions answered with the kept answer
	Absorbed       uint64        // retransmitted INVITEs dropped: answered 2xx already
}

// Sources are read at every /metrics scrape; each may be nil (its metric families are then
// left out). The state core's packages register collectors of their own on the registry
// (Metrics.Registry).
type Sources struct {
	AMI func() AMIStats // ami.Server.Stats adapted
	SIP func() SIPStats // the SIP module's counters
}

// Deps are the engines the server reads and changes. Bus and DevState are required.
type Deps struct {
	Bus      *event.Bus
	DevState *devstate.Engine
	MWI      *mwi.Engine      // nil: /ari/mailboxes answers 503
	Hints    *hint.Engine     // nil: /api/hints answers 503, no ExtensionStatus events
	Realtime *realtime.Engine // nil: /api/realtime/mappings answers 503
	Cluster  Cluster          // nil: a single server; /api/cluster/members lists only this one
	// Variables are the dialplan's globals and functions (/ari/asterisk/variable); nil:
	// that resource answers 503.
	Variables Variables
	Sources   Sources
	// Version is shown in the default Server header ("Pleiades/<Version>").
	Version string
	// NodeName names this server when Cluster is nil (default: the host name).
	NodeName string
}

// Server is the HTTP server: ARI-compatible REST, WebSocket events, /metrics and the BLF board.
type Server struct {
	log  *slog.Logger
	deps Deps
	cfg  atomic.Pointer[settings]

	hub     *hub
	metrics *Metrics
	stasis  *stasisDevices
	handler http.Handler // the routes, below the prefix

	mu       sync.Mutex // guards the fields below; Configure, Start and Close hold it
	started  bool
	closed   bool
	plain    *binding // nil when not listening
	secure   *binding
	opts     serverOptions
	cancelCl func()
	done     chan struct{} // closed by Close

	logins loginlimit.Limiter // failed authentications per client address

	wrapListener func(net.Listener) net.Listener  // tests: inject accept errors
	clock        atomic.Pointer[func() time.Time] // tests: move time forward
}

func (s *Server) now() time.Time {
	if f := s.clock.Load(); f != nil {
		return (*f)()
	}
	return time.Now()
}

// New makes a server (not listening) with the default, disabled configuration. It registers
// the "Stasis:" device-state provider on deps.DevState (ARI-controlled devices).
func New(log *slog.Logger, deps Deps) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if deps.NodeName == "" {
		deps.NodeName = hostName()
	}
	s := &Server{log: log, deps: deps, done: make(chan struct{}),
		logins: loginlimit.Limiter{Max: MaxAuthFailures, Window: AuthFailureWindow, Block: AuthBlockTime}}
	st, _ := parseSettings(nil, nil, deps.Version)
	s.cfg.Store(st)
	s.opts = st.serverOptions()
	s.stasis = newStasisDevices(deps.DevState)
	if err := deps.DevState.RegisterProvider(StasisPrefix, s.stasis); err != nil {
		log.Warn(fmt.Sprintf("httpapi: %v: ARI's Stasis: devices answer from the existing provider", err))
	}
	s.metrics = newMetrics(s)
	s.hub = newHub(s)
	s.handler = s.routes()
	return s
}

// Configure parses and validates http.conf and ari.conf fully (either may be nil: defaults),
// then applies them: users, realm, prefix, CORS and WebSocket settings take effect for the
// next request; when the server runs, listeners are opened, moved or closed to match
// enabled/bindaddr/bindport/tls* (a new listener is opened before the old one closes, so a
// failure leaves the old one serving) and a change of session_inactivity/session_keep_alive
// gives them new http.Servers (connections in progress finish on the old one). On error
// nothing changes: the error is a conf.ErrorList (every problem, file:line) or a listen error.
func (s *Server) Configure(httpCfg, ariCfg *conf.Config) error {
	ns, err := parseSettings(httpCfg, ariCfg, s.deps.Version)
	if err != nil {
		return err
	}
	for _, w := range ns.warnings {
		s.log.Warn(w)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started && !s.closed {
		if err := s.rebindLocked(ns); err != nil {
			return err
		}
	}
	s.cfg.Store(ns)
	return nil
}

// Start listens as configured (nothing when http.conf does not enable the server) and starts
// the event stream. Cancelling ctx closes the server like Close.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.started {
		return nil
	}
	if err := s.rebindLocked(s.cfg.Load()); err != nil {
		return err
	}
	s.hub.start()
	if s.deps.Cluster != nil {
		s.cancelCl = s.deps.Cluster.OnMembershipChange(s.hub.onMember)
	}
	s.started = true
	if ctx != nil && ctx.Done() != nil {
		go func() {
			select {
			case <-ctx.Done():
				s.Close()
			case <-s.done:
			}
		}()
	}
	return nil
}

// Close stops listening, disconnects WebSocket clients, stops the event stream and
// unregisters the Stasis: provider. It waits for the server's goroutines.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.done)
	plain, secure := s.plain, s.secure
	s.plain, s.secure = nil, nil
	cancel := s.cancelCl
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	for _, b := range []*binding{plain, secure} {
		if b != nil {
			b.close()
		}
	}
	s.hub.close()
	s.deps.DevState.UnregisterProvider(StasisPrefix)
}

// Addr returns the address the HTTP listener is bound to ("127.0.0.1:8088"), or "" when not
// listening.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.plain == nil {
		return ""
	}
	return s.plain.ln.Addr().String()
}

// TLSAddr returns the address the HTTPS listener is bound to, or "".
func (s *Server) TLSAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.secure == nil {
		return ""
	}
	return s.secure.ln.Addr().String()
}

// Handler returns the server's HTTP handler (prefix, auth and every route), for embedding
// in another server or in tests.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// rebindLocked makes the listeners match ns; s.mu is held.
func (s *Server) rebindLocked(ns *settings) error {
	wantPlain := ""
	if ns.enabled {
		wantPlain = ns.bindAddr
	}
	wantSecure := ""
	if ns.enabled && ns.tlsEnabled {
		wantSecure = ns.tlsBindAddr
	}
	opts := ns.serverOptions()
	var newPlain, newSecure *binding
	var err error
	if wantPlain != "" && (s.plain == nil || s.plain.addr != wantPlain) {
		if newPlain, err = s.listen("http", wantPlain, false, opts); err != nil {
			return err
		}
	}
	if wantSecure != "" && (s.secure == nil || s.secure.addr != wantSecure) {
		if newSecure, err = s.listen("https", wantSecure, true, opts); err != nil {
			if newPlain != nil {
				newPlain.close()
			}
			return err
		}
	}
	swap := func(cur **binding, nb *binding, want string) {
		switch {
		case nb != nil:
			if *cur != nil {
				(*cur).close()
			}
			*cur = nb
		case want == "" && *cur != nil:
			(*cur).close()
			*cur = nil
		case *cur != nil && opts != s.opts:
			(*cur).swap(s.newHTTPServer(opts))
		}
	}
	swap(&s.plain, newPlain, wantPlain)
	swap(&s.secure, newSecure, wantSecure)
	s.opts = opts
	return nil
}

func (s *Server) listen(name, addr string, secure bool, opts serverOptions) (*binding, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("httpapi: %s listen on %s: %w", name, addr, err)
	}
	if s.wrapListener != nil {
		ln = s.wrapListener(ln)
	}
	b := &binding{s: s, name: name, addr: addr, ln: ln, stop: make(chan struct{}),
		conns: map[net.Conn]*countedConn{}, perAddr: map[netip.Addr]int{}}
	if secure {
		b.tls = &tls.Config{GetConfigForClient: s.tlsConfig}
	}
	b.start(s.newHTTPServer(opts))
	verb := "HTTP"
	if secure {
		verb = "HTTPS"
	}
	s.log.Log(context.Background(), logger.Verbose(2), fmt.Sprintf("%s server listening on %s", verb, ln.Addr()))
	return b, nil
}

func (s *Server) tlsConfig(*tls.ClientHelloInfo) (*tls.Config, error) {
	st := s.cfg.Load()
	if st.cert == nil {
		return nil, errors.New("httpapi: no TLS certificate")
	}
	return &tls.Config{Certificates: []tls.Certificate{*st.cert}, MinVersion: st.tlsMinVersion}, nil
}

func (s *Server) newHTTPServer(o serverOptions) *http.Server {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: o.inactivity,
		IdleTimeout:       o.keepAlive,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, netConnKey{}, c)
		},
	}
	if o.keepAlive == 0 {
		srv.SetKeepAlivesEnabled(false)
	}
	return srv
}

// netConnKey keys the connection of a request in its context (WebSocket clients that do not
// answer a close frame are cut off with it).
type netConnKey struct{}

// binding is one listening socket. Its own accept loop enforces sessionlimit and hands
// connections to the current http.Server through a frontListener, so that the http.Server can
// be replaced (new options) without closing the socket.
type binding struct {
	s    *Server
	name string
	addr string // as configured
	ln   net.Listener
	tls  *tls.Config

	mu    sync.Mutex
	front *frontListener
	srvs  []*http.Server // every server started, for close

	stop chan struct{}
	wg   sync.WaitGroup

	connsMu sync.Mutex                // guards conns and perAddr (sessions.go)
	conns   map[net.Conn]*countedConn // by the conn handed to the http.Server
	perAddr map[netip.Addr]int        // open connections per client address
}

type frontListener struct {
	addr   net.Addr
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func (f *frontListener) Accept() (net.Conn, error) {
	select {
	case c := <-f.conns:
		return c, nil
	case <-f.closed:
		return nil, net.ErrClosed
	}
}

func (f *frontListener) Close() error {
	f.once.Do(func() { close(f.closed) })
	return nil
}

func (f *frontListener) Addr() net.Addr { return f.addr }

func (b *binding) start(srv *http.Server) {
	b.swap(srv)
	b.wg.Add(1)
	go b.acceptLoop()
}

// swap makes srv serve the binding's new connections; the previous server finishes the
// connections it has.
func (b *binding) swap(srv *http.Server) {
	b.track(srv)
	f := &frontListener{addr: b.ln.Addr(), conns: make(chan net.Conn), closed: make(chan struct{})}
	b.mu.Lock()
	old := b.front
	var oldSrv *http.Server
	if n := len(b.srvs); n > 0 {
		oldSrv = b.srvs[n-1]
	}
	b.front = f
	b.srvs = append(b.srvs, srv)
	b.mu.Unlock()
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		srv.Serve(f)
	}()
	if old != nil {
		old.Close()
		// Idle keep-alive connections of the old server close now, busy ones after their
		// response.
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := oldSrv.Shutdown(ctx); err != nil {
				oldSrv.Close()
			}
		}()
	}
}

func (b *binding) current() *frontListener {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.front
}

func (b *binding) acceptLoop() {
	defer b.wg.Done()
	netaccept.Serve(b.ln, b.stop, b.s.log, strings.ToUpper(b.name), b.admit)
}

// admit enforces the session limits (sessions.go) and hands c to the current http.Server.
func (b *binding) admit(c net.Conn) {
	conn := b.register(c)
	if conn == nil {
		c.Close()
		return
	}
	for {
		f := b.current()
		select {
		case f.conns <- conn:
			return
		case <-f.closed:
			// swapped meanwhile: hand it to the new server
		case <-b.stop:
			conn.Close()
			return
		}
	}
}

// close stops accepting, shuts the http.Servers down (idle connections close at once,
// requests in progress get 5 seconds) and waits. Hijacked (WebSocket) connections are the
// hub's to close.
func (b *binding) close() {
	close(b.stop)
	b.ln.Close()
	b.mu.Lock()
	srvs := b.srvs
	b.front.Close()
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range srvs {
		if err := srv.Shutdown(ctx); err != nil {
			srv.Close()
		}
	}
	b.wg.Wait()
}

// serveHTTP is the root handler: Server header, redirects, prefix, then the routes.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	st := s.cfg.Load()
	if st.serverName != "" {
		w.Header().Set("Server", st.serverName)
	}
	for _, rd := range st.redirects {
		if r.URL.Path == st.prefix+rd.from || r.URL.Path == rd.from {
			http.Redirect(w, r, rd.to, http.StatusFound)
			return
		}
	}
	if st.prefix != "" {
		p := strings.TrimPrefix(r.URL.Path, st.prefix)
		if len(p) == len(r.URL.Path) || (p != "" && p[0] != '/') {
			writeError(w, r, http.StatusNotFound, "Not Found")
			return
		}
		r2 := new(http.Request)
		*r2 = *r
		u := *r.URL
		u.Path = p
		if u.RawPath != "" {
			u.RawPath = strings.TrimPrefix(u.RawPath, st.prefix)
		}
		r2.URL = &u
		r = r2
	}
	if r.URL.Path == "" {
		r.URL.Path = "/"
	}
	if cc, ok := r.Context().Value(countedConnKey{}).(*countedConn); ok {
		cc.busy.Add(1)
		defer cc.done()
	}
	s.handler.ServeHTTP(w, r)
}
