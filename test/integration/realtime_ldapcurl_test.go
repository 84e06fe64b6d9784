package integration

import (
	"context"
	"database/sql"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/realtime/curl/curltest"
	"github.com/pleiades-pbx/pleiades/internal/realtime/ldap/ldaptest"
	"github.com/pleiades-pbx/pleiades/internal/realtime/realtimetest"
	"github.com/pleiades-pbx/pleiades/internal/realtime/sqlite"
	"github.com/pleiades-pbx/pleiades/test/sipphone"
)

// ldapSIPSection is the [sip] table of res_ldap.conf the README shows: a SIP friend on
// Asterisk's schema (device + AsteriskSIPUser), with the columns registration writes back.
const ldapSIPSection = `[sip]
name = cn
secret = AstAccountSecret
md5secret = AstAccountRealmedPassword
host = AstAccountHost
type = AstAccountType
context = AstAccountContext
callerid = AstAccountCallerID
mailbox = AstAccountMailbox
allow = AstAccountAllowedCodec
disallow = AstAccountDisallowedCodec
ipaddr = AstAccountIPAddress
port = AstAccountPort
regseconds = AstAccountExpirationTimestamp
defaultuser = AstAccountDefaultUser
fullcontact = AstAccountFullContact
useragent = AstAccountUserAgent
regserver = AstAccountRegistrationServer
lastms = AstAccountLastQualifyMilliseconds
objectClass = device, AsteriskSIPUser
additionalFilter = (objectClass=AsteriskSIPUser)
`

// TestLDAPSIPFriend: a SIP friend kept in OpenLDAP (Asterisk's schema) registers with digest,
// its registration is written back to the entry, and a password changed in the directory is
// used after "sip prune realtime".
func TestLDAPSIPFriend(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "\n"+ldapSIPSection+"```\n") {
		t.Errorf("the README's res_ldap.conf [sip] section is not the one this test proves:\n%s", ldapSIPSection)
	}
	srv := ldaptest.Start(t)
	base := srv.AddOU(t, "phones")
	adm := srv.Admin(t)
	defer adm.Close()
	add := goldap.NewAddRequest("cn=alice,"+base, nil)
	add.Attribute("objectClass", []string{"device", "AsteriskSIPUser"})
	add.Attribute("cn", []string{"alice"})
	add.Attribute("AstAccountSecret", []string{"s3cret"})
	add.Attribute("AstAccountHost", []string{"dynamic"})
	add.Attribute("AstAccountType", []string{"friend"})
	add.Attribute("AstAccountContext", []string{"default"})
	if err := adm.Add(add); err != nil {
		t.Fatal(err)
	}
	sipPort := freePorts(t, 1)[0]
	n := NewNode(t, "entityid = 02:00:00:00:20:01", map[string]string{
		"extconfig.conf": fmt.Sprintf("[settings]\nsippeers => ldap,\"%s\",sip\n", base),
		"res_ldap.conf": fmt.Sprintf("[_general]\nurl = %s\nprotocol = 3\nbasedn = %s\nuser = %s\npass = %s\n\n",
			srv.URL, ldaptest.Suffix, ldaptest.AdminDN, ldaptest.Pass) + ldapSIPSection,
		"sip.conf":        fmt.Sprintf("[general]\nudpbindaddr = 127.0.0.1:%d\nrealm = pleiades\nrtcachefriends = yes\n", sipPort),
		"extensions.conf": "[default]\nexten => 100,1,NoOp(hello)\n",
	})
	n.Start()
	if out := n.MustRX("core show config mappings"); !strings.Contains(out, "Config Engine: ldap\n===> sippeers (db="+base+", table=sip)") {
		t.Errorf("core show config mappings:\n%s", out)
	}
	if out := n.MustRX("realtime load sippeers name alice"); !regexp.MustCompile(`(?m)^\s*secret\s+s3cret`).MatchString(out) {
		t.Fatalf("realtime load:\n%s", out)
	}
	ph := sipphone.New(t, fmt.Sprintf("127.0.0.1:%d", sipPort))
	if res := ph.Register("alice", "wrong", 120); res.StatusCode != 403 {
		t.Fatalf("wrong password: %d", res.StatusCode)
	}
	if res := ph.Register("alice", "s3cret", 120); res.StatusCode != 200 {
		t.Fatalf("register: %d %s", res.StatusCode, res.Reason)
	}
	// Registration is written back into the entry.
	eventually(t, 10*time.Second, func() string {
		res, err := adm.Search(goldap.NewSearchRequest("cn=alice,"+base, goldap.ScopeBaseObject, 0, 0, 0, false,
			"(objectClass=*)", []string{"AstAccountIPAddress", "AstAccountExpirationTimestamp"}, nil))
		if err != nil || len(res.Entries) != 1 || res.Entries[0].GetAttributeValue("AstAccountIPAddress") != "127.0.0.1" ||
			res.Entries[0].GetAttributeValue("AstAccountExpirationTimestamp") == "" {
			return fmt.Sprintf("registration not written back: %v", err)
		}
		return ""
	})
	// The administrator changes the password in the directory.
	mod := goldap.NewModifyRequest("cn=alice,"+base, nil)
	mod.Replace("AstAccountSecret", []string{"n3w-pass"})
	if err := adm.Modify(mod); err != nil {
		t.Fatal(err)
	}
	n.MustRX("sip prune realtime peer alice")
	if res := ph.Register("alice", "s3cret", 120); res.StatusCode != 403 {
		t.Errorf("old password after prune: %d", res.StatusCode)
	}
	if res := ph.Register("alice", "n3w-pass", 120); res.StatusCode != 200 {
		t.Fatalf("new password after prune: %d %s", res.StatusCode, res.Reason)
	}
	if out := n.MustRX("realtime show ldap status"); !strings.Contains(out, "Connected to '"+srv.URL+"'") {
		t.Errorf("realtime show ldap status:\n%s", out)
	}
}

// TestCurlSIPFriendAndSwitch: a web service answering res_config_curl's requests (curltest,
// over SQLite) serves a realtime SIP friend that registers with digest, extensions.conf itself
// (static mode), and the extensions of the Realtime switch that file names, which a call runs
// through.
func TestCurlSIPFriendAndSwitch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "svc.sqlite3")
	back := sqlite.New(realtimetest.Logger(t))
	cfg, err := conf.Parse("res_config_sqlite3.conf", []byte("[svc]\ndbfile => "+path+"\n"), conf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := back.Configure(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, q := range sqlite.SchemaStatements("sippeers", "extensions", "ast_config") {
		if _, err := raw.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	svc := httptest.NewServer(&curltest.Handler{Backend: back, DB: "svc"})
	defer svc.Close()
	ctx := context.Background()
	if _, err := back.Store(ctx, "svc", "sippeers", realtimetest.F("name", "bob", "secret", "b0b-pw", "host", "dynamic", "type", "friend", "context", "default")); err != nil {
		t.Fatal(err)
	}
	for _, e := range [][]string{
		{"rtctx", "201", "1", "NoOp", "from-the-web-${EXTEN}"},
		{"rtctx", "_3XX", "1", "NoOp", "pattern-${EXTEN}"},
	} {
		if _, err := back.Store(ctx, "svc", "extensions", realtimetest.F("context", e[0], "exten", e[1], "priority", e[2], "app", e[3], "appdata", e[4])); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []string{
		"0, 0, 0, 'extensions.conf', 'default', 'switch', 'Realtime/rtctx@extensions'",
		"0, 1, 0, 'extensions.conf', 'default', 'exten', '100,1,NoOp(static-from-the-web)'",
	} {
		if _, err := raw.Exec("INSERT INTO ast_config (cat_metric, var_metric, commented, filename, category, var_name, var_val) VALUES (" + r + ")"); err != nil {
			t.Fatal(err)
		}
	}
	sipPort := freePorts(t, 1)[0]
	n := NewNode(t, "entityid = 02:00:00:00:20:02", map[string]string{
		"extconfig.conf": fmt.Sprintf("[settings]\nextensions.conf => curl,%[1]s/ast_config\nsippeers => curl,%[1]s/sippeers\nextensions => curl,%[1]s/extensions\n", svc.URL),
		"res_curl.conf":  "[globals]\nconntimeout => 2\nhttptimeout => 5\n",
		"sip.conf":       fmt.Sprintf("[general]\nudpbindaddr = 127.0.0.1:%d\nrealm = pleiades\n", sipPort),
	})
	n.Start()
	if out := n.MustRX("core show config mappings"); !strings.Contains(out, "Config Engine: curl\n") || !strings.Contains(out, "===> sippeers (db="+svc.URL+"/sippeers, table=sippeers)") {
		t.Errorf("core show config mappings:\n%s", out)
	}
	ph := sipphone.New(t, fmt.Sprintf("127.0.0.1:%d", sipPort))
	if res := ph.Register("bob", "wrong", 120); res.StatusCode != 403 {
		t.Fatalf("wrong password: %d", res.StatusCode)
	}
	if res := ph.Register("bob", "b0b-pw", 120); res.StatusCode != 200 {
		t.Fatalf("register: %d %s", res.StatusCode, res.Reason)
	}
	eventually(t, 10*time.Second, func() string {
		var ip sql.NullString
		raw.QueryRow("SELECT ipaddr FROM sippeers WHERE name = 'bob'").Scan(&ip)
		if ip.String != "127.0.0.1" {
			return "registration not written back through /update: ipaddr = " + ip.String
		}
		return ""
	})
	if out := n.MustRX("console dial 201@default"); !strings.Contains(out, `NoOp("Console/dsp", "from-the-web-201")`) {
		t.Errorf("exact realtime extension:\n%s", out)
	}
	if out := n.MustRX("console dial 355@default"); !strings.Contains(out, `NoOp("Console/dsp", "pattern-355")`) {
		t.Errorf("pattern realtime extension:\n%s", out)
	}
	if out := n.MustRX("console dial 100@default"); !strings.Contains(out, `NoOp("Console/dsp", "static-from-the-web")`) {
		t.Errorf("extension of the static-mode extensions.conf:\n%s", out)
	}
	if out := n.MustRX("realtime show curl status"); !strings.Contains(out, svc.URL+"/sippeers: ") {
		t.Errorf("realtime show curl status:\n%s", out)
	}
}
