package sip

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/cli"
	"github.com/pleiades-pbx/pleiades/internal/eid"
	"github.com/pleiades-pbx/pleiades/internal/event"
)

// Location is one server's registration of a peer as the cluster knows it: the server (EID)
// takes calls for Peer at Addr (its own SIP address, UDP) until Expires, authenticated with
// Secret (see "Calls across servers" in the package doc).
type Location struct {
	Peer    string
	Addr    netip.AddrPort
	Expires time.Time
	Secret  string
	EID     eid.EID
}

// Locations is the cluster-wide table of registrations. The core gives the server the event
// bus as one (NewBusLocations), which the cluster shares as the sip_location event type.
type Locations interface {
	// Set says this server now holds loc's registration (loc.EID is ignored).
	Set(loc Location)
	// Remove says this server no longer holds peer's registration.
	Remove(peer string)
	// Lookup returns the other servers' registrations of peer that have not expired, the
	// one that expires last first.
	Lookup(peer string) []Location
}

// SetLocations makes the server publish which peers are registered on it and find peers
// registered on other servers (Dial(SIP/bob) with bob on another server). Call it before
// Start; without it calls reach only peers registered here.
//
// self is this server's Entity ID, which its cluster calls name in their credential (for the
// called server's logs).
func (s *Server) SetLocations(l Locations, self eid.EID) { s.locs, s.self = l, self }

// BusLocations is Locations on the event bus: this server's registrations are its own
// sip_location events (forwarded to the cluster by the bridge with LocationCodec), the other
// servers' arrive as theirs, synced when a server joins and purged when it leaves.
type BusLocations struct{ bus *event.Bus }

// NewBusLocations returns the bus as the table of registrations.
func NewBusLocations(bus *event.Bus) *BusLocations { return &BusLocations{bus: bus} }

// Set publishes this server's sip_location event of loc.Peer.
func (b *BusLocations) Set(loc Location) {
	b.bus.Publish(event.SIPLocation{Peer: loc.Peer, Addr: loc.Addr.String(), Transport: "udp",
		Expires: loc.Expires.Unix(), Secret: loc.Secret, EID: b.bus.Local()})
}

// Remove clears this server's sip_location event of peer.
func (b *BusLocations) Remove(peer string) { b.bus.Clear(event.KindSIPLocation, peer, b.bus.Local()) }

// Lookup reads the other servers' cached sip_location events of peer.
func (b *BusLocations) Lookup(peer string) []Location {
	now := time.Now()
	var out []Location
	for _, ev := range b.bus.Cached(event.KindSIPLocation, peer) {
		l, ok := ev.(event.SIPLocation)
		if !ok || l.EID == b.bus.Local() || !time.Unix(l.Expires, 0).After(now) {
			continue
		}
		a, err := netip.ParseAddrPort(l.Addr)
		if err != nil {
			continue
		}
		out = append(out, Location{Peer: l.Peer, Addr: a, Expires: time.Unix(l.Expires, 0), Secret: l.Secret, EID: l.EID})
	}
	slices.SortFunc(out, func(a, b Location) int { return b.Expires.Compare(a.Expires) })
	return out
}

// LocationCodec is the payload of a sip_location event between servers (a cluster.Codec):
// the server's SIP address (host:port), its transport, the expiry (Unix seconds) and its
// secret for cluster calls. No fields means the origin no longer holds the registration; an
// event that does not parse is dropped (its origin's entry cleared).
type LocationCodec struct{}

// Kind is event.KindSIPLocation.
func (LocationCodec) Kind() event.Kind { return event.KindSIPLocation }

// Encode returns [addr, transport, expires, secret] of a SIPLocation.
func (LocationCodec) Encode(ev event.Event) ([]string, time.Time, bool) {
	l, ok := ev.(event.SIPLocation)
	if !ok {
		return nil, time.Time{}, false
	}
	return []string{l.Addr, l.Transport, strconv.FormatInt(l.Expires, 10), l.Secret}, time.Time{}, true
}

// Decode rebuilds the SIPLocation of peer that origin sent.
func (LocationCodec) Decode(peer string, fields []string, origin eid.EID, _ time.Time) (event.Event, bool) {
	if len(fields) < 4 || peer == "" {
		return nil, false
	}
	if _, err := netip.ParseAddrPort(fields[0]); err != nil {
		return nil, false
	}
	exp, err := strconv.ParseInt(fields[2], 10, 64)
	if err != nil || exp <= 0 || fields[3] == "" {
		return nil, false
	}
	return event.SIPLocation{Peer: peer, Addr: fields[0], Transport: fields[1], Expires: exp, Secret: fields[3], EID: origin}, true
}

// ---- this server's side ----

// newSecret is a fresh random secret for cluster calls to this server.
func newSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// reportLocation publishes the peer's registration on this server to the cluster table when
// it changed (registered, re-registered, moved, unregistered). Static hosts are not
// registrations: every server has them from its own sip.conf.
func (p *peer) reportLocation() {
	s := p.s
	if s.locs == nil {
		return
	}
	p.devMu.Lock() // serialises the reports of this peer, as for device state
	defer p.devMu.Unlock()
	p.mu.Lock()
	registered := p.addr.IsValid() && !p.expires.IsZero() && !p.gone
	peerAddr, exp := p.addr, p.expires
	ours, from := p.locAddr, p.locFrom
	p.mu.Unlock()
	s.runMu.Lock()
	bound := s.udpAddr
	s.runMu.Unlock()
	moved := ours.Port() != bound.Port() || (!bound.Addr().IsUnspecified() && ours != bound)
	if registered && (peerAddr != from || !ours.IsValid() || moved) {
		// our address towards the phone (it may cost a socket): only when the phone or our
		// listener moved
		if ours = s.clusterAddr(peerAddr); !ours.IsValid() {
			return // not listening yet: Start publishes it
		}
	}
	p.mu.Lock()
	was := p.locExpires
	if registered {
		p.locExpires, p.locAddr, p.locFrom = exp, ours, peerAddr
	} else {
		p.locExpires = time.Time{}
	}
	p.mu.Unlock()
	switch {
	case registered && (!exp.Equal(was) || peerAddr != from || moved):
		s.locs.Set(Location{Peer: p.name, Addr: ours, Expires: exp, Secret: s.secret})
	case !registered && !was.IsZero():
		s.locs.Remove(p.name)
	}
}

// clusterAddr is the SIP address other servers send calls for our peers to: our UDP bind
// address, or, bound to a wildcard, the address the kernel would use towards the phone
// (invalid while we do not listen).
func (s *Server) clusterAddr(towards netip.AddrPort) netip.AddrPort {
	host, port := s.localHostFor(towards, "udp")
	a, err := netip.ParseAddr(host)
	if err != nil || port == 0 {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(a, uint16(port))
}

// cliShowLocations is "sip show locations" (Pleiades): per peer, where it is registered —
// here, or on which other member, at which of its addresses, for how long.
func (s *Server) cliShowLocations(_ context.Context, a *cli.Args) error {
	if len(a.Rest) != 0 {
		return cli.ErrUsage
	}
	const format = "%-20.20s %-17.17s %-39.39s %8s\n"
	fmt.Fprintf(a.Out, format, "Peer", "Server", "Address", "Expires")
	now := time.Now()
	n := 0
	for _, p := range s.sortedPeers() {
		p.mu.Lock()
		addr, exp, gone := p.addr, p.expires, p.gone
		p.mu.Unlock()
		if addr.IsValid() && !exp.IsZero() && !gone {
			fmt.Fprintf(a.Out, format, p.name, "(this server)", addr.String(), strconv.Itoa(int(exp.Sub(now)/time.Second)))
			n++
		}
		if s.locs == nil {
			continue
		}
		for _, l := range s.locs.Lookup(p.name) {
			fmt.Fprintf(a.Out, format, p.name, l.EID.String(), l.Addr.String(), strconv.Itoa(int(l.Expires.Sub(now)/time.Second)))
			n++
		}
	}
	fmt.Fprintf(a.Out, "%d registration%s\n", n, ess(n))
	return nil
}

// ---- the credential of a cluster call ----

// clusterHeader carries a cluster call's credential: "eid=<caller server's EID>;ts=<Unix
// seconds>;mac=<hex HMAC-SHA256>", the MAC keyed with the called server's secret over the
// Call-ID, the From tag, the peer called and ts.
const clusterHeader = "X-Pleiades-Cluster"

// clusterSkew is how far a credential's time may be from ours.
const clusterSkew = 60 * time.Second

func clusterMAC(secret, callID, fromTag, peer, ts string) string {
	m := hmac.New(sha256.New, []byte(secret))
	for _, f := range []string{callID, fromTag, peer, ts} {
		m.Write([]byte(f))
		m.Write([]byte{0})
	}
	return hex.EncodeToString(m.Sum(nil))
}

// clusterCredential is the header value for a call to peer on the server whose secret is given.
func clusterCredential(self eid.EID, secret, callID, fromTag, peer string, now time.Time) string {
	ts := strconv.FormatInt(now.Unix(), 10)
	return fmt.Sprintf("eid=%s;ts=%s;mac=%s", self, ts, clusterMAC(secret, callID, fromTag, peer, ts))
}

// checkCredential verifies a cluster call's credential for peer with our secret and refuses a
// second use of one (a replayed INVITE); it returns the caller server's EID as sent.
func (s *Server) checkCredential(value, callID, fromTag, peer string, now time.Time) (string, error) {
	var from, ts, mac string
	for _, part := range strings.Split(value, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "eid":
			from = v
		case "ts":
			ts = v
		case "mac":
			mac = v
		}
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || mac == "" {
		return from, errBadCredential
	}
	if d := now.Sub(time.Unix(t, 0)); d > clusterSkew || d < -clusterSkew {
		return from, fmt.Errorf("%w (its time is %v away from ours)", errBadCredential, d.Round(time.Second))
	}
	if !hmac.Equal([]byte(mac), []byte(clusterMAC(s.secret, callID, fromTag, peer, ts))) {
		return from, errBadCredential
	}
	if !s.seen.add(mac, now) {
		return from, fmt.Errorf("%w (used before)", errBadCredential)
	}
	return from, nil
}

var errBadCredential = fmt.Errorf("sip: bad cluster credential")

// usedMACs remembers the credentials seen within clusterSkew, so that a captured INVITE cannot
// be sent again (a retransmission is absorbed by its transaction before it gets here).
type usedMACs struct {
	mu sync.Mutex
	m  map[string]time.Time
}

// maxUsedMACs bounds the memory: past it a new credential is refused (a flood of valid ones
// would need the secret).
const maxUsedMACs = 100000

func (u *usedMACs) add(mac string, now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.m == nil {
		u.m = map[string]time.Time{}
	}
	if len(u.m) >= maxUsedMACs/2 {
		for k, t := range u.m {
			if now.Sub(t) > 2*clusterSkew {
				delete(u.m, k)
			}
		}
	}
	if _, dup := u.m[mac]; dup || len(u.m) >= maxUsedMACs {
		return false
	}
	u.m[mac] = now
	return true
}
