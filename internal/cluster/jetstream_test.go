package cluster

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pleiades-pbx/pleiades/internal/conf"
)

// jetstream=yes runs the embedded servers with JetStream, one JetStream cluster over the
// routes: a KV bucket made through one server's connection is read through the other's.
// Without it the embedded server has no JetStream.
func TestEmbeddedJetStream(t *testing.T) {
	js := func(dir string) nodeOpt {
		return func(c *Config) { c.JetStream, c.JetStreamDir = true, dir }
	}
	// The first server has no routes=: it routes to itself (a fixed port is needed for that).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	a := newNode(t, "a", 1, js(t.TempDir()), func(c *Config) { c.Listen = "127.0.0.1:" + strconv.Itoa(port) }).start(t)
	b := newNode(t, "b", 2, js(t.TempDir()), withRoutes(a.routeURL())).start(t)
	meshed(t, 5*time.Second, a, b)
	if a.c.Conn() == nil {
		t.Fatal("no connection")
	}
	ja, _ := jetstream.New(a.c.Conn())
	jb, _ := jetstream.New(b.c.Conn())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var kv jetstream.KeyValue
	// The JetStream cluster elects its meta leader after the routes form.
	deadline := time.Now().Add(25 * time.Second)
	for {
		cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
		kv, err = ja.CreateOrUpdateKeyValue(cctx, jetstream.KeyValueConfig{Bucket: "t"})
		ccancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no KV bucket: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	kvb, err := jb.KeyValue(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	if e, err := kvb.Get(ctx, "k"); err != nil || string(e.Value()) != "v" {
		t.Fatalf("%v %v", e, err)
	}

	plain := newNode(t, "p", 3).start(t)
	jp, _ := jetstream.New(plain.c.Conn())
	if _, err := jp.AccountInfo(ctx); err == nil {
		t.Fatal("JetStream without jetstream=yes")
	}
}

func TestJetStreamConfig(t *testing.T) {
	parse := func(text string) (*Config, error) {
		raw, err := conf.Parse("cluster.conf", []byte(text), conf.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return ParseConfig(raw, false)
	}
	c, err := parse("[general]\njetstream = yes\njetstream_dir = /var/lib/pleiades/nats\n")
	if err != nil || !c.JetStream || c.JetStreamDir != "/var/lib/pleiades/nats" {
		t.Fatalf("%+v %v", c, err)
	}
	if d := Diff(DefaultConfig(), c); strings.Join(d, ",") != "jetstream,jetstream_dir" {
		t.Fatalf("diff %v", d)
	}
	for text, want := range map[string]string{
		"[general]\njetstream = maybe\n":                "cluster.conf:2: jetstream must be yes or no",
		"[general]\nmode = external\njetstream = yes\n": "cluster.conf:3: 'jetstream' applies only to mode=embedded",
		"[general]\njetstream_dir = \n":                 "cluster.conf:2: jetstream_dir is empty",
	} {
		if _, err := parse(text); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", text, err, want)
		}
	}
}
