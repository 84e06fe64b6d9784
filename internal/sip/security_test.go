package sip

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/logger"
)

// rawRegister is a REGISTER as a phone sends it, as bytes (a captured request can be replayed
// with one header changed).
type rawRegister struct {
	user, toUser, callID, branch, contact, expires, auth string
	cseq                                                 int
}

func (r rawRegister) bytes(c *rawClient) []byte {
	to := r.toUser
	if to == "" {
		to = "<sip:" + r.user + "@127.0.0.1>"
	}
	contact := r.contact
	if contact == "" {
		contact = "<sip:" + r.user + "@" + c.local + ">"
	}
	expires := ""
	if r.expires != "" {
		expires = "Expires: " + r.expires + "\r\n"
	}
	auth := ""
	if r.auth != "" {
		auth = "Authorization: " + r.auth + "\r\n"
	}
	return []byte("REGISTER sip:" + c.srv.String() + " SIP/2.0\r\nVia: SIP/2.0/UDP " + c.local + ";branch=z9hG4bK" + r.branch +
		"\r\nMax-Forwards: 70\r\nFrom: <sip:" + r.user + "@127.0.0.1>;tag=t" + r.branch + "\r\nTo: " + to + "\r\nCall-ID: " + r.callID +
		"\r\nCSeq: " + strconv.Itoa(r.cseq) + " REGISTER\r\nContact: " + contact + "\r\n" + auth + expires + "Content-Length: 0\r\n\r\n")
}

// exchange sends b and returns the response.
func (c *rawClient) exchange(t *testing.T, b []byte) *sip.Response {
	t.Helper()
	if _, err := c.conn.WriteToUDP(b, c.srv); err != nil {
		t.Fatal(err)
	}
	for {
		m, err := c.read(2 * time.Second)
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		if res, ok := m.(*sip.Response); ok {
			return res
		}
	}
}

// credentials answers the challenge of res for (user, pass) with nonce-count nc.
func credentials(t *testing.T, res *sip.Response, user, pass, uri string, nc int) string {
	t.Helper()
	h := res.GetHeader("WWW-Authenticate")
	if h == nil {
		t.Fatalf("no challenge in %d", res.StatusCode)
	}
	ch, err := digest.ParseChallenge(h.Value())
	if err != nil {
		t.Fatal(err)
	}
	cred, err := digest.Digest(ch, digest.Options{Method: "REGISTER", URI: uri, Username: user, Password: pass, Count: nc, Cnonce: "c0ffee"})
	if err != nil {
		t.Fatal(err)
	}
	return cred.String()
}

// TestReplayedRegisterIsRefused: a captured, accepted REGISTER resent with the same Call-ID,
// CSeq, branch and nonce-count but another Contact, or Expires: 0, is a replay (401 stale, a
// security event), not a retransmission; alice's binding stays where she put it. The
// byte-identical retransmission is still answered 200.
func TestReplayedRegisterIsRefused(t *testing.T) {
	e := newEnv(t, baseConf+alicePeer, false)
	c := newRawClient(t, e.addr)
	uri := "sip:" + c.srv.String()
	reg := rawRegister{user: "alice", callID: "cap1", branch: "cap1a", cseq: 1, expires: "120"}
	res := c.exchange(t, reg.bytes(c))
	if res.StatusCode != 401 {
		t.Fatalf("first REGISTER: %d", res.StatusCode)
	}
	reg.auth, reg.cseq, reg.branch = credentials(t, res, "alice", "wonderland", uri, 1), 2, "cap1b"
	captured := reg.bytes(c)
	if res := c.exchange(t, captured); res.StatusCode != 200 {
		t.Fatalf("authenticated REGISTER: %d", res.StatusCode)
	}
	if res := c.exchange(t, captured); res.StatusCode != 200 {
		t.Fatalf("retransmission: %d", res.StatusCode)
	}
	// The device state follows the 200 OK on the registrar's goroutine.
	waitFor(t, 2*time.Second, "alice NOT_INUSE", func() bool { return e.ds.get("SIP/alice") == "NOT_INUSE" })
	binding := func() string {
		p := e.s.peers["alice"]
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.contact
	}
	before := binding()
	moved := reg
	moved.contact = "<sip:alice@127.0.0.1:6666>"
	gone := reg
	gone.expires = "0"
	// With the captured Via branch, a replay that arrives while the transaction still lives
	// is answered from its stored response (sipgo), one that arrives later reaches the
	// registrar; either way nothing moves. With a new branch it always reaches the
	// registrar, which must refuse the reused nonce count.
	for name, r := range map[string]rawRegister{"new Contact": moved, "Expires: 0": gone} {
		res := c.exchange(t, r.bytes(c))
		if res.StatusCode != 200 && (res.StatusCode != 401 || !strings.Contains(res.GetHeader("WWW-Authenticate").Value(), "stale=true")) {
			t.Fatalf("replay with %s and the captured branch: %d %v", name, res.StatusCode, res.GetHeader("WWW-Authenticate"))
		}
		if got := binding(); got != before {
			t.Fatalf("replay with %s and the captured branch moved the binding: %q -> %q", name, before, got)
		}
		r.branch = "replay" + strconv.Itoa(len(name))
		res = c.exchange(t, r.bytes(c))
		if res.StatusCode != 401 || !strings.Contains(res.GetHeader("WWW-Authenticate").Value(), "stale=true") {
			t.Fatalf("replay with %s: %d %v", name, res.StatusCode, res.GetHeader("WWW-Authenticate"))
		}
		if got := binding(); got != before {
			t.Fatalf("replay with %s moved the binding: %q -> %q", name, before, got)
		}
	}
	if e.ds.get("SIP/alice") != "NOT_INUSE" {
		t.Fatalf("alice unregistered by a replay: %s", e.ds.get("SIP/alice"))
	}
	if !strings.Contains(e.log.String(), "authentication replay") {
		t.Fatal("replay not logged")
	}
}

// TestNonceServesOneGuess: after a wrong response a nonce is dead: the right password with
// the same nonce (next nonce-count) gets a fresh challenge, not 200, so one challenge gives a
// guesser one verdict. A fresh nonce then works.
func TestNonceServesOneGuess(t *testing.T) {
	e := newEnv(t, baseConf+alicePeer, false)
	c := newRawClient(t, e.addr)
	uri := "sip:" + c.srv.String()
	reg := rawRegister{user: "alice", callID: "g1", branch: "g1a", cseq: 1, expires: "120"}
	ch := c.exchange(t, reg.bytes(c))
	reg.auth, reg.cseq, reg.branch = credentials(t, ch, "alice", "guess1", uri, 1), 2, "g1b"
	if res := c.exchange(t, reg.bytes(c)); res.StatusCode != 403 {
		t.Fatalf("wrong password: %d", res.StatusCode)
	}
	reg.auth, reg.cseq, reg.branch = credentials(t, ch, "alice", "wonderland", uri, 2), 3, "g1c"
	res := c.exchange(t, reg.bytes(c))
	if res.StatusCode != 401 {
		t.Fatalf("right password on a nonce that a wrong guess used: %d (want a fresh challenge)", res.StatusCode)
	}
	if strings.Contains(res.GetHeader("WWW-Authenticate").Value(), "stale=true") {
		t.Fatal("a dead nonce is answered as stale: that tells the guess was right")
	}
	reg.auth, reg.cseq, reg.branch = credentials(t, res, "alice", "wonderland", uri, 1), 4, "g1d"
	if res := c.exchange(t, reg.bytes(c)); res.StatusCode != 200 {
		t.Fatalf("fresh nonce, right password: %d", res.StatusCode)
	}
}

// TestGuessLimitPerAddress: maxauthfailures failures from one address within
// authfailurewindow block it for authblocktime: even the right password is then refused (403),
// while another address is not affected. "sip show settings" shows the limits.
func TestGuessLimitPerAddress(t *testing.T) {
	e := newEnv(t, baseConf+"maxauthfailures=3\nauthfailurewindow=30\nauthblocktime=2\n"+alicePeer, false)
	c := newRawClient(t, e.addr)
	uri := "sip:" + c.srv.String()
	try := func(c *rawClient, pass string, n int) int {
		reg := rawRegister{user: "alice", callID: "lim" + strconv.Itoa(n), branch: "l" + strconv.Itoa(n) + "a", cseq: 1, expires: "120"}
		ch := c.exchange(t, reg.bytes(c))
		if ch.StatusCode != 401 {
			return ch.StatusCode
		}
		reg.auth, reg.cseq, reg.branch = credentials(t, ch, "alice", pass, uri, 1), 2, "l"+strconv.Itoa(n)+"b"
		return c.exchange(t, reg.bytes(c)).StatusCode
	}
	for i := range 3 {
		if got := try(c, "guess"+strconv.Itoa(i), i); got != 403 {
			t.Fatalf("guess %d: %d", i, got)
		}
	}
	if got := try(c, "wonderland", 10); got != 403 {
		t.Fatalf("right password from a blocked address: %d", got)
	}
	other, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	c2 := &rawClient{conn: other, local: other.LocalAddr().String(), srv: c.srv, buf: make([]byte, 65535)}
	if got := try(c2, "wonderland", 11); got != 200 {
		t.Fatalf("right password from another address: %d", got)
	}
	if !strings.Contains(e.log.String(), "3 failed authentications from 127.0.0.1 within 30s") {
		t.Fatalf("block not logged:\n%s", e.log.String())
	}
	if n := strings.Count(e.log.String(), "' - Wrong password"); n != 3 {
		t.Fatalf("%d failures logged, want 3", n)
	}
	if e.s.Stats().Blocked == 0 {
		t.Fatal("blocked request not counted")
	}
	out := e.cli("sip show settings")
	for _, want := range []string{"Max auth failures:      3 in 30 secs, then blocked 2 secs", "TCP auth limit:         100", "TCP auth timeout:       30 secs", "Always auth rejects:    Yes"} {
		if !strings.Contains(out, want) {
			t.Fatalf("sip show settings lacks %q:\n%s", want, out)
		}
	}
	time.Sleep(2100 * time.Millisecond) // the block ends
	if got := try(c, "wonderland", 12); got != 200 {
		t.Fatalf("after the block: %d", got)
	}
}

// fail2banHosts runs fail2ban-regex on a log file with a filter and returns how many failures
// it finds per address (what fail2ban would count towards a ban).
func fail2banHosts(t *testing.T, logFile, filter string) map[string]int {
	t.Helper()
	bin, err := exec.LookPath("fail2ban-regex")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("fail2ban-regex not installed (Debian package fail2ban)")
		}
		t.Skip("fail2ban-regex not installed (Debian package fail2ban)")
	}
	out, err := exec.Command(bin, "-o", "ip", logFile, filter).CombinedOutput()
	if err != nil {
		t.Fatalf("fail2ban-regex: %v\n%s", err, out)
	}
	hosts := map[string]int{}
	for _, line := range strings.Fields(string(out)) {
		hosts[line]++
	}
	return hosts
}

// TestLogInjection: user names, URIs and Call-IDs from the network are escaped in every log
// line, so that a name like "evil from=10.9.8.7" or one with quotes, parentheses and control
// characters cannot make a log reader see another address: fail2ban (its stock asterisk filter
// on the messages log, and a from=<HOST> rule on the security log) finds only the real one.
func TestLogInjection(t *testing.T) {
	dir := t.TempDir()
	lg := logger.New()
	lc, err := conf.Parse("logger.conf", []byte("[logfiles]\nmessages => notice,warning,error\nsecurity => security\n"), conf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ls, err := logger.ParseSettings(lc)
	if err != nil {
		t.Fatal(err)
	}
	if err := lg.Configure(ls, dir); err != nil {
		t.Fatal(err)
	}
	defer lg.Close()
	t.Cleanup(func() {
		if t.Failed() {
			for _, f := range []string{"messages", "security"} {
				b, _ := os.ReadFile(filepath.Join(dir, f))
				t.Logf("%s:\n%s", f, b)
			}
		}
	})
	s := New(lg.Slog(), nil, nil, nil, nil, "pbx")
	if err := s.Configure(parseConf(t, baseConf+alicePeer)); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	udp, _ := s.Addr()
	c := newRawClient(t, udp.String())
	uri := "sip:" + c.srv.String()
	injected := []rawRegister{
		// a name that reads as a field of the security line
		{user: "evil from=10.9.8.7", toUser: "<sip:evil from=10.9.8.7@127.0.0.1>"},
		// a To that closes chan_sip's quotes and names another address
		{user: "x", toUser: `"x' failed for '10.9.8.7:5060' - Wrong password" <sip:x@127.0.0.1>`},
		// control characters and a byte outside ASCII in the name (a lone CR or LF ends
		// the message at the parser)
		{user: "esc\x1b\x07\x01\x7f\xffX", toUser: "<sip:esc\x1b\x07\x01\x7f\xffX@127.0.0.1>"},
	}
	for i, r := range injected {
		r.callID, r.branch, r.cseq, r.expires = "inj"+strconv.Itoa(i)+") - Failed to authenticate", "i"+strconv.Itoa(i)+"a", 1, "120"
		ch := c.exchange(t, r.bytes(c))
		if ch.StatusCode != 401 {
			t.Fatalf("injection %d: %d", i, ch.StatusCode)
		}
		r.auth, r.cseq, r.branch = credentials(t, ch, r.user, "guess", uri, 1), 2, "i"+strconv.Itoa(i)+"b"
		if res := c.exchange(t, r.bytes(c)); res.StatusCode != 403 {
			t.Fatalf("injection %d: %d", i, res.StatusCode)
		}
	}
	// alice with a wrong password: the line every filter must find
	r := rawRegister{user: "alice", callID: "real", branch: "ra", cseq: 1, expires: "120"}
	ch := c.exchange(t, r.bytes(c))
	r.auth, r.cseq, r.branch = credentials(t, ch, "alice", "guess", uri, 1), 2, "rb"
	if res := c.exchange(t, r.bytes(c)); res.StatusCode != 403 {
		t.Fatalf("wrong password: %d", res.StatusCode)
	}
	messages, _ := os.ReadFile(filepath.Join(dir, "messages"))
	security, _ := os.ReadFile(filepath.Join(dir, "security"))
	for name, b := range map[string][]byte{"messages": messages, "security": security} {
		for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			if !strings.HasPrefix(line, "[") || strings.IndexFunc(line, func(r rune) bool { return r < 0x20 || r >= 0x7f }) >= 0 {
				t.Errorf("%s: a raw control character or a line of the client's own: %q", name, line)
			}
		}
		if strings.Contains(string(b), "10.9.8.7:") && !strings.Contains(string(b), `\x2710.9.8.7`) {
			t.Errorf("%s: injected address unescaped:\n%s", name, b)
		}
	}
	if n := strings.Count(string(messages), "' failed for '127.0.0.1:"); n != 4 {
		t.Fatalf("messages: %d failure lines, want 4:\n%s", n, messages)
	}
	filter := filepath.Join(dir, "sip-security.conf")
	if err := os.WriteFile(filter, []byte("[Definition]\nfailregex = ^.*SECURITY\\[\\d+\\] .*SIP authentication failed .*from=<HOST>\n\nignoreregex =\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bans := fail2banHosts(t, filepath.Join(dir, "security"), filter)
	if len(bans) != 1 || bans["127.0.0.1"] != 4 {
		t.Fatalf("from=<HOST> on the security log bans %v, want 127.0.0.1 only (4 times)\n%s", bans, security)
	}
	bans = fail2banHosts(t, filepath.Join(dir, "messages"), "/etc/fail2ban/filter.d/asterisk.conf")
	if len(bans) != 1 || bans["127.0.0.1"] != 4 {
		t.Fatalf("stock filter bans %v, want 127.0.0.1 only (4 times)\n%s", bans, messages)
	}
}
