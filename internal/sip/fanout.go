package sip

import (
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/state"
)

// The NOTIFY fan-out of one hint change to every subscription that watches it.

// hintChanged is the Hints.Watch callback.
func (s *Server) hintChanged(hw *hintWatch, st state.Extension) {
	hw.mu.Lock()
	if !hw.pending {
		hw.since = time.Now()
	}
	hw.state, hw.pending = st, true
	if hw.running {
		hw.mu.Unlock()
		return
	}
	hw.running = true
	hw.mu.Unlock()
	if !s.spawn(func() { s.fanout(hw) }) { // closing: the next Start's changes fan out
		hw.mu.Lock()
		hw.running = false
		hw.mu.Unlock()
	}
}

func (s *Server) fanout(hw *hintWatch) {
	for {
		hw.mu.Lock()
		if !hw.pending {
			hw.running = false
			hw.mu.Unlock()
			return
		}
		st, start := hw.state, hw.since
		hw.pending = false
		hw.mu.Unlock()

		s.subs.mu.Lock()
		subs := slices.Clone(hw.subs)
		s.subs.mu.Unlock()
		workers := runtime.GOMAXPROCS(0)
		if workers > len(subs) {
			workers = len(subs)
		}
		var wg sync.WaitGroup
		chunk := (len(subs) + workers - 1) / max(workers, 1)
		for w := 0; w < workers; w++ {
			lo, hi := w*chunk, min((w+1)*chunk, len(subs))
			if lo >= hi {
				break
			}
			wg.Add(1)
			go func(w int, part []*subscription) {
				defer wg.Done()
				// NOTIFYs over UDP go out batchSize at a time (one sendmmsg) as they are built,
				// each worker through its own descriptor of the socket (notifyTxs.writers).
				batch := newNotifyBatch()
				ntx := s.ntx.Load()
				if ntx != nil {
					batch.w = ntx.writer(w)
				}
				flush := func() {
					if ntx != nil {
						if failed := ntx.flush(batch); failed > 0 {
							s.stats.notifyFailures.Add(uint64(failed))
						}
					}
				}
				for _, sub := range part {
					if p := sub.sendVia(batch, st, false, "", false); p.tx != nil {
						p.settleLater()
					}
					if batch.full() {
						flush()
					}
				}
				flush()
			}(w, subs[lo:hi])
		}
		wg.Wait()
		s.stats.lastFanout.Store(int64(time.Since(start)))
	}
}
