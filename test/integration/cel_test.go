package integration

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// celColumns is Asterisk's cel table (contrib/ast-db-manage), %s its name; the types of
// PostgreSQL and MariaDB are the same here but for eventtime.
const celColumns = `CREATE TABLE %s (id %s PRIMARY KEY, eventtype VARCHAR(30) NOT NULL, eventtime %s NOT NULL,
	userdeftype VARCHAR(255), cid_name VARCHAR(80), cid_num VARCHAR(80), cid_ani VARCHAR(80), cid_rdnis VARCHAR(80),
	cid_dnid VARCHAR(80), exten VARCHAR(80), context VARCHAR(80), channame VARCHAR(80), appname VARCHAR(80),
	appdata VARCHAR(80), amaflags INTEGER, accountcode VARCHAR(20), peeraccount VARCHAR(20), uniqueid VARCHAR(150),
	linkedid VARCHAR(150), userfield VARCHAR(255), peer VARCHAR(80), extra VARCHAR(512))`

// celEvents waits up to d for n rows that query gives (eventtype, appname, channame per
// row, in insertion order) and returns the eventtypes, with the appname for APP_START and
// APP_END (the others carry the channel's current application).
func celEvents(t *testing.T, query func() ([][3]string, error), n int, d time.Duration) []string {
	t.Helper()
	var got []string
	for deadline := time.Now().Add(d); ; time.Sleep(100 * time.Millisecond) {
		got = got[:0]
		rows, err := query()
		if err == nil {
			for _, r := range rows {
				if !strings.HasPrefix(r[2], "SIP/alice-") {
					t.Errorf("channame %q", r[2])
				}
				if strings.HasPrefix(r[0], "APP_") {
					r[0] += " " + r[1]
				}
				got = append(got, r[0])
			}
		}
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
	}
}

func sqlRows(db *sql.DB, q string) func() ([][3]string, error) {
	return func() ([][3]string, error) {
		rows, err := db.Query(q)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out [][3]string
		for rows.Next() {
			var r [3]sql.NullString
			rows.Scan(&r[0], &r[1], &r[2])
			out = append(out, [3]string{r[0].String, r[1].String, r[2].String})
		}
		return out, rows.Err()
	}
}

func pgRows(conn *pgx.Conn, q string) func() ([][3]string, error) {
	return func() ([][3]string, error) {
		rows, err := conn.Query(context.Background(), q)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out [][3]string
		for rows.Next() {
			var r [3]*string
			rows.Scan(&r[0], &r[1], &r[2])
			var v [3]string
			for i, p := range r {
				if p != nil {
					v[i] = *p
				}
			}
			out = append(out, v)
		}
		return out, rows.Err()
	}
}

// TestCELODBCAndPgSQLQueue: one real sipp call through the real binary. cel_odbc writes its
// CEL events into Asterisk's cel table on PostgreSQL and on MariaDB through unixODBC
// (res_odbc.conf connections); cel_pgsql points at a database that is down: the call does
// not wait, "cel show status" shows the backlog in astspooldir/cel/pgsql.queue, the server
// is killed with it, and at the next start (database up) every event arrives once, in order.
func TestCELODBCAndPgSQLQueue(t *testing.T) {
	schema := pgScratch(t)
	mc, mydb := myScratch(t)
	host, port, _ := strings.Cut(mc.Addr, ":")
	pg, err := pgx.Connect(t.Context(), "postgres://postgres@127.0.0.1:5432/test?sslmode=disable&search_path="+schema)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close(context.Background())
	sc := mc.Clone()
	sc.DBName = mydb
	my, err := sql.Open("mysql", sc.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer my.Close()
	for _, tbl := range []string{"cel", "celpg"} {
		if _, err := pg.Exec(t.Context(), fmt.Sprintf(celColumns, tbl, "SERIAL", "TIMESTAMP")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := my.Exec(fmt.Sprintf(celColumns, "cel", "INTEGER NOT NULL AUTO_INCREMENT", "DATETIME")); err != nil {
		t.Fatal(err)
	}
	ports := freePorts(t, 2)
	sipPort, dbPort := ports[0], ports[1]
	nd := NewNode(t, "", map[string]string{
		"sip.conf":        aliceSIPConf(sipPort),
		"rtp.conf":        "[general]\nrtpstart=33000\nrtpend=33100\n",
		"extensions.conf": "[calls]\nexten => 200,1,Ringing()\n same => n,Answer()\n same => n,Wait(30)\n",
		"cel.conf":        "[general]\nenable=yes\napps=wait\nevents=ALL\n",
		"res_odbc.conf": "[pg]\nconnstr => Driver=PostgreSQL Unicode\\;Server=127.0.0.1\\;Port=5432\\;Database=test\\;Uid=postgres\\;CommLog=0\\;" +
			"ConnSettings={set search_path to " + schema + "}\\;\n" +
			fmt.Sprintf("[maria]\nconnstr => Driver=MariaDB Unicode\\;Server=%s\\;Port=%s\\;Database=%s\\;User=%s\\;\n", host, port, mydb, mc.User),
		"cel_odbc.conf":  "[pg]\nconnection=pg\ntable=cel\n[maria]\nconnection=maria\ntable=cel\nusegmtime=yes\n",
		"cel_pgsql.conf": fmt.Sprintf("[global]\nhostname=127.0.0.1\nport=%d\ndbname=test\nuser=postgres\ntable=%s.celpg\n", dbPort, schema),
	})
	nd.Start()
	if out := nd.MustRX("module show like cel_"); !strings.Contains(out, "cel_odbc.so") || strings.Contains(out, "Not Running") {
		t.Fatalf("module show like cel_:\n%s", out)
	}
	start := time.Now()
	callAlice(t, sipPort, "-m", "1")
	if took := time.Since(start); took > 15*time.Second {
		t.Fatalf("the call took %v with cel_pgsql's database down", took)
	}
	want := "CHAN_START,ANSWER,APP_START Wait,APP_END Wait,HANGUP,CHAN_END,LINKEDID_END"
	q := "SELECT eventtype, appname, channame FROM %s ORDER BY id"
	for name, rows := range map[string]func() ([][3]string, error){"PostgreSQL": pgRows(pg, fmt.Sprintf(q, "cel")), "MariaDB": sqlRows(my, fmt.Sprintf(q, "cel"))} {
		got := celEvents(t, rows, 7, 15*time.Second)
		if strings.Join(got, ",") != want {
			t.Errorf("cel_odbc into %s: %v\nwant %s\n%s", name, got, want, nd.MustRX("cel show status"))
		}
	}
	spool := filepath.Join(nd.Dir, "spool", "cel", "pgsql.queue")
	var status string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		status = nd.MustRX("cel show status")
		b, _ := os.ReadFile(spool)
		if strings.Contains(status, "last error") && strings.Count(string(b), "\n") == 7 {
			break
		}
	}
	for _, w := range []string{"CEL Logging: Enabled", "CEL Tracking Event: ALL", "CEL Tracking Application: wait",
		"cel_pgsql (backlog 7, written 0, queue " + spool + ")", "cel_odbc:pg (backlog 0, written 7", "cel_odbc:maria (backlog 0, written 7"} {
		if !strings.Contains(status, w) {
			t.Fatalf("cel show status lacks %q:\n%s", w, status)
		}
	}
	if b, _ := os.ReadFile(spool); strings.Count(string(b), "\n") != 7 {
		t.Fatalf("pgsql.queue holds %d events, want 7", strings.Count(string(b), "\n"))
	}
	nd.Kill()
	(&tcpGate{addr: fmt.Sprintf("127.0.0.1:%d", dbPort)}).open(t)
	nd.Start()
	got := celEvents(t, pgRows(pg, fmt.Sprintf(q, "celpg")), 7, 20*time.Second)
	if strings.Join(got, ",") != want {
		t.Fatalf("cel_pgsql after the restart: %v\nwant %s\n%s", got, want, nd.MustRX("cel show status"))
	}
	time.Sleep(300 * time.Millisecond) // nothing written twice
	if got := celEvents(t, pgRows(pg, fmt.Sprintf(q, "celpg")), 7, 0); len(got) != 7 {
		t.Fatalf("%d rows in celpg, want 7", len(got))
	}
}
