// Command regstorm is an open-loop REGISTER storm generator for bench/overload.sh (issue 21):
// a cheaper stand-in for sipp with test/sipp/register-or-503.xml, so that on a small box the
// generator offers the rate asked and its own sockets do not drop the server's answers.
//
// It starts R digest registrations a second for D seconds, paced per slot (default 1 ms),
// whatever the answers do (like sipp -r), over P peers u00000.. with secrets pw<i> (realm
// pleiades), from S UDP sockets. Each registration: REGISTER CSeq 1 → 401 → REGISTER CSeq 2
// with Authorization (MD5, qop=auth with nc and cnonce when offered) → 200. A 503 at either
// step ends it as refused; any other final response as failed (counted by code). Each request
// is retransmitted as an RFC 3261 UDP non-INVITE client transaction: Timer E from T1 = 500 ms
// doubling up to T2 = 4 s, Timer F = 64*T1 = 32 s ends it as timed out.
//
// State lives in a preallocated ring per socket (a shard); the Call-ID carries the
// registration's number, so an answer finds its registration without a map. One goroutine does
// everything, once per slot: for each (connected) socket it drains the receive queue with
// non-blocking recvmmsg(2), answers the 401s, starts the registrations due, runs the timing
// wheel (retransmissions, time-outs) and sends all that with sendmmsg(2). No goroutine wakes
// per datagram, which keeps the generator's CPU low. Responses are parsed by hand: status
// code, Call-ID, CSeq number and the challenge's nonce, opaque, realm and qop. Linux only.
//
// At the end it prints one JSON line and one readable line: offered, started, answered 200,
// answered 503, failed by code, timed out, retransmissions, the rate achieved, its own CPU
// (getrusage) and the drops at its own sockets (SO_MEMINFO), so that a timeout caused by
// the generator's own receive queues is told apart from one the server caused.
//
//	regstorm [-rate 3000] [-dur 5s] [-peers 1000] [-sockets 4] HOST:PORT
//go:build linux

package main

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"syscall"
	"time"
	"unsafe"
)

const (
	t1        = 500  // ms
	t2        = 4000 // ms
	timerF    = 64 * t1
	wheelSize = 4096 // 1 ms buckets; more than T2
	batch     = 64
	maxNonce  = 64
	maxOpaque = 32
)

// reg is one registration. k is its number + 1 (0: the slot is free).
type reg struct {
	k        uint64
	deadline int64 // Timer F, ms since start
	due      int64 // next retransmission, ms since start
	interval uint32
	tgen     uint32 // bumped whenever the pending timer is superseded
	step     uint8  // 1: REGISTER CSeq 1 sent, 2: CSeq 2 sent
	qop      bool
	nlen     uint8
	olen     uint8
	nonce    [maxNonce]byte
	opaque   [maxOpaque]byte
}

type timerEv struct {
	idx uint32
	gen uint32
	due int64
}

type counters struct {
	Started   uint64            `json:"started"`
	OK        uint64            `json:"answered_200"`
	Refused   uint64            `json:"answered_503"`
	Failed    map[string]uint64 `json:"failed_by_code"`
	TimedOut  uint64            `json:"timed_out"`
	Retrans   uint64            `json:"retransmissions"`
	Stray     uint64            `json:"stray_responses"`
	Malformed uint64            `json:"malformed_responses"`
}

type shard struct {
	id      int
	conn    *net.UDPConn
	fd      uintptr
	in      rxBatch
	out     msgBatch
	via     string // "ip:port"
	ring    []reg
	wheel   [wheelSize][]timerEv
	tick    int64 // last wheel bucket processed
	live    int
	c       counters
	started uint64 // registrations started by this shard (k = started*S + id)
}

type gen struct {
	shards   []*shard
	dst      *net.UDPAddr
	host     string // Request-URI host:port
	realm    string
	ha1      [][32]byte // per peer, for realm
	ha2      [32]byte
	uri      string
	peers    int
	badEvery uint64
	run      string
	start    time.Time
	ringN    uint64
}

func main() {
	rate := flag.Int("rate", 3000, "registrations started per second")
	dur := flag.Duration("dur", 5*time.Second, "how long to offer registrations")
	peers := flag.Int("peers", 1000, "peers u00000.. (secret pw<i>)")
	nsock := flag.Int("sockets", 4, "local UDP sockets")
	slot := flag.Duration("slot", time.Millisecond, "pacing slot")
	realm := flag.String("realm", "pleiades", "digest realm expected in the challenges")
	wait := flag.Duration("wait", 34*time.Second, "longest wait after the last start for the registrations in flight (Timer F is 32 s)")
	badEvery := flag.Uint64("badevery", 0, "every Nth registration uses a wrong password (0: none)")
	rcvbuf := flag.Int("rcvbuf", 8<<20, "receive buffer per socket (SO_RCVBUFFORCE, else SO_RCVBUF)")
	jsonOut := flag.String("json", "", "also write the JSON line to this file")
	cpuProf := flag.String("cpuprofile", "", "write a CPU profile of the generator to this file")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: regstorm [flags] HOST:PORT")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 || *rate <= 0 || *nsock <= 0 || *peers <= 0 {
		flag.Usage()
		os.Exit(2)
	}
	if sysSendmmsg == 0 || unsafe.Sizeof(mmsghdr{}) != 64 {
		fatal(fmt.Errorf("no sendmmsg layout for %s", runtime.GOARCH))
	}
	dst, err := net.ResolveUDPAddr("udp4", flag.Arg(0))
	if err != nil {
		fatal(err)
	}
	g := &gen{dst: dst, host: dst.String(), realm: *realm, peers: *peers, badEvery: *badEvery,
		run: strconv.FormatUint(rand.Uint64()&0xffffff, 36)}
	g.uri = "sip:" + g.host
	g.ha1 = make([][32]byte, *peers)
	for i := range g.ha1 {
		hex.Encode(g.ha1[i][:], md5sum(fmt.Sprintf("u%05d:%s:pw%d", i, *realm, i)))
	}
	hex.Encode(g.ha2[:], md5sum("REGISTER:"+g.uri))
	// The ring holds every registration that can be in flight at the shard's rate: two
	// requests' Timer F (a 401 may come just before the first one fires) plus a margin.
	perShard := (*rate + *nsock - 1) / *nsock
	g.ringN = uint64(perShard) * (2*timerF/1000 + 3)
	if maxN := uint64(perShard)*uint64(dur.Seconds()+1) + 1; maxN < g.ringN {
		g.ringN = maxN
	}
	lip := localIP(dst)
	rbuf := 0
	for i := 0; i < *nsock; i++ {
		c, err := net.DialUDP("udp4", &net.UDPAddr{IP: lip}, dst)
		if err != nil {
			fatal(err)
		}
		rbuf = setRcvbuf(c, *rcvbuf)
		_ = c.SetWriteBuffer(4 << 20)
		s := &shard{id: i, conn: c, fd: rawFD(c), via: c.LocalAddr().String(),
			ring: make([]reg, g.ringN)}
		s.in.init()
		s.c.Failed = map[string]uint64{}
		g.shards = append(g.shards, s)
	}
	if *cpuProf != "" {
		f, err := os.Create(*cpuProf)
		if err != nil {
			fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	drops0 := g.drops()
	var ru0 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)

	g.start = time.Now()
	offered := uint64(float64(*rate) * dur.Seconds())
	total := offered
	shardTotal := func(s *shard) uint64 { // registrations k ≡ id (mod S) below total
		n := uint64(len(g.shards))
		if total <= uint64(s.id) {
			return 0
		}
		return (total-uint64(s.id)-1)/n + 1
	}
	tk := time.NewTicker(*slot)
	var offerEnd time.Duration
	for {
		<-tk.C
		el := time.Since(g.start)
		now := el.Milliseconds()
		// registrations due by now, overall: the n-th starts at n/rate s
		due := min(uint64(el.Seconds()*float64(*rate))+1, total)
		live := 0
		for _, s := range g.shards {
			// shard s starts registrations id, id+S, …: those below due
			want := uint64(0)
			if due > uint64(s.id) {
				want = (due-uint64(s.id)-1)/uint64(len(g.shards)) + 1
			}
			g.receive(s, now)
			for s.started < want {
				k := s.started*uint64(len(g.shards)) + uint64(s.id)
				s.started++
				g.begin(s, k, now)
			}
			g.expire(s, now)
			s.out.flush(s.fd)
			live += s.live
			if s.started != shardTotal(s) {
				live++
			}
		}
		if offerEnd == 0 && due == total {
			offerEnd = time.Since(g.start)
		}
		if offerEnd != 0 && (live == 0 || el > offerEnd+*wait) {
			break
		}
	}
	tk.Stop()
	el := time.Since(g.start)
	time.Sleep(20 * time.Millisecond) // late answers in flight count as stray, not as drops
	for _, s := range g.shards {
		g.receive(s, time.Since(g.start).Milliseconds())
	}
	var ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	drops1 := g.drops()

	var sum counters
	sum.Failed = map[string]uint64{}
	inflight := 0
	for _, s := range g.shards {
		sum.Started += s.c.Started
		sum.OK += s.c.OK
		sum.Refused += s.c.Refused
		sum.TimedOut += s.c.TimedOut
		sum.Retrans += s.c.Retrans
		sum.Stray += s.c.Stray
		sum.Malformed += s.c.Malformed
		for k, v := range s.c.Failed {
			sum.Failed[k] += v
		}
		inflight += s.live
	}
	cpu := tv(ru1.Utime) + tv(ru1.Stime) - tv(ru0.Utime) - tv(ru0.Stime)
	var failed uint64
	for _, v := range sum.Failed {
		failed += v
	}
	rep := struct {
		Target  string  `json:"target"`
		Rate    int     `json:"rate"`
		Seconds float64 `json:"seconds"`
		Sockets int     `json:"sockets"`
		Peers   int     `json:"peers"`
		Offered uint64  `json:"offered"`
		counters
		Failed      uint64  `json:"failed"`
		Unfinished  int     `json:"unfinished"`
		RateAchvd   float64 `json:"rate_achieved"`
		OfferSecs   float64 `json:"offer_seconds"`
		Elapsed     float64 `json:"elapsed_seconds"`
		CPUSecs     float64 `json:"cpu_seconds"`
		CPUPerRegUs float64 `json:"cpu_us_per_registration"`
		Drops       uint64  `json:"own_socket_drops"`
		Rcvbuf      int     `json:"rcvbuf_bytes"`
	}{
		Target: g.host, Rate: *rate, Seconds: dur.Seconds(), Sockets: len(g.shards), Peers: *peers,
		Offered: offered, counters: sum, Failed: failed, Unfinished: inflight,
		OfferSecs: offerEnd.Seconds(), Elapsed: el.Seconds(), CPUSecs: cpu,
		Drops: drops1 - drops0, Rcvbuf: rbuf,
	}
	if offerEnd > 0 && sum.Started > 1 {
		// the first starts at 0, the n-th at (n-1)/rate
		rep.RateAchvd = float64(sum.Started-1) / offerEnd.Seconds()
	}
	if sum.Started > 0 {
		rep.CPUPerRegUs = cpu * 1e6 / float64(sum.Started)
	}
	js, _ := json.Marshal(rep)
	fmt.Println(string(js))
	if *jsonOut != "" {
		if err := os.WriteFile(*jsonOut, append(js, '\n'), 0o644); err != nil {
			fatal(err)
		}
	}
	fmt.Printf("regstorm: offered %d, started %d in %.2f s (%.0f/s); answered %d (200 %d, 503 %d), failed %d %s, timed out %d, unfinished %d; %d retransmissions, %d stray answers; own CPU %.2f s (%.1f µs/registration), own sockets dropped %d (rcvbuf %d)\n",
		offered, sum.Started, rep.OfferSecs, rep.RateAchvd, sum.OK+sum.Refused, sum.OK, sum.Refused,
		failed, fmtCodes(sum.Failed), sum.TimedOut, inflight, sum.Retrans, sum.Stray, cpu, rep.CPUPerRegUs,
		rep.Drops, rbuf)
}

// begin starts registration k: REGISTER CSeq 1.
func (g *gen) begin(s *shard, k uint64, now int64) {
	r := &s.ring[(k/uint64(len(g.shards)))%g.ringN]
	if r.k != 0 {
		// the ring is sized for Timer F: this cannot happen, but never corrupt a live one
		s.c.Failed["ring-full"]++
		return
	}
	*r = reg{k: k + 1, step: 1, tgen: r.tgen + 1}
	s.live++
	s.c.Started++
	g.arm(s, r, now, now+timerF)
	g.send(s, r)
}

// send queues the current request of r.
func (g *gen) send(s *shard, r *reg) {
	s.out.add(g.request(s.out.buf(), s, r))
	if len(s.out.n) == batch {
		s.out.flush(s.fd)
	}
}

// arm starts the Timer E/F pair of a new request of r.
func (g *gen) arm(s *shard, r *reg, now, deadline int64) {
	r.interval = t1
	r.deadline = deadline
	r.tgen++
	g.schedule(s, r, min(now+t1, deadline))
}

func (g *gen) schedule(s *shard, r *reg, due int64) {
	r.due = due
	idx := uint32((r.k - 1) / uint64(len(g.shards)) % g.ringN)
	b := due
	if b <= s.tick {
		b = s.tick + 1
	}
	s.wheel[b%wheelSize] = append(s.wheel[b%wheelSize], timerEv{idx: idx, gen: r.tgen, due: due})
}

// expire runs the wheel up to now: retransmissions (Timer E) and time-outs (Timer F).
func (g *gen) expire(s *shard, now int64) {
	for s.tick < now {
		s.tick++
		bk := &s.wheel[s.tick%wheelSize]
		evs := *bk
		*bk = evs[:0:0]
		keep := evs[:0]
		for _, ev := range evs {
			r := &s.ring[ev.idx]
			if r.k == 0 || r.tgen != ev.gen {
				continue // answered, or superseded
			}
			if ev.due > s.tick {
				keep = append(keep, ev) // a later lap of the wheel
				continue
			}
			if s.tick >= r.deadline {
				s.c.TimedOut++
				g.finish(s, r)
				continue
			}
			r.interval = min(2*r.interval, t2)
			r.tgen++
			g.schedule(s, r, min(s.tick+int64(r.interval), r.deadline))
			s.c.Retrans++
			g.send(s, r)
		}
		if len(keep) > 0 {
			*bk = append(*bk, keep...)
		}
		if cap(evs) > 0 && len(*bk) == 0 {
			*bk = evs[:0] // reuse the storage
		}
	}
}

func (g *gen) finish(s *shard, r *reg) {
	r.k = 0
	r.tgen++
	s.live--
}

// request appends the current request of r to b.
func (g *gen) request(b []byte, s *shard, r *reg) []byte {
	k := r.k - 1
	peer := int(k % uint64(g.peers))
	var user [6]byte
	user[0] = 'u'
	p := peer % 100000
	for i := 5; i >= 1; i-- {
		user[i] = byte('0' + p%10)
		p /= 10
	}
	u := user[:]
	if peer >= 100000 {
		u = fmt.Appendf(nil, "u%05d", peer)
	}
	b = append(b, "REGISTER "...)
	b = append(b, g.uri...)
	b = append(b, " SIP/2.0\r\nVia: SIP/2.0/UDP "...)
	b = append(b, s.via...)
	b = append(b, ";rport;branch=z9hG4bK"...)
	b = append(b, g.run...)
	b = append(b, '.')
	b = strconv.AppendUint(b, k, 10)
	b = append(b, '.')
	b = append(b, '0'+r.step)
	b = append(b, "\r\nMax-Forwards: 70\r\nFrom: <sip:"...)
	b = append(b, u...)
	b = append(b, '@')
	b = append(b, g.host...)
	b = append(b, ">;tag="...)
	b = strconv.AppendUint(b, k, 36)
	b = append(b, "\r\nTo: <sip:"...)
	b = append(b, u...)
	b = append(b, '@')
	b = append(b, g.host...)
	b = append(b, ">\r\nCall-ID: "...)
	b = appendCallID(b, g.run, k)
	b = append(b, "\r\nCSeq: "...)
	b = append(b, '0'+r.step)
	b = append(b, " REGISTER\r\nContact: <sip:"...)
	b = append(b, u...)
	b = append(b, '@')
	b = append(b, s.via...)
	b = append(b, ">\r\nExpires: 300\r\nUser-Agent: regstorm\r\n"...)
	if r.step == 2 {
		b = g.authorization(b, r, u, peer)
	}
	b = append(b, "Content-Length: 0\r\n\r\n"...)
	return b
}

// authorization appends the Authorization line answering r's challenge.
func (g *gen) authorization(b []byte, r *reg, user []byte, peer int) []byte {
	ha1 := g.ha1[peer]
	k := r.k - 1
	if g.badEvery > 0 && (k+1)%g.badEvery == 0 {
		hex.Encode(ha1[:], md5sum(fmt.Sprintf("%s:%s:wrong", user, g.realm)))
	}
	nonce := r.nonce[:r.nlen]
	var cnonce [16]byte
	hex.Encode(cnonce[:], binaryLE(k))
	h := md5.New()
	h.Write(ha1[:])
	h.Write([]byte{':'})
	h.Write(nonce)
	if r.qop {
		h.Write([]byte(":00000001:"))
		h.Write(cnonce[:])
		h.Write([]byte(":auth"))
	}
	h.Write([]byte{':'})
	h.Write(g.ha2[:])
	var sum [md5.Size]byte
	var resp [32]byte
	hex.Encode(resp[:], h.Sum(sum[:0]))

	b = append(b, "Authorization: Digest username=\""...)
	b = append(b, user...)
	b = append(b, "\", realm=\""...)
	b = append(b, g.realm...)
	b = append(b, "\", nonce=\""...)
	b = append(b, nonce...)
	b = append(b, "\", uri=\""...)
	b = append(b, g.uri...)
	b = append(b, "\", response=\""...)
	b = append(b, resp[:]...)
	b = append(b, "\", algorithm=MD5"...)
	if r.olen > 0 {
		b = append(b, ", opaque=\""...)
		b = append(b, r.opaque[:r.olen]...)
		b = append(b, '"')
	}
	if r.qop {
		b = append(b, ", qop=auth, nc=00000001, cnonce=\""...)
		b = append(b, cnonce[:]...)
		b = append(b, '"')
	}
	return append(b, "\r\n"...)
}

func binaryLE(k uint64) []byte {
	var x [8]byte
	for i := range x {
		x[i] = byte(k >> (8 * i))
	}
	return x[:]
}

func appendCallID(b []byte, run string, k uint64) []byte {
	b = strconv.AppendUint(b, k, 10)
	b = append(b, '-')
	b = append(b, run...)
	return append(b, "@regstorm"...)
}

// receive drains the receive queue of s and moves its registrations on.
func (g *gen) receive(s *shard, now int64) {
	for {
		n := s.in.recv(s.fd)
		for i := range n {
			g.answer(s, s.in.msg(i), now)
		}
		if n < batch {
			return
		}
	}
}

// answer handles one response datagram.
func (g *gen) answer(s *shard, data []byte, now int64) {
	code, callID, cseq, hdr, ok := parseResponse(data)
	if !ok {
		s.c.Malformed++
		return
	}
	k, ok := callNumber(callID, g.run)
	if !ok {
		s.c.Stray++
		return
	}
	r := &s.ring[(k/uint64(len(g.shards)))%g.ringN]
	if r.k != k+1 || int(r.step) != cseq {
		s.c.Stray++ // an answer to a retransmission, after the first
		return
	}
	switch {
	case code < 200:
		if r.interval < t2 { // proceeding: retransmit every T2
			r.interval = t2
			r.tgen++
			g.schedule(s, r, min(now+t2, r.deadline))
		}
	case code == 200:
		s.c.OK++
		g.finish(s, r)
	case code == 503:
		s.c.Refused++
		g.finish(s, r)
	case code == 401 && r.step == 1:
		if !g.challenge(r, hdr) {
			s.c.Failed["401-unusable-challenge"]++
			g.finish(s, r)
			return
		}
		r.step = 2
		g.arm(s, r, now, now+timerF)
		g.send(s, r)
	default:
		s.c.Failed[strconv.Itoa(code)]++
		g.finish(s, r)
	}
}

// challenge stores the nonce, opaque and qop of a WWW-Authenticate line into r.
func (g *gen) challenge(r *reg, hdr []byte) bool {
	v := headerValue(hdr, "www-authenticate", "")
	if len(v) < 7 || !bytes.EqualFold(v[:7], []byte("digest ")) {
		return false
	}
	v = v[7:]
	var nonce, opaque, realm, qop, alg []byte
	for len(v) > 0 {
		v = bytes.TrimLeft(v, " ,\t")
		eq := bytes.IndexByte(v, '=')
		if eq < 0 {
			break
		}
		name := bytes.TrimSpace(v[:eq])
		v = bytes.TrimLeft(v[eq+1:], " \t")
		var val []byte
		if len(v) > 0 && v[0] == '"' {
			end := bytes.IndexByte(v[1:], '"')
			if end < 0 {
				return false
			}
			val, v = v[1:1+end], v[2+end:]
		} else {
			end := bytes.IndexByte(v, ',')
			if end < 0 {
				end = len(v)
			}
			val, v = bytes.TrimSpace(v[:end]), v[end:]
		}
		switch {
		case bytes.EqualFold(name, []byte("nonce")):
			nonce = val
		case bytes.EqualFold(name, []byte("opaque")):
			opaque = val
		case bytes.EqualFold(name, []byte("realm")):
			realm = val
		case bytes.EqualFold(name, []byte("qop")):
			qop = val
		case bytes.EqualFold(name, []byte("algorithm")):
			alg = val
		}
	}
	if len(nonce) == 0 || len(nonce) > maxNonce || len(opaque) > maxOpaque || string(realm) != g.realm {
		return false
	}
	if len(alg) > 0 && !bytes.EqualFold(alg, []byte("md5")) {
		return false
	}
	r.qop = false
	for _, q := range bytes.Split(qop, []byte(",")) {
		if bytes.EqualFold(bytes.TrimSpace(q), []byte("auth")) {
			r.qop = true
		}
	}
	if len(qop) > 0 && !r.qop {
		return false // auth-int only
	}
	r.nlen = uint8(copy(r.nonce[:], nonce))
	r.olen = uint8(copy(r.opaque[:], opaque))
	return true
}

// parseResponse returns the status code, Call-ID, CSeq number and header section of a
// response datagram.
func parseResponse(data []byte) (code int, callID []byte, cseq int, hdr []byte, ok bool) {
	if len(data) < 12 || string(data[:8]) != "SIP/2.0 " {
		return
	}
	for _, c := range data[8:11] {
		if c < '0' || c > '9' {
			return
		}
		code = code*10 + int(c-'0')
	}
	if end := bytes.Index(data, []byte("\r\n\r\n")); end >= 0 {
		hdr = data[:end+2]
	} else {
		hdr = data
	}
	callID = headerValue(hdr, "call-id", "i")
	cs := headerValue(hdr, "cseq", "")
	for _, c := range cs {
		if c < '0' || c > '9' {
			break
		}
		cseq = cseq*10 + int(c-'0')
	}
	ok = callID != nil && cseq > 0
	return
}

// headerValue returns the trimmed value of the first header line named name (or its compact
// form short), nil when there is none.
func headerValue(hdr []byte, name, short string) []byte {
	for i := bytes.Index(hdr, []byte("\r\n")); i >= 0 && i+2 < len(hdr); {
		l := hdr[i+2:]
		end := bytes.Index(l, []byte("\r\n"))
		if end < 0 {
			end = len(l)
		}
		line := l[:end]
		if c := bytes.IndexByte(line, ':'); c > 0 {
			n := bytes.TrimRight(line[:c], " \t")
			if bytes.EqualFold(n, []byte(name)) || (short != "" && bytes.EqualFold(n, []byte(short))) {
				return bytes.TrimSpace(line[c+1:])
			}
		}
		if end == len(l) {
			break
		}
		i += 2 + end
	}
	return nil
}

// callNumber reads k out of "k-run@regstorm".
func callNumber(id []byte, run string) (uint64, bool) {
	dash := bytes.IndexByte(id, '-')
	if dash <= 0 {
		return 0, false
	}
	rest := id[dash+1:]
	if len(rest) < len(run)+1 || string(rest[:len(run)]) != run || rest[len(run)] != '@' {
		return 0, false
	}
	var k uint64
	for _, c := range id[:dash] {
		if c < '0' || c > '9' {
			return 0, false
		}
		k = k*10 + uint64(c-'0')
	}
	return k, true
}

// mmsghdr is struct mmsghdr (64-bit Linux).
type mmsghdr struct {
	hdr syscall.Msghdr
	n   uint32
	_   [4]byte
}

// msgBatch is a batch of datagrams to send on a connected socket, built in one reused arena.
type msgBatch struct {
	arena []byte
	n     []int // end offset of each message in arena
	iov   [batch]syscall.Iovec
	hs    [batch]mmsghdr
}

func (m *msgBatch) buf() []byte { return m.arena }

// add records the message that buf() was extended with.
func (m *msgBatch) add(b []byte) {
	m.arena = b
	m.n = append(m.n, len(b))
}

// flush sends the batch (sendmmsg), waiting while the socket's send buffer is full.
func (m *msgBatch) flush(fd uintptr) {
	if len(m.n) == 0 {
		return
	}
	start := 0
	for i, end := range m.n {
		m.iov[i].Base = &m.arena[start]
		m.iov[i].SetLen(end - start)
		m.hs[i] = mmsghdr{hdr: syscall.Msghdr{Iov: &m.iov[i], Iovlen: 1}}
		start = end
	}
	for done := 0; done < len(m.n); {
		r, _, e := syscall.Syscall6(sysSendmmsg, fd, uintptr(unsafe.Pointer(&m.hs[done])),
			uintptr(len(m.n)-done), 0, 0, 0)
		switch e {
		case 0:
			done += int(r)
		case syscall.EAGAIN, syscall.EINTR, syscall.ENOBUFS:
			runtime.Gosched()
		case syscall.ECONNREFUSED: // an ICMP error of an earlier datagram (no server yet)
		default:
			fmt.Fprintln(os.Stderr, "regstorm: sendmmsg:", e)
			done = len(m.n)
		}
	}
	m.arena = m.arena[:0]
	m.n = m.n[:0]
}

// rxBatch receives up to batch datagrams per recvmmsg(2).
type rxBatch struct {
	buf [batch][2048]byte
	iov [batch]syscall.Iovec
	hs  [batch]mmsghdr
}

func (x *rxBatch) init() {
	for i := range x.hs {
		x.iov[i].Base = &x.buf[i][0]
		x.iov[i].SetLen(len(x.buf[i]))
		x.hs[i].hdr.Iov = &x.iov[i]
		x.hs[i].hdr.Iovlen = 1
	}
}

// recv reads what is queued (MSG_DONTWAIT): the number of datagrams, 0 when none.
func (x *rxBatch) recv(fd uintptr) int {
	for {
		r, _, e := syscall.Syscall6(syscall.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&x.hs[0])),
			batch, syscall.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			return int(r)
		case syscall.EINTR, syscall.ECONNREFUSED:
			continue
		default:
			return 0
		}
	}
}

func (x *rxBatch) msg(i int) []byte { return x.buf[i][:x.hs[i].n] }

// sysSendmmsg is SYS_SENDMMSG on the 64-bit platforms mmsghdr is laid out for (the syscall
// package lacks it).
var sysSendmmsg = uintptr(map[string]int{"amd64": 307, "arm64": 269, "riscv64": 269}[runtime.GOARCH])

// rawFD is the socket's descriptor; c stays open for the life of the process.
func rawFD(c *net.UDPConn) uintptr {
	rc, err := c.SyscallConn()
	if err != nil {
		fatal(err)
	}
	var fd uintptr
	_ = rc.Control(func(f uintptr) { fd = f })
	return fd
}

// drops sums SK_MEMINFO_DROPS of every socket.
func (g *gen) drops() uint64 {
	var total uint64
	for _, s := range g.shards {
		total += sockDrops(s.conn)
	}
	return total
}

const (
	soMeminfo     = 55 // SO_MEMINFO
	skMeminfoVars = 9
	skDropsIdx    = 8 // SK_MEMINFO_DROPS
	soRcvbufForce = 33
)

func sockDrops(c *net.UDPConn) uint64 {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0
	}
	var mi [skMeminfoVars]uint32
	var ok bool
	_ = rc.Control(func(fd uintptr) {
		l := uint32(unsafe.Sizeof(mi))
		_, _, e := syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, syscall.SOL_SOCKET, soMeminfo,
			uintptr(unsafe.Pointer(&mi[0])), uintptr(unsafe.Pointer(&l)), 0)
		ok = e == 0 && l >= (skDropsIdx+1)*4
	})
	if !ok {
		return procDrops(c.LocalAddr().(*net.UDPAddr).Port)
	}
	return uint64(mi[skDropsIdx])
}

// procDrops reads the drops column of /proc/net/udp for a local port.
func procDrops(port int) uint64 {
	b, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		return 0
	}
	want := fmt.Sprintf(":%04X", port)
	for _, l := range bytes.Split(b, []byte("\n"))[1:] {
		f := bytes.Fields(l)
		if len(f) > 2 && bytes.HasSuffix(f[1], []byte(want)) {
			d, _ := strconv.ParseUint(string(f[len(f)-1]), 10, 64)
			return d
		}
	}
	return 0
}

// setRcvbuf asks for n bytes of receive buffer (SO_RCVBUFFORCE, past rmem_max, when
// privileged; else SO_RCVBUF) and returns what the kernel granted.
func setRcvbuf(c *net.UDPConn, n int) int {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0
	}
	got := 0
	_ = rc.Control(func(fd uintptr) {
		if syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soRcvbufForce, n) != nil {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, n)
		}
		got, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
	})
	return got
}

// localIP is the address this host sends to dst from.
func localIP(dst *net.UDPAddr) net.IP {
	c, err := net.DialUDP("udp4", nil, dst)
	if err != nil {
		fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP
}

func md5sum(s string) []byte {
	h := md5.Sum([]byte(s))
	return h[:]
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

func fmtCodes(m map[string]uint64) string {
	if len(m) == 0 {
		return "()"
	}
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var b []byte
	b = append(b, '(')
	for i, k := range ks {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = fmt.Appendf(b, "%s: %d", k, m[k])
	}
	return string(append(b, ')'))
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "regstorm:", err)
	os.Exit(1)
}
