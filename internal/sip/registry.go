package sip

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/pleiades-pbx/pleiades/internal/logger"
)

// Registrations of static peers outlive a restart as chan_sip keeps them: in the internal
// database (astdb), family SIP/Registry, key the peer, value chan_sip's
// "addr:port:expiry:username:contact" (expiry the seconds granted). chan_sip's value has no
// time, so Pleiades adds family SIP/RegistryExpires (the absolute expiry, Unix seconds) to
// drop what expired while it was down.
//
// Writes are kept off the REGISTER path and few: the chan_sip value is written only when it
// changes, and the expiry only when it moved by more than half the expiry granted since it was
// last written. The expiry kept therefore lags the real one by at most half the expiry granted,
// and a restored registration lasts until the kept expiry plus that half: never shorter than
// the phone's own registration, at most half an expiry longer (chan_sip restores every entry
// for its whole expiry from the start).

const (
	registryFamily  = "SIP/Registry"
	registryExpires = "SIP/RegistryExpires" // Pleiades' own
	registryFlush   = 500 * time.Millisecond
)

// DB is the internal database (astdb) where the registrations of static peers are kept.
type DB interface {
	// Family returns every key of family with its value.
	Family(family string) (map[string]string, error)
	// PutMany stores the keys of family in one transaction.
	PutMany(family string, kv map[string]string) error
	// Del removes family/key; a key that does not exist is no error.
	Del(family, key string) error
}

// SetDB gives the server the internal database, before the first Configure: static peers then
// come back registered from it (and every registration is written to it).
func (s *Server) SetDB(db DB) {
	s.cfgMu.Lock()
	s.reg.db = db
	s.cfgMu.Unlock()
}

// savedReg is one registration as chan_sip stores it.
type savedReg struct {
	addr     netip.AddrPort
	expiry   int // seconds granted
	username string
	contact  string
}

// String is chan_sip's value: ast_sockaddr_stringify (IPv6 in brackets), expiry, username,
// contact.
func (r savedReg) String() string {
	return fmt.Sprintf("%s:%d:%s:%s", r.addr, r.expiry, r.username, r.contact)
}

// parseSavedReg reads a SIP/Registry value ("1.2.3.4:5060:120:alice:sip:alice@1.2.3.4:5060",
// "[2001:db8::1]:5060:120:alice:sip:..."): the contact is the rest after the fourth field.
func parseSavedReg(v string) (savedReg, error) {
	var r savedReg
	var host, rest string
	if strings.HasPrefix(v, "[") {
		i := strings.Index(v, "]:")
		if i < 0 {
			return r, errors.New("no port")
		}
		host, rest = v[1:i], v[i+2:]
	} else {
		var ok bool
		if host, rest, ok = strings.Cut(v, ":"); !ok {
			return r, errors.New("no port")
		}
	}
	parts := strings.SplitN(rest, ":", 4)
	if len(parts) < 2 {
		return r, errors.New("no expiry")
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return r, fmt.Errorf("address %q: %w", host, err)
	}
	port, err := strconv.ParseUint(parts[0], 10, 16)
	if err != nil || port == 0 {
		return r, fmt.Errorf("port %q", parts[0])
	}
	if r.expiry, err = strconv.Atoi(parts[1]); err != nil || r.expiry < 0 {
		return r, fmt.Errorf("expiry %q", parts[1])
	}
	r.addr = netip.AddrPortFrom(a.Unmap(), uint16(port))
	if len(parts) > 2 {
		r.username = parts[2]
	}
	if len(parts) > 3 {
		r.contact = parts[3]
	}
	return r, nil
}

// regStore writes registrations to the DB behind the requests: one pending change per peer
// (the latest wins), flushed registryFlush after the first in one transaction per family, and
// on Close.
type regStore struct {
	s       *Server
	db      DB // set before the first Configure; nil: nothing kept
	mu      sync.Mutex
	pending map[string]savedChange
	kept    map[string]savedChange // what was last written (or read) per peer
	wake    chan struct{}
}

// savedChange is a registration to keep (del false) or its removal.
type savedChange struct {
	reg     savedReg
	expires int64 // Unix seconds
	value   bool  // the chan_sip value changed (else only the expiry is written)
	del     bool
}

func newRegStore(s *Server) *regStore {
	return &regStore{s: s, pending: map[string]savedChange{}, kept: map[string]savedChange{}, wake: make(chan struct{}, 1)}
}

func (r *regStore) enabled() bool { return r.db != nil }

// put keeps a registration unless what is kept already serves a restart (see above).
func (r *regStore) put(peer string, reg savedReg, expires time.Time) {
	if r.db == nil {
		return
	}
	c := savedChange{reg: reg, expires: expires.Unix(), value: true}
	r.mu.Lock()
	if k, ok := r.kept[peer]; ok && k.reg == reg {
		if c.expires-k.expires <= int64(reg.expiry/2) {
			r.mu.Unlock()
			return
		}
		c.value = false
	}
	if p, ok := r.pending[peer]; ok && p.value {
		c.value = true
	}
	r.kept[peer] = c
	r.queueLocked(peer, c)
}

func (r *regStore) del(peer string) {
	if r.db == nil {
		return
	}
	r.mu.Lock()
	delete(r.kept, peer)
	r.queueLocked(peer, savedChange{del: true})
}

// queueLocked records c for peer and unlocks r.mu.
func (r *regStore) queueLocked(peer string, c savedChange) {
	first := len(r.pending) == 0
	r.pending[peer] = c
	r.mu.Unlock()
	if first {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

// run flushes what is pending registryFlush after the first change, until ctx ends.
func (r *regStore) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(registryFlush):
		}
		r.flush()
	}
}

// flush writes what is pending; a failed write is logged and dropped (the registration stays in
// memory).
func (r *regStore) flush() {
	r.mu.Lock()
	batch := r.pending
	if len(batch) > 0 {
		r.pending = map[string]savedChange{}
	}
	r.mu.Unlock()
	if len(batch) == 0 || r.db == nil {
		return
	}
	regs, exps := map[string]string{}, map[string]string{}
	var fail error
	for peer, c := range batch {
		if c.del {
			for _, fam := range []string{registryFamily, registryExpires} {
				if err := r.db.Del(fam, peer); err != nil {
					fail = err
				}
			}
			continue
		}
		if c.value {
			regs[peer] = c.reg.String()
		}
		exps[peer] = strconv.FormatInt(c.expires, 10)
	}
	if err := r.db.PutMany(registryFamily, regs); err != nil {
		fail = err
	} else if err := r.db.PutMany(registryExpires, exps); err != nil {
		fail = err
	}
	if fail != nil {
		r.s.log.Warn("SIP: registrations not saved in astdb", "peers", len(batch), "err", fail)
	}
}

// saved reads every registration kept in the DB, with its absolute expiry (zero when only
// chan_sip's value is there, as Asterisk writes it).
func (r *regStore) saved() (map[string]savedReg, map[string]time.Time) {
	if r.db == nil {
		return nil, nil
	}
	vals, err := r.db.Family(registryFamily)
	if err != nil {
		r.s.log.Warn("SIP: registrations in astdb not read", "err", err)
		return nil, nil
	}
	exps, err := r.db.Family(registryExpires)
	if err != nil {
		r.s.log.Warn("SIP: registrations in astdb not read", "err", err)
	}
	regs, at := make(map[string]savedReg, len(vals)), make(map[string]time.Time, len(vals))
	for peer, v := range vals {
		reg, err := parseSavedReg(v)
		if err != nil {
			r.s.log.Warn("SIP: registration in astdb ignored", "peer", logValue(peer), "value", logValue(v), "err", err)
			continue
		}
		regs[peer] = reg
		if n, err := strconv.ParseInt(exps[peer], 10, 64); err == nil && n > 0 {
			at[peer] = time.Unix(n, 0)
		}
	}
	return regs, at
}

// restoreSaved gives new static dynamic peers the registration kept for them, until the kept
// expiry plus half the expiry granted (the most it can lag): one that expired while the server
// was down is dropped (kept for a default period with ignoreregexpire), one without Pleiades'
// expiry (written by Asterisk) lasts its expiry from now. Qualify starts when the server starts
// (Start's staggered qualify).
func (s *Server) restoreSaved(peers []*peer, set *settings) {
	if !s.reg.enabled() || len(peers) == 0 {
		return
	}
	regs, at := s.reg.saved()
	now := time.Now()
	for _, p := range peers {
		cfg := p.cfg.Load()
		reg, ok := regs[p.name]
		if !ok || !cfg.dynamic || cfg.typ == typeUser || cfg.realtime {
			continue
		}
		kept, known := at[p.name]
		exp := kept.Add(time.Duration(reg.expiry/2) * time.Second)
		switch {
		case !known:
			exp = now.Add(time.Duration(reg.expiry) * time.Second)
		case !exp.After(now) && set.ignoreRegExpire:
			exp = now.Add(time.Duration(set.defaultExpiry) * time.Second)
		case !exp.After(now):
			s.reg.del(p.name)
			s.log.Log(context.Background(), logger.DebugLevel(2), "SIP: registration in astdb expired", "peer", p.name)
			continue
		}
		if known {
			s.reg.mu.Lock()
			s.reg.kept[p.name] = savedChange{reg: reg, expires: kept.Unix(), value: true}
			s.reg.mu.Unlock()
		}
		p.restore(reg, exp)
		s.log.Log(context.Background(), logger.DebugLevel(2), fmt.Sprintf("SIP Seeding peer from astdb: '%s' at %s@%s until %s",
			p.name, reg.username, reg.addr, exp.Format(time.RFC3339)))
	}
}

// restore takes a registration kept in astdb; its transport is the Contact's transport=, else
// the peer's.
func (p *peer) restore(reg savedReg, exp time.Time) {
	cfg := p.cfg.Load()
	var u sip.Uri
	if reg.contact == "" || sip.ParseUri(reg.contact, &u) != nil {
		u = sip.Uri{Scheme: "sip", User: orDefault(reg.username, p.name), Host: reg.addr.Addr().String(), Port: int(reg.addr.Port())}
	}
	transport := cfg.transport
	if t, ok := u.UriParams.Get("transport"); ok && (strings.EqualFold(t, "tcp") || strings.EqualFold(t, "udp")) {
		transport = strings.ToLower(t)
	}
	p.register(reg.addr, transport, u, u.String(), exp, "", reg.username)
}
