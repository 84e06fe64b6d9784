package media

import (
	"net"
	"syscall"
)

// noChecksums sets SO_NO_CHECK (rtpchecksums=no): IPv4 UDP datagrams go out without a
// checksum, as Asterisk does.
func noChecksums(c *net.UDPConn) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_NO_CHECK, 1)
	})
}
