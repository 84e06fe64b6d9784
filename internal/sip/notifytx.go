package sip

import (
	"bytes"
	"context"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
	"golang.org/x/net/ipv4"

	"github.com/pleiades-pbx/pleiades/internal/udpbatch"
)

// notifyTxs is a light client-transaction layer for NOTIFY over UDP. A hint change fans out
// one NOTIFY per subscriber; through sipgo's client transactions each costs a transaction
// object, its goroutines and timers (about 22 µs of CPU per NOTIFY round trip, so 10,000
// subscribers took 150-200 ms). Here a NOTIFY is written from bytes prepared once per dialog
// (subscription.prepareUDP) straight to the listening socket, and remembered by the number in
// its Via branch; its response is settled by rawAnswer as the socket is read (batchConn),
// before sipgo parses anything (onResponse takes any that reach sipgo's transaction layer
// all the same). Retransmission follows
// RFC 3261's non-INVITE client transaction over UDP: Timer E from T1 (500 ms) doubling to T2
// (4 s), Timer F at 64*T1 (32 s). The outcome is what sipgo's transactions gave: no final
// response (timeout), 481 or a 5xx/6xx ends the subscription; anything else keeps it.
// NOTIFYs over TCP keep sipgo's transactions (no retransmission, ordered stream).
type notifyTxs struct {
	conn   net.PacketConn
	batch  batchWriter                         // sendmmsg(2) on the same socket; nil where unavailable
	remove func(sub *subscription, status int) // a failed NOTIFY: end the subscription

	// writers are more descriptors of the same socket (dup(2)), one per fan-out worker: Go
	// serialises the writes on one descriptor, so the workers of a fan-out would otherwise
	// take turns (10,000 NOTIFYs on loopback: 53 ms through one descriptor, 31 ms through two).
	// Same socket, same source address and port.
	writers []batchWriter
	files   []net.PacketConn

	// The NOTIFYs awaiting an answer, by branch number, in shards so that the fan-out's
	// workers and the reader answering them rarely wait for one another.
	shards [txShards]txShard
}

const txShards = 32

type txShard struct {
	mu sync.Mutex
	m  map[uint64]*notifyTx
	_  [40]byte // keep shards on separate cache lines
}

func (n *notifyTxs) shard(seq uint64) *txShard { return &n.shards[seq%txShards] }

type notifyTx struct {
	raw        []byte
	to         *net.UDPAddr
	sub        *subscription
	terminated bool
	interval   time.Duration
	next       time.Time
	deadline   time.Time
	blk        *txBlock // where raw and this transaction live (nil: allocated alone)
}

// txBlock holds a batch's transactions and their texts. A fan-out sends tens of thousands of
// NOTIFYs, each kept until its answer comes; allocating them one by one made the garbage
// collector a tenth of the server's work in a fan-out. A block goes back to the pool when the
// last of its NOTIFYs is settled (answered or timed out), and only then.
type txBlock struct {
	txs  [batchSize]notifyTx
	slab []byte
	live atomic.Int32
}

const slabSize = 96 << 10 // room for batchSize NOTIFYs of 1.5 KB

var txBlocks = sync.Pool{New: func() any { return &txBlock{slab: make([]byte, 0, slabSize)} }}

// release settles tx for its block; tx must not be used afterwards.
func (tx *notifyTx) release() {
	if b := tx.blk; b != nil && b.live.Add(-1) == 0 {
		clear(b.txs[:])
		b.slab = b.slab[:0]
		txBlocks.Put(b)
	}
}

// A NOTIFY's Via branch is "z9hG4bK" (RFC 3261's magic cookie), this process's random
// prefix, then a counter in base 36: unique without a random draw per NOTIFY, and the
// counter is the key its answer is matched by.
var (
	branchSeq    atomic.Uint64
	branchPrefix = sip.GenerateBranchN(8) + "."
)

func nextBranchSeq() uint64 { return branchSeq.Add(1) }

// appendBranch appends the branch text of NOTIFY number seq.
func appendBranch(dst []byte, seq uint64) []byte {
	return strconv.AppendUint(append(dst, branchPrefix...), seq, 36)
}

// parseBranch returns the number of one of our branches.
func parseBranch(b []byte) (uint64, bool) {
	if len(b) <= len(branchPrefix) || string(b[:len(branchPrefix)]) != branchPrefix {
		return 0, false
	}
	b = b[len(branchPrefix):]
	if len(b) > 13 { // 36^13 > 2^64
		return 0, false
	}
	var v uint64
	for _, c := range b {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'z':
			d = c - 'a' + 10
		default:
			return 0, false
		}
		if v > (1<<64-1-uint64(d))/36 {
			return 0, false
		}
		v = v*36 + uint64(d)
	}
	return v, true
}

const (
	timerT1 = 500 * time.Millisecond
	timerT2 = 4 * time.Second
	timerF  = 64 * timerT1
)

func newNotifyTxs(conn net.PacketConn, remove func(*subscription, int)) *notifyTxs {
	n := &notifyTxs{conn: conn, remove: remove}
	for i := range n.shards {
		n.shards[i].m = map[uint64]*notifyTx{}
	}
	if b := udpbatch.For(conn); b != nil {
		n.batch = b
		if uc, ok := conn.(*net.UDPConn); ok {
			for _, c := range udpbatch.Dup(uc, runtime.GOMAXPROCS(0)) {
				n.files = append(n.files, c)
				n.writers = append(n.writers, udpbatch.For(c))
			}
		}
	}
	return n
}

// writer returns fan-out worker w's descriptor of the socket.
func (n *notifyTxs) writer(w int) batchWriter {
	if len(n.writers) == 0 {
		return n.batch
	}
	return n.writers[w%len(n.writers)]
}

// close closes the extra descriptors (the socket is closed by its owner; it stays bound
// until every descriptor is closed).
func (n *notifyTxs) close() {
	for _, c := range n.files {
		c.Close()
	}
}

// batchWriter writes batches of messages (udpbatch.Conn).
type batchWriter interface {
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// outMsg is one NOTIFY ready to be written.
type outMsg struct {
	seq        uint64 // its branch number
	raw        []byte
	to         *net.UDPAddr
	sub        *subscription
	terminated bool
}

// notifyBatch collects a fan-out worker's NOTIFYs and writes them batchSize at a time. Their
// texts and transactions live in a txBlock taken from a pool.
type notifyBatch struct {
	w    batchWriter // nil: the socket's own descriptor
	msgs []outMsg
	out  [batchSize]ipv4.Message
	bufs [batchSize][1][]byte
	blk  *txBlock
}

const batchSize = 64

func newNotifyBatch() *notifyBatch { return &notifyBatch{msgs: make([]outMsg, 0, batchSize)} }

func (b *notifyBatch) full() bool { return len(b.msgs) == batchSize }

// buffer returns an empty slice with room for size bytes, from the block's slab when it has
// room (else allocated alone); commit takes the bytes appended to it out of the slab.
func (b *notifyBatch) buffer(size int) []byte {
	if b.blk == nil {
		b.blk = txBlocks.Get().(*txBlock)
	}
	sl := b.blk.slab
	if cap(sl)-len(sl) < size {
		return make([]byte, 0, size)
	}
	return sl[len(sl):]
}

func (b *notifyBatch) commit(raw []byte) []byte {
	// raw is in the slab when it starts where the slab ends (buffer may have allocated it alone)
	if sl := b.blk.slab; len(raw) > 0 && cap(sl) > len(sl) && &sl[:len(sl)+1][len(sl)] == &raw[0] {
		b.blk.slab = sl[:len(sl)+len(raw)]
	}
	return raw[:len(raw):len(raw)]
}

// flush tracks and writes the collected NOTIFYs, batchSize per system call where the platform
// allows; it returns how many could not be written.
func (n *notifyTxs) flush(b *notifyBatch) int {
	if len(b.msgs) == 0 {
		return 0
	}
	blk := b.blk
	if blk == nil {
		blk = txBlocks.Get().(*txBlock)
	}
	b.blk = nil // the block now belongs to its transactions
	blk.live.Store(int32(len(b.msgs)))
	now := time.Now()
	for i, m := range b.msgs {
		tx := &blk.txs[i]
		*tx = notifyTx{raw: m.raw, to: m.to, sub: m.sub, terminated: m.terminated, interval: timerT1,
			next: now.Add(timerT1), deadline: now.Add(timerF), blk: blk}
		b.bufs[i][0] = m.raw
		b.out[i] = ipv4.Message{Buffers: b.bufs[i][:], Addr: m.to}
		sh := n.shard(m.seq)
		sh.mu.Lock()
		sh.m[m.seq] = tx
		sh.mu.Unlock()
	}
	out := b.out[:len(b.msgs)]
	w := b.w
	if w == nil {
		w = n.batch
	}
	failed := 0
	for i := 0; i < len(out); {
		if w != nil {
			k, err := w.WriteBatch(out[i:], 0)
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
	clear(b.msgs)
	b.msgs = b.msgs[:0]
	for i := range out {
		out[i] = ipv4.Message{}
		b.bufs[i][0] = nil
	}
	return failed
}

// send writes raw (a NOTIFY whose top Via carries branch number seq) to addr and tracks it.
func (n *notifyTxs) send(seq uint64, raw []byte, to *net.UDPAddr, sub *subscription, terminated bool) error {
	now := time.Now()
	tx := &notifyTx{raw: raw, to: to, sub: sub, terminated: terminated, interval: timerT1,
		next: now.Add(timerT1), deadline: now.Add(timerF)}
	sh := n.shard(seq)
	sh.mu.Lock()
	sh.m[seq] = tx
	sh.mu.Unlock()
	if _, err := n.conn.WriteTo(raw, to); err != nil {
		sh.mu.Lock()
		delete(sh.m, seq)
		sh.mu.Unlock()
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
	seq, ok := parseBranch([]byte(branch))
	return ok && n.answer(seq, res.StatusCode)
}

// answer settles NOTIFY number seq by a response with status; it reports whether it was one
// of ours (and still pending).
func (n *notifyTxs) answer(seq uint64, status int) bool {
	sh := n.shard(seq)
	sh.mu.Lock()
	tx, ok := sh.m[seq]
	if ok && status >= 200 { // provisional: keep waiting (retransmissions continue, as in Timer E)
		delete(sh.m, seq)
	}
	sh.mu.Unlock()
	if !ok || status < 200 {
		return ok
	}
	sub, terminated := tx.sub, tx.terminated
	tx.release()
	if !terminated && (status == 481 || status >= 500) {
		n.remove(sub, status)
	}
	return true
}

// pending reports whether NOTIFY number seq awaits its answer.
func (n *notifyTxs) pending(seq uint64) bool {
	sh := n.shard(seq)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	_, ok := sh.m[seq]
	return ok
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
	seq, ok := parseBranch(branch)
	return ok && n.answer(seq, status)
}

// run retransmits and times out until ctx ends.
func (n *notifyTxs) run(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	type resend struct {
		raw []byte
		to  net.Addr
	}
	var out []resend
	var failed []*subscription
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			out, failed = out[:0], failed[:0]
			for i := range n.shards {
				sh := &n.shards[i]
				sh.mu.Lock()
				for seq, tx := range sh.m {
					switch {
					case !now.Before(tx.deadline):
						delete(sh.m, seq)
						if !tx.terminated {
							failed = append(failed, tx.sub)
						}
						tx.release()
					case !now.Before(tx.next):
						// a copy: once answered, the text's block may be reused
						out = append(out, resend{append([]byte(nil), tx.raw...), tx.to})
						tx.interval = min(2*tx.interval, timerT2)
						tx.next = now.Add(tx.interval)
					}
				}
				sh.mu.Unlock()
			}
			for _, r := range out {
				n.conn.WriteTo(r.raw, r.to)
			}
			for _, sub := range failed {
				n.remove(sub, 408)
			}
			clear(out)
			clear(failed)
		}
	}
}
