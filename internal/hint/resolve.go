package hint

// Finder finds the hint a call to exten@context reaches through includes and patterns (the
// dialplan's lookup, the Caller ID not considered). The Spec's Exten is the extension asked
// for and its Context the context that holds the hint (a pattern hint is named after the
// number it matched, as Asterisk names the hint it makes from a pattern for a subscriber).
type Finder func(exten, context string) (Spec, bool)

type finderBox struct{ f Finder }

// SetFinder sets the dialplan lookup Resolve uses (nil: Resolve finds only hints the engine
// holds). The dialplan module sets it when it loads and clears it when it unloads.
func (e *Engine) SetFinder(f Finder) {
	if f == nil {
		e.finder.Store(nil)
		return
	}
	e.finder.Store(&finderBox{f})
}

// Resolve finds the hint of exten@context as a SUBSCRIBE, AMI ExtensionState or
// EXTENSION_STATE() reaches it, and its state: the hint the engine holds under exten@context;
// else the one the dialplan reaches from there (Finder): the engine's entry for the context
// that holds it when the engine has one (its state is the one watchers were told), otherwise
// the dialplan's hint with its state computed now. The result is named after the hint found
// (Context is where it is), so a watcher follows State.Exten@State.Context; callers answer
// with the names they were asked for.
func (e *Engine) Resolve(exten, context string) (State, bool) {
	if st, ok := e.Get(exten, context); ok {
		return st, true
	}
	fb := e.finder.Load()
	if fb == nil {
		return State{}, false
	}
	sp, ok := fb.f(exten, context)
	if !ok {
		return State{}, false
	}
	if st, ok := e.Get(sp.Exten, sp.Context); ok {
		return st, true
	}
	return State{Spec: sp, State: e.Compute(SplitDevices(sp.Devices))}, true
}
