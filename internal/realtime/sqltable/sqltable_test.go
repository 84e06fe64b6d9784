package sqltable

import (
	"errors"
	"strings"
	"testing"

	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

func TestFind(t *testing.T) {
	c := New(`"t"`, []string{"name", "Name", "ipaddr", "IPADDR2"}, []string{`"name"`, `"Name"`, `"ipaddr"`, `"IPADDR2"`})
	if c.Select != `SELECT "name", "Name", "ipaddr", "IPADDR2" FROM "t"` {
		t.Fatalf("select %q", c.Select)
	}
	for _, tc := range []struct {
		name string
		want int
		ok   bool
	}{
		{"name", 0, true}, {"Name", 1, true}, {"NAME", 0, true}, // exact spelling first, then the first folded
		{"IPAddr", 2, true}, {"ipaddr2", 3, true}, {"port", 0, false},
	} {
		if i, ok := c.Find(tc.name); ok != tc.ok || (ok && i != tc.want) {
			t.Errorf("Find(%q) = %d, %v; want %d, %v", tc.name, i, ok, tc.want, tc.ok)
		}
	}
}

func TestWhere(t *testing.T) {
	c := New("t", []string{"name", "port"}, []string{"name", "port"})
	find := func(n string) (int, error) {
		if i, ok := c.Find(n); ok {
			return i, nil
		}
		return 0, realtime.ErrUnknownField
	}
	var b strings.Builder
	var got []string
	cond := func(col int, op, v string) {
		b.WriteString([]string{"name", "port"}[col] + " " + op + " ?")
		got = append(got, v)
	}
	if err := Where(&b, "x", []realtime.Field{{Name: "name LIKE", Value: "a;b%"}, {Name: "port >", Value: "5060"}}, find, cond); err != nil {
		t.Fatal(err)
	}
	if b.String() != " WHERE name LIKE ? AND port > ?" || got[0] != realtime.EncodeValue("a;b%") || got[1] != "5060" {
		t.Fatalf("%q %q", b.String(), got)
	}
	b.Reset()
	if err := Where(&b, "x", nil, find, cond); err != nil || b.Len() != 0 {
		t.Fatalf("no fields: %q %v", b.String(), err)
	}
	if err := Where(&b, "x", []realtime.Field{{Name: "mailbox", Value: "1"}}, find, cond); !errors.Is(err, realtime.ErrUnknownField) {
		t.Fatalf("unknown column: %v", err)
	}
	if err := Where(&b, "x", []realtime.Field{{Name: "name; DROP", Value: "1"}}, find, cond); err == nil || !strings.HasPrefix(err.Error(), "x: operator") {
		t.Fatalf("bad operator: %v", err)
	}
}

func TestCharWidth(t *testing.T) {
	for _, tc := range []struct {
		r    realtime.Requirement
		want int
	}{
		{realtime.Requirement{Type: realtime.TypeChar, Size: 40}, 40},
		{realtime.Requirement{Type: realtime.TypeChar}, 0},
		{realtime.Requirement{Type: realtime.TypeInteger, Size: 5}, 20},
		{realtime.Requirement{Type: realtime.TypeUnsignedInteger, Size: 30}, 30},
		{realtime.Requirement{Type: realtime.TypeFloat}, 32},
		{realtime.Requirement{Type: realtime.TypeDate}, 10},
		{realtime.Requirement{Type: realtime.TypeDateTime}, 19},
	} {
		if got := CharWidth(tc.r); got != tc.want {
			t.Errorf("CharWidth(%+v) = %d, want %d", tc.r, got, tc.want)
		}
	}
}
