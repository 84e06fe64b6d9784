package cdr

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func sampleRecord() *Record {
	t0 := time.Date(2026, 12, 7, 4, 30, 0, 0, time.UTC)
	return &Record{AccountCode: "acct1", Src: "100", Dst: "200", DContext: "from-sip", CLID: `"Alice" <100>`,
		Channel: "SIP/alice-00000001", DstChannel: "SIP/bob-00000002", LastApp: "Dial", LastData: `SIP/bob,20,"x"`,
		Start: t0, Answer: t0.Add(3 * time.Second), End: t0.Add(15*time.Second + 400*time.Millisecond),
		Disposition: DispAnswered, AMAFlags: AMADocumentation, UserField: "vip", UniqueID: "1765081800.1",
		LinkedID: "1765081800.1", PeerAccount: "acct2", Sequence: 7}
}

// The Master.csv line, field by field, in cdr_csv.c's order and quoting (golden file in
// testdata: the line Asterisk 20 writes for the same record with usegmtime, loguniqueid
// and loguserfield on).
func TestCSVLine(t *testing.T) {
	c := &CSV{Set: CSVSettings{UseGMTime: true, LogUniqueID: true, LogUserField: true}}
	got := c.Line(sampleRecord(), false)
	want, err := os.ReadFile(filepath.Join("testdata", "master.csv.golden"))
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Fatalf("line:\n%s\nwant:\n%s", got, want)
	}
	fields, err := csv.NewReader(strings.NewReader(got)).Read()
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel", "lastapp", "lastdata",
		"start", "answer", "end", "duration", "billsec", "disposition", "amaflags", "uniqueid", "userfield"}
	if len(fields) != len(names) {
		t.Fatalf("%d fields, want %d", len(fields), len(names))
	}
	r := sampleRecord()
	for i, n := range names {
		v, _ := r.Field(n, false)
		if fields[i] != v {
			t.Errorf("column %d (%s) = %q, want %q", i+1, n, fields[i], v)
		}
	}
	// Without the options: 16 columns; an unanswered record has an empty answer column.
	r.Answer = time.Time{}
	r.Disposition = DispNoAnswer
	plain := (&CSV{Set: CSVSettings{UseGMTime: true}}).Line(r, false)
	wantPlain := `"acct1","100","200","from-sip","""Alice"" <100>","SIP/alice-00000001","SIP/bob-00000002","Dial","SIP/bob,20,""x""","2026-12-07 04:30:00","","2026-12-07 04:30:15",15,0,"NO ANSWER","DOCUMENTATION"` + "\n"
	if plain != wantPlain {
		t.Fatalf("plain line:\n%s\nwant:\n%s", plain, wantPlain)
	}
}

// Records go to Master.csv and, with accountlogs, to <accountcode>.csv; a directory that
// cannot be written is an error (the queue keeps the records).
func TestCSVWrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cdr-csv")
	c := &CSV{Dir: dir, Set: CSVSettings{AccountLogs: true}}
	r := sampleRecord()
	noAcct := sampleRecord()
	noAcct.AccountCode = ""
	if err := c.Write(context.Background(), []*Record{r, noAcct}); err != nil {
		t.Fatal(err)
	}
	m, _ := os.ReadFile(filepath.Join(dir, "Master.csv"))
	a, _ := os.ReadFile(filepath.Join(dir, "acct1.csv"))
	if strings.Count(string(m), "\n") != 2 || strings.Count(string(a), "\n") != 1 {
		t.Fatalf("Master.csv:\n%s\nacct1.csv:\n%s", m, a)
	}
	ro := &CSV{Dir: filepath.Join(dir, "Master.csv", "sub")}
	if err := ro.Write(context.Background(), []*Record{r}); err == nil {
		t.Fatal("no error for a directory that cannot be made")
	}
}

// Lines made as records come are written at Commit, in order, Master.csv and the account's
// file alike; an aborted batch writes nothing.
func TestCSVStream(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	c := &CSV{Dir: dir, Set: CSVSettings{AccountLogs: true}}
	recs := make([]*Record, 5)
	for i := range recs {
		recs[i] = sampleRecord()
		recs[i].Src = strconv.Itoa(i)
	}
	st, _ := c.Begin(ctx)
	st.Append(ctx, recs[:2])
	st.Abort()
	st, _ = c.Begin(ctx)
	st.Append(ctx, recs[:2])
	st.Append(ctx, recs[2:])
	if _, err := os.Stat(filepath.Join(dir, "Master.csv")); !os.IsNotExist(err) {
		t.Fatalf("Master.csv before the commit: %v", err)
	}
	if err := st.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	want := ""
	for _, r := range recs {
		want += c.Line(r, false)
	}
	for _, f := range []string{"Master.csv", recs[0].AccountCode + ".csv"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || string(b) != want {
			t.Fatalf("%s: %v\n%s\nwant\n%s", f, err, b, want)
		}
	}
}
