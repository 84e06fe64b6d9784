package sip

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

// rtFollow keeps realtime peers in step with the realtime engine's change feed (family
// sippeers): a changed row marks its peer stale and re-reads it in the background, so that
// a deleted (or now invalid) row drops the peer, its registration and its device state at
// once, and a changed one is in force at the peer's next request; a flush (the change
// listener reconnected, or "realtime invalidate sippeers") does that for every realtime peer.
type rtFollow struct {
	// flushes counts changes of the whole family and keyed those of the names hashed to each
	// slot; findPeer compares a name's stamp around its query, so that a row read before a
	// change and stored after it stays stale (a slot shared with another name costs at most
	// one needless re-read; a global counter would make every query overlapping anyone's
	// registration write-back re-read).
	flushes atomic.Uint64
	keyed   [256]atomic.Uint64
	cancel  func()

	mu      sync.Mutex
	pending map[string]struct{}
	busy    bool
}

// rtStamp is the change counters that concern one name.
type rtStamp struct{ flushes, keyed uint64 }

func rtSlot(name string) uint8 {
	h := uint32(2166136261) // FNV-1a
	for i := 0; i < len(name); i++ {
		h = (h ^ uint32(name[i])) * 16777619
	}
	return uint8(h)
}

// stamp returns the counters of name now.
func (f *rtFollow) stamp(name string) rtStamp {
	return rtStamp{f.flushes.Load(), f.keyed[rtSlot(name)].Load()}
}

// followRealtime subscribes the server to changes of sippeers (New calls it).
func (s *Server) followRealtime() {
	if s.rt == nil {
		return
	}
	s.rtf.pending = map[string]struct{}{}
	s.rtf.cancel = s.rt.Subscribe("sippeers", s.realtimeChanged)
}

// realtimeChanged is the change feed's callback: it must not block.
func (s *Server) realtimeChanged(c realtime.Change) {
	if c.Key == "" {
		s.rtf.flushes.Add(1)
	} else {
		s.rtf.keyed[rtSlot(c.Key)].Add(1)
	}
	var hit []*peer
	s.mu.RLock()
	if c.Key == "" {
		for _, p := range s.peers {
			if p.cfg.Load().realtime {
				hit = append(hit, p)
			}
		}
	} else if p := s.peers[c.Key]; p != nil && p.cfg.Load().realtime {
		hit = append(hit, p)
	}
	s.mu.RUnlock()
	if len(hit) == 0 {
		return
	}
	names := make([]string, 0, len(hit))
	for _, p := range hit {
		p.mu.Lock()
		p.stale = true
		registered := p.addr.IsValid()
		p.mu.Unlock()
		// On a flush an unregistered peer is only re-read at its next request: its device is
		// UNAVAILABLE already, and a flush must not cost one query per cached peer at once.
		if c.Key != "" || registered {
			names = append(names, p.name)
		}
	}
	s.rtf.mu.Lock() // never held with another lock
	for _, n := range names {
		s.rtf.pending[n] = struct{}{}
	}
	start := !s.rtf.busy && len(s.rtf.pending) > 0
	s.rtf.busy = s.rtf.busy || start
	s.rtf.mu.Unlock()
	if start && !s.spawn(s.recheckPending) {
		s.rtf.mu.Lock()
		s.rtf.busy = false
		s.rtf.mu.Unlock()
	}
}

// recheckPending re-reads the peers whose rows changed, one at a time, until none is left.
func (s *Server) recheckPending() {
	for {
		s.rtf.mu.Lock()
		names := make([]string, 0, len(s.rtf.pending))
		for n := range s.rtf.pending {
			names = append(names, n)
		}
		clear(s.rtf.pending)
		if len(names) == 0 {
			s.rtf.busy = false
			s.rtf.mu.Unlock()
			return
		}
		s.rtf.mu.Unlock()
		slices.Sort(names)
		for _, n := range names {
			s.recheckPeer(n)
		}
	}
}

// recheckPeer re-reads one stale realtime peer: findPeer drops it when its row is gone or
// invalid and otherwise takes the new row, keeping the registration; qualify restarts when its
// settings changed and a registered peer whose mailboxes changed gets their counts.
func (s *Server) recheckPeer(name string) {
	s.mu.RLock()
	p := s.peers[name]
	s.mu.RUnlock()
	if p == nil {
		return
	}
	old := p.cfg.Load()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	np, err := s.findPeer(ctx, name)
	if err != nil || np != p {
		return
	}
	cfg := p.cfg.Load()
	if cfg == old {
		return
	}
	// A registration's own write-back notifies too: restart qualify only when it changed.
	if old.qualifyMS != cfg.qualifyMS || old.keepalive != cfg.keepalive {
		p.restartTimers()
	}
	p.reportDevice()
	p.mu.Lock()
	registered := p.addr.IsValid()
	p.mu.Unlock()
	if registered && !slices.Equal(old.mailboxes, cfg.mailboxes) {
		s.sendMWI(p)
	}
}
