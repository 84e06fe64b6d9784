package cluster

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/conf"
)

// Event types that can be shared. To share a new kind of state, add its name here (and
// document its Fields layout on Event); the wire format carries the type as a string, so older
// servers simply count events of a type they do not know as dropped.
const (
	TypeDeviceState = "device_state"
	TypeMWI         = "mwi"
	// TypeRealtime carries explicit realtime invalidations ("realtime invalidate" on one
	// server, applied by every server). Unlike the state types it is a signal: nothing of it
	// is kept, synced to a joining server or purged when a server leaves.
	TypeRealtime = "realtime"
	// TypeSIPLocation says which server holds each SIP registration (peer, that server's
	// SIP address, expiry), so that Dial(SIP/bob) on any server reaches bob through the
	// server bob registered with. It is state (synced on join, purged when a member leaves)
	// but, like realtime, shared without being named in a channel.
	TypeSIPLocation = "sip_location"
	// TypeQueue carries queue member changes (pause, unpause, dynamic add and remove, a
	// member's last call) to the servers that have a queue of the same name: Key is the
	// queue, Fields queue.Share's. A signal like realtime, shared without being named.
	TypeQueue = "queue"
)

// knownTypes lists the shareable event types in the order the CLI shows them.
var knownTypes = []string{TypeDeviceState, TypeMWI, TypeRealtime, TypeSIPLocation, TypeQueue}

// isSignal reports whether events of type t are one-shot signals rather than state.
func isSignal(t string) bool { return t == TypeRealtime || t == TypeQueue }

// isImplicit reports whether type t is shared without a channel naming it (when some other
// type is): types added after cluster.conf and res_corosync.conf files were written for
// device_state and mwi, which those files should not need a change to get.
func isImplicit(t string) bool { return t == TypeRealtime || t == TypeSIPLocation || t == TypeQueue }

// KnownTypes returns the event types that can be shared.
func KnownTypes() []string { return slices.Clone(knownTypes) }

func isKnownType(t string) bool { return slices.Contains(knownTypes, t) }

// Transport modes.
const (
	ModeEmbedded = "embedded"
	ModeExternal = "external"
)

// Defaults.
const (
	DefaultClusterName       = "pleiades"
	DefaultHeartbeatInterval = 1000 * time.Millisecond
	DefaultMemberTimeout     = 5000 * time.Millisecond
	// DefaultExternalURL is used by mode=external without nats_url (the NATS convention).
	DefaultExternalURL = "nats://127.0.0.1:4222"
	// DefaultSiteStaleTimeout applies with site= unless site_stale_timeout says otherwise.
	DefaultSiteStaleTimeout = 60 * time.Second
)

// Channel is one event channel: the seed's ais.conf [name] type=event_channel section, or
// the single implicit channel of a res_corosync.conf [general].
type Channel struct {
	Name      string
	Publish   []string // event types published, in file order, no duplicates
	Subscribe []string // event types subscribed
	File      string
	Line      int
}

// Site is another site: a [name] section with type=site and gateways=host:port,...
type Site struct {
	Name     string
	Gateways []string // host:port of some of its servers' gateway_listen
	File     string
	Line     int
}

// Config is cluster.conf (or res_corosync.conf) after validation.
type Config struct {
	// File is the configuration file's name (for messages).
	File string
	// Corosync is true when the file was read in res_corosync.conf shape.
	Corosync bool

	Mode         string // ModeEmbedded or ModeExternal
	NodeName     string // "" until New fills it from SystemName or the host name
	ClusterName  string // subject prefix and NATS cluster name
	Listen       string // embedded: route listen host:port ("" = no route port: a cluster of one)
	Routes       []string
	ClientListen string // embedded: optional NATS client port for tools ("" = none)
	NATSURLs     []string
	TLSCA        string
	TLSCert      string
	TLSKey       string
	Credentials  string

	// Route security (embedded mode). RouteTLSCA, RouteTLSCert and RouteTLSKey are file names
	// (relative ones resolved against the directory of the configuration file): all three or
	// none; with them every route is mutual TLS verified against the cluster CA.
	RouteTLSCA    string
	RouteTLSCert  string
	RouteTLSKey   string
	RouteUser     string // route authentication: every route, in and out, carries it
	RoutePassword string
	// ClientUser and ClientPassword protect the client_listen port.
	ClientUser     string
	ClientPassword string
	// StrictMembers ([general] strict_members): a server announcing an Entity ID that a live
	// member already holds is ignored (not only reported) until that member is gone.
	StrictMembers bool
	// JetStream ([general] jetstream, default no) runs the embedded server with JetStream, for
	// the voicemail messages kept in NATS (voicemail.conf storage=nats); JetStreamDir
	// (jetstream_dir) is its store directory, <astdbdir>/nats when empty (the lead fills it).
	JetStream    bool
	JetStreamDir string

	// Site names this server's site (embedded mode; "" = no sites). Servers of one site are
	// routed as before; sites are joined through NATS gateways: GatewayListen is where this
	// server accepts other sites' gateway connections and Sites lists the other sites.
	Site          string
	GatewayListen string
	// GatewayAdvertise is the gateway address told to the other sites (NAT, a proxy); ""
	// = the address bound.
	GatewayAdvertise string
	Sites            []Site
	// SiteStaleTimeout is how long a silent member of another site stays, its states kept
	// and marked stale, before it is purged (0: purged at member_timeout like any member).
	SiteStaleTimeout time.Duration

	HeartbeatInterval time.Duration
	MemberTimeout     time.Duration

	// Channels in file order.
	Channels []Channel
	// DefaultChannels is true when the file configured no event channel at all, so that the
	// default (publish and subscribe device_state and mwi) applies.
	DefaultChannels bool

	// SystemName and Version are not read from the file: the lead sets them before New.
	// SystemName (asterisk.conf systemname) is the default node name; Version is announced in
	// heartbeats.
	SystemName string
	Version    string
}

// DefaultConfig returns the configuration used without a cluster.conf: embedded, a cluster
// of one, both event types shared.
func DefaultConfig() *Config {
	c := &Config{Mode: ModeEmbedded, ClusterName: DefaultClusterName,
		HeartbeatInterval: DefaultHeartbeatInterval, MemberTimeout: DefaultMemberTimeout}
	c.setDefaultChannels("", 0)
	return c
}

func (c *Config) setDefaultChannels(file string, line int) {
	c.DefaultChannels = true
	c.Channels = []Channel{{Name: "default", Publish: KnownTypes(), Subscribe: KnownTypes(), File: file, Line: line}}
}

// Publishes reports whether events of type typ are sent to the cluster. An implicit type that
// no channel names (a cluster.conf or res_corosync.conf written before it existed) is sent
// whenever some other type is.
func (c *Config) Publishes(typ string) bool {
	return c.shares(typ, func(ch *Channel) []string { return ch.Publish })
}

// Subscribes reports whether events of type typ are taken from the cluster (an implicit type no
// channel names: whenever some other type is).
func (c *Config) Subscribes(typ string) bool {
	return c.shares(typ, func(ch *Channel) []string { return ch.Subscribe })
}

func (c *Config) shares(typ string, list func(*Channel) []string) bool {
	named, any := false, false
	for i := range c.Channels {
		ch := &c.Channels[i]
		if slices.Contains(list(ch), typ) {
			return true
		}
		named = named || slices.Contains(ch.Publish, typ) || slices.Contains(ch.Subscribe, typ)
		any = any || len(list(ch)) > 0
	}
	return isImplicit(typ) && !named && any
}

// PublishedTypes returns the published types in KnownTypes order.
func (c *Config) PublishedTypes() []string {
	var out []string
	for _, t := range knownTypes {
		if c.Publishes(t) {
			out = append(out, t)
		}
	}
	return out
}

// SubscribedTypes returns the subscribed types in KnownTypes order.
func (c *Config) SubscribedTypes() []string {
	var out []string
	for _, t := range knownTypes {
		if c.Subscribes(t) {
			out = append(out, t)
		}
	}
	return out
}

// generalKeys are the [general] keys of cluster.conf.
var generalKeys = []string{"mode", "node_name", "cluster_name", "listen", "routes", "client_listen",
	"nats_url", "tls_ca", "tls_cert", "tls_key", "credentials", "heartbeat_interval", "member_timeout",
	"route_tls_ca", "route_tls_cert", "route_tls_key", "route_user", "route_password",
	"client_user", "client_password", "strict_members", "site", "gateway_listen", "gateway_advertise", "site_stale_timeout",
	"jetstream", "jetstream_dir"}

var embeddedOnly = []string{"listen", "routes", "client_listen", "route_tls_ca", "route_tls_cert", "route_tls_key",
	"route_user", "route_password", "client_user", "client_password", "site", "gateway_listen", "gateway_advertise", "site_stale_timeout",
	"jetstream", "jetstream_dir"}
var externalOnly = []string{"nats_url", "tls_ca", "tls_cert", "tls_key", "credentials"}

// ParseConfig validates a parsed cluster.conf (isCorosync false: [general] plus ais.conf-shaped
// [name] type=event_channel sections) or res_corosync.conf (isCorosync true: [general] with
// publish_event/subscribe_event lines, which may also hold cluster.conf's [general] keys).
// Every problem of the file is reported, each with file:line, as a conf.ErrorList. A nil cfg
// gives DefaultConfig.
func ParseConfig(cfg *conf.Config, isCorosync bool) (*Config, error) {
	if cfg == nil {
		return DefaultConfig(), nil
	}
	c := &Config{File: cfg.File, Corosync: isCorosync, Mode: ModeEmbedded, ClusterName: DefaultClusterName,
		HeartbeatInterval: DefaultHeartbeatInterval, MemberTimeout: DefaultMemberTimeout}
	var errs conf.ErrorList
	bad := func(file string, line int, format string, args ...any) {
		errs = append(errs, &conf.Error{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	seen := map[string]*conf.Variable{} // [general] scalar keys, to report duplicates and mode clashes
	var generalCat *conf.Category
	var corosyncChan *Channel

	for _, cat := range cfg.Categories {
		if cat.Template {
			continue
		}
		name := strings.ToLower(cat.Name)
		if name == "general" {
			if generalCat != nil {
				bad(cat.File, cat.Line, "[general] appears twice (first at %s:%d)", generalCat.File, generalCat.Line)
			}
			generalCat = cat
			for _, v := range cat.Vars {
				key := strings.ToLower(v.Name)
				if isCorosync && (key == "publish_event" || key == "subscribe_event") {
					if corosyncChan == nil {
						corosyncChan = &Channel{Name: "general", File: cat.File, Line: cat.Line}
					}
					addEvents(corosyncChan, v, bad)
					continue
				}
				if !slices.Contains(generalKeys, key) {
					hint := ""
					if key == "publish_event" || key == "subscribe_event" {
						hint = " (in cluster.conf event types go in an event channel section: [device_state] type=event_channel publish_event=device_state)"
					}
					bad(v.File, v.Line, "unknown option '%s' in [general]%s", v.Name, hint)
					continue
				}
				if prev, dup := seen[key]; dup {
					bad(v.File, v.Line, "'%s' set twice in [general] (first at %s:%d)", v.Name, prev.File, prev.Line)
					continue
				}
				seen[key] = v
				c.setGeneral(key, v, bad)
			}
			continue
		}
		if isCorosync {
			bad(cat.File, cat.Line, "unknown section [%s]: res_corosync.conf has only [general]", cat.Name)
			continue
		}
		if isSiteSection(cat) {
			c.addSite(cat, bad)
			continue
		}
		// An ais.conf-shaped event channel.
		ch := Channel{Name: cat.Name, File: cat.File, Line: cat.Line}
		typ := ""
		for _, v := range cat.Vars {
			switch strings.ToLower(v.Name) {
			case "type":
				typ = strings.ToLower(strings.TrimSpace(v.Value))
				if typ != "event_channel" {
					bad(v.File, v.Line, "[%s]: unknown type '%s' (want type=event_channel)", cat.Name, v.Value)
				}
			case "publish_event", "subscribe_event":
				addEvents(&ch, v, bad)
			default:
				bad(v.File, v.Line, "unknown option '%s' in event channel [%s] (type, publish_event, subscribe_event)", v.Name, cat.Name)
			}
		}
		if typ == "" {
			bad(cat.File, cat.Line, "section [%s] has no type=event_channel", cat.Name)
		}
		for _, other := range c.Channels {
			if strings.EqualFold(other.Name, ch.Name) {
				bad(cat.File, cat.Line, "event channel [%s] defined twice (first at %s:%d)", cat.Name, other.File, other.Line)
			}
		}
		c.Channels = append(c.Channels, ch)
	}
	if corosyncChan != nil {
		c.Channels = append(c.Channels, *corosyncChan)
	}
	if len(c.Channels) == 0 {
		file, line := cfg.File, 0
		if generalCat != nil {
			file, line = generalCat.File, generalCat.Line
		}
		c.setDefaultChannels(file, line)
	}

	// Cross-key checks.
	for _, k := range embeddedOnly {
		if v := seen[k]; v != nil && c.Mode != ModeEmbedded {
			bad(v.File, v.Line, "'%s' applies only to mode=embedded (this file sets mode=%s)", v.Name, c.Mode)
		}
	}
	for _, k := range externalOnly {
		if v := seen[k]; v != nil && c.Mode != ModeExternal {
			bad(v.File, v.Line, "'%s' applies only to mode=external (this file sets mode=%s)", v.Name, c.Mode)
		}
	}
	if v := seen["routes"]; v != nil && len(c.Routes) > 0 && seen["listen"] == nil && c.Mode == ModeEmbedded {
		bad(v.File, v.Line, "routes= needs listen=host:port (the route port this server accepts routes on)")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		v := seen["tls_cert"]
		if v == nil {
			v = seen["tls_key"]
		}
		bad(v.File, v.Line, "tls_cert and tls_key go together")
	}
	c.checkRouteSecurity(seen, bad)
	c.checkSites(seen, bad)
	if c.MemberTimeout <= c.HeartbeatInterval {
		v := seen["member_timeout"]
		if v == nil {
			v = seen["heartbeat_interval"]
		}
		if v != nil {
			bad(v.File, v.Line, "member_timeout (%d ms) must be longer than heartbeat_interval (%d ms); three intervals or more is advised",
				c.MemberTimeout.Milliseconds(), c.HeartbeatInterval.Milliseconds())
		}
	}
	if c.Mode == ModeExternal && len(c.NATSURLs) == 0 {
		c.NATSURLs = []string{DefaultExternalURL}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return c, nil
}

func (c *Config) setGeneral(key string, v *conf.Variable, bad func(string, int, string, ...any)) {
	val := strings.TrimSpace(v.Value)
	switch key {
	case "mode":
		switch strings.ToLower(val) {
		case ModeEmbedded, ModeExternal:
			c.Mode = strings.ToLower(val)
		default:
			bad(v.File, v.Line, "mode must be 'embedded' or 'external', not '%s'", v.Value)
		}
	case "node_name":
		if val == "" || strings.ContainsAny(val, " \t") {
			bad(v.File, v.Line, "node_name '%s' must be non-empty and have no spaces", v.Value)
			return
		}
		c.NodeName = val
	case "cluster_name":
		if !validToken(val) {
			bad(v.File, v.Line, "cluster_name '%s' must be letters, digits, '-' or '_' (it is a NATS subject prefix)", v.Value)
			return
		}
		c.ClusterName = val
	case "listen", "client_listen":
		if err := checkHostPort(val, true); err != nil {
			bad(v.File, v.Line, "%s: %v", key, err)
			return
		}
		if key == "listen" {
			c.Listen = val
		} else {
			c.ClientListen = val
		}
	case "routes":
		for _, r := range splitList(val) {
			hp := strings.TrimPrefix(r, "nats-route://")
			if err := checkHostPort(hp, false); err != nil {
				bad(v.File, v.Line, "routes: %v", err)
				continue
			}
			c.Routes = append(c.Routes, hp)
		}
	case "nats_url":
		if len(splitList(val)) == 0 {
			bad(v.File, v.Line, "nats_url is empty")
		}
		for _, u := range splitList(val) {
			if !strings.Contains(u, "://") {
				u = "nats://" + u
			}
			pu, err := url.Parse(u)
			if err != nil || pu.Host == "" {
				bad(v.File, v.Line, "nats_url: '%s' is not a NATS URL (nats://host:port)", u)
				continue
			}
			switch pu.Scheme {
			case "nats", "tls", "ws", "wss":
			default:
				bad(v.File, v.Line, "nats_url: unknown scheme '%s' in '%s' (nats, tls, ws, wss)", pu.Scheme, u)
				continue
			}
			if pu.Port() != "" {
				if err := checkHostPort(pu.Host, false); err != nil {
					bad(v.File, v.Line, "nats_url: %v", err)
					continue
				}
			}
			c.NATSURLs = append(c.NATSURLs, u)
		}
	case "tls_ca", "tls_cert", "tls_key", "credentials":
		if val == "" {
			bad(v.File, v.Line, "%s needs a file name", key)
			return
		}
		switch key {
		case "tls_ca":
			c.TLSCA = val
		case "tls_cert":
			c.TLSCert = val
		case "tls_key":
			c.TLSKey = val
		case "credentials":
			c.Credentials = val
		}
	case "route_tls_ca", "route_tls_cert", "route_tls_key":
		if val == "" {
			bad(v.File, v.Line, "%s needs a file name", key)
			return
		}
		if !filepath.IsAbs(val) && v.File != "" {
			val = filepath.Join(filepath.Dir(v.File), val)
		}
		switch key {
		case "route_tls_ca":
			c.RouteTLSCA = val
		case "route_tls_cert":
			c.RouteTLSCert = val
		case "route_tls_key":
			c.RouteTLSKey = val
		}
	case "route_user", "client_user":
		if val == "" || strings.ContainsAny(val, " \t:@/") {
			bad(v.File, v.Line, "%s '%s' must be non-empty, without spaces, ':', '@' or '/'", key, v.Value)
			return
		}
		if key == "route_user" {
			c.RouteUser = val
		} else {
			c.ClientUser = val
		}
	case "route_password", "client_password":
		if val == "" {
			bad(v.File, v.Line, "%s is empty", key)
			return
		}
		if key == "route_password" {
			c.RoutePassword = val
		} else {
			c.ClientPassword = val
		}
	case "site":
		if !validToken(val) {
			bad(v.File, v.Line, "site '%s' must be letters, digits, '-' or '_' (it names the site's NATS cluster)", v.Value)
			return
		}
		c.Site = val
	case "gateway_listen":
		if err := checkHostPort(val, true); err != nil {
			bad(v.File, v.Line, "gateway_listen: %v", err)
			return
		}
		c.GatewayListen = val
	case "gateway_advertise":
		if err := checkHostPort(val, false); err != nil {
			bad(v.File, v.Line, "gateway_advertise: %v", err)
			return
		}
		c.GatewayAdvertise = val
	case "site_stale_timeout":
		n, err := strconv.Atoi(val)
		if err != nil || n < 0 || n > 86400_000 {
			bad(v.File, v.Line, "site_stale_timeout must be a number of milliseconds between 0 and 86400000, not '%s'", v.Value)
			return
		}
		c.SiteStaleTimeout = time.Duration(n) * time.Millisecond
	case "strict_members":
		switch {
		case conf.IsTrue(val):
			c.StrictMembers = true
		case conf.IsFalse(val):
			c.StrictMembers = false
		default:
			bad(v.File, v.Line, "strict_members must be yes or no, not '%s'", v.Value)
		}
	case "jetstream":
		switch {
		case conf.IsTrue(val):
			c.JetStream = true
		case conf.IsFalse(val):
			c.JetStream = false
		default:
			bad(v.File, v.Line, "jetstream must be yes or no, not '%s'", v.Value)
		}
	case "jetstream_dir":
		if val == "" {
			bad(v.File, v.Line, "jetstream_dir is empty")
			return
		}
		c.JetStreamDir = val
	case "heartbeat_interval", "member_timeout":
		n, err := strconv.Atoi(val)
		if err != nil || n < 10 || n > 3600_000 {
			bad(v.File, v.Line, "%s must be a number of milliseconds between 10 and 3600000, not '%s'", key, v.Value)
			return
		}
		if key == "heartbeat_interval" {
			c.HeartbeatInterval = time.Duration(n) * time.Millisecond
		} else {
			c.MemberTimeout = time.Duration(n) * time.Millisecond
		}
	}
}

// addEvents adds the event types of one publish_event/subscribe_event line (a single type or
// a comma-separated list) to ch.
func addEvents(ch *Channel, v *conf.Variable, bad func(string, int, string, ...any)) {
	list := &ch.Publish
	if strings.EqualFold(v.Name, "subscribe_event") {
		list = &ch.Subscribe
	}
	types := splitList(v.Value)
	if len(types) == 0 {
		bad(v.File, v.Line, "%s needs an event type (%s)", v.Name, strings.Join(knownTypes, ", "))
	}
	for _, t := range types {
		t = strings.ToLower(t)
		if !isKnownType(t) {
			bad(v.File, v.Line, "unknown event type '%s' (%s)", t, strings.Join(knownTypes, ", "))
			continue
		}
		if !slices.Contains(*list, t) {
			*list = append(*list, t)
		}
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func validToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// checkHostPort accepts "host:port" with a numeric port (0 only when listening: a free port
// is picked, which tests use).
func checkHostPort(hp string, listen bool) error {
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		return fmt.Errorf("'%s' is not host:port", hp)
	}
	if strings.ContainsAny(host, " \t/") {
		return fmt.Errorf("bad host in '%s'", hp)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 || (n == 0 && !listen) {
		return fmt.Errorf("bad port '%s' in '%s'", port, hp)
	}
	if !listen && host == "" {
		return fmt.Errorf("missing host in '%s'", hp)
	}
	return nil
}

// Diff lists the settings that differ between a and b (names as in cluster.conf), for reload:
// none of them can change without a restart.
func Diff(a, b *Config) []string {
	var d []string
	add := func(name string, x, y any) {
		if fmt.Sprint(x) != fmt.Sprint(y) {
			d = append(d, name)
		}
	}
	add("mode", a.Mode, b.Mode)
	add("node_name", a.NodeName, b.NodeName)
	add("cluster_name", a.ClusterName, b.ClusterName)
	add("listen", a.Listen, b.Listen)
	add("routes", a.Routes, b.Routes)
	add("client_listen", a.ClientListen, b.ClientListen)
	add("nats_url", a.NATSURLs, b.NATSURLs)
	add("tls_ca", a.TLSCA, b.TLSCA)
	add("tls_cert", a.TLSCert, b.TLSCert)
	add("tls_key", a.TLSKey, b.TLSKey)
	add("credentials", a.Credentials, b.Credentials)
	add("route_tls_ca", a.RouteTLSCA, b.RouteTLSCA)
	add("route_tls_cert", a.RouteTLSCert, b.RouteTLSCert)
	add("route_tls_key", a.RouteTLSKey, b.RouteTLSKey)
	add("route_user", a.RouteUser, b.RouteUser)
	add("route_password", a.RoutePassword, b.RoutePassword)
	add("client_user", a.ClientUser, b.ClientUser)
	add("client_password", a.ClientPassword, b.ClientPassword)
	add("strict_members", a.StrictMembers, b.StrictMembers)
	add("jetstream", a.JetStream, b.JetStream)
	add("jetstream_dir", a.JetStreamDir, b.JetStreamDir)
	add("site", a.Site, b.Site)
	add("gateway_listen", a.GatewayListen, b.GatewayListen)
	add("gateway_advertise", a.GatewayAdvertise, b.GatewayAdvertise)
	add("site_stale_timeout", a.SiteStaleTimeout, b.SiteStaleTimeout)
	sites := func(c *Config) string {
		var s []string
		for _, st := range c.Sites {
			s = append(s, fmt.Sprintf("%s:%v", strings.ToLower(st.Name), st.Gateways))
		}
		sort.Strings(s)
		return strings.Join(s, ";")
	}
	add("sites", sites(a), sites(b))
	add("heartbeat_interval", a.HeartbeatInterval, b.HeartbeatInterval)
	add("member_timeout", a.MemberTimeout, b.MemberTimeout)
	add("publish_event", a.PublishedTypes(), b.PublishedTypes())
	add("subscribe_event", a.SubscribedTypes(), b.SubscribedTypes())
	chans := func(c *Config) string {
		var s []string
		for _, ch := range c.Channels {
			s = append(s, fmt.Sprintf("%s:%v:%v", strings.ToLower(ch.Name), ch.Publish, ch.Subscribe))
		}
		sort.Strings(s)
		return strings.Join(s, ";")
	}
	if len(d) == 0 {
		add("event channels", chans(a), chans(b))
	}
	return d
}

// resolvedNodeName is the node name New uses: node_name, else SystemName, else the host name.
func (c *Config) resolvedNodeName() string {
	if c.NodeName != "" {
		return c.NodeName
	}
	if s := strings.ReplaceAll(strings.TrimSpace(c.SystemName), " ", "_"); s != "" {
		return s
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return strings.ReplaceAll(h, " ", "_")
	}
	return "pleiades"
}
