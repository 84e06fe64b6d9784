// Command clusterbench measures device state propagation between real pleiades processes on
// this machine:
//
//   - latency: a state change sent to server 1 (ARI PUT over a kept-alive HTTP connection) until
//     server 2's WebSocket reports the new cluster-wide state (DeviceStateChanged), over -n
//     changes, beside a raw NATS publish→receive between the same two processes' embedded
//     NATS servers (their client_listen ports), measured in the same run;
//   - sustained: server 1 generates -storm changes over -devices devices ("devstate bench") and
//     servers 2 and 3 must end with every device's final state; the rate is changes divided by
//     the time until the last server holds every final state.
//
// With -tls it runs both twice over, on a cluster with plaintext routes and on one with mutual
// TLS routes (a cluster CA made for the run with test/testcert, plus a route password),
// alternating, and prints each figure of both and their ratio (issue 18: route TLS ≤ 1.3× the
// plaintext p50).
//
// Usage: go build -o bin/pleiades ./cmd/pleiades && go run ./bench/clusterbench -bin bin/pleiades
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"

	"github.com/pleiades-pbx/pleiades/test/testcert"
)

var (
	bin     = flag.String("bin", "bin/pleiades", "pleiades binary")
	n       = flag.Int("n", 10000, "latency samples")
	storm   = flag.Int("storm", 200000, "changes of the sustained run")
	devices = flag.Int("devices", 1000, "devices of the sustained run")
	keep    = flag.Bool("keep", false, "keep the servers' directories")
	useTLS  = flag.Bool("tls", false, "compare plaintext routes with mutual TLS routes in the same run")
	rounds  = flag.Int("rounds", 2, "with -tls: rounds of plaintext then TLS")
)

type node struct {
	dir, conf        string
	http, nats, rout int
	cmd              *exec.Cmd
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// running are the servers started and not stopped yet: fail stops them too.
var running []*node

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "clusterbench: "+format+"\n", args...)
	stop(slices.Clone(running))
	os.Exit(1)
}

func (nd *node) rx(cmd string) string {
	out, err := exec.Command(*bin, "-C", nd.conf, "-rx", cmd).CombinedOutput()
	if err != nil {
		fail("-rx %q: %v: %s", cmd, err, out)
	}
	return string(out)
}

// routeSecurity returns the cluster.conf lines of server i (empty for plaintext routes).
type routeSecurity func(i int) string

func start(count int, sec routeSecurity) []*node {
	nodes := make([]*node, count)
	for i := range nodes {
		nodes[i] = &node{http: freePort(), nats: freePort(), rout: freePort()}
	}
	for i, nd := range nodes {
		dir, err := os.MkdirTemp("", "plbench")
		if err != nil {
			fail("%v", err)
		}
		nd.dir = dir
		etc := filepath.Join(dir, "etc")
		os.MkdirAll(etc, 0o755)
		var routes []string
		for j, o := range nodes {
			if j != i {
				routes = append(routes, fmt.Sprintf("127.0.0.1:%d", o.rout))
			}
		}
		files := map[string]string{
			"asterisk.conf": fmt.Sprintf("[directories]\nastetcdir => %[1]s/etc\nastvarlibdir => %[1]s/lib\nastdbdir => %[1]s/lib\nastrundir => %[1]s/run\nastlogdir => %[1]s/log\nastspooldir => %[1]s/spool\nastdatadir => %[1]s/lib\n[options]\nentityid = 02:00:00:00:0b:%02x\nsystemname = bench%d\n", dir, i+1, i+1),
			"cluster.conf":  fmt.Sprintf("[general]\nnode_name = bench%d\nlisten = 127.0.0.1:%d\nroutes = %s\nclient_listen = 127.0.0.1:%d\n", i+1, nd.rout, strings.Join(routes, ","), nd.nats) + sec(i),
			"http.conf":     fmt.Sprintf("[general]\nenabled = yes\nbindaddr = 127.0.0.1\nbindport = %d\nsessionlimit = 1000\n", nd.http),
			"ari.conf":      "[general]\nenabled = yes\nwebsocket_queue = 1000000\n[admin]\ntype = user\npassword = secret\n",
			"logger.conf":   "[logfiles]\nconsole => warning,error\n",
		}
		for name, content := range files {
			os.WriteFile(filepath.Join(etc, name), []byte(content), 0o644)
		}
		nd.conf = filepath.Join(etc, "asterisk.conf")
		nd.cmd = exec.Command(*bin, "-f", "-C", nd.conf)
		nd.cmd.Stdout, nd.cmd.Stderr = os.Stderr, os.Stderr
		if err := nd.cmd.Start(); err != nil {
			fail("%v", err)
		}
		running = append(running, nd)
	}
	for _, nd := range nodes {
		deadline := time.Now().Add(30 * time.Second)
		for {
			if c, err := net.Dial("unix", filepath.Join(nd.dir, "run", "pleiades.ctl")); err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				fail("server in %s did not start", nd.dir)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for _, nd := range nodes {
		deadline := time.Now().Add(15 * time.Second)
		for strings.Count(nd.rx("cluster show members"), "Node Name:") != count {
			if time.Now().After(deadline) {
				fail("cluster did not form")
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nodes
}

func stop(nodes []*node) {
	for _, nd := range nodes {
		running = slices.DeleteFunc(running, func(o *node) bool { return o == nd })
		nd.cmd.Process.Kill()
		nd.cmd.Wait()
		if !*keep {
			os.RemoveAll(nd.dir)
		}
	}
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[int(float64(len(s)-1)*p)]
}

// rawNATS is publish on server 1's embedded NATS → receive on server 2's, one message at a
// time.
func rawNATS(a, b *node) []time.Duration {
	pub, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", a.nats))
	if err != nil {
		fail("nats 1: %v", err)
	}
	defer pub.Close()
	sub, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", b.nats))
	if err != nil {
		fail("nats 2: %v", err)
	}
	defer sub.Close()
	ch := make(chan *nats.Msg, 1)
	s, err := sub.ChanSubscribe("clusterbench.raw", ch)
	if err != nil {
		fail("%v", err)
	}
	defer s.Unsubscribe()
	sub.Flush()
	// Wait until the subscription has reached server 1 over the route.
	for {
		pub.Publish("clusterbench.raw", []byte("warm"))
		select {
		case <-ch:
		case <-time.After(100 * time.Millisecond):
			continue
		}
		break
	}
	out := make([]time.Duration, 0, *n)
	payload := make([]byte, 64)
	for len(out) < *n {
		t0 := time.Now()
		pub.Publish("clusterbench.raw", payload)
		select {
		case <-ch:
			out = append(out, time.Since(t0))
		case <-time.After(2 * time.Second):
			fail("raw NATS message lost")
		}
	}
	return out
}

// pleiades is ARI PUT on server 1 → DeviceStateChanged on server 2's WebSocket.
func pleiades(a, b *node, device string) []time.Duration {
	ctx := context.Background()
	ws, _, err := websocket.Dial(ctx, fmt.Sprintf("ws://127.0.0.1:%d/api/events?api_key=admin:secret&types=DeviceStateChanged&device="+device, b.http), nil)
	if err != nil {
		fail("websocket: %v", err)
	}
	defer ws.CloseNow()
	ws.SetReadLimit(1 << 20)
	events := make(chan string, 16)
	go func() {
		for {
			_, data, err := ws.Read(ctx)
			if err != nil {
				close(events)
				return
			}
			var ev struct {
				DeviceState struct{ Name, State string } `json:"device_state"`
			}
			if json.Unmarshal(data, &ev) == nil && ev.DeviceState.Name == device {
				events <- ev.DeviceState.State
			}
		}
	}()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	put := func(state string) {
		req, _ := http.NewRequest("PUT", fmt.Sprintf("http://127.0.0.1:%d/ari/deviceStates/%s?deviceState=%s", a.http, device, state), nil)
		req.SetBasicAuth("admin", "secret")
		resp, err := client.Do(req)
		if err != nil {
			fail("PUT: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 204 {
			fail("PUT: %s", resp.Status)
		}
	}
	waitFor := func(state string, d time.Duration) bool {
		for {
			select {
			case got, ok := <-events:
				if !ok {
					fail("websocket closed")
				}
				if got == state {
					return true
				}
			case <-time.After(d):
				return false
			}
		}
	}
	out := make([]time.Duration, 0, *n)
	wait := func(state string) {
		if !waitFor(state, 3*time.Second) {
			fail("no DeviceStateChanged %s of %s on server 2 after %d samples", state, device, len(out))
		}
	}
	// Warm up until a change goes through: the WebSocket's subscription and the new
	// members' syncs may still be settling on a loaded machine.
	last := ""
	for i := 0; ; i++ {
		st := []string{"NOT_INUSE", "INUSE"}[i%2]
		put(st)
		if waitFor(st, time.Second) {
			last = st
			break
		}
		if i == 20 {
			fail("no DeviceStateChanged on server 2 after 20 changes")
		}
	}
	states := []string{"INUSE", "NOT_INUSE"}
	if last == "INUSE" {
		states[0], states[1] = states[1], states[0]
	}
	for i := 0; len(out) < *n; i++ {
		st := states[i%2]
		t0 := time.Now()
		put(st)
		wait(st)
		out = append(out, time.Since(t0))
	}
	return out
}

// sustained runs "devstate bench" on server 1 and waits until every other server holds every
// device's final state.
func sustained(nodes []*node) (time.Duration, string) {
	final := "INUSE"
	if (*storm / *devices)%2 == 0 {
		final = "NOT_INUSE"
	}
	t0 := time.Now()
	local := nodes[0].rx(fmt.Sprintf("devstate bench %d %d storm", *storm, *devices))
	for _, nd := range nodes[1:] {
		deadline := time.Now().Add(60 * time.Second)
		for {
			resp, err := http.Get(fmt.Sprintf("http://admin:secret@127.0.0.1:%d/ari/deviceStates", nd.http))
			if err != nil {
				fail("GET: %v", err)
			}
			var list []struct{ Name, State string }
			json.NewDecoder(resp.Body).Decode(&list)
			resp.Body.Close()
			ok := 0
			for _, d := range list {
				if strings.HasPrefix(d.Name, "Custom:storm") && d.State == final {
					ok++
				}
			}
			if ok == *devices {
				break
			}
			if time.Now().After(deadline) {
				fail("server %s: %d of %d devices reached %s", nd.dir, ok, *devices, final)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return time.Since(t0), strings.TrimSpace(local)
}

func main() {
	flag.Parse()
	if *useTLS {
		compareTLS()
		return
	}
	nodes := start(3, func(int) string { return "" })
	defer stop(nodes)
	raw := rawNATS(nodes[0], nodes[1])
	same := pleiades(nodes[1], nodes[1], "Custom:latsame")
	pl := pleiades(nodes[0], nodes[1], "Custom:lat")
	took, local := sustained(nodes)
	p := func(d []time.Duration, q float64) time.Duration { return percentile(d, q).Round(time.Microsecond) }
	fmt.Printf("| path (%d samples each) | p50 | p99 |\n|---|---|---|\n", *n)
	fmt.Printf("| raw NATS publish on 1 → receive on 2 (the same two processes' embedded servers) | %v | %v |\n", p(raw, .5), p(raw, .99))
	fmt.Printf("| ARI PUT on 2 → DeviceStateChanged on 2's WebSocket (no cluster hop) | %v | %v |\n", p(same, .5), p(same, .99))
	fmt.Printf("| ARI PUT on 1 → DeviceStateChanged on 2's WebSocket (end to end) | %v | %v |\n", p(pl, .5), p(pl, .99))
	hop50, hop99 := p(pl, .5)-p(same, .5), p(pl, .99)-p(same, .99)
	fmt.Printf("| cluster hop (end to end − no hop) | %v | %v |\n", hop50, hop99)
	fmt.Printf("| cluster hop ÷ raw NATS | %.2f× | %.2f× |\n\n", float64(hop50)/float64(p(raw, .5)), float64(hop99)/float64(p(raw, .99)))
	fmt.Printf("sustained: %d changes over %d devices on server 1 (%s); servers 2 and 3 held every final state after %v: %.0f changes/s, no loss\n",
		*storm, *devices, local, took.Round(time.Millisecond), float64(*storm)/took.Seconds())
}

// compareTLS measures plaintext and TLS routes in the same run, alternating clusters.
func compareTLS() {
	dir, err := os.MkdirTemp("", "plbenchpki")
	if err != nil {
		fail("%v", err)
	}
	defer os.RemoveAll(dir)
	ca, err := testcert.NewCA(dir, "bench")
	if err != nil {
		fail("%v", err)
	}
	certs := make([]testcert.Files, 3)
	for i := range certs {
		if certs[i], err = ca.Issue(fmt.Sprintf("bench%d", i+1), testcert.Options{}); err != nil {
			fail("%v", err)
		}
	}
	secure := func(i int) string {
		return fmt.Sprintf("route_tls_ca = %s\nroute_tls_cert = %s\nroute_tls_key = %s\nroute_user = bench\nroute_password = bench-secret\n",
			ca.CertFile, certs[i].Cert, certs[i].Key)
	}
	type result struct{ raw, pl []time.Duration }
	var plain, tls result
	var plainRate, tlsRate []float64
	for range *rounds {
		for _, mode := range []struct {
			sec  routeSecurity
			into *result
			rate *[]float64
		}{{func(int) string { return "" }, &plain, &plainRate}, {secure, &tls, &tlsRate}} {
			fmt.Fprintf(os.Stderr, "clusterbench: %s routes\n", map[bool]string{true: "TLS", false: "plaintext"}[mode.into == &tls])
			nodes := start(3, mode.sec)
			mode.into.raw = append(mode.into.raw, rawNATS(nodes[0], nodes[1])...)
			pleiades(nodes[1], nodes[1], "Custom:latsame") // as the plain run does: warms server 2's path
			mode.into.pl = append(mode.into.pl, pleiades(nodes[0], nodes[1], "Custom:lat")...)
			took, _ := sustained(nodes)
			*mode.rate = append(*mode.rate, float64(*storm)/took.Seconds())
			stop(nodes)
		}
	}
	p := func(d []time.Duration, q float64) time.Duration { return percentile(d, q).Round(time.Microsecond) }
	fmt.Printf("| path (%d samples each, %d rounds alternating) | plaintext p50 | TLS p50 | TLS ÷ plaintext p50 | plaintext p99 | TLS p99 |\n|---|---|---|---|---|---|\n", *n, *rounds)
	row := func(name string, a, b []time.Duration) {
		fmt.Printf("| %s | %v | %v | %.2f× | %v | %v |\n", name, p(a, .5), p(b, .5), float64(p(b, .5))/float64(p(a, .5)), p(a, .99), p(b, .99))
	}
	row("raw NATS publish on 1 → receive on 2 (over the route)", plain.raw, tls.raw)
	row("ARI PUT on 1 → DeviceStateChanged on 2's WebSocket (end to end)", plain.pl, tls.pl)
	fmt.Printf("\nsustained (%d changes over %d devices, servers 2 and 3 hold every final state), changes/s per round: plaintext %.0f, TLS %.0f\n",
		*storm, *devices, plainRate, tlsRate)
}
