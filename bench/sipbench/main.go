// Command sipbench measures Pleiades' SIP server on loopback: REGISTER with digest
// authentication for many distinct realtime peers (cached), and the NOTIFY fan-out of one
// hint change to many dialog subscriptions.
//
//	go run ./bench/sipbench -peers 10000 -duration 30s -subs 10000
//
// It starts itself a second time as the server ("sipbench server ...", a child process, so
// that the server's RSS is measured alone), with a SQLite realtime database holding the
// peers (rtcachefriends=yes), and drives it with a small load generator: raw UDP sockets,
// requests from templates, responses parsed with sipgo's parser. Everything is bounded in
// count and time and stays on 127.0.0.1.
package main

import (
	"bufio"
	"context"
	"crypto/md5"
	"database/sql"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
	"golang.org/x/net/ipv4"
	_ "modernc.org/sqlite"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
	"github.com/pleiades-pbx/pleiades/internal/realtime/sqlite"
	psip "github.com/pleiades-pbx/pleiades/internal/sip"
	"github.com/pleiades-pbx/pleiades/internal/state"
	"github.com/pleiades-pbx/pleiades/internal/udpbatch"
	"github.com/pleiades-pbx/pleiades/test/sipload"
)

const realm = "pleiades"

var (
	cpuProfile  = new(string)
	lightRecv   = new(bool)
	heapProfile = new(string)
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "server" {
		serverMain(os.Args[2:])
		return
	}
	peers := flag.Int("peers", 10000, "distinct realtime peers registering")
	duration := flag.Duration("duration", 30*time.Second, "sustained REGISTER load duration (max 10m)")
	sockets := flag.Int("sockets", 4, "client UDP sockets")
	window := flag.Int("window", 64, "outstanding registrations per socket")
	subs := flag.Int("subs", 10000, "dialog subscriptions on one hint (0: skip)")
	rounds := flag.Int("rounds", 5, "hint changes to time")
	cpuProfile = flag.String("cpuprofile", "", "write the server's CPU profile to this file")
	heapProfile = flag.String("heapprofile", "", "write the server's heap profile to this file after the fan-out")
	lightRecv = flag.Bool("light", true, "answer NOTIFYs by echoing their headers, 64 per system call, instead of parsing them with sipgo (a cheaper load generator)")
	flag.Parse()
	if *duration > 10*time.Minute {
		*duration = 10 * time.Minute
	}
	if *peers > 200000 || *subs > 100000 {
		fmt.Fprintln(os.Stderr, "sipbench: at most 200000 peers and 100000 subscriptions")
		os.Exit(2)
	}
	fmt.Printf("sipbench: %s/%s, %d CPUs, GOMAXPROCS %d, %s\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version())
	srv, err := startChild(*peers, *subs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sipbench:", err)
		os.Exit(1)
	}
	defer srv.stop()
	fmt.Printf("server %s pid %d: %s\n", srv.addr, srv.cmd.Process.Pid, srv.stats())

	if *peers > 0 {
		runRegister(srv, *peers, *sockets, *window, *duration)
	}
	if *subs > 0 {
		runSubscribe(srv, *subs, *sockets, *rounds)
	}
	fmt.Printf("end: %s\n", srv.stats())
}

// ---------------------------------------------------------------- server child

type fakeHints struct {
	mu    sync.Mutex
	state map[string]state.Extension
	fns   map[string][]func(state.Extension)
}

func (h *fakeHints) Lookup(exten, ctx string) (psip.HintInfo, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	st, ok := h.state[exten+"@"+ctx]
	return psip.HintInfo{Exten: exten, Context: ctx, State: st}, ok
}

func (h *fakeHints) Watch(exten, ctx string, fn func(state.Extension)) func() {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := exten + "@" + ctx
	h.fns[k] = append(h.fns[k], fn)
	return func() {}
}

func (h *fakeHints) set(exten, ctx string, st state.Extension) {
	h.mu.Lock()
	k := exten + "@" + ctx
	h.state[k] = st
	fns := append([]func(state.Extension){}, h.fns[k]...)
	h.mu.Unlock()
	for _, fn := range fns {
		fn(st)
	}
}

type nopDS struct{ n atomic.Int64 }

func (d *nopDS) SetDevice(string, state.Device) { d.n.Add(1) }

func serverMain(args []string) {
	fs := flag.NewFlagSet("server", flag.ExitOnError)
	peers := fs.Int("peers", 10000, "")
	subs := fs.Int("subs", 10000, "")
	cpuprofile := fs.String("cpuprofile", "", "")
	_ = fs.Parse(args)
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	dir, err := os.MkdirTemp("", "sipbench")
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(dir)
	db := filepath.Join(dir, "rt.sqlite3")
	ctx := context.Background()
	if err := sqlite.CreateDefaultSchema(ctx, db); err != nil {
		fatal(err)
	}
	if err := fillPeers(db, *peers); err != nil {
		fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rt := realtime.New(log)
	rt.Register(sqlite.New(log))
	parse := func(name, text string) *conf.Config {
		c, err := conf.Parse(name, []byte(text), conf.Options{})
		if err != nil {
			fatal(err)
		}
		return c
	}
	if err := rt.Configure(ctx, parse("extconfig.conf", "[settings]\nsippeers => sqlite3,db,sippeers\n"), func(f string) (*conf.Config, error) {
		if f == "res_config_sqlite3.conf" {
			return parse(f, "[db]\ndbfile => "+db+"\n"), nil
		}
		return nil, nil
	}); err != nil {
		fatal(err)
	}
	hints := &fakeHints{state: map[string]state.Extension{"100@blf": state.ExtNotInUse}, fns: map[string][]func(state.Extension){}}
	ds := &nopDS{}
	s := psip.New(log, rt, ds, hints, nil, "bench")
	sipconf := fmt.Sprintf("[general]\nudpbindaddr=127.0.0.1:0\nrealm=%s\nrtcachefriends=yes\nrtautoclear=no\nmaxexpiry=3600\n"+
		"maxsubscriptions=%d\nmaxsubscriptionsperpeer=%d\n[blf]\ntype=friend\nhost=dynamic\nsecret=blfpw\nsubscribecontext=blf\n", realm, *subs+100, *subs+100)
	if err := s.Configure(parse("sip.conf", sipconf)); err != nil {
		fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		fatal(err)
	}
	u, _ := s.Addr()
	fmt.Printf("READY %s\n", u)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "stats":
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			st := s.Stats()
			fmt.Printf("STATS cpu=%dms rss=%dMB heap=%dMB goroutines=%d peers=%d subs=%d nonces=%d write-backs-pending=%d notifies=%d notify-failures=%d last-fanout=%v\n",
				cpuMS(), rssKB(os.Getpid())/1024, ms.HeapAlloc>>20, runtime.NumGoroutine(), st.Peers, st.Subscriptions, st.NoncesTracked, st.WriteBacks,
				st.Notifies, st.NotifyFailures, st.LastFanout.Round(time.Microsecond))
		case "state":
			n, _ := strconv.Atoi(f[1])
			hints.set("100", "blf", state.Extension(n))
			fmt.Println("OK")
		case "heap":
			f, err := os.Create(f[1])
			if err == nil {
				runtime.GC()
				_ = pprof.Lookup("heap").WriteTo(f, 0)
				f.Close()
			}
			fmt.Println("OK")
		case "quit":
			s.Close()
			rt.Close()
			return
		}
	}
}

func fillPeers(db string, n int) error {
	d, err := sql.Open("sqlite", db)
	if err != nil {
		return err
	}
	defer d.Close()
	tx, err := d.Begin()
	if err != nil {
		return err
	}
	st, err := tx.Prepare("INSERT INTO sippeers (name, secret, host, type, context) VALUES (?, ?, 'dynamic', 'friend', 'bench')")
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		if _, err := st.Exec(peerName(i), "pw"+strconv.Itoa(i)); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func peerName(i int) string { return fmt.Sprintf("p%06d", i) }

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "sipbench server:", err)
	os.Exit(1)
}

func rssKB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			n, _ := strconv.Atoi(strings.Fields(l)[1])
			return n
		}
	}
	return -1
}

type child struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
	addr *net.UDPAddr
	mu   sync.Mutex
}

func startChild(peers, subs int) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "server", "-peers", strconv.Itoa(peers), "-subs", strconv.Itoa(subs), "-cpuprofile", *cpuProfile)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	outp, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, in: in, out: bufio.NewScanner(outp)}
	if !c.out.Scan() {
		return nil, errors.New("server child did not start")
	}
	line := c.out.Text()
	a, ok := strings.CutPrefix(line, "READY ")
	if !ok {
		return nil, fmt.Errorf("server child: %q", line)
	}
	c.addr, err = net.ResolveUDPAddr("udp", a)
	return c, err
}

func (c *child) cmdLine(s string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintln(c.in, s)
	if !c.out.Scan() {
		return ""
	}
	return c.out.Text()
}

func (c *child) stats() string { return strings.TrimPrefix(c.cmdLine("stats"), "STATS ") }

func (c *child) stop() {
	fmt.Fprintln(c.in, "quit")
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = c.cmd.Process.Kill()
	}
}

// ---------------------------------------------------------------- REGISTER load

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

type regTx struct {
	peer  int
	stage int // 0: waiting for 401, 1: waiting for 200
	cseq  int
	start time.Time
	sent  time.Time
}

type regStats struct {
	done, failed, timeouts, requests atomic.Int64
	mu                               sync.Mutex
	lat                              []time.Duration
}

func runRegister(srv *child, peers, sockets, window int, duration time.Duration) {
	fmt.Printf("\n== REGISTER with digest: %d realtime peers (rtcachefriends=yes), %d sockets x window %d, %v\n", peers, sockets, window, duration)
	st := &regStats{}
	// warm-up pass: every peer once (loads and caches the realtime peers)
	t0 := time.Now()
	regLoad(srv.addr, peers, sockets, window, st, func() bool { return st.done.Load()+st.failed.Load() >= int64(peers) }, 60*time.Second)
	warm := time.Since(t0)
	fmt.Printf("first pass (DB load + cache): %d registrations in %v = %.0f/s, failed %d, timeouts %d\n",
		st.done.Load(), warm.Round(time.Millisecond), float64(st.done.Load())/warm.Seconds(), st.failed.Load(), st.timeouts.Load())
	fmt.Printf("after first pass: %s\n", srv.stats())

	st2 := &regStats{}
	t0 = time.Now()
	deadline := t0.Add(duration)
	var samples []string
	stopTick := make(chan struct{})
	go func() {
		tk := time.NewTicker(10 * time.Second)
		defer tk.Stop()
		for {
			select {
			case <-stopTick:
				return
			case <-tk.C:
				samples = append(samples, fmt.Sprintf("  t=%3.0fs regs=%d rss=%dMB", time.Since(t0).Seconds(), st2.done.Load(), rssKB(srv.cmd.Process.Pid)/1024))
			}
		}
	}()
	regLoad(srv.addr, peers, sockets, window, st2, func() bool { return time.Now().After(deadline) }, duration+30*time.Second)
	close(stopTick)
	el := time.Since(t0)
	for _, s := range samples {
		fmt.Println(s)
	}
	st2.mu.Lock()
	sort.Slice(st2.lat, func(i, j int) bool { return st2.lat[i] < st2.lat[j] })
	p := func(q float64) time.Duration {
		if len(st2.lat) == 0 {
			return 0
		}
		return st2.lat[int(q*float64(len(st2.lat)-1))]
	}
	fmt.Printf("sustained (cached peers): %d registrations (%d requests) in %v = %.0f registrations/s (%.0f requests/s); failed %d, timeouts %d; latency p50 %v p99 %v max %v\n",
		st2.done.Load(), st2.requests.Load(), el.Round(time.Millisecond), float64(st2.done.Load())/el.Seconds(), float64(st2.requests.Load())/el.Seconds(),
		st2.failed.Load(), st2.timeouts.Load(), p(0.5).Round(time.Microsecond), p(0.99).Round(time.Microsecond), p(1).Round(time.Microsecond))
	st2.mu.Unlock()
	fmt.Printf("after sustained load: %s\n", srv.stats())
	time.Sleep(2 * time.Second)
	fmt.Printf("2 s later: %s\n", srv.stats())
}

// regLoad runs registrations on sockets until stop() (checked between transactions) or max.
func regLoad(server *net.UDPAddr, peers, sockets, window int, st *regStats, stop func() bool, max time.Duration) {
	var wg sync.WaitGroup
	var next atomic.Int64
	end := time.Now().Add(max)
	for s := 0; s < sockets; s++ {
		wg.Add(1)
		go func(s int) {
			defer wg.Done()
			conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return
			}
			defer conn.Close()
			_ = conn.SetReadBuffer(4 << 20)
			local := conn.LocalAddr().String()
			pending := map[string]*regTx{}
			buf := make([]byte, 65535)
			var lat []time.Duration
			send := func(callID string, tx *regTx, auth string) {
				tx.cseq++
				tx.sent = time.Now()
				name := peerName(tx.peer)
				msg := "REGISTER sip:" + server.String() + " SIP/2.0\r\n" +
					"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK" + callID + strconv.Itoa(tx.cseq) + ";rport\r\n" +
					"Max-Forwards: 70\r\n" +
					"From: <sip:" + name + "@127.0.0.1>;tag=" + callID + "\r\n" +
					"To: <sip:" + name + "@127.0.0.1>\r\n" +
					"Call-ID: " + callID + "\r\n" +
					"CSeq: " + strconv.Itoa(tx.cseq) + " REGISTER\r\n" +
					"Contact: <sip:" + name + "@" + local + ">\r\n" +
					auth +
					"Expires: 3600\r\nUser-Agent: sipbench\r\nContent-Length: 0\r\n\r\n"
				_, _ = conn.WriteToUDP([]byte(msg), server)
				st.requests.Add(1)
			}
			startOne := func() bool {
				if stop() || time.Now().After(end) {
					return false
				}
				i := int(next.Add(1)-1) % peers
				callID := fmt.Sprintf("%d-%d-%d", s, i, time.Now().UnixNano())
				tx := &regTx{peer: i, start: time.Now()}
				pending[callID] = tx
				send(callID, tx, "")
				return true
			}
			for w := 0; w < window; w++ {
				startOne()
			}
			for len(pending) > 0 {
				_ = conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
				n, _, err := conn.ReadFromUDP(buf)
				if err != nil {
					// expire lost transactions
					now := time.Now()
					for id, tx := range pending {
						if now.Sub(tx.sent) > 2*time.Second {
							delete(pending, id)
							st.timeouts.Add(1)
							startOne()
						}
					}
					if time.Now().After(end) {
						break
					}
					continue
				}
				msg, err := sip.ParseMessage(buf[:n])
				if err != nil {
					continue
				}
				res, ok := msg.(*sip.Response)
				if !ok || res.CallID() == nil {
					continue
				}
				callID := res.CallID().Value()
				tx := pending[callID]
				if tx == nil {
					continue
				}
				switch {
				case res.StatusCode == 401 && tx.stage == 0:
					ch, err := digest.ParseChallenge(res.GetHeader("WWW-Authenticate").Value())
					if err != nil {
						delete(pending, callID)
						st.failed.Add(1)
						startOne()
						continue
					}
					name := peerName(tx.peer)
					uri := "sip:" + server.String()
					ha1 := md5hex(name + ":" + realm + ":pw" + strconv.Itoa(tx.peer))
					ha2 := md5hex("REGISTER:" + uri)
					resp := md5hex(ha1 + ":" + ch.Nonce + ":00000001:bench1:auth:" + ha2)
					auth := `Authorization: Digest username="` + name + `", realm="` + realm + `", nonce="` + ch.Nonce + `", uri="` + uri +
						`", response="` + resp + `", algorithm=MD5, qop=auth, nc=00000001, cnonce="bench1"` + "\r\n"
					tx.stage = 1
					send(callID, tx, auth)
				case res.StatusCode == 200 && tx.stage == 1:
					delete(pending, callID)
					st.done.Add(1)
					lat = append(lat, time.Since(tx.start))
					startOne()
				default:
					delete(pending, callID)
					st.failed.Add(1)
					startOne()
				}
			}
			st.mu.Lock()
			st.lat = append(st.lat, lat...)
			st.mu.Unlock()
		}(s)
	}
	wg.Wait()
}

// ---------------------------------------------------------------- SUBSCRIBE fan-out

var versionRE = regexp.MustCompile(`version="(\d+)"`)

type subClient struct {
	conn     *net.UDPConn
	local    string
	mu       sync.Mutex
	versions map[string]int // call-id -> last NOTIFY version
	arrivals []time.Time
	want     int // version being waited for
	okCount  atomic.Int64
	lastSize atomic.Int64 // bytes of the last NOTIFY received
	pending  map[string]*subTx
}

type subTx struct {
	cseq  int
	stage int
}

func runSubscribe(srv *child, n, sockets, rounds int) {
	fmt.Printf("\n== %d dialog subscriptions on one hint (100@blf), %d sockets\n", n, sockets)
	server := srv.addr
	clients := make([]*subClient, sockets)
	for i := range clients {
		conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return
		}
		_ = conn.SetReadBuffer(8 << 20)
		_ = conn.SetWriteBuffer(8 << 20)
		clients[i] = &subClient{conn: conn, local: conn.LocalAddr().String(), versions: map[string]int{}, pending: map[string]*subTx{}, want: -1}
		defer conn.Close()
	}
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func(c *subClient) { defer wg.Done(); c.readLoop(server) }(c)
	}
	// establish
	t0 := time.Now()
	per := n / sockets
	var ewg sync.WaitGroup
	for ci, c := range clients {
		ewg.Add(1)
		go func(ci int, c *subClient) {
			defer ewg.Done()
			for i := 0; i < per; i++ {
				callID := fmt.Sprintf("sub-%d-%d", ci, i)
				c.mu.Lock()
				c.pending[callID] = &subTx{cseq: 1}
				c.mu.Unlock()
				c.sendSubscribe(server, callID, 1, "")
				// pace: at most 200 outstanding per socket
				for {
					c.mu.Lock()
					np := len(c.pending)
					c.mu.Unlock()
					if np < 200 {
						break
					}
					time.Sleep(time.Millisecond)
				}
			}
		}(ci, c)
	}
	ewg.Wait()
	total := per * sockets
	waitUntil(60*time.Second, func() bool {
		got := 0
		for _, c := range clients {
			c.mu.Lock()
			for _, v := range c.versions {
				if v >= 0 {
					got++
				}
			}
			c.mu.Unlock()
		}
		return got >= total
	})
	fmt.Printf("established %d subscriptions (and their first NOTIFY) in %v\n", total, time.Since(t0).Round(time.Millisecond))
	fmt.Printf("server: %s\n", srv.stats())
	var fanouts, rawSent []time.Duration
	raw := newRawSender(clients, notifySize(clients))
	if raw != nil {
		defer raw.close()
	}
	for r := 1; r <= rounds; r++ {
		state := 1
		if r%2 == 0 {
			state = 0
		}
		for _, c := range clients {
			c.mu.Lock()
			c.want, c.arrivals = r, c.arrivals[:0]
			c.mu.Unlock()
		}
		start, genCPU := time.Now(), cpuMS()
		srv.cmdLine("state " + strconv.Itoa(state))
		ok := waitUntil(10*time.Second, func() bool {
			got := 0
			for _, c := range clients {
				c.mu.Lock()
				got += len(c.arrivals)
				c.mu.Unlock()
			}
			return got >= total
		})
		var all []time.Time
		for _, c := range clients {
			c.mu.Lock()
			all = append(all, c.arrivals...)
			c.mu.Unlock()
		}
		sort.Slice(all, func(i, j int) bool { return all[i].Before(all[j]) })
		if len(all) == 0 {
			fmt.Printf("round %d: no NOTIFY\n", r)
			continue
		}
		genCPU = cpuMS() - genCPU
		fmt.Printf("round %d (state %d): %d/%d NOTIFYs (version %d) received; first after %v, 50%% after %v, all after %v%s; generator cpu=%dms\n",
			r, state, len(all), total, r, all[0].Sub(start).Round(time.Microsecond), all[len(all)/2].Sub(start).Round(time.Microsecond),
			all[len(all)-1].Sub(start).Round(time.Microsecond), map[bool]string{true: "", false: " (INCOMPLETE)"}[ok], genCPU)
		time.Sleep(500 * time.Millisecond)
		st := srv.stats()
		fmt.Printf("         server: %s\n", st)
		if m := lastFanoutRE.FindStringSubmatch(st); m != nil {
			if d, err := time.ParseDuration(m[1]); err == nil {
				fanouts = append(fanouts, d)
			}
		}
		if raw != nil {
			sent, all, got := raw.round(clients, 1000000+r, total)
			rawSent = append(rawSent, sent)
			fmt.Printf("         baseline: %d/%d raw NOTIFYs of %d bytes sent by two threads in %v (sendmmsg, prebuilt), all answered after %v\n",
				got, total, raw.size, sent.Round(time.Microsecond), all.Round(time.Microsecond))
			time.Sleep(300 * time.Millisecond)
		}
	}
	if len(fanouts) > 0 && len(rawSent) > 0 {
		fm, rm := median(fanouts), median(rawSent)
		fmt.Printf("fan-out of %d NOTIFYs over %d rounds: server median %v (min %v, max %v); raw send baseline median %v (min %v, max %v); ratio %.2f\n",
			total, len(fanouts), fm.Round(time.Microsecond), slices.Min(fanouts).Round(time.Microsecond), slices.Max(fanouts).Round(time.Microsecond),
			rm.Round(time.Microsecond), slices.Min(rawSent).Round(time.Microsecond), slices.Max(rawSent).Round(time.Microsecond), float64(fm)/float64(rm))
	}
	fmt.Printf("server after fan-out: %s\n", srv.stats())
	if *heapProfile != "" {
		srv.cmdLine("heap " + *heapProfile)
	}
	for _, c := range clients {
		c.conn.Close()
	}
	wg.Wait()
}

func waitUntil(d time.Duration, cond func() bool) bool {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if cond() {
			return true
		}
		time.Sleep(time.Millisecond)
	}
	return cond()
}

func (c *subClient) sendSubscribe(server *net.UDPAddr, callID string, cseq int, auth string) {
	msg := "SUBSCRIBE sip:100@" + server.String() + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + c.local + ";branch=z9hG4bK" + callID + "x" + strconv.Itoa(cseq) + ";rport\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: <sip:blf@127.0.0.1>;tag=" + callID + "\r\n" +
		"To: <sip:100@127.0.0.1>\r\n" +
		"Call-ID: " + callID + "\r\n" +
		"CSeq: " + strconv.Itoa(cseq) + " SUBSCRIBE\r\n" +
		"Contact: <sip:blf@" + c.local + ">\r\n" +
		auth +
		"Event: dialog\r\nAccept: application/dialog-info+xml\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n"
	_, _ = c.conn.WriteToUDP([]byte(msg), server)
}

// readLoop answers NOTIFYs the light way (sipload: 64 datagrams per system call, no parse),
// or with sipgo's parser when -light=false; SUBSCRIBE answers go to handle.
func (c *subClient) readLoop(server *net.UDPAddr) {
	if !*lightRecv {
		buf := make([]byte, 65535)
		for {
			n, from, err := c.conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			c.handle(buf[:n], from, server)
		}
	}
	_ = sipload.Serve(c.conn, func(at time.Time, ns []sipload.Notify) {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, n := range ns {
			c.lastSize.Store(int64(n.Size))
			c.versions[n.CallID] = n.Version
			if n.Version == c.want {
				c.arrivals = append(c.arrivals, at)
			}
		}
	}, func(b []byte, from *net.UDPAddr) { c.handle(b, from, server) })
}

// handle is a message other than a NOTIFY answered by lightNotify.
func (c *subClient) handle(b []byte, from *net.UDPAddr, server *net.UDPAddr) {
	msg, err := sip.ParseMessage(b)
	if err != nil {
		return
	}
	switch m := msg.(type) {
	case *sip.Request:
		if m.Method != sip.NOTIFY {
			return
		}
		res := sip.NewResponseFromRequest(m, 200, "OK", nil)
		_, _ = c.conn.WriteToUDP([]byte(res.String()), from)
		v := -1
		if mm := versionRE.FindSubmatch(m.Body()); mm != nil {
			v, _ = strconv.Atoi(string(mm[1]))
		}
		now := time.Now()
		c.mu.Lock()
		c.versions[m.CallID().Value()] = v
		if v == c.want {
			c.arrivals = append(c.arrivals, now)
		}
		c.mu.Unlock()
	case *sip.Response:
		if m.CallID() == nil {
			return
		}
		callID := m.CallID().Value()
		c.mu.Lock()
		tx := c.pending[callID]
		c.mu.Unlock()
		if tx == nil {
			return
		}
		switch {
		case m.StatusCode == 401 && tx.stage == 0:
			ch, err := digest.ParseChallenge(m.GetHeader("WWW-Authenticate").Value())
			if err != nil {
				return
			}
			uri := "sip:100@" + server.String()
			ha1 := md5hex("blf:" + realm + ":blfpw")
			ha2 := md5hex("SUBSCRIBE:" + uri)
			resp := md5hex(ha1 + ":" + ch.Nonce + ":00000001:bench2:auth:" + ha2)
			auth := `Authorization: Digest username="blf", realm="` + realm + `", nonce="` + ch.Nonce + `", uri="` + uri +
				`", response="` + resp + `", algorithm=MD5, qop=auth, nc=00000001, cnonce="bench2"` + "\r\n"
			c.mu.Lock()
			tx.stage, tx.cseq = 1, tx.cseq+1
			cseq := tx.cseq
			c.mu.Unlock()
			c.sendSubscribe(server, callID, cseq, auth)
		default:
			if m.StatusCode != 200 {
				fmt.Fprintf(os.Stderr, "SUBSCRIBE %s: %d %s\n", callID, m.StatusCode, m.Reason)
			}
			c.mu.Lock()
			delete(c.pending, callID)
			c.mu.Unlock()
			c.okCount.Add(1)
		}
	}
}

var lastFanoutRE = regexp.MustCompile(`last-fanout=([0-9.]+[a-zµ]+)`)

func median(ds []time.Duration) time.Duration {
	c := slices.Clone(ds)
	slices.Sort(c)
	return c[len(c)/2]
}

// notifySize is the size of the last NOTIFY the subscribers got from the server.
func notifySize(clients []*subClient) int {
	for _, c := range clients {
		if n := c.lastSize.Load(); n > 0 {
			return int(n)
		}
	}
	return 800
}

// rawSender is the fan-out's baseline, measured in the same run: NOTIFY-shaped datagrams of the
// server's NOTIFY size, prebuilt, written to the same subscriber sockets by two threads, each
// with its own descriptor of one socket and sendmmsg 64 at a time (what the server does, minus
// building and tracking). The subscribers answer them as they answer the server; a reader
// drains the answers as the server's does.
type rawSender struct {
	conn    *net.UDPConn
	writers []udpbatch.Conn
	files   []net.PacketConn
	size    int
}

func newRawSender(clients []*subClient, size int) *rawSender {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		return nil
	}
	_ = conn.SetReadBuffer(4 << 20)
	_ = conn.SetWriteBuffer(4 << 20)
	r := &rawSender{conn: conn, size: size}
	for _, c := range udpbatch.Dup(conn, 2) {
		r.files = append(r.files, c)
		r.writers = append(r.writers, udpbatch.For(c))
	}
	go func() { // drain the answers
		pc := ipv4.NewPacketConn(conn)
		ms := make([]ipv4.Message, 32)
		for i := range ms {
			ms[i].Buffers = [][]byte{make([]byte, 2048)}
		}
		for {
			if _, err := pc.ReadBatch(ms, 0); err != nil {
				return
			}
		}
	}()
	return r
}

func (r *rawSender) close() {
	for _, f := range r.files {
		f.Close()
	}
	r.conn.Close()
}

// round sends total raw NOTIFYs with dialog-info version v spread over the clients' sockets;
// it returns the time to hand them all to the kernel and the time until all were answered.
func (r *rawSender) round(clients []*subClient, v, total int) (time.Duration, time.Duration, int) {
	msgs := make([]ipv4.Message, total)
	for i := range msgs {
		c := clients[i%len(clients)]
		head := fmt.Sprintf("NOTIFY sip:blf@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK.raw%d.%d;rport\r\nMax-Forwards: 70\r\n"+
			"From: <sip:100@127.0.0.1>;tag=raw\r\nTo: <sip:blf@127.0.0.1>;tag=raw%d\r\nCall-ID: raw-%d\r\nCSeq: %d NOTIFY\r\n"+
			"Event: dialog\r\nContent-Type: application/dialog-info+xml\r\nSubscription-State: active;expires=3600\r\n",
			c.local, r.conn.LocalAddr(), v, i, i, i, v)
		body := fmt.Sprintf("<?xml version=\"1.0\"?>\n<dialog-info xmlns=\"urn:ietf:params:xml:ns:dialog-info\" version=\"%d\" state=\"full\" entity=\"sip:100@127.0.0.1\">\n", v)
		pad := max(0, r.size-len(head)-len(body)-60)
		body += "<!--" + strings.Repeat("x", pad) + "-->\n</dialog-info>\n"
		text := head + "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
		msgs[i] = ipv4.Message{Buffers: [][]byte{[]byte(text)}, Addr: c.conn.LocalAddr()}
	}
	for _, c := range clients {
		c.mu.Lock()
		c.want, c.arrivals = v, c.arrivals[:0]
		c.mu.Unlock()
	}
	start := time.Now()
	var wg sync.WaitGroup
	per := (total + len(r.writers) - 1) / len(r.writers)
	for w, pc := range r.writers {
		part := msgs[min(w*per, total):min((w+1)*per, total)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < len(part); {
				k, err := pc.WriteBatch(part[i:min(i+64, len(part))], 0)
				if err != nil {
					return
				}
				i += k
			}
		}()
	}
	wg.Wait()
	sent := time.Since(start)
	got := 0
	waitUntil(10*time.Second, func() bool {
		got = 0
		for _, c := range clients {
			c.mu.Lock()
			got += len(c.arrivals)
			c.mu.Unlock()
		}
		return got >= total
	})
	var last time.Time
	for _, c := range clients {
		c.mu.Lock()
		for _, a := range c.arrivals {
			if a.After(last) {
				last = a
			}
		}
		c.mu.Unlock()
	}
	return sent, last.Sub(start), got
}

// cpuMS is this process's user+system CPU time.
func cpuMS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return (ru.Utime.Sec+ru.Stime.Sec)*1000 + int64(ru.Utime.Usec+ru.Stime.Usec)/1000
}
