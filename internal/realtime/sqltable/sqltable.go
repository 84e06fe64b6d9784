// Package sqltable is the SQL core the four SQL realtime drivers (sqlite3, pgsql, mysql, odbc)
// share about a table: its columns found by name the way Asterisk's drivers find them (the
// exact spelling first, then ignoring case; of two columns whose names differ only in case, the
// first wins), the SELECT list of all of them, the WHERE clause of realtime lookup fields, the
// UPDATE/INSERT/DELETE statements, the load/update/store/destroy sequence (ops.go), the
// requirements= policy (require.go), the cache of what was read of a table (Tables) and the
// width of a character column created for a requirement.
//
// What differs between databases stays with each driver behind two small interfaces: Dialect
// (placeholder style, identifier quoting, casts, LIKE's escape clause, how an empty value is
// written, a row limit), Table and Conn (reading a table's column metadata, running a
// statement and scanning its rows) and Schema (type mapping for DDL, what is checked of an
// existing column).
//
// Choices where the issue was silent: a column is found the way Asterisk's drivers find it
// (above) for all four drivers, so odbc, which matched case-insensitively only, now prefers the
// exact spelling; a field with an operator where a value is written (SET, INSERT) is an unknown
// field; a lookup that matches nothing is realtime.ErrNotFound naming the table, and LoadMulti
// returns an empty, non-nil slice. The sequence allocates no more per lookup than the drivers
// did on their own (pooled builder and argument list).
package sqltable

import (
	"fmt"
	"strings"

	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

// Columns indexes the columns of one table and builds its statements.
type Columns struct {
	driver string   // for errors: "mysql", "pgsql"
	table  string   // as the caller spelled it
	ident  string   // quoted
	names  []string // column names as the database spells them, in table order
	idents []string // quoted column names, in table order
	byName map[string]int
	byFold map[string]int
	// Select is "SELECT <ident>, <ident>, ... FROM <table>", every column in table order.
	Select string
}

// Dialect is how a driver writes what differs between databases. Columns are given by index,
// placeholders by argument number (1-based, after any leading arguments that are not
// parameters).
type Dialect interface {
	// Cond writes the condition "<column> <op> <placeholder n>", with any cast and LIKE's
	// escape clause.
	Cond(b *strings.Builder, col int, op string, n int)
	// Param writes the placeholder of argument n, a value for column col.
	Param(b *strings.Builder, col int, n int)
	// Value is the argument bound for value written to column col, or Null for the literal
	// NULL written in place of a placeholder (no argument is bound then).
	Value(col int, value string) any
}

// Null is what Dialect.Value returns for a value written as the literal NULL rather than bound
// (the odbc driver: some ODBC drivers refuse a NULL parameter of unknown type).
var Null any = nullLiteral{}

type nullLiteral struct{}

// New indexes columns names (idents: the same names quoted for SQL) of table (tableIdent:
// quoted) for driver.
func New(driver, table, tableIdent string, names, idents []string) Columns {
	return NewSelect(driver, table, tableIdent, names, idents, idents)
}

// NewSelect is New with the SELECT list's expression of each column given (selects[i] reads
// column i, e.g. a cast of a date column to text).
func NewSelect(driver, table, tableIdent string, names, idents, selects []string) Columns {
	c := Columns{names: names, driver: driver, table: table, ident: tableIdent, idents: idents,
		byName: make(map[string]int, len(names)), byFold: make(map[string]int, len(names))}
	var sel strings.Builder
	sel.WriteString("SELECT ")
	for i, n := range names {
		if _, dup := c.byName[n]; !dup {
			c.byName[n] = i
		}
		if _, dup := c.byFold[strings.ToLower(n)]; !dup {
			c.byFold[strings.ToLower(n)] = i
		}
		if i > 0 {
			sel.WriteString(", ")
		}
		sel.WriteString(selects[i])
	}
	sel.WriteString(" FROM ")
	sel.WriteString(tableIdent)
	c.Select = sel.String()
	return c
}

// Find returns the index of the column name refers to.
func (c *Columns) Find(name string) (int, bool) {
	if i, ok := c.byName[name]; ok {
		return i, true
	}
	i, ok := c.byFold[strings.ToLower(name)]
	return i, ok
}

// Name is the name of column i as the database spells it.
func (c *Columns) Name(i int) string { return c.names[i] }

// Ident is the quoted name of column i.
func (c *Columns) Ident(i int) string { return c.idents[i] }

// Len is the number of columns.
func (c *Columns) Len() int { return len(c.names) }

// Table is the table's name as the caller spelled it.
func (c *Columns) Table() string { return c.table }

// TableIdent is the table's name as written in SQL.
func (c *Columns) TableIdent() string { return c.ident }

// Index is Find with an error wrapping realtime.ErrUnknownField.
func (c *Columns) Index(name string) (int, error) {
	if i, ok := c.Find(name); ok {
		return i, nil
	}
	return 0, fmt.Errorf("%s: %w: %q is not a column of table %q", c.driver, realtime.ErrUnknownField, name, c.table)
}

// Where appends " WHERE <cond> AND <cond> ..." for fields (nothing when there are none) and
// their values as stored (realtime.EncodeValue) to args; placeholder numbers start after the
// first skip arguments. A field's name may end in an operator (realtime.SplitOp).
func (c *Columns) Where(b *strings.Builder, args *[]any, skip int, fields []realtime.Field, d Dialect) error {
	for i, f := range fields {
		name, op, ok := realtime.SplitOp(f.Name)
		if !ok {
			return fmt.Errorf("%s: operator %q in field %q is not supported", c.driver, op, f.Name)
		}
		col, err := c.Index(name)
		if err != nil {
			return err
		}
		if i == 0 {
			b.WriteString(" WHERE ")
		} else {
			b.WriteString(" AND ")
		}
		*args = append(*args, realtime.EncodeValue(f.Value))
		d.Cond(b, col, op, len(*args)-skip)
	}
	return nil
}

// target is the column a value is written to: a column name with no operator (white space
// around it is ignored).
func (c *Columns) target(name string) (int, error) {
	n := strings.TrimSpace(name)
	if strings.ContainsAny(n, " \t") {
		return 0, fmt.Errorf("%s: %w: %q: an operator is not allowed where a value is written", c.driver, realtime.ErrUnknownField, name)
	}
	return c.Index(n)
}

// param writes the placeholder of value for column col and appends its argument, or writes
// NULL when the dialect says so.
func (c *Columns) param(b *strings.Builder, args *[]any, d Dialect, col int, value string) {
	v := d.Value(col, value)
	if v == Null {
		b.WriteString("NULL")
		return
	}
	*args = append(*args, v)
	d.Param(b, col, len(*args))
}

// Update is "UPDATE <table> SET <col> = <param>, ... WHERE ..." and its arguments.
func (c *Columns) Update(d Dialect, lookup, update []realtime.Field) (string, []any, error) {
	args := make([]any, 0, len(lookup)+len(update))
	var b strings.Builder
	b.WriteString("UPDATE ")
	b.WriteString(c.ident)
	b.WriteString(" SET ")
	for i, f := range update {
		col, err := c.target(f.Name)
		if err != nil {
			return "", nil, err
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c.idents[col])
		b.WriteString(" = ")
		c.param(&b, &args, d, col, f.Value)
	}
	if err := c.Where(&b, &args, 0, lookup, d); err != nil {
		return "", nil, err
	}
	return b.String(), args, nil
}

// Insert is "INSERT INTO <table> (<col>, ...) VALUES (<param>, ...)" and its arguments.
func (c *Columns) Insert(d Dialect, fields []realtime.Field) (string, []any, error) {
	args := make([]any, 0, len(fields))
	var cols, vals strings.Builder
	for i, f := range fields {
		col, err := c.target(f.Name)
		if err != nil {
			return "", nil, err
		}
		if i > 0 {
			cols.WriteString(", ")
			vals.WriteString(", ")
		}
		cols.WriteString(c.idents[col])
		c.param(&vals, &args, d, col, f.Value)
	}
	return "INSERT INTO " + c.ident + " (" + cols.String() + ") VALUES (" + vals.String() + ")", args, nil
}

// Delete is "DELETE FROM <table> WHERE ..." and its arguments.
func (c *Columns) Delete(d Dialect, lookup []realtime.Field) (string, []any, error) {
	var args []any
	var b strings.Builder
	b.WriteString("DELETE FROM ")
	b.WriteString(c.ident)
	if err := c.Where(&b, &args, 0, lookup, d); err != nil {
		return "", nil, err
	}
	return b.String(), args, nil
}

// CharWidth is the width of a character column that holds what r describes: r's size, at least
// the length of the text form of a number (20), a float (32), a date (10) or a date and time
// (19); 0 when r gives no size for character data.
func CharWidth(r realtime.Requirement) int {
	width := r.Size
	switch r.Type {
	case realtime.TypeInteger, realtime.TypeUnsignedInteger:
		width = max(width, 20)
	case realtime.TypeFloat:
		width = max(width, 32)
	case realtime.TypeDate:
		width = max(width, 10)
	case realtime.TypeDateTime:
		width = max(width, 19)
	}
	return max(width, 0)
}
