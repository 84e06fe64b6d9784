package voicemail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pleiades-pbx/pleiades/internal/media"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

// MWI receives a mailbox's counts after every change (the mwi engine's Update).
type MWI interface {
	Update(mailbox string, newMsgs, oldMsgs, urgent int) error
}

// Options are an Engine's fixed parts.
type Options struct {
	Log *slog.Logger
	// Realtime, when set and the voicemail family is mapped, is asked for a mailbox that
	// voicemail.conf does not have.
	Realtime *realtime.Engine
	// MWI is told the counts of every mailbox whose messages change.
	MWI MWI
	// Store keeps the messages (NewFileStore(astspooldir/voicemail) by default).
	Store Store
	// SpoolDir is astspooldir/voicemail: greetings live in <context>/<mailbox>/ there.
	SpoolDir string
	// NATS returns the cluster's NATS connection (storage=nats); nil: no cluster.
	NATS func() *nats.Conn
}

// Engine is app_voicemail: mailboxes (voicemail.conf and realtime), the message store, MWI.
type Engine struct {
	log   *slog.Logger
	rt    *realtime.Engine
	mwi   MWI
	fixed Store // Options.Store: used whatever voicemail.conf says
	nats  func() *nats.Conn
	ns    *NATSStore // the NATS store made last (kept across reloads of the same bucket)
	file  *FileStore
	store atomic.Pointer[storeBox]
	spool string

	cfg atomic.Pointer[Config]

	pollMu   sync.Mutex
	pollStop chan struct{}
	pollDone chan struct{}
	bgCancel context.CancelFunc // the start-up publishing of a NATS store waiting for JetStream
	bgDone   chan struct{}
	last     map[Box][3]int // counts last published (poll)
	lastMu   sync.Mutex
}

// New returns an engine on an empty configuration; Configure gives it voicemail.conf.
func New(o Options) *Engine {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{log: o.Log, rt: o.Realtime, mwi: o.MWI, fixed: o.Store, nats: o.NATS, file: NewFileStore(o.SpoolDir), spool: o.SpoolDir, last: map[Box][3]int{}}
	c, _ := ParseConfig(nil)
	e.cfg.Store(c)
	st := Store(e.file)
	if o.Store != nil {
		st = o.Store
	}
	e.store.Store(&storeBox{st})
	return e
}

type storeBox struct{ s Store }

// st is the store in force.
func (e *Engine) st() Store { return e.store.Load().s }

// storeFor returns the store a configuration asks for: the spool, or the voicemail_messages
// table of odbcstorage's connection (Asterisk's ODBC storage) through its realtime driver.
func (e *Engine) storeFor(c *Config) (Store, error) {
	g := c.General
	if e.fixed != nil {
		return e.fixed, nil
	}
	if g.Storage == "nats" {
		return e.natsStore(g)
	}
	if g.StorageDriver == "" {
		return e.file, nil
	}
	if e.rt == nil {
		return nil, fmt.Errorf("odbcstorage = %s: no realtime drivers", g.StorageDB)
	}
	q, err := e.rt.Querier(g.StorageDriver)
	if err != nil {
		return nil, fmt.Errorf("odbcstorage: %w", err)
	}
	if !q.HasDatabase(g.StorageDB) {
		return nil, fmt.Errorf("odbcstorage: driver %s has no connection %q", g.StorageDriver, g.StorageDB)
	}
	return NewDBStore(q, g.StorageDriver, g.StorageDB, g.StorageTable, e.spool)
}

// natsStore returns the NATS store of g's bucket: the one in force when it is the same
// bucket, else a new one, refused when the NATS has no JetStream at all (a JetStream not
// ready yet is waited for in the background, see Configure).
func (e *Engine) natsStore(g General) (Store, error) {
	if e.nats == nil || e.nats() == nil {
		return nil, errors.New("storage = nats: no cluster (res_cluster) to take the NATS connection from")
	}
	if e.ns != nil && e.ns.bucket == g.NATSBucket && e.ns.replicas == g.NATSReplicas && e.ns.nc == e.nats() {
		return e.ns, nil
	}
	ns, err := NewNATSStore(e.nats(), g.NATSBucket, g.NATSReplicas)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ns.CheckJetStream(ctx); err != nil {
		return nil, err
	}
	e.ns = ns
	return ns, nil
}

// Config returns the configuration in force.
func (e *Engine) Config() *Config { return e.cfg.Load() }

// Store returns the message store in force.
func (e *Engine) Store() Store { return e.st() }

// Configure applies a parsed voicemail.conf, starts or stops polling (pollmailboxes) and
// publishes the counts of every configured mailbox that has messages.
func (e *Engine) Configure(ctx context.Context, c *Config) error {
	st, err := e.storeFor(c)
	if err != nil {
		return err
	}
	e.store.Store(&storeBox{st})
	e.cfg.Store(c)
	e.pollMu.Lock()
	if e.pollStop != nil {
		close(e.pollStop)
		<-e.pollDone
		e.pollStop = nil
	}
	if c.General.PollMailboxes {
		e.pollStop, e.pollDone = make(chan struct{}), make(chan struct{})
		go e.poll(c.General.PollFreq, e.pollStop, e.pollDone)
	}
	if e.bgCancel != nil {
		e.bgCancel()
		<-e.bgDone
		e.bgCancel = nil
	}
	if ns, ok := st.(*NATSStore); ok {
		// A JetStream cluster may still be electing its leader (the servers start
		// together): the counts are published once the buckets open.
		bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		done := make(chan struct{})
		e.bgCancel, e.bgDone = cancel, done
		e.pollMu.Unlock()
		go func() {
			defer close(done)
			defer cancel()
			if err := ns.Ready(bg); err != nil {
				if bg.Err() != context.Canceled {
					e.log.Warn(fmt.Sprintf("Voicemail: the NATS message store is not ready: %s", err))
				}
				return
			}
			e.publishAll(bg, c, st)
		}()
		return nil
	}
	e.pollMu.Unlock()
	e.publishAll(ctx, c, st)
	return nil
}

// publishAll publishes the counts of every configured mailbox and every mailbox the store
// holds (realtime mailboxes are listed nowhere else).
func (e *Engine) publishAll(ctx context.Context, c *Config, st Store) {
	boxes := map[Box]bool{}
	for _, m := range c.SortedMailboxes() {
		boxes[Box{m.Context, m.Mailbox}] = true
		e.Refresh(ctx, Box{m.Context, m.Mailbox}, false)
	}
	// Realtime mailboxes are not listed anywhere: the store knows those with messages.
	stored, err := st.Boxes(ctx)
	if err != nil {
		e.log.Warn(fmt.Sprintf("Voicemail: unable to list the stored mailboxes: %s", err))
	}
	for _, b := range stored {
		if !boxes[b] {
			e.Refresh(ctx, b, false)
		}
	}
}

// Close stops polling.
func (e *Engine) Close() {
	e.pollMu.Lock()
	defer e.pollMu.Unlock()
	if e.bgCancel != nil {
		e.bgCancel()
		<-e.bgDone
		e.bgCancel = nil
	}
	if e.pollStop != nil {
		close(e.pollStop)
		<-e.pollDone
		e.pollStop = nil
	}
}

// SplitMailbox splits "mailbox[@context]" ("default" when no context).
func SplitMailbox(s string) Box {
	mb, ctx, _ := strings.Cut(strings.TrimSpace(s), "@")
	if ctx == "" {
		ctx = "default"
	}
	return Box{Context: strings.TrimSpace(ctx), Mailbox: strings.TrimSpace(mb)}
}

// ErrNoMailbox: no such mailbox in voicemail.conf nor in the voicemail family.
var ErrNoMailbox = errors.New("voicemail: no such mailbox")

// Find returns a mailbox: voicemail.conf's, else the voicemail family's row (mailbox and
// context). A database error is returned as is (the caller must not take it for "no such
// mailbox").
func (e *Engine) Find(ctx context.Context, b Box) (*Mailbox, error) {
	if m := e.cfg.Load().Mailboxes[b.String()]; m != nil {
		return m, nil
	}
	if e.rt == nil || !e.rt.Mapped("voicemail") || b.Mailbox == "" {
		return nil, ErrNoMailbox
	}
	row, err := e.rt.Load(ctx, "voicemail", realtime.Field{Name: "mailbox", Value: b.Mailbox}, realtime.Field{Name: "context", Value: b.Context})
	if errors.Is(err, realtime.ErrNotFound) {
		return nil, ErrNoMailbox
	}
	if err != nil {
		return nil, err
	}
	fs := make([]field, len(row))
	for i, f := range row {
		fs[i] = field{f.Name, f.Value}
	}
	m := mailboxFromRow(fs)
	m.Context, m.Mailbox = b.Context, b.Mailbox
	return m, nil
}

// Realtime lists the mailboxes of the voicemail family (nil when it is not mapped).
func (e *Engine) Realtime(ctx context.Context, context string) ([]*Mailbox, error) {
	if e.rt == nil || !e.rt.Mapped("voicemail") {
		return nil, nil
	}
	var fields []realtime.Field
	fields = append(fields, realtime.Field{Name: "mailbox LIKE", Value: "%"})
	if context != "" {
		fields = append(fields, realtime.Field{Name: "context", Value: context})
	}
	rows, err := e.rt.LoadMulti(ctx, "voicemail", fields...)
	if err != nil {
		return nil, err
	}
	out := make([]*Mailbox, 0, len(rows))
	for _, row := range rows {
		fs := make([]field, len(row))
		for i, f := range row {
			fs[i] = field{f.Name, f.Value}
		}
		out = append(out, mailboxFromRow(fs))
	}
	return out, nil
}

// Counts returns a mailbox's new (INBOX), old (Old) and urgent (Urgent) message counts.
func (e *Engine) Counts(ctx context.Context, b Box) (newMsgs, oldMsgs, urgent int, err error) {
	if newMsgs, err = e.st().Count(ctx, b, "INBOX"); err != nil {
		return
	}
	if oldMsgs, err = e.st().Count(ctx, b, "Old"); err != nil {
		return
	}
	urgent, err = e.st().Count(ctx, b, "Urgent")
	return
}

// Refresh publishes a mailbox's counts to MWI (after a message was left, heard, moved or
// deleted; VoicemailRefresh). New is INBOX plus Urgent, as Asterisk's MWI counts it; urgent
// is the Urgent folder. With force false a mailbox without messages that was never published
// is left alone (no MWI state made up for every configured mailbox at start).
func (e *Engine) Refresh(ctx context.Context, b Box, force bool) {
	if e.mwi == nil {
		return
	}
	n, o, u, err := e.Counts(ctx, b)
	if err != nil {
		e.log.Warn(fmt.Sprintf("Unable to count the messages of mailbox %s: %s", b, err))
		return
	}
	counts := [3]int{n + u, o, u}
	e.lastMu.Lock()
	prev, had := e.last[b]
	e.last[b] = counts
	e.lastMu.Unlock()
	if !force && (had && prev == counts || !had && counts == [3]int{}) {
		return
	}
	if err := e.mwi.Update(b.String(), counts[0], counts[1], counts[2]); err != nil {
		e.log.Warn(fmt.Sprintf("Unable to publish MWI for mailbox %s: %s", b, err))
	}
}

// Purge removes every message of a mailbox's folders (all of them when none is named) and
// publishes its counts; it returns how many messages went.
func (e *Engine) Purge(ctx context.Context, b Box, folders ...string) (int, error) {
	if len(folders) == 0 {
		folders = Folders
	}
	total := 0
	var first error
	for _, f := range folders {
		n, err := purgeFolder(ctx, e.st(), b, f)
		total += n
		if err != nil && first == nil {
			first = err
		}
	}
	if total > 0 {
		e.Refresh(ctx, b, true)
	}
	return total, first
}

// poll is pollmailboxes: every freq, the counts of every mailbox the store holds are read
// again and published when they changed behind Pleiades' back.
func (e *Engine) poll(freq time.Duration, stop, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(freq)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), freq)
		boxes, err := e.st().Boxes(ctx)
		if err != nil {
			e.log.Warn(fmt.Sprintf("Voicemail polling: %s", err))
		}
		e.lastMu.Lock()
		for b := range e.last {
			boxes = append(boxes, b)
		}
		e.lastMu.Unlock()
		seen := map[Box]bool{}
		for _, b := range boxes {
			if !seen[b] {
				seen[b] = true
				e.Refresh(ctx, b, false)
			}
		}
		cancel()
	}
}

// SetPassword changes a mailbox's password where it is kept: the realtime row (by uniqueid,
// else by mailbox and context), or its line of voicemail.conf, rewritten in place (the rest
// of the file untouched). The running configuration is updated too.
func (e *Engine) SetPassword(ctx context.Context, m *Mailbox, password string) error {
	if strings.ContainsAny(password, ",\n\r;") || password == "" {
		return fmt.Errorf("voicemail: %q cannot be a password", password)
	}
	if m.Realtime {
		var n int64
		var err error
		if m.UniqueID != "" {
			n, err = e.rt.Update(ctx, "voicemail", "uniqueid", m.UniqueID, realtime.Field{Name: "password", Value: password})
		} else {
			n, err = e.rt.Update2(ctx, "voicemail",
				[]realtime.Field{{Name: "mailbox", Value: m.Mailbox}, {Name: "context", Value: m.Context}},
				[]realtime.Field{{Name: "password", Value: password}})
		}
		if err == nil && n == 0 {
			err = errors.New("voicemail: the mailbox's row is gone")
		}
		if err == nil {
			m.Password = password
		}
		return err
	}
	if m.File == "" || m.Line == 0 {
		return errors.New("voicemail: the mailbox is not from a file")
	}
	if err := rewritePassword(m.File, m.Line, m.Mailbox, m.Password, password); err != nil {
		return err
	}
	// The running configuration has the new password (a copy: readers keep theirs).
	old := e.cfg.Load()
	c := *old
	c.Mailboxes = make(map[string]*Mailbox, len(old.Mailboxes))
	for k, v := range old.Mailboxes {
		c.Mailboxes[k] = v
	}
	nm := *m
	nm.Password = password
	c.Mailboxes[m.ID()] = &nm
	e.cfg.CompareAndSwap(old, &c)
	m.Password = password
	return nil
}

// rewritePassword replaces the password of mailbox's line (file:line) when that line still
// is the mailbox's with the old password; the file is replaced through a temporary file.
func rewritePassword(file string, line int, mailbox, oldPW, newPW string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	lines := strings.SplitAfter(string(data), "\n")
	if line > len(lines) {
		return fmt.Errorf("%s:%d: the file changed since it was loaded", file, line)
	}
	l := lines[line-1]
	name, rest, ok := strings.Cut(l, "=")
	if !ok || strings.TrimSpace(name) != mailbox {
		return fmt.Errorf("%s:%d: the file changed since it was loaded", file, line)
	}
	arrow := strings.HasPrefix(rest, ">")
	if arrow {
		rest = rest[1:]
	}
	lead := rest[:len(rest)-len(strings.TrimLeft(rest, " \t"))]
	rest = rest[len(lead):]
	end := strings.IndexAny(rest, ",;\r\n")
	if end < 0 {
		end = len(rest)
	}
	pw := strings.TrimRight(rest[:end], " \t")
	if pw != oldPW {
		return fmt.Errorf("%s:%d: the file changed since it was loaded", file, line)
	}
	sep := "="
	if arrow {
		sep = "=>"
	}
	lines[line-1] = name + sep + lead + newPW + rest[len(pw):]
	st, err := os.Stat(file)
	if err != nil {
		return err
	}
	tmp := file + ".pleiades-tmp"
	if err := os.WriteFile(tmp, []byte(strings.Join(lines, "")), st.Mode().Perm()); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, file)
}

// greeting returns the path (without extension) of a mailbox's recorded greeting kind
// ("unavail", "busy", "temp", "greet") when it exists.
func (e *Engine) greeting(b Box, kind string) (string, bool) {
	if e.spool == "" {
		return "", false
	}
	p := e.spool + "/" + b.Context + "/" + b.Mailbox + "/" + kind
	if _, err := os.Stat(p + ".wav"); err == nil {
		return p, true
	}
	return "", false
}

// saveGreeting stores a recorded greeting as <spool>/<context>/<mailbox>/<kind>.wav.
func (e *Engine) saveGreeting(b Box, kind string, pcm []byte) error {
	if _, err := (&FileStore{Dir: e.spool}).folderDir(b, "INBOX"); err != nil {
		return err
	}
	dir := filepath.Join(e.spool, b.Context, b.Mailbox)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, kind+".wav"), media.WAV(len(pcm)), pcm)
}
