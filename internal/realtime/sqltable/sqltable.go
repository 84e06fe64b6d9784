// Package sqltable is what the SQL realtime drivers (mysql, pgsql) share about a table: its
// columns found by name the way Asterisk's drivers find them (the exact spelling first, then
// ignoring case; of two columns whose names differ only in case, the first wins), the SELECT
// list of all of them, the WHERE clause of realtime lookup fields, and the width of a
// character column created for a requirement. How a condition is written (placeholders,
// casts, LIKE's escape character) and DDL syntax stay with each driver.
package sqltable

import (
	"fmt"
	"strings"

	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

// Columns indexes the columns of one table.
type Columns struct {
	byName map[string]int
	byFold map[string]int
	// Select is "SELECT <ident>, <ident>, ... FROM <table>", every column in table order.
	Select string
}

// New indexes columns names (idents: the same names quoted for SQL) of table (quoted).
func New(table string, names, idents []string) Columns {
	c := Columns{byName: make(map[string]int, len(names)), byFold: make(map[string]int, len(names))}
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
		sel.WriteString(idents[i])
	}
	sel.WriteString(" FROM ")
	sel.WriteString(table)
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

// Where appends " WHERE <cond> AND <cond> ..." for fields (nothing when there are none). A
// field's name may end in an operator (realtime.SplitOp); find resolves the column name (its
// error is returned as it is), and cond writes the condition for that column, operator and the
// field's value as stored (realtime.EncodeValue). driver names the driver in errors.
func Where(b *strings.Builder, driver string, fields []realtime.Field, find func(name string) (int, error), cond func(col int, op, value string)) error {
	for i, f := range fields {
		name, op, ok := realtime.SplitOp(f.Name)
		if !ok {
			return fmt.Errorf("%s: operator %q in field %q is not supported", driver, op, f.Name)
		}
		col, err := find(name)
		if err != nil {
			return err
		}
		if i == 0 {
			b.WriteString(" WHERE ")
		} else {
			b.WriteString(" AND ")
		}
		cond(col, op, realtime.EncodeValue(f.Value))
	}
	return nil
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
