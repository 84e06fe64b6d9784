// Command sipcalls is a small SIP load generator for call setup latency: it places calls at
// a paced rate to a SIP server over UDP and measures, for each one, the time from the
// INVITE sent to the 200 OK received, in microseconds.
//
//	go run ./bench/sipcalls -addr 127.0.0.1:5060 -rate 1000 -dur 20s [-socks 2] [-lat FILE]
//
// Each call: INVITE sip:EXT@HOST:PORT as USER (From <sip:USER@HOST>;tag=..., a unique Call-ID
// and branch, Contact, an SDP offer of G.711 A-law (PT 8) and telephone-event 101 on a real
// local UDP port that is bound but never read), 100/180/183 are taken in, the 200 OK is
// ACKed and the call is at once hung up with a BYE (CSeq 2) whose 200 ends it. ACK and BYE go
// to the server's address with the Contact of the 200 as request-URI and its To (with the
// tag). Requests from the server (a BYE, an OPTIONS) get 200 OK. INVITE and BYE are
// retransmitted as RFC 3261 says (T1 = 500 ms doubling; T2 = 4 s caps the BYE's); a call
// fails when its INVITE has no final response within 64*T1 = 32 s or a non-2xx one (which
// is ACKed on the INVITE's branch). A retransmitted 200 gets its ACK again.
//
// Timing: the INVITE's send time is the wall clock (time.Now) taken just before its write;
// the 200's arrival is the kernel's receive stamp of the datagram (SO_TIMESTAMPNS, also
// CLOCK_REALTIME), so the time the generator takes to get round to reading the datagram is
// not counted. -kts=false uses time.Now() after the read instead. The latencies go into an
// allocation-free histogram (1 µs buckets to 100 ms, then 1 ms buckets to 40 s); -lat FILE
// writes each successful call's latency in µs, one a line, for merging runs (with -latat,
// after the INVITE's send time in Unix ns, to split one run into phases by time).
//
// The calls are sent on a schedule (call i at start + i/RATE; a late sender catches up in
// a burst, as sipp does), round-robin over -socks sockets, each with a reader goroutine.
// At the end it prints one line of JSON: calls, ok, failed (and by status code), BYEs that
// failed, the setup percentiles in µs, the send rate achieved, the time taken and the
// generator's own CPU time (getrusage). It runs with GOMAXPROCS=1 (-procs) so that its
// scheduler does not spin on CPUs it shares with the server; its CPU is mostly the kernel's
// (the loopback sends carry the delivery of the datagrams to the server's socket).
// -cpuprofile FILE profiles it.
package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	t1      = 500 * time.Millisecond
	t2      = 4 * time.Second
	timeout = 64 * t1
)

// call states
const (
	stUnsent = iota
	stCalling
	stProceeding // a provisional came: no more INVITE retransmissions
	stByeing     // 200 ACKed, BYE in flight
	stDone
)

type call struct {
	state    uint8
	sock     uint8
	failed   bool
	byeFail  bool
	code     uint16 // final status of the INVITE
	inviteAt int64  // wall ns of the first INVITE
	txAt     int64  // start of the transaction in flight (INVITE or BYE), for the 32 s timeout
	next     int64  // next retransmission, ns; 0 = none
	interval time.Duration
	lat      int64 // µs, INVITE → 200; -1 when none
	to       string
	target   string // the 200's Contact URI
}

// hist: 1 µs buckets below fineMax µs, then 1 ms buckets below coarseMax µs, then one
// overflow bucket.
const (
	fineMax   = 100_000
	coarseMax = 40_000_000
)

type hist struct {
	fine   [fineMax]uint32
	coarse [(coarseMax - fineMax) / 1000]uint32
	over   uint32
	n      uint64
	max    int64
}

func (h *hist) add(us int64) {
	if us < 0 {
		us = 0
	}
	h.n++
	if us > h.max {
		h.max = us
	}
	switch {
	case us < fineMax:
		h.fine[us]++
	case us < coarseMax:
		h.coarse[(us-fineMax)/1000]++
	default:
		h.over++
	}
}

// quantile returns the smallest value v with at least q of the samples <= v (the upper
// edge of a coarse bucket).
func (h *hist) quantile(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	if rank < 1 {
		rank = 1
	}
	var c uint64
	for i, v := range h.fine {
		if c += uint64(v); c >= rank {
			return int64(i)
		}
	}
	for i, v := range h.coarse {
		if c += uint64(v); c >= rank {
			return min(int64(fineMax+(i+1)*1000-1), h.max)
		}
	}
	return h.max
}

type gen struct {
	mu      sync.Mutex
	calls   []call
	lo      int // calls below lo are all done
	sent    atomic.Int64
	done    atomic.Int64
	socks   []*net.UDPConn
	ports   []int
	server  netip.AddrPort
	host    string // server host as in URIs
	hostprt string
	lip     string
	rtpPort int
	ext     string
	user    string
	run     string
	kts     bool
	h       *hist // a separate pointer-free allocation the GC need not scan
	codes   map[int]int
	srvReqs int
	stray   int
	sendErr int
	retrans int
}

func main() {
	addr := flag.String("addr", "127.0.0.1:5060", "the SIP server, HOST:PORT (UDP)")
	rate := flag.Float64("rate", 100, "calls per second")
	dur := flag.Duration("dur", 5*time.Second, "how long to place calls")
	nsock := flag.Int("socks", 2, "local UDP sockets (1-255)")
	ext := flag.String("ext", "300", "the extension called")
	user := flag.String("user", "alice", "the caller")
	latFile := flag.String("lat", "", "write each successful call's setup latency (µs) to this file, one a line")
	latAt := flag.Bool("latat", false, "with -lat: each line is the INVITE's send time (Unix ns), a space, then the latency")
	kts := flag.Bool("kts", true, "take the 200 OK's arrival from the kernel's receive stamp (SO_TIMESTAMPNS)")
	rcvbuf := flag.Int("rcvbuf", 4<<20, "SO_RCVBUF of the sockets")
	procs := flag.Int("procs", 1, "GOMAXPROCS; 1 keeps the scheduler from spinning on the shared CPUs (the receive stamps come from the kernel)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the run to this file")
	flag.Parse()
	runtime.GOMAXPROCS(*procs)
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	if *nsock < 1 || *nsock > 255 || *rate <= 0 {
		fatal("bad -socks or -rate")
	}
	n := int(*rate * dur.Seconds())
	if n < 1 {
		fatal("no calls to place")
	}
	ua, err := net.ResolveUDPAddr("udp4", *addr)
	if err != nil {
		fatal(err)
	}
	g := &gen{calls: make([]call, n), h: new(hist), server: ua.AddrPort(), ext: *ext, user: *user, kts: *kts, codes: map[int]int{},
		run: strconv.FormatInt(time.Now().UnixNano()%1e9, 36)}
	g.host, _, _ = net.SplitHostPort(*addr)
	g.hostprt = *addr
	// The local address the kernel picks to reach the server.
	probe, err := net.DialUDP("udp4", nil, ua)
	if err != nil {
		fatal(err)
	}
	lip := probe.LocalAddr().(*net.UDPAddr).IP
	probe.Close()
	g.lip = lip.String()
	rtp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: lip})
	if err != nil {
		fatal(err)
	}
	defer rtp.Close()
	g.rtpPort = rtp.LocalAddr().(*net.UDPAddr).Port
	for range *nsock {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: lip})
		if err != nil {
			fatal(err)
		}
		_ = c.SetReadBuffer(*rcvbuf)
		_ = c.SetWriteBuffer(*rcvbuf)
		if g.kts {
			rc, err := c.SyscallConn()
			if err != nil {
				fatal(err)
			}
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
			}); err != nil || serr != nil {
				fatal(fmt.Sprint("SO_TIMESTAMPNS: ", err, serr))
			}
		}
		g.socks = append(g.socks, c)
		g.ports = append(g.ports, c.LocalAddr().(*net.UDPAddr).Port)
	}
	for i := range g.calls {
		g.calls[i].lat = -1
	}
	for i, c := range g.socks {
		go g.reader(i, c)
	}
	stop := make(chan struct{})
	go g.timers(stop)

	start := time.Now()
	var first, last time.Time
	buf := make([]byte, 0, 2048)
	period := float64(time.Second) / *rate
	for i := range n {
		due := start.Add(time.Duration(float64(i) * period))
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		s := i % len(g.socks)
		buf = g.invite(buf[:0], i, s)
		g.mu.Lock()
		c := &g.calls[i]
		c.state, c.sock = stCalling, uint8(s)
		now := time.Now()
		c.inviteAt, c.txAt = now.UnixNano(), now.UnixNano()
		c.interval = t1
		c.next = c.txAt + int64(t1)
		g.write(s, buf)
		g.mu.Unlock()
		g.sent.Add(1)
		if i == 0 {
			first = now
		}
		last = now
	}
	sendSecs := last.Sub(first).Seconds()
	// Every call ends within 32 s of its last transaction's start; allow for both.
	deadline := time.Now().Add(2*timeout + 2*time.Second)
	for g.done.Load() < int64(n) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	took := time.Since(start).Seconds()
	for _, c := range g.socks {
		c.Close()
	}

	g.mu.Lock()
	defer g.mu.Unlock()
	var ok, failed, byeFail, unfinished int
	for i := range g.calls {
		c := &g.calls[i]
		switch {
		case c.state != stDone:
			unfinished++
			if c.lat < 0 {
				failed++
			} else {
				ok++
				c.byeFail = true
			}
		case c.failed:
			failed++
		default:
			ok++
		}
		if c.byeFail {
			byeFail++
		}
	}
	if *latFile != "" {
		f, err := os.Create(*latFile)
		if err != nil {
			fatal(err)
		}
		w := bufio.NewWriter(f)
		var b []byte
		for i := range g.calls {
			if l := g.calls[i].lat; l >= 0 {
				b = b[:0]
				if *latAt {
					b = strconv.AppendInt(b, g.calls[i].inviteAt, 10)
					b = append(b, ' ')
				}
				b = strconv.AppendInt(b, l, 10)
				b = append(b, '\n')
				w.Write(b)
			}
		}
		if err := w.Flush(); err != nil {
			fatal(err)
		}
		if err := f.Close(); err != nil {
			fatal(err)
		}
	}
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	utime := time.Duration(ru.Utime.Nano()).Seconds()
	stime := time.Duration(ru.Stime.Nano()).Seconds()
	var codes []string
	for code, k := range g.codes {
		codes = append(codes, fmt.Sprintf("%q:%d", strconv.Itoa(code), k))
	}
	sort.Strings(codes)
	achieved := 0.0
	if sendSecs > 0 {
		achieved = float64(n-1) / sendSecs
	}
	stamp := "kernel"
	if !g.kts {
		stamp = "read"
	}
	fmt.Printf(`{"calls":%d,"ok":%d,"failed":%d,"codes":{%s},"bye_failed":%d,"unfinished":%d,"server_requests":%d,"retransmissions":%d,"stray":%d,"send_errors":%d,`+
		`"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d,"rate_target":%g,"rate_achieved":%.1f,"send_s":%.3f,"took_s":%.3f,`+
		`"cpu_user_s":%.3f,"cpu_sys_s":%.3f,"cpu_us_per_call":%.1f,"stamp":%q,"socks":%d,"procs":%d}`+"\n",
		n, ok, failed, strings.Join(codes, ","), byeFail, unfinished, g.srvReqs, g.retrans, g.stray, g.sendErr,
		g.h.quantile(0.5), g.h.quantile(0.9), g.h.quantile(0.99), g.h.quantile(0.999), g.h.max, *rate, achieved, sendSecs, took,
		utime, stime, 1e6*(utime+stime)/float64(n), stamp, len(g.socks), *procs)
}

func fatal(v any) {
	fmt.Fprintln(os.Stderr, "sipcalls:", v)
	os.Exit(1)
}

// write sends b to the server on socket s.
func (g *gen) write(s int, b []byte) {
	if _, err := g.socks[s].WriteToUDPAddrPort(b, g.server); err != nil {
		g.sendErr++
	}
}

// Message builders; everything a call's messages carry derives from its index, so a
// retransmission is rebuilt byte for byte.

func (g *gen) common(b []byte, i, s int, branch byte) []byte {
	b = append(b, "Via: SIP/2.0/UDP "...)
	b = append(b, g.lip...)
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(g.ports[s]), 10)
	b = append(b, ";rport;branch=z9hG4bK"...)
	b = append(b, g.run...)
	b = append(b, '.')
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, branch)
	b = append(b, "\r\nMax-Forwards: 70\r\nFrom: \"Alice\" <sip:"...)
	b = append(b, g.user...)
	b = append(b, '@')
	b = append(b, g.host...)
	b = append(b, ">;tag="...)
	b = append(b, g.run...)
	b = append(b, '.')
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, "\r\nCall-ID: "...)
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, '.')
	b = append(b, g.run...)
	b = append(b, '@')
	b = append(b, g.lip...)
	b = append(b, "\r\nContact: <sip:"...)
	b = append(b, g.user...)
	b = append(b, '@')
	b = append(b, g.lip...)
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(g.ports[s]), 10)
	b = append(b, ">\r\n"...)
	return b
}

func (g *gen) ruri(b []byte) []byte {
	b = append(b, "sip:"...)
	b = append(b, g.ext...)
	b = append(b, '@')
	return append(b, g.hostprt...)
}

func (g *gen) invite(b []byte, i, s int) []byte {
	b = append(b, "INVITE "...)
	b = g.ruri(b)
	b = append(b, " SIP/2.0\r\n"...)
	b = g.common(b, i, s, 'i')
	b = append(b, "To: <sip:"...)
	b = append(b, g.ext...)
	b = append(b, '@')
	b = append(b, g.host...)
	b = append(b, ">\r\nCSeq: 1 INVITE\r\nUser-Agent: pleiades-sipcalls\r\nContent-Type: application/sdp\r\nContent-Length: "...)
	// The SDP is appended after a placeholder length, then the length filled in.
	lenAt := len(b)
	b = append(b, "000\r\n\r\n"...)
	sdpAt := len(b)
	b = append(b, "v=0\r\no=alice "...)
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, " 1 IN IP4 "...)
	b = append(b, g.lip...)
	b = append(b, "\r\ns=-\r\nc=IN IP4 "...)
	b = append(b, g.lip...)
	b = append(b, "\r\nt=0 0\r\nm=audio "...)
	b = strconv.AppendInt(b, int64(g.rtpPort), 10)
	b = append(b, " RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n"...)
	l := len(b) - sdpAt
	b[lenAt], b[lenAt+1], b[lenAt+2] = byte('0'+l/100%10), byte('0'+l/10%10), byte('0'+l%10)
	return b
}

// inDialog builds an ACK or BYE: for a 2xx-ACK and the BYE the request-URI is the 200's
// Contact and the branch new; the ACK of a non-2xx has the INVITE's request-URI and branch.
func (g *gen) inDialog(b []byte, i int, method string, c *call) []byte {
	b = append(b, method...)
	b = append(b, ' ')
	branch := byte('b')
	switch {
	case method == "ACK" && c.failed:
		b = g.ruri(b)
		branch = 'i'
	case c.target != "":
		b = append(b, c.target...)
		if method == "ACK" {
			branch = 'a'
		}
	default:
		b = g.ruri(b)
		if method == "ACK" {
			branch = 'a'
		}
	}
	b = append(b, " SIP/2.0\r\n"...)
	b = g.common(b, i, int(c.sock), branch)
	b = append(b, "To: "...)
	b = append(b, c.to...)
	if method == "ACK" {
		b = append(b, "\r\nCSeq: 1 ACK\r\n"...)
	} else {
		b = append(b, "\r\nCSeq: 2 BYE\r\n"...)
	}
	return append(b, "Content-Length: 0\r\n\r\n"...)
}

// timers retransmits and times out transactions in flight, every 10 ms.
func (g *gen) timers(stop chan struct{}) {
	tk := time.NewTicker(10 * time.Millisecond)
	defer tk.Stop()
	buf := make([]byte, 0, 2048)
	for {
		select {
		case <-stop:
			return
		case <-tk.C:
		}
		now := time.Now().UnixNano()
		hi := int(g.sent.Load())
		g.mu.Lock()
		for g.lo < hi && g.calls[g.lo].state == stDone {
			g.lo++
		}
		for i := g.lo; i < hi; i++ {
			c := &g.calls[i]
			if c.state == stDone || c.state == stUnsent {
				continue
			}
			if now-c.txAt >= int64(timeout) {
				if c.state == stByeing {
					c.byeFail = true
				} else {
					c.failed = true
					g.codes[408]++
				}
				c.state = stDone
				g.done.Add(1)
				continue
			}
			if c.next == 0 || now < c.next {
				continue
			}
			switch c.state {
			case stCalling:
				buf = g.invite(buf[:0], i, int(c.sock))
				c.interval *= 2
			case stByeing:
				buf = g.inDialog(buf[:0], i, "BYE", c)
				c.interval = min(2*c.interval, t2)
			default:
				c.next = 0
				continue
			}
			g.write(int(c.sock), buf)
			g.retrans++
			c.next = now + int64(c.interval)
		}
		g.mu.Unlock()
	}
}

var (
	hCallID  = [][]byte{[]byte("call-id"), []byte("i")}
	hCSeq    = [][]byte{[]byte("cseq")}
	hTo      = [][]byte{[]byte("to"), []byte("t")}
	hContact = [][]byte{[]byte("contact"), []byte("m")}
)

// header returns the value of the first header with one of the names in msg's head.
func header(head []byte, names [][]byte) []byte {
	for len(head) > 0 {
		line := head
		if k := bytes.IndexByte(head, '\n'); k >= 0 {
			line, head = head[:k], head[k+1:]
		} else {
			head = nil
		}
		line = bytes.TrimRight(line, "\r")
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			continue
		}
		name := bytes.TrimSpace(line[:colon])
		for _, n := range names {
			if bytes.EqualFold(name, n) {
				return bytes.TrimSpace(line[colon+1:])
			}
		}
	}
	return nil
}

// reader handles what arrives on socket s.
func (g *gen) reader(s int, conn *net.UDPConn) {
	buf := make([]byte, 65536)
	oob := make([]byte, 128)
	out := make([]byte, 0, 2048)
	for {
		n, oobn, _, from, err := conn.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			return
		}
		var at int64
		if g.kts {
			at = stamp(oob[:oobn])
		}
		if at == 0 {
			at = time.Now().UnixNano()
		}
		msg := buf[:n]
		end := bytes.Index(msg, []byte("\r\n\r\n"))
		if end < 0 {
			continue
		}
		head := msg[:end+2]
		if bytes.HasPrefix(msg, []byte("SIP/2.0 ")) {
			g.response(s, head, at, out)
		} else {
			out = g.request(s, head, from, out)
		}
	}
}

// stamp returns the SCM_TIMESTAMPNS of a datagram's control messages in ns, or 0.
func stamp(oob []byte) int64 {
	const hdr = syscall.SizeofCmsghdr
	for len(oob) >= hdr {
		l := int(binary.NativeEndian.Uint64(oob[0:8]))
		level := int32(binary.NativeEndian.Uint32(oob[8:12]))
		typ := int32(binary.NativeEndian.Uint32(oob[12:16]))
		if l < hdr || l > len(oob) {
			return 0
		}
		if level == syscall.SOL_SOCKET && typ == syscall.SCM_TIMESTAMPNS && l >= hdr+16 {
			sec := int64(binary.NativeEndian.Uint64(oob[hdr:]))
			nsec := int64(binary.NativeEndian.Uint64(oob[hdr+8:]))
			return sec*1e9 + nsec
		}
		l = (l + 7) &^ 7
		if l >= len(oob) {
			return 0
		}
		oob = oob[l:]
	}
	return 0
}

// index returns the call a Call-ID of this run names, or -1.
func (g *gen) index(callID []byte) int {
	dot := bytes.IndexByte(callID, '.')
	at := bytes.IndexByte(callID, '@')
	if dot <= 0 || at < dot || string(callID[dot+1:at]) != g.run {
		return -1
	}
	i, err := strconv.Atoi(string(callID[:dot]))
	if err != nil || i < 0 || i >= len(g.calls) {
		return -1
	}
	return i
}

func (g *gen) response(s int, head []byte, at int64, out []byte) {
	if len(head) < 12 {
		return
	}
	code, err := strconv.Atoi(string(head[8:11]))
	if err != nil {
		return
	}
	i := g.index(header(head, hCallID))
	cseq := header(head, hCSeq)
	g.mu.Lock()
	defer g.mu.Unlock()
	if i < 0 || len(cseq) == 0 {
		g.stray++
		return
	}
	c := &g.calls[i]
	switch {
	case bytes.HasSuffix(cseq, []byte("INVITE")):
		switch {
		case code < 200:
			if c.state == stCalling {
				c.state, c.next = stProceeding, 0
			}
		case code < 300:
			if c.state == stCalling || c.state == stProceeding {
				c.lat = max(0, (at-c.inviteAt)/1000)
				g.h.add(c.lat)
				c.code = uint16(code)
				c.to = string(header(head, hTo))
				if ct := header(head, hContact); len(ct) > 0 {
					if a, b := bytes.IndexByte(ct, '<'), bytes.IndexByte(ct, '>'); a >= 0 && b > a {
						ct = ct[a+1 : b]
					} else if k := bytes.IndexByte(ct, ';'); k >= 0 {
						ct = ct[:k]
					}
					c.target = string(ct)
				}
				out = g.inDialog(out[:0], i, "ACK", c)
				g.write(int(c.sock), out)
				out = g.inDialog(out[:0], i, "BYE", c)
				g.write(int(c.sock), out)
				c.state = stByeing
				c.txAt = time.Now().UnixNano()
				c.interval = t1
				c.next = c.txAt + int64(t1)
			} else if c.code >= 200 && c.code < 300 {
				// A retransmitted 200: ACK it again.
				out = g.inDialog(out[:0], i, "ACK", c)
				g.write(int(c.sock), out)
			}
		default:
			if c.state == stCalling || c.state == stProceeding {
				c.failed = true
				c.code = uint16(code)
				c.to = string(header(head, hTo))
				g.codes[code]++
				c.state = stDone
				g.done.Add(1)
			}
			if c.failed {
				out = g.inDialog(out[:0], i, "ACK", c)
				g.write(int(c.sock), out)
			}
		}
	case bytes.HasSuffix(cseq, []byte("BYE")):
		if c.state != stByeing {
			return
		}
		if code < 200 {
			c.interval = t2
			c.next = time.Now().UnixNano() + int64(t2)
			return
		}
		if code >= 300 {
			c.byeFail = true
		}
		c.state = stDone
		g.done.Add(1)
	default:
		g.stray++
	}
}

// request answers a request from the server with 200 OK (an ACK gets nothing).
func (g *gen) request(s int, head []byte, from netip.AddrPort, out []byte) []byte {
	if bytes.HasPrefix(head, []byte("ACK ")) {
		return out
	}
	out = append(out[:0], "SIP/2.0 200 OK\r\n"...)
	rest := head
	for len(rest) > 0 {
		line := rest
		if k := bytes.IndexByte(rest, '\n'); k >= 0 {
			line, rest = rest[:k+1], rest[k+1:]
		} else {
			rest = nil
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			continue
		}
		name := string(bytes.ToLower(bytes.TrimSpace(line[:colon])))
		switch name {
		case "via", "v", "from", "f", "to", "t", "call-id", "i", "cseq":
			out = append(out, bytes.TrimRight(line, "\r\n")...)
			out = append(out, "\r\n"...)
		}
	}
	out = append(out, "Content-Length: 0\r\n\r\n"...)
	g.mu.Lock()
	g.srvReqs++
	if _, err := g.socks[s].WriteToUDPAddrPort(out, from); err != nil {
		g.sendErr++
	}
	g.mu.Unlock()
	return out
}
