// Command amibench measures cross-server state propagation through AMI: it logs in to server
// A and server B, sends "Action: Setvar / Variable: DEVICE_STATE(Custom:benchN) / Value:
// INUSE|NOT_INUSE" to A, and times the matching DeviceStateChange event on B. It reports
// p50/p99/max latency and, with -window > 1 (pipelined Setvars), the throughput.
//
//	amibench -a 127.0.0.1:5038 -b 127.0.0.2:5038 -user admin -secret pw -n 10000 -devices 100 -window 50
//
// Each change toggles one device (round-robin over -devices), so every Setvar is a real
// change of the cluster-wide state provided no other server holds a state for the bench
// devices. A warm-up first sets every device NOT_INUSE (not measured).
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/ami"
)

type conn struct {
	c net.Conn
	r *ami.Reader
	w *bufio.Writer
}

func dial(addr, user, secret, events string) (*conn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	banner, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(banner, "Asterisk Call Manager/") {
		c.Close()
		return nil, fmt.Errorf("%s: bad banner %q: %v", addr, banner, err)
	}
	cn := &conn{c: c, r: ami.NewReader(br), w: bufio.NewWriter(c)}
	cn.send("Action: Login", "Username: "+user, "Secret: "+secret, "Events: "+events, "ActionID: login")
	cn.w.Flush()
	for {
		p, err := cn.r.ReadPacket()
		if err != nil {
			return nil, fmt.Errorf("%s: login: %v", addr, err)
		}
		if p.Get("ActionID") == "login" {
			if p.Get("Response") != "Success" {
				return nil, fmt.Errorf("%s: login: %s", addr, p.Get("Message"))
			}
			break
		}
	}
	c.SetReadDeadline(time.Time{})
	return cn, nil
}

func (cn *conn) send(lines ...string) {
	for _, l := range lines {
		cn.w.WriteString(l)
		cn.w.WriteString("\r\n")
	}
	cn.w.WriteString("\r\n")
}

type key struct{ dev, state string }

func main() {
	a := flag.String("a", "127.0.0.1:5038", "server A (Setvar is sent here)")
	b := flag.String("b", "127.0.0.1:5039", "server B (DeviceStateChange is awaited here)")
	user := flag.String("user", "admin", "manager user (on both servers)")
	secret := flag.String("secret", "", "manager secret")
	n := flag.Int("n", 1000, "number of state changes")
	devices := flag.Int("devices", 100, "number of Custom:benchN devices")
	window := flag.Int("window", 1, "Setvars in flight (1: pure latency; >1: pipelined)")
	timeout := flag.Duration("timeout", 10*time.Second, "give up waiting for an event after this")
	flag.Parse()
	if *window < 1 || *devices < 1 || *n < 1 {
		fmt.Fprintln(os.Stderr, "amibench: -n, -devices and -window must be positive")
		os.Exit(2)
	}
	if *window > *devices {
		*window = *devices // one change in flight per device, so events match unambiguously
	}
	ca, err := dial(*a, *user, *secret, "off")
	if err != nil {
		fail(err)
	}
	cb, err := dial(*b, *user, *secret, "call")
	if err != nil {
		fail(err)
	}

	var mu sync.Mutex
	pending := map[key]time.Time{}
	var lat []time.Duration
	slots := make(chan struct{}, *window)
	arrived := make(chan struct{}, 1<<16)
	measuring := false
	go func() { // B: DeviceStateChange events
		for {
			p, err := cb.r.ReadPacket()
			if err != nil {
				if err != io.EOF {
					fmt.Fprintln(os.Stderr, "amibench: B:", err)
				}
				os.Exit(1)
			}
			if p.Get("Event") != "DeviceStateChange" {
				continue
			}
			k := key{p.Get("Device"), p.Get("State")}
			now := time.Now()
			mu.Lock()
			t0, ok := pending[k]
			if ok {
				delete(pending, k)
				if measuring {
					lat = append(lat, now.Sub(t0))
				}
			}
			mu.Unlock()
			if ok {
				select {
				case <-slots:
				default:
				}
				arrived <- struct{}{}
			}
		}
	}()
	errCount := 0
	go func() { // A: responses
		for {
			p, err := ca.r.ReadPacket()
			if err != nil {
				fmt.Fprintln(os.Stderr, "amibench: A:", err)
				os.Exit(1)
			}
			if p.Get("Response") == "Error" {
				mu.Lock()
				errCount++
				mu.Unlock()
				fmt.Fprintln(os.Stderr, "amibench: Setvar error:", p.Get("Message"))
			}
		}
	}()
	setvar := func(i int, dev, state string) {
		mu.Lock()
		pending[key{dev, state}] = time.Now()
		mu.Unlock()
		ca.send("Action: Setvar", "Variable: DEVICE_STATE("+dev+")", "Value: "+state, "ActionID: "+strconv.Itoa(i))
		ca.w.Flush()
	}
	dev := func(i int) string { return "Custom:bench" + strconv.Itoa(i%*devices) }

	// Warm-up: every device NOT_INUSE; a device already NOT_INUSE sends no event.
	for i := 0; i < *devices; i++ {
		setvar(-1-i, dev(i), "NOT_INUSE")
	}
	warm := time.After(2 * time.Second)
wait:
	for {
		select {
		case <-arrived:
		case <-warm:
			break wait
		}
	}
	mu.Lock()
	pending = map[key]time.Time{}
	measuring = true
	mu.Unlock()
	for len(slots) > 0 {
		<-slots
	}

	state := make([]bool, *devices) // true: INUSE
	start := time.Now()
	lost := 0
	for i := 0; i < *n; i++ {
		select {
		case slots <- struct{}{}:
		case <-time.After(*timeout):
			lost++
			<-slots // assume the oldest was lost; go on
			slots <- struct{}{}
		}
		d := i % *devices
		state[d] = !state[d]
		s := "NOT_INUSE"
		if state[d] {
			s = "INUSE"
		}
		setvar(i, dev(i), s)
	}
	deadline := time.Now().Add(*timeout)
	for {
		mu.Lock()
		left := len(pending)
		mu.Unlock()
		if left == 0 || time.Now().After(deadline) {
			lost += left
			break
		}
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	mu.Lock()
	defer mu.Unlock()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	fmt.Printf("changes %d, events matched %d, lost %d, Setvar errors %d, window %d, devices %d\n",
		*n, len(lat), lost, errCount, *window, *devices)
	fmt.Printf("latency A Setvar -> B DeviceStateChange: p50 %v  p99 %v  max %v\n", pct(0.50), pct(0.99), pct(1))
	fmt.Printf("elapsed %v, throughput %.0f changes/s\n", elapsed.Round(time.Millisecond), float64(len(lat))/elapsed.Seconds())
	if lost > 0 || errCount > 0 {
		os.Exit(1)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "amibench:", err)
	os.Exit(1)
}
