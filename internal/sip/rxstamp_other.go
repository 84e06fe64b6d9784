//go:build !(linux && (amd64 || arm64 || riscv64 || ppc64le || ppc64 || loong64 || s390x || mips64 || mips64le))

package sip

import "net"

// enableRxStamps: arrival stamps are read on Linux only; elsewhere (and on 32-bit Linux) the overload rule counts
// requests in progress alone.
func enableRxStamps(net.PacketConn) bool { return false }

const rxStampOOBLen = 0

func rxStamp([]byte) (int64, bool) { return 0, false }
