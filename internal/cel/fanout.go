package cel

import "sync"

// Fanout is one Sink that hands each event to several receivers, and that a reload can
// pause: while Held (the receivers being replaced: the old queues stopped, the new ones
// started), events are kept, and Resume hands them to the new receivers first, in the order
// they came, so a reload loses none and no event goes to a stopped queue. The engine gets
// the Fanout's Sink once; the receivers change behind it. Receivers are called under the
// Fanout's lock: they must not block (a queue's Add, cel_manager's publish).
type Fanout struct {
	mu    sync.Mutex
	to    []Sink
	held  []Event
	holds bool
}

// Sink is the Fanout's receiver, for Engine.AddSink.
func (f *Fanout) Sink(x Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.holds {
		f.held = append(f.held, x)
		return
	}
	for _, s := range f.to {
		s(x)
	}
}

// Hold stops handing events to the receivers (they may be stopped from now on) and keeps
// them until Resume.
func (f *Fanout) Hold() {
	f.mu.Lock()
	f.holds, f.to = true, nil
	f.mu.Unlock()
}

// Resume hands the events kept since Hold to sinks, then every event from now on.
func (f *Fanout) Resume(sinks ...Sink) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.to = sinks
	for _, x := range f.held {
		for _, s := range sinks {
			s(x)
		}
	}
	f.held, f.holds = nil, false
}
