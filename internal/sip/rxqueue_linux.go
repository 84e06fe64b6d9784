package sip

import (
	"net"
	"syscall"
	"unsafe"
)

// rxQueue reads how full a UDP socket's receive queue is (SO_MEMINFO): the bytes queued
// and the kernel's limit, past which it drops arriving datagrams without a trace but a
// counter (also returned: the socket's drops so far).
type rxQueue struct {
	raw  syscall.RawConn
	info [9]uint32 // SK_MEMINFO_VARS as of Linux 4.x: RMEM_ALLOC, RCVBUF, ..., DROPS (8)
	ok   bool
	read func(uintptr) // made once: no closure per read
}

const soMeminfo = 55 // SO_MEMINFO

func newRxQueue(conn net.PacketConn) *rxQueue {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	q := &rxQueue{raw: raw}
	q.read = q.get
	return q
}

func (q *rxQueue) get(fd uintptr) {
	l := uint32(unsafe.Sizeof(q.info))
	_, _, e := syscall.RawSyscall6(syscall.SYS_GETSOCKOPT, fd, syscall.SOL_SOCKET, soMeminfo,
		uintptr(unsafe.Pointer(&q.info[0])), uintptr(unsafe.Pointer(&l)), 0)
	q.ok = e == 0 && l >= 8
}

// fill returns the bytes queued, the limit, and the datagrams dropped so far; ok false when
// the kernel does not tell.
func (q *rxQueue) fill() (queued, limit, drops uint32, ok bool) {
	if q == nil {
		return 0, 0, 0, false
	}
	q.info = [9]uint32{}
	if q.raw.Control(q.read) != nil || !q.ok {
		return 0, 0, 0, false
	}
	return q.info[0], q.info[1], q.info[8], true
}

// setUDPReadBuffer asks for n bytes of receive queue: past net.core.rmem_max when the
// process may (SO_RCVBUFFORCE, CAP_NET_ADMIN: as root), else up to rmem_max (SO_RCVBUF).
// The overload rule refuses new requests once the queue is half full (listeners.go), so
// the other half is what absorbs a stall of the server at a storm's rate: 8 MB (16 MB of
// kernel accounting) is about 200 ms at 20,000 REGISTERs/s.
func setUDPReadBuffer(c *net.UDPConn, n int) {
	if rc, err := c.SyscallConn(); err == nil {
		var serr error
		if rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, n)
		}) == nil && serr == nil {
			return
		}
	}
	_ = c.SetReadBuffer(n)
}
