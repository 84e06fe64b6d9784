package media

import (
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// noChecksums sets SO_NO_CHECK (rtpchecksums=no) on a socket of the portable transport.
func noChecksums(c *net.UDPConn) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_NO_CHECK, 1)
	})
}

// newTransport is the reactor on Linux: GOMAXPROCS epoll sets, each read by one
// goroutine parked in the Go runtime's poller (the epoll descriptor is itself pollable),
// so that one wake-up serves every socket ready at that moment, a socket costs one
// recvfrom per packet (no second read to learn it is empty), and a session costs no
// goroutine. It falls back to a goroutine per socket when the reactor cannot be made.
func newTransport() transport {
	if useNetTransport || os.Getenv("PLEIADES_RTP_TRANSPORT") == "goroutines" {
		return &netTransport{}
	}
	t, err := newReactorTransport(runtime.GOMAXPROCS(0))
	if err != nil {
		return &netTransport{}
	}
	return t
}

type reactorTransport struct {
	rs   []*reactor
	wg   sync.WaitGroup
	mu   sync.Mutex
	next int
	of   map[*Session]*reactor
}

type reactor struct {
	epfd   int
	f      *os.File
	rc     syscall.RawConn
	pollFn func(uintptr) bool // r.poll, made once: no closure per wait

	mu    sync.Mutex     // guards socks; held while the packets of one wait are handled
	socks []reactorEntry // indexed by descriptor

	// Used by run alone.
	n      int
	events []syscall.EpollEvent
	buf    []byte
	sa     syscall.RawSockaddrAny
	salen  uint32
}

type reactorEntry struct {
	s    *Session
	rtcp bool
}

func newReactorTransport(n int) (*reactorTransport, error) {
	t := &reactorTransport{of: map[*Session]*reactor{}}
	for range max(n, 1) {
		epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			t.closeAll()
			return nil, err
		}
		if err := syscall.SetNonblock(epfd, true); err != nil {
			syscall.Close(epfd)
			t.closeAll()
			return nil, err
		}
		f := os.NewFile(uintptr(epfd), "rtp-epoll")
		// A descriptor the runtime's poller took answers deadlines.
		if err := f.SetReadDeadline(time.Time{}); err != nil {
			f.Close()
			t.closeAll()
			return nil, err
		}
		rc, err := f.SyscallConn()
		if err != nil {
			f.Close()
			t.closeAll()
			return nil, err
		}
		r := &reactor{epfd: epfd, f: f, rc: rc,
			events: make([]syscall.EpollEvent, 256), buf: make([]byte, 1500)}
		r.pollFn = r.poll
		t.rs = append(t.rs, r)
	}
	for _, r := range t.rs {
		t.wg.Add(1)
		go r.run(&t.wg)
	}
	return t, nil
}

func (t *reactorTransport) closeAll() {
	for _, r := range t.rs {
		r.f.Close()
	}
}

// poll is the RawConn.Read callback: take what is ready without waiting; false makes the
// runtime wait until the epoll descriptor is readable.
func (r *reactor) poll(uintptr) bool {
	n, err := r.epollNow()
	for err == syscall.EINTR {
		// Interrupted with events possibly pending: with no new edge the runtime would not
		// wake us for them.
		n, err = r.epollNow()
	}
	if err != 0 || n <= 0 {
		r.n = 0
		return false
	}
	r.n = n
	return true
}

// epollNow takes the ready events without waiting. Every system call of the relay path is
// made with RawSyscall6: none of them blocks (timeout 0, non-blocking sockets), so telling
// the scheduler about them (entersyscall/exitsyscall) is pure cost. (On the 2-vCPU VM of
// docs/performance.md the difference drowned in the run-to-run spread of the relay's CPU.)
func (r *reactor) epollNow() (int, syscall.Errno) {
	n, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(r.epfd), uintptr(unsafe.Pointer(&r.events[0])), uintptr(len(r.events)), 0, 0, 0)
	return int(n), e
}

func (r *reactor) run(wg *sync.WaitGroup) {
	defer wg.Done()
	for {
		if err := r.rc.Read(r.pollFn); err != nil {
			return // closed
		}
		// One clock reading per wake-up: the packets were all there when epoll said so.
		now := time.Now()
		r.mu.Lock()
		for i := range r.n {
			ev := &r.events[i]
			if int(ev.Fd) >= len(r.socks) || r.socks[ev.Fd].s == nil {
				continue
			}
			e := r.socks[ev.Fd]
			// One read per readiness: a socket with more waiting is reported again.
			n, from, ok := r.recv(int(ev.Fd))
			if !ok {
				continue
			}
			if e.rtcp {
				e.s.rtcpPacket(r.buf[:n])
			} else {
				e.s.handle(r.buf[:n], from, now)
			}
		}
		r.mu.Unlock()
	}
}

func (r *reactor) recv(fd int) (int, netip.AddrPort, bool) {
	r.salen = syscall.SizeofSockaddrAny
	n, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&r.buf[0])), uintptr(len(r.buf)),
		0, uintptr(unsafe.Pointer(&r.sa)), uintptr(unsafe.Pointer(&r.salen)))
	if e != 0 {
		return 0, netip.AddrPort{}, false
	}
	return int(n), addrPortOf(&r.sa), true
}

func netPort(p *uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(p))
	return uint16(b[0])<<8 | uint16(b[1])
}

func setNetPort(p *uint16, v uint16) {
	b := (*[2]byte)(unsafe.Pointer(p))
	b[0], b[1] = byte(v>>8), byte(v)
}

func addrPortOf(sa *syscall.RawSockaddrAny) netip.AddrPort {
	switch sa.Addr.Family {
	case syscall.AF_INET:
		p := (*syscall.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(p.Addr), netPort(&p.Port))
	case syscall.AF_INET6:
		p := (*syscall.RawSockaddrInet6)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom16(p.Addr).Unmap(), netPort(&p.Port))
	}
	return netip.AddrPort{}
}

func (t *reactorTransport) bind(ip netip.Addr, port int, checksums bool) (sock, error) {
	family := syscall.AF_INET
	if ip.Is6() {
		family = syscall.AF_INET6
	}
	fd, err := syscall.Socket(family, syscall.SOCK_DGRAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	var sa syscall.Sockaddr
	if ip.Is6() {
		syscall.SetsockoptInt(fd, syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY, 1)
		sa = &syscall.SockaddrInet6{Port: port, Addr: ip.As16()}
	} else {
		if !checksums {
			syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_NO_CHECK, 1)
		}
		sa = &syscall.SockaddrInet4{Port: port, Addr: ip.As4()}
	}
	if err := syscall.Bind(fd, sa); err != nil {
		syscall.Close(fd)
		return nil, os.NewSyscallError("bind", err)
	}
	return &rawSock{fd: fd, local: netip.AddrPortFrom(ip, uint16(port)), v6: ip.Is6()}, nil
}

func (t *reactorTransport) start(s *Session) {
	t.mu.Lock()
	r := t.rs[t.next%len(t.rs)]
	t.next++
	t.of[s] = r
	t.mu.Unlock()
	r.mu.Lock()
	for _, e := range []reactorEntry{{s, false}, {s, true}} {
		fd := s.rtpS.(*rawSock).fd
		if e.rtcp {
			fd = s.rtcpS.(*rawSock).fd
		}
		if fd >= len(r.socks) {
			r.socks = append(r.socks, make([]reactorEntry, fd+1-len(r.socks))...)
		}
		r.socks[fd] = e
		syscall.EpollCtl(r.epfd, syscall.EPOLL_CTL_ADD, fd, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(fd)})
	}
	r.mu.Unlock()
}

func (t *reactorTransport) stop(s *Session) {
	t.mu.Lock()
	r := t.of[s]
	delete(t.of, s)
	t.mu.Unlock()
	if r == nil {
		return
	}
	r.mu.Lock()
	for _, sk := range []sock{s.rtpS, s.rtcpS} {
		fd := sk.(*rawSock).fd
		syscall.EpollCtl(r.epfd, syscall.EPOLL_CTL_DEL, fd, nil)
		if fd < len(r.socks) {
			r.socks[fd] = reactorEntry{}
		}
	}
	r.mu.Unlock()
}

func (t *reactorTransport) shutdown() {
	t.closeAll()
	t.wg.Wait()
}

// rawSock is a non-blocking UDP socket read by a reactor and written with sendto.
type rawSock struct {
	fd    int
	local netip.AddrPort
	v6    bool
	// The destination of the last sendTo, kept as a socket address (guarded by the
	// session's txMu like every sendTo).
	to  netip.AddrPort
	sa4 syscall.RawSockaddrInet4
	sa6 syscall.RawSockaddrInet6
}

func (r *rawSock) sendTo(b []byte, to netip.AddrPort) error {
	if len(b) == 0 {
		return nil
	}
	if to != r.to {
		if r.v6 {
			r.sa6 = syscall.RawSockaddrInet6{Family: syscall.AF_INET6, Addr: to.Addr().As16()}
			setNetPort(&r.sa6.Port, to.Port())
		} else {
			if !to.Addr().Unmap().Is4() {
				return syscall.EAFNOSUPPORT
			}
			r.sa4 = syscall.RawSockaddrInet4{Family: syscall.AF_INET, Addr: to.Addr().Unmap().As4()}
			setNetPort(&r.sa4.Port, to.Port())
		}
		r.to = to
	}
	sa, size := unsafe.Pointer(&r.sa4), uintptr(syscall.SizeofSockaddrInet4)
	if r.v6 {
		sa, size = unsafe.Pointer(&r.sa6), uintptr(syscall.SizeofSockaddrInet6)
	}
	_, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(r.fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0, uintptr(sa), size)
	if e != 0 {
		return e
	}
	return nil
}

func (r *rawSock) close() error { return syscall.Close(r.fd) }

func (r *rawSock) localAddr() netip.AddrPort { return r.local }
