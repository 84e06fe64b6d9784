//go:build !linux

package sip

import "net"

// rxQueue: the receive queue's fill is read on Linux only (SO_MEMINFO); elsewhere the
// overload rule reads the requests' wait and the requests in progress.
type rxQueue struct{}

func newRxQueue(net.PacketConn) *rxQueue { return nil }

func (q *rxQueue) fill() (queued, limit, drops uint32, ok bool) { return 0, 0, 0, false }

func setUDPReadBuffer(c *net.UDPConn, n int) { _ = c.SetReadBuffer(n) }
