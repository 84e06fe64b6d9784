package sip

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/pleiades-pbx/pleiades/internal/channel"
)

// SetDelivery sets what runs an incoming call another cluster member sends for one of our
// registered peers: fn(ch, "SIP/bob") dials the peer and bridges (the core gives the dialplan
// engine's Deliverer). Without it such calls are refused as an unknown extension (404).
func (s *Server) SetDelivery(fn func(ch *channel.Channel, dest string)) { s.deliver.Store(&fn) }

// remoteLocation finds another member's registration of peer, unless the call asking for it
// came from another member itself (a call is delivered by the server holding the
// registration, never passed on again: no loops between servers that disagree for a moment).
func (s *Server) remoteLocation(peer string, requestor *channel.Channel) (Location, bool) {
	if s.locs == nil {
		return Location{}, false
	}
	if requestor != nil {
		if rc, ok := requestor.Tech().(*call); ok && rc.fromCluster {
			return Location{}, false
		}
	}
	locs := s.locs.Lookup(peer)
	if len(locs) == 0 {
		return Location{}, false
	}
	return locs[0], true
}

// remoteCall makes the outgoing call to p through the member holding its registration: the
// INVITE goes to that server's SIP address with sip:<peer>[/<exten>]@server as Request-URI and
// the credential keyed with that server's secret.
func (s *Server) remoteCall(p *peer, loc Location, exten string) *call {
	c := s.newCall(p, p.name, true, loc.Addr, "udp")
	c.callID = sip.GenerateTagN(24) + "@" + c.lhost
	c.key = dialogKey(c.callID, c.localTag)
	user := p.name
	if exten != "" {
		user += "/" + exten
	}
	c.target = sip.Uri{Scheme: "sip", User: user, Host: loc.Addr.Addr().String(), Port: int(loc.Addr.Port())}
	c.clusterCred = clusterCredential(s.self, loc.Secret, c.callID, c.localTag, user, time.Now())
	return c
}

// validDeliveryUser reports whether a cluster call's Request-URI user is "peer" or
// "peer/exten" with nothing a dial string would read otherwise ("&", ",", "(").
func validDeliveryUser(u string) bool {
	name, exten, _ := strings.Cut(u, "/")
	ok := func(s string, extra string) bool {
		if s == "" || len(s) > 80 {
			return false
		}
		for _, r := range s {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-+"+extra, r)) {
				return false
			}
		}
		return true
	}
	return ok(name, "") && (!strings.Contains(u, "/") || ok(exten, "*#"))
}

// clusterInvite takes an INVITE carrying the cluster header: its credential must verify with
// our secret, and its Request-URI must name a peer of ours. It returns the peer and the dial
// string's resource; ok is false when a response was sent (403 for a bad credential, 404 for
// an unknown peer).
func (s *Server) clusterInvite(req *sip.Request, tx sip.ServerTransaction, src netip.AddrPort, value string) (*peer, string, bool) {
	user := req.Recipient.User
	fromTag, _ := req.From().Params.Get("tag")
	refuse := func(why string) (*peer, string, bool) {
		s.log.Warn(fmt.Sprintf("Cluster call from %s to '%s' refused: %s", src, logValue(user), why))
		// and as any failed authentication: chan_sip's NOTICE, a security event, and a count
		// towards maxauthfailures for the source
		s.authFailed(req, user, src, failClusterCredential, true)
		s.reply(req, tx, 403, "Forbidden")
		return nil, "", false
	}
	if s.locs == nil {
		return refuse("this server takes no cluster calls")
	}
	if !validDeliveryUser(user) {
		return refuse("bad Request-URI")
	}
	from, err := s.checkCredential(value, req.CallID().Value(), fromTag, user, time.Now())
	if err != nil {
		return refuse(fmt.Sprintf("%v (claimed server %s)", err, logValue(from)))
	}
	name, _, _ := strings.Cut(user, "/")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	p, err := s.findPeer(ctx, name)
	cancel()
	if err != nil || p == nil {
		s.reply(req, tx, 404, "Not Found")
		return nil, "", false
	}
	s.authenticated(req)
	return p, user, true
}

// q850Cause reads the cause of a "Reason: Q.850;cause=N" header (RFC 3326), which a member
// puts on its final response to a cluster call, so that Dial here gets the far Dial's
// cause (CHANUNAVAIL rather than the NOANSWER a plain 480 would give).
func q850Cause(res *sip.Response) (channel.Cause, bool) {
	for _, h := range res.GetHeaders("Reason") {
		proto, params, _ := strings.Cut(h.Value(), ";")
		if !strings.EqualFold(strings.TrimSpace(proto), "Q.850") {
			continue
		}
		for _, p := range strings.Split(params, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.EqualFold(k, "cause") {
				if n, err := strconv.Atoi(v); err == nil && n > 0 && n < 128 {
					return channel.Cause(n), true
				}
			}
		}
	}
	return 0, false
}
