package sip

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/pleiades-pbx/pleiades/internal/state"
)

// subscribe sends an authenticated SUBSCRIBE; it returns the request (for refreshes) and the
// final response.
func (ph *phone) subscribe(user, pass, exten, event string, expires int) (*sip.Request, *sip.Response) {
	ph.t.Helper()
	req := ph.newReq(sip.SUBSCRIBE, user, exten)
	req.AppendHeader(sip.NewHeader("Event", event))
	req.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(expires)))
	res := ph.do(req)
	if res.StatusCode != 401 {
		return req, res
	}
	authorize(ph.t, req, res, user, pass, 1)
	nextReq(req)
	return req, ph.do(req)
}

// resubscribe sends a SUBSCRIBE in the dialog of res.
func (ph *phone) resubscribe(req *sip.Request, res *sip.Response, user, pass string, expires int) *sip.Response {
	ph.t.Helper()
	tag, _ := res.To().Params.Get("tag")
	req.To().Params.Add("tag", tag)
	req.ReplaceHeader(sip.NewHeader("Expires", strconv.Itoa(expires)))
	req.RemoveHeader("Authorization")
	nextReq(req)
	r := ph.do(req)
	if r.StatusCode != 401 {
		return r
	}
	authorize(ph.t, req, r, user, pass, 1)
	nextReq(req)
	return ph.do(req)
}

var versionRE = regexp.MustCompile(`version="(\d+)"`)

func dialogState(t testing.TB, n *sip.Request) (version int, state string) {
	t.Helper()
	body := string(n.Body())
	m := versionRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no version in %s", body)
	}
	version, _ = strconv.Atoi(m[1])
	i := strings.Index(body, "<state>")
	j := strings.Index(body, "</state>")
	return version, body[i+7 : j]
}

const presConf = baseConf + "subminexpiry=1\n" + alicePeer + "subscribecontext=blf\n[nosub]\ntype=friend\nhost=dynamic\nsecret=n\nallowsubscribe=no\n"

func TestSubscribeDialog(t *testing.T) {
	e := newEnv(t, presConf, false)
	e.hints.set("100", "blf", 0)
	ph := newPhone(t, e.addr)
	req, res := ph.subscribe("alice", "wonderland", "100", "dialog", 600)
	if res.StatusCode != 200 {
		t.Fatalf("SUBSCRIBE: %d", res.StatusCode)
	}
	if tag, _ := res.To().Params.Get("tag"); tag == "" || res.GetHeader("Expires").Value() != "600" {
		t.Fatalf("200 OK: %v", res)
	}
	n := ph.waitNotify(2 * time.Second)
	if v, st := dialogState(t, n); v != 0 || st != "terminated" {
		t.Fatalf("initial NOTIFY: v=%d %s", v, st)
	}
	if ct := n.GetHeader("Content-Type").Value(); ct != "application/dialog-info+xml" {
		t.Fatal(ct)
	}
	if ss := n.GetHeader("Subscription-State").Value(); !strings.HasPrefix(ss, "active;expires=") {
		t.Fatal(ss)
	}
	if n.GetHeader("Event").Value() != "dialog" {
		t.Fatal(n.GetHeader("Event"))
	}
	for i, c := range []struct {
		state state.Extension
		want  string
	}{{1, "confirmed"}, {8, "early"}, {0, "terminated"}, {16, "confirmed"}} {
		e.hints.set("100", "blf", c.state)
		n := ph.waitNotify(2 * time.Second)
		if v, st := dialogState(t, n); v != i+1 || st != c.want {
			t.Fatalf("state %d: v=%d %s (want v=%d %s)", c.state, v, st, i+1, c.want)
		}
	}
	// a change that leaves the visible state as it is sends nothing
	e.hints.set("100", "blf", 1) // hold(16) and inuse(1) both read confirmed with notifyhold=no
	ph.noNotify(300 * time.Millisecond)

	out := e.cli("sip show subscriptions")
	// alice has not registered and has no callerid: chan_sip's user column says (None)
	if !strings.Contains(out, "(None)") || !strings.Contains(out, "100@blf") || !strings.Contains(out, "dialog-info+xml") || !strings.Contains(out, "1 active SIP subscription\n") {
		t.Fatalf("show subscriptions:\n%s", out)
	}
	// refresh: 200 and a NOTIFY with the current state
	if r := ph.resubscribe(req, res, "alice", "wonderland", 300); r.StatusCode != 200 || r.GetHeader("Expires").Value() != "300" {
		t.Fatalf("refresh: %d", r.StatusCode)
	}
	n = ph.waitNotify(2 * time.Second)
	if v, st := dialogState(t, n); v != 5 || st != "confirmed" {
		t.Fatalf("after refresh: v=%d %s", v, st)
	}
	// unsubscribe
	if r := ph.resubscribe(req, res, "alice", "wonderland", 0); r.StatusCode != 200 {
		t.Fatalf("unsubscribe: %d", r.StatusCode)
	}
	n = ph.waitNotify(2 * time.Second)
	if ss := n.GetHeader("Subscription-State").Value(); !strings.HasPrefix(ss, "terminated") {
		t.Fatal(ss)
	}
	if e.s.subs.len() != 0 || e.hints.watchers_("100@blf") != 0 {
		t.Fatalf("subscription or watch left: %d", e.s.subs.len())
	}
	// a SUBSCRIBE in a dialog that does not exist
	if r := ph.resubscribe(req, res, "alice", "wonderland", 60); r.StatusCode != 481 {
		t.Fatalf("after unsubscribe: %d", r.StatusCode)
	}
}

func TestNotifyRingingOff(t *testing.T) {
	e := newEnv(t, strings.Replace(presConf, "[general]\n", "[general]\nnotifyringing=no\nnotifyhold=yes\n", 1), false)
	e.hints.set("100", "blf", 0)
	ph := newPhone(t, e.addr)
	if _, res := ph.subscribe("alice", "wonderland", "100", "dialog", 600); res.StatusCode != 200 {
		t.Fatal(res.StatusCode)
	}
	ph.waitNotify(2 * time.Second)
	e.hints.set("100", "blf", 8) // ringing: not notified
	ph.noNotify(300 * time.Millisecond)
	e.hints.set("100", "blf", 16) // hold, notifyhold=yes: confirmed + rendering=no
	n := ph.waitNotify(2 * time.Second)
	if v, st := dialogState(t, n); v != 1 || st != "confirmed" || !strings.Contains(string(n.Body()), `pvalue="no"`) {
		t.Fatalf("hold: v=%d %s\n%s", v, st, n.Body())
	}
}

func TestSubscribePresenceAndMWI(t *testing.T) {
	e := newEnv(t, strings.Replace(presConf, "subscribecontext=blf\n", "subscribecontext=blf\nmailbox=1234@vm\n", 1), false)
	e.hints.set("200", "blf", 1)
	e.mb.set("1234@vm", 2, 5, 1)
	ph := newPhone(t, e.addr)
	if _, res := ph.subscribe("alice", "wonderland", "200", "presence", 600); res.StatusCode != 200 {
		t.Fatal(res.StatusCode)
	}
	n := ph.waitNotify(2 * time.Second)
	body := string(n.Body())
	if n.GetHeader("Content-Type").Value() != "application/pidf+xml" || !strings.Contains(body, "<basic>open</basic>") || !strings.Contains(body, "On the phone") {
		t.Fatalf("pidf:\n%s", body)
	}
	e.hints.set("200", "blf", 4)
	n = ph.waitNotify(2 * time.Second)
	if !strings.Contains(string(n.Body()), "<basic>closed</basic>") {
		t.Fatalf("pidf unavailable:\n%s", n.Body())
	}

	if _, res := ph.subscribe("alice", "wonderland", "alice", "message-summary", 600); res.StatusCode != 200 {
		t.Fatal(res.StatusCode)
	}
	n = ph.waitNotify(2 * time.Second)
	body = string(n.Body())
	if n.GetHeader("Event").Value() != "message-summary" || !strings.Contains(body, "Messages-Waiting: yes") ||
		!strings.Contains(body, "Voice-Message: 2/5 (1/0)") || !strings.Contains(body, "Message-Account: sip:asterisk@127.0.0.1") {
		t.Fatalf("mwi:\n%s", body)
	}
	e.mb.set("1234@vm", 0, 7, 0)
	n = ph.waitNotify(2 * time.Second)
	if body := string(n.Body()); !strings.Contains(body, "Messages-Waiting: no") || !strings.Contains(body, "Voice-Message: 0/7 (0/0)") {
		t.Fatalf("mwi change:\n%s", body)
	}
}

func TestUnsolicitedMWI(t *testing.T) {
	e := newEnv(t, baseConf+alicePeer+"mailbox=1234\n", false)
	e.mb.set("1234@default", 1, 0, 0)
	ph := newPhone(t, e.addr)
	if res := ph.register("alice", "wonderland", 300); res.StatusCode != 200 {
		t.Fatal(res.StatusCode)
	}
	n := ph.waitNotify(2 * time.Second)
	if n.GetHeader("Event").Value() != "message-summary" || !strings.Contains(string(n.Body()), "Messages-Waiting: yes") {
		t.Fatalf("on registration:\n%s", n)
	}
	e.mb.set("1234@default", 0, 1, 0)
	n = ph.waitNotify(2 * time.Second)
	if !strings.Contains(string(n.Body()), "Messages-Waiting: no") || !strings.Contains(string(n.Body()), "0/1") {
		t.Fatalf("on change:\n%s", n.Body())
	}
	e.mb.set("9999@default", 3, 0, 0) // not alice's
	ph.noNotify(300 * time.Millisecond)
}

func TestSubscribeErrors(t *testing.T) {
	e := newEnv(t, presConf, false)
	e.hints.set("100", "blf", 0)
	ph := newPhone(t, e.addr)
	if _, res := ph.subscribe("alice", "wonderland", "100", "foo", 600); res.StatusCode != 489 || res.GetHeader("Allow-Events") == nil {
		t.Fatalf("unknown event: %d", res.StatusCode)
	}
	if _, res := ph.subscribe("alice", "wonderland", "999", "dialog", 600); res.StatusCode != 404 {
		t.Fatalf("no hint: %d", res.StatusCode)
	}
	if _, res := ph.subscribe("nosub", "n", "100", "dialog", 600); res.StatusCode != 403 {
		t.Fatalf("peer allowsubscribe=no: %d", res.StatusCode)
	}
	if _, res := ph.subscribe("alice", "wrong", "100", "dialog", 600); res.StatusCode != 403 {
		t.Fatalf("wrong password: %d", res.StatusCode)
	}
	if _, res := ph.subscribe("alice", "wonderland", "alice", "message-summary", 600); res.StatusCode != 404 {
		t.Fatalf("mwi without mailbox: %d", res.StatusCode)
	}
	e2 := newEnv(t, strings.Replace(presConf, "[general]\n", "[general]\nallowsubscribe=no\n", 1), false)
	ph2 := newPhone(t, e2.addr)
	if _, res := ph2.subscribe("alice", "wonderland", "100", "dialog", 600); res.StatusCode != 403 {
		t.Fatalf("allowsubscribe=no: %d", res.StatusCode)
	}
	if e.s.subs.len() != 0 {
		t.Fatal("subscriptions left")
	}
}

func TestSubscriptionExpiry(t *testing.T) {
	e := newEnv(t, presConf, false)
	e.hints.set("100", "blf", 1)
	ph := newPhone(t, e.addr)
	if _, res := ph.subscribe("alice", "wonderland", "100", "dialog", 1); res.StatusCode != 200 {
		t.Fatal(res.StatusCode)
	}
	ph.waitNotify(2 * time.Second)
	n := ph.waitNotify(3 * time.Second)
	if ss := n.GetHeader("Subscription-State").Value(); ss != "terminated;reason=timeout" {
		t.Fatalf("expiry: %s", ss)
	}
	if v, st := dialogState(t, n); v != 1 || st != "confirmed" {
		t.Fatalf("final NOTIFY v=%d %s", v, st)
	}
	waitFor(t, time.Second, "removed", func() bool { return e.s.subs.len() == 0 })
}

func TestSubscribeFloodBounded(t *testing.T) {
	e := newEnv(t, strings.Replace(presConf, "[general]\n", "[general]\nmaxsubscriptionsperpeer=20\n", 1)+"[flood]\ntype=friend\nhost=dynamic\nsecret=f\nsubscribecontext=blf\n", false)
	e.hints.set("100", "blf", 0)
	ph := newPhone(t, e.addr)
	// unauthenticated flood: challenges only, no state
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := 0; i < 2000; i++ {
		req := ph.newReq(sip.SUBSCRIBE, "flood", "100")
		req.AppendHeader(sip.NewHeader("Event", "dialog"))
		res, err := ph.Client.Do(ctx, req)
		if err != nil || res.StatusCode != 401 {
			t.Fatalf("flood %d: %v %v", i, err, res)
		}
	}
	if e.s.subs.len() != 0 || e.s.nonces.len() != 0 {
		t.Fatalf("state after unauthenticated flood: subs=%d nonces=%d", e.s.subs.len(), e.s.nonces.len())
	}
	// authenticated: the per-peer limit holds
	ok, refused := 0, 0
	for i := 0; i < 30; i++ {
		_, res := ph.subscribe("flood", "f", "100", "dialog", 600)
		switch res.StatusCode {
		case 200:
			ok++
		case 503:
			refused++
		default:
			t.Fatalf("unexpected %d", res.StatusCode)
		}
	}
	if ok != 20 || refused != 10 || e.s.subs.len() != 20 {
		t.Fatalf("ok=%d refused=%d subs=%d", ok, refused, e.s.subs.len())
	}
}

// TestNotifyAsChanSip: what chan_sip puts in a BLF NOTIFY besides the state. The
// dialog-info entity (and a held dialog's target) is the SUBSCRIBE's To URI without its
// parameters, port kept; the PIDF entity is the subscriber's From URI and its contact the To
// URI; the Request-URI is the subscriber's Contact as given (port kept, 5060 too); the
// Contact user of the 200 OK and of every NOTIFY is the extension. "sip show subscriptions"
// shows exten@context cut at 15 columns, the peer's username and the Expires granted (as C's
// %-6.6d prints it: six digits).
func TestNotifyAsChanSip(t *testing.T) {
	conf := strings.Replace(presConf, "subscribecontext=blf\n", "subscribecontext=devstate_test\n", 1)
	e := newEnv(t, strings.Replace(conf, "[general]\n", "[general]\nnotifyhold=yes\n", 1), false)
	e.hints.set("1234", "devstate_test", state.ExtOnHold)
	ph := newPhone(t, e.addr)
	if res := ph.register("alice", "wonderland", 600); res.StatusCode != 200 {
		t.Fatalf("register: %d", res.StatusCode)
	}
	_, srvPort, _ := strings.Cut(e.addr, ":")
	sub := func(event string, contactPort int) (*sip.Response, *sip.Request) {
		req := ph.newReq(sip.SUBSCRIBE, "alice", "1234")
		req.To().Address.Port, _ = strconv.Atoi(srvPort)
		req.To().Address.UriParams = sip.HeaderParams{{K: "user", V: "phone"}}
		req.Contact().Address.Port = contactPort
		req.AppendHeader(sip.NewHeader("Event", event))
		req.AppendHeader(sip.NewHeader("Expires", "600"))
		res := ph.do(req)
		authorize(t, req, res, "alice", "wonderland", 1)
		nextReq(req)
		res = ph.do(req)
		if res.StatusCode != 200 {
			t.Fatalf("SUBSCRIBE %s: %d", event, res.StatusCode)
		}
		return res, ph.waitNotify(2 * time.Second)
	}
	to := "sip:1234@127.0.0.1:" + srvPort
	res, n := sub("dialog", ph.port)
	if c := res.Contact(); c == nil || c.Address.User != "1234" {
		t.Fatalf("200 OK Contact: %v", res.Contact())
	}
	if c := n.Contact(); c == nil || c.Address.User != "1234" {
		t.Fatalf("NOTIFY Contact: %v", n.Contact())
	}
	if got, want := n.Recipient.String(), "sip:alice@127.0.0.1:"+strconv.Itoa(ph.port); got != want {
		t.Fatalf("NOTIFY Request-URI %s, want %s", got, want)
	}
	body := string(n.Body())
	for _, want := range []string{`entity="` + to + `">`, `<dialog id="1234">`, `<target uri="` + to + `">`} {
		if !strings.Contains(body, want) {
			t.Errorf("dialog-info lacks %q:\n%s", want, body)
		}
	}
	_, n = sub("presence", 5060) // the Contact's port 5060 stays in the Request-URI too
	if got := n.Recipient.String(); got != "sip:alice@127.0.0.1:5060" {
		t.Fatalf("NOTIFY Request-URI %s", got)
	}
	body = string(n.Body())
	for _, want := range []string{`entity="sip:alice@127.0.0.1">`, `<tuple id="1234">`, `<contact priority="1">` + to + `</contact>`} {
		if !strings.Contains(body, want) {
			t.Errorf("pidf lacks %q:\n%s", want, body)
		}
	}
	out := e.cli("sip show subscriptions")
	if !regexp.MustCompile(`(?m)^127\.0\.0\.1        alice            \S+\s+1234@devstate_t  Hold           dialog-info\+xml <none>     000600\n`).MatchString(out) {
		t.Fatalf("sip show subscriptions:\n%s", out)
	}
}
