package devstate

import (
	"context"
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
	"github.com/pleiades-pbx/pleiades/internal/logger"
	"github.com/pleiades-pbx/pleiades/internal/state"
)

// CustomFamily is the astdb family that keeps Custom device states (as in Asterisk).
const CustomFamily = "CustomDevstate"

// CustomPrefix is the prefix of the devices this package provides itself.
const CustomPrefix = "Custom:"

// MWIPrefix is the prefix of the message waiting devices, "MWI:mailbox@context", that package
// mwi derives on every server from the mailbox's cluster-wide counts (Asterisk's
// res_mwi_devstate). They are not shared between servers (see Derived).
const MWIPrefix = "MWI:"

// Errors of SetCustom and Set.
var (
	ErrNotCustom    = errors.New("devstate: only 'Custom:' device states can be set")
	ErrNoCustomName = errors.New("devstate: no custom device name")
	ErrNoDevice     = errors.New("devstate: no device name")
	ErrBadState     = errors.New("devstate: not a device state")
)

// Provider reports the current state of a device on demand, for devices this server has no
// cached state for (Asterisk's devstate provider callback / channel tech devicestate).
type Provider interface {
	// DeviceState returns the state of device, the full name with its prefix ("SIP/alice").
	DeviceState(device string) state.Device
}

// ProviderFunc adapts a function to Provider.
type ProviderFunc func(device string) state.Device

// DeviceState calls f.
func (f ProviderFunc) DeviceState(device string) state.Device { return f(device) }

// Engine keeps this server's device states and the cluster-wide aggregates.
type Engine struct {
	log   *slog.Logger
	bus   *event.Bus
	local eid.EID
	db    *astdb.DB

	provMu    sync.RWMutex
	providers map[string]Provider // by lower-cased prefix, separator included ("sip/", "custom:")

	customMu sync.Mutex         // serialises SetCustom: the map, the astdb writes and the bus agree
	custom   map[string]string  // NAME -> value (what astdb holds once the writer has written it)
	writer   *astdb.WriteBehind // nil without a database

	sub *event.Subscription

	// Used only by the subscription's goroutine.
	last map[string]state.Device // last announced aggregate per device
	buf  []event.Event
}

// New starts the engine on bus (whose Entity ID is this server's): it subscribes to the
// DeviceState events of every server, registers the built-in "Custom:" provider, and publishes
// the Custom states kept in db (nil: no persistence) as this server's states.
func New(log *slog.Logger, bus *event.Bus, db *astdb.DB) (*Engine, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{log: log, bus: bus, local: bus.Local(), db: db,
		providers: map[string]Provider{}, custom: map[string]string{}, last: map[string]state.Device{}}
	e.providers[strings.ToLower(CustomPrefix)] = ProviderFunc(e.customState)
	var entries []astdb.Entry
	if db != nil {
		var err error
		entries, err = db.Family(CustomFamily)
		if err != nil {
			return nil, fmt.Errorf("devstate: reading %s from astdb: %w", CustomFamily, err)
		}
	}
	e.sub = bus.Subscribe("devstate", event.KindDeviceState, e.handle)
	if db != nil {
		e.writer = db.NewWriteBehind(CustomFamily, persistWindow, func(n int, err error) {
			e.log.Error(fmt.Sprintf("Could not store %d custom device states in astdb: %v", n, err))
		})
	}
	for _, en := range entries {
		name := en.Key
		if i := strings.LastIndexByte(name, '/'); i >= 0 {
			name = name[i+1:]
		}
		if name == "" {
			continue
		}
		e.custom[name] = en.Value
		st, ok := state.ParseDevice(en.Value)
		if !ok {
			e.log.Warn(fmt.Sprintf("Custom device state 'Custom:%s' in astdb has invalid value '%s': using UNKNOWN", name, en.Value))
		}
		bus.Publish(event.DeviceState{Device: CustomPrefix + name, State: st, EID: e.local})
	}
	return e, nil
}

// Close stops the engine's subscription and waits for it, and writes the Custom states not
// yet in astdb. Call it before closing the bus and the database.
func (e *Engine) Close() error {
	e.sub.Close()
	<-e.sub.Done()
	if e.writer != nil {
		e.writer.Close()
	}
	return nil
}

// persistWindow gathers Custom state writes: astdb gets every device's latest value in one
// transaction at most this long after it was set (Asterisk's astdb likewise commits in the
// background about once a second), so a storm of DEVICE_STATE() writes costs one disk flush
// per window instead of one per write. Close writes what is pending.
const persistWindow = 20 * time.Millisecond

// DeleteCustom removes the Custom state this server set for device ("Custom:NAME"): its astdb
// entry (with the next batch of writes) and this server's state in the cluster, so that the
// aggregate falls back to the other servers' states or UNKNOWN. Errors as SetCustom's.
func (e *Engine) DeleteCustom(device string) error {
	name, ok := customName(device)
	if !ok {
		return ErrNotCustom
	}
	if name == "" {
		return ErrNoCustomName
	}
	e.customMu.Lock()
	defer e.customMu.Unlock()
	delete(e.custom, name)
	if e.writer != nil {
		e.writer.Del(name)
	}
	e.Forget(CustomPrefix + name)
	return nil
}

// canonical writes the Custom prefix in its one spelling; other names are kept as given
// (device names are case-sensitive).
func canonical(device string) string {
	if len(device) >= len(CustomPrefix) && strings.EqualFold(device[:len(CustomPrefix)], CustomPrefix) && device[:len(CustomPrefix)] != CustomPrefix {
		return CustomPrefix + device[len(CustomPrefix):]
	}
	return device
}

// prefixOf returns the provider prefix of device: up to and including the first '/', else up
// to and including the first ':' (as Asterisk splits tech/number and provider:name).
func prefixOf(device string) string {
	if i := strings.IndexByte(device, '/'); i >= 0 {
		return device[:i+1]
	}
	if i := strings.IndexByte(device, ':'); i >= 0 {
		return device[:i+1]
	}
	return ""
}

// RegisterProvider makes p answer for the devices whose names start with prefix, which
// includes its separator: "SIP/", "Queue:" (matched without regard to case). "Custom:" is
// built in. A prefix can have one provider.
func (e *Engine) RegisterProvider(prefix string, p Provider) error {
	if prefix == "" || (!strings.HasSuffix(prefix, "/") && !strings.HasSuffix(prefix, ":")) || prefixOf(prefix) != prefix {
		return fmt.Errorf("devstate: provider prefix %q must be a name ending in '/' or ':'", prefix)
	}
	if p == nil {
		return errors.New("devstate: nil provider")
	}
	e.provMu.Lock()
	defer e.provMu.Unlock()
	k := strings.ToLower(prefix)
	if _, dup := e.providers[k]; dup {
		return fmt.Errorf("devstate: a provider for %q is already registered", prefix)
	}
	e.providers[k] = p
	return nil
}

// UnregisterProvider removes the provider of prefix (the built-in "Custom:" stays).
func (e *Engine) UnregisterProvider(prefix string) {
	k := strings.ToLower(prefix)
	if k == strings.ToLower(CustomPrefix) {
		return
	}
	e.provMu.Lock()
	delete(e.providers, k)
	e.provMu.Unlock()
}

func (e *Engine) provider(device string) Provider {
	p := prefixOf(device)
	if p == "" {
		return nil
	}
	e.provMu.RLock()
	defer e.provMu.RUnlock()
	return e.providers[strings.ToLower(p)]
}

// fallback is the state of a device no server has a state for.
func (e *Engine) fallback(device string) state.Device {
	if p := e.provider(device); p != nil {
		if s := p.DeviceState(device); s.Valid() {
			return s
		}
		return state.Unknown
	}
	return state.Invalid
}

// Set sets this server's state of device and publishes it (with this server's Entity ID).
// Setting the state the device already has does nothing.
func (e *Engine) Set(device string, s state.Device) error {
	if device == "" {
		return ErrNoDevice
	}
	if !s.Valid() {
		return ErrBadState
	}
	e.bus.Publish(event.DeviceState{Device: canonical(device), State: s, EID: e.local})
	return nil
}

// Forget removes this server's state of device (the device is gone from this server, e.g. a
// SIP peer was deleted); the aggregate is recomputed from the other servers' states.
func (e *Engine) Forget(device string) bool {
	return e.bus.Clear(event.KindDeviceState, canonical(device), e.local)
}

// State returns the cluster-wide state of device: the aggregate of every server's state, or,
// when no server has one, what the device's provider says (UNKNOWN for a never-set Custom
// device), or INVALID when no provider knows the prefix.
func (e *Engine) State(device string) state.Device {
	device = canonical(device)
	var arr [8]event.Event
	evs := e.bus.AppendCached(arr[:0], event.KindDeviceState, device)
	if len(evs) == 0 {
		return e.fallback(device)
	}
	var a Aggregator
	for _, ev := range evs {
		a.Add(ev.(event.DeviceState).State)
	}
	return a.Result()
}

// Contribution is one server's state of a device.
type Contribution struct {
	EID   eid.EID
	State state.Device
	Local bool // EID is this server
}

// PerEID returns every server's state of device, this server first, then by Entity ID.
func (e *Engine) PerEID(device string) []Contribution {
	evs := e.bus.Cached(event.KindDeviceState, canonical(device))
	out := make([]Contribution, 0, len(evs))
	for _, ev := range evs {
		ds := ev.(event.DeviceState)
		out = append(out, Contribution{EID: ds.EID, State: ds.State, Local: ds.EID == e.local})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Local && !out[j].Local })
	return out
}

// Devices returns every device some server has a state for, sorted.
func (e *Engine) Devices() []string { return e.bus.Keys(event.KindDeviceState) }

// handle runs on the subscription's goroutine for every DeviceState (and Cleared) event of
// every server: it recomputes the device's aggregate from the cache and announces a change.
func (e *Engine) handle(ev event.Event) {
	device := ev.Key()
	e.buf = e.bus.AppendCached(e.buf[:0], event.KindDeviceState, device)
	debug := e.log.Enabled(context.Background(), logger.DebugLevel(1))
	var a Aggregator
	for _, c := range e.buf {
		ds, ok := c.(event.DeviceState)
		if !ok {
			continue
		}
		if debug {
			e.log.Log(context.Background(), logger.DebugLevel(1), fmt.Sprintf("Adding per-server state of '%s' for '%s'", ds.State.Text(), ds.EID))
		}
		a.Add(ds.State)
	}
	clear(e.buf)
	var st state.Device
	if a.Len() == 0 {
		st = e.fallback(device)
	} else {
		st = a.Result()
	}
	if debug {
		if a.Len() == 0 {
			e.log.Log(context.Background(), logger.DebugLevel(1), fmt.Sprintf("No server has a state for '%s': its provider gives '%s'", device, st.Text()))
		} else {
			e.log.Log(context.Background(), logger.DebugLevel(1), fmt.Sprintf("Aggregate devstate result is '%s' for '%s'", st.Text(), device))
		}
	}
	old, known := e.last[device]
	if a.Len() == 0 {
		delete(e.last, device)
		if !known {
			return
		}
	} else {
		e.last[device] = st
	}
	if known && old == st {
		return
	}
	if debug {
		e.log.Log(context.Background(), logger.DebugLevel(1), fmt.Sprintf("Aggregate state for device '%s' has changed to '%s'", device, st.Text()))
	}
	e.bus.Publish(event.DeviceStateChange{Device: device, State: st})
}

// customName returns NAME of "Custom:NAME" (prefix in any case).
func customName(device string) (string, bool) {
	if len(device) < len(CustomPrefix) || !strings.EqualFold(device[:len(CustomPrefix)], CustomPrefix) {
		return "", false
	}
	return device[len(CustomPrefix):], true
}

func (e *Engine) customState(device string) state.Device {
	name, _ := customName(device)
	e.customMu.Lock()
	v, ok := e.custom[name]
	e.customMu.Unlock()
	if !ok {
		return state.Unknown
	}
	s, _ := state.ParseDevice(v)
	return s
}

// SetCustom is DEVICE_STATE(device)=value: device must be "Custom:NAME" (ErrNotCustom
// otherwise, ErrNoCustomName for an empty NAME). A value that is not a state name sets UNKNOWN
// and logs a warning. The state is stored in astdb (family CustomDevstate, key NAME, value the
// state name) and published as this server's state. A failure to store is logged; the state is
// still set.
func (e *Engine) SetCustom(device, value string) error {
	name, ok := customName(device)
	if !ok {
		return ErrNotCustom
	}
	if name == "" {
		return ErrNoCustomName
	}
	st, ok := state.ParseDevice(value)
	if !ok {
		e.log.Warn(fmt.Sprintf("DEVICE_STATE function given invalid state value '%s' for 'Custom:%s': setting UNKNOWN", value, name))
	}
	e.customMu.Lock()
	defer e.customMu.Unlock()
	if e.writer != nil {
		e.writer.Put(name, st.String())
	}
	e.custom[name] = st.String()
	e.bus.Publish(event.DeviceState{Device: CustomPrefix + name, State: st, EID: e.local})
	return nil
}

// CustomState is one stored custom device state.
type CustomState struct {
	Name  string // without "Custom:"
	Value string // as stored
}

// CustomStates returns the Custom states stored on this server (astdb when there is one),
// sorted by name.
func (e *Engine) CustomStates() ([]CustomState, error) {
	values := map[string]string{}
	if e.db != nil {
		// astdb is what "devstate list" shows in Asterisk (entries put there by hand too),
		// with the writes not yet flushed on top.
		entries, err := e.writer.Family()
		if err != nil {
			return nil, err
		}
		for _, en := range entries {
			name := en.Key
			if i := strings.LastIndexByte(name, '/'); i >= 0 {
				name = name[i+1:]
			}
			if name != "" {
				values[name] = en.Value
			}
		}
	} else {
		e.customMu.Lock()
		for n, v := range e.custom {
			values[n] = v
		}
		e.customMu.Unlock()
	}
	out := make([]CustomState, 0, len(values))
	for n, v := range values {
		out = append(out, CustomState{Name: n, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
