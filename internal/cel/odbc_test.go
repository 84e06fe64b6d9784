package cel

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/realtime/odbc"
	"github.com/pleiades-pbx/pleiades/test/testenv"
)

func TestParseODBC(t *testing.T) {
	cfg, _ := conf.Parse("cel_odbc.conf", []byte("[general]\nshow_user_defined=yes\n[first]\nconnection=asterisk\nallowleapsecond=no\ncharset=latin1\n"+
		"alias channame => chan\nfilter eventtype != LINKEDID_END\n"), conf.Options{})
	os, g, err := ParseODBC(cfg)
	if err != nil || len(os) != 1 || !g.ShowUserDefined {
		t.Fatalf("%v %+v %v", os, g, err)
	}
	o := os[0]
	if o.Table != "cel" || o.AllowLeapSecond || o.Charset != "latin1" || o.Aliases["channame"] != "chan" || len(o.Filters) != 1 ||
		!o.Filters[0].Negate || o.Name() != "cel_odbc:first" {
		t.Fatalf("section %+v %+v", o, o.Writer)
	}
	bad := "[general]\nnope=1\n[x]\ntable=cel\n[y]\nconnection=c\nallowleapsecond=maybe\nstatic nope => col\nbogus=1\n"
	cfg, _ = conf.Parse("cel_odbc.conf", []byte(bad), conf.Options{})
	_, _, err = ParseODBC(cfg)
	for _, want := range []string{"cel_odbc.conf:2: [general]: unknown option", "cel_odbc.conf:3: [x] needs connection=",
		"cel_odbc.conf:7: allowleapsecond", "cel_odbc.conf:8: static", "cel_odbc.conf:9: unknown option \"bogus\""} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\nlacks %q", err, want)
		}
	}
}

// odbcTarget is a database reached through unixODBC.
type odbcTarget struct {
	name, envVar, connStr string
	table                 string // CREATE TABLE of Asterisk's cel table, %s the table's name
}

var odbcTargets = []odbcTarget{
	{"pgsql", "PLEIADES_TEST_ODBC_PGSQL", "Driver=PostgreSQL Unicode;Server=127.0.0.1;Port=5432;Database=test;Uid=postgres;CommLog=0;",
		strings.Replace(strings.Replace(celTable, "%s.cel", "%s", 1), "extra VARCHAR(512))", "extra VARCHAR(512), chan VARCHAR(80), node VARCHAR(20))", 1)},
	{"mysql", "PLEIADES_TEST_ODBC_MYSQL", "Driver=MariaDB Unicode;Server=127.0.0.1;Port=3306;Database=test;User=root;",
		`CREATE TABLE %s (id INTEGER NOT NULL AUTO_INCREMENT PRIMARY KEY, eventtype VARCHAR(30) NOT NULL, eventtime DATETIME NOT NULL,
		userdeftype VARCHAR(255), cid_name VARCHAR(80), cid_num VARCHAR(80), cid_ani VARCHAR(80), cid_rdnis VARCHAR(80),
		cid_dnid VARCHAR(80), exten VARCHAR(80), context VARCHAR(80), channame VARCHAR(80), appname VARCHAR(80),
		appdata VARCHAR(80), amaflags INTEGER, accountcode VARCHAR(20), peeraccount VARCHAR(20), uniqueid VARCHAR(150),
		linkedid VARCHAR(150), userfield VARCHAR(255), peer VARCHAR(80), extra VARCHAR(512), chan VARCHAR(80), node VARCHAR(20))`},
}

// cel_odbc into Asterisk's cel table on PostgreSQL and MariaDB through unixODBC (the
// realtime odbc driver's res_odbc.conf connection): the columns the table has, an alias, a
// static column, filters (case-insensitive, and !=), usegmtime, values with quotes and
// backslashes bound as they are.
func TestODBC(t *testing.T) {
	for _, tg := range odbcTargets {
		t.Run(tg.name, func(t *testing.T) {
			cs := tg.connStr
			if v := os.Getenv(tg.envVar); v != "" {
				cs = v
			}
			d := odbc.New(nil)
			rc, _ := conf.Parse("res_odbc.conf", []byte("[asterisk]\nconnstr => "+strings.ReplaceAll(cs, ";", `\;`)+"\nmax_connections => 2\n"), conf.Options{})
			if err := d.Configure(t.Context(), rc); err != nil {
				testenv.Unavailable(t, "unixODBC: %v", err)
			}
			defer d.Close()
			if _, _, err := d.Query(t.Context(), "asterisk", "SELECT 1", 1); err != nil {
				testenv.Unavailable(t, "%s through unixODBC: %v", tg.name, err)
			}
			b := make([]byte, 5)
			rand.Read(b)
			table := "celtest_" + hex.EncodeToString(b)
			if _, err := d.Exec(t.Context(), "asterisk", strings.ReplaceAll(tg.table, "%s", table)); err != nil {
				t.Fatal(err)
			}
			defer d.Exec(context.Background(), "asterisk", "DROP TABLE "+table)
			text := "[general]\n[main]\nconnection=asterisk\ntable=" + table + "\nusegmtime=yes\nalias channame => chan\n" +
				"static \"node-1\" => node\nfilter context => Calls\nfilter eventtype != LINKEDID_END\n"
			cfg, _ := conf.Parse("cel_odbc.conf", []byte(text), conf.Options{})
			secs, _, err := ParseODBC(cfg)
			if err != nil {
				t.Fatal(err)
			}
			o := secs[0]
			o.Q = d
			q, err := Start(o, nil, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer q.Close()
			tm := time.Date(2026, 12, 7, 4, 5, 6, 0, time.UTC)
			ev := func(typ, ctx, extra string) Event {
				return Event{Type: typ, Time: tm, CIDName: "O'Brien", CIDNum: "100", Context: ctx, Channel: "SIP/alice-00000001",
					UniqueID: "1.1", LinkedID: "1.1", AMAFlags: 3, Extra: extra}
			}
			q.Sink(ev(ChanStart, "calls", ""))
			q.Sink(ev(Answer, "other", "")) // filtered out: context
			q.Sink(ev(Hangup, "calls", `{"hangupcause":16,"path":"a\b"}`))
			q.Sink(ev(LinkedIDEnd, "calls", "")) // filtered out: !=
			flush(t, q)
			if st := q.Status(); st.Written != 4 || st.LastErr != "" {
				t.Fatalf("status %+v", st)
			}
			_, rows, err := d.Query(t.Context(), "asterisk", "SELECT eventtype, eventtime, cid_name, chan, channame, amaflags, extra, node FROM "+table+" ORDER BY id", 0)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range rows {
				var f []string
				for _, c := range r {
					if c == nil {
						f = append(f, "NULL")
					} else {
						f = append(f, *c)
					}
				}
				got = append(got, strings.Join(f, "|"))
			}
			want := "CHAN_START|2026-12-07 04:05:06|O'Brien|SIP/alice-00000001|NULL|3||node-1\n" +
				`HANGUP|2026-12-07 04:05:06|O'Brien|SIP/alice-00000001|NULL|3|{"hangupcause":16,"path":"a\b"}|node-1`
			if strings.Join(got, "\n") != want {
				t.Fatalf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
			}
		})
	}
}

// The README's cel_odbc.conf example parses as it says.
func TestReadmeODBCExample(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(b), "```ini\n; cel_odbc.conf\n")
	if !ok {
		t.Fatal("README has no cel_odbc.conf example")
	}
	block, _, _ = strings.Cut(block, "```")
	cfg, err := conf.Parse("cel_odbc.conf", []byte(block), conf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	secs, g, err := ParseODBC(cfg)
	if err != nil || len(secs) != 1 || g.ShowUserDefined {
		t.Fatalf("%v %+v %v", secs, g, err)
	}
	if o := secs[0]; o.Connection != "asterisk" || o.Table != "cel" || !o.UseGMTime || !o.AllowLeapSecond {
		t.Fatalf("section %+v", o.Writer)
	}
}
