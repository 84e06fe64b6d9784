package cel

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/test/testenv"
)

// Asterisk's cel table (contrib/ast-db-manage cel: the columns cel_pgsql fills).
const celTable = `CREATE TABLE %s.cel (id SERIAL PRIMARY KEY, eventtype VARCHAR(30) NOT NULL, eventtime TIMESTAMP NOT NULL,
	userdeftype VARCHAR(255), cid_name VARCHAR(80), cid_num VARCHAR(80), cid_ani VARCHAR(80), cid_rdnis VARCHAR(80),
	cid_dnid VARCHAR(80), exten VARCHAR(80), context VARCHAR(80), channame VARCHAR(80), appname VARCHAR(80),
	appdata VARCHAR(80), amaflags INTEGER, accountcode VARCHAR(20), peeraccount VARCHAR(20), uniqueid VARCHAR(150),
	linkedid VARCHAR(150), userfield VARCHAR(255), peer VARCHAR(80), extra VARCHAR(512))`

func TestPgSQL(t *testing.T) {
	ctx := t.Context()
	admin, err := pgx.Connect(ctx, "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	if err != nil {
		testenv.Unavailable(t, "PostgreSQL not reachable: %v", err)
	}
	defer admin.Close(context.Background())
	b := make([]byte, 6)
	rand.Read(b)
	schema := "pleiades_cel_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	defer admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
	if _, err := admin.Exec(ctx, strings.ReplaceAll(celTable, "%s", schema)); err != nil {
		t.Fatal(err)
	}
	cfg, _ := conf.Parse("cel_pgsql.conf", []byte("[global]\nhostname=127.0.0.1\nport=5432\ndbname=test\nuser=postgres\ntable="+schema+".cel\nusegmtime=yes\n"), conf.Options{})
	p, err := ParsePgSQL(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.Start()
	defer p.Close()
	tm := time.Date(2026, 12, 7, 4, 5, 6, 0, time.UTC)
	for _, typ := range []string{ChanStart, Answer, Hangup, ChanEnd} {
		p.Sink(Event{Type: typ, Time: tm, CIDNum: "100", Channel: "SIP/alice-00000001", UniqueID: "1.1", LinkedID: "1.1", AMAFlags: 3,
			Extra: `{"hangupcause":16}`})
	}
	deadline := time.Now().Add(10 * time.Second)
	for n, _ := p.Backlog(); n > 0 && time.Now().Before(deadline); n, _ = p.Backlog() {
		time.Sleep(10 * time.Millisecond)
	}
	rows, err := admin.Query(ctx, "SELECT eventtype, eventtime::text, cid_num, channame, amaflags FROM "+schema+".cel ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var typ, tmv, num, ch string
		var ama int
		rows.Scan(&typ, &tmv, &num, &ch, &ama)
		got = append(got, strings.Join([]string{typ, tmv, num, ch}, "|"))
	}
	want := "CHAN_START|2026-12-07 04:05:06|100|SIP/alice-00000001\nANSWER|2026-12-07 04:05:06|100|SIP/alice-00000001\n" +
		"HANGUP|2026-12-07 04:05:06|100|SIP/alice-00000001\nCHAN_END|2026-12-07 04:05:06|100|SIP/alice-00000001"
	if strings.Join(got, "\n") != want {
		t.Fatalf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
	}
}
