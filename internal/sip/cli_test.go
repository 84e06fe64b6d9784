package sip

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/pleiades-pbx/pleiades/internal/state"
	"github.com/pleiades-pbx/pleiades/test/golden"
)

// cliPeersConf has one peer of every kind the list commands tell apart.
const cliPeersConf = "[general]\nudpbindaddr=127.0.0.1:0\nrealm=pleiades\n" +
	"[alice]\ntype=friend\nhost=dynamic\nsecret=wonderland\ncontext=internal\ndescription=Front desk\naccountcode=acme\n" +
	"[bob]\ntype=friend\nhost=dynamic\nsecret=builder\nqualify=yes\ncall-limit=2\n" +
	"[carol]\ntype=peer\nhost=dynamic\nsecret=c\nqualify=500\n" +
	"[static]\ntype=peer\nhost=192.0.2.10\nport=5070\ndeny=0.0.0.0/0\npermit=192.0.2.0/24\n" +
	"[forced]\ntype=friend\nhost=dynamic\nnat=force_rport,comedia\ncallcounter=yes\n" +
	"[nonat]\ntype=friend\nhost=dynamic\nnat=no\n" +
	"[autoboth]\ntype=friend\nhost=dynamic\nnat=auto_force_rport,auto_comedia\n" +
	"[natted]\ntype=friend\nhost=dynamic\ndefaultuser=2001\n" +
	"[frontdesk-reception-lobby-east]\ntype=friend\nhost=dynamic\ndescription=A description longer than its thirty-two columns\n" +
	"[webuser]\ntype=user\nsecret=w3b\ncontext=web\npermit=10.0.0.0/8\n"

// cliPeersEnv is a server with cliPeersConf's peers in fixed states: alice registered,
// bob registered and answering qualify in 12 ms, natted registered from behind a NAT.
func cliPeersEnv(t *testing.T, withRT bool, general string) *env {
	t.Helper()
	e := newEnv(t, strings.Replace(cliPeersConf, "realm=pleiades\n", "realm=pleiades\n"+general, 1), withRT)
	reg := func(name, addr, user string, nat bool) *peer {
		p := e.s.peers[name]
		ap := netip.MustParseAddrPort(addr)
		u := sip.Uri{Scheme: "sip", User: user, Host: ap.Addr().String(), Port: int(ap.Port())}
		p.register(ap, "udp", u, u.String(), time.Now().Add(time.Hour), "testphone/1.0", user)
		p.mu.Lock()
		p.natDetected = nat
		p.mu.Unlock()
		return p
	}
	reg("alice", "192.0.2.20:5062", "alice", false)
	bob := reg("bob", "192.0.2.21:5060", "bob", false)
	bob.mu.Lock()
	bob.qGen++ // no qualify of our own: the state below stays
	bob.status, bob.lastms = statusOK, 12
	bob.mu.Unlock()
	reg("natted", "198.51.100.7:40001", "2001", true)
	return e
}

// TestCLIListsGolden pins chan_sip's (Asterisk 20) layouts of the list commands monitoring
// tools cut by position: sip show peers (name 25 columns and one space, " D " and " A " in
// their 3-column fields, Forcerport "Auto (No)" for the default nat=auto_force_rport), sip
// show users, sip show inuse [all], sip show channels.
func TestCLIListsGolden(t *testing.T) {
	e := cliPeersEnv(t, false, "")
	golden.Check(t, "cli/sip-show-peers.txt", e.cli("sip show peers"))
	golden.Check(t, "cli/sip-show-peers-like.txt", e.cli("sip show peers like ^(al|st)"))
	golden.Check(t, "cli/sip-show-users.txt", e.cli("sip show users"))
	golden.Check(t, "cli/sip-show-inuse.txt", e.cli("sip show inuse"))
	golden.Check(t, "cli/sip-show-inuse-all.txt", e.cli("sip show inuse all"))
	golden.Check(t, "cli/sip-show-channels.txt", e.cli("sip show channels"))
	for _, bad := range []string{"sip show peers like", "sip show peers unlike x", "sip show users like (", "sip show channels x"} {
		if out := e.cli(bad); !strings.Contains(out, "ERR") {
			t.Errorf("%s: %q", bad, out)
		}
	}
}

// TestCLIPeersRealtimeGolden: with sippeers mapped, the last column is headed "Realtime" and
// marks cached realtime peers "Cached RT" (uncached ones, which chan_sip does not list, are
// marked "Realtime": TestRealtimeWriteBackAndExpiry).
func TestCLIPeersRealtimeGolden(t *testing.T) {
	e := cliPeersEnv(t, true, "rtcachefriends=yes\n")
	e.store("name", "rtcarl", "secret", "x", "host", "dynamic", "ipaddr", "192.0.2.30", "port", "5066",
		"regseconds", "99999999999", "fullcontact", "sip:rtcarl@192.0.2.30:5066")
	if _, err := e.s.findPeer(t.Context(), "rtcarl"); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "cli/sip-show-peers-realtime.txt", e.cli("sip show peers"))
}

// TestNATFlags: nat= as chan_sip's sip_parse_nat_option reads it, and what the columns show.
func TestNATFlags(t *testing.T) {
	for _, c := range []struct {
		v                 string
		rport, comedia    string // not behind a NAT
		rportN, comediaN  string // behind a NAT
		unknownWordsCount int
	}{
		{"", "Auto (No)", "No", "Auto (Yes)", "No", 0}, // the default: auto_force_rport
		{"no", "No", "No", "No", "No", 0},
		{"yes", "Yes", "Yes", "Yes", "Yes", 0},
		{"force_rport", "Yes", "No", "Yes", "No", 0},
		{"force_rport,comedia", "Yes", "Yes", "Yes", "Yes", 0},
		{"comedia", "No", "Yes", "No", "Yes", 0},
		{"auto_force_rport", "Auto (No)", "No", "Auto (Yes)", "No", 0},
		{"auto_force_rport,auto_comedia", "Auto (No)", "Auto (No)", "Auto (Yes)", "Auto (Yes)", 0},
		{"force_rport,auto_force_rport", "Auto (No)", "No", "Auto (Yes)", "No", 0},
		{"auto_force_rport,force_rport", "Auto (No)", "No", "Auto (Yes)", "No", 0},
		{"route", "No", "No", "No", "No", 1},
	} {
		cfg := "[general]\n"
		if c.v != "" {
			cfg += "nat=" + c.v + "\n"
		}
		pc, err := parseConfig(parseConf(t, cfg+"[p]\nhost=dynamic\n[q]\nhost=dynamic\nnat=no\n"), "")
		if err != nil {
			t.Fatal(err)
		}
		f := pc.peers["p"].nat
		if got := [4]string{f.rportText(false), f.comediaText(false), f.rportText(true), f.comediaText(true)}; got != [4]string{c.rport, c.comedia, c.rportN, c.comediaN} {
			t.Errorf("nat=%s: %q", c.v, got)
		}
		if q := pc.peers["q"].nat; q != (natFlags{}) {
			t.Errorf("nat=%s in [general], nat=no for the peer: %+v", c.v, q)
		}
		if len(pc.warnings) != c.unknownWordsCount {
			t.Errorf("nat=%s: warnings %q", c.v, pc.warnings)
		}
	}
}

// TestCLISubscriptionsGolden pins chan_sip's "sip show subscriptions": exten@context cut at
// 15 columns ("1234@devstate_t"), "--" and the mailboxes for MWI, the Expires granted as
// %-6.6d prints it.
func TestCLISubscriptionsGolden(t *testing.T) {
	e := newEnv(t, baseConf, false)
	e.hints.set("1234", "devstate_test", state.ExtInUse)
	set := e.s.set.Load()
	for _, sub := range []*subscription{
		{key: "a", peer: "alice", user: "alice", callID: "5a1e7f0c-3b2d-4c1e-9f3a-1d2e3f4a5b6c", exten: "1234", context: "devstate_test",
			kind: kindDialog, lastState: state.ExtInUse, granted: 600, addr: netip.MustParseAddrPort("192.0.2.20:5062")},
		{key: "b", peer: "bob", user: "(None)", callID: "short", exten: "100", context: "blf",
			kind: kindPresence, lastState: state.ExtNotInUse, granted: 3600, addr: netip.MustParseAddrPort("192.0.2.21:5060")},
		{key: "c", peer: "carol", user: "2001", callID: "mwi-1", exten: "carol", kind: kindMWI, mailboxes: []string{"100@default", "200@sales"},
			granted: 60, addr: netip.MustParseAddrPort("[2001:db8::7]:5060")},
	} {
		sub.st = e.s.subs
		if !e.s.subs.add(sub, set) {
			t.Fatal("not added")
		}
	}
	golden.Check(t, "cli/sip-show-subscriptions.txt", e.cli("sip show subscriptions"))
}

// TestCLISettingsGolden pins "sip show settings": chan_sip's sections, labels and columns,
// Pleiades' own limits in a section of their own before chan_sip's closing "----".
func TestCLISettingsGolden(t *testing.T) {
	e := newEnv(t, baseConf+"tcpbindaddr=127.0.0.1:0\nnat=force_rport,comedia\nnotifyringing=notinuse\nqualify=yes\ncallcounter=yes\nvmexten=*97\n", false)
	golden.Check(t, "cli/sip-show-settings.txt", e.cli("sip show settings"))
	rt := newEnv(t, baseConf+"rtcachefriends=yes\nrtautoclear=300\nnotifyringing=no\n", true)
	golden.Check(t, "cli/sip-show-settings-realtime.txt", rt.cli("sip show settings"))
}
