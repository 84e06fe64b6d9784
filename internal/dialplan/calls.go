package dialplan

import (
	"errors"
	"sync/atomic"
)

// ErrRefused is returned (wrapped) when a new call is refused because the server is
// shutting down (core stop gracefully).
var ErrRefused = errors.New("new calls are refused: Pleiades is shutting down")

// calls counts the channels running (console dial, both halves of an originated call) and
// refuses new ones while the server shuts down; the engine is the server's CallCounter
// (internal/core).
type calls struct {
	active    atomic.Int64
	processed atomic.Int64 // channels admitted since the engine was made
	refuse    atomic.Bool
}

// ActiveCalls returns how many channels are running.
func (e *Engine) ActiveCalls() int { return int(e.calls.active.Load()) }

// ProcessedCalls returns how many channels have been started since the engine was made
// (Asterisk's "calls processed").
func (e *Engine) ProcessedCalls() int { return int(e.calls.processed.Load()) }

// RefuseNewCalls makes console dial and Originate refuse new calls (true) or accept them
// again (false).
func (e *Engine) RefuseNewCalls(refuse bool) { e.calls.refuse.Store(refuse) }

// admit counts n new channels, or refuses them while the server shuts down; each channel
// calls done once when it ends.
func (e *Engine) admit(n int) (done func(), err error) {
	if e.calls.refuse.Load() {
		return nil, ErrRefused
	}
	e.calls.active.Add(int64(n))
	e.calls.processed.Add(int64(n))
	return func() { e.calls.active.Add(-1) }, nil
}
