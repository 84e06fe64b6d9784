package diskqueue

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"
)

// AppendString writes what encoding/json writes, byte for byte (the spool is read back
// with it, and a spool written by either reads the same).
func TestAppendStringAsJSON(t *testing.T) {
	cases := []string{"", "alice", `"Alice" <100>`, `back\slash`, "a&b<c>d", "tab\tnl\nret\rbs\bff\f",
		"\x00\x01\x1f\x7f", "é€😀", "\u2028\u2029", "bad\xffutf8\xc3", "\xe2\x82", "SIP/alice-00000001"}
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		b := make([]byte, r.IntN(24))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Fatalf("%q: got %s, want %s", s, got[1:], want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	f.Add("\"Alice\" <100>\u2028\xff")
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := AppendString(nil, s); string(got) != string(want) {
			t.Fatalf("%q: got %s, want %s", s, got, want)
		}
	})
}

// AppendTime writes what time.Time's MarshalJSON writes, and fails where it fails.
func TestAppendTimeAsJSON(t *testing.T) {
	base := time.Date(2026, 12, 7, 10, 0, 1, 123456789, time.UTC)
	for _, tm := range []time.Time{{}, base, base.Truncate(time.Second), base.Local(), base.In(time.FixedZone("x", -(3*3600 + 1800))),
		base.In(time.FixedZone("y", 23*3600+59*60)), time.Now(), time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)} {
		want, err := tm.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		got, err := AppendTime(nil, tm)
		if err != nil || string(got) != string(want) {
			t.Fatalf("%v: got %s (%v), want %s", tm, got, err, want)
		}
	}
	for _, tm := range []time.Time{time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		base.In(time.FixedZone("z", 24*3600)), base.In(time.FixedZone("s", 3600+30))} {
		_, jerr := tm.MarshalJSON()
		if _, err := AppendTime(nil, tm); (err == nil) != (jerr == nil) {
			t.Fatalf("%v: error %v, MarshalJSON's %v", tm, err, jerr)
		}
	}
}
