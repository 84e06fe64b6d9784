package sip

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/state"

	"github.com/emiago/sipgo/sip"

	"github.com/pleiades-pbx/pleiades/internal/callerid"
	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/logger"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

// qualify status of a peer.
const (
	statusUnmonitored = iota
	statusUnknown
	statusOK
	statusUnreachable
)

// peer is one SIP peer in memory: its configuration (replaced on reload) and its registration
// and qualify state.
//
// Lock order: Server.mu → peer.devMu → peer.mu → subStore.mu. DeviceStates is called with
// devMu held and mu released.
type peer struct {
	s    *Server
	name string
	cfg  atomic.Pointer[peerConfig]

	devMu sync.Mutex // serialises device state reports
	mu    sync.Mutex
	// realtime
	loaded time.Time
	cached bool
	stale  bool
	gone   bool
	// registration (addr invalid: not registered)
	addr       netip.AddrPort
	transport  string
	contact    string // full Contact URI as registered
	contactURI sip.Uri
	expires    time.Time // zero for a static host
	userAgent  string
	username   string
	// natDetected: the last authenticated request came from another address than its Via
	// says (chan_sip's natdetected, for nat=auto_force_rport and auto_comedia)
	natDetected bool
	regTimer    *time.Timer
	// qualify and keepalive
	status  int
	lastms  int
	qGen    int // bumps to stop a running qualify loop
	qTimer  *time.Timer
	kaTimer *time.Timer
	// calls (call.go): in use (ringing included), ringing, on hold, as chan_sip's counters
	inUse, inRinging, onHold int
	devState                 state.Device // last reported (reported: whether any was)
	reported                 bool
	// the registration as last published to the cluster (locate.go): its expiry (zero: none
	// published), our address published and the phone's address it was worked out for
	locExpires time.Time
	locAddr    netip.AddrPort
	locFrom    netip.AddrPort
	// the registration as last written back to realtime (rtupdate): what it said and its
	// regseconds; a re-registration that moves only regseconds, by less than half its
	// expiry, is not written again (registrar.go)
	rtWritten   string
	rtWrittenAt int64
}

func newPeer(s *Server, cfg *peerConfig) *peer {
	p := &peer{s: s, name: cfg.name}
	p.cfg.Store(cfg)
	return p
}

func (p *peer) deviceStateLocked() state.Device {
	if p.gone || !p.addr.IsValid() {
		return state.Unavailable
	}
	cfg := p.cfg.Load()
	// chan_sip's sip_devicestate, with the counters kept for every peer (chan_sip keeps them
	// only with call-limit or callcounter=yes; Pleiades' device states come from them)
	switch {
	case p.onHold > 0:
		return state.OnHold
	case p.inRinging > 0 && p.inRinging >= p.inUse:
		return state.Ringing
	case p.inRinging > 0:
		return state.RingInUse
	case cfg.callLimit > 0 && cfg.callLimit < math.MaxInt32 && p.inUse >= cfg.callLimit:
		return state.Busy
	case cfg.busyLevel > 0 && p.inUse >= cfg.busyLevel:
		return state.Busy
	case p.inUse > 0:
		return state.InUse
	}
	if cfg.qualifyMS > 0 && p.status == statusUnreachable {
		return state.Unavailable
	}
	return state.NotInUse
}

// reportDevice sends the device state when it changed.
func (p *peer) reportDevice() { p.report(false) }

// reportDeviceSync is reportDevice returning once the change has been announced when the
// device-state sink can tell (DeviceSyncer).
func (p *peer) reportDeviceSync() { p.report(true) }

func (p *peer) report(sync bool) {
	defer p.reportLocation() // after devMu is released
	if p.s.ds == nil {
		return
	}
	p.devMu.Lock()
	defer p.devMu.Unlock()
	p.mu.Lock()
	st := p.deviceStateLocked()
	changed := st != p.devState || !p.reported
	p.devState, p.reported = st, true
	p.mu.Unlock()
	if !changed {
		return
	}
	if ss, ok := p.s.ds.(DeviceSyncer); ok && sync {
		ss.SetDeviceSync("SIP/"+p.name, st)
		return
	}
	p.s.ds.SetDevice("SIP/"+p.name, st)
}

// subscriptionUser is the user chan_sip shows for a subscription of this peer: its username
// (defaultuser, else the user of its registered Contact), else its callerid number, else
// "(None)".
func (p *peer) subscriptionUser(cfg *peerConfig) string {
	p.mu.Lock()
	u := orDefault(cfg.defaultUser, p.username)
	p.mu.Unlock()
	if u == "" {
		_, u = callerid.Split(cfg.callerID)
	}
	return orDefault(u, "(None)")
}

// reconfigured is called after (re)configuration of a static peer: a peer with a static host
// gets its address, and qualify restarts with the new settings (its first OPTIONS after
// firstQualify).
func (p *peer) reconfigured(running bool, firstQualify time.Duration) {
	cfg := p.cfg.Load()
	p.mu.Lock()
	if !cfg.dynamic && !cfg.realtime {
		p.addr = netip.AddrPort{}
		if a, err := netip.ParseAddr(cfg.host); err == nil {
			port := cfg.port
			if port == 0 {
				port = defaultPort
			}
			p.addr = netip.AddrPortFrom(a, uint16(port))
			p.transport = cfg.transport
			p.contactURI = sip.Uri{Scheme: "sip", User: cfg.defaultUser, Host: a.String(), Port: port}
			p.contact = p.contactURI.String()
		}
	}
	p.mu.Unlock()
	if running {
		p.restartTimersAfter(firstQualify)
	}
	p.reportDevice()
}

// destroy removes the peer for good (removed from sip.conf, pruned, deleted from the database).
func (p *peer) destroy() {
	p.mu.Lock()
	p.gone = true
	p.mu.Unlock()
	p.stopTimers()
	p.reportDevice()
}

func (p *peer) stopTimers() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.qGen++
	for _, t := range []*time.Timer{p.regTimer, p.qTimer, p.kaTimer} {
		if t != nil {
			t.Stop()
		}
	}
	p.regTimer, p.qTimer, p.kaTimer = nil, nil, nil
}

// restartTimers (re)starts qualify (at once) and keepalive for a peer with an address.
func (p *peer) restartTimers() { p.restartTimersAfter(0) }

// pokeSchedule staggers the first qualify of every peer when the server starts, as chan_sip's
// sip_poke_all_peers: qualifypeers peers at once, the next ones qualifygap later, and so on.
type pokeSchedule struct {
	n  int
	at time.Duration
}

func (ps *pokeSchedule) next(cfg *peerConfig, set *settings) time.Duration {
	if cfg.qualifyMS == 0 {
		return 0
	}
	if ps.n == set.qualifyPeers {
		ps.at += set.qualifyGap
		ps.n = 0
	} else {
		ps.n++
	}
	return ps.at
}

// restartTimersAfter (re)starts qualify (the first OPTIONS after first) and keepalive for a
// peer with an address.
func (p *peer) restartTimersAfter(first time.Duration) {
	cfg := p.cfg.Load()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.qGen++
	if p.qTimer != nil {
		p.qTimer.Stop()
		p.qTimer = nil
	}
	if p.kaTimer != nil {
		p.kaTimer.Stop()
		p.kaTimer = nil
	}
	if p.gone || !p.addr.IsValid() || !p.s.isRunning() {
		if cfg.qualifyMS == 0 {
			p.status = statusUnmonitored
		}
		return
	}
	if cfg.qualifyMS > 0 {
		if p.status == statusUnmonitored {
			p.status = statusUnknown
		}
		gen := p.qGen
		p.qTimer = p.s.afterFunc(first, func() { p.qualify(gen) })
	} else {
		p.status = statusUnmonitored
		p.lastms = 0
	}
	if cfg.keepalive > 0 {
		gen := p.qGen
		p.kaTimer = p.s.afterFunc(cfg.keepalive, func() { p.keepalive(gen) })
	}
}

// findPeer returns the peer named name: a static one, a cached realtime one, or one loaded
// from sippeers now. (nil, nil) means no such peer. An error means the database failed and
// nothing is in memory for that name.
func (s *Server) findPeer(ctx context.Context, name string) (*peer, error) {
	if name == "" {
		return nil, nil
	}
	s.mu.RLock()
	p := s.peers[name]
	s.mu.RUnlock()
	if p != nil {
		if !p.cfg.Load().realtime {
			return p, nil
		}
		p.mu.Lock()
		fresh := p.cached && !p.stale && !p.gone
		p.mu.Unlock()
		if fresh {
			return p, nil
		}
	}
	if s.rt == nil || !s.rt.Mapped("sippeers") {
		return p, nil
	}
	set := s.set.Load()
	// Only a query needs a deadline: a timer per request costs the cached path a few µs.
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	changes := s.rtf.stamp(name) // a change heard during the query leaves the peer stale
	row, err := s.rt.Load(ctx, "sippeers", realtime.Field{Name: "name", Value: name})
	if errors.Is(err, realtime.ErrNotFound) {
		if p != nil {
			s.removePeer(p, "no longer in realtime")
		}
		return nil, nil
	}
	if err != nil {
		if p != nil {
			s.log.Warn("SIP: realtime lookup failed; using the peer in memory", "peer", logValue(name), "err", err)
			return p, nil
		}
		return nil, err
	}
	cfg, err := peerFromRow(name, row, set)
	if err != nil {
		s.log.Warn("SIP: realtime peer ignored", "peer", logValue(name), "err", err)
		if p != nil {
			s.removePeer(p, "invalid realtime row")
		}
		return nil, nil
	}
	now := time.Now()
	s.mu.Lock()
	cur := s.peers[name]
	if cur != nil && !cur.cfg.Load().realtime {
		s.mu.Unlock()
		return cur, nil
	}
	if cur != nil {
		cur.cfg.Store(cfg)
		cur.mu.Lock()
		cur.loaded, cur.stale, cur.cached = now, s.rtf.stamp(name) != changes, set.rtCacheFriends
		cur.mu.Unlock()
		s.mu.Unlock()
		return cur, nil
	}
	p = newPeer(s, cfg)
	p.loaded, p.cached, p.stale = now, set.rtCacheFriends, s.rtf.stamp(name) != changes
	restored := p.restoreRegistration(row, set, now)
	keep := (p.cached || restored) && s.realtimeCountLocked() < set.maxRegistrations
	if keep {
		s.peers[name] = p
	}
	s.mu.Unlock()
	if keep && restored {
		p.armExpiry()
		p.restartTimers()
		p.reportDevice()
	}
	return p, nil
}

func (s *Server) realtimeCountLocked() int {
	n := 0
	for _, p := range s.peers {
		if p.cfg.Load().realtime {
			n++
		}
	}
	return n
}

// adopt keeps an uncached realtime peer in memory while it is registered.
func (s *Server) adopt(p *peer) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := s.peers[p.name]; cur != nil {
		return cur == p
	}
	if s.realtimeCountLocked() >= s.set.Load().maxRegistrations {
		return false
	}
	s.peers[p.name] = p
	return true
}

func (s *Server) removePeer(p *peer, why string) {
	s.mu.Lock()
	if s.peers[p.name] == p {
		delete(s.peers, p.name)
	}
	s.mu.Unlock()
	p.destroy()
	s.log.Log(context.Background(), logger.Verbose(3), "SIP: peer removed from memory", "peer", p.name, "why", why)
}

// peerFromRow builds a realtime peer's configuration from its sippeers row.
func peerFromRow(name string, row realtime.Row, set *settings) (*peerConfig, error) {
	fs := make([]field, 0, len(row))
	for i, f := range row {
		fs = append(fs, field{&conf.Variable{Name: f.Name, Value: f.Value, File: "realtime:sippeers:" + name, Line: i + 1}})
	}
	cfg, errs, _ := buildPeer(name, fs, set, true, "realtime:sippeers", 0)
	if len(errs) > 0 {
		return nil, errs
	}
	return cfg, nil
}

// restoreRegistration takes the registration from the row (ipaddr, port, regseconds,
// fullcontact, useragent) when it has not expired (or ignoreregexpire).
func (p *peer) restoreRegistration(row realtime.Row, set *settings, now time.Time) bool {
	ip, _ := row.Get("ipaddr")
	port, _ := row.Get("port")
	regs, _ := row.Get("regseconds")
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	pn, err := strconv.Atoi(port)
	if err != nil || pn <= 0 || pn > 65535 {
		return false
	}
	rs, _ := strconv.ParseInt(regs, 10, 64)
	exp := time.Unix(rs, 0)
	if rs <= 0 || (!exp.After(now) && !set.ignoreRegExpire) {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.addr = netip.AddrPortFrom(a.Unmap(), uint16(pn))
	p.transport = "udp"
	if fc, ok := row.Get("fullcontact"); ok {
		p.contact = fc
		var u sip.Uri
		if sip.ParseUri(fc, &u) == nil {
			p.contactURI = u
			if t, ok := u.UriParams.Get("transport"); ok && (t == "tcp" || t == "TCP") {
				p.transport = "tcp"
			}
		}
	}
	if p.contact == "" {
		p.contactURI = sip.Uri{Scheme: "sip", User: p.name, Host: a.String(), Port: pn}
		p.contact = p.contactURI.String()
	}
	p.userAgent, _ = row.Get("useragent")
	p.username, _ = row.Get("defaultuser")
	p.expires = exp
	if !exp.After(now) { // ignoreregexpire: keep it for one default period
		p.expires = now.Add(time.Duration(set.defaultExpiry) * time.Second)
	}
	return true
}

// armExpiry (re)arms the registration expiry timer.
func (p *peer) armExpiry() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.regTimer != nil {
		p.regTimer.Stop()
		p.regTimer = nil
	}
	if p.expires.IsZero() || !p.addr.IsValid() {
		return
	}
	exp := p.expires
	p.regTimer = p.s.afterFunc(time.Until(exp), func() { p.expire(exp) })
}

// register records a registration (contact is contactURI as text).
func (p *peer) register(addr netip.AddrPort, transport string, contactURI sip.Uri, contact string, expires time.Time, ua, username string) {
	p.mu.Lock()
	p.addr, p.transport, p.contactURI = addr, transport, contactURI
	p.contact = contact
	p.expires, p.userAgent, p.username = expires, ua, username
	p.gone = false
	p.mu.Unlock()
	p.armExpiry()
}

// unregister clears the registration (Expires: 0, expiry, or prune).
func (p *peer) unregister(why string, writeBack bool) {
	cfg := p.cfg.Load()
	p.mu.Lock()
	wasReg := p.addr.IsValid()
	p.addr = netip.AddrPort{}
	p.contact, p.contactURI, p.expires, p.userAgent = "", sip.Uri{}, time.Time{}, ""
	p.lastms = 0
	if cfg.qualifyMS > 0 {
		p.status = statusUnknown
	}
	cached := p.cached
	p.mu.Unlock()
	p.stopTimers()
	p.reportDevice()
	if !wasReg {
		return
	}
	p.s.log.Log(context.Background(), logger.Verbose(3), fmt.Sprintf("Unregistered SIP '%s' (%s)", p.name, why))
	if !cfg.realtime && writeBack {
		p.s.reg.del(p.name)
	}
	if cfg.realtime {
		set := p.s.set.Load()
		if writeBack && set.rtUpdate {
			p.s.wb.enqueue(p.name, clearFields(set))
			p.mu.Lock()
			p.rtWritten, p.rtWrittenAt = "", 0
			p.mu.Unlock()
		}
		if !cached {
			p.s.removePeer(p, why)
		}
	}
}

// expire runs when the registration timer fires.
func (p *peer) expire(at time.Time) {
	p.mu.Lock()
	current := p.expires.Equal(at)
	p.mu.Unlock()
	if !current {
		return
	}
	set := p.s.set.Load()
	p.unregister("expired", !set.ignoreRegExpire)
}

func clearFields(set *settings) []realtime.Field {
	fs := []realtime.Field{
		{Name: "ipaddr", Value: ""}, {Name: "port", Value: "0"}, {Name: "regseconds", Value: "0"},
		{Name: "defaultuser", Value: ""}, {Name: "fullcontact", Value: ""}, {Name: "useragent", Value: ""},
		{Name: "lastms", Value: "0"},
	}
	if set.rtSaveSysname {
		fs = append(fs, realtime.Field{Name: "regserver", Value: ""})
	}
	return fs
}

// autoclear drops cached realtime peers rtautoclear seconds after they were loaded: an
// unregistered one leaves memory, a registered one is re-read from the database on its next
// request (its registration stays).
func (s *Server) autoclear(now time.Time) {
	set := s.set.Load()
	if set.rtAutoClear <= 0 {
		return
	}
	var drop []*peer
	s.mu.RLock()
	for _, p := range s.peers {
		if !p.cfg.Load().realtime {
			continue
		}
		p.mu.Lock()
		if p.cached && !p.stale && now.Sub(p.loaded) >= set.rtAutoClear {
			if p.addr.IsValid() {
				p.stale = true
			} else {
				drop = append(drop, p)
			}
		}
		p.mu.Unlock()
	}
	s.mu.RUnlock()
	for _, p := range drop {
		s.removePeer(p, "rtautoclear")
	}
}

// prune implements "sip prune realtime": name "" prunes every realtime peer. It returns the
// number pruned. Registrations live on in the database rows and come back on the next lookup.
func (s *Server) prune(name string) int {
	var drop []*peer
	s.mu.Lock()
	for n, p := range s.peers {
		if !p.cfg.Load().realtime || (name != "" && n != name) {
			continue
		}
		delete(s.peers, n)
		drop = append(drop, p)
	}
	s.mu.Unlock()
	for _, p := range drop {
		p.stopTimers()
	}
	return len(drop)
}

// writeBack writes registration data to sippeers off the request path: one pending update
// per peer (later fields replace earlier ones), written by two workers. A failed write is
// logged and dropped (the registration stays in memory).
type writeBack struct {
	s       *Server
	mu      sync.Mutex
	pending map[string][]realtime.Field
	queue   []string
	busy    int
	wake    chan struct{}
}

func newWriteBack(s *Server) *writeBack {
	return &writeBack{s: s, pending: map[string][]realtime.Field{}, wake: make(chan struct{}, 1)}
}

func (w *writeBack) enqueue(name string, fs []realtime.Field) {
	if w.s.rt == nil {
		return
	}
	w.mu.Lock()
	cur, ok := w.pending[name]
	if !ok {
		w.queue = append(w.queue, name)
		w.pending[name] = fs
	} else {
		for _, f := range fs {
			replaced := false
			for i := range cur {
				if cur[i].Name == f.Name {
					cur[i].Value, replaced = f.Value, true
				}
			}
			if !replaced {
				cur = append(cur, f)
			}
		}
		w.pending[name] = cur
	}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *writeBack) start(ctx context.Context, wg *sync.WaitGroup) {
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if !w.runOne() {
					select {
					case <-ctx.Done():
						return
					case <-w.wake:
					}
				}
			}
		}()
	}
}

// runOne writes one pending update; false when there is none.
func (w *writeBack) runOne() bool {
	w.mu.Lock()
	if len(w.queue) == 0 {
		w.mu.Unlock()
		return false
	}
	name := w.queue[0]
	w.queue[0] = ""
	w.queue = w.queue[1:]
	if len(w.queue) == 0 {
		w.queue = nil
	}
	fs := w.pending[name]
	delete(w.pending, name)
	w.busy++
	w.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_, err := w.s.rt.Update(ctx, "sippeers", "name", name, fs...)
	cancel()
	if err != nil {
		w.s.log.Warn("SIP: realtime update of sippeers failed", "peer", name, "err", err)
	}
	w.mu.Lock()
	w.busy--
	w.mu.Unlock()
	return true
}

func (w *writeBack) depth() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.queue)
}

// idle reports whether nothing is pending or being written.
func (w *writeBack) idle() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.queue) == 0 && w.busy == 0
}

// flush writes what is pending, for at most d.
func (w *writeBack) flush(d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if !w.runOne() {
			if w.idle() {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}
