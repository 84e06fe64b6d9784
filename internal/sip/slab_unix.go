//go:build unix

package sip

import "syscall"

// newSlab returns n bytes of anonymous memory outside the Go heap (mmap): the answers kept
// for retransmissions neither count towards the collector's heap goal (GOGC would let the
// heap grow by a multiple of them) nor are ever scanned. Pages cost memory once written.
func newSlab(n int) []byte {
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return make([]byte, 0, n)
	}
	return b[:0]
}

// freeSlab gives a slab from newSlab back.
func freeSlab(b []byte) {
	if cap(b) > 0 {
		_ = syscall.Munmap(b[:cap(b)])
	}
}
