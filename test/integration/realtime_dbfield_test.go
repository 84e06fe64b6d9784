package integration

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	my "github.com/go-sql-driver/mysql"

	"github.com/pleiades-pbx/pleiades/internal/realtime/realtimetest"
	"github.com/pleiades-pbx/pleiades/internal/realtime/sqlite"
	"github.com/pleiades-pbx/pleiades/test/testenv"
)

// myScratch makes a scratch database in the test MariaDB with Asterisk's realtime tables and
// returns the test server's settings and the database's name.
func myScratch(t *testing.T) (*my.Config, string) {
	t.Helper()
	dsn := os.Getenv("PLEIADES_TEST_MYSQL_DSN")
	if dsn == "" {
		dsn = "root@tcp(127.0.0.1:3306)/test"
	}
	mc, err := my.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("PLEIADES_TEST_MYSQL_DSN: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	boot, err := sql.Open("mysql", mc.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer boot.Close()
	if err := boot.PingContext(ctx); err != nil {
		testenv.Unavailable(t, "MariaDB unreachable: %v", err)
	}
	name := fmt.Sprintf("plit_%d", rand.Uint32())
	if _, err := boot.ExecContext(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if d, err := sql.Open("mysql", mc.FormatDSN()); err == nil {
			d.Exec("DROP DATABASE " + name)
			d.Close()
		}
	})
	sc := mc.Clone()
	sc.DBName = name
	db, err := sql.Open("mysql", sc.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	create, _, err := realtimetest.Statements(testenv.SharedPath(t, "asterisk-schema"), "mysql")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range create {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return mc, name
}

// The database field of extconfig.conf mappings is read as each of Asterisk's drivers reads
// it: ignored by pgsql (res_pgsql.conf's dbname is the database), the section of
// res_config_mysql.conf, the connection of res_odbc.conf, the section of
// res_config_sqlite3.conf. Every mapping here names "asterisk", the sample's wording, and no
// database of that name exists anywhere.
func TestExtconfigDatabaseFieldAsAsterisk(t *testing.T) {
	schema := pgScratch(t)
	mc, mydb := myScratch(t)
	host, port, _ := strings.Cut(mc.Addr, ":")
	dir := t.TempDir()
	rtdb := filepath.Join(dir, "rt.sqlite3")
	if err := sqlite.CreateDefaultSchema(context.Background(), rtdb); err != nil {
		t.Fatal(err)
	}
	n := NewNode(t, "entityid = 02:aa:bb:cc:e1:04", map[string]string{
		"extconfig.conf": "[settings]\n" +
			"sippeers => pgsql,asterisk,sippeers\n" +
			"voicemail => mysql,asterisk,voicemail\n" +
			"extensions => odbc,asterisk,extensions\n" +
			"friends => sqlite3,asterisk,sippeers\n",
		"res_pgsql.conf": "[general]\ndbhost = 127.0.0.1\ndbport = 5432\ndbname = test\ndbuser = postgres\nsearch_path = " + schema + "\n",
		"res_config_mysql.conf": fmt.Sprintf("[asterisk]\ndbhost = %s\ndbport = %s\ndbuser = %s\ndbpass = %s\ndbname = %s\n",
			host, port, mc.User, mc.Passwd, mydb),
		"res_odbc.conf": fmt.Sprintf("[asterisk]\nenabled => yes\nconnstr => Driver=MariaDB Unicode\\;Server=%s\\;Port=%s\\;Database=%s\\;User=%s\\;Password=%s\\;\n",
			host, port, mydb, mc.User, mc.Passwd),
		"res_config_sqlite3.conf": "[asterisk]\ndbfile => " + rtdb + "\n",
	})
	n.Start()
	for _, c := range []struct{ family, fields, check string }{
		{"sippeers", "name alice context phones", "name alice"},
		{"voicemail", "context default mailbox 100 password 1234", "mailbox 100"},
		{"extensions", "context default exten 100 priority 1 app NoOp appdata hello", "exten 100"},
		{"friends", "name bob context phones", "name bob"},
	} {
		if out, code := n.RX("realtime store " + c.family + " " + c.fields); out != "Stored RealTime record.\n" || code != 0 {
			t.Fatalf("store %s: %d %q", c.family, code, out)
		}
		out := n.MustRX("realtime load " + c.family + " " + c.check)
		if f := strings.Fields(c.check); !strings.Contains(out, f[1]) {
			t.Errorf("load %s:\n%s", c.family, out)
		}
	}
	want := "Config Engine: mysql\n===> voicemail (db=asterisk, table=voicemail)\n" +
		"Config Engine: odbc\n===> extensions (db=asterisk, table=extensions)\n" +
		"Config Engine: pgsql\n===> sippeers (db=asterisk, table=sippeers)\n" +
		"Config Engine: sqlite3\n===> friends (db=asterisk, table=sippeers)\n"
	if out := n.MustRX("core show config mappings"); out != want {
		t.Errorf("core show config mappings:\n%s\nwant\n%s", out, want)
	}
	if out := n.MustRX("realtime show pgsql cache"); out != "sippeers\n" {
		t.Errorf("realtime show pgsql cache: %q", out)
	}
}
