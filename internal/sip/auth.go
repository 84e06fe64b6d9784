package sip

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"hash/maphash"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// nonceStore issues stateless nonces and tracks the nonce-counts of the ones in use.
//
// A nonce is base64url(issued-unix-ms[8] | random[8] | HMAC-SHA256(key, first 16 bytes)[:12]):
// challenging a request costs no memory, so floods of unauthenticated requests cannot grow
// anything. A nonce gets an entry in the tracking table only when a request authenticates
// with it; the entry (24 bytes, keyed by the nonce's first 16 bytes) holds the highest
// nonce-count accepted. Entries live in two generations that rotate every nonce lifetime: an
// entry is kept at least until its nonce expires and at most two lifetimes, and dropping a
// generation frees its memory at once (a Go map never shrinks). The table is bounded
// (maxTracked); when it is full the older generation is dropped early, and every nonce issued
// before the younger one began is answered as stale from then on (an entry it had may be gone).
type nonceStore struct {
	key        [32]byte
	mu         sync.Mutex
	cur, prev  map[[16]byte]nonceUse
	rotated    time.Time
	floor      time.Time // nonces issued before this are stale: their entries may be dropped
	maxTracked int
	macs       sync.Pool // hmac.New(sha256.New, key) hashers: a new one costs two block hashes
}

type nonceUse struct {
	nc   uint32
	qop  bool
	dead bool   // a wrong response was given with this nonce: it serves no more
	req  uint64 // fingerprint of the request accepted last with it (requestFingerprint)
}

const nonceRawLen = 8 + 8 + 12

func newNonceStore(max int) *nonceStore {
	n := &nonceStore{cur: map[[16]byte]nonceUse{}, prev: map[[16]byte]nonceUse{}, maxTracked: max, rotated: time.Now()}
	if _, err := rand.Read(n.key[:]); err != nil {
		panic(err)
	}
	return n
}

func (n *nonceStore) mac(b []byte) []byte {
	h, _ := n.macs.Get().(hash.Hash)
	if h == nil {
		h = hmac.New(sha256.New, n.key[:])
	}
	h.Reset()
	h.Write(b)
	sum := h.Sum(make([]byte, 0, sha256.Size))[:12]
	n.macs.Put(h)
	return sum
}

// issue returns a fresh nonce.
func (n *nonceStore) issue(now time.Time) string {
	var b [nonceRawLen]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli()))
	_, _ = rand.Read(b[8:16])
	copy(b[16:], n.mac(b[:16]))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// check verifies that nonce is one of ours; stale reports that it is ours but older than
// lifetime.
func (n *nonceStore) check(nonce string, now time.Time, lifetime time.Duration) (id [16]byte, ours, stale bool) {
	if len(nonce) != base64.RawURLEncoding.EncodedLen(nonceRawLen) {
		return id, false, false
	}
	var b [nonceRawLen]byte
	if k, err := base64.RawURLEncoding.Decode(b[:], []byte(nonce)); err != nil || k != nonceRawLen {
		return id, false, false
	}
	if !hmac.Equal(b[16:], n.mac(b[:16])) {
		return id, false, false
	}
	copy(id[:], b[:16])
	issued := time.UnixMilli(int64(binary.BigEndian.Uint64(b[:8])))
	if now.Sub(issued) > lifetime || issued.After(now.Add(time.Minute)) {
		return id, true, true
	}
	n.mu.Lock()
	floor := n.floor
	n.mu.Unlock()
	if issued.Before(floor) {
		return id, true, true // its nonce-count may have been in a dropped generation
	}
	return id, true, false
}

// lookupLocked finds the entry of id and the generation holding it.
func (n *nonceStore) lookupLocked(id [16]byte) (nonceUse, map[[16]byte]nonceUse, bool) {
	if u, ok := n.cur[id]; ok {
		return u, n.cur, true
	}
	if u, ok := n.prev[id]; ok {
		return u, n.prev, true
	}
	return nonceUse{}, nil, false
}

// isDead reports whether a wrong response was given with nonce id: its responses are then
// not even checked (a fresh challenge), so one nonce gives a guesser one verdict.
func (n *nonceStore) isDead(id [16]byte) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	u, _, ok := n.lookupLocked(id)
	return ok && u.dead
}

// kill marks nonce id dead (after a wrong response). When the table is full the nonce is not
// recorded; the per-address limit still holds.
func (n *nonceStore) kill(id [16]byte) {
	n.mu.Lock()
	defer n.mu.Unlock()
	u, m, ok := n.lookupLocked(id)
	if !ok {
		if len(n.cur)+len(n.prev) >= n.maxTracked {
			return
		}
		m = n.cur
	}
	u.dead = true
	m[id] = u
}

// use records one accepted use of nonce id by a request with fingerprint req. Without qop a
// nonce serves one request; with qop each use needs a higher nonce-count. The same nonce-count
// again is accepted only for the very request accepted with it (a retransmission: same
// fingerprint); anything else is a replay. It reports false for a replay, for a dead nonce
// and when the table is full.
func (n *nonceStore) use(id [16]byte, nc uint32, qop bool, req uint64) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	u, m, ok := n.lookupLocked(id)
	if !ok {
		if len(n.cur)+len(n.prev) >= n.maxTracked {
			// full: rotate early rather than refuse. The dropped generation holds nonces first
			// used before the current one began, so issued before it: those read as stale from
			// now on (check), and a replay of one cannot pass as a first use.
			n.rotateLocked(time.Now())
		}
		n.cur[id] = nonceUse{nc: nc, qop: qop, req: req}
		return true
	}
	switch {
	case u.dead:
		return false
	case u.nc == nc && u.req == req:
		return true // retransmission of the request we accepted
	case qop && u.qop && nc > u.nc:
		m[id] = nonceUse{nc: nc, qop: true, req: req}
		return true
	}
	return false
}

// rotate drops the older generation once per lifetime.
func (n *nonceStore) rotate(now time.Time, lifetime time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if now.Sub(n.rotated) < lifetime {
		return
	}
	n.rotateLocked(now)
}

// rotateLocked drops the older generation; nonces issued before the current one began (the
// only ones it can hold) are stale from now on.
func (n *nonceStore) rotateLocked(now time.Time) {
	n.floor = n.rotated
	n.prev, n.cur = n.cur, make(map[[16]byte]nonceUse, len(n.cur))
	n.rotated = now
}

func (n *nonceStore) len() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.cur) + len(n.prev)
}

func md5hex(parts ...string) string {
	h := md5.New()
	for i, p := range parts {
		if i > 0 {
			h.Write([]byte{':'})
		}
		h.Write([]byte(p))
	}
	var sum [md5.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0]))
}

// ha1 returns md5(user:realm:secret), or md5secret when set (which Asterisk computes as
// md5(peername:realm:secret)).
func ha1(p *peerConfig, user, realm string) string {
	if p.md5secret != "" {
		return p.md5secret
	}
	return md5hex(user, realm, p.secret)
}

// digestResponseOK checks the response of credentials c against ha1 (RFC 2617 / RFC 7616 MD5;
// qop auth or none).
func digestResponseOK(c *digest.Credentials, method, h1 string) bool {
	h2 := md5hex(method, c.URI)
	var cands []string
	switch strings.ToLower(c.QOP) {
	case "":
		cands = []string{md5hex(h1, c.Nonce, h2)}
	case "auth":
		for _, nc := range []string{fmt.Sprintf("%08x", c.Nc), fmt.Sprintf("%08X", c.Nc)} {
			cands = append(cands, md5hex(h1, c.Nonce, nc, c.Cnonce, c.QOP, h2))
		}
	default:
		return false
	}
	got := strings.ToLower(c.Response)
	ok := 0
	for _, want := range cands {
		ok |= subtle.ConstantTimeCompare([]byte(got), []byte(want))
	}
	return ok == 1
}

// challenge builds a WWW-Authenticate value.
func challenge(realm, nonce string, stale bool) string {
	c := digest.Challenge{Realm: realm, Nonce: nonce, Stale: stale, Algorithm: "MD5", QOP: []string{"auth"}}
	return c.String()
}

var fingerprintSeed = maphash.MakeSeed()

// requestFingerprint hashes what a handler reads from a request: Request-URI, From, To,
// Call-ID, CSeq, the top Via's branch, every Contact, Expires, Event and User-Agent. A
// retransmission has the same fingerprint; a captured request replayed with another Contact or
// Expires (or any of these changed) does not.
func requestFingerprint(req *sip.Request) uint64 {
	var h maphash.Hash
	h.SetSeed(fingerprintSeed)
	sep := func() { _ = h.WriteByte(0) }
	str := func(s string) { _, _ = h.WriteString(s); sep() }
	num := func(n uint64) {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], n)
		_, _ = h.Write(b[:])
	}
	str(string(req.Method))
	str(req.Recipient.User)
	str(req.Recipient.Host)
	num(uint64(req.Recipient.Port))
	if f := req.From(); f != nil {
		str(f.Address.User)
		str(f.Address.Host)
		tag, _ := f.Params.Get("tag")
		str(tag)
	}
	if t := req.To(); t != nil {
		str(t.Address.User)
		str(t.Address.Host)
	}
	if c := req.CallID(); c != nil {
		str(c.Value())
	}
	if c := req.CSeq(); c != nil {
		num(uint64(c.SeqNo))
		str(string(c.MethodName))
	}
	if v := req.Via(); v != nil {
		b, _ := v.Params.Get("branch")
		str(b)
	}
	for _, c := range req.GetHeaders("Contact") {
		str(c.Value())
	}
	for _, name := range [...]string{"Expires", "Event", "User-Agent"} {
		if x := req.GetHeader(name); x != nil {
			str(x.Value())
		} else {
			sep()
		}
	}
	return h.Sum64()
}
