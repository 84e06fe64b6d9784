package sqltable

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

var names = []string{"name", "Name", "ipaddr", "IPADDR2", "port"}

func idents() []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = `"` + n + `"`
	}
	return out
}

func TestFind(t *testing.T) {
	c := New("x", "t", `"t"`, names, idents())
	if c.Select != `SELECT "name", "Name", "ipaddr", "IPADDR2", "port" FROM "t"` {
		t.Fatalf("select %q", c.Select)
	}
	for _, tc := range []struct {
		name string
		want int
		ok   bool
	}{
		{"name", 0, true}, {"Name", 1, true}, {"NAME", 0, true}, // exact spelling first, then the first folded
		{"IPAddr", 2, true}, {"ipaddr2", 3, true}, {"regseconds", 0, false},
	} {
		if i, ok := c.Find(tc.name); ok != tc.ok || (ok && i != tc.want) {
			t.Errorf("Find(%q) = %d, %v; want %d, %v", tc.name, i, ok, tc.want, tc.ok)
		}
	}
	if _, err := c.Index("regseconds"); !errors.Is(err, realtime.ErrUnknownField) || err.Error() != `x: realtime: unknown field: "regseconds" is not a column of table "t"` {
		t.Fatalf("Index: %v", err)
	}
}

// dollar is a dialect with numbered placeholders, a cast for column 4 (port) and its own
// argument form.
type dollar struct{}

func (dollar) Cond(b *strings.Builder, col int, op string, n int) {
	b.WriteString(names[col] + " " + op + " $" + strconv.Itoa(n))
}
func (dollar) Param(b *strings.Builder, col int, n int) {
	b.WriteString("$" + strconv.Itoa(n))
	if col == 4 {
		b.WriteString("::int")
	}
}
func (dollar) Value(col int, v string) any { return "v:" + v }

func TestStatements(t *testing.T) {
	c := New("x", "t", "t", names, names)
	var d dollar
	var b strings.Builder
	args := []any{"option"}
	if err := c.Where(&b, &args, 1, []realtime.Field{{Name: "name LIKE", Value: "a;b%"}, {Name: "port >", Value: "5060"}}, d); err != nil {
		t.Fatal(err)
	}
	if b.String() != " WHERE name LIKE $1 AND port > $2" || len(args) != 3 || args[1] != realtime.EncodeValue("a;b%") || args[2] != "5060" {
		t.Fatalf("where %q %q", b.String(), args)
	}
	q, a, err := c.Update(d, []realtime.Field{{Name: "name", Value: "alice"}}, []realtime.Field{{Name: "ipaddr", Value: "10.0.0.1"}, {Name: "PORT", Value: "5062"}})
	if err != nil || q != "UPDATE t SET ipaddr = $1, port = $2::int WHERE name = $3" || len(a) != 3 || a[0] != "v:10.0.0.1" || a[2] != "alice" {
		t.Fatalf("update %q %q %v", q, a, err)
	}
	q, a, err = c.Insert(d, []realtime.Field{{Name: "name", Value: "bob"}, {Name: "port", Value: "5060"}})
	if err != nil || q != "INSERT INTO t (name, port) VALUES ($1, $2::int)" || len(a) != 2 || a[1] != "v:5060" {
		t.Fatalf("insert %q %q %v", q, a, err)
	}
	q, a, err = c.Delete(d, []realtime.Field{{Name: "name", Value: "bob"}, {Name: "port !=", Value: "1"}})
	if err != nil || q != "DELETE FROM t WHERE name = $1 AND port != $2" || len(a) != 2 {
		t.Fatalf("delete %q %q %v", q, a, err)
	}
	if _, _, err := c.Update(d, []realtime.Field{{Name: "name", Value: "x"}}, []realtime.Field{{Name: "mailbox", Value: "1"}}); !errors.Is(err, realtime.ErrUnknownField) {
		t.Fatalf("unknown column in SET: %v", err)
	}
	if _, _, err := c.Delete(d, []realtime.Field{{Name: "name; DROP", Value: "1"}}); err == nil || !strings.HasPrefix(err.Error(), "x: operator") {
		t.Fatalf("bad operator: %v", err)
	}
	b.Reset()
	if err := c.Where(&b, &args, 0, nil, d); err != nil || b.Len() != 0 {
		t.Fatalf("no fields: %q %v", b.String(), err)
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
