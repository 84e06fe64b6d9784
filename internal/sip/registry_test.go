package sip

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// memDB is an astdb in memory.
type memDB struct {
	mu   sync.Mutex
	data map[string]string // "family/key"
	puts int               // PutMany calls
	fail error
}

func newMemDB() *memDB { return &memDB{data: map[string]string{}} }

func (m *memDB) Family(family string) (map[string]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]string{}
	for k, v := range m.data {
		if key, ok := strings.CutPrefix(k, family+"/"); ok {
			out[key] = v
		}
	}
	return out, nil
}

func (m *memDB) PutMany(family string, kv map[string]string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	if len(kv) > 0 {
		m.puts++
	}
	for k, v := range kv {
		m.data[family+"/"+k] = v
	}
	return nil
}

func (m *memDB) Del(family, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.data, family+"/"+key)
	return nil
}

func (m *memDB) get(k string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.data[k]
}

func (m *memDB) putCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.puts
}

func TestSavedRegValue(t *testing.T) {
	for _, c := range []struct {
		in, out string
		err     bool
	}{
		{"192.0.2.20:5062:120:alice:sip:alice@192.0.2.20:5062;transport=udp", "", false},
		{"[2001:db8::7]:5060:3600:bob:sip:bob@[2001:db8::7]:5060", "", false},
		{"192.0.2.20:5062:120::", "", false},                    // no username, no contact
		{"192.0.2.20:5062:120", "192.0.2.20:5062:120::", false}, // chan_sip accepts what it can
		{"192.0.2.20:5062", "", true},
		{"host.example:5060:120:a:sip:a@x", "", true},
		{"192.0.2.20:0:120:a:b", "", true},
		{"192.0.2.20:5060:-1:a:b", "", true},
		{"[2001:db8::7:5060:1:a:b", "", true},
		{"", "", true},
	} {
		r, err := parseSavedReg(c.in)
		if (err != nil) != c.err {
			t.Errorf("%q: err %v", c.in, err)
			continue
		}
		want := c.out
		if want == "" {
			want = c.in
		}
		if err == nil && r.String() != want {
			t.Errorf("%q read back as %q", c.in, r.String())
		}
	}
}

// FuzzSavedReg: whatever the database holds, reading it never panics, and what it reads
// writes back readable.
func FuzzSavedReg(f *testing.F) {
	for _, s := range []string{"192.0.2.20:5062:120:alice:sip:alice@192.0.2.20:5062", "[::1]:5060:1:a:sip:a@[::1]", "1:2:3:4:5", "[", "::::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		r, err := parseSavedReg(v)
		if err != nil {
			return
		}
		if _, err := parseSavedReg(r.String()); err != nil {
			t.Fatalf("%q -> %q unreadable: %v", v, r.String(), err)
		}
	})
}

const regConf = baseConf + "[alice]\ntype=friend\nhost=dynamic\nsecret=wonderland\nqualify=yes\nmailbox=100\n" +
	"[bob]\ntype=friend\nhost=dynamic\nsecret=builder\n[carol]\ntype=friend\nhost=dynamic\nsecret=c\n" +
	"[dave]\ntype=friend\nhost=dynamic\nsecret=d\n[erin]\ntype=friend\nhost=dynamic\nsecret=e\n[static]\ntype=peer\nhost=192.0.2.10\n"

// TestRegistrationsInAstdb: a registration is written to astdb as chan_sip writes it
// (SIP/Registry/<peer> = addr:port:expiry:username:contact) with Pleiades' absolute expiry,
// batched; a refresh that changes nothing writes nothing; unregistering deletes it. A server
// started on that database has the peer registered again (sip show peers, device NOT_INUSE,
// qualify, MWI to the contact) without a new REGISTER; an entry that expired meanwhile is
// dropped, one written by Asterisk (no expiry of ours) lasts its expiry from the start.
func TestRegistrationsInAstdb(t *testing.T) {
	db := newMemDB()
	e := newEnvDB(t, regConf, db)
	ph := newPhone(t, e.addr)
	before := time.Now()
	for _, u := range []struct{ name, pass string }{{"alice", "wonderland"}, {"bob", "builder"}, {"carol", "c"}} {
		if res := ph.register(u.name, u.pass, 600); res.StatusCode != 200 {
			t.Fatalf("register %s: %d", u.name, res.StatusCode)
		}
	}
	waitFor(t, 3*time.Second, "registrations in astdb", func() bool { return db.get("SIP/Registry/carol") != "" })
	contact := "sip:alice@127.0.0.1:" + strconv.Itoa(ph.port)
	if got, want := db.get("SIP/Registry/alice"), "127.0.0.1:"+strconv.Itoa(ph.port)+":600:alice:"+contact; got != want {
		t.Fatalf("SIP/Registry/alice = %q, want %q", got, want)
	}
	exp, _ := strconv.ParseInt(db.get("SIP/RegistryExpires/alice"), 10, 64)
	if exp < before.Unix()+599 || exp > time.Now().Unix()+601 {
		t.Fatalf("SIP/RegistryExpires/alice = %d", exp)
	}
	if n := db.putCount(); n > 2*2 { // three registrations within one flush: one transaction per family (two flushes at worst)
		t.Fatalf("%d PutMany for three registrations", n)
	}
	// a refresh that changes nothing but moves the expiry by less than half of it writes nothing
	puts := db.putCount()
	if res := ph.register("bob", "builder", 600); res.StatusCode != 200 {
		t.Fatal(res.StatusCode)
	}
	time.Sleep(2 * registryFlush)
	if n := db.putCount(); n != puts {
		t.Fatalf("a refresh wrote to astdb: %d PutMany, %d before", n, puts)
	}
	// carol unregisters: her entries go
	if res := ph.register("carol", "c", 0); res.StatusCode != 200 {
		t.Fatal(res.StatusCode)
	}
	waitFor(t, 3*time.Second, "carol deleted", func() bool { return db.get("SIP/Registry/carol") == "" && db.get("SIP/RegistryExpires/carol") == "" })
	e.s.Close()

	// bob's entry expired while the server was down, even counting the half expiry the kept
	// expiry may lag; erin's kept expiry passed less than that ago; dave's was written by Asterisk
	db.data["SIP/RegistryExpires/bob"] = strconv.FormatInt(time.Now().Add(-301*time.Second).Unix(), 10)
	db.data["SIP/Registry/erin"] = "192.0.2.55:5060:600:erin:sip:erin@192.0.2.55"
	db.data["SIP/RegistryExpires/erin"] = strconv.FormatInt(time.Now().Add(-100*time.Second).Unix(), 10)
	db.data["SIP/Registry/dave"] = "192.0.2.44:5070:300:dave:sip:dave@192.0.2.44:5070;transport=tcp"
	db.data["SIP/Registry/static"] = "192.0.2.99:5060:300:x:sip:x@192.0.2.99" // not a dynamic peer: ignored
	db.data["SIP/Registry/nobody"] = "192.0.2.98:5060:300:x:sip:x@192.0.2.98" // no such peer: left alone

	e2 := newEnvDB(t, strings.Replace(regConf, "qualify=yes", "qualify=yes\nqualifyfreq=1", 1), db)
	e2.mb.set("100@default", 3, 1, 0)
	out := e2.cli("sip show peers")
	for _, want := range []string{
		"alice/alice               127.0.0.1                                D  Auto (No)  No             " + strconv.Itoa(ph.port),
		"bob                       (Unspecified)",
		"dave/dave                 192.0.2.44                               D  Auto (No)  No             5070",
		"static                    192.0.2.10 ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("sip show peers after the restart lacks %q:\n%s", want, out)
		}
	}
	if got := e2.ds.get("SIP/alice"); got != "NOT_INUSE" {
		t.Fatalf("SIP/alice after the restart: %q", got)
	}
	if got := e2.ds.get("SIP/bob"); got != "UNAVAILABLE" {
		t.Fatalf("SIP/bob (expired) after the restart: %q", got)
	}
	if out := e2.cli("sip show peer dave"); !strings.Contains(out, "Prim.Transp. : TCP") || !regexpMatch(`Reg. Expires : (29\d|300) s`, out) {
		t.Fatalf("dave (Asterisk's entry):\n%s", out)
	}
	if out := e2.cli("sip show peer erin"); !regexpMatch(`Reg. Expires : (19\d|200) s`, out) {
		t.Fatalf("erin (kept expiry passed 100 s ago, 600 s granted):\n%s", out)
	}
	if out := e2.cli("sip show peer alice"); !strings.Contains(out, "Reg. Contact : "+contact) {
		t.Fatalf("alice:\n%s", out)
	}
	// the restored contact is qualified and gets MWI, without registering again
	waitFor(t, 3*time.Second, "qualify of the restored contact", func() bool { return strings.Contains(e2.cli("sip show peer alice"), "OK (") })
	e2.mb.set("100@default", 4, 1, 0)
	for {
		n := ph.waitNotify(3 * time.Second)
		if ev := n.GetHeader("Event"); ev != nil && ev.Value() == "message-summary" && strings.Contains(string(n.Body()), "Voice-Message: 4/1") {
			break
		}
	}
	waitFor(t, 3*time.Second, "expired entry dropped", func() bool { return db.get("SIP/Registry/bob") == "" && db.get("SIP/RegistryExpires/bob") == "" })
	if db.get("SIP/Registry/nobody") == "" {
		t.Fatal("the entry of a peer not in sip.conf was deleted")
	}
}

// TestRegistrationsAstdbIgnoreRegExpire: with ignoreregexpire an entry that expired while the
// server was down comes back for a default period, and expiry does not delete it (chan_sip's
// destroy_association).
func TestRegistrationsAstdbIgnoreRegExpire(t *testing.T) {
	db := newMemDB()
	db.data["SIP/Registry/bob"] = "192.0.2.21:5060:60:bob:sip:bob@192.0.2.21"
	db.data["SIP/RegistryExpires/bob"] = strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10)
	e := newEnvDB(t, strings.Replace(regConf, "[general]\n", "[general]\nignoreregexpire=yes\ndefaultexpiry=1\nminexpiry=1\n", 1), db)
	if out := e.cli("sip show peers"); !strings.Contains(out, "192.0.2.21") {
		t.Fatalf("sip show peers:\n%s", out)
	}
	waitFor(t, 3*time.Second, "expiry", func() bool { return e.ds.get("SIP/bob") == "UNAVAILABLE" })
	time.Sleep(2 * registryFlush)
	if db.get("SIP/Registry/bob") == "" {
		t.Fatal("deleted on expiry with ignoreregexpire")
	}
}

// TestRegistrationsAstdbFailure: a database that refuses writes costs nothing but a warning.
func TestRegistrationsAstdbFailure(t *testing.T) {
	db := newMemDB()
	db.fail = errors.New("disk full")
	e := newEnvDB(t, regConf, db)
	ph := newPhone(t, e.addr)
	if res := ph.register("bob", "builder", 600); res.StatusCode != 200 {
		t.Fatal(res.StatusCode)
	}
	waitFor(t, 3*time.Second, "warning", func() bool { return strings.Contains(e.log.String(), "registrations not saved in astdb") })
}

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }

// TestRegistrationExpiresAfterStop: Close stops every timer; Start arms the expiry of the
// registrations kept in memory again (a reload that moves the listeners does Close and Start),
// so they still expire.
func TestRegistrationExpiresAfterStop(t *testing.T) {
	e := newEnv(t, baseConf+"minexpiry=1\n"+alicePeer, false)
	ph := newPhone(t, e.addr)
	if res := ph.register("alice", "wonderland", 2); res.StatusCode != 200 {
		t.Fatal(res.StatusCode)
	}
	e.s.Close()
	if err := e.s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 4*time.Second, "expiry after Close and Start", func() bool { return e.ds.get("SIP/alice") == "UNAVAILABLE" })
}
