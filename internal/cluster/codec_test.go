package cluster

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func sampleMessages() []*message {
	o := testEID(1)
	t0 := time.Unix(1700000000, 123456789)
	return []*message{
		{Kind: kindEvent, Origin: o, Incarnation: 42, Seq: 7, Events: []Event{{Type: TypeDeviceState, Key: "Custom:mystate", Fields: []string{"INUSE"}, EID: o, Time: t0}}},
		{Kind: kindEvent, Origin: o, Incarnation: 42, Seq: 8, Events: []Event{{Type: TypeMWI, Key: "1234@default", Fields: []string{"2", "5", "0"}, EID: o, Time: t0}}},
		{Kind: kindEvent, Origin: o, Incarnation: 42, Seq: 9, Events: []Event{{Type: TypeMWI, Key: "gone@default", EID: o}}},
		{Kind: kindHeartbeat, Origin: o, Incarnation: 42, Seq: 1, Node: "pbx-a", Version: "1.0", Addrs: []string{"10.0.0.1:6222"}},
		{Kind: kindHeartbeat, Origin: o, Incarnation: 42, Seq: 2, Node: "pbx-a", Version: "1.0", Addrs: []string{"10.0.0.1:6222"}, Site: "berlin"},
		{Kind: kindLeave, Origin: o, Incarnation: 42, Seq: 10},
		{Kind: kindPing, Origin: o, Incarnation: 42, Seq: 11},
		{Kind: kindSyncReq, Origin: o, Incarnation: 42, Seq: 12, Target: testEID(2), Reply: "_INBOX.abc", ReqID: 3, Types: []string{TypeDeviceState, TypeMWI}},
		{Kind: kindSyncData, Origin: o, Incarnation: 42, ReqID: 3, SnapSeq: 12, Batch: 1, Final: true, Types: []string{TypeDeviceState},
			Events: []Event{{Type: TypeDeviceState, Key: "SIP/alice", Fields: []string{"BUSY"}, EID: o, Time: t0}, {Type: TypeDeviceState, Key: "SIP/bob", Fields: []string{"NOT_INUSE", "extra"}, EID: o}}},
	}
}

func TestCodecRoundTrip(t *testing.T) {
	for _, m := range sampleMessages() {
		b := m.encode(nil)
		got, err := decode(b)
		if err != nil {
			t.Fatalf("%s: %v", m.Kind, err)
		}
		if !reflect.DeepEqual(normalize(got), normalize(m)) {
			t.Errorf("%s: round trip\n got %+v\nwant %+v", m.Kind, got, m)
		}
		// Trailing bytes (a later minor revision) are ignored.
		if _, err := decode(append(b, 1, 2, 3)); err != nil {
			t.Errorf("%s with trailing bytes: %v", m.Kind, err)
		}
		// Every truncation is an error, never a panic.
		// A heartbeat cut right before its site is one of a server from before sites.
		oldHeartbeat := -1
		if m.Kind == kindHeartbeat {
			oldHeartbeat = len(b) - 1 - len(m.Site)
		}
		for i := 0; i < len(b); i++ {
			if i == oldHeartbeat {
				if got, err := decode(b[:i]); err != nil || got.Site != "" || got.Node != m.Node {
					t.Errorf("heartbeat without a site: %+v %v", got, err)
				}
				continue
			}
			if _, err := decode(b[:i]); err == nil && m.Kind != kindLeave && m.Kind != kindPing {
				t.Errorf("%s truncated to %d bytes decoded", m.Kind, i)
			}
		}
	}
	if _, err := decode([]byte{2, 1}); err == nil {
		t.Error("version 2 accepted")
	}
	if _, err := decode([]byte{1, 99, 0, 0, 0, 0, 0, 0, 0, 0}); err == nil {
		t.Error("unknown kind accepted")
	}
}

// normalize makes times comparable and empty slices nil.
func normalize(m *message) *message {
	c := *m
	c.Events = nil
	for _, e := range m.Events {
		if !e.Time.IsZero() {
			e.Time = time.Unix(0, e.Time.UnixNano())
		}
		if len(e.Fields) == 0 {
			e.Fields = nil
		}
		c.Events = append(c.Events, e)
	}
	if len(c.Types) == 0 {
		c.Types = nil
	}
	if len(c.Addrs) == 0 {
		c.Addrs = nil
	}
	return &c
}

func FuzzDecode(f *testing.F) {
	for _, m := range sampleMessages() {
		f.Add(m.encode(nil))
	}
	f.Add([]byte{})
	f.Add([]byte{1, 6, 2, 0, 0, 0, 0, 1, 0, 0, 3, 3, 1, 1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decode(b)
		if err != nil {
			return
		}
		// What decodes re-encodes to something that decodes to the same message.
		b2 := m.encode(nil)
		m2, err := decode(b2)
		if err != nil {
			t.Fatalf("re-encoded message does not decode: %v", err)
		}
		if !reflect.DeepEqual(normalize(m), normalize(m2)) {
			t.Fatalf("round trip differs:\n%+v\n%+v", m, m2)
		}
		if b3 := m2.encode(nil); !bytes.Equal(b2, b3) {
			t.Fatalf("encoding is not stable")
		}
	})
}

// jsonMessage is what a JSON encoding of an event would look like (for the comparison
// benchmark only).
type jsonMessage struct {
	V      int      `json:"v"`
	Kind   string   `json:"kind"`
	Origin string   `json:"origin"`
	Inc    uint64   `json:"inc"`
	Seq    uint64   `json:"seq"`
	Type   string   `json:"type"`
	Key    string   `json:"key"`
	Time   int64    `json:"time"`
	Fields []string `json:"fields"`
}

func BenchmarkCodec(b *testing.B) {
	m := sampleMessages()[0]
	b.Run("binary", func(b *testing.B) {
		var buf []byte
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			buf = m.encode(buf[:0])
			if _, err := decode(buf); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(buf)), "bytes/msg")
	})
	b.Run("json", func(b *testing.B) {
		e := m.Events[0]
		jm := jsonMessage{V: 1, Kind: "event", Origin: m.Origin.String(), Inc: m.Incarnation, Seq: m.Seq,
			Type: e.Type, Key: e.Key, Time: e.Time.UnixNano(), Fields: e.Fields}
		var n int
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			buf, err := json.Marshal(jm)
			if err != nil {
				b.Fatal(err)
			}
			n = len(buf)
			var out jsonMessage
			if err := json.Unmarshal(buf, &out); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n), "bytes/msg")
	})
}

func TestShownFieldsHideTheSecret(t *testing.T) {
	e := Event{Type: TypeSIPLocation, Key: "bob", Fields: []string{"10.0.0.2:5060", "udp", "1900000000", "s3cr3t"}}
	if got := fmt.Sprint(shownFields(e)); strings.Contains(got, "s3cr3t") || !strings.Contains(got, "10.0.0.2:5060") {
		t.Errorf("shown %s", got)
	}
	if e.Fields[3] != "s3cr3t" {
		t.Error("the event itself was changed")
	}
	ds := Event{Type: TypeDeviceState, Key: "SIP/bob", Fields: []string{"INUSE"}}
	if got := fmt.Sprint(shownFields(ds)); got != "[INUSE]" {
		t.Errorf("device state shown %s", got)
	}
}
