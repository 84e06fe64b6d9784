package integration

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/test/sipphone"
	"github.com/pleiades-pbx/pleiades/test/testenv"
)

// mariaCDRTable creates Asterisk's cdr table (mysql_cdr.sql) in db.
func mariaCDRTable(t *testing.T, db *sql.DB) {
	t.Helper()
	schema, err := os.ReadFile(filepath.Join(testenv.SharedPath(t, "asterisk-schema"), "mysql_cdr.sql"))
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range strings.Split(string(schema), ";") {
		st = strings.TrimSpace(st)
		for strings.HasPrefix(st, "--") {
			_, st, _ = strings.Cut(st, "\n")
			st = strings.TrimSpace(st)
		}
		if strings.HasPrefix(st, "CREATE TABLE cdr") || strings.HasPrefix(st, "ALTER TABLE cdr") {
			if _, err := db.Exec(st); err != nil {
				t.Fatalf("%s: %v", st, err)
			}
		}
	}
}

// cdrCols are the columns every backend is compared on, in Master.csv's order (with
// loguniqueid): accountcode src dst dcontext clid channel dstchannel lastapp lastdata start
// answer end duration billsec disposition amaflags uniqueid.
var cdrCols = []string{"accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel", "lastapp", "lastdata",
	"start", "answer", "end", "duration", "billsec", "disposition", "amaflags", "uniqueid"}

// amiCdrKeys are cdr_manager's names of cdrCols.
var amiCdrKeys = []string{"AccountCode", "Source", "Destination", "DestinationContext", "CallerID", "Channel", "DestinationChannel",
	"LastApplication", "LastData", "StartTime", "AnswerTime", "EndTime", "Duration", "BillableSeconds", "Disposition", "AMAFlags", "UniqueID"}

// TestCDRDispositionsEverywhere (issue 19's first acceptance): an answered call (bob, a sipp
// UAS, answers alice's Dial), an unanswered one (carol rings until Dial's 3 s timeout), a busy
// one (bob dials carol while she rings for alice: her call-limit of 1 makes it BUSY) and a
// cancelled one (alice cancels while carol rings), through the real binary. Master.csv has
// the four records Asterisk writes for that dialplan (disposition, billsec, lastapp/lastdata,
// dstchannel); PostgreSQL (cdr_pgsql), MariaDB (cdr_adaptive_odbc through unixODBC) and the
// AMI Cdr events (cdr_manager) each have the same four, field by field.
func TestCDRDispositionsEverywhere(t *testing.T) {
	if _, err := os.Stat("/usr/bin/sipp"); err != nil {
		testenv.Unavailable(t, "sipp not installed (Debian sip-tester): %v", err)
	}
	schema, admin := cdrTable(t)
	mc, mydb := myScratch(t)
	host, port, _ := strings.Cut(mc.Addr, ":")
	sc := mc.Clone()
	sc.DBName = mydb
	my, err := sql.Open("mysql", sc.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer my.Close()
	mariaCDRTable(t, my)
	p := freePorts(t, 2)
	sipAddr := fmt.Sprintf("127.0.0.1:%d", p[0])
	nd := NewNode(t, "", map[string]string{
		"sip.conf":               fmt.Sprintf(callsSIPConf, p[0]),
		"rtp.conf":               "[general]\nrtpstart = 33200\nrtpend = 33400\n",
		"extensions.conf":        "[calls]\nexten => 200,1,Dial(SIP/bob,20)\nexten => 202,hint,SIP/carol\nexten => 202,1,Dial(SIP/carol,3)\n",
		"manager.conf":           fmt.Sprintf(managerUser, p[1]),
		"cdr_manager.conf":       "[general]\nenabled = yes\n",
		"cdr_csv.conf":           "[csv]\nloguniqueid=yes\n",
		"cdr_pgsql.conf":         fmt.Sprintf("[global]\nhostname=127.0.0.1\nport=5432\ndbname=test\nuser=postgres\ntable=%s.cdr\n", schema),
		"res_odbc.conf":          fmt.Sprintf("[maria]\nconnstr => Driver=MariaDB Unicode\\;Server=%s\\;Port=%s\\;Database=%s\\;User=%s\\;\n", host, port, mydb, mc.User),
		"cdr_adaptive_odbc.conf": "[maria]\nconnection=maria\ntable=cdr\n",
	})
	nd.Start()
	rec := recordAMI(t, p[1])
	cn := &callsNode{Node: nd, sip: sipAddr, ami: p[1]}

	// Answered: bob (sipp UAS, registered from its port) answers alice's call to 200.
	bobPort := freePorts(t, 1)[0]
	mustSipp(t, sipAddr, "register.xml", "users-bob.csv", "-m", "1", "-p", strconv.Itoa(bobPort))
	bobDone := make(chan string, 1)
	go func() {
		out, err := sippRun(t, sipAddr, "call-bob.xml", "users-bob.csv", "-m", "1", "-p", strconv.Itoa(bobPort), "-rtp_echo")
		if err != nil {
			out = fmt.Sprintf("%v\n%s", err, tailOf(out, 3000))
		} else {
			out = ""
		}
		bobDone <- out
	}()
	time.Sleep(300 * time.Millisecond)
	mustSipp(t, sipAddr, "call-alice.xml", "users.csv", "-m", "1", "-s", "200", "-au", "alice", "-ap", "wonderland", "-mp", mediaPort(t))
	if out := <-bobDone; out != "" {
		t.Fatalf("bob's sipp: %s", out)
	}

	// Unanswered and busy: carol rings until Dial's timeout; bob calls her meanwhile.
	carolPort := cn.registerSipp(t, "carol")
	carolDone := make(chan string, 1)
	carolRings := func() {
		go func() {
			out, err := sippRun(t, sipAddr, "call-noanswer.xml", "users-carol.csv", "-m", "1", "-p", strconv.Itoa(carolPort))
			if err != nil {
				out = fmt.Sprintf("%v\n%s", err, tailOf(out, 3000))
			} else {
				out = ""
			}
			carolDone <- out
		}()
		time.Sleep(500 * time.Millisecond)
	}
	carolRings()
	aliceDone := make(chan error, 1)
	go func() {
		_, res, err := inviteFinal(t, sipphone.New(t, sipAddr), "alice", "wonderland", "202", fmt.Sprintf(sdpOffer, 40100, "sendrecv"), 30*time.Second)
		if err == nil && res.StatusCode < 400 {
			err = fmt.Errorf("alice's call to ringing carol answered: %v", res)
		}
		aliceDone <- err
	}()
	cn.hint(t, "202", "Ringing")
	if _, res, err := inviteFinal(t, sipphone.New(t, sipAddr), "bob", "builder", "202", fmt.Sprintf(sdpOffer, 40102, "sendrecv"), 20*time.Second); err != nil || res.StatusCode < 400 {
		t.Fatalf("bob's call to ringing carol (call-limit 1): %v %v", res, err)
	}
	if err := <-aliceDone; err != nil {
		t.Fatal(err)
	}
	if out := <-carolDone; out != "" {
		t.Fatalf("carol's sipp: %s", out)
	}
	cn.hint(t, "202", "Idle")

	// Cancelled: alice hangs up while carol rings.
	carolRings()
	mustSipp(t, sipAddr, "call-cancel.xml", "users.csv", "-m", "1", "-s", "202", "-au", "alice", "-ap", "wonderland", "-mp", mediaPort(t))
	if out := <-carolDone; out != "" {
		t.Fatalf("carol's sipp after the CANCEL: %s", out)
	}

	// Master.csv: the four records, in the order the calls ended (busy before unanswered).
	rows := readCSV(t, nd, 4)
	type want struct{ src, dst, dstchan, lastdata, disp string }
	wants := []want{
		{"alice", "200", "SIP/bob-", "SIP/bob,20", "ANSWERED"},
		{"bob", "202", "SIP/carol-", "SIP/carol,3", "BUSY"},
		{"alice", "202", "SIP/carol-", "SIP/carol,3", "NO ANSWER"},
		{"alice", "202", "SIP/carol-", "SIP/carol,3", "NO ANSWER"},
	}
	for i, w := range wants {
		r := rows[i]
		if len(r) != 17 {
			t.Fatalf("row %d: %d columns, want 17: %q", i, len(r), r)
		}
		ok := r[1] == w.src && r[2] == w.dst && r[3] == "calls" && strings.HasPrefix(r[5], "SIP/"+w.src+"-") &&
			strings.HasPrefix(r[6], w.dstchan) && r[7] == "Dial" && r[8] == w.lastdata && r[14] == w.disp && r[15] == "DOCUMENTATION" && r[16] != ""
		if w.disp == "ANSWERED" {
			ok = ok && r[10] != "" && r[13] != "0" && r[13] != ""
		} else {
			ok = ok && r[10] == "" && r[13] == "0"
		}
		if !ok {
			t.Errorf("Master.csv row %d = %q\nwant src %s dst %s dstchannel %s* lastapp Dial lastdata %s disposition %s", i, r, w.src, w.dst, w.dstchan, w.lastdata, w.disp)
		}
	}
	byID := map[string][]string{}
	for _, r := range rows {
		byID[r[16]] = r
	}
	// compare checks one backend's record against Master.csv's, field by field.
	compare := func(backend string, got map[string]string) {
		t.Helper()
		r, ok := byID[got["uniqueid"]]
		if !ok {
			t.Errorf("%s: a record Master.csv lacks: %v", backend, got)
			return
		}
		for i, c := range cdrCols {
			if got[c] != r[i] {
				t.Errorf("%s: record %s: %s = %q, Master.csv has %q", backend, r[16], c, got[c], r[i])
			}
		}
	}
	timeText := regexp.MustCompile(`^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(\.\d+)?$`)
	norm := func(c, v string) string {
		if c == "start" || c == "answer" || c == "end" {
			return timeText.ReplaceAllString(v, "$1")
		}
		return v
	}
	// PostgreSQL (cdr_pgsql).
	var pgRecs []map[string]string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline) && len(pgRecs) < 4; time.Sleep(100 * time.Millisecond) {
		pgRecs = pgRecs[:0]
		q, err := admin.Query(context.Background(), `SELECT coalesce(accountcode,''), src, dst, dcontext, clid, channel, dstchannel,
			lastapp, lastdata, start::text, coalesce(answer::text,''), "end"::text, duration::text, billsec::text, disposition,
			amaflags, uniqueid FROM `+schema+`.cdr ORDER BY ctid`)
		if err != nil {
			t.Fatal(err)
		}
		for q.Next() {
			v := make([]string, len(cdrCols))
			ptrs := make([]any, len(v))
			for i := range v {
				ptrs[i] = &v[i]
			}
			if err := q.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			m := map[string]string{}
			for i, c := range cdrCols {
				m[c] = norm(c, v[i])
			}
			pgRecs = append(pgRecs, m)
		}
		q.Close()
	}
	if len(pgRecs) != 4 {
		t.Fatalf("PostgreSQL has %d records, want 4\n%s", len(pgRecs), nd.MustRX("cdr show status"))
	}
	for _, m := range pgRecs {
		compare("PostgreSQL", m)
	}
	// MariaDB (cdr_adaptive_odbc through unixODBC).
	var myRecs []map[string]string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline) && len(myRecs) < 4; time.Sleep(100 * time.Millisecond) {
		myRecs = myRecs[:0]
		q, err := my.Query("SELECT accountcode, src, dst, dcontext, clid, channel, dstchannel, lastapp, lastdata, start, answer, end, duration, billsec, disposition, amaflags, uniqueid FROM cdr")
		if err != nil {
			t.Fatalf("MariaDB: %v", err)
		}
		for q.Next() {
			v := make([]sql.NullString, len(cdrCols))
			ptrs := make([]any, len(v))
			for i := range v {
				ptrs[i] = &v[i]
			}
			if err := q.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			m := map[string]string{}
			for i, c := range cdrCols {
				m[c] = norm(c, v[i].String)
			}
			myRecs = append(myRecs, m)
		}
		q.Close()
	}
	if len(myRecs) != 4 {
		t.Fatalf("MariaDB has %d records, want 4\n%s", len(myRecs), nd.MustRX("cdr show status"))
	}
	for _, m := range myRecs {
		compare("MariaDB", m)
	}
	// AMI Cdr events (cdr_manager).
	var amiRecs []map[string]string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && len(amiRecs) < 4; time.Sleep(100 * time.Millisecond) {
		amiRecs = amiRecs[:0]
		for _, ev := range rec.since(0) {
			if ev[0] != "Event: Cdr" {
				continue
			}
			m := map[string]string{}
			for _, l := range ev[1:] {
				k, v, _ := strings.Cut(l, ": ")
				for i, key := range amiCdrKeys {
					if k == key {
						m[cdrCols[i]] = v
					}
				}
			}
			amiRecs = append(amiRecs, m)
		}
	}
	if len(amiRecs) != 4 {
		t.Fatalf("%d AMI Cdr events, want 4", len(amiRecs))
	}
	for _, m := range amiRecs {
		compare("AMI Cdr", m)
	}
}

// TestCDRReadOnlyCSVDirectory (issue 19's bad input): astlogdir/cdr-csv exists but is
// read-only (mode 0555; running as root, which ignores modes, the directory is also made
// immutable with chattr +i). The call goes through, the failure is logged once and shown by
// "cdr show status" with the record queued, SQLite gets its record; once the directory is
// writable again the queued record reaches Master.csv.
func TestCDRReadOnlyCSVDirectory(t *testing.T) {
	sipPort := freePorts(t, 1)[0]
	nd := NewNode(t, "", map[string]string{
		"sip.conf": fmt.Sprintf("[general]\nudpbindaddr = 127.0.0.1:%d\nrealm = pleiades\n"+
			"[alice]\ntype=friend\nhost=dynamic\nsecret=wonderland\ncontext=calls\n", sipPort),
		"rtp.conf":        "[general]\nrtpstart=33500\nrtpend=33600\n",
		"extensions.conf": "[calls]\nexten => 200,1,Ringing()\n same => n,Answer()\n same => n,Wait(30)\n",
	})
	dir := filepath.Join(nd.Dir, "log", "cdr-csv")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	if os.Geteuid() == 0 {
		if out, err := exec.Command("chattr", "+i", dir).CombinedOutput(); err != nil {
			testenv.Unavailable(t, "running as root, and chattr +i fails (%v: %s): no way to make a read-only directory", err, out)
		}
		t.Cleanup(func() { exec.Command("chattr", "-i", dir).Run() })
	}
	if f, err := os.Create(filepath.Join(dir, "probe")); err == nil {
		f.Close()
		t.Fatal("the directory is still writable")
	}
	nd.Start()
	start := time.Now()
	callAlice(t, sipPort, "-m", "1")
	if took := time.Since(start); took > 15*time.Second {
		t.Fatalf("the call took %v", took)
	}
	var out string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		out = nd.MustRX("cdr show status")
		if strings.Contains(out, "sqlite3 (backlog 0, written 1") && strings.Contains(out, "last error") {
			break
		}
	}
	if !strings.Contains(out, "sqlite3 (backlog 0, written 1") || !strings.Contains(out, "csv (backlog 1, written 0") ||
		!regexp.MustCompile(`last error: .*Master\.csv: (permission denied|operation not permitted)`).MatchString(out) {
		t.Fatalf("cdr show status:\n%s", out)
	}
	if n := strings.Count(nd.out.String(), "CDR backend failed"); n != 1 || !strings.Contains(nd.out.String(), "backend=csv") {
		t.Fatalf("the failure logged %d times, want once:\n%s", n, tailOf(nd.out.String(), 3000))
	}
	if os.Geteuid() == 0 {
		if out, err := exec.Command("chattr", "-i", dir).CombinedOutput(); err != nil {
			t.Fatalf("chattr -i: %v %s", err, out)
		}
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	row := readCSV(t, nd, 1)[0]
	if row[2] != "200" || row[14] != "ANSWERED" {
		t.Fatalf("Master.csv after the directory came back: %q", row)
	}
}

// TestCDRPgSQLTableMissingColumn (issue 19's bad input): the cdr table lacks userfield. Two
// calls that set CDR(userfield): both records arrive with every other column, and the
// missing column is reported once in the log, not once per record.
func TestCDRPgSQLTableMissingColumn(t *testing.T) {
	schema, admin := cdrTable(t)
	if _, err := admin.Exec(t.Context(), "ALTER TABLE "+schema+".cdr DROP COLUMN userfield"); err != nil {
		t.Fatal(err)
	}
	sipPort := freePorts(t, 1)[0]
	nd := NewNode(t, "", map[string]string{
		"sip.conf": fmt.Sprintf("[general]\nudpbindaddr = 127.0.0.1:%d\nrealm = pleiades\n"+
			"[alice]\ntype=friend\nhost=dynamic\nsecret=wonderland\ncontext=calls\n", sipPort),
		"rtp.conf":        "[general]\nrtpstart=33700\nrtpend=33800\n",
		"extensions.conf": "[calls]\nexten => 200,1,Ringing()\n same => n,Answer()\n same => n,Set(CDR(userfield)=lost)\n same => n,Wait(30)\n",
		"cdr_pgsql.conf":  fmt.Sprintf("[global]\nhostname=127.0.0.1\nport=5432\ndbname=test\nuser=postgres\ntable=%s.cdr\n", schema),
	})
	nd.Start()
	for range 2 {
		callAlice(t, sipPort, "-m", "1")
	}
	var got []string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline) && len(got) < 2; time.Sleep(100 * time.Millisecond) {
		got = got[:0]
		q, err := admin.Query(t.Context(), "SELECT src || '|' || dst || '|' || lastapp || '|' || disposition || '|' || billsec FROM "+schema+".cdr")
		if err != nil {
			t.Fatal(err)
		}
		for q.Next() {
			var s string
			q.Scan(&s)
			got = append(got, s)
		}
		q.Close()
	}
	if len(got) != 2 || !strings.HasPrefix(got[0], "alice|200|Wait|ANSWERED|") || !strings.HasPrefix(got[1], "alice|200|Wait|ANSWERED|") {
		t.Fatalf("rows %q\n%s", got, nd.MustRX("cdr show status"))
	}
	if n := strings.Count(nd.out.String(), "lacks columns"); n != 1 || !strings.Contains(nd.out.String(), "columns=userfield") {
		t.Fatalf("the missing column reported %d times, want once:\n%s", n, tailOf(nd.out.String(), 3000))
	}
}
