package sip

import (
	"net"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/pleiades-pbx/pleiades/internal/udpbatch"
)

// batchConn is the UDP listening socket as sipgo's transport reads it. Datagrams come in up to
// readBatch at a time (recvmmsg(2) on Linux: one system call for a burst of answers to a
// NOTIFY fan-out), and each goes through take first: the answers to our own NOTIFYs, oversized
// datagrams and anything else take consumes never reach sipgo's parser. Writes, deadlines and
// Close are the socket's own. ReadFrom is called by sipgo's one reading goroutine only.
type batchConn struct {
	net.PacketConn
	rb batchReader
	// take sees each datagram first, with how long it waited in the socket's queue (-1:
	// unknown); true: consumed here.
	take   func(data []byte, from net.Addr, waited time.Duration) bool
	stamps bool // the kernel stamps arrivals (enableRxStamps)
	// queue reads the socket's receive queue fill after a full batch; behind is set while
	// it is more than half full.
	queue  *rxQueue
	behind bool
	// flush runs before the reader waits for the next batch and before a datagram goes to
	// sipgo: the answers take queued leave then (nil: none).
	flush func()

	msgs       []ipv4.Message
	bufs       [][1][]byte
	n, next    int
	whole, cut int // sizes: what is read whole, and one byte more to notice longer datagrams
}

const readBatch = 32

type batchReader interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
}

// newBatchConn's conn must be a UDP socket.

// newBatchConn wraps conn; datagrams longer than maxLen are passed to take cut at maxLen+1
// bytes (take can tell them by their length).
func newBatchConn(conn net.PacketConn, maxLen int, take func([]byte, net.Addr, time.Duration) bool, flush func()) *batchConn {
	c := &batchConn{PacketConn: conn, rb: udpbatch.For(conn), take: take, flush: flush, whole: maxLen, cut: maxLen + 1}
	c.stamps = rxStampOOBLen > 0 && enableRxStamps(conn)
	c.queue = newRxQueue(conn)
	c.msgs = make([]ipv4.Message, readBatch)
	c.bufs = make([][1][]byte, readBatch)
	for i := range c.msgs {
		c.bufs[i][0] = make([]byte, c.cut)
		c.msgs[i].Buffers = c.bufs[i][:]
		if c.stamps {
			c.msgs[i].OOB = make([]byte, rxStampOOBLen)
		}
	}
	return c
}

// queueHalfFull is the wait take is told while the socket's receive queue is more than
// half full: however short the wait so far, the server is behind, and at this rate the
// kernel will soon drop datagrams silently (it drops what arrives at a full queue).
const queueHalfFull = time.Duration(1<<63 - 1)

// waited is how long m waited between its arrival and now (-1: unknown; queueHalfFull: see
// there).
func (c *batchConn) waited(m *ipv4.Message) time.Duration {
	if c.behind {
		return queueHalfFull
	}
	if !c.stamps {
		return -1
	}
	at, ok := rxStamp(m.OOB[:m.NN])
	if !ok {
		return -1
	}
	return time.Duration(time.Now().UnixNano() - at)
}

// ReadFrom returns the next datagram take did not consume.
func (c *batchConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		for c.next < c.n {
			m := &c.msgs[c.next]
			c.next++
			data := m.Buffers[0][:m.N]
			if c.take(data, m.Addr, c.waited(m)) {
				continue
			}
			if c.flush != nil {
				c.flush()
			}
			return copy(b, data), m.Addr, nil
		}
		if c.flush != nil {
			c.flush()
		}
		c.next, c.n = 0, 0
		if c.stamps {
			for i := range c.msgs {
				c.msgs[i].OOB = c.msgs[i].OOB[:cap(c.msgs[i].OOB)]
			}
		}
		n, err := c.rb.ReadBatch(c.msgs, 0)
		if err != nil {
			return 0, nil, err
		}
		c.n = n
		// A full batch means more is waiting: read how much (one system call per full
		// batch, none when the server keeps up).
		c.behind = false
		if n == len(c.msgs) {
			if queued, limit, _, ok := c.queue.fill(); ok && limit > 0 && queued > limit/2 {
				c.behind = true
			}
		}
	}
}
