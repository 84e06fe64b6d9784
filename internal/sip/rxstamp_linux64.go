//go:build linux && (amd64 || arm64 || riscv64 || ppc64le || ppc64 || loong64 || s390x || mips64 || mips64le)

package sip

import (
	"encoding/binary"
	"net"
	"syscall"
)

// enableRxStamps asks the kernel to stamp every datagram conn receives with the time it
// arrived (SO_TIMESTAMPNS): how long a request waited in the socket's queue is what the
// overload rule reads (overload.go). It reports whether the socket took the option.
func enableRxStamps(conn net.PacketConn) bool {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	}); err != nil || serr != nil {
		return false
	}
	return true
}

// rxStampOOBLen is room for one SCM_TIMESTAMPNS control message.
const rxStampOOBLen = 64

// rxStamp returns the arrival time (Unix ns) carried by a datagram's control messages.
func rxStamp(oob []byte) (int64, bool) {
	const hdr = 16 // struct cmsghdr on 64-bit Linux: len uint64, level int32, type int32
	for len(oob) >= hdr {
		l := int(binary.NativeEndian.Uint64(oob[0:8]))
		if l < hdr || l > len(oob) {
			return 0, false
		}
		level := int32(binary.NativeEndian.Uint32(oob[8:12]))
		typ := int32(binary.NativeEndian.Uint32(oob[12:16]))
		if level == syscall.SOL_SOCKET && typ == syscall.SCM_TIMESTAMPNS && l >= hdr+16 {
			sec := int64(binary.NativeEndian.Uint64(oob[hdr : hdr+8]))
			nsec := int64(binary.NativeEndian.Uint64(oob[hdr+8 : hdr+16]))
			return sec*1e9 + nsec, true
		}
		l = (l + 7) &^ 7 // CMSG_ALIGN
		if l > len(oob) {
			return 0, false
		}
		oob = oob[l:]
	}
	return 0, false
}
