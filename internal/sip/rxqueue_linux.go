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
