package sip

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// notifyTxs is a light client-transaction layer for NOTIFY over UDP. A hint change fans out
// one NOTIFY per subscriber; through sipgo's client transactions each costs a transaction
// object, its goroutines and timers (about 22 µs of CPU per NOTIFY round trip, so 10,000
// subscribers took 150-200 ms). Here a NOTIFY is written from bytes prepared once per dialog
// (subscription.renderHead) straight to the listening socket, and remembered by its Via branch; the 2xx (or error) response, which sipgo's
// transaction layer finds no transaction for, is handed to onResponse. Retransmission follows
// RFC 3261's non-INVITE client transaction over UDP: Timer E from T1 (500 ms) doubling to T2
// (4 s), Timer F at 64*T1 (32 s). The outcome is what sipgo's transactions gave: no final
// response (timeout), 481 or a 5xx/6xx ends the subscription; anything else keeps it.
// NOTIFYs over TCP keep sipgo's transactions (no retransmission, ordered stream).
type notifyTxs struct {
	conn   net.PacketConn
	batch  batchWriter                         // sendmmsg(2) on the same socket; nil where unavailable
	remove func(sub *subscription, status int) // a failed NOTIFY: end the subscription

	mu sync.Mutex
	m  map[string]*notifyTx // by Via branch
}

type notifyTx struct {
	raw        []byte
	to         net.Addr
	sub        *subscription
	terminated bool
	interval   time.Duration
	next       time.Time
	deadline   time.Time
}

// branchSeq numbers NOTIFY branches: "z9hG4bK" (RFC 3261's magic cookie), this process's
// random prefix, then a counter, unique without a random draw per NOTIFY.
var (
	branchSeq    atomic.Uint64
	branchPrefix = sip.GenerateBranchN(8) + "."
)

func (s *Server) nextBranch() string {
	return branchPrefix + strconv.FormatUint(branchSeq.Add(1), 36)
}

const (
	timerT1 = 500 * time.Millisecond
	timerT2 = 4 * time.Second
	timerF  = 64 * timerT1
)

func newNotifyTxs(conn net.PacketConn, remove func(*subscription, int)) *notifyTxs {
	n := &notifyTxs{conn: conn, remove: remove, m: map[string]*notifyTx{}}
	if ua, ok := conn.LocalAddr().(*net.UDPAddr); ok {
		if ua.IP.To4() != nil {
			n.batch = ipv4.NewPacketConn(conn)
		} else {
			n.batch = ipv6.NewPacketConn(conn)
		}
	}
	return n
}

// batchWriter is what ipv4.PacketConn and ipv6.PacketConn have in common.
type batchWriter interface {
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// outMsg is one NOTIFY ready to be written.
type outMsg struct {
	branch     string
	raw        []byte
	addr       netip.AddrPort
	sub        *subscription
	terminated bool
}

// sendBatch tracks and writes msgs, 64 per system call where the platform allows; it returns
// how many could not be written.
func (n *notifyTxs) sendBatch(msgs []outMsg) int {
	now := time.Now()
	out := make([]ipv4.Message, len(msgs))
	n.mu.Lock()
	for i, m := range msgs {
		to := net.UDPAddrFromAddrPort(m.addr)
		n.m[m.branch] = &notifyTx{raw: m.raw, to: to, sub: m.sub, terminated: m.terminated, interval: timerT1,
			next: now.Add(timerT1), deadline: now.Add(timerF)}
		out[i] = ipv4.Message{Buffers: [][]byte{m.raw}, Addr: to}
	}
	n.mu.Unlock()
	failed := 0
	for i := 0; i < len(out); {
		end := min(i+64, len(out))
		if n.batch != nil {
			k, err := n.batch.WriteBatch(out[i:end], 0)
			if err == nil && k > 0 {
				i += k
				continue
			}
		}
		// No batch write here (or it failed): one message the plain way. A message that cannot
		// be written at all stays tracked and goes again with the retransmissions.
		if _, err := n.conn.WriteTo(out[i].Buffers[0], out[i].Addr); err != nil {
			failed++
		}
		i++
	}
	return failed
}

// send writes raw (a NOTIFY whose top Via carries branch) to addr and tracks it.
func (n *notifyTxs) send(branch string, raw []byte, addr netip.AddrPort, sub *subscription, terminated bool) error {
	to := net.UDPAddrFromAddrPort(addr)
	now := time.Now()
	tx := &notifyTx{raw: raw, to: to, sub: sub, terminated: terminated, interval: timerT1,
		next: now.Add(timerT1), deadline: now.Add(timerF)}
	n.mu.Lock()
	n.m[branch] = tx
	n.mu.Unlock()
	if _, err := n.conn.WriteTo(raw, to); err != nil {
		n.mu.Lock()
		delete(n.m, branch)
		n.mu.Unlock()
		return err
	}
	return nil
}

// onResponse takes a response sipgo had no transaction for; it reports whether it was one of
// ours.
func (n *notifyTxs) onResponse(res *sip.Response) bool {
	via := res.Via()
	if via == nil {
		return false
	}
	branch, _ := via.Params.Get("branch")
	return n.answer(branch, res.StatusCode)
}

// answer settles the NOTIFY sent with branch by a response with status; it reports whether
// the branch was one of ours.
func (n *notifyTxs) answer(branch string, status int) bool {
	if status < 200 {
		n.mu.Lock()
		_, ok := n.m[branch]
		n.mu.Unlock()
		return ok // provisional: keep waiting (retransmissions continue, as in Timer E)
	}
	n.mu.Lock()
	tx, ok := n.m[branch]
	delete(n.m, branch)
	n.mu.Unlock()
	if !ok {
		return false
	}
	if !tx.terminated && (status == 481 || status >= 500) {
		n.remove(tx.sub, status)
	}
	return true
}

// rawAnswer recognises, before sipgo parses it, a response to one of our NOTIFYs: the status
// line's code and the top Via's branch are all it needs, which spares a full parse of every
// 200 OK of a fan-out. It reports whether data was such a response (and is consumed).
func (n *notifyTxs) rawAnswer(data []byte) bool {
	if len(data) < 12 || string(data[:8]) != "SIP/2.0 " {
		return false
	}
	status := 0
	for _, c := range data[8:11] {
		if c < '0' || c > '9' {
			return false
		}
		status = status*10 + int(c-'0')
	}
	if !bytes.Contains(data, []byte(" NOTIFY\r\n")) {
		return false
	}
	i := bytes.Index(data, []byte("\nVia:"))
	if i < 0 {
		if i = bytes.Index(data, []byte("\nv:")); i < 0 {
			return false
		}
	}
	line := data[i+1:]
	if j := bytes.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	if j := bytes.IndexByte(line, ','); j >= 0 { // the top Via only
		line = line[:j]
	}
	k := bytes.Index(line, []byte("branch="))
	if k < 0 {
		return false
	}
	branch := line[k+len("branch="):]
	if j := bytes.IndexAny(branch, ";\r \t"); j >= 0 {
		branch = branch[:j]
	}
	return n.answer(string(branch), status)
}

// run retransmits and times out until ctx ends.
func (n *notifyTxs) run(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	type resend struct {
		raw []byte
		to  net.Addr
	}
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			var out []resend
			var failed []*notifyTx
			n.mu.Lock()
			for b, tx := range n.m {
				switch {
				case !now.Before(tx.deadline):
					delete(n.m, b)
					failed = append(failed, tx)
				case !now.Before(tx.next):
					out = append(out, resend{tx.raw, tx.to})
					tx.interval = min(2*tx.interval, timerT2)
					tx.next = now.Add(tx.interval)
				}
			}
			n.mu.Unlock()
			for _, r := range out {
				n.conn.WriteTo(r.raw, r.to)
			}
			for _, tx := range failed {
				if !tx.terminated {
					n.remove(tx.sub, 408)
				}
			}
		}
	}
}
