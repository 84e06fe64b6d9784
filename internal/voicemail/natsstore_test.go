package voicemail

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pleiades-pbx/pleiades/test/testenv"
)

// natsServer starts an in-process nats-server on a random loopback port, with JetStream
// (its store in a temporary directory) when js is true.
func natsServer(t testing.TB, js bool) *server.Server {
	t.Helper()
	o := &server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true}
	if js {
		o.JetStream, o.StoreDir = true, t.TempDir()
	}
	s, err := server.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

func natsConn(t testing.TB, s *server.Server) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

var bucketSeq atomic.Int64

// natsStores returns a constructor of stores on one JetStream server, each in its own bucket.
func natsStores(t *testing.T) func(t *testing.T) Store {
	srv := natsServer(t, true)
	nc := natsConn(t, srv)
	return func(t *testing.T) Store {
		s, err := NewNATSStore(nc, fmt.Sprintf("vm%d", bucketSeq.Add(1)), 1)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

func TestNATSStoreConformance(t *testing.T) {
	conformance(t, natsStores(t))
}

// The same table on a standalone nats-server with JetStream (PLEIADES_TEST_NATS_URL, default
// the one CI runs at 127.0.0.1:4222: the shape of an external NATS, mode=external), each store
// in its own buckets, removed afterwards.
func TestNATSStoreConformanceExternal(t *testing.T) {
	u := os.Getenv("PLEIADES_TEST_NATS_URL")
	if u == "" {
		u = "nats://127.0.0.1:4222"
	}
	nc, err := nats.Connect(u, nats.Timeout(2*time.Second))
	if err != nil {
		testenv.Unavailable(t, "NATS at %s unreachable: %v", u, err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := js.AccountInfo(ctx); err != nil {
		testenv.Unavailable(t, "NATS at %s has no JetStream: %v", u, err)
	}
	conformance(t, func(t *testing.T) Store {
		var r [4]byte
		rand.Read(r[:])
		bucket := fmt.Sprintf("pleiades_vmtest_%x", r)
		s, err := NewNATSStore(nc, bucket, 1)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			js.DeleteKeyValue(ctx, bucket)
			js.DeleteObjectStore(ctx, bucket)
		})
		return s
	})
}

// Two servers (two connections) leaving messages in one mailbox at once: every message is
// kept, numbered 0..n-1 once each, and a move and a delete made meanwhile lose nothing.
func TestNATSStoreConcurrentServers(t *testing.T) {
	srv := natsServer(t, true)
	a, err := NewNATSStore(natsConn(t, srv), "", 1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewNATSStore(natsConn(t, srv), "", 1)
	ctx := context.Background()
	box := Box{"default", "1234"}
	if _, err := a.Save(ctx, box, "INBOX", Meta{MsgID: "first"}, []byte{1, 0}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 20 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Save(ctx, box, "INBOX", Meta{MsgID: fmt.Sprintf("m%02d", i)}, []byte{byte(i), 0}); err != nil {
				errs <- err
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := b.Move(ctx, box, "INBOX", 0, "Old"); err != nil {
			errs <- err
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	l, err := b.List(ctx, box, "INBOX")
	if err != nil || len(l) != 20 {
		t.Fatalf("%d messages in INBOX, %v", len(l), err)
	}
	seen := map[string]bool{}
	for i, m := range l {
		if m.Num != i || seen[m.Meta.MsgID] || !strings.HasPrefix(m.Meta.MsgID, "m") {
			t.Fatalf("message %d: %+v", i, m)
		}
		seen[m.Meta.MsgID] = true
		pcm, err := a.Audio(ctx, box, "INBOX", i)
		if err != nil || !bytes.Equal(pcm, []byte{byte(mustAtoi(m.Meta.MsgID[1:])), 0}) {
			t.Fatalf("audio of %s: %v %v", m.Meta.MsgID, pcm, err)
		}
	}
	if old, _ := a.List(ctx, box, "Old"); len(old) != 1 || old[0].Meta.MsgID != "first" {
		t.Fatalf("Old: %+v", old)
	}
}

func mustAtoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// Mailbox and context names with characters a KV key cannot hold ('.', '+') are kept apart
// and listed back as they were.
func TestNATSStoreKeyEscaping(t *testing.T) {
	s := natsStores(t)(t)
	ctx := context.Background()
	boxes := []Box{{"a.b", "c"}, {"a", "b.c"}, {"default", "+100"}}
	for i, b := range boxes {
		for range i + 1 {
			if _, err := s.Save(ctx, b, "INBOX", Meta{}, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, b := range boxes {
		if n, _ := s.Count(ctx, b, "INBOX"); n != i+1 {
			t.Errorf("%v: %d messages", b, n)
		}
	}
	got, err := s.Boxes(ctx)
	if err != nil || len(got) != 3 {
		t.Fatalf("%v %v", got, err)
	}
	for _, b := range boxes {
		found := false
		for _, g := range got {
			found = found || g == b
		}
		if !found {
			t.Errorf("%v not listed: %v", b, got)
		}
	}
	for _, k := range []string{"a", "a=2", "a=ZZ", "a=2E"} {
		v, ok := unescapeKey(k)
		if want := k == "a" || k == "a=2E"; ok != want {
			t.Errorf("unescape %q: %q %v", k, v, ok)
		}
	}
}

// A NATS without JetStream is a configuration error said as such; a bad bucket name or no
// connection is refused.
func TestNATSStoreRefusals(t *testing.T) {
	srv := natsServer(t, false)
	s, err := NewNATSStore(natsConn(t, srv), "", 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.CheckJetStream(ctx); err == nil || !strings.Contains(err.Error(), "jetstream=yes") {
		t.Fatalf("no JetStream: %v", err)
	}
	if _, err := s.Count(ctx, Box{"default", "1"}, "INBOX"); err == nil {
		t.Fatal("counted without JetStream")
	}
	if _, err := NewNATSStore(natsConn(t, srv), "a.b", 1); err == nil {
		t.Error("bucket a.b accepted")
	}
	if _, err := NewNATSStore(nil, "", 1); err == nil {
		t.Error("no connection accepted")
	}
}

// storage=nats takes the messages to the NATS store on the cluster's connection: a message
// saved through one engine is counted (and MWI published) by another engine on another
// connection; a NATS without JetStream, or no cluster, fails the configuration and keeps the
// running store.
func TestConfigureNATSStorage(t *testing.T) {
	ctx := context.Background()
	srv := natsServer(t, true)
	c, err := parse(t, "[general]\nstorage = nats\nnatsbucket = vmtest\n[default]\n1234 => 1\n")
	if err != nil || c.General.Storage != "nats" || c.General.NATSBucket != "vmtest" || c.General.NATSReplicas != 1 {
		t.Fatalf("%+v %v", c.General, err)
	}
	m1, m2 := &fakeMWI{}, &fakeMWI{}
	nc1, nc2 := natsConn(t, srv), natsConn(t, srv)
	e1 := New(Options{SpoolDir: t.TempDir(), MWI: m1, NATS: func() *nats.Conn { return nc1 }})
	e2 := New(Options{SpoolDir: t.TempDir(), MWI: m2, NATS: func() *nats.Conn { return nc2 }})
	t.Cleanup(e1.Close)
	t.Cleanup(e2.Close)
	for _, e := range []*Engine{e1, e2} {
		if err := e.Configure(ctx, c); err != nil {
			t.Fatal(err)
		}
		if _, ok := e.Store().(*NATSStore); !ok {
			t.Fatalf("store %T", e.Store())
		}
	}
	box := Box{"default", "1234"}
	if _, err := e1.Store().Save(ctx, box, "INBOX", Meta{MsgID: "x"}, []byte{0, 0}); err != nil {
		t.Fatal(err)
	}
	if n, _, _, err := e2.Counts(ctx, box); n != 1 || err != nil {
		t.Fatalf("the other engine counts %d, %v", n, err)
	}
	// A server starting with messages already stored publishes their counts (in the
	// background, once JetStream answers).
	m3 := &fakeMWI{}
	e3 := New(Options{SpoolDir: t.TempDir(), MWI: m3, NATS: func() *nats.Conn { return nc2 }})
	t.Cleanup(e3.Close)
	if err := e3.Configure(ctx, c); err != nil {
		t.Fatal(err)
	}
	// A reload with the same bucket keeps the store (and its open buckets).
	before := e3.Store()
	if err := e3.Configure(ctx, c); err != nil || e3.Store() != before {
		t.Fatalf("reload: %v, store kept: %v", err, e3.Store() == before)
	}
	deadline := time.Now().Add(10 * time.Second)
	for m3.updates() != "1234@default 1/0/0" {
		if time.Now().After(deadline) {
			t.Fatalf("start-up MWI: %q", m3.updates())
		}
		time.Sleep(10 * time.Millisecond)
	}

	plain := natsServer(t, false)
	ncPlain := natsConn(t, plain)
	e4 := New(Options{SpoolDir: t.TempDir(), NATS: func() *nats.Conn { return ncPlain }})
	t.Cleanup(e4.Close)
	if err := e4.Configure(ctx, c); err == nil || !strings.Contains(err.Error(), "jetstream=yes") {
		t.Fatalf("no JetStream: %v", err)
	}
	if _, ok := e4.Store().(*FileStore); !ok {
		t.Fatalf("a failed configuration changed the store: %T", e4.Store())
	}
	e5 := New(Options{SpoolDir: t.TempDir()})
	if err := e5.Configure(ctx, c); err == nil || !strings.Contains(err.Error(), "no cluster") {
		t.Fatalf("no cluster: %v", err)
	}
}

// BenchmarkStoreLeaveMessage is what a message left costs the store before MWI is told: Save
// of a 7 s recording (112 kB) then the three counts Refresh reads (INBOX, Old, Urgent), on
// the spool and on JetStream (an in-process nats-server, one replica).
func BenchmarkStoreLeaveMessage(b *testing.B) {
	pcm := bytes.Repeat([]byte{1, 0}, 7*8000)
	for _, bc := range []struct {
		name string
		st   func(b *testing.B) Store
	}{
		{"file", func(b *testing.B) Store { return NewFileStore(b.TempDir()) }},
		{"nats", func(b *testing.B) Store {
			s, err := NewNATSStore(natsConn(b, natsServer(b, true)), "", 1)
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := bc.st(b)
			ctx := context.Background()
			e := New(Options{Store: s})
			box := Box{"default", "1234"}
			i := 0
			var took []time.Duration
			for b.Loop() {
				t0 := time.Now()
				if _, err := s.Save(ctx, box, "INBOX", Meta{MsgID: "m"}, pcm); err != nil {
					b.Fatal(err)
				}
				if _, _, _, err := e.Counts(ctx, box); err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(t0))
				if i++; i%50 == 0 {
					// Keep the folder small (maxmsg is 100 by default).
					b.StopTimer()
					for range 50 {
						s.Delete(ctx, box, "INBOX", 0)
					}
					b.StartTimer()
				}
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(took[len(took)*9/10].Microseconds()), "p90-µs")
		})
	}
}

// A save whose index cannot be written (here: an index that is not the store's JSON) fails,
// says why, and leaves no recording behind; the other mailboxes are untouched.
func TestNATSStoreFailedSaveLeavesNothing(t *testing.T) {
	srv := natsServer(t, true)
	nc := natsConn(t, srv)
	s, err := NewNATSStore(nc, "vmfail", 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Save(ctx, Box{"default", "1"}, "INBOX", Meta{}, []byte{1, 0}); err != nil {
		t.Fatal(err)
	}
	kv, obj, err := s.open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "default.2", []byte("not json")); err != nil {
		t.Fatal(err)
	}
	_, err = s.Save(ctx, Box{"default", "2"}, "INBOX", Meta{}, []byte{2, 0})
	if err == nil || !strings.Contains(err.Error(), "index of 2@default cannot be read") {
		t.Fatalf("save on a broken index: %v", err)
	}
	if l, err := obj.List(ctx); err != nil || len(l) != 1 || !strings.HasPrefix(l[0].Name, "default.1/") {
		t.Fatalf("recordings left: %v %v", l, err)
	}
	if _, err := s.Count(ctx, Box{"default", "2"}, "INBOX"); err == nil {
		t.Fatal("a broken index counted")
	}
	if n, _ := s.Count(ctx, Box{"default", "1"}, "INBOX"); n != 1 {
		t.Fatalf("the other mailbox holds %d", n)
	}
}

// freePort returns a loopback TCP port nobody listens on (for a cluster's routes).
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// With natsreplicas = 3 on a JetStream cluster of three servers, the messages survive the
// loss of one: after any one server stops, what was stored is still listed and played, and
// new messages are stored (once JetStream has moved its leaders, within seconds).
func TestNATSStoreThreeReplicasSurviveALostServer(t *testing.T) {
	if testing.Short() {
		t.Skip("a JetStream cluster of three")
	}
	ports := []int{freePort(t), freePort(t), freePort(t)}
	var srvs []*server.Server
	for i, p := range ports {
		o := &server.Options{ServerName: fmt.Sprintf("n%d", i), Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true,
			JetStream: true, StoreDir: t.TempDir(),
			Cluster: server.ClusterOpts{Name: "vm", Host: "127.0.0.1", Port: p}}
		for _, q := range ports {
			o.Routes = append(o.Routes, &url.URL{Scheme: "nats-route", Host: fmt.Sprintf("127.0.0.1:%d", q)})
		}
		s, err := server.NewServer(o)
		if err != nil {
			t.Fatal(err)
		}
		s.Start()
		t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
		srvs = append(srvs, s)
	}
	for _, s := range srvs {
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatal("nats-server did not start")
		}
	}
	var urls []string
	for _, s := range srvs {
		urls = append(urls, s.ClientURL())
	}
	nc, err := nats.Connect(strings.Join(urls, ","), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	st, _ := NewNATSStore(nc, "", 3)
	ctx := context.Background()
	eventually := func(what string, f func(ctx context.Context) error) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			c, cancel := context.WithTimeout(ctx, 3*time.Second)
			err := f(c)
			cancel()
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %v", what, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	box := Box{"default", "1234"}
	eventually("the buckets with three replicas", func(ctx context.Context) error { return st.Ready(ctx) })
	if _, err := st.Save(ctx, box, "INBOX", Meta{MsgID: "before"}, []byte{7, 0}); err != nil {
		t.Fatal(err)
	}
	// Stop the server the client is connected to (the worst case: it reconnects too).
	connected := nc.ConnectedUrl()
	for _, s := range srvs {
		if s.ClientURL() == connected {
			s.Shutdown()
			s.WaitForShutdown()
		}
	}
	eventually("the message after a server was lost", func(ctx context.Context) error {
		pcm, err := st.Audio(ctx, box, "INBOX", 0)
		if err == nil && !bytes.Equal(pcm, []byte{7, 0}) {
			return fmt.Errorf("audio %v", pcm)
		}
		return err
	})
	eventually("a new message with a server lost", func(ctx context.Context) error {
		_, err := st.Save(ctx, box, "INBOX", Meta{MsgID: "after"}, []byte{8, 0})
		return err
	})
	l, err := st.List(ctx, box, "INBOX")
	if err != nil || len(l) < 2 || l[0].Meta.MsgID != "before" || l[len(l)-1].Meta.MsgID != "after" {
		t.Fatalf("%+v %v", l, err)
	}
}
