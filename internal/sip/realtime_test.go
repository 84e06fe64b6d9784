package sip

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

func TestRealtimeWriteBackAndExpiry(t *testing.T) {
	e := newEnv(t, baseConf+"minexpiry=1\nrtsavesysname=yes\n", true)
	e.store("name", "rtalice", "secret", "s3cret", "host", "dynamic", "type", "friend", "context", "internal")
	ph := newPhone(t, e.addr)

	before := time.Now().Unix()
	res := ph.register("rtalice", "s3cret", 3)
	if res.StatusCode != 200 {
		t.Fatalf("register: %d", res.StatusCode)
	}
	waitFor(t, 2*time.Second, "write-back", func() bool { _, ok := e.row("rtalice").Get("ipaddr"); return ok && e.s.wb.idle() })
	r := e.row("rtalice")
	get := func(k string) string { v, _ := r.Get(k); return v }
	if get("ipaddr") != "127.0.0.1" || get("port") != strconv.Itoa(ph.port) || get("defaultuser") != "rtalice" ||
		get("useragent") != "testphone/1.0" || get("regserver") != "pbx1" || !strings.Contains(get("fullcontact"), "127.0.0.1:"+strconv.Itoa(ph.port)) {
		t.Fatalf("row after register: %v", r)
	}
	rs, _ := strconv.ParseInt(get("regseconds"), 10, 64)
	if rs < before+2 || rs > time.Now().Unix()+4 {
		t.Fatalf("regseconds %d (now %d)", rs, before)
	}
	waitFor(t, time.Second, "NOT_INUSE", func() bool { return e.ds.get("SIP/rtalice") == "NOT_INUSE" })
	// uncached (rtcachefriends=no) but registered: listed as Realtime
	if out := e.cli("sip show peers"); !strings.Contains(out, "rtalice") || !strings.Contains(out, "Realtime") {
		t.Fatalf("show peers:\n%s", out)
	}
	// expiry clears the row and the peer leaves memory
	waitFor(t, 6*time.Second, "row cleared", func() bool {
		_, ok := e.row("rtalice").Get("ipaddr")
		return !ok && e.s.wb.idle()
	})
	r = e.row("rtalice")
	if v, _ := r.Get("regseconds"); v != "0" {
		t.Fatalf("regseconds after expiry: %v", r)
	}
	if v, ok := r.Get("fullcontact"); ok {
		t.Fatalf("fullcontact after expiry: %q", v)
	}
	waitFor(t, time.Second, "UNAVAILABLE", func() bool { return e.ds.get("SIP/rtalice") == "UNAVAILABLE" })
	if out := e.cli("sip show peers"); strings.Contains(out, "rtalice") {
		t.Fatalf("uncached peer still in memory:\n%s", out)
	}
	// unknown realtime peer: 401 then 403
	req := ph.newReq(sip.REGISTER, "ghost", "ghost")
	if res := ph.do(req); res.StatusCode != 401 {
		t.Fatal(res.StatusCode)
	}
}

func TestRealtimeRegistrationRestoredFromRow(t *testing.T) {
	e := newEnv(t, baseConf+"rtcachefriends=yes\n", true)
	exp := strconv.FormatInt(time.Now().Unix()+600, 10)
	e.store("name", "rtbob", "secret", "x", "host", "dynamic", "ipaddr", "127.0.0.1", "port", "5999", "regseconds", exp, "fullcontact", "sip:rtbob@127.0.0.1:5999")
	ph := newPhone(t, e.addr)
	// an OPTIONS from the peer loads it (cached): its registration comes from the row
	req := ph.newReq(sip.OPTIONS, "rtbob", "")
	if res := ph.do(req); res.StatusCode != 200 {
		t.Fatal(res.StatusCode)
	}
	out := e.cli("sip show peers")
	if !strings.Contains(out, "rtbob") || !strings.Contains(out, "Cached RT") || !strings.Contains(out, "5999") {
		t.Fatalf("show peers:\n%s", out)
	}
	if e.ds.get("SIP/rtbob") != "NOT_INUSE" {
		t.Fatal("restored registration not NOT_INUSE")
	}
	out = e.cli("sip show peer rtbob")
	if !strings.Contains(out, "Cached RT") || !strings.Contains(out, "127.0.0.1:5999") {
		t.Fatalf("show peer:\n%s", out)
	}
}

func TestRealtimeCacheAutoclearPruneOutage(t *testing.T) {
	e := newEnv(t, baseConf+"rtcachefriends=yes\nrtautoclear=2\n", true)
	for _, n := range []string{"c1", "c2", "c3"} {
		e.store("name", n, "secret", "pw"+n, "host", "dynamic", "type", "friend")
	}
	ph := newPhone(t, e.addr)
	for _, n := range []string{"c1", "c2"} {
		if res := ph.do(ph.newReq(sip.OPTIONS, n, "")); res.StatusCode != 200 {
			t.Fatal(res.StatusCode)
		}
	}
	if out := e.cli("sip show peers"); !strings.Contains(out, "c1") || !strings.Contains(out, "Cached RT") || !strings.Contains(out, "2 sip peers") {
		t.Fatalf("cached:\n%s", out)
	}
	// rtautoclear: unregistered cached peers leave within ~2-3 s
	waitFor(t, 5*time.Second, "autoclear", func() bool { return strings.Contains(e.cli("sip show peers"), "0 sip peers") })

	// prune: one, then all
	ph.do(ph.newReq(sip.OPTIONS, "c1", ""))
	ph.do(ph.newReq(sip.OPTIONS, "c2", ""))
	if out := e.cli("sip prune realtime peer c1"); !strings.Contains(out, "pruned") {
		t.Fatal(out)
	}
	out := e.cli("sip show peers")
	if strings.Contains(out, "c1 ") || !strings.Contains(out, "c2") {
		t.Fatalf("after prune c1:\n%s", out)
	}
	if out := e.cli("sip prune realtime all"); !strings.Contains(out, "1 peers pruned") {
		t.Fatal(out)
	}

	// outage: a registered cached peer keeps working when the database is down, even after
	// rtautoclear marked it for a reload
	if res := ph.register("c3", "pwc3", 300); res.StatusCode != 200 {
		t.Fatal(res.StatusCode)
	}
	waitFor(t, 2*time.Second, "write-back", func() bool { return e.s.wb.idle() })
	e.breakRT()
	time.Sleep(2500 * time.Millisecond) // autoclear marks it stale
	if res := ph.register("c3", "pwc3", 300); res.StatusCode != 200 {
		t.Fatalf("register during outage: %d", res.StatusCode)
	}
	if out := e.cli("sip show peers"); !strings.Contains(out, "c3") {
		t.Fatalf("cached peer dropped during outage:\n%s", out)
	}
	if e.ds.get("SIP/c3") != "NOT_INUSE" {
		t.Fatal("device changed during outage")
	}
	// a peer never seen cannot be loaded: 503, not a crash
	if res := ph.do(ph.newReq(sip.REGISTER, "c1", "c1")); res.StatusCode != 503 {
		t.Fatalf("unknown peer during outage: %d", res.StatusCode)
	}
}

func TestQualifyUnreachable(t *testing.T) {
	e := newEnv(t, baseConf+"qualifyfreq=1\n[q]\ntype=friend\nhost=dynamic\nsecret=q\nqualify=1000\n", true)
	e.store("name", "rtq", "secret", "q", "host", "dynamic", "qualify", "1000", "qualifyfreq", "1")
	ph := newPhone(t, e.addr)
	ph2 := newPhone(t, e.addr)
	if res := ph.register("q", "q", 300); res.StatusCode != 200 {
		t.Fatal(res.StatusCode)
	}
	if res := ph2.register("rtq", "q", 300); res.StatusCode != 200 {
		t.Fatal(res.StatusCode)
	}
	waitFor(t, 3*time.Second, "OK", func() bool {
		out := e.cli("sip show peers")
		return strings.Count(out, "OK (") == 2
	})
	waitFor(t, time.Second, "NOT_INUSE", func() bool {
		return e.ds.get("SIP/q") == "NOT_INUSE" && e.ds.get("SIP/rtq") == "NOT_INUSE"
	})
	waitFor(t, 2*time.Second, "lastms written", func() bool { v, ok := e.row("rtq").Get("lastms"); return ok && v != "0" })
	out := e.cli("sip show peers")
	if !strings.Contains(out, "Monitored: 2 online, 0 offline") {
		t.Fatalf("summary:\n%s", out)
	}
	// phones stop answering: UNREACHABLE, device UNAVAILABLE
	ph.Silent.Store(true)
	ph2.Silent.Store(true)
	waitFor(t, 8*time.Second, "UNAVAILABLE", func() bool {
		return e.ds.get("SIP/q") == "UNAVAILABLE" && e.ds.get("SIP/rtq") == "UNAVAILABLE"
	})
	if out := e.cli("sip show peers"); !strings.Contains(out, "UNREACHABLE") || !strings.Contains(out, "Monitored: 0 online, 2 offline") {
		t.Fatalf("unreachable:\n%s", out)
	}
	// back
	ph.Silent.Store(false)
	waitFor(t, 8*time.Second, "back to NOT_INUSE", func() bool { return e.ds.get("SIP/q") == "NOT_INUSE" })
	if !strings.Contains(e.log.String(), "is now UNREACHABLE") || !strings.Contains(e.log.String(), "is now Reachable") {
		t.Fatal("status changes not logged")
	}
}

func TestKeepalive(t *testing.T) {
	e := newEnv(t, baseConf+"[k]\ntype=friend\nhost=dynamic\nsecret=k\nkeepalive=1\n", false)
	ph := newPhone(t, e.addr)
	if res := ph.register("k", "k", 300); res.StatusCode != 200 {
		t.Fatal(res.StatusCode)
	}
	// sipgo's transport swallows CRLF keepalives; the server must still be fine and the peer
	// must stay NOT_INUSE. (The bytes themselves are checked in TestKeepaliveBytes.)
	time.Sleep(1200 * time.Millisecond)
	if e.ds.get("SIP/k") != "NOT_INUSE" {
		t.Fatal(e.ds.get("SIP/k"))
	}
}

func TestKeepaliveBytes(t *testing.T) {
	e := newEnv(t, baseConf+"[k]\ntype=friend\nhost=dynamic\nkeepalive=1\n", false)
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	la := c.LocalAddr().String()
	reg := "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP " + la + ";branch=z9hG4bKka1\r\nMax-Forwards: 70\r\nCSeq: 1 REGISTER\r\nCall-ID: ka1\r\n" +
		"From: <sip:k@127.0.0.1>;tag=1\r\nTo: <sip:k@127.0.0.1>\r\nContact: <sip:k@" + la + ">\r\nExpires: 300\r\nContent-Length: 0\r\n\r\n"
	ua, _ := net.ResolveUDPAddr("udp", e.addr)
	if _, err := c.WriteTo([]byte(reg), ua); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, _, err := c.ReadFrom(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "SIP/2.0 200") {
		t.Fatalf("register: %v %q", err, buf[:n])
	}
	n, _, err = c.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "\r\n\r\n" {
		t.Fatalf("keepalive: %v %q", err, buf[:n])
	}
}

// A re-registration of the same binding is not written back to realtime until regseconds has
// moved by more than half the expiry; a new binding (another address) is written at once.
func TestRealtimeWriteBackSkipsUnchangedReRegistrations(t *testing.T) {
	e := newEnv(t, baseConf+"rtcachefriends=yes\nrtautoclear=no\n", true)
	e.store("name", "rtbob", "secret", "pw", "host", "dynamic", "type", "friend")
	ph := newPhone(t, e.addr)
	if res := ph.register("rtbob", "pw", 3600); res.StatusCode != 200 {
		t.Fatalf("register: %d", res.StatusCode)
	}
	waitFor(t, 2*time.Second, "write-back", func() bool { _, ok := e.row("rtbob").Get("ipaddr"); return ok && e.s.wb.idle() })
	// mark the row: a write-back would overwrite the mark
	if _, err := e.rt.Update(context.Background(), "sippeers", "name", "rtbob", realtime.Field{Name: "regseconds", Value: "1"}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if res := ph.register("rtbob", "pw", 3600); res.StatusCode != 200 {
			t.Fatalf("re-register: %d", res.StatusCode)
		}
	}
	time.Sleep(100 * time.Millisecond)
	waitFor(t, 2*time.Second, "write-backs done", e.s.wb.idle)
	if v, _ := e.row("rtbob").Get("regseconds"); v != "1" {
		t.Fatalf("an unchanged re-registration was written back: regseconds %s", v)
	}
	// the same peer from another address: written
	ph2 := newPhone(t, e.addr)
	if res := ph2.register("rtbob", "pw", 3600); res.StatusCode != 200 {
		t.Fatalf("register from a new address: %d", res.StatusCode)
	}
	waitFor(t, 2*time.Second, "new binding written", func() bool {
		v, _ := e.row("rtbob").Get("port")
		return v == strconv.Itoa(ph2.port) && e.s.wb.idle()
	})
	if v, _ := e.row("rtbob").Get("regseconds"); v == "1" {
		t.Fatal("regseconds of the new binding not written")
	}
}
