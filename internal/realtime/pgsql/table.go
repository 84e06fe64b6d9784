package pgsql

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pleiades-pbx/pleiades/internal/realtime"
	"github.com/pleiades-pbx/pleiades/internal/realtime/sqltable"
)

// table is the cached column metadata of one table.
type table struct {
	name  string // as the caller spelled it
	ident string // quoted, possibly schema-qualified
	cols  []column
	shape sqltable.Shape
	sqltable.Columns
}

// textLead is the leading argument of every lookup: rows in text format (textResults).
var textLead = []any{textResults}

// Cols implements sqltable.Table.
func (t *table) Cols() *sqltable.Columns { return &t.Columns }

// Shape implements sqltable.Table: LIMIT 1, the text-format argument first, and LoadMulti
// ordered only with order_multi=yes (the metadata cache is dropped when settings change).
func (t *table) Shape() sqltable.Shape { return t.shape }

// column is one column of a table.
type column struct {
	name     string
	ident    string // quoted
	dataType string // information_schema data_type ("character varying", "integer", "USER-DEFINED")
	udt      string // quoted schema-qualified type name, for casts
	length   int    // character_maximum_length, 0 when none
	text     bool   // a character type: parameters need no cast
}

// quoteTable quotes a table name; "schema.table" names a table in another schema.
func quoteTable(name string) string {
	return pgx.Identifier(strings.Split(name, ".")).Sanitize()
}

// metadataSQL reads the columns of the table the name resolves to on this connection (the
// same search_path resolution the statements themselves get), from information_schema.
const metadataSQL = `SELECT c.column_name, c.data_type, c.udt_schema, c.udt_name,
       COALESCE(c.character_maximum_length, 0)
  FROM information_schema.columns c
  JOIN pg_catalog.pg_class r ON r.relname = c.table_name
  JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace AND n.nspname = c.table_schema
 WHERE r.oid = to_regclass($1)
 ORDER BY c.ordinal_position`

// table returns the cached metadata of tbl, reading it on first use.
func (d *Driver) table(ctx context.Context, db *database, tbl string) (*table, error) {
	key := db.name + "\x00" + tbl
	t, ok := d.tables.Lookup(key)
	if ok {
		return t, nil
	}
	if tbl == "" {
		return nil, fmt.Errorf("pgsql: empty table name")
	}
	t = &table{name: tbl, ident: quoteTable(tbl),
		shape: sqltable.Shape{Limit: " LIMIT 1", Lead: textLead, Unordered: !db.set.OrderMulti}}
	err := db.pool.with(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, metadataSQL, t.ident)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var col column
			var udtSchema, udtName string
			if err := rows.Scan(&col.name, &col.dataType, &udtSchema, &udtName, &col.length); err != nil {
				return err
			}
			col.ident = pgx.Identifier{col.name}.Sanitize()
			col.udt = pgx.Identifier{udtSchema, udtName}.Sanitize()
			switch col.dataType {
			case "character varying", "character", "text":
				col.text = true
			}
			t.cols = append(t.cols, col)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, d.fail(db, describe("read columns of", db.name, tbl), err)
	}
	if len(t.cols) == 0 {
		return nil, fmt.Errorf("pgsql: table %q not found in database %q", tbl, db.name)
	}
	names, idents := make([]string, len(t.cols)), make([]string, len(t.cols))
	for i, c := range t.cols {
		names[i], idents[i] = c.name, c.ident
	}
	t.Columns = sqltable.New("pgsql", tbl, t.ident, names, idents)
	return d.tables.Store(key, t), nil
}

// param writes placeholder n, cast to the column's type unless the column is textual: the
// value is always bound as text and PostgreSQL converts it exactly as it would a literal,
// so integer, enum (yes_no_values, ...), boolean and timestamp columns all take strings.
// The cast goes through text without a length, so an over-long value is an error, not
// silently cut.
func (c *column) param(b *strings.Builder, n int) {
	b.WriteByte('$')
	b.WriteString(strconv.Itoa(n))
	if !c.text {
		b.WriteString("::text::")
		b.WriteString(c.udt)
	}
}

// storeValue is the argument bound for a value written to c: ';' and '^' encoded, and an
// empty string written to a non-character column becomes NULL (reading leaves both out, and
// the empty string is not a valid integer or enum value).
func (c *column) storeValue(v string) any {
	if v == "" && !c.text {
		return nil
	}
	return realtime.EncodeValue(v)
}

// Cond implements sqltable.Dialect: "<col> <op> $n", cast as param casts it.
func (t *table) Cond(b *strings.Builder, col int, op string, n int) {
	c := &t.cols[col]
	b.WriteString(c.ident)
	if op == "LIKE" || op == "NOT LIKE" {
		// LIKE works on text: compare the column's text form, and make '\' the escape
		// character whatever standard_conforming_strings says (E'' is read the same way
		// in both settings), so that \_ and \% are literal.
		if !c.text {
			b.WriteString("::text")
		}
		b.WriteString(" " + op + " $" + strconv.Itoa(n) + ` ESCAPE E'\\'`)
		return
	}
	b.WriteString(" " + op + " ")
	c.param(b, n)
}

// Param implements sqltable.Dialect.
func (t *table) Param(b *strings.Builder, col, n int) { t.cols[col].param(b, n) }

// Value implements sqltable.Dialect.
func (t *table) Value(col int, v string) any { return t.cols[col].storeValue(v) }

// Require implements realtime.Driver. With requirements=warn a missing column is logged and
// reported as an error wrapping realtime.ErrUnknownField (the table is not changed); a column
// too narrow or of an unsuitable type is only logged. With createclose a missing column is
// added with the closest type (VARCHAR(n), INTEGER/BIGINT, DOUBLE PRECISION, DATE, TIMESTAMP)
// and a too-narrow character column is widened; with createchar every added column is
// VARCHAR wide enough for the value.
func (d *Driver) Require(ctx context.Context, dbArg, tbl string, reqs []realtime.Requirement) error {
	db, err := d.use(dbArg)
	if err != nil {
		return err
	}
	return sqltable.Require(ctx, d.log, "pgsql", db, tbl, "database "+strconv.Quote(db.name), db.set.Requirements, reqs)
}

var _ sqltable.Schema[*table] = (*database)(nil)

// AddColumn implements sqltable.Schema.
func (db *database) AddColumn(t *table, r realtime.Requirement, policy string) string {
	return "ALTER TABLE " + t.ident + " ADD COLUMN " + pgx.Identifier{r.Name}.Sanitize() + " " + columnType(r, policy)
}

// Check implements sqltable.Schema: a character column narrower than required is widened, or
// with requirements=warn reported; a column whose type does not fit is reported.
func (db *database) Check(t *table, i int, r realtime.Requirement, policy string) string {
	c := &t.cols[i]
	switch {
	case r.Type == realtime.TypeChar && c.text && c.length > 0 && r.Size > c.length:
		if policy == RequireWarn {
			db.drv.log.Warn("column is narrower than required", "table", t.name, "column", c.name, "length", c.length, "required", r.Size)
			return ""
		}
		return "ALTER TABLE " + t.ident + " ALTER COLUMN " + c.ident + " TYPE VARCHAR(" + strconv.Itoa(r.Size) + ")"
	case !typeFits(r, c):
		db.drv.log.Warn("column type does not fit the requirement", "table", t.name, "column", c.name, "type", c.dataType, "required", columnType(r, RequireCreateClose))
	}
	return ""
}

// Alter implements sqltable.Schema.
func (db *database) Alter(ctx context.Context, t *table, stmt string) error {
	_, err := db.drv.exec(ctx, db, describe("alter", db.name, t.name), stmt, nil)
	return err
}

// Forget implements sqltable.Schema.
func (db *database) Forget(tbl string) {
	db.drv.tables.Forget(db.name + "\x00" + tbl)
}

// columnType is the type a missing column is created with.
func columnType(r realtime.Requirement, policy string) string {
	if policy == RequireCreateChar || r.Type == realtime.TypeChar {
		width := sqltable.CharWidth(r)
		if width == 0 {
			return "TEXT"
		}
		return "VARCHAR(" + strconv.Itoa(width) + ")"
	}
	switch r.Type {
	case realtime.TypeInteger, realtime.TypeUnsignedInteger:
		if r.Size > 9 {
			return "BIGINT"
		}
		return "INTEGER"
	case realtime.TypeFloat:
		return "DOUBLE PRECISION"
	case realtime.TypeDate:
		return "DATE"
	default:
		return "TIMESTAMP"
	}
}

// typeFits reports whether an existing column can hold what r describes.
func typeFits(r realtime.Requirement, c *column) bool {
	if c.text {
		return c.length == 0 || r.Size <= c.length
	}
	switch r.Type {
	case realtime.TypeChar:
		return true // stored through a cast; the consumer decides
	case realtime.TypeInteger, realtime.TypeUnsignedInteger:
		switch c.dataType {
		case "smallint", "integer", "bigint", "numeric":
			return true
		}
	case realtime.TypeFloat:
		switch c.dataType {
		case "smallint", "integer", "bigint", "numeric", "real", "double precision":
			return true
		}
	case realtime.TypeDate, realtime.TypeDateTime:
		return strings.HasPrefix(c.dataType, "date") || strings.HasPrefix(c.dataType, "timestamp")
	}
	return false
}
