package sip

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"net/netip"
	"sync"
	"time"
)

// respCache keeps the answers to the REGISTERs of the last few seconds, so that a
// retransmission of a request already answered gets the same bytes again (RFC 3261 §17.2.2:
// a server transaction absorbs its request's retransmissions and resends its final
// response) without being parsed or handled again. Answering it afresh would be correct
// for the registrar but not identical: a new challenge carries a new nonce and To tag, and a
// phone (or sipp) that has moved on takes the second 401 for an unexpected message.
//
// Answers live in two generations, each a byte slab (request key, answer) and an index from
// a seeded hash of the request's top Via branch and source address; a generation is dropped
// whole when it is older than respCacheAge or its slab is full, so an answer is kept between
// one and two generations — long enough for the phone's retransmissions at 0.5, 1.5 and 3.5 s
// — and the memory is bounded by two slabs, allocated once. Slabs and index hold no pointers:
// the collector never scans them, and the slabs are outside the Go heap (slab_unix.go).
type respCache struct {
	mu        sync.Mutex
	seed      maphash.Seed
	cur, prev respGen
	started   time.Time
}

type respGen struct {
	slab  []byte
	index map[uint64]respSlot
}

type respSlot struct{ off, n uint32 }

const (
	respCacheAge  = 4 * time.Second
	respCacheSlab = 32 << 20 // bytes per generation (about 55,000 answers)
)

func newRespCache() *respCache {
	return &respCache{seed: maphash.MakeSeed(), started: time.Now(),
		cur: respGen{index: map[uint64]respSlot{}}, prev: respGen{index: map[uint64]respSlot{}}}
}

// respKey is the request's identity as the cache stores it: branch and source address.
func respKey(k, branch []byte, src netip.AddrPort) []byte {
	a := src.Addr().As16()
	k = append(k[:0], a[:]...)
	k = binary.BigEndian.AppendUint16(k, src.Port())
	return append(k, branch...)
}

// get appends to dst the answer kept for key; ok=false when there is none.
func (c *respCache) get(dst, key []byte) ([]byte, bool) {
	h := maphash.Bytes(c.seed, key)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, g := range []*respGen{&c.cur, &c.prev} {
		if s, ok := g.index[h]; ok {
			e := g.slab[s.off : s.off+s.n]
			kl := int(binary.BigEndian.Uint16(e))
			if kl+2 <= len(e) && bytes.Equal(e[2:2+kl], key) {
				return append(dst, e[2+kl:]...), true
			}
		}
	}
	return dst, false
}

// put keeps answer for key (answers too big for a slab are not kept).
func (c *respCache) put(key, answer []byte, now time.Time) {
	n := 2 + len(key) + len(answer)
	if len(key) > 0xffff || n > respCacheSlab/4 {
		return
	}
	h := maphash.Bytes(c.seed, key)
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.Sub(c.started) >= respCacheAge || len(c.cur.slab)+n > cap(c.cur.slab) {
		c.prev, c.cur = c.cur, c.prev
		c.cur.slab = c.cur.slab[:0]
		clear(c.cur.index)
		c.started = now
	}
	if c.cur.slab == nil {
		c.cur.slab = newSlab(respCacheSlab) // its pages cost memory as answers come
	}
	off := len(c.cur.slab)
	c.cur.slab = binary.BigEndian.AppendUint16(c.cur.slab, uint16(len(key)))
	c.cur.slab = append(c.cur.slab, key...)
	c.cur.slab = append(c.cur.slab, answer...)
	c.cur.index[h] = respSlot{off: uint32(off), n: uint32(n)}
}

// release frees the slabs; the cache must not be used afterwards.
func (c *respCache) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	freeSlab(c.cur.slab)
	freeSlab(c.prev.slab)
	c.cur, c.prev = respGen{index: map[uint64]respSlot{}}, respGen{index: map[uint64]respSlot{}}
}
