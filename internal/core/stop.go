package core

import (
	"fmt"
	"sync"
	"time"
)

// StopMode says how a server stops, as Asterisk's `core stop` and `core restart` commands.
// The less patient mode wins: a request less patient than the one in progress takes over,
// one as patient or more is ignored ("Ignoring Pleiades shutdown request, already in
// progress.").
type StopMode int

// The stop modes, least patient first.
const (
	// StopNow refuses new calls, hangs up the active ones and stops (core stop now, SIGTERM,
	// SIGINT).
	StopNow StopMode = iota + 1
	// StopGracefully refuses new calls and stops once the active ones have ended (core stop
	// gracefully).
	StopGracefully
	// StopWhenConvenient stops once no call is active, accepting new calls meanwhile (core
	// stop when convenient).
	StopWhenConvenient
)

func (m StopMode) String() string {
	switch m {
	case StopNow:
		return "now"
	case StopGracefully:
		return "gracefully"
	case StopWhenConvenient:
		return "when convenient"
	}
	return "none"
}

// CallCounter is the channel layer as a stop sees it: how many calls (channels) are up, and
// a switch that makes it refuse new ones ("gracefully", and "now" while it hangs up). The
// server asks every CallCounter added with AddCallCounter. Today the dialplan engine is one
// (its console dial and originated channels: Start adds it), the SIP server another (its
// calls: chan_sip's module adds it). Both methods may be called from any goroutine.
type CallCounter interface {
	ActiveCalls() int
	RefuseNewCalls(refuse bool)
}

// idlePoll is how often a patient stop checks whether the calls have ended.
const idlePoll = 100 * time.Millisecond

// stopper holds the state of a stop in progress.
type stopper struct {
	mu      sync.Mutex
	mode    StopMode // 0: none in progress
	restart bool
	gen     int // changes with every request, so a waiter knows it was overtaken or aborted
	final   bool
	calls   []CallCounter
	stopped chan struct{}
}

// AddCallCounter makes stops wait for c's calls and refuse new ones through it.
func (s *Server) AddCallCounter(c CallCounter) {
	s.stop.mu.Lock()
	defer s.stop.mu.Unlock()
	s.stop.calls = append(s.stop.calls, c)
	if s.stop.mode != 0 && s.stop.mode != StopWhenConvenient {
		c.RefuseNewCalls(true)
	}
}

// callCounters returns the CallCounters added so far.
func (s *Server) callCounters() []CallCounter {
	s.stop.mu.Lock()
	defer s.stop.mu.Unlock()
	return append([]CallCounter(nil), s.stop.calls...)
}

// ActiveCalls is the number of calls up, over every CallCounter.
func (s *Server) ActiveCalls() int {
	n := 0
	for _, c := range s.callCounters() {
		n += c.ActiveCalls()
	}
	return n
}

// ProcessedCalls is the number of calls started since the server started, over every
// CallCounter that counts them (a ProcessedCalls method, as the dialplan engine's).
func (s *Server) ProcessedCalls() int {
	n := 0
	for _, c := range s.callCounters() {
		if p, ok := c.(interface{ ProcessedCalls() int }); ok {
			n += p.ProcessedCalls()
		}
	}
	return n
}

func (st *stopper) refuse(refuse bool) {
	for _, c := range st.calls {
		c.RefuseNewCalls(refuse)
	}
}

// Stop asks the server to stop (restart false) or to restart in mode; Stopping is closed once
// it stops for real. It reports false (and says why on the console) when a request as
// patient or more is already in progress.
func (s *Server) Stop(mode StopMode, restart bool) bool {
	st := &s.stop
	what := "shutdown"
	if restart {
		what = "restart"
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.final || (st.mode != 0 && mode >= st.mode) {
		s.Log.Info(fmt.Sprintf("Ignoring Pleiades %s request, already in progress.", what))
		return false
	}
	st.mode, st.restart = mode, restart
	st.gen++
	if mode == StopNow {
		st.refuse(true)
		s.finalLocked()
		return true
	}
	if mode == StopGracefully {
		st.refuse(true)
		s.Log.Info(fmt.Sprintf("Beginning Pleiades %s: new calls are refused; waiting for the active calls to end...", what))
	} else {
		s.Log.Info(fmt.Sprintf("Waiting for inactivity to perform %s...", map[bool]string{false: "halt", true: "restart"}[restart]))
	}
	gen := st.gen
	go s.waitIdle(gen)
	return true
}

// waitIdle stops the server once no call is active, unless the request of generation gen
// was overtaken or aborted first.
func (s *Server) waitIdle(gen int) {
	t := time.NewTicker(idlePoll)
	defer t.Stop()
	for {
		idle := s.ActiveCalls() == 0
		s.stop.mu.Lock()
		if s.stop.gen != gen || s.stop.final {
			s.stop.mu.Unlock()
			return
		}
		if idle {
			s.stop.refuse(true)
			s.finalLocked()
			s.stop.mu.Unlock()
			return
		}
		s.stop.mu.Unlock()
		<-t.C
	}
}

// finalLocked commits to stopping; s.stop.mu is held.
func (s *Server) finalLocked() {
	s.stop.final = true
	close(s.stop.stopped)
}

// AbortShutdown cancels a stop or restart that waits for calls to end (core abort
// shutdown); new calls are accepted again. It reports whether there was one to cancel.
func (s *Server) AbortShutdown() bool {
	st := &s.stop
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.mode == 0 || st.final {
		return false
	}
	what := "shutdown"
	if st.restart {
		what = "restart"
	}
	st.mode, st.restart = 0, false
	st.gen++
	st.refuse(false)
	s.Log.Info(fmt.Sprintf("Pleiades %s cancelled.", what))
	return true
}

// ShutdownPending returns the stop in progress (0 when none) and whether it is a restart.
func (s *Server) ShutdownPending() (StopMode, bool) {
	s.stop.mu.Lock()
	defer s.stop.mu.Unlock()
	return s.stop.mode, s.stop.restart
}

// Stopping is closed when the server stops for real (after a patient stop, once the calls
// have ended).
func (s *Server) Stopping() <-chan struct{} { return s.stop.stopped }

// Restarting reports whether the stop is a restart: the caller of Shutdown then executes
// the server again.
func (s *Server) Restarting() bool {
	s.stop.mu.Lock()
	defer s.stop.mu.Unlock()
	return s.stop.final && s.stop.restart
}
