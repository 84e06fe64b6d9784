package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/state"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/pleiades-pbx/pleiades/internal/channel"
	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/eid"
	"github.com/pleiades-pbx/pleiades/internal/logger"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
	"github.com/pleiades-pbx/pleiades/internal/udpbatch"
)

// DeviceStates receives the state of SIP/<peer> devices (state.NotInUse or state.Unavailable).
type DeviceStates interface {
	SetDevice(device string, st state.Device)
}

// DeviceSyncer is a DeviceStates that can also set a state and return once its change has
// been announced (AMI's DeviceStateChange), or a short bound has passed. The calls use it
// where Asterisk's event order puts the device change before the channel event that follows:
// SIP/bob RINGING before the callee's Newstate Ringing, INUSE before its Newstate Up.
type DeviceSyncer interface {
	SetDeviceSync(device string, st state.Device)
}

// HintInfo is a hint's current extension state.
type HintInfo struct {
	Exten    string
	Context  string
	State    state.Extension
	Presence string // presence state name ("" or "not_set": none)
	Subtype  string
	Message  string
}

// Hints looks hints up and watches their extension state (cluster-wide).
type Hints interface {
	// Lookup finds the hint of exten in context; ok=false means there is none (404).
	Lookup(exten, context string) (h HintInfo, ok bool)
	// Watch calls fn on every change of that hint's state; the returned func cancels.
	Watch(exten, context string, fn func(st state.Extension)) (cancel func())
}

// Mailboxes reports and watches mailbox counts; mailbox is "box@context".
type Mailboxes interface {
	Get(mailbox string) (newMsgs, oldMsgs, urgent int, ok bool)
	Watch(fn func(mailbox string, newMsgs, oldMsgs, urgent int)) (cancel func())
}

// ErrNotStarted is returned by calls that need a running server.
var ErrNotStarted = errors.New("sip: server not started")

// Server is the SIP registrar and presence server. See the package documentation.
type Server struct {
	log     *slog.Logger
	rt      *realtime.Engine
	ds      DeviceStates
	hints   Hints
	mb      Mailboxes
	sysname string

	cfgMu  sync.Mutex // serialises Configure and Start
	set    atomic.Pointer[settings]
	source func(ctx context.Context) (*conf.Config, error)

	mu    sync.RWMutex // guards peers
	peers map[string]*peer

	nonces *nonceStore
	guard  *authGuard
	ovl    overload
	subs   *subStore
	wb     *writeBack
	reg    *regStore // registrations kept in astdb (registry.go)
	rtf    rtFollow  // realtime peers follow sippeers changes (rtchange.go)

	// running state (set by Start)
	runMu    sync.Mutex
	running  bool
	stopping bool
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup // listeners, janitor, NOTIFY retransmissions, write-back workers
	tasks    tasks          // every other goroutine (tasks.go)
	pool     *goPool        // the goroutines tasks and call handlers run on (pool.go)
	ua       *sipgo.UserAgent
	srv      *sipgo.Server
	client   *sipgo.Client
	udpConn  net.PacketConn
	udpBatch udpbatch.Conn             // udpConn's sendmmsg (nil where there is none)
	udpLaddr atomic.Pointer[sip.Addr]  // udpConn's local address, for fromListener
	fast     fastPath                  // the REGISTER fast path's state (fastpath.go)
	ntx      atomic.Pointer[notifyTxs] // NOTIFYs over UDP (notifytx.go)
	tcpL     *tcpListener
	// listenTCP opens the TCP listener (tests replace it to inject accept errors)
	listenTCP func(ctx context.Context, addr string) (net.Listener, error)
	udpAddr   netip.AddrPort
	tcpAddr   netip.AddrPort
	mwiStop   func()
	boundUDP  string
	boundTCP  string

	callCfg     atomic.Pointer[calls]                                  // SetCalls (call.go)
	deliver     atomic.Pointer[func(ch *channel.Channel, dest string)] // SetDelivery (crosscall.go)
	locs        Locations                                              // SetLocations (locate.go), nil: no cluster calls
	self        eid.EID
	secret      string           // this server's secret for cluster calls to it (locate.go)
	seen        usedMACs         // credentials already used
	refuseCalls atomic.Bool      // RefuseNewCalls
	dlgMu       sync.Mutex       // guards dialogs
	dialogs     map[string]*call // calls by Call-ID|our tag

	debugAll  atomic.Bool
	debugPeer atomic.Pointer[string]

	stats struct {
		registers, authFailures, notifies, notifyFailures, dropped, blocked atomic.Uint64
		retransmits                                                         atomic.Uint64 // REGISTER retransmissions answered from respCache
		absorbed                                                            atomic.Uint64 // INVITE retransmissions dropped after their 2xx (accepted.go)
		lastFanout                                                          atomic.Int64  // ns
		tcpConns                                                            atomic.Int64
	}
}

// Stats are the server's counters (for metrics and benchmarks).
type Stats struct {
	Registers      uint64        // REGISTER requests received
	AuthFailures   uint64        // security events (failed authentication, ACL, replay)
	Notifies       uint64        // NOTIFYs sent
	NotifyFailures uint64        // NOTIFYs not sent or not answered with 2xx
	Dropped        uint64        // oversized messages dropped
	Blocked        uint64        // requests refused because their address failed maxauthfailures times
	Peers          int           // peers in memory (static, cached and registered realtime)
	Registrations  int           // peers registered (a dynamic contact in force)
	Connections    int           // TCP connections accepted and open
	Subscriptions  int           // active subscriptions
	NoncesTracked  int           // nonces with a recorded nonce-count
	WriteBacks     int           // realtime write-backs waiting (at most one per peer)
	LastFanout     time.Duration // from the last hint change to its last NOTIFY handed to the transport
	InProgress     int           // REGISTER/SUBSCRIBE/OPTIONS being processed (the overload rule's measure)
	Refused        uint64        // new requests answered 503 because the server was behind
	Resent         uint64        // REGISTER retransmissions answered again with the kept answer
	Absorbed       uint64        // retransmitted INVITEs dropped because they were answered 2xx already
}

// Stats returns the current counters.
func (s *Server) Stats() Stats {
	s.mu.RLock()
	np := len(s.peers)
	peers := make([]*peer, 0, np)
	for _, p := range s.peers {
		peers = append(peers, p)
	}
	s.mu.RUnlock()
	regs := 0
	for _, p := range peers {
		p.mu.Lock()
		if p.addr.IsValid() && !p.expires.IsZero() {
			regs++
		}
		p.mu.Unlock()
	}
	return Stats{
		Registrations: regs, Connections: int(s.stats.tcpConns.Load()),
		Registers: s.stats.registers.Load(), AuthFailures: s.stats.authFailures.Load(),
		Notifies: s.stats.notifies.Load(), NotifyFailures: s.stats.notifyFailures.Load(),
		Dropped: s.stats.dropped.Load(), Blocked: s.stats.blocked.Load(), Peers: np, Subscriptions: s.subs.len(),
		NoncesTracked: s.nonces.len(), WriteBacks: s.wb.depth(), LastFanout: time.Duration(s.stats.lastFanout.Load()),
		InProgress: int(s.ovl.inProgress.Load()), Refused: s.ovl.refused.Load(), Resent: s.stats.retransmits.Load(), Absorbed: s.stats.absorbed.Load(),
	}
}

// New returns a server with chan_sip's default settings and no peer. rt may be nil (no
// realtime peers); ds, hints and mb may be nil (no device states, every SUBSCRIBE for a hint
// gets 404, no MWI). systemName is asterisk.conf's systemname as Asterisk has it ("" when not
// set): the default realm and what rtsavesysname writes.
func New(log *slog.Logger, rt *realtime.Engine, ds DeviceStates, hints Hints, mb Mailboxes, systemName string) *Server {
	if log == nil {
		log = slog.Default()
	}
	s := &Server{
		log: log, rt: rt, ds: ds, hints: hints, mb: mb, sysname: systemName,
		peers:  make(map[string]*peer),
		pool:   newGoPool(),
		nonces: newNonceStore(1 << 20),
		guard:  newAuthGuard(maxGuarded),
		secret: newSecret(),
	}
	s.set.Store(defaultSettings(systemName))
	s.subs = newSubStore(s)
	s.wb = newWriteBack(s)
	s.reg = newRegStore(s)
	s.followRealtime()
	return s
}

// SetConfigSource sets how "sip reload" reads sip.conf.
func (s *Server) SetConfigSource(load func(ctx context.Context) (*conf.Config, error)) {
	s.cfgMu.Lock()
	s.source = load
	s.cfgMu.Unlock()
}

// Configure parses sip.conf completely and only then applies it. On error nothing changes and
// the error lists every bad line as file:line (a conf.ErrorList). Once started, a change of
// udpbindaddr/tcpbindaddr (or TCP turned on or off) moves the listeners (moveListeners); when
// the new addresses cannot be bound, the old ones are bound again and nothing is applied.
func (s *Server) Configure(cfg *conf.Config) error {
	pc, err := parseConfig(cfg, s.sysname)
	if err != nil {
		return fmt.Errorf("sip: %w", err)
	}
	s.cfgMu.Lock()
	defer s.cfgMu.Unlock()
	s.runMu.Lock()
	running := s.running
	bu, bt := s.boundUDP, s.boundTCP
	s.runMu.Unlock()
	if running && (pc.set.udpBind != bu || pc.set.tcpBind != bt) {
		if err := s.moveListeners(pc.set); err != nil {
			return err
		}
	}
	for _, w := range pc.warnings {
		s.log.Warn("sip.conf: " + w)
	}
	s.set.Store(pc.set)
	s.applyPeers(pc)
	s.log.Log(context.Background(), logger.Verbose(2), fmt.Sprintf("SIP: %d static peers configured", len(pc.peers)))
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// applyPeers replaces the static peers; a peer that stays keeps its registration.
func (s *Server) applyPeers(pc *parsedConfig) {
	var added, removed, created []*peer
	s.mu.Lock()
	for name, p := range s.peers {
		cfg := p.cfg.Load()
		if cfg.realtime {
			if _, static := pc.peers[name]; static {
				removed = append(removed, p) // a static peer now shadows it
				delete(s.peers, name)
			}
			continue
		}
		if _, ok := pc.peers[name]; !ok {
			removed = append(removed, p)
			delete(s.peers, name)
		}
	}
	for _, name := range pc.order {
		nc := pc.peers[name]
		if p, ok := s.peers[name]; ok {
			p.cfg.Store(nc)
			added = append(added, p)
			continue
		}
		p := newPeer(s, nc)
		s.peers[name] = p
		added = append(added, p)
		created = append(created, p)
	}
	s.mu.Unlock()
	for _, p := range removed {
		p.destroy()
	}
	s.restoreSaved(created, pc.set) // registrations kept in astdb (at start: every peer)
	s.runMu.Lock()
	running := s.running
	s.runMu.Unlock()
	for _, p := range added {
		p.reconfigured(running, 0)
	}
}

// moveListeners stops the server (subscriptions end with reason deactivated, so that the
// subscribers subscribe again at once; registrations stay) and starts it on set's addresses.
// When they cannot be bound it starts again on the old ones and says so; only when those fail
// too is the server left stopped. cfgMu is held.
func (s *Server) moveListeners(set *settings) error {
	old := s.set.Load()
	// the old listeners are bound again where they were (a configured port 0 is the port
	// the kernel chose)
	back := *old
	s.runMu.Lock()
	back.udpBind = s.udpAddr.String()
	if s.tcpAddr.IsValid() {
		back.tcpBind = s.tcpAddr.String()
	}
	s.runMu.Unlock()
	s.stop("deactivated")
	s.set.Store(set) // start binds what the settings say
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.startLocked(ctx)
	if err == nil {
		udp, tcp := s.Addr()
		s.log.Info(fmt.Sprintf("SIP listeners moved: now on udp %s, tcp %s", udp, orNone(addrOrEmpty(tcp))))
		return nil
	}
	s.set.Store(&back)
	err2 := s.startLocked(ctx)
	s.set.Store(old)
	s.runMu.Lock()
	s.boundUDP, s.boundTCP = old.udpBind, old.tcpBind // as configured, for the next reload
	s.runMu.Unlock()
	if err2 != nil {
		return fmt.Errorf("%v; binding the old addresses again failed too (%v): SIP is not listening", err, err2)
	}
	return fmt.Errorf("%v; still listening on udp %s, tcp %s; configuration not applied", err, old.udpBind, orNone(old.tcpBind))
}

func addrOrEmpty(a netip.AddrPort) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// Running reports whether the server listens (Start succeeded and Close has not run).
func (s *Server) Running() bool { return s.isRunning() }

// Start listens on udpbindaddr (and tcpbindaddr when set) and serves until Close. ctx bounds
// the start only (binding the sockets), not the server's life.
func (s *Server) Start(ctx context.Context) error {
	s.cfgMu.Lock()
	defer s.cfgMu.Unlock()
	return s.startLocked(ctx)
}

// startLocked is Start with cfgMu held.
func (s *Server) startLocked(ctx context.Context) error {
	if err := s.start(ctx); err != nil {
		return err
	}
	// every peer with an address: its registration's expiry (Close stopped the timers), device
	// state, and qualify now that we can send, staggered as chan_sip's sip_poke_all_peers
	// (runMu free: restartTimers takes it)
	set := s.set.Load()
	var poke pokeSchedule
	for _, p := range s.allPeers() {
		p.armExpiry()
		p.reconfigured(true, poke.next(p.cfg.Load(), set))
	}
	if s.mb != nil { // outside runMu: the callback may run at once and takes Server.mu
		stop := s.mb.Watch(s.mailboxChanged)
		s.runMu.Lock()
		s.mwiStop = stop
		s.runMu.Unlock()
	}
	return nil
}

func (s *Server) start(ctx context.Context) error {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	if s.running {
		return errors.New("sip: already started")
	}
	set := s.set.Load()
	quiet := slog.New(&quietHandler{h: s.log.Handler()})
	parser := sip.NewParser()
	parser.MaxMessageLength = maxMessageSize
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent(set.userAgent),
		sipgo.WithUserAgentParser(parser),
		sipgo.WithUserAgentTransactionLayerOptions(
			sip.WithTransactionLayerLogger(quiet),
			sip.WithTransactionLayerUnhandledResponseHandler(func(res *sip.Response) {
				if ntx := s.ntx.Load(); ntx != nil {
					ntx.onResponse(res)
				}
			}),
		),
		sipgo.WithUserAgentTransportLayerOptions(
			sip.WithTransportLayerLogger(quiet),
			sip.WithTransportLayerReadFilter(s.readFilter),
		),
	)
	if err != nil {
		return fmt.Errorf("sip: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(quiet))
	if err != nil {
		ua.Close()
		return fmt.Errorf("sip: %w", err)
	}
	var lc net.ListenConfig
	udpConn, err := lc.ListenPacket(ctx, "udp", set.udpBind)
	if err != nil {
		ua.Close()
		return fmt.Errorf("sip: udpbindaddr %s: %w", set.udpBind, err)
	}
	if uc, ok := udpConn.(*net.UDPConn); ok {
		// bursts of REGISTERs or NOTIFY answers must not overflow the default ~200 KB buffer
		setUDPReadBuffer(uc, 8<<20)
		_ = uc.SetWriteBuffer(4 << 20)
	}
	var tcpLn net.Listener
	if set.tcpBind != "" {
		listen := s.listenTCP
		if listen == nil {
			listen = func(ctx context.Context, addr string) (net.Listener, error) { return lc.Listen(ctx, "tcp", addr) }
		}
		tcpLn, err = listen(ctx, set.tcpBind)
		if err != nil {
			udpConn.Close()
			ua.Close()
			return fmt.Errorf("sip: tcpbindaddr %s: %w", set.tcpBind, err)
		}
	}
	client, err := sipgo.NewClient(ua, sipgo.WithClientLogger(quiet))
	if err != nil {
		udpConn.Close()
		ua.Close()
		return fmt.Errorf("sip: %w", err)
	}
	s.ua, s.srv, s.client, s.udpConn = ua, srv, client, udpConn
	s.udpBatch = udpbatch.For(udpConn)
	if ua, ok := udpConn.LocalAddr().(*net.UDPAddr); ok {
		s.udpLaddr.Store(&sip.Addr{IP: ua.IP, Port: ua.Port})
	}
	fp := sip.NewParser()
	fp.MaxMessageLength = maxMessageSize
	s.fast = fastPath{parser: fp, answers: newRespCache(), accepted: newAcceptedSet()}
	s.tcpL = nil
	if tcpLn != nil {
		s.tcpL = newTCPListener(s, tcpLn, &s.stats.tcpConns)
	}
	s.ntx.Store(newNotifyTxs(udpConn, s.notifyFailed))
	s.udpAddr, s.tcpAddr = udpConn.LocalAddr().(*net.UDPAddr).AddrPort(), netip.AddrPort{}
	if tcpLn != nil {
		s.tcpAddr = tcpLn.Addr().(*net.TCPAddr).AddrPort()
	}
	s.boundUDP, s.boundTCP = set.udpBind, set.tcpBind
	s.ctx, s.cancel = context.WithCancel(context.Background())

	srv.OnRegister(s.counted(s.handleRegister))
	srv.OnSubscribe(s.counted(s.handleSubscribe))
	srv.OnOptions(s.counted(s.handleOptions))
	srv.OnInvite(s.refusedIfOver(s.pooled(s.handleInvite)))
	srv.OnAck(s.pooled(s.handleAck))
	srv.OnCancel(func(req *sip.Request, tx sip.ServerTransaction) {
		// a CANCEL that matched an INVITE transaction never comes here (sipgo answers it)
		s.reply(req, tx, 481, "Call/Transaction Does Not Exist")
	})
	srv.OnBye(s.pooled(s.handleBye))
	srv.OnUpdate(s.handleUpdate)
	srv.OnPrack(s.handlePrack)
	srv.OnNotify(func(req *sip.Request, tx sip.ServerTransaction) { s.reply(req, tx, 489, "Bad Event") })
	srv.OnNoRoute(func(req *sip.Request, tx sip.ServerTransaction) {
		s.reply(req, tx, 405, "Method Not Allowed", sip.NewHeader("Allow", allowMethods))
	})

	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = srv.ServeUDP(newBatchConn(udpConn, maxMessageSize, s.takeUDP, s.flushFast))
	}()
	if tl := s.tcpL; tl != nil {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); _ = srv.ServeTCP(tl) }()
	}
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.janitor(s.ctx) }()
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.ntx.Load().run(s.ctx) }()
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.reg.run(s.ctx) }()
	s.wb.start(s.ctx, &s.wg)
	s.tasks.open()
	s.running = true
	s.log.Log(ctx, logger.Verbose(2), "SIP listening", "udp", s.udpAddr.String(), "tcp", s.tcpAddr.String())
	if s.locs != nil {
		// registrations restored before we listened are published now that our address is known
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for _, p := range s.allPeers() {
				p.reportLocation()
			}
		}()
	}
	return nil
}

// fromListener makes a request over UDP leave from the listening socket, whatever sipgo's
// connection pool knows: sipgo adds a phone's address to its pool when it reads a datagram
// from it, but REGISTERs take the fast path (fastpath.go) and never reach sipgo's reader, so
// a request to a phone that only registered would otherwise go out from a new socket on
// another port — one its NAT would not let back in.
func (s *Server) fromListener(req *sip.Request) {
	if !strings.EqualFold(req.Transport(), "UDP") {
		return
	}
	if a := s.udpLaddr.Load(); a != nil {
		a.Copy(&req.Laddr)
	}
}

// Addr returns the UDP and TCP addresses the server listens on (invalid when not listening).
func (s *Server) Addr() (udp, tcp netip.AddrPort) {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	return s.udpAddr, s.tcpAddr
}

// Close stops listening, terminates subscriptions, flushes pending realtime write-backs
// (at most 2 s) and registrations to astdb, stops every timer and returns when every goroutine
// of the server has ended. Registrations stay in memory, in astdb and in the realtime rows;
// Start may be called again.
func (s *Server) Close() { s.stop("noresource") }

// stop is Close; subscriptions end with a NOTIFY "terminated;reason=<reason>", sent while the
// transports still run.
func (s *Server) stop(reason string) {
	s.runMu.Lock()
	if !s.running || s.stopping {
		s.runMu.Unlock()
		return
	}
	s.stopping = true
	stopMWI := s.mwiStop
	s.mwiStop = nil
	s.runMu.Unlock()
	if stopMWI != nil {
		stopMWI()
	}
	s.subs.closeAll(reason)
	s.hangupAll() // BYE, CANCEL or a final response while the transports still run
	s.runMu.Lock()
	s.running, s.stopping = false, false
	s.udpAddr, s.tcpAddr = netip.AddrPort{}, netip.AddrPort{}
	s.runMu.Unlock()
	for _, p := range s.allPeers() {
		p.stopTimers()
	}
	s.wb.flush(2 * time.Second)
	s.cancel()
	if ntx := s.ntx.Load(); ntx != nil {
		ntx.close()
	}
	s.udpConn.Close()
	if s.tcpL != nil {
		s.tcpL.Close()
	}
	s.ua.Close()
	s.tasks.close()
	s.pool.close()
	s.wg.Wait()
	s.reg.flush()
	if a := s.fast.answers; a != nil {
		a.release() // the reading goroutine and every handler have ended
	}
}

func (s *Server) isRunning() bool {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	return s.running
}

// DeviceState returns the state of device "SIP/<peer>" (a devstate provider): state.NotInUse,
// state.Unavailable, or state.Invalid for no such peer. Only peers in memory are known (no database
// lookup).
func (s *Server) DeviceState(device string) state.Device {
	name, ok := strings.CutPrefix(device, "SIP/")
	if !ok {
		return state.Invalid
	}
	s.mu.RLock()
	p := s.peers[name]
	s.mu.RUnlock()
	if p == nil {
		return state.Invalid
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.deviceStateLocked()
}

func (s *Server) allPeers() []*peer {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Collect(maps.Values(s.peers))
}

// janitor sweeps nonces and clears cached realtime peers (rtautoclear).
func (s *Server) janitor(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			set := s.set.Load()
			s.nonces.rotate(now, set.nonceLifetime)
			s.guard.sweep(now, set)
			if s.tcpL != nil {
				s.tcpL.sweep(now, set)
			}
			s.autoclear(now)
		}
	}
}

const (
	maxMessageSize = 16 * 1024
	allowMethods   = "INVITE, ACK, CANCEL, OPTIONS, BYE, REGISTER, SUBSCRIBE, NOTIFY, UPDATE, PRACK"
)

// readFilter is the transport hook: size limit and "sip set debug". UDP datagrams went through
// takeUDP already (batchConn).
func (s *Server) readFilter(info sip.TransportReadProps, data []byte) ([]byte, error) {
	if info.Transport == "UDP" {
		return data, nil
	}
	if s.filterIn(info.Transport, info.RemoteAddr, data) {
		return nil, nil
	}
	return data, nil
}

// takeUDP is batchConn's filter for the UDP socket.
func (s *Server) takeUDP(data []byte, from net.Addr, waited time.Duration) bool {
	return s.filterIn("UDP", from, data) || s.absorbAccepted(data, from) || s.resendAnswer(data, from) || s.shedUDP(data, from, waited) || s.fastRegister(data, from)
}

// filterIn drops oversized messages, prints messages for "sip set debug" and settles, unparsed,
// the answers to NOTIFYs sent over UDP (notifytx.go); it reports whether data was consumed.
func (s *Server) filterIn(transport string, from net.Addr, data []byte) bool {
	if len(data) > maxMessageSize {
		s.stats.dropped.Add(1)
		s.log.Log(context.Background(), logger.DebugLevel(1), "SIP: dropped oversized message", "from", from.String(), "bytes", len(data))
		return true
	}
	if s.debugOn() && s.debugging(from.String()) {
		s.log.Log(context.Background(), logger.Verbose(1), fmt.Sprintf("\n<--- SIP read from %s:%s --->\n%s\n<------------->",
			strings.ToUpper(transport), from.String(), strings.TrimRight(string(data), "\r\n")))
	}
	if ntx := s.ntx.Load(); ntx != nil && ntx.rawAnswer(data) {
		return true
	}
	return false
}

// debugOn reports whether "sip set debug" is on at all (cheap: the hot paths ask it before
// formatting an address for debugging).
func (s *Server) debugOn() bool { return s.debugAll.Load() || s.debugPeer.Load() != nil }

func (s *Server) debugging(addr string) bool {
	if s.debugAll.Load() {
		return true
	}
	dp := s.debugPeer.Load()
	if dp == nil || addr == "" {
		return false
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	return host == *dp
}

func (s *Server) debugOut(msg sip.Message, dest string) {
	if s.debugging(dest) {
		s.log.Log(context.Background(), logger.Verbose(1), fmt.Sprintf("\n<--- Transmitting to %s --->\n%s\n<------------>", dest, strings.TrimRight(msg.String(), "\r\n")))
	}
}

// reply answers req and terminates the server transaction at once: Pleiades does not keep
// non-INVITE server transactions for Timer J (see the package documentation).
func (s *Server) reply(req *sip.Request, tx sip.ServerTransaction, code int, reason string, hdrs ...sip.Header) {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	s.send(req, tx, res)
}

func (s *Server) send(req *sip.Request, tx sip.ServerTransaction, res *sip.Response) {
	if res.GetHeader("Server") == nil {
		res.AppendHeader(sip.NewHeader("Server", s.set.Load().userAgent))
	}
	s.debugOut(res, req.Source())
	if err := tx.Respond(res); err != nil {
		s.log.Log(context.Background(), logger.DebugLevel(1), "SIP: response not sent", "err", err, "to", req.Source())
	}
	if !req.IsInvite() {
		tx.Terminate()
	} else if res.StatusCode >= 200 && res.StatusCode < 300 {
		s.accepted(req) // its retransmissions are dropped from now on (accepted.go)
	}
}

// handleOptions answers OPTIONS (and loads a realtime peer named by the From user, as chan_sip
// does, so that a cached peer appears after its first OPTIONS).
func (s *Server) handleOptions(req *sip.Request, tx sip.ServerTransaction) {
	if f := req.From(); f != nil && f.Address.User != "" && s.rt != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, _ = s.findPeer(ctx, f.Address.User)
		cancel()
	}
	s.reply(req, tx, 200, "OK",
		sip.NewHeader("Allow", allowMethods),
		sip.NewHeader("Accept", "application/sdp, application/dialog-info+xml, application/pidf+xml, application/simple-message-summary"),
		sip.NewHeader("Allow-Events", allowEvents),
		sip.NewHeader("Supported", "replaces, timer"))
}

func sourceAddr(req *sip.Request) (netip.AddrPort, bool) {
	ap, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
}

func transportOf(req *sip.Request) string {
	t := strings.ToLower(req.Transport())
	if t == "" {
		return "udp"
	}
	return t
}

// localHostFor returns the address this server is reachable at for remote (our bind address,
// or, when bound to a wildcard, the source address the kernel would pick).
func (s *Server) localHostFor(remote netip.AddrPort, transport string) (string, int) {
	s.runMu.Lock()
	la := s.udpAddr
	if transport == "tcp" && s.tcpAddr.IsValid() {
		la = s.tcpAddr
	}
	s.runMu.Unlock()
	if !la.Addr().IsUnspecified() {
		return la.Addr().String(), int(la.Port())
	}
	c, err := net.Dial("udp", remote.String())
	if err != nil {
		return "127.0.0.1", int(la.Port())
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP.String(), int(la.Port())
}

// quietHandler passes sipgo's own log records on at debug level: malformed packets must not
// flood the logs at error level.
type quietHandler struct{ h slog.Handler }

func (q *quietHandler) Enabled(ctx context.Context, _ slog.Level) bool {
	return q.h.Enabled(ctx, logger.DebugLevel(3))
}
func (q *quietHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Level = logger.DebugLevel(3)
	return q.h.Handle(ctx, r)
}
func (q *quietHandler) WithAttrs(a []slog.Attr) slog.Handler { return &quietHandler{q.h.WithAttrs(a)} }
func (q *quietHandler) WithGroup(n string) slog.Handler      { return &quietHandler{q.h.WithGroup(n)} }
