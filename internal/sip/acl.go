package sip

import (
	"fmt"
	"net/netip"
	"strings"
)

// aclRule is one permit= or deny= line.
type aclRule struct {
	permit bool
	prefix netip.Prefix
}

// acl is chan_sip's host access list (ast_apply_ha): everything is allowed, then every rule
// that matches the address sets the verdict, in order; the last match wins.
type acl struct {
	rules []aclRule
}

type aclBuilder struct{ rules []aclRule }

// add parses "addr", "addr/bits" or "addr/mask" (mask in dotted form), with an optional
// leading '!' (negated rule, as Asterisk: "!10.0.0.0/8" matches everything outside).
func (b *aclBuilder) add(permit bool, s string) error {
	s = strings.TrimSpace(s)
	if s == "" {
		return fmt.Errorf("empty rule")
	}
	if strings.HasPrefix(s, "!") {
		return fmt.Errorf("negated rules (%q) are not supported", s)
	}
	addrPart, maskPart, hasMask := strings.Cut(s, "/")
	addr, err := netip.ParseAddr(addrPart)
	if err != nil {
		return fmt.Errorf("%q is not an IP address", addrPart)
	}
	bits := addr.BitLen()
	if hasMask {
		if m, err := netip.ParseAddr(maskPart); err == nil {
			if m.BitLen() != addr.BitLen() {
				return fmt.Errorf("mask %q does not fit %q", maskPart, addrPart)
			}
			ones, ok := maskOnes(m)
			if !ok {
				return fmt.Errorf("mask %q is not contiguous", maskPart)
			}
			bits = ones
		} else {
			var n int
			if _, err := fmt.Sscanf(maskPart, "%d", &n); err != nil || n < 0 || n > addr.BitLen() || fmt.Sprint(n) != maskPart {
				return fmt.Errorf("bad mask %q", maskPart)
			}
			bits = n
		}
	}
	pfx, err := addr.Prefix(bits)
	if err != nil {
		return err
	}
	b.rules = append(b.rules, aclRule{permit: permit, prefix: pfx})
	return nil
}

func maskOnes(m netip.Addr) (int, bool) {
	b := m.AsSlice()
	ones, seenZero := 0, false
	for _, by := range b {
		for i := 7; i >= 0; i-- {
			if by&(1<<i) != 0 {
				if seenZero {
					return 0, false
				}
				ones++
			} else {
				seenZero = true
			}
		}
	}
	return ones, true
}

func (b *aclBuilder) build() *acl {
	if len(b.rules) == 0 {
		return nil
	}
	return &acl{rules: b.rules}
}

// allowed applies the list to addr. A nil list allows everything.
func (a *acl) allowed(addr netip.Addr) bool {
	if a == nil {
		return true
	}
	addr = addr.Unmap()
	ok := true
	for _, r := range a.rules {
		if r.prefix.Contains(addr) {
			ok = r.permit
		}
	}
	return ok
}
