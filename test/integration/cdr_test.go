package integration

import (
	"context"
	"database/sql"
	"encoding/csv"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestCDRFromSIPCalls: real sipp calls through the real binary give Asterisk's Master.csv
// lines (astlogdir/cdr-csv): an answered call with its userfield and accountcode, a call
// cancelled while it rings (NO ANSWER, logged with unanswered=yes); "cdr show status"
// lists the backend with an empty backlog.
func TestCDRFromSIPCalls(t *testing.T) {
	sipPort := freePorts(t, 1)[0]
	nd := NewNode(t, "", map[string]string{
		"sip.conf": fmt.Sprintf("[general]\nudpbindaddr = 127.0.0.1:%d\nrealm = pleiades\n"+
			"[alice]\ntype=friend\nhost=dynamic\nsecret=wonderland\ncontext=calls\naccountcode=acme\ncallerid=\"Alice\" <100>\n", sipPort),
		"rtp.conf":     "[general]\nrtpstart=31200\nrtpend=31300\n",
		"cdr.conf":     "[general]\nenable=yes\nunanswered=yes\n",
		"cdr_csv.conf": "[csv]\nusegmtime=yes\nloguniqueid=yes\nloguserfield=yes\naccountlogs=yes\n",
		"extensions.conf": "[calls]\n" +
			"exten => 200,1,Ringing()\n same => n,Answer()\n same => n,Set(CDR(userfield)=itest)\n same => n,Wait(30)\n" +
			"exten => 202,1,Ringing()\n same => n,Wait(30)\n",
	})
	nd.Start()
	addr := fmt.Sprintf("127.0.0.1:%d", sipPort)
	users := "alice;[authentication username=alice password=wonderland]\n"
	sipp(t, addr, "call-alice.xml", users, "-s", "200", "-m", "1", "-au", "alice", "-ap", "wonderland")
	sipp(t, addr, "call-cancel.xml", users, "-s", "202", "-m", "1", "-au", "alice", "-ap", "wonderland")

	master := filepath.Join(nd.Dir, "log", "cdr-csv", "Master.csv")
	var rows [][]string
	deadline := time.Now().Add(15 * time.Second)
	for {
		b, _ := os.ReadFile(master)
		rows, _ = csv.NewReader(strings.NewReader(string(b))).ReadAll()
		if len(rows) >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(rows) != 2 {
		t.Fatalf("Master.csv has %d lines, want 2:\n%v", len(rows), rows)
	}
	check := func(row []string, want map[int]string) {
		t.Helper()
		if len(row) != 18 {
			t.Fatalf("%d columns, want 18: %q", len(row), row)
		}
		for i, w := range want {
			if row[i] != w {
				t.Errorf("column %d = %q, want %q (row %q)", i+1, row[i], w, row)
			}
		}
		if !strings.HasPrefix(row[5], "SIP/alice-") || row[9] == "" || row[11] == "" || row[16] == "" {
			t.Errorf("channel, start, end or uniqueid missing: %q", row)
		}
	}
	// accountcode src dst dcontext clid channel dstchannel lastapp lastdata start answer end
	// duration billsec disposition amaflags uniqueid userfield
	check(rows[0], map[int]string{0: "acme", 1: "100", 2: "200", 3: "calls", 4: `"Alice" <100>`, 6: "", 7: "Wait", 8: "30",
		14: "ANSWERED", 15: "DOCUMENTATION", 17: "itest"})
	if rows[0][10] == "" {
		t.Errorf("answered call without an answer time: %q", rows[0])
	}
	check(rows[1], map[int]string{0: "acme", 2: "202", 7: "Wait", 8: "30", 10: "", 12: rows[1][12], 13: "0", 14: "NO ANSWER", 17: ""})
	if b, err := os.ReadFile(filepath.Join(nd.Dir, "log", "cdr-csv", "acme.csv")); err != nil || strings.Count(string(b), "\n") != 2 {
		t.Errorf("acme.csv: %v\n%s", err, b)
	}
	// The embedded SQLite database (astlogdir/master.db) has them too.
	var out string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		out = nd.MustRX("cdr show status")
		if strings.Contains(out, "sqlite3 (backlog 0, written 2") {
			break
		}
	}
	if !strings.Contains(out, "Logging:                    Enabled") || !strings.Contains(out, "csv (backlog 0, written 2") ||
		!strings.Contains(out, "sqlite3 (backlog 0, written 2") {
		t.Errorf("cdr show status:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(nd.Dir, "log", "master.db")); err != nil {
		t.Errorf("master.db: %v", err)
	}
}

// readCSV waits for n lines in Master.csv and returns them.
func readCSV(t *testing.T, nd *Node, n int) [][]string {
	t.Helper()
	master := filepath.Join(nd.Dir, "log", "cdr-csv", "Master.csv")
	deadline := time.Now().Add(15 * time.Second)
	for {
		b, _ := os.ReadFile(master)
		rows, _ := csv.NewReader(strings.NewReader(string(b))).ReadAll()
		if len(rows) >= n || time.Now().After(deadline) {
			if len(rows) != n {
				t.Fatalf("Master.csv has %d lines, want %d:\n%s", len(rows), n, b)
			}
			return rows
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCDRFromSIPDial: alice calls 201, Dial(SIP/bob,20) rings bob (a registered sipp UAS)
// who answers; one record for the pair: dstchannel SIP/bob-..., lastapp Dial, ANSWERED,
// billsec counted from bob's answer.
func TestCDRFromSIPDial(t *testing.T) {
	ports := freePorts(t, 2)
	sipPort, bobPort := ports[0], ports[1]
	nd := NewNode(t, "", map[string]string{
		"sip.conf": fmt.Sprintf("[general]\nudpbindaddr = 127.0.0.1:%d\nrealm = pleiades\n"+
			"[alice]\ntype=friend\nhost=dynamic\nsecret=wonderland\ncontext=calls\ncallerid=\"Alice\" <100>\n"+
			"[bob]\ntype=friend\nhost=dynamic\nsecret=builder\ncontext=calls\n", sipPort),
		"rtp.conf":        "[general]\nrtpstart=31400\nrtpend=31500\n",
		"extensions.conf": "[calls]\nexten => 201,1,Dial(SIP/bob,20)\n",
	})
	nd.Start()
	addr := fmt.Sprintf("127.0.0.1:%d", sipPort)
	sipp(t, addr, "register.xml", "bob;[authentication username=bob password=builder]\n", "-m", "1", "-p", strconv.Itoa(bobPort))
	bobDone := make(chan struct{})
	go func() {
		defer close(bobDone)
		sipp(t, addr, "call-bob.xml", "bob;x\n", "-m", "1", "-p", strconv.Itoa(bobPort), "-rtp_echo")
	}()
	time.Sleep(300 * time.Millisecond) // bob's sipp listening
	sipp(t, addr, "call-alice.xml", "alice;[authentication username=alice password=wonderland]\n", "-s", "201", "-m", "1", "-au", "alice", "-ap", "wonderland")
	select {
	case <-bobDone:
	case <-time.After(20 * time.Second):
		t.Fatal("bob's sipp did not finish")
	}
	row := readCSV(t, nd, 1)[0]
	want := map[int]string{1: "100", 2: "201", 3: "calls", 4: `"Alice" <100>`, 7: "Dial", 8: "SIP/bob,20", 14: "ANSWERED", 15: "DOCUMENTATION"}
	for i, w := range want {
		if row[i] != w {
			t.Errorf("column %d = %q, want %q (row %q)", i+1, row[i], w, row)
		}
	}
	if !strings.HasPrefix(row[5], "SIP/alice-") || !strings.HasPrefix(row[6], "SIP/bob-") || row[10] == "" {
		t.Errorf("channel, dstchannel or answer wrong: %q", row)
	}
	if d, _ := strconv.Atoi(row[12]); d < 1 {
		t.Errorf("duration %q for a call of 2 s", row[12])
	}
}

// TestCDRAdaptiveODBCMariaDB: cdr_adaptive_odbc into Asterisk's cdr table (mysql_cdr.sql)
// on MariaDB through the realtime mysql connection, with an alias and a static column.
func TestCDRAdaptiveODBCMariaDB(t *testing.T) {
	mc, mydb := myScratch(t)
	host, port, _ := strings.Cut(mc.Addr, ":")
	sc := mc.Clone()
	sc.DBName = mydb
	db, err := sql.Open("mysql", sc.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mariaCDRTable(t, db)
	if _, err := db.Exec("ALTER TABLE cdr ADD COLUMN node VARCHAR(20)"); err != nil {
		t.Fatal(err)
	}
	sipPort := freePorts(t, 1)[0]
	nd := NewNode(t, "", map[string]string{
		"sip.conf":        aliceSIPConf(sipPort),
		"rtp.conf":        "[general]\nrtpstart=31600\nrtpend=31700\n",
		"extensions.conf": "[calls]\nexten => 200,1,Ringing()\n same => n,Answer()\n same => n,Set(CDR(userfield)=maria)\n same => n,Wait(30)\n",
		"res_config_mysql.conf": fmt.Sprintf("[asterisk]\ndbhost = %s\ndbport = %s\ndbuser = %s\ndbpass = %s\ndbname = %s\n",
			host, port, mc.User, mc.Passwd, mydb),
		"cdr_adaptive_odbc.conf": "[maria]\nconnection=mysql:asterisk\ntable=cdr\nstatic \"node-1\" => node\nfilter dst != 999\n",
	})
	nd.Start()
	callAlice(t, sipPort, "-m", "1")
	var row string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var src, dst, lastapp, disp, user, node string
		var bill int
		err := db.QueryRow("SELECT src, dst, lastapp, disposition, billsec, userfield, node FROM cdr").Scan(&src, &dst, &lastapp, &disp, &bill, &user, &node)
		if err == nil {
			row = strings.Join([]string{src, dst, lastapp, disp, user, node}, "|")
			break
		}
	}
	if row != "100|200|Wait|ANSWERED|maria|node-1" {
		t.Fatalf("cdr row %q\n%s", row, nd.MustRX("cdr show status"))
	}
}

// TestCDRAndCELOverAMI: with cdr_manager.conf and cel.conf [manager] on, a real call gives
// AMI CEL events (CHAN_START ... LINKEDID_END) and one Cdr event with Asterisk's fields.
func TestCDRAndCELOverAMI(t *testing.T) {
	ports := freePorts(t, 2)
	sipPort, amiPort := ports[0], ports[1]
	nd := NewNode(t, "", map[string]string{
		"sip.conf":         aliceSIPConf(sipPort),
		"rtp.conf":         "[general]\nrtpstart=31800\nrtpend=31900\n",
		"extensions.conf":  "[calls]\nexten => 200,1,Ringing()\n same => n,Answer()\n same => n,Wait(30)\n",
		"manager.conf":     fmt.Sprintf(managerUser, amiPort),
		"cdr_manager.conf": "[general]\nenabled = yes\n",
		"cel.conf":         "[general]\nenable=yes\napps=wait\nevents=ALL\n[manager]\nenabled=yes\n",
	})
	nd.Start()
	a := dialAMI(t, amiPort)
	a.send("Action", "Login", "Username", "admin", "Secret", "amp111", "Events", "cdr")
	a.until("Response: Success")
	callAlice(t, sipPort, "-m", "1")
	// The Cdr event comes from its backend's goroutine: before or after the last CEL events.
	var cels []string
	sawCdr := false
	for !sawCdr || !slices.Contains(cels, "LINKEDID_END") {
		p := a.read()
		joined := strings.Join(p, "\n")
		if strings.Contains(joined, "Event: CEL") {
			for _, l := range p {
				if v, ok := strings.CutPrefix(l, "EventName: "); ok {
					cels = append(cels, v)
				}
			}
			continue
		}
		if strings.Contains(joined, "Event: Cdr") {
			for _, want := range []string{"Source: 100", "Destination: 200", "DestinationContext: calls", `CallerID: "Alice" <100>`,
				"LastApplication: Wait", "LastData: 30", "Disposition: ANSWERED", "AMAFlags: DOCUMENTATION"} {
				if !strings.Contains(joined+"\n", want+"\n") {
					t.Errorf("Cdr event lacks %q:\n%s", want, joined)
				}
			}
			sawCdr = true
		}
	}
	got := strings.Join(cels, ",")
	if got != "CHAN_START,ANSWER,APP_START,APP_END,HANGUP,CHAN_END,LINKEDID_END" {
		t.Errorf("CEL events: %s", got)
	}
}

// tcpGate forwards addr to PostgreSQL once opened; before, the port is closed (the
// database is "down" for the server that points at it).
type tcpGate struct {
	addr  string
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (g *tcpGate) open(t *testing.T) {
	ln, err := net.Listen("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	g.mu.Lock()
	g.ln = ln
	g.mu.Unlock()
	t.Cleanup(func() { g.close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", "127.0.0.1:5432")
			if err != nil {
				c.Close()
				continue
			}
			g.mu.Lock()
			g.conns = append(g.conns, c, up)
			g.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
}

// close shuts the port and cuts the connections through it: the database went away.
func (g *tcpGate) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ln != nil {
		g.ln.Close()
	}
	for _, c := range g.conns {
		c.Close()
	}
	g.conns = nil
}

// cdrTable makes a scratch schema holding Asterisk's cdr table; admin is connected to it.
func cdrTable(t *testing.T) (schema string, admin *pgx.Conn) {
	t.Helper()
	schema = pgScratch(t)
	admin, err := pgx.Connect(t.Context(), "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	if _, err := admin.Exec(t.Context(), `CREATE TABLE `+schema+`.cdr (accountcode VARCHAR(80), src VARCHAR(80), dst VARCHAR(80),
		dcontext VARCHAR(80), clid VARCHAR(80), channel VARCHAR(80), dstchannel VARCHAR(80), lastapp VARCHAR(80),
		lastdata VARCHAR(80), start TIMESTAMP, answer TIMESTAMP, "end" TIMESTAMP, duration INTEGER, billsec INTEGER,
		disposition VARCHAR(45), amaflags VARCHAR(45), userfield VARCHAR(256), uniqueid VARCHAR(150),
		linkedid VARCHAR(150), peeraccount VARCHAR(80), sequence INTEGER)`); err != nil {
		t.Fatal(err)
	}
	return schema, admin
}

// cdrRowsInOrder waits up to d for the cdr table to hold as many rows as Master.csv's rows
// (csv, read with loguniqueid=yes) and returns the table's uniqueids in insertion order and
// Master.csv's.
func cdrRowsInOrder(t *testing.T, admin *pgx.Conn, schema string, csv [][]string, d time.Duration) (got, want []string) {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		got = got[:0]
		r, err := admin.Query(t.Context(), "SELECT uniqueid FROM "+schema+".cdr ORDER BY ctid")
		if err != nil {
			t.Fatal(err)
		}
		for r.Next() {
			var u string
			r.Scan(&u)
			got = append(got, u)
		}
		r.Close()
		if len(got) >= len(csv) {
			break
		}
	}
	for _, row := range csv {
		want = append(want, row[16])
	}
	return got, want
}

// TestCDRPgSQLDownDuringCalls: the server's cdr_pgsql points at a closed port while 30 sipp
// calls run (each call takes its usual time: the database is not on the call path); the
// server is killed with that backlog, the port opens, and at the next start every record
// arrives once, in the order Master.csv got them.
func TestCDRPgSQLDownDuringCalls(t *testing.T) {
	schema, admin := cdrTable(t)
	ports := freePorts(t, 2)
	sipPort, dbPort := ports[0], ports[1]
	nd := NewNode(t, "", map[string]string{
		"sip.conf":        aliceSIPConf(sipPort),
		"rtp.conf":        "[general]\nrtpstart=32000\nrtpend=32400\n",
		"extensions.conf": "[calls]\nexten => 200,1,Ringing()\n same => n,Answer()\n same => n,Wait(30)\n",
		"cdr_csv.conf":    "[csv]\nloguniqueid=yes\n",
		"cdr_pgsql.conf":  fmt.Sprintf("[global]\nhostname=127.0.0.1\nport=%d\ndbname=test\nuser=postgres\ntable=%s.cdr\n", dbPort, schema),
	})
	nd.Start()
	const calls = 30
	start := time.Now()
	callAlice(t, sipPort, "-m", strconv.Itoa(calls), "-r", "15", "-l", strconv.Itoa(calls))
	took := time.Since(start)
	rows := readCSV(t, nd, calls)
	if out := nd.MustRX("cdr show status"); !strings.Contains(out, fmt.Sprintf("pgsql (backlog %d, written 0", calls)) ||
		!strings.Contains(out, "pgsql.queue") {
		t.Fatalf("cdr show status while the database is down:\n%s", out)
	}
	t.Logf("%d calls in %v with the database down", calls, took)
	// The server is killed with its backlog; the database comes back; the next start writes
	// what the queue file kept.
	// Posts reach the queue file from the backend's goroutine: wait until all are there.
	spool := filepath.Join(nd.Dir, "spool", "cdr", "pgsql.queue")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		b, _ := os.ReadFile(spool)
		if strings.Count(string(b), "\n") == calls {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue file has %d records, want %d", strings.Count(string(b), "\n"), calls)
		}
	}
	nd.Kill()
	(&tcpGate{addr: fmt.Sprintf("127.0.0.1:%d", dbPort)}).open(t)
	nd.Start()
	got, want := cdrRowsInOrder(t, admin, schema, rows, 20*time.Second)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("PostgreSQL rows (uniqueid):\n%v\nMaster.csv order:\n%v", got, want)
	}
}

// TestCDRPgSQLOutageDuring500Calls (issue 19's acceptance): PostgreSQL goes away in the
// middle of 500 sipp calls (its port shut, its connections cut) and comes back while the
// server runs; every call succeeds in its usual time, and every record reaches the table
// once, in the order Master.csv got them.
func TestCDRPgSQLOutageDuring500Calls(t *testing.T) {
	schema, admin := cdrTable(t)
	ports := freePorts(t, 2)
	sipPort, dbPort := ports[0], ports[1]
	gate := &tcpGate{addr: fmt.Sprintf("127.0.0.1:%d", dbPort)}
	gate.open(t)
	nd := NewNode(t, "", map[string]string{
		"sip.conf":        aliceSIPConf(sipPort),
		"rtp.conf":        "[general]\nrtpstart=32000\nrtpend=32800\n",
		"extensions.conf": "[calls]\nexten => 200,1,Ringing()\n same => n,Answer()\n same => n,Wait(30)\n",
		"cdr_csv.conf":    "[csv]\nloguniqueid=yes\n",
		"cdr_pgsql.conf":  fmt.Sprintf("[global]\nhostname=127.0.0.1\nport=%d\ndbname=test\nuser=postgres\ntable=%s.cdr\n", dbPort, schema),
	})
	nd.Start()
	const calls, rate = 500, 50
	// Calls run 2 s each: 10 s of starting calls, the database away from the 3rd to the 7th.
	outage := time.AfterFunc(3*time.Second, gate.close)
	defer outage.Stop()
	back := time.AfterFunc(7*time.Second, func() { gate.open(t) })
	defer back.Stop()
	start := time.Now()
	callAlice(t, sipPort, "-m", strconv.Itoa(calls), "-r", strconv.Itoa(rate), "-l", "200")
	took := time.Since(start)
	// sipp fails the run on any failed call; calls that waited on the database would stretch it.
	if limit := time.Duration(calls/rate)*time.Second + 8*time.Second; took > limit {
		t.Fatalf("%d calls took %v (over %v): calls waited", calls, took, limit)
	}
	rows := readCSV(t, nd, calls)
	got, want := cdrRowsInOrder(t, admin, schema, rows, 30*time.Second)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("PostgreSQL has %d rows, Master.csv %d; in order and once each: %v", len(got), len(want), strings.Join(got, ",") == strings.Join(want, ","))
	}
	status := nd.MustRX("cdr show status")
	if !strings.Contains(status, fmt.Sprintf("written %d", calls)) {
		t.Fatalf("cdr show status after the outage:\n%s", status)
	}
	t.Logf("%d calls in %v, database away from 3 s to 7 s", calls, took)
}

// TestCDRBadInput: a cdr_custom.conf template with an unknown function is refused with its
// file:line (the other backends run), and a CSV directory that cannot be written keeps its
// records queued with the error in "cdr show status" while the call and the SQLite backend
// are unaffected.
func TestCDRBadInput(t *testing.T) {
	sipPort := freePorts(t, 1)[0]
	nd := NewNode(t, "", map[string]string{
		"sip.conf": fmt.Sprintf("[general]\nudpbindaddr = 127.0.0.1:%d\nrealm = pleiades\n"+
			"[alice]\ntype=friend\nhost=dynamic\nsecret=wonderland\ncontext=calls\n", sipPort),
		"rtp.conf":        "[general]\nrtpstart=32500\nrtpend=32600\n",
		"extensions.conf": "[calls]\nexten => 200,1,Ringing()\n same => n,Answer()\n same => n,Wait(30)\n",
		"cdr_custom.conf": "[mappings]\nMaster.csv => ${CDR(src)},${NOSUCHFUNC(x)}\n",
	})
	// The CSV directory's place is taken by a file: it cannot be made.
	if err := os.MkdirAll(filepath.Join(nd.Dir, "log"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(nd.Dir, "log", "cdr-csv"), []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	nd.Start()
	callAlice(t, sipPort, "-m", "1")
	var out string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		out = nd.MustRX("cdr show status")
		if strings.Contains(out, "sqlite3 (backlog 0, written 1") && strings.Contains(out, "last error") {
			break
		}
	}
	if !strings.Contains(out, "sqlite3 (backlog 0, written 1") || !strings.Contains(out, "csv (backlog 1, written 0") ||
		!strings.Contains(out, "last error: cdr_csv: mkdir") || strings.Contains(out, "cdr-custom") {
		t.Fatalf("cdr show status:\n%s", out)
	}
	rel, _ := nd.RX("module reload cdr")
	if !strings.Contains(rel, "cdr_custom.conf:2: ") || !strings.Contains(rel, "NOSUCHFUNC") {
		t.Fatalf("module reload cdr:\n%s", rel)
	}
}

// TestCDRAndCELReloadDuringCalls: "module reload cdr" every 50 ms while 300 calls come and
// go. Each reload stops the backends' queues and starts new ones; the records and events
// that come meanwhile are held for the new ones: every CDR is in Master.csv and
// PostgreSQL once and in order, and cel_pgsql has every call's seven CEL events.
func TestCDRAndCELReloadDuringCalls(t *testing.T) {
	schema, admin := cdrTable(t)
	if _, err := admin.Exec(t.Context(), fmt.Sprintf(celColumns, schema+".cel", "SERIAL", "TIMESTAMP")); err != nil {
		t.Fatal(err)
	}
	sipPort := freePorts(t, 1)[0]
	nd := NewNode(t, "", map[string]string{
		"sip.conf":        aliceSIPConf(sipPort),
		"rtp.conf":        "[general]\nrtpstart=34000\nrtpend=34800\n",
		"extensions.conf": "[calls]\nexten => 200,1,Ringing()\n same => n,Answer()\n same => n,Wait(30)\n",
		"cdr_csv.conf":    "[csv]\nloguniqueid=yes\n",
		"cdr_pgsql.conf":  fmt.Sprintf("[global]\nhostname=127.0.0.1\nport=5432\ndbname=test\nuser=postgres\ntable=%s.cdr\n", schema),
		"cel.conf":        "[general]\nenable=yes\napps=wait\nevents=ALL\n",
		"cel_pgsql.conf":  fmt.Sprintf("[global]\nhostname=127.0.0.1\nport=5432\ndbname=test\nuser=postgres\ntable=%s.cel\n", schema),
	})
	nd.Start()
	const calls, rate = 300, 50
	stop := make(chan struct{})
	reloads := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				reloads <- n
				return
			case <-time.After(50 * time.Millisecond):
			}
			if out, rc := nd.RX("module reload cdr"); rc != 0 {
				t.Errorf("module reload cdr: exit %d: %s", rc, out)
			}
			n++
		}
	}()
	callAlice(t, sipPort, "-m", strconv.Itoa(calls), "-r", strconv.Itoa(rate), "-l", "200")
	close(stop)
	n := <-reloads
	rows := readCSV(t, nd, calls)
	got, want := cdrRowsInOrder(t, admin, schema, rows, 30*time.Second)
	if len(rows) != calls || strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("after %d reloads: Master.csv has %d rows, PostgreSQL %d (want %d, the same, in order)", n, len(rows), len(got), calls)
	}
	var events, starts, ends int
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		err := admin.QueryRow(t.Context(), "SELECT count(*), count(*) FILTER (WHERE eventtype = 'CHAN_START'), count(*) FILTER (WHERE eventtype = 'LINKEDID_END') FROM "+schema+".cel").Scan(&events, &starts, &ends)
		if err != nil {
			t.Fatal(err)
		}
		if events >= 7*calls {
			break
		}
	}
	if events != 7*calls || starts != calls || ends != calls {
		t.Fatalf("after %d reloads: cel_pgsql has %d events (%d CHAN_START, %d LINKEDID_END); want %d (%d, %d)", n, events, starts, ends, 7*calls, calls, calls)
	}
	t.Logf("%d calls, %d reloads of cdr: every record and CEL event once", calls, n)
}

// aliceSIPConf is the CDR and CEL tests' sip.conf: the server on 127.0.0.1:port, alice (a
// sipp caller, secret wonderland, callerid "Alice" <100>) calling into [calls].
func aliceSIPConf(port int) string {
	return fmt.Sprintf("[general]\nudpbindaddr = 127.0.0.1:%d\nrealm = pleiades\n"+
		"[alice]\ntype=friend\nhost=dynamic\nsecret=wonderland\ncontext=calls\ncallerid=\"Alice\" <100>\n", port)
}

// callAlice runs sipp's call-alice.xml as alice (digest) to exten 200 on 127.0.0.1:port,
// with sipp's further arguments (-m, -r, -l ...).
func callAlice(t *testing.T, port int, args ...string) {
	t.Helper()
	sipp(t, fmt.Sprintf("127.0.0.1:%d", port), "call-alice.xml", "alice;[authentication username=alice password=wonderland]\n",
		append(append([]string{"-s", "200"}, args...), "-au", "alice", "-ap", "wonderland")...)
}
