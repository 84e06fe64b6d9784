package sqltable

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/pleiades-pbx/pleiades/internal/realtime"
	"github.com/pleiades-pbx/pleiades/internal/realtime/sqlpool"
)

// fakeTable writes "?" placeholders, binds column 4 (port) empty as the literal NULL, and has
// the shape it is given.
type fakeTable struct {
	Columns
	shape Shape
}

func (t *fakeTable) Cols() *Columns { return &t.Columns }
func (t *fakeTable) Shape() Shape   { return t.shape }
func (t *fakeTable) Cond(b *strings.Builder, col int, op string, _ int) {
	b.WriteString(t.Ident(col) + " " + op + " ?")
}
func (t *fakeTable) Param(b *strings.Builder, _, _ int) { b.WriteByte('?') }
func (t *fakeTable) Value(col int, v string) any {
	if col == 4 && v == "" {
		return Null
	}
	return v
}

// fakeConn records the statements the sequence sends.
type fakeConn struct {
	t    *fakeTable
	rows []realtime.Row
	q    string
	args []any
	op   string
	one  bool
}

func (c *fakeConn) Table(_ context.Context, name string) (*fakeTable, error) {
	if name != "t" {
		return nil, errors.New("no table " + name)
	}
	return c.t, nil
}

func (c *fakeConn) Select(_ context.Context, _ *fakeTable, q string, args []any, one bool) ([]realtime.Row, error) {
	c.q, c.args, c.one = q, slices.Clone(args), one
	return c.rows, nil
}

func (c *fakeConn) Exec(_ context.Context, _ *fakeTable, op, q string, args []any) (int64, error) {
	c.q, c.args, c.op = q, args, op
	return 1, nil
}

func TestSequence(t *testing.T) {
	ctx := context.Background()
	c := &fakeConn{t: &fakeTable{Columns: New("x", "t", "t", names, names), shape: Shape{Limit: " LIMIT 1"}}}
	if _, err := Load(ctx, "x", c, "t", []realtime.Field{{Name: "name", Value: "a"}}); !errors.Is(err, realtime.ErrNotFound) {
		t.Fatalf("no rows: %v", err)
	}
	if c.q != "SELECT name, Name, ipaddr, IPADDR2, port FROM t WHERE name = ? LIMIT 1" || !c.one || len(c.args) != 1 {
		t.Fatalf("load %q %v %v", c.q, c.args, c.one)
	}
	rows, err := LoadMulti(ctx, "x", c, "t", []realtime.Field{{Name: "ipaddr LIKE", Value: "10.%"}, {Name: "port >", Value: "1"}})
	if err != nil || rows == nil || len(rows) != 0 {
		t.Fatalf("multi: %v %v", rows, err)
	}
	if c.q != "SELECT name, Name, ipaddr, IPADDR2, port FROM t WHERE ipaddr LIKE ? AND port > ? ORDER BY ipaddr" || c.one {
		t.Fatalf("multi %q", c.q)
	}
	// Lead arguments come first and are not parameters; Unordered drops the ORDER BY; no
	// LIMIT clause leaves the row limit to Select.
	c.t.shape = Shape{Lead: []any{"fmt"}, Unordered: true}
	c.rows = []realtime.Row{{{Name: "name", Value: "a"}}}
	if r, err := Load(ctx, "x", c, "t", []realtime.Field{{Name: "name", Value: "a"}}); err != nil || len(r) != 1 {
		t.Fatalf("load: %v %v", r, err)
	}
	if c.q != "SELECT name, Name, ipaddr, IPADDR2, port FROM t WHERE name = ?" || len(c.args) != 2 || c.args[0] != "fmt" {
		t.Fatalf("lead %q %v", c.q, c.args)
	}
	if _, err := LoadMulti(ctx, "x", c, "t", []realtime.Field{{Name: "name", Value: "a"}}); err != nil || strings.Contains(c.q, "ORDER BY") {
		t.Fatalf("unordered %q %v", c.q, err)
	}
	if _, err := Load(ctx, "x", c, "t", nil); err == nil {
		t.Fatal("load without fields")
	}

	// Writes: the literal NULL takes no argument; an operator where a value is written is an
	// unknown field.
	if _, err := Update(ctx, "x", c, "t", []realtime.Field{{Name: "name", Value: "a"}}, []realtime.Field{{Name: "port", Value: ""}, {Name: " ipaddr ", Value: "1"}}); err != nil ||
		c.q != "UPDATE t SET port = NULL, ipaddr = ? WHERE name = ?" || len(c.args) != 2 || c.op != "update" {
		t.Fatalf("update %q %v %q %v", c.q, c.args, c.op, err)
	}
	if _, err := Store(ctx, "x", c, "t", []realtime.Field{{Name: "name", Value: "a"}, {Name: "port", Value: ""}}); err != nil ||
		c.q != "INSERT INTO t (name, port) VALUES (?, NULL)" || len(c.args) != 1 || c.op != "store into" {
		t.Fatalf("store %q %v %v", c.q, c.args, err)
	}
	if _, err := Store(ctx, "x", c, "t", []realtime.Field{{Name: "port >", Value: "1"}}); !errors.Is(err, realtime.ErrUnknownField) {
		t.Fatalf("store with an operator: %v", err)
	}
	if _, err := Destroy(ctx, c, "t", "name", "a", []realtime.Field{{Name: "port !=", Value: "1"}}); err != nil ||
		c.q != "DELETE FROM t WHERE name = ? AND port != ?" || c.op != "destroy in" {
		t.Fatalf("destroy %q %v", c.q, err)
	}
	if _, err := Update(ctx, "x", c, "nosuch", []realtime.Field{{Name: "name", Value: "a"}}, []realtime.Field{{Name: "port", Value: "1"}}); err == nil {
		t.Fatal("update of a missing table")
	}
}

// fakeSchema adds columns as "ADD <name>" and widens a column named by a requirement of size 99.
type fakeSchema struct {
	fakeConn
	altered   []string
	forgotten string
}

func (c *fakeSchema) AddColumn(_ *fakeTable, r realtime.Requirement, policy string) string {
	return "ADD " + r.Name + " " + policy
}

func (c *fakeSchema) Check(t *fakeTable, col int, r realtime.Requirement, _ string) string {
	if r.Size == 99 {
		return "WIDEN " + t.Name(col)
	}
	return ""
}

func (c *fakeSchema) Alter(_ context.Context, _ *fakeTable, stmt string) error {
	c.altered = append(c.altered, stmt)
	return nil
}

func (c *fakeSchema) Forget(table string) { c.forgotten = table }

func TestRequire(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	c := &fakeSchema{fakeConn: fakeConn{t: &fakeTable{Columns: New("x", "t", "t", names, names)}}}
	reqs := []realtime.Requirement{{Name: "name", Size: 99}, {Name: "mailbox"}, {Name: "PORT"}, {Name: "regseconds"}}
	err := Require(ctx, log, "x", c, "t", "[s]", sqlpool.RequireWarn, reqs)
	if !errors.Is(err, realtime.ErrUnknownField) || !strings.Contains(err.Error(), "mailbox, regseconds") || len(c.altered) != 0 || c.forgotten != "" {
		t.Fatalf("warn: %v %v %q", err, c.altered, c.forgotten)
	}
	if err := Require(ctx, log, "x", c, "t", "[s]", sqlpool.RequireCreateClose, reqs); err != nil ||
		strings.Join(c.altered, "; ") != "WIDEN name; ADD mailbox createclose; ADD regseconds createclose" || c.forgotten != "t" {
		t.Fatalf("createclose: %v %v %q", err, c.altered, c.forgotten)
	}
	c.altered, c.forgotten = nil, ""
	if err := Require(ctx, log, "x", c, "t", "[s]", sqlpool.RequireCreateChar, reqs[2:3]); err != nil || len(c.altered) != 0 || c.forgotten != "" {
		t.Fatalf("nothing to do: %v %v %q", err, c.altered, c.forgotten)
	}
}
