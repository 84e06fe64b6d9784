package ami

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/conf"
)

// Defaults of manager.conf [general] and of Pleiades' own additions.
const (
	DefaultPort             = 5038
	DefaultAuthTimeout      = 30 * time.Second // authtimeout
	DefaultAuthLimit        = 50               // authlimit: unauthenticated sessions, all sources
	DefaultAuthLimitPerAddr = 10               // authlimitperaddress (Pleiades): per source address
	DefaultEventQueueSize   = 4096             // eventqueuesize (Pleiades): events queued per session
	// MaxQueuedBytes bounds a session's queue in bytes as well (responses and events).
	MaxQueuedBytes = 8 << 20
	// DefaultWriteStall is how long one write to a client may block before the session is
	// dropped when the user has no writetimeout= (Asterisk's 100 ms default is not used: the
	// bounded queue is what cuts slow clients off).
	DefaultWriteStall = 10 * time.Second
)

// settings is one parsed manager.conf.
type settings struct {
	enabled            bool
	bindAddr           string // host:port
	displayConnects    bool
	timestampEvents    bool
	allowMultipleLogin bool
	authTimeout        time.Duration
	authLimit          int
	authLimitPerAddr   int
	queueSize          int
	disabledEvents     map[string]bool
	users              map[string]*user // by lower-case name
	userOrder          []*user
	warnings           []string
}

// user is one manager user (a manager.conf category or a realtime row).
type user struct {
	name               string
	secret             string
	hasSecret          bool
	acl                acl
	read, write        Class
	displayConnects    bool
	allowMultipleLogin bool
	writeTimeout       time.Duration // 0: DefaultWriteStall
	setvars            []Field
	filters            filterSet
	realtime           bool
}

func defaultSettings() *settings {
	return &settings{
		bindAddr:           net.JoinHostPort("0.0.0.0", strconv.Itoa(DefaultPort)),
		displayConnects:    true, // as in Asterisk
		allowMultipleLogin: true,
		authTimeout:        DefaultAuthTimeout,
		authLimit:          DefaultAuthLimit,
		authLimitPerAddr:   DefaultAuthLimitPerAddr,
		queueSize:          DefaultEventQueueSize,
		users:              map[string]*user{},
	}
}

// parseSettings reads manager.conf. Every error of the file is collected (file:line) and
// returned as a conf.ErrorList; nothing is applied then.
func parseSettings(cfg *conf.Config) (*settings, error) {
	s := defaultSettings()
	if cfg == nil {
		return s, nil
	}
	var errs conf.ErrorList
	bad := func(v *conf.Variable, format string, args ...any) {
		errs = append(errs, &conf.Error{File: v.File, Line: v.Line, Msg: fmt.Sprintf(format, args...)})
	}
	host, port := "0.0.0.0", DefaultPort
	if g := cfg.Category("general"); g != nil {
		for _, v := range g.Vars {
			val := strings.TrimSpace(v.Value)
			boolean := func(dst *bool) {
				switch {
				case conf.IsTrue(val):
					*dst = true
				case conf.IsFalse(val):
					*dst = false
				default:
					bad(v, "%s: %q is not a boolean", v.Name, val)
				}
			}
			positive := func(dst *int) {
				n, err := strconv.Atoi(val)
				if err != nil || n < 1 {
					bad(v, "%s: %q is not a positive integer", v.Name, val)
					return
				}
				*dst = n
			}
			switch strings.ToLower(v.Name) {
			case "enabled":
				boolean(&s.enabled)
			case "port":
				n, err := strconv.Atoi(val)
				if err != nil || n < 0 || n > 65535 {
					bad(v, "port: invalid port number %q", val)
					continue
				}
				port = n
			case "bindaddr":
				h := val
				if hh, _, err := net.SplitHostPort(val); err == nil {
					h = hh // a port given here is ignored, as in Asterisk (PARSE_PORT_IGNORE)
				}
				h = strings.Trim(h, "[]")
				if _, err := netip.ParseAddr(h); err != nil {
					bad(v, "bindaddr: invalid address %q", val)
					continue
				}
				host = h
			case "displayconnects":
				boolean(&s.displayConnects)
			case "timestampevents":
				boolean(&s.timestampEvents)
			case "allowmultiplelogin":
				boolean(&s.allowMultipleLogin)
			case "authtimeout":
				var n int
				positive(&n)
				if n > 0 {
					s.authTimeout = time.Duration(n) * time.Second
				}
			case "authlimit":
				positive(&s.authLimit)
			case "authlimitperaddress":
				positive(&s.authLimitPerAddr)
			case "eventqueuesize":
				positive(&s.queueSize)
			case "disabledevents":
				if s.disabledEvents == nil {
					s.disabledEvents = map[string]bool{}
				}
				for _, e := range strings.Split(val, ",") {
					if e = strings.TrimSpace(e); e != "" {
						s.disabledEvents[e] = true
					}
				}
			case "webenabled", "httptimeout", "brokeneventsaction", "debug", "channelvars":
				// Accepted and ignored: no HTTP manager, no channels here.
			default:
				if strings.HasPrefix(strings.ToLower(v.Name), "tls") {
					s.warnings = append(s.warnings, fmt.Sprintf("%s:%d: %s: AMI over TLS is not supported; ignored", v.File, v.Line, v.Name))
					continue
				}
				s.warnings = append(s.warnings, fmt.Sprintf("%s:%d: Invalid keyword <%s> = <%s> in manager.conf [general]", v.File, v.Line, v.Name, v.Value))
			}
		}
	}
	s.bindAddr = net.JoinHostPort(host, strconv.Itoa(port))

	for _, cat := range cfg.Categories {
		if cat.Template || strings.EqualFold(cat.Name, "general") {
			continue
		}
		key := strings.ToLower(cat.Name)
		if prev, dup := s.users[key]; dup {
			// Asterisk merges a repeated category into the same user; so do we.
			for _, v := range cat.Vars {
				if err := prev.set(v.Name, v.Value); err != nil {
					bad(v, "user %s: %v", cat.Name, err)
				}
			}
			continue
		}
		u := &user{name: cat.Name, displayConnects: s.displayConnects, allowMultipleLogin: s.allowMultipleLogin}
		for _, v := range cat.Vars {
			if err := u.set(v.Name, v.Value); err != nil {
				bad(v, "user %s: %v", cat.Name, err)
			}
		}
		s.users[key] = u
		s.userOrder = append(s.userOrder, u)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return s, nil
}

// set applies one option of a user.
func (u *user) set(name, value string) error {
	val := strings.TrimSpace(value)
	lname := strings.ToLower(strings.TrimSpace(name))
	switch {
	case lname == "secret":
		u.secret, u.hasSecret = value, true
	case lname == "permit" || lname == "deny":
		r, err := parseACLRule(lname == "permit", val)
		if err != nil {
			return fmt.Errorf("invalid ACL %q: %v", val, err)
		}
		u.acl = append(u.acl, r)
	case lname == "acl":
		return fmt.Errorf("named ACLs (acl=%s) are not supported; use permit= and deny=", val)
	case lname == "read" || lname == "write":
		c, unknown := ParseClasses(val)
		if len(unknown) > 0 {
			return fmt.Errorf("%s: unknown class %q", lname, strings.Join(unknown, ","))
		}
		if lname == "read" {
			u.read = c
		} else {
			u.write = c
		}
	case lname == "displayconnects":
		u.displayConnects = conf.IsTrue(val)
	case lname == "allowmultiplelogin":
		u.allowMultipleLogin = conf.IsTrue(val)
	case lname == "writetimeout":
		n, err := strconv.Atoi(val)
		if err != nil || n < 100 {
			return fmt.Errorf("invalid writetimeout value %q (milliseconds, at least 100)", val)
		}
		u.writeTimeout = time.Duration(n) * time.Millisecond
	case lname == "setvar":
		k, v, ok := strings.Cut(val, "=")
		if !ok {
			return fmt.Errorf("setvar %q: expected NAME=value", val)
		}
		u.setvars = append(u.setvars, Field{strings.TrimSpace(k), v})
	case strings.HasPrefix(lname, "eventfilter"):
		f, err := parseEventFilter(strings.TrimSpace(name), val)
		if err != nil {
			return fmt.Errorf("'%s = %s': %v", strings.TrimSpace(name), val, err)
		}
		u.filters.add(f)
	case lname == "name" || lname == "username":
		// realtime key columns
	default:
		// Asterisk ignores unknown user options (debug message); so do we.
	}
	return nil
}

// userFromRow builds a user from a UserSource row.
func userFromRow(name string, row []Field, s *settings) (*user, error) {
	u := &user{name: name, displayConnects: s.displayConnects, allowMultipleLogin: s.allowMultipleLogin, realtime: true}
	for _, f := range row {
		if err := u.set(f.Key, f.Value); err != nil {
			return nil, err
		}
	}
	return u, nil
}
