package integration

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/realtime/sqlite"
	"github.com/pleiades-pbx/pleiades/test/testenv"
)

// escalationUsers are manager users with one write class each (and "operator" with every
// class but system, "sys" with system too).
const escalationUsers = `
[caller]
secret = pw
read = all
write = call

[reporter]
secret = pw
read = all
write = reporting

[originator]
secret = pw
read = all
write = originate

[operator]
secret = pw
read = all
write = call,reporting,originate,user,config,agent,dialplan,dtmf,cdr,agi,cc,aoc,test,message,log,verbose

[sys]
secret = pw
read = all
write = system,call,reporting,originate
`

// startEscalationNode starts a server whose realtime families sippeers and manager are in a
// SQLite file holding carol (a SIP peer, secret carolpw), with the users above; it returns
// the node, its AMI port and the base URL of its HTTP server (user ariadmin, password pw).
func startEscalationNode(t *testing.T, liveDangerously bool) (nd *Node, amiPort int, httpBase string) {
	t.Helper()
	ports := freePorts(t, 2)
	port := ports[0]
	options := ""
	if liveDangerously {
		options = "live_dangerously = yes"
	}
	nd = NewNode(t, options, map[string]string{
		"manager.conf":   fmt.Sprintf("[general]\nenabled = yes\nbindaddr = 127.0.0.1\nport = %d\n", port) + escalationUsers,
		"extconfig.conf": "[settings]\nsippeers => sqlite3,rt,sippeers\nmanager => sqlite3,rt,manager\n",
		"http.conf":      fmt.Sprintf("[general]\nenabled = yes\nbindaddr = 127.0.0.1\nbindport = %d\n", ports[1]),
		"ari.conf":       "[ariadmin]\ntype = user\npassword = pw\n",
		// s@default answers: an Originate's application runs once the far end answered.
		"extensions.conf": "[default]\nexten => s,1,Answer()\n\n[ami]\n" +
			"exten => store,1,Set(REALTIME_STORE(sippeers,name,secret)=${K},fromdialplan)\n",
	})
	dbfile := filepath.Join(nd.Dir, "rt.sqlite3")
	nd.WriteFile("res_config_sqlite3.conf", "[rt]\ndbfile => "+dbfile+"\n")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := sqlite.CreateDefaultSchema(ctx, dbfile); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", dbfile)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`CREATE TABLE manager (name TEXT PRIMARY KEY, secret TEXT, read TEXT, write TEXT)`,
		`INSERT INTO sippeers (name, secret, context) VALUES ('carol', 'carolpw', 'default')`,
		`INSERT INTO manager (name, secret, read, write) VALUES ('wallboard', 'wbpw', 'call', 'reporting')`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	nd.Start()
	return nd, port, fmt.Sprintf("http://127.0.0.1:%d", ports[1])
}

// amiLogin opens an AMI session as user.
func amiLogin(t *testing.T, port int, user, secret string) *amiConn {
	t.Helper()
	a := dialAMI(t, port)
	a.send("Action", "Login", "Username", user, "Secret", secret, "Events", "off")
	a.until("Response: Success", "Message: Authentication accepted")
	return a
}

var amiSeq int

// action sends one action with a fresh ActionID and returns its response's lines.
func (a *amiConn) action(kv ...string) []string {
	a.t.Helper()
	amiSeq++
	id := fmt.Sprintf("id%d", amiSeq)
	a.send(append(kv, "ActionID", id)...)
	return a.until("ActionID: " + id)
}

func field(p []string, key string) string {
	for _, l := range p {
		if k, v, ok := strings.Cut(l, ": "); ok && k == key {
			return v
		}
	}
	return ""
}

// TestAMIEscalationTable: every function that escalates, read and written through Getvar,
// Setvar and Originate (Application=Set, the function in Data), by users of each write
// class, on a server with live_dangerously=no and one with yes. It is refused (and changes
// nothing) unless the user has the system class or the server lives dangerously; a function
// that does not escalate passes for every user the action lets in; an Originate to an
// extension runs the operator's dialplan, which may use anything.
func TestAMIEscalationTable(t *testing.T) {
	for _, live := range []bool{false, true} {
		t.Run(fmt.Sprintf("live_dangerously=%v", live), func(t *testing.T) {
			_, port, httpBase := startEscalationNode(t, live)
			sys := amiLogin(t, port, "sys", "pw")
			// Checks through the sys user (who may use everything): the effects.
			rtField := func(name, col string) string {
				return field(sys.action("Action", "Getvar", "Variable", fmt.Sprintf("REALTIME_FIELD(sippeers,name,%s,%s)", name, col)), "Value")
			}
			dbGet := func(key string) string {
				p := sys.action("Action", "DBGet", "Family", "amisec", "Key", key)
				if field(p, "Response") != "Success" {
					return ""
				}
				return field(sys.until("Event: DBGetResponse"), "Val")
			}
			store := func(name string) {
				if p := sys.action("Action", "Setvar", "Variable", "REALTIME_STORE(sippeers,name,secret)", "Value", name+",x"); field(p, "Response") != "Success" {
					t.Fatalf("setup store %s: %q", name, p)
				}
			}
			put := func(key string) {
				if p := sys.action("Action", "DBPut", "Family", "amisec", "Key", key, "Val", "v-"+key); field(p, "Response") != "Success" {
					t.Fatalf("setup DBPut: %q", p)
				}
			}
			type fcase struct {
				fn        string
				escalates bool
				read      func(k string) (variable string)        // a read, or nil
				write     func(k string) (variable, value string) // a write, or nil
				setup     func(k string)
				readWant  func(k string) string // what a read returns
				effect    func(k string) bool   // did the write (or destructive read) happen?
			}
			// noEffect checks that a refused call changed nothing; hasEffect that an allowed
			// one did.
			noEffect := func(t *testing.T, c fcase, k string) {
				if c.effect != nil {
					time.Sleep(50 * time.Millisecond)
					if c.effect(k) {
						t.Fatal("refused, but the change happened")
					}
				}
			}
			hasEffect := func(t *testing.T, c fcase, k string) {
				if c.effect != nil {
					eventually(t, 5*time.Second, func() string {
						if !c.effect(k) {
							return "allowed, but nothing changed"
						}
						return ""
					})
				}
			}
			cases := []fcase{
				{fn: "REALTIME", escalates: true,
					read:     func(string) string { return "REALTIME(sippeers,name,carol)" },
					readWant: func(string) string { return "secret=carolpw" }},
				{fn: "REALTIME", escalates: true,
					write:  func(k string) (string, string) { return "REALTIME(sippeers,name,carol,callerid)", k },
					effect: func(k string) bool { return rtField("carol", "callerid") == k }},
				{fn: "REALTIME_STORE", escalates: true,
					write:  func(k string) (string, string) { return "REALTIME_STORE(sippeers,name,secret)", k + ",stored" },
					effect: func(k string) bool { return rtField(k, "secret") == "stored" }},
				{fn: "REALTIME_DESTROY", escalates: true, setup: store,
					read:     func(k string) string { return "REALTIME_DESTROY(sippeers,name," + k + ")" },
					readWant: func(k string) string { return "name=" + k },
					effect:   func(k string) bool { return rtField(k, "name") == "" }},
				{fn: "REALTIME_DESTROY", escalates: true, setup: store,
					write:  func(k string) (string, string) { return "REALTIME_DESTROY(sippeers,name," + k + ")", "" },
					effect: func(k string) bool { return rtField(k, "name") == "" }},
				{fn: "REALTIME_FIELD", escalates: true,
					read:     func(string) string { return "REALTIME_FIELD(sippeers,name,carol,secret)" },
					readWant: func(string) string { return "carolpw" }},
				{fn: "REALTIME_FIELD", escalates: true,
					write:  func(k string) (string, string) { return "REALTIME_FIELD(sippeers,name,carol,callerid)", k },
					effect: func(k string) bool { return rtField("carol", "callerid") == k }},
				{fn: "REALTIME_HASH", escalates: true,
					read:     func(string) string { return "REALTIME_HASH(sippeers,name,carol)" },
					readWant: func(string) string { return "carolpw" }},
				{fn: "DB", escalates: true, setup: put,
					read:     func(k string) string { return "DB(amisec/" + k + ")" },
					readWant: func(k string) string { return "v-" + k }},
				{fn: "DB", escalates: true,
					write:  func(k string) (string, string) { return "DB(amisec/" + k + ")", "w-" + k },
					effect: func(k string) bool { return dbGet(k) == "w-"+k }},
				{fn: "DB_DELETE", escalates: true, setup: put,
					read:     func(k string) string { return "DB_DELETE(amisec/" + k + ")" },
					readWant: func(k string) string { return "v-" + k },
					effect:   func(k string) bool { return dbGet(k) == "" }},
				{fn: "DB_EXISTS", escalates: true, setup: put,
					read:     func(k string) string { return "DB_EXISTS(amisec/" + k + ")" },
					readWant: func(string) string { return "1" }},
				// Controls: functions that do not escalate.
				{fn: "DEVICE_STATE",
					read:     func(string) string { return "DEVICE_STATE(Custom:amisec)" },
					readWant: func(string) string { return "" }},
				{fn: "DEVICE_STATE",
					write: func(k string) (string, string) { return "DEVICE_STATE(Custom:" + k + ")", "INUSE" },
					effect: func(k string) bool {
						return field(sys.action("Action", "Getvar", "Variable", "DEVICE_STATE(Custom:"+k+")"), "Value") == "INUSE"
					}},
			}
			users := map[string]struct{ getvar, setvar, originate, system bool }{
				"caller":     {getvar: true, setvar: true},
				"reporter":   {getvar: true},
				"originator": {originate: true},
				"operator":   {getvar: true, setvar: true, originate: true},
				"sys":        {getvar: true, setvar: true, originate: true, system: true},
			}
			n := 0
			for user, u := range users {
				a := amiLogin(t, port, user, "pw")
				for _, c := range cases {
					for _, action := range []string{"Getvar", "Setvar", "Originate"} {
						var lines []string
						var permitted bool
						n++
						k := fmt.Sprintf("k%d", n)
						dir := "read"
						if c.write != nil {
							dir = "write"
						}
						switch {
						case action == "Getvar" && c.read != nil:
							lines, permitted = []string{"Action", "Getvar", "Variable", c.read(k)}, u.getvar
						case action == "Setvar" && c.write != nil:
							v, val := c.write(k)
							lines, permitted = []string{"Action", "Setvar", "Variable", v, "Value", val}, u.setvar
						case action == "Originate" && c.read != nil:
							lines, permitted = []string{"Action", "Originate", "Channel", "Local/s@default", "Application", "Set", "Data", "X=${" + c.read(k) + "}"}, u.originate
						case action == "Originate":
							v, val := c.write(k)
							lines, permitted = []string{"Action", "Originate", "Channel", "Local/s@default", "Application", "Set", "Data", v + "=" + val}, u.originate
						default:
							continue
						}
						allowed := !c.escalates || u.system || live
						t.Run(fmt.Sprintf("%s-%s/%s/%s", c.fn, dir, user, action), func(t *testing.T) {
							if c.setup != nil {
								c.setup(k)
							}
							p := a.action(lines...)
							resp, msg := field(p, "Response"), field(p, "Message")
							switch {
							case !permitted:
								if resp != "Error" || msg != "Permission denied" {
									t.Fatalf("want Permission denied: %q", p)
								}
								return
							case !allowed:
								want := map[string]string{"Getvar": "GetVar Access Forbidden: Variable", "Setvar": "Variable not set",
									"Originate": "Originate Access Forbidden: app or data blacklisted"}[action]
								if resp != "Error" || msg != want {
									t.Fatalf("want %q: %q", want, p)
								}
								noEffect(t, c, k)
								return
							}
							if resp != "Success" {
								t.Fatalf("allowed, but: %q", p)
							}
							if action == "Getvar" && !strings.Contains(field(p, "Value"), c.readWant(k)) {
								t.Fatalf("value %q, want %q", field(p, "Value"), c.readWant(k))
							}
							// An Originate's Data is given to the application as it is (not substituted,
							// as in Asterisk): a read there has no effect to wait for.
							if !(action == "Originate" && c.read != nil) {
								hasEffect(t, c, k)
							}
						})
					}
				}
			}
			// ARI's /asterisk/variable: an HTTP user is never privileged.
			for _, c := range cases {
				n++
				k := fmt.Sprintf("k%d", n)
				allowed := !c.escalates || live
				method, query := "GET", ""
				if c.read != nil {
					query = "variable=" + url.QueryEscape(c.read(k))
				} else {
					v, val := c.write(k)
					method, query = "POST", "variable="+url.QueryEscape(v)+"&value="+url.QueryEscape(val)
				}
				t.Run(fmt.Sprintf("%s-%s/ari/HTTP", c.fn, method), func(t *testing.T) {
					if c.setup != nil {
						c.setup(k)
					}
					code, body := request(t, method, httpBase+"/ari/asterisk/variable?"+query, "ariadmin", "pw")
					if !allowed {
						if code != 403 || !strings.Contains(body, "escalates privileges") {
							t.Fatalf("want 403: %d %s", code, body)
						}
						noEffect(t, c, k)
						return
					}
					if method == "GET" && (code != 200 || !strings.Contains(body, c.readWant(k))) {
						t.Fatalf("GET: %d %s, want %q", code, body, c.readWant(k))
					}
					if method == "POST" && code != 204 {
						t.Fatalf("POST: %d %s", code, body)
					}
					hasEffect(t, c, k)
				})
			}
			// An Originate to an extension runs the operator's dialplan: its REALTIME_STORE
			// works for any user with the originate class.
			o := amiLogin(t, port, "originator", "pw")
			p := o.action("Action", "Originate", "Channel", "Local/s@default", "Context", "ami", "Exten", "store", "Priority", "1", "Variable", "K=viadialplan")
			if field(p, "Response") != "Success" {
				t.Fatalf("originate to the dialplan: %q", p)
			}
			eventually(t, 5*time.Second, func() string {
				if rtField("viadialplan", "secret") != "fromdialplan" {
					return "the dialplan's REALTIME_STORE did not run"
				}
				return ""
			})
		})
	}
}

// TestAMIEscalationAttack replays the attack of issue 23: a manager user with only
// write=call stores a manager user "evil" with every class through REALTIME_STORE, changes a
// SIP peer's secret through REALTIME, an originate-only user does the same through
// Originate(Set), a reporting user reads secrets and deletes rows. All refused: evil cannot
// log in, carol's secret is hers. The same steps on a server with live_dangerously=yes
// succeed, which is what the server did before.
func TestAMIEscalationAttack(t *testing.T) {
	attack := func(port int) {
		c := amiLogin(t, port, "caller", "pw")
		c.action("Action", "Setvar", "Variable", "REALTIME_STORE(manager,name,secret,read,write)", "Value", "evil,evilpw,all,all")
		c.action("Action", "Setvar", "Variable", "REALTIME(sippeers,name,carol,secret)", "Value", "hijacked")
		o := amiLogin(t, port, "originator", "pw")
		o.action("Action", "Originate", "Channel", "Local/s@default", "Application", "Set",
			"Data", "REALTIME_STORE(manager,name,secret,read,write)=evil2,evilpw,all,all")
	}
	nd, port, _ := startEscalationNode(t, false)
	attack(port)
	r := amiLogin(t, port, "reporter", "pw")
	for _, v := range []string{"REALTIME_FIELD(manager,name,wallboard,secret)", "REALTIME(sippeers,name,carol)",
		"REALTIME_HASH(sippeers,name,carol)", "REALTIME_DESTROY(sippeers,name,carol)", "DB_DELETE(amisec/x)"} {
		p := r.action("Action", "Getvar", "Variable", v)
		if field(p, "Message") != "GetVar Access Forbidden: Variable" || strings.Contains(strings.Join(p, "\n"), "pw") {
			t.Errorf("reporter Getvar %s: %q", v, p)
		}
	}
	time.Sleep(200 * time.Millisecond) // the Originate would have run by now
	for _, u := range []string{"evil", "evil2"} {
		a := dialAMI(t, port)
		a.send("Action", "Login", "Username", u, "Secret", "evilpw")
		if p := a.read(); field(p, "Message") != "Authentication failed" {
			t.Errorf("%s logged in: %q", u, p)
		}
	}
	if out := nd.MustRX("realtime load sippeers name carol"); !strings.Contains(out, "carolpw") || strings.Contains(out, "hijacked") {
		t.Errorf("carol's row:\n%s", out)
	}
	if out := nd.MustRX("realtime load manager name wallboard"); !strings.Contains(out, "wbpw") {
		t.Errorf("the reporter destroyed a row:\n%s", out)
	}
	if out, _ := nd.RX("realtime load manager name evil"); strings.Contains(out, "evilpw") {
		t.Errorf("evil stored:\n%s", out)
	}

	// What the attack did before: live_dangerously=yes lets it through.
	nd2, port2, _ := startEscalationNode(t, true)
	attack(port2)
	eventually(t, 5*time.Second, func() string {
		if out, _ := nd2.RX("realtime load manager name evil2"); !strings.Contains(out, "evilpw") {
			return "evil2 not stored with live_dangerously=yes"
		}
		return ""
	})
	e := amiLogin(t, port2, "evil", "evilpw")
	if p := e.action("Action", "Command", "Command", "core show version"); !strings.Contains(strings.Join(p, "\n"), "Pleiades") {
		t.Errorf("evil's Command: %q", p)
	}
	if out := nd2.MustRX("realtime load sippeers name carol"); !strings.Contains(out, "hijacked") {
		t.Errorf("carol's row with live_dangerously=yes:\n%s", out)
	}
}

// fail2banHosts runs Debian's fail2ban-regex with its stock asterisk filter over a log file
// and returns the host of every line it matched. Without fail2ban the test is skipped (CI:
// fails).
func fail2banHosts(t *testing.T, logfile string) []string {
	t.Helper()
	bin, err := exec.LookPath("fail2ban-regex")
	if err != nil {
		testenv.Unavailable(t, "fail2ban-regex is not installed (Debian package fail2ban)")
	}
	filter := "/etc/fail2ban/filter.d/asterisk.conf"
	if _, err := os.Stat(filter); err != nil {
		testenv.Unavailable(t, "%s: %v", filter, err)
	}
	out, err := exec.Command(bin, "-o", "ip", logfile, filter).CombinedOutput()
	if err != nil {
		t.Fatalf("fail2ban-regex: %v\n%s", err, out)
	}
	return strings.Fields(string(out))
}

// sampleLogger is the logfiles part of Asterisk's sample logger.conf.
const sampleLogger = "[logfiles]\nconsole => notice,warning,error\nmessages.log => notice,warning,error\n"

// TestFailedLoginsBannedByFail2ban: with Asterisk's sample logger.conf, every failed AMI
// login (wrong secret, unknown user, refused by the ACL) and every failed HTTP (ARI)
// authentication is a NOTICE line fail2ban's stock asterisk filter matches with the client's
// address; a user name that tries to name another address (quotes, a line break) does not
// get that address banned.
func TestFailedLoginsBannedByFail2ban(t *testing.T) {
	ports := freePorts(t, 2)
	port := ports[0]
	nd := NewNode(t, "", map[string]string{
		"http.conf":   fmt.Sprintf("[general]\nenabled = yes\nbindaddr = 127.0.0.1\nbindport = %d\n", ports[1]),
		"ari.conf":    "[ariuser]\ntype = user\npassword = pw\n",
		"logger.conf": sampleLogger,
		"manager.conf": fmt.Sprintf("[general]\nenabled = yes\nbindaddr = 127.0.0.1\nport = %d\n\n[admin]\nsecret = pw\nread = all\nwrite = all\n\n"+
			"[denied]\nsecret = pw\ndeny = 0.0.0.0/0.0.0.0\npermit = 10.0.0.0/8\n", port),
	})
	nd.Start()
	for _, u := range []struct{ user, secret string }{
		{"admin", "wrong"},
		{"ghost", "x"},
		{"denied", "pw"},
		{"x' from '10.9.8.7", "x"},
		{"y\r[Jan  1 00:00:00] NOTICE[1] manager.c: 10.9.8.7 failed to authenticate as 'z'", "x"},
	} {
		a := dialAMI(t, port)
		a.send("Action", "Login", "Username", u.user, "Secret", u.secret)
		a.until("Message: Authentication failed")
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	for _, user := range []string{"ariuser", "x' from '10.9.8.7", "y\n[Jan  1 00.00.00] NOTICE[1] manager.c 10.9.8.7 failed to authenticate as 'z'"} {
		if code, _ := request(t, "GET", base+"/ari/deviceStates", user, "wrong"); code != 401 {
			t.Fatalf("HTTP as %q: %d", user, code)
		}
	}
	if code, _ := request(t, "GET", base+"/ari/deviceStates", "ariuser", "pw"); code != 200 {
		t.Fatalf("HTTP with the right password: %d", code)
	}
	logfile := filepath.Join(nd.Dir, "log", "messages.log")
	data, _ := os.ReadFile(logfile)
	hosts := fail2banHosts(t, logfile)
	// AMI: admin 1, ghost 2 (nonexistent user + failed), denied 1 (the ACL line has its
	// own wording), each forged name 2; HTTP: one line each.
	if len(hosts) != 11 {
		t.Errorf("fail2ban matched %d lines (%q), want 11, in:\n%s", len(hosts), hosts, data)
	}
	for _, h := range hosts {
		if h != "127.0.0.1" {
			t.Errorf("fail2ban would ban %s:\n%s", h, data)
		}
	}
}
