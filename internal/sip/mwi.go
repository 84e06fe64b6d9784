package sip

import (
	"context"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/pleiades-pbx/pleiades/internal/logger"
)

// Message waiting: in-dialog and unsolicited message-summary NOTIFYs.

// mailboxCounts sums the counts of several mailboxes.
func (s *Server) mailboxCounts(boxes []string) (nw, old, urg int) {
	if s.mb == nil {
		return
	}
	for _, b := range boxes {
		n, o, u, ok := s.mb.Get(b)
		if ok {
			nw, old, urg = nw+n, old+o, urg+u
		}
	}
	return
}

func (s *Server) messageAccount(peer, host string) string {
	set := s.set.Load()
	ext := set.vmExten
	s.mu.RLock()
	if p := s.peers[peer]; p != nil && p.cfg.Load().vmExten != "" {
		ext = p.cfg.Load().vmExten
	}
	s.mu.RUnlock()
	if set.fromDomain != "" {
		host = set.fromDomain
	}
	return "sip:" + ext + "@" + host
}

// mailboxChanged is the Mailboxes.Watch callback: unsolicited NOTIFYs to every registered
// peer with that mailbox, and in-dialog NOTIFYs to message-summary subscriptions.
func (s *Server) mailboxChanged(mailbox string, _, _, _ int) {
	var targets []*peer
	for _, p := range s.allPeers() {
		for _, m := range p.cfg.Load().mailboxes {
			if m == mailbox {
				targets = append(targets, p)
				break
			}
		}
	}
	var subs []*subscription
	for _, sub := range s.subs.snapshot() {
		if sub.kind != kindMWI {
			continue
		}
		for _, m := range sub.mailboxes {
			if m == mailbox {
				subs = append(subs, sub)
				break
			}
		}
	}
	s.spawn(func() {
		for _, sub := range subs {
			sub.notify(0, false, "", true)
		}
		for _, p := range targets {
			s.sendMWI(p)
		}
	})
}

// sendMWI sends an unsolicited message-summary NOTIFY to a registered peer with mailbox=
// (skipped when the peer has a message-summary subscription: that dialog gets it).
func (s *Server) sendMWI(p *peer) {
	cfg := p.cfg.Load()
	if len(cfg.mailboxes) == 0 || !s.isRunning() {
		return
	}
	for _, sub := range s.subs.snapshot() {
		if sub.kind == kindMWI && sub.peer == p.name {
			return
		}
	}
	p.mu.Lock()
	addr, transport, uri := p.addr, p.transport, p.contactURI
	p.mu.Unlock()
	if !addr.IsValid() {
		return
	}
	nw, old, urg := s.mailboxCounts(cfg.mailboxes)
	host, _ := s.localHostFor(addr, transport)
	body := mwiBody(nw, old, urg, s.messageAccount(p.name, host))
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	s.stats.notifies.Add(1)
	_, err := s.request(ctx, sip.NOTIFY, addr, transport, uri, p.name, []sip.Header{
		sip.NewHeader("Event", "message-summary"),
		sip.NewHeader("Subscription-State", "active"),
		sip.NewHeader("Content-Type", "application/simple-message-summary"),
	}, body)
	if err != nil {
		s.stats.notifyFailures.Add(1)
		s.log.Log(context.Background(), logger.DebugLevel(1), "SIP: MWI NOTIFY failed", "peer", p.name, "err", err)
	}
}
