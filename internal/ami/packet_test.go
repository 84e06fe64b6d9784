package ami

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReadPacket(t *testing.T) {
	long := strings.Repeat("x", MaxLineLength+1)
	many := strings.Repeat("A: b\r\n", MaxHeaders+1)
	tests := []struct {
		name  string
		in    string
		lines [][]string // packets
		errs  []error
		tail  error
	}{
		{"crlf", "Action: Ping\r\nActionID: 1\r\n\r\n", [][]string{{"Action: Ping", "ActionID: 1"}}, []error{nil}, io.EOF},
		{"lf only", "Action: Ping\n\n", [][]string{{"Action: Ping"}}, []error{nil}, io.EOF},
		{"two packets", "Action: A\r\n\r\nAction: B\r\n\r\n", [][]string{{"Action: A"}, {"Action: B"}}, []error{nil, nil}, io.EOF},
		{"blank line alone", "\r\n", [][]string{nil}, []error{nil}, io.EOF},
		{"truncated", "Action: A\r\nFoo", nil, nil, io.EOF},
		{"nul ends line", "Action: Pi\x00ng\r\n\r\n", [][]string{{"Action: Pi"}}, []error{nil}, io.EOF},
		{"cr kept inside", "A: b\rc\r\n\r\n", [][]string{{"A: b\rc"}}, []error{nil}, io.EOF},
		{"line too long", "Action: A\r\n" + long + "\r\nActionID: 7\r\n\r\nAction: B\r\n\r\n",
			[][]string{{"Action: A", "ActionID: 7"}, {"Action: B"}}, []error{ErrLineTooLong, nil}, io.EOF},
		{"max line ok", "A: " + strings.Repeat("y", MaxLineLength-3) + "\r\n\r\n",
			[][]string{{"A: " + strings.Repeat("y", MaxLineLength-3)}}, []error{nil}, io.EOF},
		{"too many lines", many + "\r\n", [][]string{strings.Split(strings.TrimSuffix(strings.Repeat("A: b\r\n", MaxHeaders), "\r\n"), "\r\n")},
			[]error{ErrTooManyLines}, io.EOF},
		{"garbage", "\x01\x02\xff\xfe\r\n\r\n", [][]string{{"\x01\x02\xff\xfe"}}, []error{nil}, io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tt.in))
			for i, want := range tt.lines {
				p, err := r.ReadPacket()
				if p == nil {
					t.Fatalf("packet %d: nil, err %v", i, err)
				}
				if !errors.Is(err, tt.errs[i]) {
					t.Errorf("packet %d: err %v, want %v", i, err, tt.errs[i])
				}
				if strings.Join(p.Lines, "|") != strings.Join(want, "|") {
					t.Errorf("packet %d: lines %q, want %q", i, p.Lines, want)
				}
			}
			p, err := r.ReadPacket()
			if p != nil || !errors.Is(err, tt.tail) {
				t.Errorf("tail: %v, %v; want nil, %v", p, err, tt.tail)
			}
		})
	}
}

func TestPacketGet(t *testing.T) {
	p := &Packet{Lines: []string{"action:Ping", "ActionID:   x y ", "Variable: a=1,b=2", "Variable: c=3", "junk", "Action: Other", "Empty:", "Empty: later"}}
	for _, tt := range []struct{ key, want string }{
		{"Action", "Ping"}, {"ACTION", "Ping"}, {"ActionID", "x y "}, {"Missing", ""}, {"junk", ""}, {"Act", ""}, {"Empty", ""},
	} {
		if got := p.Get(tt.key); got != tt.want {
			t.Errorf("Get(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
	if got := p.GetNonEmpty("Empty"); got != "later" {
		t.Errorf("GetNonEmpty = %q", got)
	}
	vars := p.Variables()
	if len(vars) != 3 || vars[0] != (Field{"a", "1"}) || vars[1] != (Field{"b", "2"}) || vars[2] != (Field{"c", "3"}) {
		t.Errorf("Variables = %v", vars)
	}
}

func TestBuilderNoFramingBreak(t *testing.T) {
	var w builder
	w.kv("Key", "a\r\nEvent: Fake\r\n\r\nb")
	w.end()
	r := NewReader(bytes.NewReader(w.b))
	p, err := r.ReadPacket()
	if err != nil || len(p.Lines) != 1 {
		t.Fatalf("got %q, %v", p.Lines, err)
	}
}

// FuzzParsePacket checks that any input is read with bounded lines and headers, and that a
// packet read without error survives a write and a second read unchanged.
func FuzzParsePacket(f *testing.F) {
	for _, s := range []string{
		"Action: Login\r\nUsername: admin\r\nSecret: x\r\n\r\n",
		"Action: Ping\n\n",
		"\r\n\r\n\r\n",
		"Action: Originate\r\nVariable: a=1,b=2\r\n\r\n",
		"\x00\x01\xff\r\n\r\n",
		"A:" + strings.Repeat("z", 9000) + "\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		for n := 0; ; n++ {
			p, err := r.ReadPacket()
			if p == nil {
				return
			}
			if len(p.Lines) > MaxHeaders {
				t.Fatalf("%d lines", len(p.Lines))
			}
			for _, l := range p.Lines {
				if len(l) > MaxLineLength || l == "" || strings.ContainsAny(l, "\n\x00") {
					t.Fatalf("bad line %q", l)
				}
			}
			_ = p.Get("Action")
			_ = p.Variables()
			if err == nil {
				p2, err2 := NewReader(bytes.NewReader(p.Bytes())).ReadPacket()
				if err2 != nil || strings.Join(p2.Lines, "\n") != strings.Join(p.Lines, "\n") {
					t.Fatalf("round trip: %q -> %q (%v)", p.Lines, p2.Lines, err2)
				}
			}
			if n > len(data)+1 {
				t.Fatalf("more packets than bytes")
			}
		}
	})
}
