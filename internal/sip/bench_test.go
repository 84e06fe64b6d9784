package sip

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/pleiades-pbx/pleiades/internal/astdb"
	"github.com/pleiades-pbx/pleiades/internal/state"
	"github.com/pleiades-pbx/pleiades/test/sipload"
)

// Benchmarks next to the code; bench/sipbench is the long-running load generator (separate
// processes, RSS). Results recorded in bench/sipbench/RESULTS.md.

// rawClient is a minimal UDP load generator: templated requests, responses parsed by sipgo.
type rawClient struct {
	conn  *net.UDPConn
	local string
	srv   *net.UDPAddr
	buf   []byte
}

func newRawClient(tb testing.TB, server string) *rawClient {
	tb.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	_ = c.SetReadBuffer(4 << 20)
	tb.Cleanup(func() { c.Close() })
	sa, _ := net.ResolveUDPAddr("udp", server)
	return &rawClient{conn: c, local: c.LocalAddr().String(), srv: sa, buf: make([]byte, 65535)}
}

func (c *rawClient) read(d time.Duration) (sip.Message, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(d))
	n, _, err := c.conn.ReadFromUDP(c.buf)
	if err != nil {
		return nil, err
	}
	return sip.ParseMessage(c.buf[:n])
}

func (c *rawClient) register(name, pass, callID string, cseq int, auth string) {
	msg := "REGISTER sip:" + c.srv.String() + " SIP/2.0\r\nVia: SIP/2.0/UDP " + c.local + ";branch=z9hG4bK" + callID + strconv.Itoa(cseq) +
		"\r\nMax-Forwards: 70\r\nFrom: <sip:" + name + "@127.0.0.1>;tag=" + callID + "\r\nTo: <sip:" + name + "@127.0.0.1>\r\nCall-ID: " + callID +
		"\r\nCSeq: " + strconv.Itoa(cseq) + " REGISTER\r\nContact: <sip:" + name + "@" + c.local + ">\r\n" + auth + "Expires: 3600\r\nContent-Length: 0\r\n\r\n"
	_, _ = c.conn.WriteToUDP([]byte(msg), c.srv)
}

func digestHeader(name, pass, method, uri, nonce string) string {
	ha1 := md5hex(name, "pleiades", pass)
	resp := md5hex(ha1, nonce, "00000001", "b1", "auth", md5hex(method, uri))
	return `Authorization: Digest username="` + name + `", realm="pleiades", nonce="` + nonce + `", uri="` + uri +
		`", response="` + resp + `", algorithm=MD5, qop=auth, nc=00000001, cnonce="b1"` + "\r\n"
}

// BenchmarkRegisterDigest: one op = one registration (REGISTER, 401, REGISTER with digest,
// 200) of one of 1000 cached realtime peers, 8 clients in parallel.
func BenchmarkRegisterDigest(b *testing.B) {
	e := newEnv(b, baseConf+"rtcachefriends=yes\nrtautoclear=no\n", true)
	const peers = 1000
	for i := 0; i < peers; i++ {
		e.store("name", fmt.Sprintf("b%04d", i), "secret", "pw", "host", "dynamic")
	}
	benchRegister(b, e, peers)
}

// BenchmarkRegisterDigestStatic is BenchmarkRegisterDigest for 1000 peers of sip.conf, their
// registrations kept in memory only, and kept in an astdb file too (SetDB).
func BenchmarkRegisterDigestStatic(b *testing.B) {
	const peers = 1000
	var conf strings.Builder
	conf.WriteString(baseConf)
	for i := 0; i < peers; i++ {
		fmt.Fprintf(&conf, "[b%04d]\ntype=friend\nhost=dynamic\nsecret=pw\n", i)
	}
	b.Run("memory", func(b *testing.B) { benchRegister(b, newEnv(b, conf.String(), false), peers) })
	b.Run("astdb", func(b *testing.B) {
		db, err := astdb.Open(filepath.Join(b.TempDir(), astdb.FileName))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		benchRegister(b, newEnvDB(b, conf.String(), benchDB{db}), peers)
	})
}

// benchDB is core's adapter of the astdb, for the benchmark.
type benchDB struct{ db *astdb.DB }

func (d benchDB) Family(f string) (map[string]string, error) {
	es, err := d.db.Family(f)
	kv := map[string]string{}
	for _, e := range es {
		kv[e.Key] = e.Value
	}
	return kv, err
}
func (d benchDB) PutMany(f string, kv map[string]string) error { return d.db.PutMany(f, kv) }
func (d benchDB) Del(f, k string) error                        { _ = d.db.Del(f, k); return nil }

// benchRegister registers peers b0000... with password "pw", 8 clients in parallel.
func benchRegister(b *testing.B, e *env, peers int) {
	var next atomic.Int64
	b.SetParallelism(4)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		c := newRawClient(b, e.addr)
		for pb.Next() {
			i := next.Add(1)
			name := fmt.Sprintf("b%04d", i%int64(peers))
			callID := "c" + strconv.FormatInt(i, 10)
			c.register(name, "pw", callID, 1, "")
			m, err := c.read(2 * time.Second)
			if err != nil {
				b.Error(err)
				return
			}
			res := m.(*sip.Response)
			ch, err := digest.ParseChallenge(res.GetHeader("WWW-Authenticate").Value())
			if err != nil {
				b.Error(err)
				return
			}
			c.register(name, "pw", callID, 2, digestHeader(name, "pw", "REGISTER", "sip:"+c.srv.String(), ch.Nonce))
			m, err = c.read(2 * time.Second)
			if err != nil || m.(*sip.Response).StatusCode != 200 {
				b.Errorf("%v %v", err, m)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "registrations/s")
}

// BenchmarkNotifyFanout10k: one op = one hint change delivered to 10000 dialog
// subscriptions (every NOTIFY received and answered by the subscribers).
func BenchmarkNotifyFanout10k(b *testing.B) {
	const subs = 10000
	e := newEnv(b, strings.Replace(baseConf, "[general]\n", fmt.Sprintf("[general]\nmaxsubscriptionsperpeer=%d\n", subs+10), 1)+
		"[blf]\ntype=friend\nhost=dynamic\nsecret=blfpw\nsubscribecontext=blf\n", false)
	e.hints.set("100", "blf", 0)
	const sockets = 4
	var mu sync.Mutex
	want, got := -1, 0
	done := make(chan struct{}, 1)
	var wg sync.WaitGroup
	clients := make([]*rawClient, sockets)
	for i := range clients {
		clients[i] = newRawClient(b, e.addr)
	}
	// establish: 401 then authenticated SUBSCRIBE per subscription, sequentially per socket
	for ci, c := range clients {
		wg.Add(1)
		go func(ci int, c *rawClient) {
			defer wg.Done()
			for i := 0; i < subs/sockets; i++ {
				callID := fmt.Sprintf("s%d-%d", ci, i)
				send := func(cseq int, auth string) {
					msg := "SUBSCRIBE sip:100@" + c.srv.String() + " SIP/2.0\r\nVia: SIP/2.0/UDP " + c.local + ";branch=z9hG4bK" + callID + "x" + strconv.Itoa(cseq) +
						"\r\nMax-Forwards: 70\r\nFrom: <sip:blf@127.0.0.1>;tag=" + callID + "\r\nTo: <sip:100@127.0.0.1>\r\nCall-ID: " + callID +
						"\r\nCSeq: " + strconv.Itoa(cseq) + " SUBSCRIBE\r\nContact: <sip:blf@" + c.local + ">\r\n" + auth +
						"Event: dialog\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n"
					_, _ = c.conn.WriteToUDP([]byte(msg), c.srv)
				}
				send(1, "")
				for stage := 0; stage < 3; {
					m, err := c.read(5 * time.Second)
					if err != nil {
						b.Error(err)
						return
					}
					switch m := m.(type) {
					case *sip.Response:
						if m.StatusCode == 401 {
							ch, _ := digest.ParseChallenge(m.GetHeader("WWW-Authenticate").Value())
							send(2, digestHeader("blf", "blfpw", "SUBSCRIBE", "sip:100@"+c.srv.String(), ch.Nonce))
						}
						stage++
					case *sip.Request:
						res := sip.NewResponseFromRequest(m, 200, "OK", nil)
						_, _ = c.conn.WriteToUDP([]byte(res.String()), c.srv)
						stage++
					}
				}
			}
		}(ci, c)
	}
	wg.Wait()
	// receivers: answer the NOTIFYs the light way (sipload), so that the time measured is the
	// server's, not the subscribers' parsing on the same CPUs
	for _, c := range clients {
		go sipload.Serve(c.conn, func(_ time.Time, ns []sipload.Notify) {
			mu.Lock()
			defer mu.Unlock()
			for _, n := range ns {
				if n.Version == want {
					got++
				}
			}
			if got == subs {
				select {
				case done <- struct{}{}:
				default:
				}
			}
		}, func([]byte, *net.UDPAddr) {})
	}
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		mu.Lock()
		want, got = i, 0
		mu.Unlock()
		e.hints.set("100", "blf", state.Extension(i%2))
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			b.Fatalf("round %d: %d of %d NOTIFYs", i, got, subs)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(e.s.Stats().LastFanout.Microseconds())/1000, "ms-last-fanout")
}
