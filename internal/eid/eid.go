// Package eid holds the Entity ID: six bytes that name a server in a cluster, written
// xx:xx:xx:xx:xx:xx (Asterisk's ast_eid).
package eid

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// EID is an Entity ID.
type EID [6]byte

func (e EID) String() string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", e[0], e[1], e[2], e[3], e[4], e[5])
}

// IsZero reports whether every byte is zero.
func (e EID) IsZero() bool { return e == EID{} }

// Parse reads "xx:xx:xx:xx:xx:xx" (also accepting "-" as separator). An all-zero value is an
// error, as it cannot name a server.
func Parse(s string) (EID, error) {
	var e EID
	bad := fmt.Errorf("malformed Entity ID %q: want six hex bytes like 00:11:22:aa:bb:cc", s)
	parts := strings.FieldsFunc(strings.TrimSpace(s), func(r rune) bool { return r == ':' || r == '-' })
	if len(parts) != 6 {
		return e, bad
	}
	for i, p := range parts {
		if len(p) != 2 {
			return e, bad
		}
		n, err := strconv.ParseUint(p, 16, 8)
		if err != nil {
			return e, bad
		}
		e[i] = byte(n)
	}
	if e.IsZero() {
		return e, fmt.Errorf("entity ID %q is all zeros", s)
	}
	return e, nil
}

// ErrNoMAC means no interface could give an Entity ID.
var ErrNoMAC = errors.New("no network interface with a MAC address to derive the Entity ID from; set entityid in [options] of asterisk.conf")

// FromInterfaces derives an Entity ID from the first non-loopback interface with a non-zero
// MAC, in the order the system lists them (as Asterisk does).
func FromInterfaces() (EID, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return EID{}, err
	}
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagLoopback != 0 || len(ifc.HardwareAddr) != 6 {
			continue
		}
		var e EID
		copy(e[:], ifc.HardwareAddr)
		if !e.IsZero() {
			return e, nil
		}
	}
	return EID{}, ErrNoMAC
}
