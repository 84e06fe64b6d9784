package ami

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/logesc"
	"github.com/pleiades-pbx/pleiades/internal/logger"
)

// iso8601 is Asterisk's AST_ISO8601_FORMAT ("%FT%T.%q%z").
const iso8601 = "2006-01-02T15:04:05.000-0700"

// Limits on what one source address can make the server say about it.
const (
	// MaxRefusedBeforeLogin is how many actions a connection may have refused before it
	// logs in (anything but Login, Challenge and Logoff, and packets without an action);
	// the last refusal closes it. Asterisk has no such limit.
	MaxRefusedBeforeLogin = 5
	// SecurityEventBurst failure security events (Severity Error) from one source address
	// are published at once, then SecurityEventRate per second; the rest are dropped
	// (counted in Stats) so that an unauthenticated client cannot flood the security
	// listeners. SuccessfulAuth is never dropped.
	SecurityEventBurst = 20
	SecurityEventRate  = 2
)

// securityAddr formats an address as Asterisk's ast_json_ipaddr: "IPV4/TCP/127.0.0.1/5038".
func securityAddr(ap netip.AddrPort) string {
	fam := "IPV6"
	if ap.Addr().Unmap().Is4() {
		fam = "IPV4"
	}
	return fam + "/TCP/" + ap.Addr().Unmap().String() + "/" + strconv.Itoa(int(ap.Port()))
}

// maxRequestType is the longest RequestType value: Asterisk formats "Action: NAME" into a
// 64-byte buffer, so a longer one is cut to 63 bytes.
const maxRequestType = 63

// requestType is the RequestType field of RequestNotAllowed and RequestBadFormat for action.
func requestType(action string) Field {
	v := "Action: " + action
	if len(v) > maxRequestType {
		v = v[:maxRequestType]
	}
	return Field{"RequestType", v}
}

// accountLast are the security events whose AccountID is one of their optional fields, which
// Asterisk sends after the required ones and SessionTV.
var accountLast = map[string]bool{"RequestBadFormat": true}

// securityEvent publishes an Asterisk security event (class security) about ss: the common
// fields (EventTV, Severity, Service, EventVersion, AccountID, SessionID, LocalAddress,
// RemoteAddress), the event's own required fields, then SessionTV, as Asterisk's
// security_event_to_ami_blob orders them. It also writes the event to the security log
// channel as Asterisk's res_security_log does (SecurityEvent="Name",Key="Value",...; values
// escaped). Failure events are rate-limited per source address.
func (s *Server) securityEvent(ss *session, name, severity string, version int, account string, extra ...Field) {
	if severity != "Informational" && !s.secLimit.allow(ss.remote.Addr(), s.clock(), s) {
		s.secDropped.Add(1)
		return
	}
	f := make([]Field, 0, 10+len(extra))
	f = append(f,
		Field{"EventTV", s.clock().Format(iso8601)},
		Field{"Severity", severity},
		Field{"Service", "AMI"},
		Field{"EventVersion", strconv.Itoa(version)},
	)
	if !accountLast[name] {
		f = append(f, Field{"AccountID", account})
	}
	f = append(f,
		Field{"SessionID", fmt.Sprintf("0x%x", ss.id)},
		Field{"LocalAddress", securityAddr(ss.local)},
		Field{"RemoteAddress", securityAddr(ss.remote)},
	)
	f = append(f, extra...)
	f = append(f, Field{"SessionTV", ss.sessionTV().Format(iso8601)})
	if accountLast[name] {
		f = append(f, Field{"AccountID", account})
	}
	var b strings.Builder
	b.WriteString(`SecurityEvent="` + name + `"`)
	for _, x := range f {
		b.WriteString(`,` + x.Key + `="` + logesc.Escape(x.Value) + `"`)
	}
	s.log.Log(context.Background(), logger.LevelSecurity, b.String())
	s.Publish(Event{Name: name, Class: ClassSecurity, Fields: f})
}

// secLimiter is a token bucket per source address for failure security events.
type secLimiter struct {
	mu      sync.Mutex
	buckets map[netip.Addr]*secBucket
}

type secBucket struct {
	tokens float64
	last   time.Time
	warned time.Time // when "rate-limited" was last logged
}

// allow takes a token of ip's bucket at now; it logs (at most once a minute per address)
// when an address starts being limited.
func (l *secLimiter) allow(ip netip.Addr, now time.Time, s *Server) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = map[netip.Addr]*secBucket{}
	}
	if len(l.buckets) > 10000 {
		for a, b := range l.buckets {
			if now.Sub(b.last) > SecurityEventBurst*time.Second/SecurityEventRate {
				delete(l.buckets, a)
			}
		}
	}
	b := l.buckets[ip]
	if b == nil {
		b = &secBucket{tokens: SecurityEventBurst, last: now}
		l.buckets[ip] = b
	}
	b.tokens = min(SecurityEventBurst, b.tokens+now.Sub(b.last).Seconds()*SecurityEventRate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	if now.Sub(b.warned) >= time.Minute {
		b.warned = now
		s.log.Info(fmt.Sprintf("Manager security events from %s rate-limited (more than %d at once, then %d a second)", ip, SecurityEventBurst, SecurityEventRate))
	}
	return false
}
