package ami

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/astdb"
	"github.com/pleiades-pbx/pleiades/internal/cli"
	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/logger"
	"github.com/pleiades-pbx/pleiades/internal/loginlimit"
	"github.com/pleiades-pbx/pleiades/internal/netaccept"
)

// Version is the AMI protocol version in the banner and CoreSettings' AMIversion: that of
// Asterisk 22 (spec/ami.md).
const Version = "11.0.0"

// Login rate limiting per source address.
const (
	// MaxLoginFailures failed logins from one address within LoginFailureWindow block that
	// address's logins for LoginBlockTime (every Login is then refused, even a good one).
	MaxLoginFailures   = 5
	LoginFailureWindow = 30 * time.Second
	LoginBlockTime     = 30 * time.Second
	// FailedLoginDelay is the pause before "Authentication failed" (Asterisk sleeps 1 s too).
	FailedLoginDelay = time.Second
)

// ErrClosed is returned by Start after Close.
var ErrClosed = errors.New("ami: server closed")

// Server is the Asterisk Manager Interface server. It is safe for concurrent use.
//
// Lock order: Server.mu before Server.smu; Server.pubMu before session.mu and before
// Server.smu (login). Server.smu and session.mu are never held together.
type Server struct {
	log *slog.Logger
	reg *cli.Registry
	db  *astdb.DB
	b   Backend

	cfg   atomic.Pointer[settings]
	users atomic.Pointer[userSourceBox]

	mu       sync.Mutex // guards ln, started, closed, ctx
	ln       net.Listener
	lnDone   chan struct{}
	started  bool
	closed   bool
	ctx      context.Context
	cancel   context.CancelFunc
	sessWG   sync.WaitGroup
	acceptWG sync.WaitGroup

	smu          sync.Mutex // guards sessions, unauth, unauthByAddr, snapshot writes
	sessions     map[uint64]*session
	unauth       int
	unauthByAddr map[netip.Addr]int
	snap         atomic.Pointer[[]*session] // logged-in sessions, for Publish

	pubMu sync.Mutex // serialises Publish: every session sees events in one order

	logins loginlimit.Limiter // failed logins per address

	secLimit secLimiter

	ext extActions // actions other modules registered (extactions.go)

	nextID  atomic.Uint64
	sysName atomic.Pointer[string]

	// statistics
	published    atomic.Uint64
	rejected     atomic.Uint64 // connections refused by authlimit / authlimitperaddress
	slowKicked   atomic.Uint64
	eventsLost   atomic.Uint64 // events queued to sessions that were then cut off
	failedLogins atomic.Uint64
	secDropped   atomic.Uint64 // security events dropped by the per-address rate limit
	preLoginCut  atomic.Uint64 // connections closed for MaxRefusedBeforeLogin

	reloader ReloadFunc // guarded by mu

	failDelay   time.Duration // FailedLoginDelay; tests shorten it
	clockOffset atomic.Int64  // tests move the clock forward

	loggedIn map[string]int // lower-case user name -> sessions logged in; guarded by smu
}

func (s *Server) clock() time.Time { return time.Now().Add(time.Duration(s.clockOffset.Load())) }

type userSourceBox struct{ us UserSource }

// New returns a server; it listens once Configure enabled it and Start ran. reg, db and b
// may be nil (the actions needing them then answer errors).
func New(log *slog.Logger, reg *cli.Registry, db *astdb.DB, b Backend) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		log: log, reg: reg, db: db, b: b,
		sessions:     map[uint64]*session{},
		unauthByAddr: map[netip.Addr]int{},
		logins:       loginlimit.Limiter{Max: MaxLoginFailures, Window: LoginFailureWindow, Block: LoginBlockTime},
		failDelay:    FailedLoginDelay,
		loggedIn:     map[string]int{},
	}
	s.cfg.Store(defaultSettings())
	empty := []*session{}
	s.snap.Store(&empty)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// SetUserSource sets where users missing from manager.conf are looked up (nil: nowhere).
func (s *Server) SetUserSource(us UserSource) { s.users.Store(&userSourceBox{us}) }

// Configure parses and validates manager.conf fully, then applies it: users, limits and
// options take effect for new logins (logged-in sessions keep the permissions and filters
// they logged in with, as in Asterisk), and the listener is rebound when enabled, bindaddr
// or port changed (opening the new one first). On error nothing changes and the error is a
// conf.ErrorList (every problem, file:line) or the listen error.
func (s *Server) Configure(cfg *conf.Config) error {
	ns, err := parseSettings(cfg)
	if err != nil {
		return err
	}
	for _, w := range ns.warnings {
		s.log.Warn(w)
	}
	s.refreshSystemName()
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.cfg.Load()
	if s.started && !s.closed {
		if err := s.rebindLocked(old, ns); err != nil {
			return err
		}
	}
	s.cfg.Store(ns)
	return nil
}

// rebindLocked opens, keeps or closes the listener to match ns.
func (s *Server) rebindLocked(old, ns *settings) error {
	switch {
	case !ns.enabled:
		s.stopListenerLocked()
	case s.ln == nil || !old.enabled || old.bindAddr != ns.bindAddr:
		ln, err := net.Listen("tcp", ns.bindAddr)
		if err != nil {
			return fmt.Errorf("ami: listen on %s: %w", ns.bindAddr, err)
		}
		s.stopListenerLocked()
		s.startListenerLocked(ln)
	}
	return nil
}

func (s *Server) startListenerLocked(ln net.Listener) {
	s.ln = ln
	done := make(chan struct{})
	s.lnDone = done
	s.acceptWG.Add(1)
	go s.acceptLoop(ln, done)
	s.log.Log(context.Background(), logger.Verbose(2), fmt.Sprintf("Manager interface listening on %s", ln.Addr()))
}

func (s *Server) stopListenerLocked() {
	if s.ln != nil {
		close(s.lnDone)
		s.ln.Close()
		s.ln, s.lnDone = nil, nil
	}
}

// Start starts listening when manager.conf enabled the interface. Cancelling ctx closes the
// server like Close.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.started {
		return nil
	}
	s.refreshSystemName()
	cfg := s.cfg.Load()
	if cfg.enabled {
		ln, err := net.Listen("tcp", cfg.bindAddr)
		if err != nil {
			return fmt.Errorf("ami: listen on %s: %w", cfg.bindAddr, err)
		}
		s.startListenerLocked(ln)
	}
	s.started = true
	if ctx != nil {
		go func() {
			select {
			case <-ctx.Done():
				s.Close()
			case <-s.ctx.Done():
			}
		}()
	}
	return nil
}

// Addr returns the listener's address, or nil when not listening.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Close stops listening, disconnects every session and waits for their goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.stopListenerLocked()
	s.cancel()
	s.mu.Unlock()
	s.acceptWG.Wait()
	s.smu.Lock()
	all := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		all = append(all, ss)
	}
	s.smu.Unlock()
	for _, ss := range all {
		ss.abort("server shutting down")
	}
	s.sessWG.Wait()
	return nil
}

func (s *Server) acceptLoop(ln net.Listener, done chan struct{}) {
	defer s.acceptWG.Done()
	netaccept.Serve(ln, done, s.log, "Manager", s.admit)
}

// admit starts a session for c unless the unauthenticated limits are reached, in which case
// c is closed at once (no banner, as in Asterisk).
func (s *Server) admit(c net.Conn) {
	cfg := s.cfg.Load()
	remote := addrPortOf(c.RemoteAddr())
	ip := remote.Addr()
	s.smu.Lock()
	if s.unauth >= cfg.authLimit || s.unauthByAddr[ip] >= cfg.authLimitPerAddr {
		s.smu.Unlock()
		s.rejected.Add(1)
		c.Close()
		return
	}
	s.unauth++
	s.unauthByAddr[ip]++
	ss := newSession(s, c, cfg, remote)
	s.sessions[ss.id] = ss
	s.sessWG.Add(2)
	s.smu.Unlock()
	go ss.writeLoop()
	go ss.run()
}

func addrPortOf(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// authenticated moves ss from the unauthenticated count into the published set. It is
// called with pubMu held, right after the login response was queued.
func (s *Server) authenticated(ss *session) {
	s.smu.Lock()
	defer s.smu.Unlock()
	s.releaseUnauthLocked(ss)
	old := *s.snap.Load()
	next := make([]*session, len(old), len(old)+1)
	copy(next, old)
	next = append(next, ss)
	s.snap.Store(&next)
}

func (s *Server) releaseUnauthLocked(ss *session) {
	if ss.countedUnauth {
		ss.countedUnauth = false
		s.unauth--
		ip := ss.remote.Addr()
		if s.unauthByAddr[ip]--; s.unauthByAddr[ip] <= 0 {
			delete(s.unauthByAddr, ip)
		}
	}
}

// forget removes a finished session.
func (s *Server) forget(ss *session) {
	s.smu.Lock()
	defer s.smu.Unlock()
	s.releaseUnauthLocked(ss)
	delete(s.sessions, ss.id)
	if ss.claimed {
		k := strings.ToLower(ss.username)
		if s.loggedIn[k]--; s.loggedIn[k] <= 0 {
			delete(s.loggedIn, k)
		}
	}
	old := *s.snap.Load()
	for i, x := range old {
		if x == ss {
			next := make([]*session, 0, len(old)-1)
			next = append(next, old[:i]...)
			next = append(next, old[i+1:]...)
			s.snap.Store(&next)
			break
		}
	}
}

// sessionList returns every session, oldest first.
func (s *Server) sessionList() []*session {
	s.smu.Lock()
	out := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		out = append(out, ss)
	}
	s.smu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// claimLogin records a login as name, refusing it when multiple is false and a session is
// already logged in as name. Check and record are one step, so two concurrent logins cannot
// both pass.
func (s *Server) claimLogin(name string, multiple bool) bool {
	k := strings.ToLower(name)
	s.smu.Lock()
	defer s.smu.Unlock()
	if !multiple && s.loggedIn[k] > 0 {
		return false
	}
	s.loggedIn[k]++
	return true
}

// findUser looks name up in manager.conf, then in the UserSource.
func (s *Server) findUser(ctx context.Context, name string) (*user, error) {
	cfg := s.cfg.Load()
	if u := cfg.users[strings.ToLower(name)]; u != nil {
		return u, nil
	}
	box := s.users.Load()
	if box == nil || box.us == nil {
		return nil, ErrUserNotFound
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	row, err := box.us.ManagerUser(ctx, name)
	if err != nil {
		return nil, err
	}
	return userFromRow(name, row, cfg)
}

// loginBlocked reports whether ip is refused logins now.
func (s *Server) loginBlocked(ip netip.Addr) bool { return s.logins.Blocked(ip, s.clock()) }

// loginFailed records a failure from ip; it returns true when ip just became blocked.
func (s *Server) loginFailed(ip netip.Addr) bool {
	s.failedLogins.Add(1)
	return s.logins.Failed(ip, s.clock())
}

func (s *Server) loginSucceeded(ip netip.Addr) { s.logins.Succeeded(ip) }

// Publish sends ev to every logged-in session whose read classes, event mask and event
// filters let it through. It never blocks on a client: an event is queued (after
// filtering) on each session's own bounded queue, and a session whose queue is full is
// disconnected. Events are formatted once; per-session order is the order of Publish calls.
func (s *Server) Publish(ev Event) {
	cfg := s.cfg.Load()
	if cfg.disabledEvents[ev.Name] {
		return
	}
	s.published.Add(1)
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	sessions := *s.snap.Load()
	if len(sessions) == 0 {
		return
	}
	var wire []byte
	var text string
	textFn := func() string {
		if wire == nil {
			wire = s.formatEvent(ev, cfg)
			text = string(wire)
		}
		return text
	}
	for _, ss := range sessions {
		mask := Class(ss.sendEvents.Load())
		if mask == 0 || mask&ev.Class != ev.Class {
			continue
		}
		if !ss.filters.empty() && !ss.filters.allows(ev.Name, textFn) {
			continue
		}
		if wire == nil {
			textFn()
		}
		ss.enqueueEvent(wire)
	}
}

// formatEvent renders an event as Asterisk does: Event, Privilege, Timestamp
// (timestampevents), SystemName (when set), then the fields.
func (s *Server) formatEvent(ev Event, cfg *settings) []byte {
	var w builder
	w.b = make([]byte, 0, 128+32*len(ev.Fields))
	w.kv("Event", ev.Name)
	w.kv("Privilege", ev.Class.String())
	if cfg.timestampEvents {
		w.kv("Timestamp", unixMicro(s.clock()))
	}
	if name := s.systemName(); name != "" {
		w.kv("SystemName", name)
	}
	for _, f := range ev.Fields {
		w.kv(f.Key, f.Value)
	}
	w.end()
	return w.b
}

// systemName is the cached SystemName (read from the Backend at Start and Configure:
// asterisk.conf's systemname only changes with a restart).
func (s *Server) systemName() string {
	if p := s.sysName.Load(); p != nil {
		return *p
	}
	return ""
}

func (s *Server) refreshSystemName() {
	name := ""
	if s.b != nil {
		name = s.b.Settings().SystemName
	}
	s.sysName.Store(&name)
}

func unixMicro(t time.Time) string {
	us := t.UnixMicro()
	return fmt.Sprintf("%d.%06d", us/1e6, us%1e6)
}

// Stats are the server's counters.
type Stats struct {
	Sessions, Authenticated, Unauthenticated int
	Published                                uint64 // events given to Publish
	Rejected                                 uint64 // connections refused by authlimit/authlimitperaddress
	SlowClientsCut                           uint64 // sessions cut off because their queue overflowed
	EventsLost                               uint64 // events still queued for sessions cut off
	FailedLogins                             uint64
	SecurityEventsDropped                    uint64 // over SecurityEventBurst/SecurityEventRate per address
	RefusedBeforeLoginCut                    uint64 // connections closed after MaxRefusedBeforeLogin refusals
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	s.smu.Lock()
	st := Stats{Sessions: len(s.sessions), Unauthenticated: s.unauth}
	s.smu.Unlock()
	st.Authenticated = len(*s.snap.Load())
	st.Published = s.published.Load()
	st.Rejected = s.rejected.Load()
	st.SlowClientsCut = s.slowKicked.Load()
	st.EventsLost = s.eventsLost.Load()
	st.FailedLogins = s.failedLogins.Load()
	st.SecurityEventsDropped = s.secDropped.Load()
	st.RefusedBeforeLoginCut = s.preLoginCut.Load()
	return st
}
