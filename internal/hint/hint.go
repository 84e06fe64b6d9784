// Package hint keeps the dialplan's hints and their extension states (Asterisk's hint part of
// main/pbx.c), computed from the cluster-wide device states.
//
// A hint names devices ("SIP/alice&Custom:mystate"); its extension state is the aggregate of
// its devices' cluster-wide states mapped through state.Device.Extension. The engine keeps
// an index from device to hints, so a device change touches only the hints that name it, and
// it recomputes a hint only when the devstate engine announces that a device's aggregate
// changed (event.DeviceStateChange). Watchers subscribe per hint (exten@context) or to every
// hint; they are told only of changes. Hints come from sources (the static dialplan, the
// Realtime switch) that replace their whole set on every reload; watchers outlive reloads: a
// hint that disappears tells its watchers "Removed" (-2) and keeps them, and when it comes
// back they are told its state again.
//
// Watchers run on the engine's one subscription goroutine, in order; they must not block
// (AMI, SIP and WebSocket queue on their own side). Device watchers (WatchDevices) are told
// of every device change after the hint watchers it made: one ordered path for a front end
// that reports both. WaitDevice lets a producer wait (bounded) until the device watchers
// have been told of a state it just set: the SIP driver uses it so that AMI's
// DeviceStateChange precedes the channel event it publishes next, as in Asterisk; the
// engine remembers each device's last told state for it (one map entry per device).
//
// Resolve finds the hint a SUBSCRIBE, AMI ExtensionState or EXTENSION_STATE() reaches from
// exten@context (the one resolution; the dialplan's lookup through includes and patterns is
// its Finder, set by the dialplan module). Poll keeps a source's hints in step with a loader on
// a timer (the realtime hints); pollers are the engine's and end with Close. Collector gives
// the engine's metrics (hints by state, watchers).
//
// Lock order: Engine.nmu -> Engine.mu. nmu is held while watchers run (so they are told in
// order); mu never is. A watcher may call Get, All and Watchers, not Sync.
package hint

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/devstate"
	"github.com/pleiades-pbx/pleiades/internal/event"
	"github.com/pleiades-pbx/pleiades/internal/state"
)

// Spec is one hint as a source defines it.
type Spec struct {
	Exten   string
	Context string
	// Devices as written: "SIP/alice&Custom:mystate".
	Devices  string
	Presence string
	// Source is where it came from: "extensions.conf:12", "realtime".
	Source string
}

// Key is how hints are named: "exten@context".
func (s Spec) Key() string { return s.Exten + "@" + s.Context }

// State is a hint with its current extension state.
type State struct {
	Spec
	State state.Extension
}

// DeviceStates is what the engine needs from the device-state engine.
type DeviceStates interface {
	State(device string) state.Device
}

type entry struct {
	spec    Spec
	devices []string
	state   state.Extension
	source  string // the source that owns it
}

type watcher struct {
	id uint64
	fn func(State)
}

type deviceWatcher struct {
	id uint64
	fn func(event.DeviceStateChange)
}

// Engine holds the hints.
type Engine struct {
	log    *slog.Logger
	ds     DeviceStates
	sub    *event.Subscription
	finder atomic.Pointer[finderBox]

	pollMu  sync.Mutex
	pollers map[*Poller]struct{}

	// nmu is held from computing a change until its watchers have been told, so watchers
	// see changes in order whichever goroutine (a reload, a device change) makes them.
	nmu      sync.Mutex
	mu       sync.Mutex
	hints    map[string]*entry          // by exten@context
	sources  map[string][]Spec          // the last set of each source
	byDevice map[string]map[string]bool // device -> hint keys
	watchers map[string][]watcher       // by exten@context, kept across reloads
	all      []watcher
	devices  []deviceWatcher         // told of every device change after the hints' watchers
	told     map[string]state.Device // each device's last change told to the device watchers
	toldC    chan struct{}           // closed (and replaced) whenever told changes: WaitDevice
	nextID   uint64
	order    []string // source priority: earlier wins a key
}

// New makes an engine that follows device changes on bus. Sources listed in order win a
// hint key over later ones (e.g. "extensions.conf" before "realtime").
func New(log *slog.Logger, bus *event.Bus, ds DeviceStates, sourceOrder ...string) *Engine {
	if log == nil {
		log = slog.Default()
	}
	e := &Engine{log: log, ds: ds, hints: map[string]*entry{}, sources: map[string][]Spec{},
		byDevice: map[string]map[string]bool{}, watchers: map[string][]watcher{}, order: sourceOrder,
		pollers: map[*Poller]struct{}{}, told: map[string]state.Device{}, toldC: make(chan struct{})}
	e.sub = bus.Subscribe("hints", event.KindDeviceStateChange, e.onDevice)
	return e
}

// Close stops the pollers and following device changes, and waits for their goroutines.
func (e *Engine) Close() {
	e.pollMu.Lock()
	ps := make([]*Poller, 0, len(e.pollers))
	for p := range e.pollers {
		ps = append(ps, p)
	}
	e.pollMu.Unlock()
	for _, p := range ps {
		p.Close()
	}
	e.sub.Close()
	<-e.sub.Done()
}

// SplitDevices splits a hint's device list on '&'.
func SplitDevices(devices string) []string {
	var out []string
	for _, d := range strings.Split(devices, "&") {
		if d = strings.TrimSpace(d); d != "" {
			out = append(out, d)
		}
	}
	return out
}

// Compute returns the extension state of a device list now.
func (e *Engine) Compute(devices []string) state.Extension {
	if len(devices) == 0 {
		return state.ExtUnavailable
	}
	var a devstate.Aggregator
	for _, d := range devices {
		a.Add(e.ds.State(d))
	}
	return a.Result().Extension()
}

func (e *Engine) rank(source string) int {
	for i, s := range e.order {
		if s == source {
			return i
		}
	}
	return len(e.order)
}

// Sync replaces every hint of source with specs, telling watchers of hints that appear,
// change devices or disappear.
func (e *Engine) Sync(source string, specs []Spec) {
	e.nmu.Lock()
	defer e.nmu.Unlock()
	e.mu.Lock()
	e.sources[source] = specs
	// Rebuild the winning spec per key over every source.
	want := map[string]Spec{}
	owner := map[string]string{}
	for src, list := range e.sources {
		for _, sp := range list {
			k := sp.Key()
			if o, ok := owner[k]; ok && e.rank(o) <= e.rank(src) {
				continue
			}
			want[k], owner[k] = sp, src
		}
	}
	var notes []State
	var notify [][]watcher
	for k, old := range e.hints {
		if _, ok := want[k]; !ok {
			e.unindex(k, old.devices)
			delete(e.hints, k)
			notes = append(notes, State{Spec: old.spec, State: state.ExtRemoved})
			notify = append(notify, e.watchersOf(k))
		}
	}
	for k, sp := range want {
		old, ok := e.hints[k]
		if ok && old.spec.Devices == sp.Devices && old.spec.Presence == sp.Presence {
			old.spec, old.source = sp, owner[k]
			continue
		}
		devs := SplitDevices(sp.Devices)
		en := &entry{spec: sp, devices: devs, source: owner[k], state: e.Compute(devs)}
		if ok {
			e.unindex(k, old.devices)
		}
		e.hints[k] = en
		for _, d := range devs {
			m := e.byDevice[d]
			if m == nil {
				m = map[string]bool{}
				e.byDevice[d] = m
			}
			m[k] = true
		}
		if !ok || old.state != en.state {
			notes = append(notes, State{Spec: sp, State: en.state})
			notify = append(notify, e.watchersOf(k))
		}
	}
	e.mu.Unlock()
	for i, n := range notes {
		for _, w := range notify[i] {
			w.fn(n)
		}
	}
}

func (e *Engine) unindex(key string, devices []string) {
	for _, d := range devices {
		if m := e.byDevice[d]; m != nil {
			delete(m, key)
			if len(m) == 0 {
				delete(e.byDevice, d)
			}
		}
	}
}

// watchersOf returns the watchers of key and of every hint; e.mu is held.
func (e *Engine) watchersOf(key string) []watcher {
	ws := e.watchers[key]
	if len(e.all) == 0 {
		return ws
	}
	return append(append([]watcher(nil), ws...), e.all...)
}

// onDevice recomputes the hints that name the device whose aggregate changed.
func (e *Engine) onDevice(ev event.Event) {
	device := ev.Key()
	e.nmu.Lock()
	defer e.nmu.Unlock()
	e.mu.Lock()
	devWatchers := e.devices
	keys := e.byDevice[device]
	if len(keys) == 0 {
		e.mu.Unlock()
		tellDevice(devWatchers, ev)
		e.toldDevice(ev)
		return
	}
	var notes []State
	var notify [][]watcher
	for k := range keys {
		en := e.hints[k]
		st := e.Compute(en.devices)
		if st == en.state {
			continue
		}
		en.state = st
		notes = append(notes, State{Spec: en.spec, State: st})
		notify = append(notify, e.watchersOf(k))
	}
	e.mu.Unlock()
	for i, n := range notes {
		e.log.Log(context.Background(), slog.LevelDebug, fmt.Sprintf("Hint %s changed to %s (device %s)", n.Key(), n.State, device))
		for _, w := range notify[i] {
			w.fn(n)
		}
	}
	tellDevice(devWatchers, ev)
	e.toldDevice(ev)
}

// toldDevice records that the device watchers have been told of ev and wakes WaitDevice.
func (e *Engine) toldDevice(ev event.Event) {
	dc, ok := ev.(event.DeviceStateChange)
	if !ok {
		return
	}
	e.mu.Lock()
	e.told[dc.Device] = dc.State
	close(e.toldC)
	e.toldC = make(chan struct{})
	e.mu.Unlock()
}

// WaitDevice waits until the device watchers (AMI's DeviceStateChange) have been told that
// device is st, at most timeout; it reports whether they were. A channel technology calls it
// right after setting a state whose change must reach AMI before the channel event that
// follows (Asterisk 20 sends DeviceStateChange INUSE before the callee's Newstate Up): the
// change crosses two goroutines (the device-state engine's, then this engine's), which
// takes microseconds unless they are backed up, hence the bound.
func (e *Engine) WaitDevice(device string, st state.Device, timeout time.Duration) bool {
	var t *time.Timer
	for {
		e.mu.Lock()
		got, ok := e.told[device]
		c := e.toldC
		e.mu.Unlock()
		if ok && got == st {
			return true
		}
		if t == nil {
			t = time.NewTimer(timeout)
			defer t.Stop()
		}
		select {
		case <-c:
		case <-t.C:
			return false
		}
	}
}

func tellDevice(ws []deviceWatcher, ev event.Event) {
	if dc, ok := ev.(event.DeviceStateChange); ok {
		for _, w := range ws {
			w.fn(dc)
		}
	}
}

// WatchDevices calls fn with every device change the engine follows, on the engine's
// goroutine, after the watchers of the hints that change told of them: a front end that
// reports both gets each device's hint changes before the device change (AMI: ExtensionStatus
// before DeviceStateChange, as Asterisk sends them). The returned function stops it.
func (e *Engine) WatchDevices(fn func(event.DeviceStateChange)) (cancel func()) {
	e.mu.Lock()
	e.nextID++
	id := e.nextID
	e.devices = append(e.devices[:len(e.devices):len(e.devices)], deviceWatcher{id, fn})
	e.mu.Unlock()
	return func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		for i, w := range e.devices {
			if w.id == id {
				e.devices = append(e.devices[:i:i], e.devices[i+1:]...)
				return
			}
		}
	}
}

// Watch calls fn whenever the state of hint exten@context changes (and with Removed when it
// disappears). The returned function stops it.
func (e *Engine) Watch(exten, context string, fn func(State)) (cancel func()) {
	key := exten + "@" + context
	e.mu.Lock()
	e.nextID++
	id := e.nextID
	e.watchers[key] = append(e.watchers[key], watcher{id, fn})
	e.mu.Unlock()
	return func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		ws := e.watchers[key]
		for i, w := range ws {
			if w.id == id {
				e.watchers[key] = append(ws[:i:i], ws[i+1:]...)
				break
			}
		}
		if len(e.watchers[key]) == 0 {
			delete(e.watchers, key)
		}
	}
}

// WatchAll calls fn on every change of every hint.
func (e *Engine) WatchAll(fn func(State)) (cancel func()) {
	e.mu.Lock()
	e.nextID++
	id := e.nextID
	e.all = append(e.all, watcher{id, fn})
	e.mu.Unlock()
	return func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		for i, w := range e.all {
			if w.id == id {
				e.all = append(e.all[:i:i], e.all[i+1:]...)
				return
			}
		}
	}
}

// Get returns the hint exten@context with its state.
func (e *Engine) Get(exten, context string) (State, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	en, ok := e.hints[exten+"@"+context]
	if !ok {
		return State{}, false
	}
	return State{Spec: en.spec, State: en.state}, true
}

// All returns every hint, sorted by context then extension.
func (e *Engine) All() []State {
	e.mu.Lock()
	out := make([]State, 0, len(e.hints))
	for _, en := range e.hints {
		out = append(out, State{Spec: en.spec, State: en.state})
	}
	e.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Context != out[j].Context {
			return out[i].Context < out[j].Context
		}
		return out[i].Exten < out[j].Exten
	})
	return out
}

// Watchers returns how many watchers follow exten@context (those of every hint not counted).
func (e *Engine) Watchers(exten, context string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.watchers[exten+"@"+context])
}
