package httpapi

import (
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/conf"
)

// Defaults of http.conf and ari.conf (Asterisk's, where Asterisk has the option).
const (
	DefaultPort         = 8088
	DefaultTLSPort      = 8089
	DefaultSessionLimit = 100
	// DefaultSessionLimitPerAddress is http.conf sessionlimit_per_address (Pleiades): open
	// connections from one client address.
	DefaultSessionLimitPerAddress = 50
	DefaultSessionInactivity      = 30 * time.Second
	DefaultSessionKeepAlive       = 15 * time.Second
	DefaultAuthRealm              = "Asterisk REST Interface"
	// DefaultWriteTimeout is ari.conf websocket_write_timeout: how long one WebSocket write
	// may block before the client is dropped (Asterisk's 100 ms).
	DefaultWriteTimeout = 100 * time.Millisecond
	// DefaultQueueLen is ari.conf websocket_queue (Pleiades): the messages that may wait for
	// one WebSocket client before it is dropped as too slow.
	DefaultQueueLen = 1024
)

// settings is one parsed http.conf + ari.conf.
type settings struct {
	// http.conf [general]
	enabled             bool
	bindAddr            string // host:port; "" when disabled
	prefix              string // "" or "/name"
	serverName          string
	serverNameSet       bool
	sessionLimit        int
	sessionLimitPerAddr int // 0: no limit
	inactivity          time.Duration
	keepAlive           time.Duration // 0: no persistent connections
	redirects           []redirect
	tlsEnabled          bool
	tlsBindAddr         string
	tlsCertFile         string
	tlsKeyFile          string
	tlsMinVersion       uint16
	cert                *tls.Certificate
	metricsAuth         bool // Pleiades: /metrics needs an ARI user
	board               bool // Pleiades: serve the BLF board
	ariEnabled          bool // ari.conf [general] enabled
	pretty              bool
	allowedOrigins      []string
	authRealm           string
	writeTimeout        time.Duration
	queueLen            int
	users               map[string]*user // by name (case-sensitive, as in Asterisk)
	warnings            []string
}

type redirect struct{ from, to string }

// user is one ari.conf user.
type user struct {
	name     string
	password string
	crypt    bool
	readOnly bool
}

func defaultSettings() *settings {
	return &settings{
		sessionLimit:        DefaultSessionLimit,
		sessionLimitPerAddr: DefaultSessionLimitPerAddress,
		inactivity:          DefaultSessionInactivity,
		keepAlive:           DefaultSessionKeepAlive,
		board:               true,
		ariEnabled:          true,
		authRealm:           DefaultAuthRealm,
		writeTimeout:        DefaultWriteTimeout,
		queueLen:            DefaultQueueLen,
		users:               map[string]*user{},
	}
}

// serverOptions are the settings an http.Server is built with: when they change, the
// listeners get new http.Servers (see binding.swap).
type serverOptions struct {
	inactivity, keepAlive time.Duration
}

func (s *settings) serverOptions() serverOptions {
	return serverOptions{inactivity: s.inactivity, keepAlive: s.keepAlive}
}

// parseSettings reads http.conf and ari.conf (either may be nil: defaults). Every error of both
// files is collected (file:line) and returned as a conf.ErrorList; nothing is applied then.
func parseSettings(httpCfg, ariCfg *conf.Config, version string) (*settings, error) {
	s := defaultSettings()
	s.serverName = "Pleiades"
	if version != "" {
		s.serverName += "/" + version
	}
	var errs conf.ErrorList
	bad := func(v *conf.Variable, format string, args ...any) {
		errs = append(errs, &conf.Error{File: v.File, Line: v.Line, Msg: fmt.Sprintf(format, args...)})
	}
	warn := func(file string, line int, format string, args ...any) {
		s.warnings = append(s.warnings, fmt.Sprintf("%s:%d: %s", file, line, fmt.Sprintf(format, args...)))
	}
	boolean := func(v *conf.Variable, dst *bool) {
		val := strings.TrimSpace(v.Value)
		switch {
		case conf.IsTrue(val):
			*dst = true
		case conf.IsFalse(val):
			*dst = false
		default:
			bad(v, "%s: %q is not a boolean (yes/no)", v.Name, val)
		}
	}
	atLeast := func(v *conf.Variable, dst *int, min int, what string) {
		n, err := strconv.Atoi(strings.TrimSpace(v.Value))
		if err != nil || n < min {
			bad(v, "%s: %q is not %s", v.Name, strings.TrimSpace(v.Value), what)
			return
		}
		*dst = n
	}
	millis := func(v *conf.Variable, dst *time.Duration, min int) {
		n, err := strconv.Atoi(strings.TrimSpace(v.Value))
		if err != nil || n < min {
			bad(v, "%s: %q is not a number of milliseconds >= %d", v.Name, v.Value, min)
			return
		}
		*dst = time.Duration(n) * time.Millisecond
	}

	var bindHost string
	var bindHostVar, tlsCertVar *conf.Variable
	port := DefaultPort
	var tlsBind, metricsAuthVar *conf.Variable
	if httpCfg != nil {
		for _, cat := range httpCfg.Categories {
			if cat.Template {
				continue
			}
			if !strings.EqualFold(cat.Name, "general") {
				switch {
				case strings.EqualFold(cat.Name, "post_mappings"):
					warn(cat.File, cat.Line, "[post_mappings] is not supported by Pleiades: ignored")
				case strings.EqualFold(cat.Get("type"), "restriction"):
					warn(cat.File, cat.Line, "[%s] type=restriction (per-URI ACL) is not supported by Pleiades: ignored", cat.Name)
				default:
					warn(cat.File, cat.Line, "unknown category [%s]: ignored", cat.Name)
				}
				continue
			}
			for _, v := range cat.Vars {
				val := strings.TrimSpace(v.Value)
				switch strings.ToLower(v.Name) {
				case "enabled":
					boolean(v, &s.enabled)
				case "bindaddr":
					h := val
					if hh, _, err := net.SplitHostPort(val); err == nil {
						h = hh // a port here is ignored: bindport says it (as in Asterisk)
					}
					h = strings.Trim(h, "[]")
					if h != "" && net.ParseIP(h) == nil {
						bad(v, "bindaddr: %q is not an IP address", val)
						continue
					}
					bindHost, bindHostVar = h, v
				case "bindport":
					n, err := strconv.Atoi(val)
					if err != nil || n < 0 || n > 65535 {
						bad(v, "bindport: invalid port number %q", val)
						continue
					}
					port = n // 0: any free port (tests)
				case "prefix":
					p := strings.Trim(val, "/")
					if strings.ContainsAny(p, " ?#") {
						bad(v, "prefix: %q may not contain spaces, '?' or '#'", val)
						continue
					}
					s.prefix = ""
					if p != "" {
						s.prefix = "/" + p
					}
				case "servername":
					s.serverName, s.serverNameSet = val, true
				case "sessionlimit":
					atLeast(v, &s.sessionLimit, 1, "a positive integer")
				case "sessionlimit_per_address":
					atLeast(v, &s.sessionLimitPerAddr, 0, "an integer >= 0")
				case "session_inactivity":
					millis(v, &s.inactivity, 1)
				case "session_keep_alive":
					millis(v, &s.keepAlive, 0)
				case "redirect":
					f := strings.Fields(val)
					if len(f) != 2 || !strings.HasPrefix(f[0], "/") {
						bad(v, "redirect: want '<from URI> <to URI>', got %q", val)
						continue
					}
					s.redirects = append(s.redirects, redirect{f[0], f[1]})
				case "enablestatic", "enable_static", "enable_status":
					var on bool
					boolean(v, &on)
					if on {
						warn(v.File, v.Line, "%s: not supported by Pleiades: ignored", v.Name)
					}
				case "tlsenable", "sslenable":
					boolean(v, &s.tlsEnabled)
				case "tlsbindaddr", "sslbindaddr":
					tlsBind = v
				case "tlscertfile", "sslcert":
					s.tlsCertFile, tlsCertVar = val, v
				case "tlsprivatekey", "sslprivatekey":
					s.tlsKeyFile = val
				case "tlsdisablev1", "tlsdisablev11", "tlsdisablev12":
					var off bool
					boolean(v, &off)
					min := map[string]uint16{"tlsdisablev1": tls.VersionTLS11, "tlsdisablev11": tls.VersionTLS12, "tlsdisablev12": tls.VersionTLS13}[strings.ToLower(v.Name)]
					if off && min > s.tlsMinVersion {
						s.tlsMinVersion = min
					}
				case "tlscipher", "sslcipher", "tlsservercipherorder":
					warn(v.File, v.Line, "%s: Go's TLS stack chooses its cipher suites: ignored", v.Name)
				case "metrics_auth":
					boolean(v, &s.metricsAuth)
					metricsAuthVar = v
				case "board":
					boolean(v, &s.board)
				default:
					warn(v.File, v.Line, "unknown option %q in [general]: ignored", v.Name)
				}
			}
		}
	}
	if s.enabled {
		if bindHostVar == nil {
			file := "http.conf"
			if httpCfg != nil && httpCfg.File != "" {
				file = httpCfg.File
			}
			line := 0
			if g := httpCfg.Category("general"); g != nil {
				file, line = g.File, g.Line
			}
			errs = append(errs, &conf.Error{File: file, Line: line, Msg: "enabled=yes needs a bindaddr (there is no default, as in Asterisk)"})
		} else {
			s.bindAddr = net.JoinHostPort(bindHost, strconv.Itoa(port))
		}
	}
	if s.tlsMinVersion == 0 {
		s.tlsMinVersion = tls.VersionTLS11 // tlsdisablev1 defaults to yes
	}
	if s.tlsEnabled && s.enabled {
		host, tport := bindHost, strconv.Itoa(DefaultTLSPort)
		if tlsBind != nil {
			val := strings.TrimSpace(tlsBind.Value)
			if h, p, err := net.SplitHostPort(val); err == nil {
				host, tport = h, p
			} else {
				host = strings.Trim(val, "[]")
			}
			if n, err := strconv.Atoi(tport); err != nil || n < 0 || n > 65535 || (host != "" && net.ParseIP(host) == nil) {
				bad(tlsBind, "tlsbindaddr: %q is not an address[:port]", val)
			}
		}
		s.tlsBindAddr = net.JoinHostPort(host, tport)
		switch {
		case s.tlsCertFile == "":
			file, line := "http.conf", 0
			if g := httpCfg.Category("general"); g != nil {
				file, line = g.File, g.Line
			}
			errs = append(errs, &conf.Error{File: file, Line: line, Msg: "tlsenable=yes needs a tlscertfile"})
		default:
			key := s.tlsKeyFile
			if key == "" {
				key = s.tlsCertFile // the key may be in the certificate file, as in Asterisk
			}
			cert, err := tls.LoadX509KeyPair(s.tlsCertFile, key)
			if err != nil {
				bad(tlsCertVar, "tlscertfile/tlsprivatekey: %v", err)
			} else {
				s.cert = &cert
			}
		}
	}
	// /metrics: unless metrics_auth says otherwise, it needs an ARI user when a listener is
	// reachable from other hosts (bindaddr or tlsbindaddr not a loopback address).
	if s.enabled {
		exposed := !loopback(s.bindAddr) || (s.tlsEnabled && !loopback(s.tlsBindAddr))
		switch {
		case metricsAuthVar == nil:
			s.metricsAuth = exposed
		case exposed && !s.metricsAuth:
			warn(metricsAuthVar.File, metricsAuthVar.Line, "metrics_auth=no: /metrics is open to every host that reaches %s", s.bindAddr)
		}
	}

	if ariCfg != nil {
		for _, cat := range ariCfg.Categories {
			if cat.Template {
				continue
			}
			if strings.EqualFold(cat.Name, "general") {
				for _, v := range cat.Vars {
					val := strings.TrimSpace(v.Value)
					switch strings.ToLower(v.Name) {
					case "enabled":
						boolean(v, &s.ariEnabled)
					case "pretty":
						boolean(v, &s.pretty)
					case "allowed_origins":
						s.allowedOrigins = nil
						for _, o := range strings.Split(val, ",") {
							if o = strings.TrimSpace(o); o != "" {
								s.allowedOrigins = append(s.allowedOrigins, o)
							}
						}
					case "auth_realm":
						if val != "" {
							s.authRealm = val
						}
					case "websocket_write_timeout":
						millis(v, &s.writeTimeout, 1)
					case "websocket_queue":
						n, err := strconv.Atoi(val)
						if err != nil || n < 1 {
							bad(v, "websocket_queue: %q is not a positive integer", val)
							continue
						}
						s.queueLen = n
					case "channelvars":
						warn(v.File, v.Line, "channelvars: Pleiades has no channel events: ignored")
					default:
						warn(v.File, v.Line, "unknown option %q in [general]: ignored", v.Name)
					}
				}
				continue
			}
			typ, _ := cat.Lookup("type")
			switch strings.ToLower(strings.TrimSpace(typ)) {
			case "user":
			case "outbound_websocket":
				warn(cat.File, cat.Line, "[%s]: type=outbound_websocket is not supported by Pleiades: ignored", cat.Name)
				continue
			case "":
				errs = append(errs, &conf.Error{File: cat.File, Line: cat.Line, Msg: fmt.Sprintf("[%s]: no type (want type=user)", cat.Name)})
				continue
			default:
				errs = append(errs, &conf.Error{File: cat.File, Line: cat.Line, Msg: fmt.Sprintf("[%s]: unknown type %q (want type=user)", cat.Name, typ)})
				continue
			}
			u := &user{name: cat.Name}
			var pwVar, fmtVar *conf.Variable
			for _, v := range cat.Vars {
				val := strings.TrimSpace(v.Value)
				switch strings.ToLower(v.Name) {
				case "type":
				case "password":
					u.password, pwVar = val, v
				case "password_format":
					fmtVar = v
					switch strings.ToLower(val) {
					case "plain":
						u.crypt = false
					case "crypt":
						u.crypt = true
					default:
						bad(v, "password_format: %q is neither plain nor crypt", val)
					}
				case "read_only":
					boolean(v, &u.readOnly)
				case "permit", "deny", "acl":
					warn(v.File, v.Line, "[%s] %s: per-user ACLs are not supported by Pleiades: ignored", cat.Name, v.Name)
				default:
					warn(v.File, v.Line, "[%s]: unknown option %q: ignored", cat.Name, v.Name)
				}
			}
			switch {
			case pwVar == nil || u.password == "":
				// Asterisk refuses a user without a password.
				errs = append(errs, &conf.Error{File: cat.File, Line: cat.Line, Msg: fmt.Sprintf("[%s]: user has no password", cat.Name)})
				continue
			case u.crypt:
				if err := checkCryptHash(u.password); err != nil {
					at := pwVar
					if fmtVar != nil && fmtVar.Line > at.Line {
						at = fmtVar
					}
					bad(at, "[%s] password: %v", cat.Name, err)
					continue
				}
			}
			if _, dup := s.users[u.name]; dup {
				errs = append(errs, &conf.Error{File: cat.File, Line: cat.Line, Msg: fmt.Sprintf("[%s]: user defined twice", cat.Name)})
				continue
			}
			s.users[u.name] = u
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if s.enabled && s.ariEnabled && len(s.users) == 0 {
		s.warnings = append(s.warnings, "ari.conf has no user: every REST and WebSocket request will be refused (401)")
	}
	return s, nil
}

// loopback reports whether the host of addr ("host:port") is a loopback address ("" and
// 0.0.0.0, every interface, are not).
func loopback(addr string) bool {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
