package sip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/pleiades-pbx/pleiades/internal/logger"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

// qualify sends one OPTIONS and schedules the next (every qualifyfreq; every 10 s while
// unreachable, as chan_sip). No final response within qualify ms: UNREACHABLE.
func (p *peer) qualify(gen int) {
	cfg := p.cfg.Load()
	p.mu.Lock()
	if gen != p.qGen || !p.addr.IsValid() || p.gone {
		p.mu.Unlock()
		return
	}
	addr, transport, uri := p.addr, p.transport, p.contactURI
	p.mu.Unlock()
	timeout := time.Duration(cfg.qualifyMS) * time.Millisecond
	ctx, cancel := context.WithTimeout(p.s.ctx, timeout)
	start := time.Now()
	res, err := p.s.request(ctx, sip.OPTIONS, addr, transport, uri, p.name, nil, nil)
	cancel()
	rtt := time.Since(start)
	if p.s.ctx.Err() != nil {
		return
	}
	_ = err
	ok := res != nil // any response means reachable, as chan_sip
	p.mu.Lock()
	if gen != p.qGen {
		p.mu.Unlock()
		return
	}
	old := p.status
	if ok {
		p.status = statusOK
		p.lastms = int(rtt.Milliseconds())
		if p.lastms < 1 {
			p.lastms = 1
		}
	} else {
		p.status = statusUnreachable
		p.lastms = -1
	}
	next := cfg.qualifyFreq
	if !ok && next > unreachableRetry {
		next = unreachableRetry
	}
	p.qTimer = p.s.afterFunc(next, func() { p.qualify(gen) })
	status, lastms := p.status, p.lastms
	p.mu.Unlock()
	if old != status {
		if ok {
			p.s.log.Info(fmt.Sprintf("Peer 'SIP/%s' is now Reachable. (%dms / %dms)", p.name, lastms, cfg.qualifyMS))
		} else {
			p.s.log.Info(fmt.Sprintf("Peer 'SIP/%s' is now UNREACHABLE!  Last qualify: %d", p.name, 0))
		}
	}
	p.reportDevice()
	if cfg.realtime && p.s.set.Load().rtUpdate {
		v := lastms
		if v < 0 {
			v = 0
		}
		p.s.wb.enqueue(p.name, []realtime.Field{{Name: "lastms", Value: strconv.Itoa(v)}})
	}
}

// keepalive sends a NAT keepalive (a CRLF pair over UDP, an OPTIONS over TCP) every
// keepalive seconds.
func (p *peer) keepalive(gen int) {
	cfg := p.cfg.Load()
	p.mu.Lock()
	if gen != p.qGen || !p.addr.IsValid() || p.gone || cfg.keepalive <= 0 {
		p.mu.Unlock()
		return
	}
	addr, transport, uri := p.addr, p.transport, p.contactURI
	p.kaTimer = p.s.afterFunc(cfg.keepalive, func() { p.keepalive(gen) })
	p.mu.Unlock()
	if transport == "tcp" {
		ctx, cancel := context.WithTimeout(p.s.ctx, 2*time.Second)
		_, _ = p.s.request(ctx, sip.OPTIONS, addr, transport, uri, p.name, nil, nil)
		cancel()
		return
	}
	if _, err := p.s.udpConn.WriteTo([]byte("\r\n\r\n"), net.UDPAddrFromAddrPort(addr)); err != nil {
		p.s.log.Log(context.Background(), logger.DebugLevel(1), "SIP: keepalive not sent", "peer", p.name, "err", err)
	}
}

// request sends an out-of-dialog request (OPTIONS, NOTIFY) to a peer's contact at addr and
// waits for the final response (ctx bounds the wait).
func (s *Server) request(ctx context.Context, method sip.RequestMethod, addr netip.AddrPort, transport string, target sip.Uri, peerName string, hdrs []sip.Header, body []byte) (*sip.Response, error) {
	if !s.isRunning() {
		return nil, ErrNotStarted
	}
	req := s.newRequest(method, addr, transport, target)
	host, port := s.localHostFor(addr, transport)
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "asterisk", Host: host, Port: port}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	to := &sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: peerName, Host: addr.Addr().String(), Port: int(addr.Port())}, Params: sip.NewParams()}
	req.AppendHeader(from)
	req.AppendHeader(to)
	callID := sip.CallIDHeader(sip.GenerateTagN(24) + "@" + host)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 102, MethodName: method})
	req.AppendHeader(s.contactHeader("asterisk", host, port, transport))
	for _, h := range hdrs {
		req.AppendHeader(h)
	}
	req.SetBody(body)
	return s.do(ctx, req, addr)
}

// newRequest starts a request with our Via (sent-by: the address the peer reaches us at).
func (s *Server) newRequest(method sip.RequestMethod, addr netip.AddrPort, transport string, target sip.Uri) *sip.Request {
	target = *target.Clone()
	req := sip.NewRequest(method, target)
	req.SetTransport(strings.ToUpper(transport))
	req.SetDestination(addr.String())
	host, port := s.localHostFor(addr, transport)
	via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: strings.ToUpper(transport), Host: host, Port: port, Params: sip.NewParams()}
	via.Params.Add("branch", sip.GenerateBranch())
	via.Params.Add("rport", "")
	req.AppendHeader(via)
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	req.AppendHeader(sip.NewHeader("User-Agent", s.set.Load().userAgent))
	return req
}

// contactHeader is our Contact: user is the extension in a subscription's dialog (chan_sip's
// build_contact uses the dialog's exten), "asterisk" for the requests of qualify and MWI.
func (s *Server) contactHeader(user, host string, port int, transport string) *sip.ContactHeader {
	u := sip.Uri{Scheme: "sip", User: user, Host: host, Port: port, UriParams: sip.NewParams()}
	if transport == "tcp" {
		u.UriParams.Add("transport", "tcp")
	}
	return &sip.ContactHeader{Address: u}
}

// do runs a client transaction and returns the final response.
func (s *Server) do(ctx context.Context, req *sip.Request, addr netip.AddrPort) (*sip.Response, error) {
	s.debugOut(req, addr.String())
	s.fromListener(req)
	tx, err := s.client.TransactionRequest(ctx, req)
	if err != nil {
		return nil, err
	}
	res, err := finalResponse(ctx, tx)
	if err != nil {
		return nil, err
	}
	if res.StatusCode >= 300 {
		return res, fmt.Errorf("sip: %d %s", res.StatusCode, res.Reason)
	}
	return res, nil
}

// finalResponse waits for the final response of tx and terminates it.
//
// sipgo hands the final response over before it arms Timer D (32 s) under its FSM lock; a
// Terminate right after receiving would run before the timer exists and leave the
// transaction referenced by that timer for 32 s (sipgo's Client.Do has this race). Err takes
// the FSM lock, so calling it first waits for the FSM step to finish; Terminate then stops
// the timer and the transaction is freed at once.
func finalResponse(ctx context.Context, tx sip.ClientTransaction) (*sip.Response, error) {
	defer func() {
		_ = tx.Err()
		tx.Terminate()
	}()
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			return res, nil
		case <-tx.Done():
			if err := tx.Err(); err != nil {
				return nil, err
			}
			return nil, errors.New("sip: transaction ended without a response")
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
