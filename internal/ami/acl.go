package ami

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// aclRule is one permit= or deny= line.
type aclRule struct {
	permit bool
	prefix netip.Prefix
	negate bool   // "!addr/mask": the rule applies to addresses outside the prefix
	text   string // as written, for "manager show user"
}

// acl is a user's permit/deny list, applied like Asterisk's ast_apply_ha: the result starts
// as "allow" and every rule that matches the address sets it, so the last matching rule wins
// (deny=0.0.0.0/0.0.0.0 then permit=10.0.0.0/8 lets only 10/8 in).
type acl []aclRule

func (a acl) allows(addr netip.Addr) bool {
	addr = addr.Unmap()
	ok := true
	for _, r := range a {
		if r.prefix.Addr().Is4() != addr.Is4() {
			continue
		}
		if r.prefix.Contains(addr) != r.negate {
			ok = r.permit
		}
	}
	return ok
}

// parseACLRule parses "addr[/mask]" where mask is a prefix length or a dotted IPv4 netmask,
// optionally preceded by "!". A bare address is a /32 (/128).
func parseACLRule(permit bool, s string) (aclRule, error) {
	r := aclRule{permit: permit, text: strings.TrimSpace(s)}
	s = r.text
	if strings.HasPrefix(s, "!") {
		r.negate = true
		s = strings.TrimSpace(s[1:])
	}
	host, mask, hasMask := strings.Cut(s, "/")
	addr, err := netip.ParseAddr(strings.TrimSpace(host))
	if err != nil {
		return r, fmt.Errorf("invalid address %q", host)
	}
	addr = addr.Unmap()
	bits := addr.BitLen()
	if hasMask {
		mask = strings.TrimSpace(mask)
		if n, err := strconv.Atoi(mask); err == nil {
			if n < 0 || n > addr.BitLen() {
				return r, fmt.Errorf("invalid netmask %q", mask)
			}
			bits = n
		} else {
			m, err := netip.ParseAddr(mask)
			if err != nil || !m.Is4() || !addr.Is4() {
				return r, fmt.Errorf("invalid netmask %q", mask)
			}
			b := m.As4()
			v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
			n := 0
			for v&0x80000000 != 0 {
				n++
				v <<= 1
			}
			if v != 0 {
				return r, fmt.Errorf("invalid netmask %q (not contiguous)", mask)
			}
			bits = n
		}
	}
	r.prefix = netip.PrefixFrom(addr, bits).Masked()
	return r, nil
}
