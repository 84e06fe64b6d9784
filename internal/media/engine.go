package media

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"sync"
)

// Errors.
var (
	// ErrNoPorts: every RTP port pair of the range is taken.
	ErrNoPorts = errors.New("media: no free RTP port")
	// ErrClosed: the engine or session is closed.
	ErrClosed = errors.New("media: closed")
	// ErrBridged: the session is in a bridge (or echoing); unbridge it first.
	ErrBridged = errors.New("media: session is bridged")
	// ErrNoRemote: the session has no remote address or codec yet (SetRemote).
	ErrNoRemote = errors.New("media: no remote address")
)

// Engine owns the RTP port range and the sessions made from it.
type Engine struct {
	log *slog.Logger
	tr  transport

	mu       sync.Mutex
	cfg      Config
	used     map[int]bool // RTP ports (even) held by sessions
	sessions map[*Session]struct{}
	closed   bool
	gone     totals // of closed sessions
	ids      uint64

	// bridgeMu serialises Bridge, Unbridge and Echo so that pairs change atomically.
	bridgeMu sync.Mutex
}

// Stats are the engine's counters.
type Stats struct {
	Sessions   int // open sessions
	PortsInUse int // RTP and RTCP ports held (2 per session)
	PortsTotal int // ports of the range (RTP and RTCP)
	// Totals over every session the engine has had.
	Relayed    uint64 // packets forwarded by bridges and echo
	Transcoded uint64 // packets of them converted between µ-law and A-law
	Strangers  uint64 // packets dropped by strictrtp (from a source not locked to or learning)
	Dropped    uint64 // other packets dropped: malformed, unknown payload type, no way to send
}

// NewEngine returns an engine over cfg's port range. log may be nil.
func NewEngine(cfg Config, log *slog.Logger) *Engine {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg = fillConfig(cfg)
	return &Engine{log: log, tr: newTransport(), cfg: cfg, used: map[int]bool{}, sessions: map[*Session]struct{}{}}
}

func fillConfig(cfg Config) Config {
	d := DefaultConfig()
	if cfg.RTPStart == 0 && cfg.RTPEnd == 0 {
		cfg.RTPStart, cfg.RTPEnd = d.RTPStart, d.RTPEnd
	}
	if cfg.Probation <= 0 {
		cfg.Probation = d.Probation
	}
	if cfg.LearningTimeout <= 0 {
		cfg.LearningTimeout = d.LearningTimeout
	}
	if cfg.RTCPInterval <= 0 {
		cfg.RTCPInterval = d.RTCPInterval
	}
	return cfg
}

// Reconfigure applies a new configuration (rtp.conf reload). The port range and the strict
// RTP settings apply to sessions made from now on; open sessions keep their ports and
// settings.
func (e *Engine) Reconfigure(cfg Config) {
	cfg = fillConfig(cfg)
	e.mu.Lock()
	e.cfg = cfg
	e.mu.Unlock()
}

// Config returns the configuration in force.
func (e *Engine) Config() Config {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cfg
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := Stats{Sessions: len(e.sessions), PortsInUse: 2 * len(e.used)}
	lo := e.cfg.RTPStart + e.cfg.RTPStart%2
	if e.cfg.RTPEnd >= lo {
		st.PortsTotal = 2 * ((e.cfg.RTPEnd-lo)/2 + 1)
	}
	c := e.gone
	for s := range e.sessions {
		c.add(&s.ctr)
	}
	st.Relayed, st.Transcoded, st.Strangers, st.Dropped = c.relayed, c.transcoded, c.strangers, c.dropped
	return st
}

// Close closes every session and stops the engine's goroutines; NewSession fails from
// then on.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	list := make([]*Session, 0, len(e.sessions))
	for s := range e.sessions {
		list = append(list, s)
	}
	e.mu.Unlock()
	for _, s := range list {
		s.Close()
	}
	e.tr.shutdown()
	return nil
}

// NewSession opens an RTP session: an even RTP port of the range and the RTCP port above
// it, bound to opts.LocalIP (0.0.0.0 when unset), and starts reading them.
func (e *Engine) NewSession(opts SessionOptions) (*Session, error) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, ErrClosed
	}
	cfg := e.cfg
	rtp, rtcp, port, err := e.bindLocked(cfg, opts.LocalIP)
	if err != nil {
		e.mu.Unlock()
		return nil, err
	}
	e.ids++
	s := newSession(e, cfg, opts, rtp, rtcp, port, e.ids)
	e.sessions[s] = struct{}{}
	e.tr.start(s)
	e.mu.Unlock()
	return s, nil
}

// bindLocked finds a free pair as Asterisk does: a random even start in the range, then
// up by 2 (wrapping) until both sockets bind.
func (e *Engine) bindLocked(cfg Config, ip netip.Addr) (sock, sock, int, error) {
	lo := cfg.RTPStart + cfg.RTPStart%2
	hi := cfg.RTPEnd
	if hi < lo {
		return nil, nil, 0, fmt.Errorf("%w: empty range %d-%d", ErrNoPorts, cfg.RTPStart, cfg.RTPEnd)
	}
	n := (hi-lo)/2 + 1
	if !ip.IsValid() {
		ip = netip.IPv4Unspecified()
	}
	ip = ip.Unmap()
	first := rand.IntN(n)
	for i := range n {
		port := lo + 2*((first+i)%n)
		if e.used[port] {
			continue
		}
		rtp, err := e.tr.bind(ip, port, cfg.Checksums)
		if err != nil {
			if addrInUse(err) {
				continue
			}
			return nil, nil, 0, fmt.Errorf("media: bind %s: %w", netip.AddrPortFrom(ip, uint16(port)), err)
		}
		rtcp, err := e.tr.bind(ip, port+1, cfg.Checksums)
		if err != nil {
			rtp.close()
			if addrInUse(err) {
				continue
			}
			return nil, nil, 0, fmt.Errorf("media: bind %s: %w", netip.AddrPortFrom(ip, uint16(port+1)), err)
		}
		e.used[port] = true
		return rtp, rtcp, port, nil
	}
	return nil, nil, 0, fmt.Errorf("%w in %d-%d (%d sessions open)", ErrNoPorts, cfg.RTPStart, cfg.RTPEnd, len(e.sessions))
}

// release takes a closed session out and gives its ports back.
func (e *Engine) release(s *Session) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.sessions[s]; !ok {
		return
	}
	delete(e.sessions, s)
	delete(e.used, s.port)
	e.gone.add(&s.ctr)
}
