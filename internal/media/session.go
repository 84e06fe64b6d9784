package media

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/logger"
	"github.com/pleiades-pbx/pleiades/internal/media/sdp"
)

// SessionOptions are a session's fixed settings.
type SessionOptions struct {
	// LocalIP is the address to bind (0.0.0.0 when unset; an IPv6 address binds IPv6).
	LocalIP netip.Addr
	// Symmetric sends to where the peer's RTP comes from once strictrtp has accepted that
	// source (chan_sip's nat=comedia; with strictrtp=no, to the last packet's source),
	// instead of the address in the peer's SDP.
	Symmetric bool
	// DTMFPT is the telephone-event payload type we put in our offers (0: 101); events
	// received with it or with the peer's are DTMF.
	DTMFPT uint8
	// OnDTMF, when set, is called for every DTMF begin and end received (see DTMF). It runs
	// on the session's reading goroutine: it must return quickly and must not call Close.
	OnDTMF func(DTMF)
	// Name names the session in logs (the channel name).
	Name string
}

// Session is one call leg's RTP: its sockets, the peer's address and codec, strictrtp
// learning, statistics, and what is done with the packets received (nothing, relayed to a
// bridged session, echoed).
type Session struct {
	e     *Engine
	log   *slog.Logger
	id    uint64
	cfg   Config
	opts  SessionOptions
	rtpS  sock
	rtcpS sock
	port  int
	local netip.AddrPort
	done  chan struct{}
	once  sync.Once
	shut  atomic.Bool

	// gen changes with each SetRemote that changes the remote address; the reader then
	// restarts strictrtp learning.
	gen atomic.Uint32
	// Read without locks on the receive path: the peer's telephone-event payload type + 1
	// (0: none), the codec we send, whether strictrtp has locked.
	rxDTMFPT atomic.Uint32
	txCodec  atomic.Uint32
	locked   atomic.Bool

	mu      sync.Mutex // guards remote, learned, bridged
	remote  sdp.Negotiated
	hasRem  bool
	learned netip.AddrPort // the source strictrtp accepted (for Peer)

	// sink receives what this session reads: the bridged peer, itself while echoing, or
	// nil. Written under Engine.bridgeMu.
	sink    atomic.Pointer[Session]
	bridged *Session // under Engine.bridgeMu
	echoing bool     // under Engine.bridgeMu

	rx rxState // reader goroutine only

	txMu sync.Mutex
	tx   txState

	ctr counters

	dtmfMu   sync.Mutex
	dtmfSubs map[chan DTMF]struct{}

	rec atomic.Pointer[recorder] // Record in progress
}

// rxState belongs to the reading goroutine.
type rxState struct {
	gen     uint32
	sdpAddr netip.AddrPort

	// strictrtp
	strict     uint8 // strictOpen, strictLearn, strictClosed
	source     netip.AddrPort
	learnStart time.Time
	cand       netip.AddrPort
	candSeq    uint16
	candCount  int
	candFirst  time.Time
	dest       netip.AddrPort // last destination pushed to tx (Symmetric)

	// RFC 3550 statistics of the received stream
	haveSeq   bool
	ssrc      uint32
	baseSeq   uint16
	maxSeq    uint16
	cycles    uint32
	received  int64
	lostPrev  int64 // lost under earlier SSRCs
	transit   int32
	jitter    float64
	haveTrans bool
	epoch     time.Time

	dtmf dtmfRx
}

const (
	strictOpen uint8 = iota
	strictLearn
	strictClosed
)

// txState is guarded by Session.txMu.
type txState struct {
	dest    netip.AddrPort
	sdpDest netip.AddrPort
	canSend bool
	codec   Codec
	dtmfPT  int // -1: the peer takes no telephone-event
	ptime   int

	ssrc    uint32
	seq     uint16 // last sent
	ts      uint32 // last sent
	lastAt  time.Time
	sent    bool
	busy    int      // Play/SendDTMF in progress: relayed packets are not sent
	prod    *Session // producer of the last packet sent: a relaying session, or nil for local
	prodSet bool
	prodSSR uint32
	seqOff  uint16
	tsOff   uint32
}

type counters struct {
	rxPackets, rxBytes, txPackets, txBytes  atomic.Uint64
	relayed, transcoded, strangers, dropped atomic.Uint64
	rtcpRx                                  atomic.Uint64
	lost                                    atomic.Int64
	jitterBits                              atomic.Uint64 // float64 seconds
	remoteLost                              atomic.Int64
	remoteJitterNS                          atomic.Int64
}

type totals struct{ relayed, transcoded, strangers, dropped uint64 }

func (t *totals) add(c *counters) {
	t.relayed += c.relayed.Load()
	t.transcoded += c.transcoded.Load()
	t.strangers += c.strangers.Load()
	t.dropped += c.dropped.Load()
}

func newSession(e *Engine, cfg Config, opts SessionOptions, rtp, rtcp sock, port int, id uint64) *Session {
	if opts.DTMFPT == 0 || opts.DTMFPT > 127 {
		opts.DTMFPT = sdp.TelephoneEvent.PT
	}
	s := &Session{
		e: e, id: id, cfg: cfg, opts: opts, rtpS: rtp, rtcpS: rtcp, port: port,
		local: rtp.localAddr(),
		done:  make(chan struct{}),
	}
	name := opts.Name
	if name == "" {
		name = fmt.Sprintf("rtp-%d", id)
	}
	s.log = e.log.With("session", name)
	s.tx.ssrc = rand.Uint32()
	s.tx.seq = uint16(rand.Uint32())
	s.tx.ts = rand.Uint32()
	s.tx.dtmfPT = -1
	s.tx.ptime = 20
	s.rx.epoch = time.Now()
	s.rx.strict = strictOpen
	if cfg.Strict != StrictNo {
		s.rx.strict = strictLearn
		s.rx.learnStart = s.rx.epoch
	}
	return s
}

// LocalAddr is the session's RTP address (its IP is the bound one: 0.0.0.0 when bound to
// every address; the SIP layer puts its own address in the SDP).
func (s *Session) LocalAddr() netip.AddrPort { return s.local }

// Done is closed when the session closes.
func (s *Session) Done() <-chan struct{} { return s.done }

// SetRemote applies a negotiated audio stream (sdp.Negotiate): where to send, the codec to
// send (PCMU or PCMA), the peer's telephone-event payload type and ptime, and whether the
// peer receives at all (hold: sendonly/inactive or c=0.0.0.0 stops our sending). A new
// remote address restarts strictrtp learning, as Asterisk does.
func (s *Session) SetRemote(n sdp.Negotiated) error {
	codec := codecOf(n.Codec)
	if codec == CodecNone {
		return fmt.Errorf("media: codec %v is not carried", n.Codec)
	}
	if s.shut.Load() {
		return ErrClosed
	}
	s.mu.Lock()
	changed := !s.hasRem || s.remote.Remote != n.Remote
	s.remote, s.hasRem = n, true
	s.mu.Unlock()

	s.txMu.Lock()
	t := &s.tx
	if changed || !t.dest.IsValid() {
		t.dest = n.Remote
	}
	t.sdpDest = n.Remote
	ip := n.Remote.Addr()
	t.canSend = ip.IsValid() && !ip.IsUnspecified() && n.Remote.Port() != 0 && n.Direction.Receives()
	t.codec = codec
	t.dtmfPT = -1
	s.rxDTMFPT.Store(0)
	if n.HasDTMF {
		t.dtmfPT = int(n.DTMF.PT)
		s.rxDTMFPT.Store(uint32(n.DTMF.PT) + 1)
	}
	s.txCodec.Store(uint32(codec))
	if n.Ptime >= 10 && n.Ptime <= 100 {
		t.ptime = n.Ptime
	}
	s.txMu.Unlock()
	if changed {
		s.gen.Add(1)
	}
	return nil
}

// Peer describes the other end as this session sees it, for directmedia: the address its
// SDP gave, the source its packets come from (the one strictrtp accepted; with
// strictrtp=no the last packet's; invalid until a packet came), and the codecs.
type Peer struct {
	SDPAddr netip.AddrPort
	Source  netip.AddrPort
	Codec   Codec
	DTMFPT  int // -1: none
	Ptime   int
}

// Peer returns what is known of the other end; ok is false before SetRemote.
func (s *Session) Peer() (p Peer, ok bool) {
	s.mu.Lock()
	p.SDPAddr, p.Source, ok = s.remote.Remote, s.learned, s.hasRem
	s.mu.Unlock()
	s.txMu.Lock()
	p.Codec, p.DTMFPT, p.Ptime = s.tx.codec, s.tx.dtmfPT, s.tx.ptime
	s.txMu.Unlock()
	return p, ok
}

// SessionStats are one session's figures (sip show channelstats).
type SessionStats struct {
	Local, Remote        netip.AddrPort // Remote: where we send
	Codec                Codec
	RxPackets, RxBytes   uint64 // RTP packets and payload bytes received (accepted)
	TxPackets, TxBytes   uint64
	Lost                 int64         // packets lost in the received stream (RFC 3550 cumulative)
	Jitter               time.Duration // interarrival jitter of the received stream (RFC 3550)
	RemoteLost           int64         // from the peer's last RTCP report on our stream
	RemoteJitter         time.Duration // idem
	Relayed, Transcoded  uint64        // packets this session received and forwarded
	Strangers, Dropped   uint64
	RTCPPackets          uint64
	Bridged, Echoing     bool
	StrictLocked         bool // strictrtp has locked to its source
	StrictSource         netip.AddrPort
	ReceivedFromAnywhere bool // strictrtp=no
}

// Stats returns the session's figures.
func (s *Session) Stats() SessionStats {
	c := &s.ctr
	st := SessionStats{
		Local:     s.local,
		RxPackets: c.rxPackets.Load(), RxBytes: c.rxBytes.Load(),
		TxPackets: c.txPackets.Load(), TxBytes: c.txBytes.Load(),
		Lost:         max(c.lost.Load(), 0),
		Jitter:       time.Duration(math.Float64frombits(c.jitterBits.Load()) * float64(time.Second)),
		RemoteLost:   c.remoteLost.Load(),
		RemoteJitter: time.Duration(c.remoteJitterNS.Load()),
		Relayed:      c.relayed.Load(), Transcoded: c.transcoded.Load(),
		Strangers: c.strangers.Load(), Dropped: c.dropped.Load(),
		RTCPPackets:          c.rtcpRx.Load(),
		ReceivedFromAnywhere: s.cfg.Strict == StrictNo,
	}
	s.txMu.Lock()
	st.Remote, st.Codec = s.tx.dest, s.tx.codec
	s.txMu.Unlock()
	s.mu.Lock()
	st.StrictSource = s.learned
	s.mu.Unlock()
	st.StrictLocked = s.locked.Load()
	if p := s.sink.Load(); p != nil {
		st.Bridged, st.Echoing = p != s, p == s
	}
	return st
}

// Close stops the session: it leaves its bridge, stops Play, Echo and SendDTMF, closes its
// sockets, waits for its goroutines and gives its ports back to the pool at once. It must
// not be called from OnDTMF.
func (s *Session) Close() error {
	s.once.Do(func() {
		s.shut.Store(true)
		close(s.done)
		s.e.bridgeMu.Lock()
		s.unbridgeLocked()
		s.e.bridgeMu.Unlock()
		s.e.tr.stop(s) // no packet of s is being handled after this
		s.txMu.Lock()  // nor sent: senders check shut under txMu
		s.rtpS.close()
		s.rtcpS.close()
		s.txMu.Unlock()
		s.e.release(s)
	})
	return nil
}

// RTP header layout; sampleTime is one sample at 8 kHz.
const (
	sampleTime = time.Second / 8000
	rtpHeader  = 12
)

// handle processes one received datagram. It allocates nothing.
func (s *Session) handle(p []byte, from netip.AddrPort, now time.Time) {
	c := &s.ctr
	if len(p) < rtpHeader || p[0]>>6 != 2 {
		c.dropped.Add(1)
		return
	}
	hl := rtpHeader + 4*int(p[0]&0x0f)
	if p[0]&0x10 != 0 { // header extension
		if len(p) < hl+4 {
			c.dropped.Add(1)
			return
		}
		hl += 4 + 4*int(binary.BigEndian.Uint16(p[hl+2:]))
	}
	end := len(p)
	if p[0]&0x20 != 0 { // padding
		pad := int(p[len(p)-1])
		end -= pad
	}
	if hl > end || end > len(p) {
		c.dropped.Add(1)
		return
	}
	pt := p[1] & 0x7f
	if pt >= 72 && pt <= 76 { // RTCP on the RTP port (rtcp-mux): not negotiated here
		c.dropped.Add(1)
		return
	}
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	seq := binary.BigEndian.Uint16(p[2:])
	ts := binary.BigEndian.Uint32(p[4:])
	ssrc := binary.BigEndian.Uint32(p[8:])

	r := &s.rx
	if g := s.gen.Load(); g != r.gen {
		r.gen = g
		s.restartLearning(now)
	}
	if !s.accept(from, seq, now) {
		c.strangers.Add(1)
		return
	}
	if r.strict == strictOpen && from != r.source {
		s.setSource(from) // strictrtp=no: the source is the last packet's
	}
	if s.opts.Symmetric {
		src := r.source
		if src.IsValid() && src != r.dest {
			r.dest = src
			s.txMu.Lock()
			s.tx.dest = src
			s.txMu.Unlock()
		}
	}

	var in Codec
	event := false
	switch {
	case pt == 0:
		in = PCMU
	case pt == 8:
		in = PCMA
	case pt == s.opts.DTMFPT || int(pt) == s.dtmfRxPT():
		event = true
	default:
		c.dropped.Add(1)
		return
	}
	c.rxPackets.Add(1)
	c.rxBytes.Add(uint64(end - hl))
	s.rxStats(seq, ts, ssrc, !event, now)
	if event {
		s.dtmfReceived(p[hl:end], ts)
	} else {
		if r.dtmf.active {
			s.dtmfCheckTimeout(ts)
		}
		if rec := s.rec.Load(); rec != nil {
			rec.add(p[hl:end], in, ssrc, ts, now)
		}
	}
	if dst := s.sink.Load(); dst != nil {
		if dst.forward(s, p[:end], hl, in, event, ssrc, seq, ts, now) {
			c.relayed.Add(1)
			if !event && in != dst.txCodecHint() {
				c.transcoded.Add(1)
			}
		} else {
			c.dropped.Add(1)
		}
	}
}

// dtmfRxPT is the peer's telephone-event payload type (the one in its SDP), which it may
// use for what it sends too.
func (s *Session) dtmfRxPT() int {
	return int(s.rxDTMFPT.Load()) - 1
}

// txCodecHint reads the codec the session sends without its lock (statistics only).
func (s *Session) txCodecHint() Codec { return Codec(s.txCodec.Load()) }

func (s *Session) restartLearning(now time.Time) {
	r := &s.rx
	s.mu.Lock()
	r.sdpAddr = s.remote.Remote
	s.mu.Unlock()
	r.dest = netip.AddrPort{}
	r.cand = netip.AddrPort{}
	r.candCount = 0
	if s.cfg.Strict == StrictNo {
		return
	}
	r.strict = strictLearn
	r.learnStart = now
	s.locked.Store(false)
	s.log.Log(context.Background(), logger.Verbose(4), "strict RTP learning after remote address set", "remote", r.sdpAddr)
}

// accept is strictrtp (Asterisk's res_rtp_asterisk): while learning, the known source and
// the address of the peer's SDP are taken at once, any other address must send probation
// packets in sequence (with strictrtp=yes, not faster than Asterisk's minimum pace) to
// become the source; when the learning window has passed, the session locks to its source
// and drops everything else.
func (s *Session) accept(from netip.AddrPort, seq uint16, now time.Time) bool {
	r := &s.rx
	switch r.strict {
	case strictOpen:
		return true
	case strictClosed:
		return from == r.source
	}
	if r.source.IsValid() && from == r.source {
		if now.Sub(r.learnStart) > s.cfg.LearningTimeout {
			r.strict = strictClosed
			s.locked.Store(true)
			s.log.Log(context.Background(), logger.Verbose(4), "strict RTP learning complete, locking on source", "source", from)
		}
		return true
	}
	if r.sdpAddr.IsValid() && from == r.sdpAddr {
		s.setSource(from)
		s.log.Log(context.Background(), logger.Verbose(4), "strict RTP switching to RTP target address as source", "source", from)
		return true
	}
	if from != r.cand {
		r.cand, r.candSeq, r.candCount, r.candFirst = from, seq, 1, now
		return false
	}
	if seq == r.candSeq+1 {
		r.candCount++
	} else {
		r.candCount, r.candFirst = 1, now
	}
	r.candSeq = seq
	if r.candCount < s.cfg.Probation {
		return false
	}
	if s.cfg.Strict == StrictYes && now.Sub(r.candFirst) < learningMinDuration(s.cfg.Probation) {
		// A burst faster than any real stream: start over (flood protection).
		r.candCount, r.candFirst = 1, now
		return false
	}
	r.cand, r.candCount = netip.AddrPort{}, 0
	s.setSource(from)
	s.log.Log(context.Background(), logger.Verbose(4), "strict RTP switching source address", "source", from)
	return true
}

// learningMinDuration is Asterisk's CALC_LEARNING_MIN_DURATION: probation packets of at
// least 10 ms each, 9 ms on average for fast clocks, the last 5 ms early.
func learningMinDuration(probation int) time.Duration {
	return time.Duration((probation-1)*9-5) * time.Millisecond
}

func (s *Session) setSource(a netip.AddrPort) {
	s.rx.source = a
	s.mu.Lock()
	s.learned = a
	s.mu.Unlock()
}

// rxStats keeps RFC 3550's loss (A.3) and interarrival jitter (A.8, audio only).
func (s *Session) rxStats(seq uint16, ts, ssrc uint32, audio bool, now time.Time) {
	r := &s.rx
	if !r.haveSeq || ssrc != r.ssrc {
		if r.haveSeq {
			r.lostPrev += r.lostNow()
		}
		r.haveSeq, r.ssrc = true, ssrc
		r.baseSeq, r.maxSeq, r.cycles, r.received = seq, seq, 0, 0
		r.haveTrans, r.jitter = false, 0
	} else if d := seq - r.maxSeq; d != 0 && d < 0x8000 {
		if seq < r.maxSeq {
			r.cycles += 1 << 16
		}
		r.maxSeq = seq
	}
	r.received++
	s.ctr.lost.Store(r.lostPrev + r.lostNow())
	if !audio {
		return
	}
	arrival := uint32(now.Sub(r.epoch) / sampleTime)
	transit := int32(arrival - ts)
	if r.haveTrans {
		d := float64(transit - r.transit)
		if d < 0 {
			d = -d
		}
		r.jitter += (d - r.jitter) / 16
		s.ctr.jitterBits.Store(math.Float64bits(r.jitter / 8000))
	}
	r.transit, r.haveTrans = transit, true
}

func (r *rxState) lostNow() int64 {
	expected := int64(r.cycles) + int64(r.maxSeq) - int64(r.baseSeq) + 1
	return expected - r.received
}

// rtcpPacket counts an RTCP packet received and reads its reports: the peer's view of our
// stream (the report block about our SSRC: cumulative loss, jitter) is kept for Stats.
func (s *Session) rtcpPacket(p []byte) {
	s.ctr.rtcpRx.Add(1)
	s.rtcpReports(p)
}

// rtcpReports walks a compound RTCP packet for SR/RR report blocks about our stream.
func (s *Session) rtcpReports(p []byte) {
	s.txMu.Lock()
	ours := s.tx.ssrc
	s.txMu.Unlock()
	for len(p) >= 8 && p[0]>>6 == 2 {
		size := 4 * (int(binary.BigEndian.Uint16(p[2:])) + 1)
		if size > len(p) {
			return
		}
		pkt := p[:size]
		p = p[size:]
		count := int(pkt[0] & 0x1f)
		var blocks []byte
		switch pkt[1] {
		case 200: // SR: header, SSRC, 20 bytes of sender info
			if len(pkt) < 28 {
				continue
			}
			blocks = pkt[28:]
		case 201: // RR: header, SSRC
			if len(pkt) < 8 {
				continue
			}
			blocks = pkt[8:]
		default:
			continue
		}
		for i := 0; i < count && len(blocks) >= 24; i++ {
			b := blocks[:24]
			blocks = blocks[24:]
			if binary.BigEndian.Uint32(b) != ours {
				continue
			}
			lost := int64(int32(binary.BigEndian.Uint32(b[4:])<<8) >> 8) // 24-bit signed
			s.ctr.remoteLost.Store(lost)
			jit := binary.BigEndian.Uint32(b[12:])
			s.ctr.remoteJitterNS.Store(int64(jit) * int64(time.Second) / 8000)
		}
	}
}
