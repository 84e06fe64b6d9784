package cdr

import (
	"encoding/json"
	"testing"
	"time"
)

// A record spools as encoding/json writes it (the spool is read back with it; a spool of
// an older version reads the same), and reads back equal.
func TestRecordAppendJSON(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 123456000, time.Local)
	for _, r := range []*Record{
		{},
		benchRecord(7),
		{AccountCode: "acc<&>", Src: "100", Dst: "s", DContext: "in", CLID: `"O'Brien \"Pat\"" <100>`, Channel: "SIP/a-1",
			DstChannel: "SIP/b-2", LastApp: "Dial", LastData: "SIP/b,30,tT\n", Start: t0, Answer: t0.Add(time.Second),
			End: t0.Add(9 * time.Second), Disposition: DispBusy, AMAFlags: AMABilling, UserField: "é€\u2028\xff",
			UniqueID: "1.2", LinkedID: "1.1", PeerAccount: "p", Sequence: 42,
			Vars: map[string]string{"z": "1", "a": "\t", "m<": ""}},
		{Vars: map[string]string{}},
	} {
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.AppendJSON(nil)
		if err != nil || string(got) != string(want) {
			t.Fatalf("got  %s (%v)\nwant %s", got, err, want)
		}
		var back Record
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatal(err)
		}
		again, _ := back.AppendJSON(nil)
		if want, _ := json.Marshal(&back); string(again) != string(want) || !back.Start.Equal(r.Start) || back.CLID != r.CLID || len(back.Vars) != len(r.Vars) {
			t.Fatalf("read back as %s", again)
		}
	}
	if _, err := (&Record{Start: time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC)}).AppendJSON(nil); err == nil {
		t.Fatal("a year json refuses was written")
	}
}
