package mysql

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/pleiades-pbx/pleiades/internal/realtime"
	"github.com/pleiades-pbx/pleiades/internal/realtime/sqltable"
)

type table struct {
	name  string
	ident string
	cols  []column
	sqltable.Columns
}

type column struct {
	name     string
	ident    string
	dataType string // information_schema DATA_TYPE: varchar, int, enum, ...
	colType  string // COLUMN_TYPE: varchar(40), enum('yes','no'), int(11) unsigned
	length   int
	text     bool
}

// quoteIdent quotes one identifier with backticks.
func quoteIdent(s string) string {
	return "`" + strings.ReplaceAll(s, "`", "``") + "`"
}

// quoteTable quotes a table name; "db.table" names a table in another database.
func quoteTable(name string) string {
	parts := strings.Split(name, ".")
	for i, p := range parts {
		parts[i] = quoteIdent(p)
	}
	return strings.Join(parts, ".")
}

const metadataSQL = "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, COALESCE(CHARACTER_MAXIMUM_LENGTH, 0) " +
	"FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? " +
	"ORDER BY ORDINAL_POSITION"

func (d *Driver) table(ctx context.Context, c *conn, tbl string) (*table, error) {
	key := c.sec.Name + "\x00" + tbl
	t, ok := d.tables.Lookup(key)
	if ok {
		return t, nil
	}
	if tbl == "" {
		return nil, fmt.Errorf("mysql: empty table name")
	}
	t = &table{name: tbl, ident: quoteTable(tbl)}
	var schema any
	name := tbl
	if s, n, ok := strings.Cut(tbl, "."); ok {
		schema, name = s, n
	}
	what := describe("read columns of", c.sec.Name, tbl)
	rows, err := c.db.QueryContext(ctx, metadataSQL, schema, name)
	if err != nil {
		return nil, d.fail(c, what, err)
	}
	defer rows.Close()
	for rows.Next() {
		var col column
		var length int64
		if err := rows.Scan(&col.name, &col.dataType, &col.colType, &length); err != nil {
			return nil, d.fail(c, what, err)
		}
		col.length = int(length)
		col.ident = quoteIdent(col.name)
		switch strings.ToLower(col.dataType) {
		case "char", "varchar", "tinytext", "text", "mediumtext", "longtext":
			col.text = true
		}
		t.cols = append(t.cols, col)
	}
	if err := rows.Err(); err != nil {
		return nil, d.fail(c, what, err)
	}
	c.ok()
	if len(t.cols) == 0 {
		return nil, fmt.Errorf("mysql: table %q not found in database %q ([%s])", tbl, c.sec.DBName, c.sec.Name)
	}
	names, idents := make([]string, len(t.cols)), make([]string, len(t.cols))
	for i, col := range t.cols {
		names[i], idents[i] = col.name, col.ident
	}
	t.Columns = sqltable.New("mysql", tbl, t.ident, names, idents) // MySQL column names are case-insensitive
	return d.tables.Store(key, t), nil
}

// storeValue: ';' and '^' encoded; an empty string for a non-character column (integer,
// enum, date) becomes NULL, which strict mode would otherwise refuse.
func (c *column) storeValue(v string) any {
	if v == "" && !c.text {
		return nil
	}
	return realtime.EncodeValue(v)
}

// Cond implements sqltable.Dialect: "<col> <op> ?". LIKE's escape character is written
// CHAR(92) (a backslash): '\\' would be read as two characters under sql_mode
// NO_BACKSLASH_ESCAPES and MariaDB would refuse it, while CHAR(92) is one backslash in every
// mode.
func (t *table) Cond(b *strings.Builder, col int, op string, _ int) {
	b.WriteString(t.cols[col].ident)
	b.WriteString(" " + op + " ?")
	if op == "LIKE" || op == "NOT LIKE" {
		b.WriteString(" ESCAPE CHAR(92)")
	}
}

// Cols implements sqltable.Table.
func (t *table) Cols() *sqltable.Columns { return &t.Columns }

// Shape implements sqltable.Table.
func (t *table) Shape() sqltable.Shape { return sqltable.Shape{Limit: " LIMIT 1"} }

// Param implements sqltable.Dialect.
func (t *table) Param(b *strings.Builder, _, _ int) { b.WriteByte('?') }

// Value implements sqltable.Dialect.
func (t *table) Value(col int, v string) any { return t.cols[col].storeValue(v) }

// Require implements realtime.Driver; see the package documentation for the policies.
func (d *Driver) Require(ctx context.Context, dbArg, tbl string, reqs []realtime.Requirement) error {
	c, err := d.conn(dbArg, true)
	if err != nil {
		return err
	}
	return sqltable.Require(ctx, d.log, "mysql", c, tbl, "["+c.sec.Name+"]", c.sec.Requirements, reqs)
}

var _ sqltable.Schema[*table] = (*conn)(nil)

// AddColumn implements sqltable.Schema.
func (c *conn) AddColumn(t *table, r realtime.Requirement, policy string) string {
	return "ALTER TABLE " + t.ident + " ADD COLUMN " + quoteIdent(r.Name) + " " + columnType(r, policy)
}

// Check implements sqltable.Schema: a character column narrower than required is widened
// (MODIFY), or with requirements=warn reported.
func (c *conn) Check(t *table, i int, r realtime.Requirement, policy string) string {
	col := &t.cols[i]
	if r.Type != realtime.TypeChar || !col.text || col.length == 0 || r.Size <= col.length {
		return ""
	}
	if policy == RequireWarn {
		c.drv.log.Warn("column is narrower than required", "table", t.name, "column", col.name, "length", col.length, "required", r.Size)
		return ""
	}
	return "ALTER TABLE " + t.ident + " MODIFY " + col.ident + " VARCHAR(" + strconv.Itoa(r.Size) + ")"
}

// Alter implements sqltable.Schema.
func (c *conn) Alter(ctx context.Context, t *table, stmt string) error {
	if _, err := c.db.ExecContext(ctx, stmt); err != nil {
		return c.drv.fail(c, describe("alter", c.sec.Name, t.name), err)
	}
	return nil
}

// Forget implements sqltable.Schema.
func (c *conn) Forget(tbl string) { _ = c.drv.Unload(context.Background(), c.sec.Name, tbl) }

func columnType(r realtime.Requirement, policy string) string {
	if policy == RequireCreateChar || r.Type == realtime.TypeChar {
		width := sqltable.CharWidth(r)
		if width == 0 {
			width = 255
		}
		return "VARCHAR(" + strconv.Itoa(width) + ")"
	}
	switch r.Type {
	case realtime.TypeInteger:
		if r.Size > 9 {
			return "BIGINT"
		}
		return "INT"
	case realtime.TypeUnsignedInteger:
		if r.Size > 9 {
			return "BIGINT UNSIGNED"
		}
		return "INT UNSIGNED"
	case realtime.TypeFloat:
		return "DOUBLE"
	case realtime.TypeDate:
		return "DATE"
	default:
		return "DATETIME"
	}
}
