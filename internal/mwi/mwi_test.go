package mwi

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/test/golden"

	"github.com/pleiades-pbx/pleiades/internal/cli"
	"github.com/pleiades-pbx/pleiades/internal/eid"
	"github.com/pleiades-pbx/pleiades/internal/event"
)

var (
	serverA = eid.EID{2, 0, 0, 0, 0, 0x0a} // this server
	serverB = eid.EID{2, 0, 0, 0, 0, 0x0b}
	t0      = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
)

type fixture struct {
	t   *testing.T
	bus *event.Bus
	m   *Engine
	mu  sync.Mutex
	got []string
	now time.Time
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{t: t, bus: event.NewBus(nil, serverA), now: t0}
	f.bus.Subscribe("test", event.KindMessageWaiting, func(ev event.Event) {
		mw := ev.(event.MessageWaiting)
		f.mu.Lock()
		f.got = append(f.got, fmt.Sprintf("%s:%v:%d/%d/%d", mw.Mailbox, mw.Waiting, mw.New, mw.Old, mw.Urgent))
		f.mu.Unlock()
	})
	m, err := New(nil, f.bus, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.m = m
	f.m.now = func() time.Time { return f.now }
	t.Cleanup(func() {
		f.m.Close()
		f.bus.Close()
	})
	return f
}

func (f *fixture) idle() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.bus.WaitIdle(ctx); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) take() string {
	f.idle()
	f.mu.Lock()
	defer f.mu.Unlock()
	s := strings.Join(f.got, " ")
	f.got = nil
	return s
}

func (f *fixture) remote(mb string, n, o, u int, at time.Time) {
	f.bus.Publish(event.MWI{Mailbox: mb, New: n, Old: o, Urgent: u, Time: at, EID: serverB})
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{"1234": "1234@default", "1234@": "1234@default", "1234@sales": "1234@sales", " 55@x ": "55@x"} {
		if got, err := Normalize(in); err != nil || got != want {
			t.Errorf("Normalize(%q) = %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "@default", "  "} {
		if _, err := Normalize(bad); err == nil {
			t.Errorf("Normalize(%q) accepted", bad)
		}
	}
}

func TestUpdateGetDelete(t *testing.T) {
	f := newFixture(t)
	if _, ok := f.m.Get("1234"); ok {
		t.Fatal("unknown mailbox found")
	}
	if err := f.m.Update("1234", 2, 5, 1); err != nil {
		t.Fatal(err)
	}
	s, ok := f.m.Get("1234@default")
	if !ok || s.New != 2 || s.Old != 5 || s.Urgent != 1 || !s.Local || s.EID != serverA || !s.Waiting() {
		t.Fatalf("Get = %+v, %v", s, ok)
	}
	if err := f.m.Update("1234", -1, 0, 0); err != ErrNegative {
		t.Errorf("negative: %v", err)
	}
	if err := f.m.Update("", 1, 0, 0); err != ErrNoMailbox {
		t.Errorf("empty: %v", err)
	}
	f.idle()
	f.m.Update("1234", 2, 5, 1) // same counts, later time: no notification
	f.idle()
	f.m.Update("1234", 0, 7, 0)
	if got := f.take(); got != "1234@default:true:2/5/1 1234@default:false:0/7/0" {
		t.Fatalf("notifications %q", got)
	}
	had, err := f.m.Delete("1234")
	if err != nil || !had {
		t.Fatalf("Delete = %v, %v", had, err)
	}
	if _, ok := f.m.Get("1234"); ok {
		t.Fatal("deleted mailbox found")
	}
	if got := f.take(); got != "1234@default:false:0/0/0" {
		t.Fatalf("delete notification %q", got)
	}
	if had, _ := f.m.Delete("1234"); had {
		t.Fatal("second delete found a state")
	}
	if got := f.take(); got != "" {
		t.Fatalf("second delete notified %q", got)
	}
}

// Updated on server B, read on server A: A shows B's counts. The newest update wins, whoever
// made it; a deletion is an update; a server that leaves takes its entries with it.
func TestNewestUpdateWinsAcrossServers(t *testing.T) {
	f := newFixture(t)
	f.m.Update("100", 1, 0, 0) // at t0
	f.remote("100@default", 3, 0, 0, t0.Add(time.Second))
	f.idle()
	if s, _ := f.m.Get("100"); s.New != 3 || s.EID != serverB || s.Local {
		t.Fatalf("remote newer: %+v", s)
	}
	// An older remote update does not win.
	f.remote("200@default", 9, 9, 9, t0.Add(-time.Hour))
	f.m.Update("200", 1, 1, 1)
	f.idle()
	if s, _ := f.m.Get("200"); s.New != 1 || !s.Local {
		t.Fatalf("local newer: %+v", s)
	}
	// This server's clock is behind B's (still t0), but its update comes after it saw B's:
	// the hybrid clock makes it newer.
	f.m.Update("100", 0, 3, 0)
	if s, _ := f.m.Get("100"); s.New != 0 || s.Old != 3 || !s.Local {
		t.Fatalf("update after seeing a remote one: %+v", s)
	}
	per := f.m.PerEID("100")
	if len(per) != 2 || !per[0].Local || per[1].EID != serverB {
		t.Fatalf("PerEID = %+v", per)
	}
	// A deletion on B, newer than everything: deleted cluster-wide.
	f.remote("100@default", 0, 0, 0, t0.Add(time.Hour))
	f.bus.Publish(event.MWI{Mailbox: "100@default", Deleted: true, Time: t0.Add(2 * time.Hour), EID: serverB})
	f.idle()
	if _, ok := f.m.Get("100"); ok {
		t.Fatal("mailbox deleted on B still shown")
	}
	// B leaves: its entries go; A's own update shows again.
	f.take()
	counts := f.bus.Purge(serverB)
	if counts[event.KindMWI] != 2 {
		t.Fatalf("purged %v", counts)
	}
	f.idle()
	if s, ok := f.m.Get("100"); !ok || s.Old != 3 || !s.Local {
		t.Fatalf("after purge: %+v %v", s, ok)
	}
	if got := f.take(); got != "100@default:false:0/3/0" {
		t.Fatalf("after purge notified %q", got)
	}
	// Ties are broken by the higher Entity ID, the same on every server.
	at := t0.Add(10 * time.Hour)
	f.bus.Publish(event.MWI{Mailbox: "tie@default", New: 1, Time: at, EID: serverA})
	f.remote("tie@default", 2, 0, 0, at)
	if s, _ := f.m.Get("tie"); s.EID != serverB {
		t.Fatalf("tie: %+v", s)
	}
}

func TestCLIGolden(t *testing.T) {
	f := newFixture(t)
	r := cli.NewRegistry()
	r.MustRegister(f.m.Commands()...)
	var out bytes.Buffer
	run := func(line string) {
		fmt.Fprintf(&out, "> %s\n", line)
		err := r.Run(context.Background(), line, &out, nil)
		fmt.Fprintf(&out, "[err: %v]\n", err)
	}
	run("mwi show mailboxes")
	f.m.Update("1234", 2, 5, 1)
	f.remote("1234@default", 1, 6, 0, t0.Add(-time.Minute))
	f.remote("500@sales", 4, 0, 2, t0.Add(time.Minute))
	f.now = t0.Add(2 * time.Minute)
	f.m.Update("600@sales", 1, 0, 0)
	f.m.Delete("600@sales")
	f.idle()
	run("mwi show mailboxes")
	run("mwi show mailbox 1234")
	run("mwi show mailbox 600@sales")
	run("mwi show mailbox nothere")
	run("mwi show mailbox")
	golden.Check(t, "cli.golden", out.String())
}
