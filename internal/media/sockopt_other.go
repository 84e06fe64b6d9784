//go:build !linux

package media

import "net"

// noChecksums: SO_NO_CHECK exists on Linux only; elsewhere rtpchecksums=no changes nothing.
func noChecksums(*net.UDPConn) {}

// newTransport: a goroutine per socket where there is no reactor.
func newTransport() transport { return &netTransport{} }
