package sip

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/media/sdp"
)

// Defaults of the [general] options (chan_sip's, unless noted).
const (
	defaultPort          = 5060
	defaultRealm         = "asterisk" // without a system name (chan_sip DEFAULT_REALM)
	defaultExpiry        = 120
	defaultMinExpiry     = 60
	defaultMaxExpiry     = 3600
	defaultQualifyFreq   = 60 * time.Second
	defaultQualifyMS     = 2000
	defaultRtAutoClear   = 120 * time.Second
	defaultNonceLifetime = 30 * time.Second // Pleiades
	defaultMaxSubs       = 100000           // Pleiades
	defaultMaxSubsPeer   = 1000             // Pleiades
	defaultMaxRegs       = 1000000          // Pleiades: registered realtime peers kept in memory
	unreachableRetry     = 10 * time.Second // chan_sip DEFAULT_FREQ_NOTOK
	defaultTCPAuthLimit  = 100              // chan_sip DEFAULT_AUTHLIMIT
	defaultTCPAuthTime   = 30 * time.Second // chan_sip DEFAULT_AUTHTIMEOUT
	defaultMaxAuthFail   = 10               // Pleiades: failed authentications per address...
	defaultAuthFailWin   = 30 * time.Second // ...within this window...
	defaultAuthBlockTime = 60 * time.Second // ...refuse that address for this long
	tcpIdleMargin        = 60 * time.Second // Pleiades: see tcpIdle
)

// notifyRinging values.
const (
	ringingNo = iota
	ringingYes
	ringingNotInUse
)

// settings is the parsed [general] section. It is immutable once built.
type settings struct {
	udpBind, tcpBind string // host:port; tcpBind "" = no TCP
	realm            string
	defaultExpiry    int
	minExpiry        int
	maxExpiry        int
	subMinExpiry     int
	subMaxExpiry     int
	allowSubscribe   bool
	notifyRinging    int
	notifyHold       bool
	qualifyFreq      time.Duration
	qualify          int           // default qualify ms for peers (0 = off)
	qualifyGap       time.Duration // at start, qualifyPeers peers are qualified every qualifyGap
	qualifyPeers     int
	keepalive        time.Duration
	rtCacheFriends   bool
	rtSaveSysname    bool
	rtUpdate         bool
	ignoreRegExpire  bool
	rtAutoClear      time.Duration // 0 = never; -1 = with the registration (rtautoclear=yes is 120 s, as chan_sip)
	alwaysAuthReject bool
	context          string
	subscribeContext string
	vmExten          string
	userAgent        string
	nonceLifetime    time.Duration
	maxSubscriptions int
	maxSubsPerPeer   int
	maxRegistrations int
	allowGuest       bool
	codecs           []sdp.Codec // allow/disallow: the audio codecs peers get unless they say otherwise
	st               stConfig    // session-timers, session-expires, session-minse, session-refresher
	directMedia      directMode  // directmedia (canreinvite): peers inherit it
	fromDomain       string
	nat              natFlags      // [general] nat=, which peers without their own inherit
	callCounter      bool          // [general] callcounter: every peer's call-limit is "unlimited"
	tcpAuthLimit     int           // unauthenticated TCP connections open at once
	tcpAuthTimeout   time.Duration // a TCP connection must authenticate a request within this
	maxAuthFailures  int           // per source address within authFailWindow; 0 = no limit
	authFailWindow   time.Duration
	authBlockTime    time.Duration
	maxRequests      int           // REGISTER/SUBSCRIBE/OPTIONS in progress before new requests get 503 (overload.go); 0 = no limit
	retryAfter       int           // seconds in those 503s' Retry-After
	maxRequestWait   time.Duration // a new UDP request that waited longer in the socket's queue gets 503; 0 = no limit
	// tcpIdle is how long an authenticated TCP connection may carry nothing before it is
	// closed: max(maxexpiry, submaxexpiry) + 60 s, for a client that keeps a registration or
	// a subscription alive sends a request within the longest expiry it can be granted.
	tcpIdle time.Duration
}

func (s *settings) setTCPIdle() {
	s.tcpIdle = time.Duration(max(s.maxExpiry, s.subMaxExpiry))*time.Second + tcpIdleMargin
}

// defaultSettings are chan_sip's defaults for a server whose asterisk.conf sets systemname
// sysname ("": none): the realm is the system name, else "asterisk".
func defaultSettings(sysname string) *settings {
	realm := defaultRealm
	if sysname != "" {
		realm = sysname
	}
	return &settings{
		udpBind:          net.JoinHostPort("0.0.0.0", strconv.Itoa(defaultPort)),
		realm:            realm,
		defaultExpiry:    defaultExpiry,
		minExpiry:        defaultMinExpiry,
		maxExpiry:        defaultMaxExpiry,
		subMinExpiry:     defaultMinExpiry,
		subMaxExpiry:     defaultMaxExpiry,
		allowSubscribe:   true,
		notifyRinging:    ringingYes,
		qualifyFreq:      defaultQualifyFreq,
		qualifyGap:       100 * time.Millisecond, // chan_sip DEFAULT_QUALIFY_GAP
		qualifyPeers:     1,                      // chan_sip DEFAULT_QUALIFY_PEERS
		rtUpdate:         true,
		rtAutoClear:      defaultRtAutoClear,
		alwaysAuthReject: true,
		context:          "default",
		vmExten:          "asterisk",
		userAgent:        "Pleiades PBX",
		nonceLifetime:    defaultNonceLifetime,
		maxSubscriptions: defaultMaxSubs,
		maxSubsPerPeer:   defaultMaxSubsPeer,
		maxRegistrations: defaultMaxRegs,
		tcpAuthLimit:     defaultTCPAuthLimit,
		tcpAuthTimeout:   defaultTCPAuthTime,
		maxAuthFailures:  defaultMaxAuthFail,
		authFailWindow:   defaultAuthFailWin,
		authBlockTime:    defaultAuthBlockTime,
		maxRequests:      defaultMaxRequests,
		retryAfter:       defaultRetryAfter,
		maxRequestWait:   defaultMaxRequestWait,
		tcpIdle:          time.Duration(defaultMaxExpiry)*time.Second + tcpIdleMargin,
		nat:              natFlags{autoRport: true}, // chan_sip: nat=auto_force_rport
		codecs:           []sdp.Codec{sdp.PCMU, sdp.PCMA},
		st:               defaultST(),
	}
}

// natFlags are chan_sip's NAT flags from nat=. Pleiades' registrar always answers and binds at
// the source address (as with force_rport); the flags are shown by "sip show peers" and "sip
// show users", as chan_sip shows them.
type natFlags struct {
	forceRport, comedia, autoRport, autoComedia bool
}

// parseNAT applies the words of a nat= value to f, which holds what earlier nat= lines of the
// same section set (zero for the first: one nat= line replaces all four flags, as chan_sip's
// sip_parse_nat_option). It returns the words it does not know (ignored, as chan_sip does).
func parseNAT(f natFlags, v string) (natFlags, []string) {
	var unknown []string
	for _, w := range strings.Split(v, ",") {
		w = strings.TrimSpace(w)
		switch {
		case conf.IsFalse(w):
			return natFlags{}, unknown // "no" with anything else makes no sense
		case strings.EqualFold(w, "yes"): // deprecated: force_rport,comedia
			return natFlags{forceRport: true, comedia: true}, unknown
		case strings.EqualFold(w, "force_rport"):
			if !f.autoRport {
				f.forceRport = true
			}
		case strings.EqualFold(w, "comedia"):
			if !f.autoComedia {
				f.comedia = true
			}
		case strings.EqualFold(w, "auto_force_rport"):
			f.autoRport, f.forceRport = true, false
		case strings.EqualFold(w, "auto_comedia"):
			f.autoComedia, f.comedia = true, false
		default:
			unknown = append(unknown, w)
		}
	}
	return f, unknown
}

// rportText is chan_sip's force_rport_string: "Auto (Yes)"/"Auto (No)" with auto_force_rport
// (whether the peer's last request came through a NAT), else "Yes"/"No".
func (f natFlags) rportText(natDetected bool) string {
	if f.autoRport {
		return "Auto (" + yesNo(natDetected) + ")"
	}
	return yesNo(f.forceRport)
}

// comediaText is chan_sip's comedia_string.
func (f natFlags) comediaText(natDetected bool) string {
	if f.autoComedia {
		return "Auto (" + yesNo(natDetected) + ")"
	}
	return yesNo(f.comedia)
}

// forcesRport is chan_sip's SIP_NAT_FORCE_RPORT flag of a peer ("sip show users").
func (f natFlags) forcesRport(natDetected bool) bool {
	if f.autoRport {
		return natDetected
	}
	return f.forceRport
}

// peerType is chan_sip's type=.
type peerType uint8

const (
	typeFriend peerType = iota
	typePeer
	typeUser
)

func (t peerType) String() string {
	switch t {
	case typePeer:
		return "peer"
	case typeUser:
		return "user"
	}
	return "friend"
}

// peerConfig is one peer's configuration, from sip.conf or a sippeers row. Immutable.
type peerConfig struct {
	name             string
	typ              peerType
	dynamic          bool
	host             string // static host (host=dynamic: "")
	port             int
	secret           string
	md5secret        string
	defaultUser      string
	context          string
	subscribeContext string
	mailboxes        []string // "box@context"
	callerID         string
	description      string
	acl              *acl
	qualifyMS        int // 0 = no qualify
	qualifyFreq      time.Duration
	keepalive        time.Duration
	allowSubscribe   bool
	vmExten          string
	transport        string
	nat              natFlags
	accountCode      string
	callLimit        int         // call-limit (callcounter=yes: unlimited, shown as 2147483647)
	codecs           []sdp.Codec // allow/disallow: PCMU, PCMA in the peer's order
	busyLevel        int         // busylevel: in-use calls from which the device is BUSY (0: none)
	st               stConfig    // session timers ([general]'s unless the peer sets them)
	directMedia      directMode  // directmedia= (canreinvite=): media straight between two such legs
	directACL        *acl        // directmediapermit/directmediadeny: whose media may come straight
	insecurePort     bool        // insecure=port: an INVITE matches the peer by IP address alone
	insecureInvite   bool        // insecure=invite: an INVITE is not challenged
	realtime         bool
	file             string
	line             int
}

func (p *peerConfig) hasAuth() bool { return p.secret != "" || p.md5secret != "" }

// parsedConfig is everything Configure applies at once.
type parsedConfig struct {
	set      *settings
	peers    map[string]*peerConfig
	order    []string
	warnings []string
}

func confErr(v *conf.Variable, format string, args ...any) *conf.Error {
	return &conf.Error{File: v.File, Line: v.Line, Msg: fmt.Sprintf(format, args...)}
}

// ignoredGeneral are chan_sip [general] keys Pleiades accepts without acting on them (media,
// codecs and calls come later). Anything else unknown is reported as a warning.
var ignoredGeneral = map[string]bool{
	"allow": true, "disallow": true, "language": true, "dtmfmode": true,
	"directmedia": true, "canreinvite": true, "srvlookup": true, "bindport": false,
	"transport": true, "videosupport": true, "rtptimeout": true, "rtpholdtimeout": true,
	"callevents": true, "sdpsession": true, "sdpowner": true,
	"externip": true, "externaddr": true, "localnet": true, "jbenable": true, "relaxdtmf": true,
	"trustrpid": true, "sendrpid": true, "t38pt_udptl": true, "tos_sip": true, "tos_audio": true,
	"tos_video": true, "cos_sip": true, "cos_audio": true, "cos_video": true, "maxcallbitrate": true,
	"progressinband": true, "rtcachefriends": false, "pedantic": true, "limitonpeers": true,
	"allowguest": false, "allowoverlap": true, "allowtransfer": true, "tlsenable": true,
	"tlsbindaddr": true, "udpenable": true, "websocket_enabled": true, "mohinterpret": true,
	"mohsuggest": true, "useragent": false, "compactheaders": true, "session-timers": true,
	"registertimeout": true, "registerattempts": true, "mwi_from": true, "buggymwi": true,
	"subscribemwi": true, "accountcode": true, "amaflags": true, "parkinglot": true,
	"callerid": true, "sipdebug": true, "recordhistory": true, "dumphistory": true,
	"match_auth_username": true, "rtpkeepalive": true, "autoframing": true,
	"g726nonstandard": true, "icesupport": true, "preferred_codec_only": true, "faxdetect": true,
	"textsupport": true, "auth_options_requests": true, "register": true, "mwi": true,
	"authfailureevents": true, "shrinkcallerid": true, "dynamic_exclude_static": true,
	"contactpermit": true, "contactdeny": true, "contactacl": true, "timert1": true, "timerb": true,
	"storesipcause": true, "legacy_useroption_parsing": true, "send_diversion": true,
}

var ignoredPeer = map[string]bool{
	"allow": true, "disallow": true, "language": true, "dtmfmode": true, "directmedia": true,
	"canreinvite": true, "insecure": true, "trustrpid": true, "sendrpid": true, "callgroup": true,
	"pickupgroup": true, "namedcallgroup": true, "namedpickupgroup": true,
	"amaflags": true, "busylevel": true, "videosupport": true,
	"textsupport": true, "progressinband": true, "promiscredir": true, "useclientcode": true,
	"setvar": true, "fromuser": true, "fromdomain": true, "outboundproxy": true, "regexten": true,
	"rtptimeout": true, "rtpholdtimeout": true, "rtpkeepalive": true, "t38pt_udptl": true,
	"t38pt_usertpsource": true, "defaultip": true, "remotesecret": true, "auth": true,
	"fullname": true, "cid_number": true, "callingpres": true, "mohinterpret": true,
	"mohsuggest": true, "parkinglot": true, "hasvoicemail": true, "subscribemwi": true,
	"autoframing": true, "session-timers": true, "session-expires": true, "session-minse": true,
	"session-refresher": true, "maxcallbitrate": true, "rfc2833compensate": true, "timert1": true,
	"timerb": true, "constantssrc": true, "contactpermit": true, "contactdeny": true,
	"contactacl": true, "usereqphone": true, "faxdetect": true, "buggymwi": true,
	"allowoverlap": true, "allowtransfer": true, "g726nonstandard": true, "ignoresdpversion": true,
	"path": true, "supportpath": true, "trunkname": true, "encryption": true, "avpf": true,
	"icesupport": true, "force_avp": true, "dynamic": true, "username": false, "directrtpsetup": true,
	"mwi_from": true, "unsolicited_mailbox": true, "tonezone": true, "preferred_codec_only": true,
	"cc_agent_policy": true, "cc_monitor_policy": true, "use_q850_reason": true, "qualifyfreq": false,
	"send_diversion": true, "description": false, "directmediapermit": true, "directmediadeny": true,
	"acl": true, "directmediaacl": true, "rtp_engine": true, "callbackextension": true,
	"ipaddr": false, "port": false, "regseconds": false, "fullcontact": false, "regserver": false,
	"useragent": false, "lastms": false, "id": true, "name": false, "defaultuser": false,
}

// parseBindAddr reads "host[:port]" (IPv6 in brackets). A missing port gives port.
func parseBindAddr(s string, port int) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("empty address")
	}
	if h, p, err := net.SplitHostPort(s); err == nil {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 65535 {
			return "", fmt.Errorf("bad port %q", p)
		}
		if _, err := netip.ParseAddr(h); err != nil && h != "" {
			return "", fmt.Errorf("%q is not an IP address", h)
		}
		return net.JoinHostPort(h, p), nil
	}
	h := strings.Trim(s, "[]")
	if _, err := netip.ParseAddr(h); err != nil {
		return "", fmt.Errorf("%q is not an IP address", s)
	}
	return net.JoinHostPort(h, strconv.Itoa(port)), nil
}

// parseQualify reads qualify=yes|no|<ms>.
func parseQualify(v string) (int, bool) {
	if n, err := strconv.Atoi(v); err == nil {
		return n, n >= 0
	}
	switch {
	case conf.IsTrue(v):
		return defaultQualifyMS, true
	case conf.IsFalse(v):
		return 0, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// parseMailboxes reads mailbox=1234[@ctx][,5678@ctx2] (also '&' separated, as chan_sip).
func parseMailboxes(v string) []string {
	var out []string
	for _, m := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == '&' }) {
		m = strings.TrimSpace(m)
		if m == "" {
			continue
		}
		if !strings.Contains(m, "@") {
			m += "@default"
		}
		out = append(out, m)
	}
	return out
}

// parseConfig parses sip.conf completely for a server with system name sysname; it changes
// nothing. Every error of the file is collected (conf.ErrorList).
func parseConfig(cfg *conf.Config, sysname string) (*parsedConfig, error) {
	pc := &parsedConfig{set: defaultSettings(sysname), peers: map[string]*peerConfig{}}
	var errs conf.ErrorList
	add := func(e *conf.Error) { errs = append(errs, e) }
	if cfg == nil {
		return pc, nil
	}
	s := pc.set
	var bindPort = defaultPort
	var udpBindVar *conf.Variable
	tcpEnable, natSeen := false, false
	if g := cfg.Category("general"); g != nil {
		// bindport first: udpbindaddr without a port uses it.
		for _, v := range g.Vars {
			if strings.EqualFold(v.Name, "bindport") {
				n, err := strconv.Atoi(v.Value)
				if err != nil || n <= 0 || n > 65535 {
					add(confErr(v, "bindport: %q is not a port", v.Value))
					continue
				}
				bindPort = n
			}
		}
		s.udpBind = net.JoinHostPort("0.0.0.0", strconv.Itoa(bindPort))
		for _, v := range g.Vars {
			name := strings.ToLower(v.Name)
			val := strings.TrimSpace(v.Value)
			boolv := func(dst *bool) {
				switch {
				case conf.IsTrue(val):
					*dst = true
				case conf.IsFalse(val):
					*dst = false
				default:
					add(confErr(v, "%s: %q is not a boolean (yes/no)", v.Name, v.Value))
				}
			}
			intv := func(dst *int, min int) {
				n, err := strconv.Atoi(val)
				if err != nil || n < min {
					add(confErr(v, "%s: %q is not an integer >= %d", v.Name, v.Value, min))
					return
				}
				*dst = n
			}
			secs := func(dst *time.Duration, min int) {
				n := 0
				ok := true
				intvOK := func() {
					var err error
					n, err = strconv.Atoi(val)
					if err != nil || n < min {
						ok = false
					}
				}
				intvOK()
				if !ok {
					add(confErr(v, "%s: %q is not a number of seconds >= %d", v.Name, v.Value, min))
					return
				}
				*dst = time.Duration(n) * time.Second
			}
			switch name {
			case "bindport":
			case "udpbindaddr", "bindaddr":
				a, err := parseBindAddr(val, bindPort)
				if err != nil {
					add(confErr(v, "%s: %v", v.Name, err))
					continue
				}
				s.udpBind = a
				udpBindVar = v
			case "tcpenable":
				boolv(&tcpEnable)
			case "tcpbindaddr":
				a, err := parseBindAddr(val, defaultPort)
				if err != nil {
					add(confErr(v, "%s: %v", v.Name, err))
					continue
				}
				s.tcpBind = a
			case "realm":
				if val == "" {
					add(confErr(v, "realm: empty"))
					continue
				}
				s.realm = val
			case "defaultexpiry", "defaultexpirey":
				intv(&s.defaultExpiry, 1)
			case "minexpiry", "minexpirey":
				intv(&s.minExpiry, 1)
			case "maxexpiry", "maxexpirey":
				intv(&s.maxExpiry, 1)
			case "subminexpiry", "subminexpirey":
				intv(&s.subMinExpiry, 1)
			case "submaxexpiry", "submaxexpirey":
				intv(&s.subMaxExpiry, 1)
			case "allowsubscribe":
				boolv(&s.allowSubscribe)
			case "notifyringing":
				switch {
				case conf.IsTrue(val):
					s.notifyRinging = ringingYes
				case conf.IsFalse(val):
					s.notifyRinging = ringingNo
				case strings.EqualFold(val, "notinuse"):
					s.notifyRinging = ringingNotInUse
				default:
					add(confErr(v, "notifyringing: %q is not yes, no or notinuse", v.Value))
				}
			case "notifyhold":
				boolv(&s.notifyHold)
			case "qualifyfreq":
				secs(&s.qualifyFreq, 1)
			case "qualifygap":
				ms := 0
				intv(&ms, 0)
				s.qualifyGap = time.Duration(ms) * time.Millisecond
			case "qualifypeers":
				intv(&s.qualifyPeers, 1)
			case "qualify":
				ms, ok := parseQualify(val)
				if !ok {
					add(confErr(v, "qualify: %q is not yes, no or milliseconds", v.Value))
					continue
				}
				s.qualify = ms
			case "keepalive":
				if _, err := strconv.Atoi(val); err != nil && conf.IsFalse(val) {
					s.keepalive = 0
					continue
				}
				if _, err := strconv.Atoi(val); err != nil && conf.IsTrue(val) {
					s.keepalive = 60 * time.Second
					continue
				}
				secs(&s.keepalive, 0)
			case "rtcachefriends":
				boolv(&s.rtCacheFriends)
			case "rtsavesysname":
				boolv(&s.rtSaveSysname)
			case "rtupdate":
				boolv(&s.rtUpdate)
			case "ignoreregexpire":
				boolv(&s.ignoreRegExpire)
			case "rtautoclear":
				_, numErr := strconv.Atoi(val)
				switch {
				case numErr == nil:
					secs(&s.rtAutoClear, 1)
				case conf.IsTrue(val):
					s.rtAutoClear = defaultRtAutoClear
				case conf.IsFalse(val):
					s.rtAutoClear = 0
				default:
					secs(&s.rtAutoClear, 1)
				}
			case "tcpauthlimit":
				intv(&s.tcpAuthLimit, 1)
			case "tcpauthtimeout":
				secs(&s.tcpAuthTimeout, 1)
			case "maxauthfailures":
				intv(&s.maxAuthFailures, 0)
			case "authfailurewindow":
				secs(&s.authFailWindow, 1)
			case "authblocktime":
				secs(&s.authBlockTime, 1)
			case "maxrequests":
				intv(&s.maxRequests, 0)
			case "retryafter":
				intv(&s.retryAfter, 1)
			case "maxrequestwait":
				ms := int(s.maxRequestWait / time.Millisecond)
				intv(&ms, 0)
				s.maxRequestWait = time.Duration(ms) * time.Millisecond
			case "alwaysauthreject":
				boolv(&s.alwaysAuthReject)
			case "context":
				s.context = val
			case "subscribecontext":
				s.subscribeContext = val
			case "vmexten":
				s.vmExten = val
			case "useragent":
				s.userAgent = val
			case "fromdomain":
				s.fromDomain = val
			case "allow", "disallow":
				s.codecs = applyAllow(s.codecs, val, name == "allow")
			case "allowguest":
				boolv(&s.allowGuest)
			case "directmedia", "canreinvite":
				if m, ok := parseDirectMedia(val); ok {
					s.directMedia = m
				} else {
					add(confErr(v, "%s: %q is not yes, no, nonat, update or outgoing", v.Name, v.Value))
				}
			case "nat":
				var unknown []string
				if !natSeen {
					s.nat = natFlags{}
				}
				natSeen = true
				s.nat, unknown = parseNAT(s.nat, val)
				for _, w := range unknown {
					pc.warnings = append(pc.warnings, fmt.Sprintf("%s:%d: nat: %q is not no, force_rport, comedia, auto_force_rport or auto_comedia; ignored", v.File, v.Line, w))
				}
			case "callcounter":
				boolv(&s.callCounter)
			case "noncelifetime":
				secs(&s.nonceLifetime, 1)
			case "maxsubscriptions":
				intv(&s.maxSubscriptions, 0)
			case "maxsubscriptionsperpeer":
				intv(&s.maxSubsPerPeer, 0)
			case "maxregistrations":
				intv(&s.maxRegistrations, 1)
			default:
				if ok, msg := parseSTOption(&s.st, name, val); ok {
					if msg != "" {
						add(confErr(v, "%s", msg))
					}
				} else if !ignoredGeneral[name] {
					pc.warnings = append(pc.warnings, fmt.Sprintf("%s:%d: [general] %s is not a Pleiades option; ignored", v.File, v.Line, v.Name))
				}
			}
		}
		if s.minExpiry > s.maxExpiry {
			add(&conf.Error{File: g.File, Line: g.Line, Msg: fmt.Sprintf("minexpiry (%d) is greater than maxexpiry (%d)", s.minExpiry, s.maxExpiry)})
		}
		if msg := s.st.check(); msg != "" {
			add(&conf.Error{File: g.File, Line: g.Line, Msg: msg})
		}
		if s.subMinExpiry > s.subMaxExpiry {
			add(&conf.Error{File: g.File, Line: g.Line, Msg: fmt.Sprintf("subminexpiry (%d) is greater than submaxexpiry (%d)", s.subMinExpiry, s.subMaxExpiry)})
		}
		if tcpEnable && s.tcpBind == "" {
			h, _, _ := net.SplitHostPort(s.udpBind)
			s.tcpBind = net.JoinHostPort(h, strconv.Itoa(defaultPort))
			if udpBindVar != nil {
				_, p, _ := net.SplitHostPort(s.udpBind)
				s.tcpBind = net.JoinHostPort(h, p)
			}
		}
	}
	for _, cat := range cfg.Categories {
		if cat.Template || strings.EqualFold(cat.Name, "general") || strings.EqualFold(cat.Name, "authentication") {
			continue
		}
		p, perrs, warns := parsePeerCategory(cat, s)
		errs = append(errs, perrs...)
		pc.warnings = append(pc.warnings, warns...)
		if p == nil {
			continue
		}
		if old, dup := pc.peers[p.name]; dup {
			add(&conf.Error{File: cat.File, Line: cat.Line, Msg: fmt.Sprintf("peer %q already defined at %s:%d", p.name, old.file, old.line)})
			continue
		}
		pc.peers[p.name] = p
		pc.order = append(pc.order, p.name)
	}
	sort.Strings(pc.order)
	if len(errs) > 0 {
		return nil, errs
	}
	s.setTCPIdle()
	return pc, nil
}

// field is one key/value with its origin, from sip.conf or a realtime row.
type field struct {
	v *conf.Variable
}

// parsePeerCategory builds a peer from a sip.conf category (templates already resolved by the
// conf parser).
func parsePeerCategory(cat *conf.Category, s *settings) (*peerConfig, conf.ErrorList, []string) {
	fs := make([]field, 0, len(cat.Vars))
	for _, v := range cat.Vars {
		fs = append(fs, field{v})
	}
	return buildPeer(cat.Name, fs, s, false, cat.File, cat.Line)
}

// buildPeer applies peer options in order.
func buildPeer(name string, fs []field, s *settings, realtime bool, file string, line int) (*peerConfig, conf.ErrorList, []string) {
	p := &peerConfig{
		name:           name,
		context:        s.context,
		qualifyMS:      s.qualify,
		qualifyFreq:    s.qualifyFreq,
		keepalive:      s.keepalive,
		allowSubscribe: s.allowSubscribe,
		vmExten:        s.vmExten,
		transport:      "udp",
		nat:            s.nat,
		codecs:         s.codecs,
		st:             s.st,
		directMedia:    s.directMedia,
		realtime:       realtime,
		file:           file,
		line:           line,
	}
	var errs conf.ErrorList
	var warns []string
	var aclb, dmACL aclBuilder
	natSeen := false
	if s.callCounter {
		p.callLimit = math.MaxInt32
	}
	add := func(v *conf.Variable, format string, args ...any) { errs = append(errs, confErr(v, format, args...)) }
	for _, f := range fs {
		v := f.v
		name := strings.ToLower(v.Name)
		val := strings.TrimSpace(v.Value)
		switch name {
		case "type":
			switch strings.ToLower(val) {
			case "friend":
				p.typ = typeFriend
			case "peer":
				p.typ = typePeer
			case "user":
				p.typ = typeUser
			default:
				add(v, "type: %q is not friend, peer or user", v.Value)
			}
		case "host":
			if strings.EqualFold(val, "dynamic") {
				p.dynamic, p.host = true, ""
			} else if val != "" {
				p.dynamic, p.host = false, val
			}
		case "port":
			if realtime {
				continue // the registration's port (see restoreRegistration)
			}
			n, err := strconv.Atoi(val)
			if err != nil || n <= 0 || n > 65535 {
				add(v, "port: %q is not a port", v.Value)
				continue
			}
			p.port = n
		case "secret":
			p.secret = val
		case "md5secret":
			if val != "" && (len(val) != 32 || strings.Trim(strings.ToLower(val), "0123456789abcdef") != "") {
				add(v, "md5secret: not 32 hexadecimal digits")
				continue
			}
			p.md5secret = strings.ToLower(val)
		case "defaultuser", "username":
			p.defaultUser = val
		case "context":
			p.context = val
		case "subscribecontext":
			p.subscribeContext = val
		case "mailbox":
			p.mailboxes = parseMailboxes(val)
		case "callerid":
			p.callerID = val
		case "description":
			p.description = val
		case "permit", "deny":
			items := []string{val}
			if realtime {
				items = splitRTList(val)
			}
			for _, it := range items {
				if err := aclb.add(name == "permit", it); err != nil {
					add(v, "%s: %v", v.Name, err)
				}
			}
		case "qualify":
			ms, ok := parseQualify(val)
			if !ok {
				add(v, "qualify: %q is not yes, no or milliseconds", v.Value)
				continue
			}
			p.qualifyMS = ms
		case "qualifyfreq":
			n, err := strconv.Atoi(val)
			if err != nil || n <= 0 {
				add(v, "qualifyfreq: %q is not a number of seconds > 0", v.Value)
				continue
			}
			p.qualifyFreq = time.Duration(n) * time.Second
		case "keepalive":
			if _, err := strconv.Atoi(val); err == nil {
				// a number of seconds (0 = off), below
			} else if conf.IsFalse(val) {
				p.keepalive = 0
				continue
			} else if conf.IsTrue(val) {
				p.keepalive = 60 * time.Second
				continue
			}
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 {
				add(v, "keepalive: %q is not yes, no or seconds", v.Value)
				continue
			}
			p.keepalive = time.Duration(n) * time.Second
		case "allowsubscribe":
			switch {
			case conf.IsTrue(val):
				p.allowSubscribe = true
			case conf.IsFalse(val):
				p.allowSubscribe = false
			default:
				add(v, "allowsubscribe: %q is not a boolean (yes/no)", v.Value)
			}
		case "vmexten":
			p.vmExten = val
		case "transport":
			t := strings.ToLower(strings.TrimSpace(strings.Split(val, ",")[0]))
			if t != "udp" && t != "tcp" && t != "" {
				warns = append(warns, fmt.Sprintf("%s:%d: peer %s: transport %q not supported; udp used", v.File, v.Line, p.name, val))
				continue
			}
			if t != "" {
				p.transport = t
			}
		case "nat":
			if !natSeen {
				p.nat = natFlags{}
			}
			natSeen = true
			var unknown []string
			p.nat, unknown = parseNAT(p.nat, val)
			for _, w := range unknown {
				warns = append(warns, fmt.Sprintf("%s:%d: peer %s: nat: %q is not no, force_rport, comedia, auto_force_rport or auto_comedia; ignored", v.File, v.Line, p.name, w))
			}
		case "accountcode":
			p.accountCode = val
		case "callcounter":
			p.callLimit = 0
			if conf.IsTrue(val) {
				p.callLimit = math.MaxInt32
			}
		case "allow", "disallow":
			items := []string{val}
			if realtime {
				items = splitRTList(val)
			}
			for _, it := range items {
				p.codecs = applyAllow(p.codecs, it, name == "allow")
			}
		case "directmedia", "canreinvite":
			if m, ok := parseDirectMedia(val); ok {
				p.directMedia = m
			} else {
				add(v, "%s: %q is not yes, no, nonat, update or outgoing", v.Name, v.Value)
			}
		case "directmediapermit", "directmediadeny":
			items := []string{val}
			if realtime {
				items = splitRTList(val)
			}
			for _, it := range items {
				if err := dmACL.add(name == "directmediapermit", it); err != nil {
					add(v, "%s: %v", v.Name, err)
				}
			}
		case "busylevel":
			n, err := strconv.Atoi(val)
			if err != nil {
				add(v, "busylevel: %q is not a number", v.Value)
				continue
			}
			p.busyLevel = max(n, 0)
		case "insecure":
			p.insecurePort, p.insecureInvite = false, false
			for _, w := range strings.Split(val, ",") {
				switch strings.ToLower(strings.TrimSpace(w)) {
				case "port":
					p.insecurePort = true
				case "invite":
					p.insecureInvite = true
				case "very", "yes": // deprecated spellings of port,invite
					p.insecurePort, p.insecureInvite = true, true
				case "no", "":
				default:
					warns = append(warns, fmt.Sprintf("%s:%d: peer %s: insecure: %q is not port or invite; ignored", v.File, v.Line, p.name, w))
				}
			}
		case "call-limit":
			n, err := strconv.Atoi(val)
			if err != nil {
				add(v, "call-limit: %q is not a number", v.Value)
				continue
			}
			p.callLimit = max(n, 0)
		default:
			if ok, msg := parseSTOption(&p.st, name, val); ok {
				if msg != "" {
					add(v, "%s", msg)
				}
			} else if !ignoredPeer[name] && !realtime {
				warns = append(warns, fmt.Sprintf("%s:%d: [%s] %s is not a Pleiades peer option; ignored", v.File, v.Line, p.name, v.Name))
			}
		}
	}
	p.acl = aclb.build()
	p.directACL = dmACL.build()
	if msg := p.st.check(); msg != "" {
		errs = append(errs, &conf.Error{File: file, Line: line, Msg: fmt.Sprintf("peer %q: %s", p.name, msg)})
	}
	if !p.dynamic && p.host == "" && !realtime && p.typ != typeUser { // a user only calls in: no host needed
		errs = append(errs, &conf.Error{File: file, Line: line, Msg: fmt.Sprintf("peer %q: no host= (use host=dynamic for a registering peer)", p.name)})
	}
	if p.realtime && p.host == "" {
		p.dynamic = true
	}
	if !p.dynamic && p.host != "" {
		if _, err := netip.ParseAddr(p.host); err != nil {
			warns = append(warns, fmt.Sprintf("%s:%d: peer %s: host %q is not an IP address; it is not resolved (no DNS in Pleiades' registrar yet)", file, line, p.name, p.host))
		}
	}
	return p, errs, warns
}

func splitRTList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ";") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// applyAllow applies one allow= or disallow= line ("ulaw,alaw", "all", "!gsm"... as chan_sip's
// ast_format_cap_update_by_allow_disallow) to codecs, keeping the order of the allow lines.
// Pleiades carries G.711 only: other codec names change nothing.
func applyAllow(codecs []sdp.Codec, val string, allow bool) []sdp.Codec {
	out := append([]sdp.Codec(nil), codecs...)
	for _, w := range strings.FieldsFunc(val, func(r rune) bool { return r == ',' || r == '&' || r == ' ' }) {
		add := allow
		if strings.HasPrefix(w, "!") {
			add, w = !add, w[1:]
		}
		var which []sdp.Codec
		switch strings.ToLower(w) {
		case "all":
			which = []sdp.Codec{sdp.PCMU, sdp.PCMA}
		case "ulaw":
			which = []sdp.Codec{sdp.PCMU}
		case "alaw":
			which = []sdp.Codec{sdp.PCMA}
		}
		for _, c := range which {
			i := slices.IndexFunc(out, func(o sdp.Codec) bool { return o.Same(c) })
			switch {
			case add && i < 0:
				out = append(out, c)
			case !add && i >= 0:
				out = slices.Delete(out, i, i+1)
			}
		}
	}
	return out
}

// directMode is directmedia= (chan_sip's canreinvite).
type directMode int

const (
	directNo    directMode = iota // the default: Pleiades relays
	directYes                     // yes, update, outgoing: straight when both legs may
	directNoNAT                   // nonat: straight unless the peer is behind NAT
)

// parseDirectMedia reads directmedia=: yes, no, nonat; chan_sip's update (re-INVITE as UPDATE)
// and outgoing (only re-INVITE outgoing legs, against glare) are taken as yes, since
// Pleiades always re-INVITEs and never meets glare on its own re-INVITEs; "yes,update" too.
func parseDirectMedia(val string) (directMode, bool) {
	m := directNo
	for _, w := range strings.Split(val, ",") {
		w = strings.ToLower(strings.TrimSpace(w))
		switch {
		case w == "nonat":
			m = directNoNAT
		case w == "update" || w == "outgoing" || conf.IsTrue(w):
			if m == directNo {
				m = directYes
			}
		case conf.IsFalse(w):
			return directNo, true
		default:
			return directNo, false
		}
	}
	return m, true
}
