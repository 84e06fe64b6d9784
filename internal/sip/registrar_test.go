package sip

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/pleiades-pbx/pleiades/internal/conf"
)

const alicePeer = "[alice]\ntype=friend\nhost=dynamic\nsecret=wonderland\ncontext=internal\n"

func TestRegisterDigest(t *testing.T) {
	e := newEnv(t, baseConf+alicePeer+"[bob]\ntype=friend\nhost=dynamic\nmd5secret="+md5hex("bob", "pleiades", "builder")+"\n", false)
	ph := newPhone(t, e.addr)

	if got := e.ds.get("SIP/alice"); got != "UNAVAILABLE" {
		t.Fatalf("before registering: %q", got)
	}
	res := ph.register("alice", "wonderland", 300)
	if res.StatusCode != 200 {
		t.Fatalf("good password: %d %s", res.StatusCode, res.Reason)
	}
	if c := res.Contact(); c == nil || !strings.Contains(c.String(), "expires=300") {
		t.Fatalf("200 OK Contact: %v", res.Contact())
	}
	waitFor(t, time.Second, "NOT_INUSE", func() bool { return e.ds.get("SIP/alice") == "NOT_INUSE" })

	if res := ph.register("bob", "builder", 300); res.StatusCode != 200 {
		t.Fatalf("md5secret: %d", res.StatusCode)
	}

	res = ph.register("alice", "wrong", 300)
	if res.StatusCode != 403 {
		t.Fatalf("wrong password: %d", res.StatusCode)
	}
	// unknown peer (alwaysauthreject=yes by default): the same 401 then 403
	req := ph.newReq(sip.REGISTER, "mallory", "mallory")
	res = ph.do(req)
	if res.StatusCode != 401 {
		t.Fatalf("unknown peer first answer: %d", res.StatusCode)
	}
	authorize(t, req, res, "mallory", "x", 1)
	nextReq(req)
	res2 := ph.do(req)
	if res2.StatusCode != 403 || res2.Reason != "Forbidden" {
		t.Fatalf("unknown peer: %d %s", res2.StatusCode, res2.Reason)
	}
	if !strings.Contains(e.log.String(), "wrong password") || !strings.Contains(e.log.String(), "no such peer") {
		t.Fatalf("security events not logged:\n%s", e.log.String())
	}
	if !strings.Contains(e.log.String(), "level=INFO+1") {
		t.Fatalf("security level not used:\n%s", e.log.String())
	}
}

func TestRegisterUnknownNoAlwaysAuthReject(t *testing.T) {
	e := newEnv(t, baseConf+"alwaysauthreject=no\n"+alicePeer, false)
	ph := newPhone(t, e.addr)
	if res := ph.do(ph.newReq(sip.REGISTER, "nobody", "nobody")); res.StatusCode != 404 {
		t.Fatalf("unknown peer with alwaysauthreject=no: %d", res.StatusCode)
	}
}

func TestStaleNonceAndReplay(t *testing.T) {
	e := newEnv(t, baseConf+"noncelifetime=3\n"+alicePeer, false)
	ph := newPhone(t, e.addr)

	req := ph.newReq(sip.REGISTER, "alice", "alice")
	req.AppendHeader(sip.NewHeader("Expires", "120"))
	res := ph.do(req)
	challenged := time.Now()
	ch, err := digest.ParseChallenge(res.GetHeader("WWW-Authenticate").Value())
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.QOP) == 0 || ch.QOP[0] != "auth" || ch.Realm != "pleiades" {
		t.Fatalf("challenge: %+v", ch)
	}
	setAuth(t, req, ch, "alice", "wonderland", 1)
	nextReq(req)
	if res := ph.do(req); res.StatusCode != 200 {
		t.Fatalf("nc=1: %d", res.StatusCode)
	}
	// the same nonce-count in a new request: a replay
	nextReq(req)
	res = ph.do(req)
	if res.StatusCode != 401 || !strings.Contains(res.GetHeader("WWW-Authenticate").Value(), "stale=true") {
		t.Fatalf("replayed nc: %d %v", res.StatusCode, res.GetHeader("WWW-Authenticate"))
	}
	// a higher nonce-count is fine
	setAuth(t, req, ch, "alice", "wonderland", 2)
	nextReq(req)
	if res := ph.do(req); res.StatusCode != 200 {
		t.Fatalf("nc=2: %d", res.StatusCode)
	}
	// and after the nonce's lifetime: 401 stale=true (correct password)
	time.Sleep(time.Until(challenged.Add(3100 * time.Millisecond)))
	setAuth(t, req, ch, "alice", "wonderland", 3)
	nextReq(req)
	res = ph.do(req)
	if res.StatusCode != 401 || !strings.Contains(res.GetHeader("WWW-Authenticate").Value(), "stale=true") {
		t.Fatalf("stale nonce: %d %v", res.StatusCode, res.GetHeader("WWW-Authenticate"))
	}
	// stale nonce with a wrong password: 403, no hint
	setAuth(t, req, ch, "alice", "bad", 4)
	nextReq(req)
	if res := ph.do(req); res.StatusCode != 403 {
		t.Fatalf("stale nonce, wrong password: %d", res.StatusCode)
	}
	// a forged nonce is just challenged again
	ch.Nonce = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	setAuth(t, req, ch, "alice", "wonderland", 1)
	nextReq(req)
	if res := ph.do(req); res.StatusCode != 401 || strings.Contains(res.GetHeader("WWW-Authenticate").Value(), "stale") {
		t.Fatalf("forged nonce: %d", res.StatusCode)
	}
}

func TestExpiresHandling(t *testing.T) {
	e := newEnv(t, baseConf+"minexpiry=60\nmaxexpiry=600\n"+alicePeer, false)
	ph := newPhone(t, e.addr)
	res := ph.register("alice", "wonderland", 30)
	if res.StatusCode != 423 || res.GetHeader("Min-Expires") == nil || res.GetHeader("Min-Expires").Value() != "60" {
		t.Fatalf("too brief: %d %v", res.StatusCode, res.GetHeader("Min-Expires"))
	}
	res = ph.register("alice", "wonderland", 100000)
	if res.StatusCode != 200 || res.GetHeader("Expires").Value() != "600" {
		t.Fatalf("capped: %d %v", res.StatusCode, res.GetHeader("Expires"))
	}
	// Contact expires param wins over the header
	req := ph.newReq(sip.REGISTER, "alice", "alice")
	req.Contact().Params = sip.NewParams()
	req.Contact().Params.Add("expires", "120")
	req.AppendHeader(sip.NewHeader("Expires", "3000"))
	res = ph.do(req)
	authorize(t, req, res, "alice", "wonderland", 1)
	nextReq(req)
	if res = ph.do(req); res.StatusCode != 200 || res.GetHeader("Expires").Value() != "120" {
		t.Fatalf("contact param: %d %v", res.StatusCode, res.GetHeader("Expires"))
	}
	waitFor(t, time.Second, "registered", func() bool { return e.ds.get("SIP/alice") == "NOT_INUSE" })
	// unregister: Contact: *, Expires: 0
	req = ph.newReq(sip.REGISTER, "alice", "alice")
	req.RemoveHeader("Contact")
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Wildcard: true}})
	req.AppendHeader(sip.NewHeader("Expires", "0"))
	res = ph.do(req)
	authorize(t, req, res, "alice", "wonderland", 1)
	nextReq(req)
	if res = ph.do(req); res.StatusCode != 200 {
		t.Fatalf("unregister: %d", res.StatusCode)
	}
	waitFor(t, time.Second, "unregistered", func() bool { return e.ds.get("SIP/alice") == "UNAVAILABLE" })
	// Contact: * without Expires: 0 is a 400
	req = ph.newReq(sip.REGISTER, "alice", "alice")
	req.RemoveHeader("Contact")
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Wildcard: true}})
	if res = ph.do(req); res.StatusCode != 400 {
		t.Fatalf("wildcard without Expires 0: %d", res.StatusCode)
	}
	// register then Expires: 0 on the contact
	if res := ph.register("alice", "wonderland", 120); res.StatusCode != 200 {
		t.Fatal(res.StatusCode)
	}
	if res := ph.register("alice", "wonderland", 0); res.StatusCode != 200 {
		t.Fatal(res.StatusCode)
	}
	waitFor(t, time.Second, "unregistered", func() bool { return e.ds.get("SIP/alice") == "UNAVAILABLE" })
}

func TestRegistrationExpires(t *testing.T) {
	e := newEnv(t, baseConf+"minexpiry=1\n"+alicePeer, false)
	ph := newPhone(t, e.addr)
	if res := ph.register("alice", "wonderland", 2); res.StatusCode != 200 {
		t.Fatal(res.StatusCode)
	}
	waitFor(t, time.Second, "registered", func() bool { return e.ds.get("SIP/alice") == "NOT_INUSE" })
	waitFor(t, 5*time.Second, "expired", func() bool { return e.ds.get("SIP/alice") == "UNAVAILABLE" })
}

// TestACL: a peer refused by its ACL is answered exactly as a name that does not exist
// (alwaysauthreject=yes, the default: a challenge, then 403 for the credentials), so that
// nobody learns which names exist; with alwaysauthreject=no it gets 403 at once and an
// unknown name 404, as in chan_sip. Either way the refusal is logged in chan_sip's words.
func TestACL(t *testing.T) {
	peers := alicePeer + "deny=0.0.0.0/0.0.0.0\npermit=10.0.0.0/8\n[carol]\ntype=friend\nhost=dynamic\nsecret=c\ndeny=0.0.0.0/0\npermit=127.0.0.1/32\n"
	// answers gives the status of a REGISTER without credentials and, when challenged, of
	// the REGISTER with them
	answers := func(ph *phone, user, pass string) [2]int {
		req := ph.newReq(sip.REGISTER, user, user)
		res := ph.do(req)
		if res.StatusCode != 401 {
			return [2]int{res.StatusCode, 0}
		}
		authorize(t, req, res, user, pass, 1)
		nextReq(req)
		return [2]int{401, ph.do(req).StatusCode}
	}
	e := newEnv(t, baseConf+peers, false)
	ph := newPhone(t, e.addr)
	refused, unknown := answers(ph, "alice", "wonderland"), answers(ph, "nobody", "wonderland")
	if refused != [2]int{401, 403} || refused != unknown {
		t.Fatalf("alwaysauthreject=yes: ACL refusal %v, unknown name %v (want both 401 then 403)", refused, unknown)
	}
	if res := ph.register("carol", "c", 120); res.StatusCode != 200 {
		t.Fatalf("ACL permit: %d", res.StatusCode)
	}
	for _, want := range []string{"' - Device does not match ACL", "' - No matching peer found", "permit/deny"} {
		if !strings.Contains(e.log.String(), want) {
			t.Fatalf("%q not logged:\n%s", want, e.log.String())
		}
	}

	e = newEnv(t, baseConf+"alwaysauthreject=no\n"+peers, false)
	ph = newPhone(t, e.addr)
	if got := answers(ph, "alice", "wonderland"); got[0] != 403 {
		t.Fatalf("alwaysauthreject=no: ACL refusal %v, want 403 at once", got)
	}
	if got := answers(ph, "nobody", "wonderland"); got[0] != 404 {
		t.Fatalf("alwaysauthreject=no: unknown name %v, want 404", got)
	}
	if !strings.Contains(e.log.String(), "' - Device does not match ACL") {
		t.Fatalf("ACL refusal not logged:\n%s", e.log.String())
	}
}

func TestACLRules(t *testing.T) {
	var b aclBuilder
	for _, r := range []struct {
		permit bool
		s      string
	}{{false, "0.0.0.0/0.0.0.0"}, {true, "192.168.1.0/255.255.255.0"}, {false, "192.168.1.7"}} {
		if err := b.add(r.permit, r.s); err != nil {
			t.Fatal(err)
		}
	}
	a := b.build()
	for ip, want := range map[string]bool{"10.1.1.1": false, "192.168.1.5": true, "192.168.1.7": false} {
		if got := a.allowed(mustAddr(ip)); got != want {
			t.Errorf("%s: %v", ip, got)
		}
	}
	for _, bad := range []string{"", "300.1.1.1", "1.2.3.4/33", "1.2.3.4/255.0.255.0", "!1.2.3.4"} {
		if err := b.add(true, bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestConfigErrorsKeepRunning(t *testing.T) {
	e := newEnv(t, baseConf+alicePeer, false)
	bad := baseConf + "minexpiry=abc\nnotifyringing=maybe\n[x]\ntype=friend\nhost=dynamic\nqualify=often\npermit=1.2.3/8\n[y]\ntype=bogus\n"
	err := e.s.Configure(parseConf(t, bad))
	if err == nil {
		t.Fatal("bad config accepted")
	}
	var el conf.ErrorList
	if !errors.As(err, &el) || len(el) != 6 {
		t.Fatalf("want 6 errors, got %v", err)
	}
	for _, want := range []string{"sip.conf:4:", "sip.conf:5:", "sip.conf:9:", "sip.conf:10:", "sip.conf:11:", "sip.conf:12:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %s in %v", want, err)
		}
	}
	if out := e.cli("sip show peers"); !strings.Contains(out, "alice") || strings.Contains(out, "\nx ") {
		t.Fatalf("running config not kept:\n%s", out)
	}
	// a bind change to an address that cannot be bound is refused; the old listener stays
	if err := e.s.Configure(parseConf(t, "[general]\nudpbindaddr=192.0.2.1:5060\n")); err == nil || !strings.Contains(err.Error(), "configuration not applied") {
		t.Fatalf("bind change to an address not on this host: %v", err)
	}
	if udp, _ := e.s.Addr(); udp.String() != e.addr {
		t.Fatalf("listener moved to %s after a failed bind change", udp)
	}
	if out := e.cli("sip show peers"); !strings.Contains(out, "alice") {
		t.Fatalf("running config not kept after a failed bind change:\n%s", out)
	}
	// a good reload replaces the peers, through "sip reload"
	e.s.SetConfigSource(func(ctx2 ctxT) (*conf.Config, error) {
		return parseConf(t, baseConf+"[dave]\ntype=peer\nhost=127.0.0.1\nport=5999\n"), nil
	})
	out := e.cli("sip reload")
	if !strings.Contains(out, "reloaded") {
		t.Fatal(out)
	}
	out = e.cli("sip show peers")
	if strings.Contains(out, "alice") || !strings.Contains(out, "dave") {
		t.Fatalf("after reload:\n%s", out)
	}
	if e.ds.get("SIP/dave") != "NOT_INUSE" || e.ds.get("SIP/alice") != "UNAVAILABLE" {
		t.Fatalf("device states after reload: %v", e.ds.states)
	}
}

func TestInvite501AndOthers(t *testing.T) {
	e := newEnv(t, baseConf+alicePeer, false)
	ph := newPhone(t, e.addr)
	req := ph.newReq(sip.INVITE, "alice", "100")
	if res := ph.do(req); res.StatusCode != 501 {
		t.Fatalf("INVITE: %d", res.StatusCode)
	}
	if res := ph.do(ph.newReq(sip.OPTIONS, "alice", "")); res.StatusCode != 200 || res.GetHeader("Allow") == nil {
		t.Fatalf("OPTIONS: %d", res.StatusCode)
	}
	if res := ph.do(ph.newReq(sip.MESSAGE, "alice", "100")); res.StatusCode != 405 {
		t.Fatalf("MESSAGE: %d", res.StatusCode)
	}
}

func TestMalformedInput(t *testing.T) {
	e := newEnv(t, baseConf+alicePeer, false)
	c, err := net.Dial("udp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	junk := []string{
		"garbage\r\n\r\n",
		"REGISTER sip:x SIP/2.0\r\n\r\n", // no Via, no CSeq
		"REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bK1\r\nCSeq: 1 REGISTER\r\nCall-ID: a\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:alice@b>\r\nContact: <sip:a@127.0.0.1:1>\r\nExpires: banana\r\nContent-Length: 0\r\n\r\n",
		"SUBSCRIBE sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bK2\r\nCSeq: 1 SUBSCRIBE\r\nCall-ID: b\r\nFrom: <sip:a@b>\r\nTo: <sip:100@b>\r\nEvent: dialog\r\nContent-Length: 0\r\n\r\n",
		"OPTIONS sip:127.0.0.1 SIP/2.0\r\nContent-Length: 99999999\r\n\r\n",
		"\x00\x01\x02\x03",
		"REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bK3\r\nCSeq: 1 REGISTER\r\nCall-ID: c\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:alice@b>\r\nAuthorization: Digest ,,,,=\"\r\nContent-Length: 0\r\n\r\n",
		"INVITE sip:1@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bK4\r\nCSeq: 1 INVITE\r\nCall-ID: d\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:1@b>\r\nX-Big: " + strings.Repeat("A", 20000) + "\r\nContent-Length: 0\r\n\r\n",
	}
	for _, j := range junk {
		if _, err := c.Write([]byte(j)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(200 * time.Millisecond)
	// still serving
	ph := newPhone(t, e.addr)
	if res := ph.register("alice", "wonderland", 120); res.StatusCode != 200 {
		t.Fatalf("after junk: %d", res.StatusCode)
	}
	if e.s.stats.dropped.Load() == 0 {
		t.Error("oversized message not counted as dropped")
	}
}

func TestParseBindAndDefaults(t *testing.T) {
	pc, err := parseConfig(parseConf(t, "[general]\nbindport=5070\nudpbindaddr=192.0.2.1\ntcpenable=yes\nrtautoclear=yes\nqualify=yes\n[p](!)\ntype=friend\nhost=dynamic\nqualify=300\n[q](p)\nsecret=s\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	if pc.set.udpBind != "192.0.2.1:5070" || pc.set.tcpBind != "192.0.2.1:5070" || pc.set.rtAutoClear != 120*time.Second {
		t.Fatalf("%+v", pc.set)
	}
	q := pc.peers["q"]
	if q == nil || q.qualifyMS != 300 || !q.dynamic || q.secret != "s" {
		t.Fatalf("template peer: %+v", q)
	}
	if _, ok := pc.peers["p"]; ok {
		t.Fatal("template became a peer")
	}
	if d := defaultSettings(""); d.udpBind != "0.0.0.0:5060" || d.defaultExpiry != 120 || d.minExpiry != 60 || d.maxExpiry != 3600 || !d.rtUpdate {
		t.Fatalf("defaults %+v", d)
	}
	_ = strconv.Itoa
}

// TestRealmIsTheSystemName: with no realm= in sip.conf, the digest realm is asterisk.conf's
// systemname (chan_sip: S_OR(ast_config_AST_SYSTEM_NAME, "asterisk")), so an md5secret made
// with the system name registers (401, 200); realm= still wins, and without a system name the
// realm is "asterisk".
func TestRealmIsTheSystemName(t *testing.T) {
	for _, tc := range []struct {
		sysname, realmLine, want string
	}{
		{"pbx1", "", "pbx1"},
		{"pbx1", "realm=pleiades\n", "pleiades"},
		{"", "", "asterisk"},
	} {
		conf := "[general]\nudpbindaddr=127.0.0.1:0\n" + tc.realmLine +
			"[bob]\ntype=friend\nhost=dynamic\nmd5secret=" + md5hex("bob", tc.want, "builder") + "\n"
		e := newEnvSys(t, conf, false, nil, tc.sysname)
		ph := newPhone(t, e.addr)
		req := ph.newReq(sip.REGISTER, "bob", "bob")
		req.AppendHeader(sip.NewHeader("Expires", "120"))
		res := ph.do(req)
		if res.StatusCode != 401 || !strings.Contains(res.GetHeader("WWW-Authenticate").Value(), `realm="`+tc.want+`"`) {
			t.Fatalf("system name %q, %q: challenge %d %v", tc.sysname, tc.realmLine, res.StatusCode, res.GetHeader("WWW-Authenticate"))
		}
		if res := ph.register("bob", "builder", 120); res.StatusCode != 200 {
			t.Fatalf("system name %q, %q: md5secret made with realm %q: %d", tc.sysname, tc.realmLine, tc.want, res.StatusCode)
		}
		if out := e.cli("sip show settings"); !strings.Contains(out, "  Our auth realm          "+tc.want+"\n") {
			t.Fatalf("sip show settings:\n%s", out)
		}
	}
}
