// Command rtprelay measures the media relay (internal/media) under relayed G.711 calls, as
// issue 15's performance goal states them: N calls, each two bridged sessions in this
// process; a load generator in a child process plays both phones of every call: the caller
// sends a paced 20 ms A-law stream to its leg, the callee echoes what it receives back
// through the relay, so four streams cross the relay per call (2 legs × 2 directions, 50
// packets/s each).
//
// Every packet carries its send time; the callee records the one-way delay (caller →
// relay → callee) and the caller the round trip (→ relay → callee → relay → caller). The
// same run first measures the same path without the relay: the generator's caller sends
// straight to its callee, which echoes straight back (the baseline). The relay's added
// delay is the difference. Loss is counted per packet; CPU from getrusage (relay process:
// RUSAGE_SELF over the relayed run; the generator reports its own), RSS from /proc.
//
// Usage: go run ./bench/rtprelay -calls 100,500,1000 -duration 20s
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/media"
	"github.com/pleiades-pbx/pleiades/internal/media/sdp"
	"github.com/pleiades-pbx/pleiades/internal/udpbatch"
	"golang.org/x/net/ipv4"
)

var (
	callsFlag = flag.String("calls", "100,500,1000", "numbers of concurrent calls, one run each")
	duration  = flag.Duration("duration", 20*time.Second, "measured time per run")
	warmup    = flag.Duration("warmup", 2*time.Second, "traffic before measuring")
	shards    = flag.Int("shards", 4, "generator socket pairs")
	slot      = flag.Duration("slot", 250*time.Microsecond, "generator pacing slot: the calls are spread over the 20 ms in slots this long, a slot's packets sent with one sendmmsg")
	gen       = flag.Bool("gen", false, "run as the load generator (internal)")
	genNice   = flag.Int("gennice", 0, "niceness of the generator process: it stands for phones on other machines, so the relay, not the phones, gets the CPU first (0: same as the relay)")
	rtpStart  = flag.Int("rtpstart", 10000, "relay port range start")
	rtpEnd    = flag.Int("rtpend", 20000, "relay port range end")
	cpuProf   = flag.String("cpuprofile", "", "write the relay process' CPU profile of the relayed runs here")
	pace      = flag.Duration("pace", time.Millisecond, "generator readers: at most one wake-up per this long (packets are timed by the kernel's arrival stamp, so pacing the reads changes no delay measured); 0 reads as packets come")
)

func main() {
	flag.Parse()
	if *gen {
		generator()
		return
	}
	relay()
}

// ---------------------------------------------------------------- generator (child)

const (
	pktLen   = 12 + 160
	histSize = 200000 // 1 µs buckets up to 200 ms
)

type hist struct{ b [histSize]uint32 }

func (h *hist) add(d time.Duration) {
	us := int(d / time.Microsecond)
	if us < 0 {
		us = 0
	}
	if us >= histSize {
		us = histSize - 1
	}
	h.b[us]++
}

func (h *hist) merge(o *hist) {
	for i, v := range o.b {
		h.b[i] += v
	}
}

// Quantiles in µs.
type Quantiles struct {
	N                        uint64
	P50, P90, P99, P999, Max float64
}

func (h *hist) quantiles() Quantiles {
	var n uint64
	for _, v := range h.b {
		n += uint64(v)
	}
	q := Quantiles{N: n}
	if n == 0 {
		return q
	}
	at := func(f float64) float64 {
		target := uint64(f * float64(n))
		var c uint64
		for i, v := range h.b {
			c += uint64(v)
			if c > target {
				return float64(i)
			}
		}
		return histSize
	}
	q.P50, q.P90, q.P99, q.P999 = at(0.50), at(0.90), at(0.99), at(0.999)
	for i := histSize - 1; i >= 0; i-- {
		if h.b[i] > 0 {
			q.Max = float64(i)
			break
		}
	}
	return q
}

type shard struct {
	caller, echo *net.UDPConn
	cb, eb       udpbatch.Conn
	rt, ow, back hist
	sent, rtRecv atomic.Uint64
	owRecv       atomic.Uint64
}

// GenResult is what the generator reports for one run.
type GenResult struct {
	Sent, OneWayRecv, RoundTripRecv uint64
	OneWay, RoundTrip, Back         Quantiles
	CPUUser, CPUSys                 float64 // seconds
	Wall                            float64
}

// nowNS is the wall clock, the clock of the kernel's SO_TIMESTAMPNS arrival stamps.
func nowNS() int64 { return time.Now().UnixNano() }

// arrival is the kernel's receive stamp of m (SCM_TIMESTAMPNS), or def without one.
func arrival(m *ipv4.Message, def int64) int64 {
	oob := m.OOB[:m.NN]
	for len(oob) >= 16 {
		l := int(binary.NativeEndian.Uint64(oob))
		if l < 16 || l > len(oob) {
			break
		}
		level, typ := int32(binary.NativeEndian.Uint32(oob[8:])), int32(binary.NativeEndian.Uint32(oob[12:]))
		if level == syscall.SOL_SOCKET && typ == syscall.SCM_TIMESTAMPNS && l >= 32 {
			return int64(binary.NativeEndian.Uint64(oob[16:]))*1e9 + int64(binary.NativeEndian.Uint64(oob[24:]))
		}
		oob = oob[(l+7)&^7:]
	}
	return def
}

// paced sleeps out the rest of the pace interval begun at wake, unless the batch was full.
func paced(wake time.Time, n, max int) {
	if *pace > 0 && n < max {
		if d := *pace - time.Since(wake); d > 0 {
			time.Sleep(d)
		}
	}
}

func generator() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 16<<20)
	var sh []*shard
	for range *shards {
		s := &shard{caller: listen(), echo: listen()}
		s.cb, s.eb = udpbatch.For(s.caller), udpbatch.For(s.echo)
		sh = append(sh, s)
	}
	var ca, ea []string
	for _, s := range sh {
		ca = append(ca, s.caller.LocalAddr().String())
		ea = append(ea, s.echo.LocalAddr().String())
	}
	fmt.Printf("addrs %s %s\n", strings.Join(ca, ","), strings.Join(ea, ","))
	// Readers run for the process' life; counting is gated by the measuring window.
	var measureFrom, measureTo atomic.Int64
	measureFrom.Store(1 << 62)
	for _, s := range sh {
		go echoLoop(s, &measureFrom, &measureTo)
		go callerLoop(s, &measureFrom, &measureTo)
	}
	var targets []netip.AddrPort
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "targets":
			targets = targets[:0]
			if f[1] == "base" {
				n, _ := strconv.Atoi(f[2])
				for i := range n {
					targets = append(targets, sh[i%len(sh)].echo.LocalAddr().(*net.UDPAddr).AddrPort())
				}
			} else {
				for _, p := range f[2:] {
					targets = append(targets, netip.MustParseAddrPort(p))
				}
			}
		case "run":
			dur, _ := time.ParseDuration(f[1])
			warm, _ := time.ParseDuration(f[2])
			for _, s := range sh {
				s.rt, s.ow, s.back = hist{}, hist{}, hist{}
				s.sent.Store(0)
				s.rtRecv.Store(0)
				s.owRecv.Store(0)
			}
			var ru0 syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
			start := time.Now()
			measureFrom.Store(nowNS() + int64(warm))
			measureTo.Store(nowNS() + int64(warm+dur))
			var wg sync.WaitGroup
			for k, s := range sh {
				wg.Add(1)
				go func() {
					defer wg.Done()
					sendLoop(s, k, len(sh), targets, warm+dur, &measureFrom, &measureTo)
				}()
			}
			wg.Wait()
			time.Sleep(500 * time.Millisecond) // drain
			var ru1 syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
			var r GenResult
			var rt, ow, back hist
			for _, s := range sh {
				r.Sent += s.sent.Load()
				r.RoundTripRecv += s.rtRecv.Load()
				r.OneWayRecv += s.owRecv.Load()
				rt.merge(&s.rt)
				ow.merge(&s.ow)
				back.merge(&s.back)
			}
			r.RoundTrip, r.OneWay, r.Back = rt.quantiles(), ow.quantiles(), back.quantiles()
			r.CPUUser = tv(ru1.Utime) - tv(ru0.Utime)
			r.CPUSys = tv(ru1.Stime) - tv(ru0.Stime)
			r.Wall = time.Since(start).Seconds()
			b, _ := json.Marshal(r)
			fmt.Printf("result %s\n", b)
		case "quit":
			return
		}
	}
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

func listen() *net.UDPConn {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		panic(err)
	}
	c.SetReadBuffer(4 << 20)
	c.SetWriteBuffer(4 << 20)
	if rc, err := c.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1) })
	}
	return c
}

// sendLoop sends shard k's calls (call i belongs to shard i%K): each call every 20 ms, the
// calls of a shard spread over the 20 ms in slots, a slot's packets in one sendmmsg.
func sendLoop(s *shard, k, nshards int, targets []netip.AddrPort, total time.Duration, from, to *atomic.Int64) {
	nslots := max(int(20*time.Millisecond / *slot), 1)
	var calls []int
	for i := k; i < len(targets); i += nshards {
		calls = append(calls, i)
	}
	slots := make([][]int, nslots)
	for j, i := range calls {
		slots[j%nslots] = append(slots[j%nslots], i)
	}
	seq := make([]uint16, len(targets))
	msgs := make([]ipv4.Message, 0, 256)
	bufOf := map[int][]byte{}
	for _, i := range calls {
		b := make([]byte, pktLen)
		b[0], b[1] = 0x80, 8
		binary.BigEndian.PutUint32(b[8:], uint32(i)+1)
		for x := 28; x < pktLen; x++ {
			b[x] = 0xd5
		}
		bufOf[i] = b
	}
	addrs := make([]*net.UDPAddr, len(targets))
	for i, t := range targets {
		addrs[i] = net.UDPAddrFromAddrPort(t)
	}
	step := 20 * time.Millisecond / time.Duration(nslots)
	start := time.Now()
	for m := 0; ; m++ {
		at := start.Add(time.Duration(m) * step)
		if at.Sub(start) >= total {
			return
		}
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		}
		msgs = msgs[:0]
		now := nowNS()
		for _, i := range slots[m%nslots] {
			b := bufOf[i]
			seq[i]++
			binary.BigEndian.PutUint16(b[2:], seq[i])
			binary.BigEndian.PutUint32(b[4:], uint32(seq[i])*160)
			binary.BigEndian.PutUint64(b[12:], uint64(now))
			binary.BigEndian.PutUint32(b[20:], uint32(i))
			msgs = append(msgs, ipv4.Message{Buffers: [][]byte{b}, Addr: addrs[i]})
		}
		if now >= from.Load() && now < to.Load() {
			s.sent.Add(uint64(len(msgs)))
		}
		for off := 0; off < len(msgs); {
			n, err := s.cb.WriteBatch(msgs[off:], 0)
			if err != nil {
				break
			}
			off += n
		}
	}
}

func newBatch(n int) []ipv4.Message {
	ms := make([]ipv4.Message, n)
	for i := range ms {
		ms[i].Buffers = [][]byte{make([]byte, 1500)}
		ms[i].OOB = make([]byte, 64)
	}
	return ms
}

// echoLoop is every callee of the shard: it records the one-way delay and sends each
// packet back where it came from.
func echoLoop(s *shard, from, to *atomic.Int64) {
	in := newBatch(64)
	out := make([]ipv4.Message, 64)
	for {
		n, err := s.eb.ReadBatch(in, 0)
		if err != nil {
			return
		}
		wake := time.Now()
		now := wake.UnixNano()
		for j := range n {
			m := &in[j]
			b := m.Buffers[0][:m.N]
			if len(b) >= 28 {
				sent := int64(binary.BigEndian.Uint64(b[12:]))
				if sent >= from.Load() && sent < to.Load() {
					s.owRecv.Add(1)
					s.ow.add(time.Duration(arrival(m, now) - sent))
				}
				binary.BigEndian.PutUint64(b[20:], uint64(now)) // overwrites call index; not needed back
			}
			out[j] = ipv4.Message{Buffers: [][]byte{b}, Addr: m.Addr}
		}
		for off := 0; off < n; {
			k, err := s.eb.WriteBatch(out[off:n], 0)
			if err != nil {
				break
			}
			off += k
		}
		paced(wake, n, len(in))
	}
}

// callerLoop is every caller of the shard: it records the round trip.
func callerLoop(s *shard, from, to *atomic.Int64) {
	in := newBatch(64)
	for {
		n, err := s.cb.ReadBatch(in, 0)
		if err != nil {
			return
		}
		wake := time.Now()
		for j := range n {
			b := in[j].Buffers[0][:in[j].N]
			if len(b) < 28 {
				continue
			}
			sent := int64(binary.BigEndian.Uint64(b[12:]))
			if sent >= from.Load() && sent < to.Load() {
				at := arrival(&in[j], wake.UnixNano())
				s.rtRecv.Add(1)
				s.rt.add(time.Duration(at - sent))
				echoAt := int64(binary.BigEndian.Uint64(b[20:]))
				s.back.add(time.Duration(at - echoAt))
			}
		}
		paced(wake, n, len(in))
	}
}

// ---------------------------------------------------------------- relay (parent)

type genProc struct {
	cmd *exec.Cmd
	in  *bufio.Writer
	out *bufio.Scanner
}

func (g *genProc) send(format string, args ...any) {
	fmt.Fprintf(g.in, format+"\n", args...)
	g.in.Flush()
}

func (g *genProc) expect(prefix string) string {
	for g.out.Scan() {
		l := g.out.Text()
		if rest, ok := strings.CutPrefix(l, prefix+" "); ok {
			return rest
		}
		fmt.Fprintln(os.Stderr, "generator:", l)
	}
	fmt.Fprintln(os.Stderr, "generator ended")
	os.Exit(1)
	return ""
}

func rssKB() int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			return n
		}
	}
	return 0
}

func udpRcvbufErrors() int64 {
	b, _ := os.ReadFile("/proc/net/snmp")
	lines := strings.Split(string(b), "\n")
	for i := 0; i+1 < len(lines); i++ {
		if strings.HasPrefix(lines[i], "Udp:") && strings.HasPrefix(lines[i+1], "Udp:") {
			h, v := strings.Fields(lines[i]), strings.Fields(lines[i+1])
			for j := range h {
				if h[j] == "RcvbufErrors" && j < len(v) {
					n, _ := strconv.ParseInt(v[j], 10, 64)
					return n
				}
			}
		}
	}
	return -1
}

func relay() {
	exe, err := os.Executable()
	if err != nil {
		panic(err)
	}
	args := []string{exe, "-gen", "-shards", strconv.Itoa(*shards), "-slot", slot.String(), "-pace", pace.String()}
	if *genNice != 0 {
		// Every thread of the generator at this niceness (set before exec, so the Go
		// runtime's threads inherit it); parent and child share one autogroup, so it counts.
		args = append([]string{"nice", "-n", strconv.Itoa(*genNice)}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	g := &genProc{cmd: cmd, in: bufio.NewWriter(stdin), out: bufio.NewScanner(stdout)}
	g.out.Buffer(make([]byte, 1<<20), 16<<20)
	f := strings.Fields(g.expect("addrs"))
	callers, echoes := parseAddrs(f[0]), parseAddrs(f[1])

	cfg := media.DefaultConfig()
	cfg.RTPStart, cfg.RTPEnd = *rtpStart, *rtpEnd
	eng := media.NewEngine(cfg, nil)
	defer eng.Close()

	fmt.Printf("rtprelay: GOMAXPROCS %d, %d generator socket pairs, %v measured after %v warm-up, load average %s\n",
		runtime.GOMAXPROCS(0), *shards, *duration, *warmup, loadavg())
	fmt.Println("| calls | path | one-way p50 / p99 / p99.9 / max (µs) | round trip p50 / p99 / max (µs) | sent | lost one-way | lost round trip |")
	fmt.Println("|---|---|---|---|---|---|---|")
	var summary []string
	for _, cs := range strings.Split(*callsFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(cs))
		if err != nil || n <= 0 {
			continue
		}
		// Baseline: the generator's phones talk directly.
		g.send("targets base %d", n)
		g.send("run %s %s", *duration, *warmup)
		var base GenResult
		json.Unmarshal([]byte(g.expect("result")), &base)
		row(n, "direct (baseline)", base)

		runtime.GC()
		rss0 := rssKB()
		var sess []*media.Session
		var ports []string
		for i := range n {
			a, err := eng.NewSession(media.SessionOptions{LocalIP: netip.MustParseAddr("127.0.0.1")})
			if err != nil {
				panic(err)
			}
			b, err := eng.NewSession(media.SessionOptions{LocalIP: netip.MustParseAddr("127.0.0.1")})
			if err != nil {
				panic(err)
			}
			a.SetRemote(sdp.Negotiated{Remote: callers[i%len(callers)], Codec: sdp.PCMA, Codecs: []sdp.Codec{sdp.PCMA}})
			b.SetRemote(sdp.Negotiated{Remote: echoes[i%len(echoes)], Codec: sdp.PCMA, Codecs: []sdp.Codec{sdp.PCMA}})
			if err := media.Bridge(a, b); err != nil {
				panic(err)
			}
			sess = append(sess, a, b)
			ports = append(ports, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), a.LocalAddr().Port()).String())
		}
		st0 := eng.Stats()
		kd0 := udpRcvbufErrors()
		g.send("targets relay %s", strings.Join(ports, " "))
		var ru0, ru1 syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
		t := time.Now()
		if *cpuProf != "" {
			pf, err := os.Create(*cpuProf)
			if err != nil {
				panic(err)
			}
			pprof.StartCPUProfile(pf)
		}
		g.send("run %s %s", *duration, *warmup)
		var rel GenResult
		line := g.expect("result")
		wall := time.Since(t).Seconds()
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
		if *cpuProf != "" {
			pprof.StopCPUProfile()
		}
		rss1 := rssKB()
		json.Unmarshal([]byte(line), &rel)
		st1 := eng.Stats()
		kd1 := udpRcvbufErrors()
		row(n, "through the relay", rel)
		cpu := (tv(ru1.Utime) - tv(ru0.Utime)) + (tv(ru1.Stime) - tv(ru0.Stime))
		cpuPct := 100 * cpu / wall
		var heap runtime.MemStats
		runtime.ReadMemStats(&heap)
		summary = append(summary, fmt.Sprintf("| %d | %.0f µs | %.0f µs | %.2f | %.1f %% (%.1f user + %.1f sys s over %.1f s) | %.3f %% | %d KB | %.1f KB | %d | %d | %d | %.1f %% |",
			n, rel.OneWay.P50-base.OneWay.P50, rel.OneWay.P99-base.OneWay.P99,
			ratio(rel.OneWay.P99, base.OneWay.P99),
			cpuPct, tv(ru1.Utime)-tv(ru0.Utime), tv(ru1.Stime)-tv(ru0.Stime), wall, cpuPct/float64(n),
			rss1-rss0, float64(rss1-rss0)/float64(n),
			st1.Relayed-st0.Relayed, (st1.Dropped-st0.Dropped)+(st1.Strangers-st0.Strangers), kd1-kd0,
			100*(rel.CPUUser+rel.CPUSys)/rel.Wall))
		for _, s := range sess {
			s.Close()
		}
	}
	fmt.Println()
	fmt.Println("| calls | relay-added one-way p50 | relay-added one-way p99 | p99 ratio relay/direct | relay CPU | CPU per call | relay RSS growth | RSS per call | packets relayed | relay drops | kernel rcvbuf drops (all sockets) | generator CPU |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, s := range summary {
		fmt.Println(s)
	}
	g.send("quit")
	cmd.Wait()
}

func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

func row(n int, path string, r GenResult) {
	lostOW := int64(r.Sent) - int64(r.OneWayRecv)
	lostRT := int64(r.Sent) - int64(r.RoundTripRecv)
	fmt.Printf("| %d | %s | %.0f / %.0f / %.0f / %.0f | %.0f / %.0f / %.0f | %d | %d | %d |\n", n, path,
		r.OneWay.P50, r.OneWay.P99, r.OneWay.P999, r.OneWay.Max, r.RoundTrip.P50, r.RoundTrip.P99, r.RoundTrip.Max,
		r.Sent, lostOW, lostRT)
}

func parseAddrs(s string) []netip.AddrPort {
	var out []netip.AddrPort
	for _, a := range strings.Split(s, ",") {
		out = append(out, netip.MustParseAddrPort(a))
	}
	return out
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
