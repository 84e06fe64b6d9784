package ami

import (
	"fmt"
	"net/netip"
	"strconv"
)

// iso8601 is Asterisk's AST_ISO8601_FORMAT ("%FT%T.%q%z").
const iso8601 = "2006-01-02T15:04:05.000-0700"

// securityAddr formats an address as Asterisk's ast_json_ipaddr: "IPV4/TCP/127.0.0.1/5038".
func securityAddr(ap netip.AddrPort) string {
	fam := "IPV6"
	if ap.Addr().Unmap().Is4() {
		fam = "IPV4"
	}
	return fam + "/TCP/" + ap.Addr().Unmap().String() + "/" + strconv.Itoa(int(ap.Port()))
}

// securityEvent publishes an Asterisk security event (class security) about ss: the common
// fields (EventTV, Severity, Service, EventVersion, AccountID, SessionID, LocalAddress,
// RemoteAddress), the event's own required fields, then SessionTV, as Asterisk's
// security_event_to_ami_blob orders them.
func (s *Server) securityEvent(ss *session, name, severity string, version int, account string, extra ...Field) {
	f := make([]Field, 0, 10+len(extra))
	f = append(f,
		Field{"EventTV", s.clock().Format(iso8601)},
		Field{"Severity", severity},
		Field{"Service", "AMI"},
		Field{"EventVersion", strconv.Itoa(version)},
		Field{"AccountID", account},
		Field{"SessionID", fmt.Sprintf("0x%x", ss.id)},
		Field{"LocalAddress", securityAddr(ss.local)},
		Field{"RemoteAddress", securityAddr(ss.remote)},
	)
	f = append(f, extra...)
	f = append(f, Field{"SessionTV", ss.start.Format(iso8601)})
	s.Publish(Event{Name: name, Class: ClassSecurity, Fields: f})
}
