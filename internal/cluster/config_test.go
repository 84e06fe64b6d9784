package cluster

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/conf"
)

func parseCfg(t *testing.T, name, text string, corosync bool) (*Config, error) {
	t.Helper()
	cfg, err := conf.Parse(name, []byte(text), conf.Options{})
	if err != nil {
		t.Fatalf("conf.Parse: %v", err)
	}
	return ParseConfig(cfg, corosync)
}

func TestParseConfigGood(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		corosync   bool
		pub, sub   []string
		check      func(*testing.T, *Config)
	}{
		{name: "empty file: defaults, both types", text: "",
			pub: KnownTypes(), sub: KnownTypes(),
			check: func(t *testing.T, c *Config) {
				if c.Mode != ModeEmbedded || c.ClusterName != "pleiades" || c.HeartbeatInterval != time.Second ||
					c.MemberTimeout != 5*time.Second || !c.DefaultChannels || c.Listen != "" {
					t.Errorf("%+v", c)
				}
			}},
		{name: "seed ais.conf shape", text: `
[general]
node_name = pbx-a
listen = 10.0.0.1:6222
routes = 10.0.0.2:6222, nats-route://10.0.0.3:6222
client_listen = 127.0.0.1:4223
heartbeat_interval = 250
member_timeout = 1000

[device_state]
type=event_channel
publish_event=device_state
subscribe_event=device_state

[mwi]
type = event_channel
publish_event = mwi
`, pub: KnownTypes(), sub: []string{TypeDeviceState, TypeRealtime, TypeSIPLocation, TypeQueue},
			check: func(t *testing.T, c *Config) {
				if c.NodeName != "pbx-a" || c.Listen != "10.0.0.1:6222" || !slices.Equal(c.Routes, []string{"10.0.0.2:6222", "10.0.0.3:6222"}) ||
					c.ClientListen != "127.0.0.1:4223" || c.HeartbeatInterval != 250*time.Millisecond || c.MemberTimeout != time.Second || c.DefaultChannels {
					t.Errorf("%+v", c)
				}
				if len(c.Channels) != 2 || c.Channels[0].Name != "device_state" || c.Channels[1].Line != 15 {
					t.Errorf("channels %+v", c.Channels)
				}
			}},
		{name: "comma lists and repeated lines", text: `
[both]
type=event_channel
publish_event = device_state,mwi
subscribe_event = MWI
subscribe_event = device_state
`, pub: KnownTypes(), sub: KnownTypes()},
		{name: "external", text: `
[general]
mode = external
nats_url = nats://n1:4222, tls://n2:4222,n3:4222
tls_ca = /etc/pleiades/ca.pem
tls_cert = /etc/pleiades/cert.pem
tls_key = /etc/pleiades/key.pem
credentials = /etc/pleiades/pbx.creds
cluster_name = pbx-prod
`, pub: KnownTypes(), sub: KnownTypes(),
			check: func(t *testing.T, c *Config) {
				if c.Mode != ModeExternal || !slices.Equal(c.NATSURLs, []string{"nats://n1:4222", "tls://n2:4222", "nats://n3:4222"}) ||
					c.TLSCA == "" || c.TLSCert == "" || c.TLSKey == "" || c.Credentials == "" || c.ClusterName != "pbx-prod" {
					t.Errorf("%+v", c)
				}
			}},
		{name: "external default URL", text: "[general]\nmode=external\n", pub: KnownTypes(), sub: KnownTypes(),
			check: func(t *testing.T, c *Config) {
				if !slices.Equal(c.NATSURLs, []string{DefaultExternalURL}) {
					t.Errorf("%v", c.NATSURLs)
				}
			}},
		{name: "share nothing", text: "[none]\ntype=event_channel\n", pub: nil, sub: nil},
		{name: "template sections are skipped", text: "[tpl](!)\ntype=event_channel\n[ch](tpl)\npublish_event=mwi\n",
			check: func(*testing.T, *Config) {}, pub: []string{TypeMWI, TypeRealtime, TypeSIPLocation, TypeQueue}},
		{name: "res_corosync.conf sample (all commented)", corosync: true, text: "[general]\n;publish_event = mwi\n",
			pub: KnownTypes(), sub: KnownTypes()},
		{name: "res_corosync.conf one per line", corosync: true, text: `
[general]
publish_event = mwi
subscribe_event = mwi
publish_event = device_state
subscribe_event = device_state
`, pub: KnownTypes(), sub: KnownTypes(),
			check: func(t *testing.T, c *Config) {
				if len(c.Channels) != 1 || c.Channels[0].Name != "general" || !c.Corosync || c.DefaultChannels {
					t.Errorf("%+v", c.Channels)
				}
			}},
		{name: "res_corosync.conf comma form plus cluster keys", corosync: true, text: `
[general]
publish_event = device_state,mwi
subscribe_event = device_state
listen = 0.0.0.0:6222
`, pub: KnownTypes(), sub: []string{TypeDeviceState, TypeRealtime, TypeSIPLocation, TypeQueue}},
		{name: "realtime named: only where named", text: `
[ds]
type = event_channel
publish_event = device_state,realtime
subscribe_event = device_state
`, pub: []string{TypeDeviceState, TypeRealtime, TypeSIPLocation, TypeQueue}, sub: []string{TypeDeviceState, TypeSIPLocation, TypeQueue}},
		{name: "sip_location named: only where named", text: `
[ds]
type = event_channel
publish_event = device_state,sip_location
subscribe_event = device_state
`, pub: []string{TypeDeviceState, TypeRealtime, TypeSIPLocation, TypeQueue}, sub: []string{TypeDeviceState, TypeRealtime, TypeQueue}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseCfg(t, "cluster.conf", tc.text, tc.corosync)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.PublishedTypes(), tc.pub) || !slices.Equal(c.SubscribedTypes(), tc.sub) {
				t.Errorf("publish %v subscribe %v, want %v %v", c.PublishedTypes(), c.SubscribedTypes(), tc.pub, tc.sub)
			}
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}

func TestParseConfigBad(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		corosync   bool
		want       []string // every error, in order
	}{
		{"unknown key", "[general]\nfoo = bar\n", false, []string{"cluster.conf:2: unknown option 'foo' in [general]"}},
		{"bad mode", "[general]\nmode = multicast\n", false, []string{"cluster.conf:2: mode must be 'embedded' or 'external', not 'multicast'"}},
		{"bad host:port", "[general]\nlisten = 10.0.0.1\n", false, []string{"cluster.conf:2: listen: '10.0.0.1' is not host:port"}},
		{"bad port", "[general]\nlisten = 10.0.0.1:99999\nroutes = a:1,b:x\n", false, []string{
			"cluster.conf:2: listen: bad port '99999'", "cluster.conf:3: routes: bad port 'x' in 'b:x'"}},
		{"route port 0", "[general]\nlisten=:0\nroutes = a:0\n", false, []string{"cluster.conf:3: routes: bad port '0' in 'a:0'"}},
		{"routes without listen", "[general]\nroutes = 10.0.0.2:6222\n", false, []string{"cluster.conf:2: routes= needs listen=host:port"}},
		{"bad numbers", "[general]\nheartbeat_interval = 1s\nmember_timeout = -5\n", false, []string{
			"cluster.conf:2: heartbeat_interval must be a number of milliseconds", "cluster.conf:3: member_timeout must be a number"}},
		{"timeout not above interval", "[general]\nheartbeat_interval = 1000\nmember_timeout = 1000\n", false, []string{
			"cluster.conf:3: member_timeout (1000 ms) must be longer than heartbeat_interval (1000 ms)"}},
		{"unknown event type", "[ds]\ntype=event_channel\npublish_event = device_state,presence\nsubscribe_event=\n", false, []string{
			"cluster.conf:3: unknown event type 'presence' (device_state, mwi, realtime, sip_location, queue)", "cluster.conf:4: subscribe_event needs an event type"}},
		{"channel without type", "[ds]\npublish_event=mwi\n", false, []string{"cluster.conf:1: section [ds] has no type=event_channel"}},
		{"channel with bad type and key", "[ds]\ntype=queue\nfoo=1\n", false, []string{
			"cluster.conf:2: [ds]: unknown type 'queue'", "cluster.conf:3: unknown option 'foo' in event channel [ds]"}},
		{"publish_event in cluster.conf general", "[general]\npublish_event=mwi\n", false, []string{
			"cluster.conf:2: unknown option 'publish_event' in [general] (in cluster.conf event types go in an event channel section"}},
		{"mode-specific keys", "[general]\nmode=external\nlisten=1.2.3.4:5\n", false, []string{
			"cluster.conf:3: 'listen' applies only to mode=embedded (this file sets mode=external)"}},
		{"tls in embedded", "[general]\ntls_ca=/x\n", false, []string{"cluster.conf:2: 'tls_ca' applies only to mode=external"}},
		{"tls cert without key", "[general]\nmode=external\ntls_cert=/c\n", false, []string{"cluster.conf:3: tls_cert and tls_key go together"}},
		{"bad url", "[general]\nmode=external\nnats_url=http://x:1, nats://:abc\n", false, []string{
			"cluster.conf:3: nats_url: unknown scheme 'http'", "cluster.conf:3: nats_url: 'nats://:abc' is not a NATS URL"}},
		{"duplicate key", "[general]\nmode=embedded\nmode=external\n", false, []string{"cluster.conf:3: 'mode' set twice in [general] (first at cluster.conf:2)"}},
		{"bad names", "[general]\ncluster_name = a.b\nnode_name = my pbx\n", false, []string{
			"cluster.conf:2: cluster_name 'a.b' must be letters", "cluster.conf:3: node_name 'my pbx' must be non-empty and have no spaces"}},
		{"corosync unknown section and type", "[general]\npublish_event = device_state,presence\n[totem]\nx=1\n", true, []string{
			"cluster.conf:2: unknown event type 'presence'", "cluster.conf:3: unknown section [totem]: res_corosync.conf has only [general]"}},
		{"corosync unknown key", "[general]\nsubscribe_event = mwi\nfoo = 1\n", true, []string{"cluster.conf:3: unknown option 'foo' in [general]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseCfg(t, "cluster.conf", tc.text, tc.corosync)
			var el conf.ErrorList
			if !errors.As(err, &el) {
				t.Fatalf("error %v (%T), want conf.ErrorList", err, err)
			}
			if len(el) != len(tc.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(el), len(tc.want), err)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(el[i].Error(), w) {
					t.Errorf("error %d = %q, want prefix %q", i, el[i].Error(), w)
				}
			}
		})
	}
}

func TestDiff(t *testing.T) {
	a, err := parseCfg(t, "c.conf", "[general]\nlisten=1.2.3.4:6222\n", false)
	if err != nil {
		t.Fatal(err)
	}
	b, err := parseCfg(t, "c.conf", "[general]\nlisten=1.2.3.4:6223\n[x]\ntype=event_channel\npublish_event=mwi\n", false)
	if err != nil {
		t.Fatal(err)
	}
	if d := Diff(a, a); len(d) != 0 {
		t.Errorf("Diff(a, a) = %v", d)
	}
	if d := Diff(a, b); !slices.Equal(d, []string{"listen", "publish_event", "subscribe_event"}) {
		t.Errorf("Diff = %v", d)
	}
}

func TestNilConfig(t *testing.T) {
	c, err := ParseConfig(nil, false)
	if err != nil || !c.DefaultChannels || c.Mode != ModeEmbedded {
		t.Errorf("%+v %v", c, err)
	}
}
