// Package mwi keeps mailbox state (message waiting indication): new, old and urgent message
// counts per mailbox@context, from this server and, through the event bus, from every server
// of the cluster (Asterisk's MWI stasis cache and res_mwi_external).
//
// # Keys
//
// A mailbox is "mailbox@context"; a mailbox given without a context is in "default"
// ("1234" is "1234@default").
//
// # The cluster-wide rule: the newest update wins
//
// Every server's last update of a mailbox is cached (one event.MWI per mailbox and Entity ID).
// The mailbox's state is the most recent of them by the origin's update time (ties broken by
// the higher Entity ID, so every server picks the same one): mailbox storage is shared, so
// the newest count is the true one. A mailbox updated on server 1 and read on server 2 shows
// server 1's counts on both; when server 2 then updates it, server 2's counts win everywhere.
// Delete (MWIDelete) is an update too: it records a deletion that wins over older counts from
// any server, so a deleted mailbox stays deleted cluster-wide until it is updated again.
//
// Update times come from a hybrid clock: wall time, but always after the newest update this
// server has seen from any server, so an update made after seeing another server's update wins
// over it even when the clocks are a little apart.
//
// When a server leaves, its entries go with it (the cluster purges them); the newest remaining
// entry, if any, is what the mailbox shows then.
//
// # Persistence
//
// With a database, this server's counts survive a restart, as with Asterisk's
// res_mwi_external: every Update (AMI MWIUpdate, ARI PUT /ari/mailboxes, CLI "mwi update") is
// written behind (within 20 ms, in batches) to the astdb family mwi_external/mailboxes, key
// mailbox@context, value Asterisk's JSON object set {"msgs_new":"2","msgs_old":"5"} plus
// "msgs_urgent" (when not 0) and "pleiades_updated" (the update's time; Asterisk ignores
// both); Delete (MWIDelete, "mwi delete") removes the key. When the engine starts it publishes
// every stored mailbox again as this server's, with its stored time, so the other servers of
// the cluster see it again (through the join sync) and a newer update made elsewhere while
// this server was down still wins. A value it cannot read is skipped with a warning; a
// mailbox stored by Asterisk (no time) counts as updated at start. Only this server's own
// updates are stored: other servers keep theirs.
//
// # Notifications
//
// When a mailbox's cluster-wide state changes, the engine publishes event.MessageWaiting
// {Mailbox, Waiting, New, Old, Urgent} on the bus (a deleted mailbox: Waiting false, zero
// counts). SIP (NOTIFY) and AMI (MessageWaiting) subscribe to event.KindMessageWaiting, with
// SubscribeKeys for the mailboxes they watch.
//
// # MWI: devices
//
// With every such change the engine also sets device "MWI:mailbox@context" (Device) as this
// server's state, right after the MessageWaiting: INUSE while the mailbox has new messages,
// NOT_INUSE otherwise (DeviceState), as Asterisk's res_mwi_devstate does. So a hint such as
// "exten => 8100,hint,MWI:100@default" lights, AMI sends DeviceStateChange, and
// DEVICE_STATE(MWI:100@default) reads it, on every server of the cluster.
//
// Each server derives the device from the mailbox's cluster-wide state, and the device is not
// shared (devstate.Derived; the package doc of devstate says why the alternatives were
// refused): an MWIUpdate on server 1 reaches server 2 as mwi, and server 2 sets its own
// MWI:100@default from it. A device's aggregate thus has one entry on each server and follows
// the "newest update wins" rule of the mailbox, whichever server the update came from.
//
// A deleted mailbox (MWIDelete, or the only server that had counts for it left) turns the
// device NOT_INUSE. Asterisk differs here: it ignores the deletion and leaves the device as it
// was, so a lamp lit for a deleted mailbox stays lit until the next update; Pleiades turns it
// off. A mailbox that was never updated has no device (INVALID, as in Asterisk).
//
// The device is named after the mailbox as normalized here: "MWIUpdate Mailbox: 100" sets
// MWI:100@default. Asterisk's res_mwi_external publishes such a mailbox without a context, so
// there it is MWI:100; a hint written with the context ("MWI:100@default") works on both.
//
// At start, New publishes the mailboxes kept in astdb and returns only once their devices are
// set (and the device aggregates announced), so a restarted server shows restored MWI:
// devices from its first command on, as Asterisk's res_mwi_devstate does when it loads.
//
// # CLI
//
// "mwi show mailboxes" prints one line per mailbox with its cluster-wide counts and the Entity
// ID of the server whose update is shown:
//
//	Mailbox                                    New   Old Urgent  From
//	1234@default                                 2     5      1  02:00:00:00:00:0a (this server)
//	1 mailbox
//
// "mwi show mailbox <mailbox>" prints every server's entry for one mailbox.
//
// # Wiring (for internal/core)
//
//	m, err := mwi.New(log, bus, db)        // log *slog.Logger, bus *event.Bus, db *astdb.DB (nil: no persistence)
//	cliRegistry.MustRegister(m.Commands()...)
//	m.Update(mb, new, old, urgent) / m.Delete(mb) / m.Get(mb)   // AMI MWIUpdate, MWIDelete, MWIGet, MailboxCount
//	m.Close()                              // before bus.Close() and db.Close()
//	registry.MustRegister(m.Collector())   // pleiades_mailboxes
//	cluster.NewBridge(bus, ..., mwi.WireCodec{})  // the mwi payload between servers
package mwi

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/astdb"
	"github.com/pleiades-pbx/pleiades/internal/eid"
	"github.com/pleiades-pbx/pleiades/internal/event"
)

// DefaultContext is the context of a mailbox named without one.
const DefaultContext = "default"

// Errors.
var (
	ErrNoMailbox = errors.New("mwi: no mailbox")
	ErrNegative  = errors.New("mwi: message counts cannot be negative")
)

// Normalize returns mailbox as "mailbox@context", adding "@default" when there is no context.
func Normalize(mailbox string) (string, error) {
	mailbox = strings.TrimSpace(mailbox)
	box, ctx, _ := strings.Cut(mailbox, "@")
	if box == "" {
		return "", ErrNoMailbox
	}
	if ctx == "" {
		ctx = DefaultContext
	}
	return box + "@" + ctx, nil
}

// State is a mailbox's counts as one server published them.
type State struct {
	Mailbox string
	New     int
	Old     int
	Urgent  int
	Deleted bool      // this entry is a deletion (only in PerEID)
	EID     eid.EID   // the server the counts come from
	Local   bool      // EID is this server
	Time    time.Time // when that server made the update
}

// Waiting reports whether there are new messages.
func (s State) Waiting() bool { return s.New > 0 }

// Engine keeps mailbox states.
type Engine struct {
	log   *slog.Logger
	bus   *event.Bus
	local eid.EID
	db    *astdb.DB

	// updateMu orders this server's updates: the bus and astdb see them in one order.
	updateMu sync.Mutex
	writer   *astdb.WriteBehind // nil without a database

	clockMu sync.Mutex
	last    time.Time        // newest update time seen or made
	now     func() time.Time // wall clock (tests replace it)

	sub *event.Subscription

	// Used only by the subscription's goroutine.
	shown map[string]event.MessageWaiting
	buf   []event.Event
}

// New starts the engine on bus: it subscribes to the MWI events of every server and, with a
// database (nil: no persistence), publishes the counts this server kept there as its own.
func New(log *slog.Logger, bus *event.Bus, db *astdb.DB) (*Engine, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{log: log, bus: bus, local: bus.Local(), db: db, now: time.Now, shown: map[string]event.MessageWaiting{}}
	e.sub = bus.Subscribe("mwi", event.KindMWI, e.handle)
	if db != nil {
		n, err := e.restore()
		if err != nil {
			e.sub.Close()
			<-e.sub.Done()
			return nil, err
		}
		if n > 0 {
			e.settle()
		}
		e.writer = db.NewWriteBehind(Family, persistWindow, func(n int, err error) {
			e.log.Error(fmt.Sprintf("Could not store %d mailboxes in astdb: %v", n, err))
		})
	}
	return e, nil
}

// Close stops the engine's subscription and waits for it, and writes the counts not yet in
// astdb. Call it before closing the bus and the database.
func (e *Engine) Close() error {
	e.sub.Close()
	<-e.sub.Done()
	if e.writer != nil {
		e.writer.Close()
	}
	return nil
}

// tick returns the time for a new local update: wall time, but after every update seen.
func (e *Engine) tick() time.Time {
	e.clockMu.Lock()
	defer e.clockMu.Unlock()
	t := e.now().Round(0)
	if !t.After(e.last) {
		t = e.last.Add(time.Nanosecond)
	}
	e.last = t
	return t
}

// observe moves the clock past a remote update's time.
func (e *Engine) observe(t time.Time) {
	e.clockMu.Lock()
	if t.After(e.last) {
		e.last = t
	}
	e.clockMu.Unlock()
}

// Update sets this server's counts of mailbox and publishes them (AMI MWIUpdate, voicemail).
func (e *Engine) Update(mailbox string, newMsgs, oldMsgs, urgent int) error {
	mb, err := Normalize(mailbox)
	if err != nil {
		return err
	}
	if newMsgs < 0 || oldMsgs < 0 || urgent < 0 {
		return ErrNegative
	}
	e.updateMu.Lock()
	defer e.updateMu.Unlock()
	m := event.MWI{Mailbox: mb, New: newMsgs, Old: oldMsgs, Urgent: urgent, Time: e.tick(), EID: e.local}
	e.bus.Publish(m)
	if e.writer != nil {
		e.writer.Put(mb, encodeStored(m))
	}
	return nil
}

// Delete deletes mailbox's state cluster-wide (AMI MWIDelete): it publishes a deletion that
// wins over every older update. It reports whether the mailbox had a state.
func (e *Engine) Delete(mailbox string) (bool, error) {
	mb, err := Normalize(mailbox)
	if err != nil {
		return false, err
	}
	_, had := e.Get(mb)
	e.updateMu.Lock()
	defer e.updateMu.Unlock()
	e.bus.Publish(event.MWI{Mailbox: mb, Deleted: true, Time: e.tick(), EID: e.local})
	if e.writer != nil {
		e.writer.Del(mb)
	}
	return had, nil
}

func newer(a, b event.MWI) bool {
	if !a.Time.Equal(b.Time) {
		return a.Time.After(b.Time)
	}
	for i := range a.EID {
		if a.EID[i] != b.EID[i] {
			return a.EID[i] > b.EID[i]
		}
	}
	return false
}

// newest picks the winning entry of evs.
func newest(evs []event.Event) (event.MWI, bool) {
	var best event.MWI
	found := false
	for _, ev := range evs {
		m, ok := ev.(event.MWI)
		if !ok {
			continue
		}
		if !found || newer(m, best) {
			best, found = m, true
		}
	}
	return best, found
}

func (e *Engine) state(m event.MWI) State {
	return State{Mailbox: m.Mailbox, New: m.New, Old: m.Old, Urgent: m.Urgent, Deleted: m.Deleted,
		EID: m.EID, Local: m.EID == e.local, Time: m.Time}
}

// Get returns mailbox's cluster-wide state (AMI MWIGet, MailboxCount); false when no server
// has counts for it (or its newest update is a deletion).
func (e *Engine) Get(mailbox string) (State, bool) {
	mb, err := Normalize(mailbox)
	if err != nil {
		return State{}, false
	}
	var arr [8]event.Event
	m, ok := newest(e.bus.AppendCached(arr[:0], event.KindMWI, mb))
	if !ok || m.Deleted {
		return State{Mailbox: mb}, false
	}
	return e.state(m), true
}

// PerEID returns every server's entry for mailbox, deletions included, newest first.
func (e *Engine) PerEID(mailbox string) []State {
	mb, err := Normalize(mailbox)
	if err != nil {
		return nil
	}
	evs := e.bus.Cached(event.KindMWI, mb)
	sort.SliceStable(evs, func(i, j int) bool { return newer(evs[i].(event.MWI), evs[j].(event.MWI)) })
	out := make([]State, 0, len(evs))
	for _, ev := range evs {
		out = append(out, e.state(ev.(event.MWI)))
	}
	return out
}

// Mailboxes returns the cluster-wide state of every mailbox that has one, sorted by mailbox.
func (e *Engine) Mailboxes() []State {
	var out []State
	for _, mb := range e.bus.Keys(event.KindMWI) {
		if s, ok := e.Get(mb); ok {
			out = append(out, s)
		}
	}
	return out
}

// handle runs on the subscription's goroutine for every MWI (and Cleared) event of every
// server: it recomputes the mailbox's state and announces a change.
func (e *Engine) handle(ev event.Event) {
	if m, ok := ev.(event.MWI); ok && m.EID != e.local {
		e.observe(m.Time)
	}
	mb := ev.Key()
	e.buf = e.bus.AppendCached(e.buf[:0], event.KindMWI, mb)
	m, ok := newest(e.buf)
	clear(e.buf)
	now := event.MessageWaiting{Mailbox: mb}
	present := ok && !m.Deleted
	if present {
		now = event.MessageWaiting{Mailbox: mb, Waiting: m.New > 0, New: m.New, Old: m.Old, Urgent: m.Urgent}
	}
	old, known := e.shown[mb]
	if present {
		e.shown[mb] = now
	} else {
		delete(e.shown, mb)
	}
	if (!known && !present) || (known && old == now) {
		return
	}
	e.log.Debug(fmt.Sprintf("Mailbox '%s' now has %d new, %d old, %d urgent messages", mb, now.New, now.Old, now.Urgent))
	e.bus.Publish(now)
	e.publishDevice(now)
}
