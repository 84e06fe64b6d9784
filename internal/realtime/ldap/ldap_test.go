package ldap_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/pleiades-pbx/pleiades/internal/cli"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
	"github.com/pleiades-pbx/pleiades/internal/realtime/ldap"
	"github.com/pleiades-pbx/pleiades/internal/realtime/ldap/ldaptest"
	"github.com/pleiades-pbx/pleiades/internal/realtime/realtimetest"
)

// tables is the res_ldap.conf part mapping the conformance suite's tables onto Asterisk's
// schema. The schema has no attribute for a SIP peer's full name nor a static row's variable
// metric: those go to the structural class's description.
const tables = `
[sippeers]
id = entryUUID
name = cn
port = AstAccountPort
host = AstAccountHost
type = AstAccountType
context = AstAccountContext
secret = AstAccountSecret
ipaddr = AstAccountIPAddress
fullcontact = AstAccountFullContact
regseconds = AstAccountExpirationTimestamp
callerid = AstAccountCallerID
useragent = AstAccountUserAgent
setvar = AstAccountSetVar
fullname = description
allow = AstAccountAllowedCodec
md5secret = AstAccountRealmedPassword
objectClass = device, AsteriskSIPUser
additionalFilter = (objectClass=AsteriskSIPUser)

[extensions]
id = entryUUID
context = AstContext
exten = AstExtension
priority = AstPriority
app = AstApplication
appdata = AstApplicationData
objectClass = AsteriskDialplan, AsteriskExtension
additionalFilter = (objectClass=AsteriskDialplan)

[voicemail]
uniqueid = entryUUID
context = AstContext
mailbox = AstVoicemailMailbox
password = AstVoicemailPassword
fullname = AstVoicemailFullname
email = AstVoicemailEmail
pager = AstVoicemailPager
attach = AstVoicemailOptions
stamp = AstVoicemailTimestamp
objectClass = AsteriskMailbox, AsteriskVoiceMail
additionalFilter = (objectClass=AsteriskVoiceMail)

[ast_config]
filename = AstConfigFilename
category = AstConfigCategory
var_name = AstConfigVariableName
var_val = AstConfigVariableValue
cat_metric = AstConfigCategoryMetric
var_metric = description
commented = AstConfigCommented
objectClass = device, AsteriskConfig
additionalFilter = (objectClass=AsteriskConfig)
`

func general(url, base string, extra string) string {
	return fmt.Sprintf("[_general]\nurl = %s\nprotocol = 3\nbasedn = %s\nuser = %s\npass = %s\n%s", url, base, ldaptest.AdminDN, ldaptest.Pass, extra)
}

func newDriver(t testing.TB, text string) *ldap.Driver {
	t.Helper()
	d := ldap.New(realtimetest.Logger(t))
	if err := d.Configure(context.Background(), realtimetest.Conf(ldap.ConfigFile, text)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

var reInsert = regexp.MustCompile(`(?s)^INSERT INTO (\w+) \(([^)]*)\) VALUES \((.*)\)$`)

// sqlValues splits a VALUES list: 'quoted' (” inside), NULL, numbers.
func sqlValues(s string) ([]*string, error) {
	var out []*string
	for i := 0; i < len(s); {
		for i < len(s) && (s[i] == ' ' || s[i] == ',') {
			i++
		}
		if i >= len(s) {
			break
		}
		if s[i] == '\'' {
			var b strings.Builder
			i++
			for ; ; i++ {
				if i >= len(s) {
					return nil, errors.New("unterminated quote")
				}
				if s[i] == '\'' {
					if i+1 < len(s) && s[i+1] == '\'' {
						b.WriteByte('\'')
						i++
						continue
					}
					i++
					break
				}
				b.WriteByte(s[i])
			}
			v := b.String()
			out = append(out, &v)
			continue
		}
		j := strings.IndexByte(s[i:], ',')
		if j < 0 {
			j = len(s) - i
		}
		tok := strings.TrimSpace(s[i : i+j])
		i += j
		if strings.EqualFold(tok, "NULL") {
			out = append(out, nil)
		} else {
			out = append(out, &tok)
		}
	}
	return out, nil
}

// execInsert writes the row of an INSERT statement into the directory as it is (no encoding:
// what another tool would have written), through the table's mappings.
func execInsert(t testing.TB, srv *ldaptest.Server, d *ldap.Driver, base, q string) {
	t.Helper()
	m := reInsert.FindStringSubmatch(q)
	if m == nil {
		t.Fatalf("ldap test Exec: cannot translate %q", q)
	}
	tbl, ok := d.Config().Tables[strings.ToLower(m[1])]
	if !ok {
		t.Fatalf("no section [%s]", m[1])
	}
	cols := strings.Split(m[2], ",")
	vals, err := sqlValues(m[3])
	if err != nil || len(vals) != len(cols) {
		t.Fatalf("VALUES of %q: %v", q, err)
	}
	attrs := map[string]string{}
	var order []string
	for i, c := range cols {
		c = strings.TrimSpace(c)
		if vals[i] == nil || *vals[i] == "" {
			continue
		}
		for _, col := range tbl.Columns {
			if strings.EqualFold(col.Name, c) {
				attrs[col.Attr] = *vals[i]
				order = append(order, col.Attr)
				break
			}
		}
	}
	if _, ok := attrs["cn"]; !ok {
		var b [8]byte
		rand.Read(b[:])
		attrs["cn"] = hex.EncodeToString(b[:])
		order = append(order, "cn")
	}
	add := goldap.NewAddRequest("cn="+goldap.EscapeDN(attrs["cn"])+","+base, nil)
	add.Attribute("objectClass", tbl.ObjectClasses)
	for _, a := range order {
		add.Attribute(a, []string{attrs[a]})
	}
	c := srv.Admin(t)
	defer c.Close()
	if err := c.Add(add); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func TestConformance(t *testing.T) {
	srv := ldaptest.Start(t)
	base := srv.AddOU(t, "rt")
	d := newDriver(t, general(srv.URL, base, "pool_size = 4\n")+tables)
	realtimetest.Run(t, realtimetest.Backend{
		Driver:  d,
		DB:      base,
		Dialect: "none",
		Exec:    func(t testing.TB, q string) { execInsert(t, srv, d, base, q) },
		Skip: map[string]string{
			"Unload": "a directory's columns are the attribute mappings of the table's section in res_ldap.conf, " +
				"read at reload: there is no table to ALTER and nothing cached to forget",
		},
	})
}

// TestInjection: values shaped like filter syntax are escaped, never pasted (Asterisk pastes
// them): they neither match other entries nor break the filter.
func TestInjection(t *testing.T) {
	srv := ldaptest.Start(t)
	base := srv.AddOU(t, "inj")
	d := newDriver(t, general(srv.URL, base, "")+tables)
	ctx := context.Background()
	F := realtimetest.F
	for _, n := range []string{"alice", "bob"} {
		if _, err := d.Store(ctx, base, "sippeers", F("name", n, "secret", "pw-"+n, "context", "inj")); err != nil {
			t.Fatal(err)
		}
	}
	for _, evil := range []string{"*)(cn=*", "*", "alice)(|(cn=*", `\2a`, "*)(objectClass=*))(|(cn=*", "alice\x00"} {
		if r, err := d.Load(ctx, base, "sippeers", F("name", evil)); !errors.Is(err, realtime.ErrNotFound) {
			t.Errorf("Load(name=%q) = %v, %v; want ErrNotFound", evil, r, err)
		}
		rows, err := d.LoadMulti(ctx, base, "sippeers", F("name LIKE", evil+"%", "context", "inj"))
		if err != nil || len(rows) != 0 {
			t.Errorf("LoadMulti(name LIKE %q) = %v, %v; want none", evil, rows, err)
		}
		if n, err := d.Update(ctx, base, "sippeers", "name", evil, F("secret", "owned")); err != nil || n != 0 {
			t.Errorf("Update(name=%q) = %d, %v; want 0, nil", evil, n, err)
		}
		if n, err := d.Destroy(ctx, base, "sippeers", "name", evil, nil); err != nil || n != 0 {
			t.Errorf("Destroy(name=%q) = %d, %v; want 0, nil", evil, n, err)
		}
	}
	// Stored as a value, it is only a value.
	evil := "*)(cn=*"
	if _, err := d.Store(ctx, base, "sippeers", F("name", evil, "secret", "s", "context", "inj")); err != nil {
		t.Fatal(err)
	}
	r, err := d.Load(ctx, base, "sippeers", F("name", evil))
	if v, _ := r.Get("name"); err != nil || v != evil {
		t.Errorf("Load(stored %q) = %v, %v", evil, r, err)
	}
	for _, n := range []string{"alice", "bob"} {
		r, err := d.Load(ctx, base, "sippeers", F("name", n))
		if v, _ := r.Get("secret"); err != nil || v != "pw-"+n {
			t.Errorf("%s: %v, %v", n, r, err)
		}
	}
	// Attribute names come only from res_ldap.conf.
	if _, err := d.Load(ctx, base, "sippeers", F("cn=*)(x", "1")); err == nil {
		t.Error("a filter in a field name was accepted")
	}
}

// TestStopsAnswering: a server that stops answering mid-query (SIGSTOP) gives a timeout wrapping
// ErrUnavailable, distinct from ErrNotFound, and the engine fails over to the next mapping.
func TestStopsAnswering(t *testing.T) {
	hung := ldaptest.Start(t)
	good := ldaptest.Start(t)
	hbase, gbase := hung.AddOU(t, "rt"), good.AddOU(t, "rt")
	hd := newDriver(t, general(hung.URL, hbase, "timeout = 2\n")+tables)
	gd := newDriver(t, general(good.URL, gbase, "")+tables)
	ctx := context.Background()
	F := realtimetest.F
	if _, err := gd.Store(ctx, gbase, "sippeers", F("name", "bob", "secret", "fromtwo")); err != nil {
		t.Fatal(err)
	}
	if _, err := hd.Load(ctx, hbase, "sippeers", F("name", "bob")); !errors.Is(err, realtime.ErrNotFound) {
		t.Fatalf("before: %v, want ErrNotFound", err)
	}
	hung.Freeze(t)
	defer hung.Thaw(t)
	_, err := hd.Load(ctx, hbase, "sippeers", F("name", "bob"))
	if !errors.Is(err, realtime.ErrUnavailable) || errors.Is(err, realtime.ErrNotFound) {
		t.Fatalf("frozen server: %v, want ErrUnavailable", err)
	}

	// Through the engine: priority 1 on the frozen server, priority 2 on the good one. One
	// res_ldap.conf names one set of servers, so the second is a second driver registered
	// under another name.
	e := realtime.New(realtimetest.Logger(t))
	e.Register(hd)
	e.Register(renamed{gd, "ldap2"})
	ext := realtimetest.Conf("extconfig.conf", fmt.Sprintf("[settings]\nsippeers => ldap,\"%s\",sippeers,1\nsippeers => ldap2,\"%s\",sippeers,2\n", hbase, gbase))
	if err := e.Configure(ctx, ext, nil); err != nil {
		t.Fatal(err)
	}
	r, err := e.Load(ctx, "sippeers", realtime.Field{Name: "name", Value: "bob"})
	if v, _ := r.Get("secret"); err != nil || v != "fromtwo" {
		t.Errorf("failover: %v, %v", r, err)
	}
	// A cancelled caller is not the server's fault.
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	hd2 := newDriver(t, general(hung.URL, hbase, "timeout = 30\n")+tables)
	if _, err := hd2.Load(cctx, hbase, "sippeers", F("name", "bob")); err == nil || errors.Is(err, realtime.ErrUnavailable) || errors.Is(err, realtime.ErrNotFound) {
		t.Errorf("cancelled caller: %v", err)
	}
	hung.Thaw(t)
	// The driver reconnects once the server answers again.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := hd.Load(ctx, hbase, "sippeers", F("name", "bob"))
		if errors.Is(err, realtime.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after thaw: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// renamed registers a driver under a second name (the engine holds one driver per name).
type renamed struct {
	*ldap.Driver
	name string
}

func (r renamed) Name() string { return r.name }

// TestURLsInOrder: with several url values the first that answers is used.
func TestURLsInOrder(t *testing.T) {
	srv := ldaptest.Start(t)
	base := srv.AddOU(t, "urls")
	d := newDriver(t, general("ldap://127.0.0.1:1 "+srv.URL, base, "timeout = 2\n")+tables)
	if _, err := d.Load(context.Background(), base, "sippeers", realtimetest.F("name", "x")); !errors.Is(err, realtime.ErrNotFound) {
		t.Errorf("second URL not used: %v", err)
	}
}

func TestServerDown(t *testing.T) {
	d := newDriver(t, general("ldap://127.0.0.1:1", "dc=x", "timeout = 1\n")+tables)
	_, err := d.Load(context.Background(), "dc=x", "sippeers", realtimetest.F("name", "bob"))
	if !errors.Is(err, realtime.ErrUnavailable) {
		t.Errorf("nothing listening: %v, want ErrUnavailable", err)
	}
	if _, err := d.Load(context.Background(), "dc=x", "nosuchtable", realtimetest.F("name", "bob")); err == nil || errors.Is(err, realtime.ErrUnavailable) {
		t.Errorf("unknown section: %v", err)
	}
}

func TestConfig(t *testing.T) {
	for _, c := range []struct {
		text, err string
		check     func(*ldap.Config) bool
	}{
		{"[_general]\nurl = ldap://a:389 ldaps://b\nbasedn = dc=x\ntimeout = 1.5\npool_size = 2\nstarttls = yes\n[sip]\nname = cn\nsecret = AstAccountSecret\nadditionalFilter = (objectClass=AsteriskSIPUser)\n", "",
			func(c *ldap.Config) bool {
				t := c.Tables["sip"]
				return len(c.URLs) == 2 && c.Timeout == 1500*time.Millisecond && c.PoolSize == 2 && c.StartTLS &&
					len(t.Columns) == 2 && t.Filter == "(objectClass=AsteriskSIPUser)" && t.RDN == "cn"
			}},
		{"[_general]\nhost = 10.0.0.1\nport = 3890\n", "", func(c *ldap.Config) bool { return c.URLs[0] == "ldap://10.0.0.1:3890" }},
		{"[_general]\nurl = http://x\n", "res_ldap.conf:2: [_general] url", nil},
		{"[_general]\nurl = ldap://x\nprotocol = 2\nbasedn = not a dn\n", "res_ldap.conf:3", nil},
		{"[_general]\nurl = ldap://x\nprotocol = 2\nbasedn = not a dn\n", "res_ldap.conf:4", nil},
		{"[_general]\nurl = ldap://x\n[sip]\nadditionalFilter = (objectClass=\n", "res_ldap.conf:4: [sip] additionalFilter", nil},
		{"[_general]\nurl = ldap://x\n[sip]\nname = cn)(x\n", "res_ldap.conf:4", nil},
		{"[_general]\nbasedn = dc=x\n", "needs url", nil},
	} {
		cfg, _, err := ldap.ParseConfig(realtimetest.Conf(ldap.ConfigFile, c.text))
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%q: error %v, want %q", c.text, err, c.err)
		case c.err == "" && err != nil:
			t.Errorf("%q: %v", c.text, err)
		case c.check != nil && !c.check(cfg):
			t.Errorf("%q: config %+v", c.text, cfg)
		}
	}
}

// TestTLS: ldaps:// URLs and StartTLS, verified against tls_cacert; without the CA the
// handshake fails (so it did happen), unless tls_verify = no.
func TestTLS(t *testing.T) {
	srv := ldaptest.StartWith(t, ldaptest.Options{TLS: true})
	base := srv.AddOU(t, "tls")
	ctx := context.Background()
	F := realtimetest.F
	for _, c := range []struct {
		name, url, extra string
		ok               bool
	}{
		{"ldaps", srv.LDAPS, "tls_cacert = " + srv.CAFile + "\n", true},
		{"starttls", srv.URL, "starttls = yes\ntls_cacert = " + srv.CAFile + "\n", true},
		{"ldaps unknown CA", srv.LDAPS, "timeout = 2\n", false},
		{"starttls unknown CA", srv.URL, "starttls = yes\ntimeout = 2\n", false},
		{"starttls no verify", srv.URL, "starttls = yes\ntls_verify = no\n", true},
	} {
		d := newDriver(t, general(c.url, base, c.extra)+tables)
		name := strings.ReplaceAll(c.name, " ", "-")
		_, err := d.Store(ctx, base, "sippeers", F("name", name, "secret", "tls"))
		if c.ok != (err == nil) {
			t.Errorf("%s: Store: %v", c.name, err)
			continue
		}
		if !c.ok {
			if !errors.Is(err, realtime.ErrUnavailable) || !strings.Contains(err.Error(), "certificate") {
				t.Errorf("%s: %v, want ErrUnavailable naming the certificate", c.name, err)
			}
			continue
		}
		if r, err := d.Load(ctx, base, "sippeers", F("name", name)); err != nil || len(r) == 0 {
			t.Errorf("%s: Load: %v, %v", c.name, r, err)
		}
	}
}

func TestStatus(t *testing.T) {
	srv := ldaptest.Start(t)
	base := srv.AddOU(t, "st")
	d := newDriver(t, general(srv.URL, base, "")+tables)
	r := cli.NewRegistry()
	r.MustRegister(d.Commands()...)
	var out bytes.Buffer
	if err := r.Run(context.Background(), "realtime show ldap status", &out, nil); err != nil || !strings.HasPrefix(out.String(), "No connection active.\n") {
		t.Errorf("before a query: %v\n%s", err, out.String())
	}
	if _, err := d.Load(context.Background(), base, "sippeers", realtimetest.F("name", "x")); !errors.Is(err, realtime.ErrNotFound) {
		t.Fatal(err)
	}
	out.Reset()
	want := regexp.MustCompile(`^Connected to '` + regexp.QuoteMeta(srv.URL) + `', baseDN ` + regexp.QuoteMeta(base) +
		` with username ` + regexp.QuoteMeta(ldaptest.AdminDN) + ` for \d+ seconds\.\nPool: 0 of 4 in use, 1 idle; 1 connects, 0 failed\.\n$`)
	if err := r.Run(context.Background(), "realtime show ldap status", &out, nil); err != nil || !want.MatchString(out.String()) {
		t.Errorf("status: %v\n%s", err, out.String())
	}
}
