package media

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"
)

// sock is one UDP socket of a session.
type sock interface {
	// sendTo writes b to to. It is called with the session's txMu held, so never
	// concurrently, and never after close.
	sendTo(b []byte, to netip.AddrPort) error
	close() error
	localAddr() netip.AddrPort
}

// transport opens sessions' sockets and hands what they receive to the session: handle
// for RTP, rtcpReports for RTCP.
type transport interface {
	// bind opens a UDP socket on ip:port; an error wrapping syscall.EADDRINUSE when it is
	// taken.
	bind(ip netip.Addr, port int, checksums bool) (sock, error)
	// start begins reading the session's sockets.
	start(s *Session)
	// stop ends reading them: no handle call for s begins after it returns, and none is
	// running. It may close the sockets.
	stop(s *Session)
	// shutdown stops the transport's own goroutines (Engine.Close, after every session).
	shutdown()
}

// useNetTransport makes engines read with a goroutine per socket even where the
// reactor exists (tests of that path).
var useNetTransport = false

// netTransport reads every socket with its own goroutine through the Go runtime's poller:
// the portable transport.
type netTransport struct {
	mu sync.Mutex
	wg map[*Session]*sync.WaitGroup
}

type netSock struct{ c *net.UDPConn }

func (n netSock) sendTo(b []byte, to netip.AddrPort) error {
	_, err := n.c.WriteToUDPAddrPort(b, to)
	return err
}

func (n netSock) close() error { return n.c.Close() }

func (n netSock) localAddr() netip.AddrPort {
	a := n.c.LocalAddr().(*net.UDPAddr).AddrPort()
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

func (t *netTransport) bind(ip netip.Addr, port int, checksums bool) (sock, error) {
	network := "udp4"
	if ip.Is6() {
		network = "udp6"
	}
	c, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port))))
	if err != nil {
		return nil, err
	}
	if !checksums {
		noChecksums(c)
	}
	return netSock{c}, nil
}

func (t *netTransport) start(s *Session) {
	wg := &sync.WaitGroup{}
	t.mu.Lock()
	if t.wg == nil {
		t.wg = map[*Session]*sync.WaitGroup{}
	}
	t.wg[s] = wg
	t.mu.Unlock()
	wg.Add(2)
	go func() {
		defer wg.Done()
		readLoop(s, s.rtpS.(netSock).c, s.handle)
	}()
	go func() {
		defer wg.Done()
		readLoop(s, s.rtcpS.(netSock).c, func(p []byte, _ netip.AddrPort, _ time.Time) { s.rtcpPacket(p) })
	}()
}

func (t *netTransport) stop(s *Session) {
	s.rtpS.close()
	s.rtcpS.close()
	t.mu.Lock()
	wg := t.wg[s]
	delete(t.wg, s)
	t.mu.Unlock()
	if wg != nil {
		wg.Wait()
	}
}

func (t *netTransport) shutdown() {}

func readLoop(s *Session, c *net.UDPConn, fn func([]byte, netip.AddrPort, time.Time)) {
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if s.shut.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		fn(buf[:n], from, time.Now())
	}
}

// addrInUse reports whether a bind error means the port is taken (or not ours to take).
func addrInUse(err error) bool {
	return errors.Is(err, syscall.EADDRINUSE) || errors.Is(err, syscall.EACCES)
}
