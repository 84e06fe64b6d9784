// Package netaccepttest injects accept errors into a real listener, for the tests of servers
// built on netaccept.
package netaccepttest

import (
	"net"
	"sync/atomic"
	"syscall"
)

// Failing returns a listener whose first n Accept calls fail with EMFILE ("too many open
// files", wrapped as net.Listener.Accept wraps it), then accepts from ln.
func Failing(ln net.Listener, n int) net.Listener {
	f := &failing{Listener: ln}
	f.left.Store(int64(n))
	return f
}

type failing struct {
	net.Listener
	left atomic.Int64
}

func (f *failing) Accept() (net.Conn, error) {
	if f.left.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: f.Addr(), Err: syscall.EMFILE}
	}
	return f.Listener.Accept()
}
