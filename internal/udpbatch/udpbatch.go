// Package udpbatch is batched I/O on a UDP socket: sendmmsg(2) and recvmmsg(2) through
// golang.org/x/net (one message per system call where the platform has no batch calls), and
// more descriptors of one socket for writers that must not wait for one another (Go serialises
// the writes made through one descriptor).
package udpbatch

import (
	"net"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Conn reads and writes batches of messages on one socket. ipv4.Message and ipv6.Message are
// the same type.
type Conn interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// For returns the batch view of conn, IPv4 or IPv6 after its local address; nil when conn is
// not a UDP socket.
func For(conn net.PacketConn) Conn {
	ua, ok := conn.LocalAddr().(*net.UDPAddr)
	switch {
	case !ok:
		return nil
	case ua.IP.To4() != nil:
		return ipv4.NewPacketConn(conn)
	default:
		return ipv6.NewPacketConn(conn)
	}
}

// Dup returns up to n more descriptors of conn's socket (dup(2)): the same socket, so the same
// source address and port, each with its own write lock. The caller closes them; the socket
// stays open (and its port bound) until conn and every one of them is closed. Fewer than n
// come back when the system refuses more.
func Dup(conn *net.UDPConn, n int) []net.PacketConn {
	var out []net.PacketConn
	for range n {
		f, err := conn.File()
		if err != nil {
			break
		}
		c, err := net.FilePacketConn(f)
		f.Close()
		if err != nil {
			break
		}
		out = append(out, c)
	}
	return out
}
