package realtime_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pleiades-pbx/pleiades/internal/cli"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

// notifyDriver is a countDriver that notifies like pgsql with listen_channel.
type notifyDriver struct {
	countDriver
	mu        sync.Mutex
	fn        func(table, key string)
	listening bool
}

func (d *notifyDriver) OnChange(fn func(table, key string)) func() {
	d.mu.Lock()
	d.fn = fn
	d.mu.Unlock()
	return func() { d.mu.Lock(); d.fn = nil; d.mu.Unlock() }
}

func (d *notifyDriver) Listening() bool { d.mu.Lock(); defer d.mu.Unlock(); return d.listening }

func (d *notifyDriver) send(table, key string) {
	d.mu.Lock()
	fn := d.fn
	d.mu.Unlock()
	fn(table, key)
}

type changeLog struct {
	mu  sync.Mutex
	got []string
}

func (c *changeLog) add(ch realtime.Change) {
	c.mu.Lock()
	c.got = append(c.got, ch.Family+"|"+ch.Key+"|"+ch.Source)
	c.mu.Unlock()
}

func (c *changeLog) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.got
	c.got = nil
	return out
}

func TestChangeFeed(t *testing.T) {
	log, logs := newLog()
	e := realtime.New(log)
	nd := &notifyDriver{countDriver: countDriver{name: "notes"}}
	e.Register(nd)
	e.Register(&countDriver{name: "plain"})
	ext := parse(t, "extconfig.conf", "[settings]\nsipfriends => notes,db,public.sipfriends\nextensions => notes,db,extensions\nvoicemail => plain,db,voicemail\n")
	if err := e.Configure(context.Background(), ext, nil); err != nil {
		t.Fatal(err)
	}
	var all, peers changeLog
	cancelAll := e.Subscribe("", all.add)
	e.Subscribe("SIPpeers", peers.add)

	// A notification of table sipfriends (schema-less, as TG_TABLE_NAME) reaches both halves.
	nd.send("sipfriends", "alice")
	if got := all.take(); !slices.Equal(got, []string{"sippeers|alice|notify", "sipusers|alice|notify"}) {
		t.Errorf("notify: %q", got)
	}
	if got := peers.take(); !slices.Equal(got, []string{"sippeers|alice|notify"}) {
		t.Errorf("family subscriber: %q", got)
	}
	nd.send("queues", "support") // no family maps it through this driver
	if got := all.take(); len(got) != 0 {
		t.Errorf("unmapped table: %q", got)
	}

	// The listener (re)connecting flushes every family of the driver; the second time is logged
	// as a reconnect.
	nd.send("", "")
	nd.send("", "")
	want := []string{"extensions||reconnect", "sippeers||reconnect", "sipusers||reconnect"}
	if got := all.take(); !slices.Equal(got, append(slices.Clone(want), want...)) {
		t.Errorf("reconnect: %q", got)
	}
	if !strings.Contains(logs.String(), "notes change listener reconnected; flushing cached extensions, sippeers, sipusers") {
		t.Errorf("reconnect not logged:\n%s", logs)
	}

	// Explicit invalidation: dispatched here, then published (once per family).
	var published changeLog
	e.OnInvalidate(published.add)
	if err := e.Invalidate("voicemail", "100@default"); err != nil {
		t.Fatal(err)
	}
	if err := e.Invalidate("queues", ""); !errors.Is(err, realtime.ErrNoMapping) {
		t.Errorf("unmapped family: %v", err)
	}
	if got := all.take(); !slices.Equal(got, []string{"voicemail|100@default|local"}) {
		t.Errorf("invalidate: %q", got)
	}
	if got := published.take(); !slices.Equal(got, []string{"voicemail|100@default|local"}) {
		t.Errorf("published: %q", got)
	}
	// One from another server is applied, never published again.
	e.ApplyRemote("sippeers", "bob")
	if got := all.take(); !slices.Equal(got, []string{"sippeers|bob|cluster"}) {
		t.Errorf("remote: %q", got)
	}
	if got := published.take(); len(got) != 0 {
		t.Errorf("remote published again: %q", got)
	}
	cancelAll()
	e.ApplyRemote("sippeers", "carol")
	if got := all.take(); len(got) != 0 {
		t.Errorf("after cancel: %q", got)
	}

	// Status: live while the driver listens, with the counters.
	st := statusOf(e, "sippeers")
	if st.Live || st.Notifications != 1 || st.Flushes != 2 || st.Invalidations != 2 || st.LastNotification.IsZero() {
		t.Errorf("sippeers status: %+v", st)
	}
	nd.mu.Lock()
	nd.listening = true
	nd.mu.Unlock()
	if !statusOf(e, "sippeers").Live || statusOf(e, "voicemail").Live {
		t.Errorf("live: sippeers %v voicemail %v", statusOf(e, "sippeers").Live, statusOf(e, "voicemail").Live)
	}
}

func TestCacheApply(t *testing.T) {
	c := realtime.NewCache[int](0)
	c.Put("sippeers", "alice", 1)
	c.Put("sippeers", "bob", 2)
	c.Put("voicemail", "alice", 3)
	c.Apply(realtime.Change{Family: "sippeers", Key: "alice"})
	if _, ok := c.Get("sippeers", "alice"); ok {
		t.Error("alice still cached")
	}
	if _, ok := c.Get("sippeers", "bob"); !ok {
		t.Error("bob dropped")
	}
	c.Apply(realtime.Change{Family: "sippeers"})
	if _, ok := c.Get("sippeers", "bob"); ok || c.Len() != 1 {
		t.Errorf("family flush left %d entries", c.Len())
	}
}

func TestCLIInvalidate(t *testing.T) {
	e := realtime.New(nil)
	e.Register(&notifyDriver{countDriver: countDriver{name: "notes"}})
	if err := e.Configure(context.Background(), parse(t, "extconfig.conf", "[settings]\nsippeers => notes,db,sippeers\n"), nil); err != nil {
		t.Fatal(err)
	}
	var got changeLog
	e.Subscribe("sippeers", got.add)
	reg := cli.NewRegistry()
	reg.MustRegister(e.Commands()...)
	run := func(line string) (string, error) {
		var b bytes.Buffer
		err := reg.Run(context.Background(), line, &b, nil)
		return b.String(), err
	}
	out, err := run("realtime invalidate sippeers alice")
	if err != nil || out != "Invalidated sippeers alice.\n" {
		t.Errorf("invalidate: %v %q", err, out)
	}
	if out, err := run("realtime invalidate nothing"); err == nil || !strings.Contains(out, "not mapped") {
		t.Errorf("unmapped: %v %q", err, out)
	}
	if g := got.take(); !slices.Equal(g, []string{"sippeers|alice|local"}) {
		t.Errorf("changes: %q", g)
	}
	out, _ = run("realtime show status")
	if !strings.Contains(out, "TTL only") || !strings.Contains(out, "Invalidations") {
		t.Errorf("status:\n%s", out)
	}
}

func TestChangeMetrics(t *testing.T) {
	e := realtime.New(nil)
	nd := &notifyDriver{countDriver: countDriver{name: "notes"}, listening: true}
	e.Register(nd)
	if err := e.Configure(context.Background(), parse(t, "extconfig.conf", "[settings]\nsippeers => notes,db,sippeers\nx.conf => notes,db,t\n"), nil); err != nil {
		t.Fatal(err)
	}
	c := e.Collector()
	nd.send("sippeers", "alice")
	nd.send("", "")
	e.Invalidate("sippeers", "bob")
	want := `
# HELP pleiades_realtime_changes_total Changes heard by family and source (notify: the database said so; reconnect: the change listener came back and the family was flushed; invalidate: realtime invalidate here or on another server).
# TYPE pleiades_realtime_changes_total counter
pleiades_realtime_changes_total{family="sippeers",source="invalidate"} 1
pleiades_realtime_changes_total{family="sippeers",source="notify"} 1
pleiades_realtime_changes_total{family="sippeers",source="reconnect"} 1
# HELP pleiades_realtime_live 1 when a driver of the family listens for database changes now, 0 when cached objects follow only their TTL and explicit invalidations.
# TYPE pleiades_realtime_live gauge
pleiades_realtime_live{family="sippeers"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "pleiades_realtime_changes_total", "pleiades_realtime_live"); err != nil {
		t.Error(err)
	}
}
