package voicemail

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
	"github.com/pleiades-pbx/pleiades/internal/realtime/sqlite"
)

type fakeMWI struct {
	mu  sync.Mutex
	got []string
}

func (f *fakeMWI) Update(mb string, n, o, u int) error {
	f.mu.Lock()
	f.got = append(f.got, fmt.Sprintf("%s %d/%d/%d", mb, n, o, u))
	f.mu.Unlock()
	return nil
}

func (f *fakeMWI) updates() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.got, ";")
}

// newRT is a realtime engine with the voicemail family on a fresh SQLite database.
func newRT(t *testing.T) (*realtime.Engine, string) {
	t.Helper()
	db := filepath.Join(t.TempDir(), "rt.sqlite3")
	ctx := context.Background()
	if err := sqlite.CreateDefaultSchema(ctx, db); err != nil {
		t.Fatal(err)
	}
	rt := realtime.New(nil)
	rt.Register(sqlite.New(nil))
	ext, _ := conf.Parse("extconfig.conf", []byte("[settings]\nvoicemail => sqlite3,db,voicemail\n"), conf.Options{})
	err := rt.Configure(ctx, ext, func(file string) (*conf.Config, error) {
		if file == "res_config_sqlite3.conf" {
			return conf.Parse(file, fmt.Appendf(nil, "[db]\ndbfile => %s\n", db), conf.Options{})
		}
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt, db
}

func TestFindStaticThenRealtimeAndPasswordWriteBack(t *testing.T) {
	rt, _ := newRT(t)
	ctx := context.Background()
	if _, err := rt.Store(ctx, "voicemail", realtime.Field{Name: "context", Value: "default"}, realtime.Field{Name: "mailbox", Value: "2000"},
		realtime.Field{Name: "password", Value: "1111"}, realtime.Field{Name: "fullname", Value: "Realtime Rita"},
		realtime.Field{Name: "email", Value: "rita@example.com"}, realtime.Field{Name: "tz", Value: "eastern"}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "voicemail.conf")
	os.WriteFile(path, []byte("[default]\n1234 => 4242,John Doe\n"), 0o640)
	raw, err := conf.Load(path, conf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	e := New(Options{Realtime: rt, SpoolDir: filepath.Join(dir, "spool")})
	e.Configure(ctx, c)
	defer e.Close()

	m, err := e.Find(ctx, Box{"default", "1234"})
	if err != nil || m.Realtime || m.FullName != "John Doe" {
		t.Fatalf("static: %+v %v", m, err)
	}
	r, err := e.Find(ctx, Box{"default", "2000"})
	if err != nil || !r.Realtime || r.FullName != "Realtime Rita" || r.Password != "1111" || r.Options["tz"] != "eastern" || r.UniqueID == "" {
		t.Fatalf("realtime: %+v %v", r, err)
	}
	if _, err := e.Find(ctx, Box{"other", "2000"}); !errors.Is(err, ErrNoMailbox) {
		t.Fatalf("wrong context: %v", err)
	}
	if _, err := e.Find(ctx, Box{"default", "9"}); !errors.Is(err, ErrNoMailbox) {
		t.Fatalf("missing: %v", err)
	}

	// Passwords go back where they came from.
	if err := e.SetPassword(ctx, r, "2222"); err != nil {
		t.Fatal(err)
	}
	row, _ := rt.Load(ctx, "voicemail", realtime.Field{Name: "mailbox", Value: "2000"})
	if pw, _ := row.Get("password"); pw != "2222" {
		t.Fatalf("row password %q", pw)
	}
	if err := e.SetPassword(ctx, m, "9876"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "[default]\n1234 => 9876,John Doe\n" {
		t.Fatalf("file:\n%s", b)
	}
	if m2, _ := e.Find(ctx, Box{"default", "1234"}); m2.Password != "9876" {
		t.Fatalf("running configuration kept %q", m2.Password)
	}
	if err := e.SetPassword(ctx, m, "12,34"); err == nil {
		t.Fatal("a password with a comma accepted")
	}

	users, err := e.users(ctx, "")
	if err != nil || len(users) != 2 || users[0].Mailbox != "1234" || users[1].Mailbox != "2000" {
		t.Fatalf("users %v %v", users, err)
	}
}

func TestRefreshPublishesCounts(t *testing.T) {
	ctx := context.Background()
	f := &fakeMWI{}
	dir := t.TempDir()
	e := New(Options{MWI: f, SpoolDir: dir})
	c, _ := parse(t, "[default]\n1234 => 1\n1235 => 2\n")
	store := e.Store()
	b := Box{"default", "1234"}
	store.Save(ctx, b, "INBOX", Meta{}, []byte{0, 0})
	store.Save(ctx, b, "INBOX", Meta{}, []byte{0, 0})
	store.Save(ctx, b, "Old", Meta{}, []byte{0, 0})
	store.Save(ctx, b, "Urgent", Meta{}, []byte{0, 0})
	e.Configure(ctx, c) // 1235 has no messages: no state made up for it
	if got := f.updates(); got != "1234@default 3/1/1" {
		t.Fatalf("at start: %s", got)
	}
	e.Refresh(ctx, b, false) // unchanged: nothing
	store.Delete(ctx, b, "INBOX", 0)
	e.Refresh(ctx, b, false)
	if got := f.updates(); got != "1234@default 3/1/1;1234@default 2/1/1" {
		t.Fatalf("after a delete: %s", got)
	}
	n, o, u, _ := e.Counts(ctx, b)
	if n != 1 || o != 1 || u != 1 {
		t.Fatal(n, o, u)
	}
}

func TestPollCatchesChangesBehindOurBack(t *testing.T) {
	ctx := context.Background()
	f := &fakeMWI{}
	dir := t.TempDir()
	e := New(Options{MWI: f, SpoolDir: dir})
	c, _ := parse(t, "[general]\npollmailboxes=yes\npollfreq=1\n[default]\n1234 => 1\n")
	e.Configure(ctx, c)
	defer e.Close()
	// Another program (or server) drops a message into the spool.
	NewFileStore(dir).Save(ctx, Box{"default", "1234"}, "INBOX", Meta{}, []byte{0, 0})
	deadline := time.Now().Add(5 * time.Second)
	for f.updates() != "1234@default 1/0/0" {
		if time.Now().After(deadline) {
			t.Fatalf("poll published %q", f.updates())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestVMInfoAndMailboxExists(t *testing.T) {
	ctx := context.Background()
	e := New(Options{SpoolDir: t.TempDir()})
	c, _ := parse(t, "[default]\n1234 => 4242,John Doe,john@example.com,pager@example.com,tz=eastern\n")
	e.Configure(ctx, c)
	e.Store().Save(ctx, Box{"default", "1234"}, "Old", Meta{}, []byte{0, 0})
	for args, want := range map[string]string{
		"1234,fullname": "John Doe", "1234@default,email": "john@example.com", "1234,pager": "pager@example.com",
		"1234,password": "4242", "1234,tz": "eastern", "1234,exists": "1", "999,exists": "0",
		"1234,count": "0", "1234,count,Old": "1", "999,fullname": "",
	} {
		got, err := e.funcVMInfo(ctx, nil, args)
		if err != nil || got != want {
			t.Errorf("VM_INFO(%s) = %q %v, want %q", args, got, err, want)
		}
	}
	for _, bad := range []string{"1234", "1234,color", "1234,count,Spam", ""} {
		if _, err := e.funcVMInfo(ctx, nil, bad); err == nil {
			t.Errorf("VM_INFO(%s) accepted", bad)
		}
	}
	if v, _ := e.funcMailboxExists(ctx, nil, "1234@default"); v != "1" {
		t.Error(v)
	}
	if v, _ := e.funcMailboxExists(ctx, nil, "1234@other"); v != "0" {
		t.Error(v)
	}
}
