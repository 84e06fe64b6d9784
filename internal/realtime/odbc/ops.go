package odbc

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/realtime"
	"github.com/pleiades-pbx/pleiades/internal/realtime/sqlpool"
	"github.com/pleiades-pbx/pleiades/internal/realtime/sqltable"
)

// column is one column of a table, as read once and cached.
type column struct {
	name     string // as the database spells it
	dataType string // lower-cased information_schema data_type; "" when unknown
	length   int    // character_maximum_length; 0 when unknown or not a string
	nullable bool
}

// text reports whether the column holds character data (or its type is unknown).
func (c *column) text() bool {
	t := c.dataType
	return t == "" || strings.Contains(t, "char") || strings.Contains(t, "text") ||
		strings.Contains(t, "clob") || strings.Contains(t, "string")
}

// tableMeta is the cached column metadata of one table, and its sqltable.Dialect: the dialect
// learnt on the connection's first connect.
type tableMeta struct {
	sqltable.Columns
	ref  string // the table as written in SQL
	cols []column
	dia  *dialect
}

var _ sqltable.Table = (*tableMeta)(nil)

// newTableMeta indexes the columns cols of table (ref: as written in SQL) for dialect d.
func newTableMeta(d *dialect, table, ref string, cols []column) *tableMeta {
	t := &tableMeta{ref: ref, cols: cols, dia: d}
	names, idents := make([]string, len(cols)), make([]string, len(cols))
	for i, c := range cols {
		names[i], idents[i] = c.name, d.quoteIdent(c.name)
	}
	t.Columns = sqltable.New("odbc", table, ref, names, idents)
	// Lookups read "SELECT *" and name each value by the column the result says it is: the
	// statement stays short (the ODBC driver converts it on every call; nothing is prepared)
	// and a column added behind the cache's back is read too.
	t.Select = "SELECT * FROM " + ref
	return t
}

// column finds a column the way sqltable does (exact spelling, then ignoring case).
func (t *tableMeta) column(name string) *column {
	if i, ok := t.Find(strings.TrimSpace(name)); ok {
		return &t.cols[i]
	}
	return nil
}

// Cols implements sqltable.Table.
func (t *tableMeta) Cols() *sqltable.Columns { return &t.Columns }

// Shape implements sqltable.Table: LIMIT is not standard SQL, so no clause; Select reads the
// first row only.
func (t *tableMeta) Shape() sqltable.Shape { return sqltable.Shape{} }

// Cond implements sqltable.Dialect: "col op ?" with the standard "<>" for "!=", and after LIKE
// an ESCAPE clause naming the backslash in the database's literal syntax.
func (t *tableMeta) Cond(b *strings.Builder, col int, op string, _ int) {
	if op == "!=" {
		op = "<>"
	}
	b.WriteString(t.Ident(col))
	b.WriteByte(' ')
	b.WriteString(op)
	b.WriteString(" ?")
	if strings.HasSuffix(op, "LIKE") {
		b.WriteString(t.dia.escapeClause())
	}
}

// Param implements sqltable.Dialect.
func (t *tableMeta) Param(b *strings.Builder, _, _ int) { b.WriteByte('?') }

// Value implements sqltable.Dialect. An empty value for a nullable non-character column is
// written as the literal NULL (Asterisk does the same: an empty string is not a number or a
// date).
func (t *tableMeta) Value(col int, v string) any {
	if cl := &t.cols[col]; v == "" && cl.nullable && !cl.text() {
		return sqltable.Null
	}
	return realtime.EncodeValue(v)
}

// ensureDialect makes sure one connection was made, so that the dialect is known.
func (c *conn) ensureDialect(ctx context.Context) (*dialect, error) {
	if d := c.dialect.Load(); d != nil {
		return d, nil
	}
	sc, err := c.db.Conn(ctx)
	if err != nil {
		return nil, c.wrapErr("connect", err)
	}
	sc.Close()
	if d := c.dialect.Load(); d != nil {
		return d, nil
	}
	return nil, c.unavailable("no connection")
}

// tableRef writes a table name for SQL: each dot-separated part is used as it is when it is a
// plain identifier (so that the database folds its case as usual) and quoted otherwise.
func tableRef(d *dialect, table string) (string, error) {
	if strings.TrimSpace(table) == "" {
		return "", errors.New("odbc: empty table name")
	}
	parts := strings.Split(table, ".")
	for i, p := range parts {
		if !plainIdent(p) {
			parts[i] = d.quoteIdent(p)
		}
	}
	return strings.Join(parts, "."), nil
}

func plainIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9' {
			continue
		}
		return false
	}
	return true
}

// table returns the cached metadata of table, reading it on first use.
func (c *conn) table(ctx context.Context, table string) (*dialect, *tableMeta, error) {
	d, err := c.ensureDialect(ctx)
	if err != nil {
		return nil, nil, err
	}
	key := strings.ToLower(table)
	c.metaMu.Lock()
	t := c.meta[key]
	c.metaMu.Unlock()
	if t != nil {
		return d, t, nil
	}
	t, err = c.readMeta(ctx, d, table)
	if err != nil {
		return nil, nil, err
	}
	c.metaMu.Lock()
	if have := c.meta[key]; have != nil {
		t = have
	} else {
		c.meta[key] = t
	}
	c.metaMu.Unlock()
	return d, t, nil
}

// readMeta reads the columns of table: names and order from "SELECT * ... WHERE 1=0", types,
// lengths and nullability from information_schema where the database has it.
func (c *conn) readMeta(ctx context.Context, d *dialect, table string) (*tableMeta, error) {
	ref, err := tableRef(d, table)
	if err != nil {
		return nil, err
	}
	q := "SELECT * FROM " + ref + " WHERE 1=0"
	start := time.Now()
	rows, err := c.db.QueryContext(ctx, q)
	c.observe(q, start, err)
	if err != nil {
		return nil, c.wrapErr(fmt.Sprintf("table %q", table), err)
	}
	names, err := rows.Columns()
	rows.Close()
	if err != nil {
		return nil, c.wrapErr(fmt.Sprintf("table %q", table), err)
	}
	cols := make([]column, len(names))
	for i, n := range names {
		cols[i].name = n
	}
	t := newTableMeta(d, table, ref, cols)
	if d.schemaExpr != "" {
		c.readTypes(ctx, d, table, t)
	}
	return t, nil
}

func (c *conn) readTypes(ctx context.Context, d *dialect, table string, t *tableMeta) {
	schema, name := d.schemaExpr, "?"
	args := []any{}
	if i := strings.LastIndexByte(table, '.'); i >= 0 {
		schema = "?"
		args = append(args, table[:i])
		table = table[i+1:]
	}
	args = append([]any{table}, args...)
	q := "SELECT column_name, data_type, character_maximum_length, is_nullable FROM information_schema.columns" +
		" WHERE lower(table_name) = lower(" + name + ") AND table_schema = " + schema
	start := time.Now()
	rows, err := c.db.QueryContext(ctx, q, args...)
	c.observe(q, start, err)
	if err != nil {
		c.log.Debug("odbc: no column types from information_schema", "table", table, "error", err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var col, typ, length, nullable any
		if err := rows.Scan(&col, &typ, &length, &nullable); err != nil {
			return
		}
		cl := t.column(valueString(col))
		if cl == nil {
			continue
		}
		cl.dataType = strings.ToLower(valueString(typ))
		cl.length, _ = strconv.Atoi(valueString(length))
		cl.nullable = strings.EqualFold(valueString(nullable), "YES")
	}
}

// valueString renders a value read through ODBC as text.
func valueString(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case []byte:
		return string(v)
	case string:
		return v
	case int32:
		return strconv.FormatInt(int64(v), 10)
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		if v {
			return "1"
		}
		return "0"
	case time.Time:
		return v.Format("2006-01-02 15:04:05.999999")
	}
	return fmt.Sprint(v)
}

// columnString renders a value of column cl; dates and times keep their own shape.
func columnString(cl *column, v any) string {
	if tm, ok := v.(time.Time); ok && cl != nil {
		switch t := cl.dataType; {
		case t == "date":
			return tm.Format("2006-01-02")
		case strings.HasPrefix(t, "time") && !strings.HasPrefix(t, "timestamp"):
			return tm.Format("15:04:05.999999")
		}
	}
	return valueString(v)
}

// observe counts a statement and keeps the longest one (logging=yes).
func (c *conn) observe(q string, start time.Time, err error) {
	if !c.cfg.Logging || err != nil { // like Asterisk: only successful queries are logged
		return
	}
	dur := time.Since(start)
	c.queries.Add(1)
	c.longestMu.Lock()
	if dur > c.longestTime {
		c.longestTime, c.longestSQL = dur, q
	}
	c.longestMu.Unlock()
	if lim := c.cfg.SlowQueryLimit; lim > 0 && dur > lim {
		c.log.Warn("odbc: slow query", "sql", q, "duration", dur, "slow_query_limit", lim)
	}
}

// wrapErr classifies a database error: connection problems wrap realtime.ErrUnavailable.
func (c *conn) wrapErr(what string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("odbc: [%s] %s: %w", c.cfg.Name, what, err)
	}
	var ue *unavailableError
	if errors.As(err, &ue) {
		return err
	}
	c.recordError(err)
	if isConnError(err) {
		return c.unavailable("%s: %v", what, err)
	}
	return fmt.Errorf("odbc: [%s] %s: %w", c.cfg.Name, what, err)
}

// scanRow reads the current row; NULL and empty columns are left out.
func scanRow(rows *sql.Rows, t *tableMeta, names []string, vals []any, ptrs []any) (realtime.Row, error) {
	if err := rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	row := make(realtime.Row, 0, len(names))
	for i, v := range vals {
		if v == nil {
			continue
		}
		s := realtime.DecodeValue(columnString(t.column(names[i]), v))
		if s == "" {
			continue
		}
		row = append(row, realtime.Field{Name: names[i], Value: s})
	}
	return row, nil
}

var _ sqltable.Conn[*tableMeta] = (*conn)(nil)

// Table implements sqltable.Conn.
func (c *conn) Table(ctx context.Context, table string) (*tableMeta, error) {
	_, t, err := c.table(ctx, table)
	return t, err
}

// Select implements sqltable.Conn: runs a SELECT of t's columns and returns its rows (only the
// first when one).
func (c *conn) Select(ctx context.Context, t *tableMeta, q string, args []any, one bool) ([]realtime.Row, error) {
	start := time.Now()
	rows, err := c.db.QueryContext(ctx, q, args...)
	c.observe(q, start, err)
	if err != nil {
		return nil, c.wrapErr("query", err)
	}
	defer rows.Close()
	names, err := rows.Columns()
	if err != nil {
		return nil, c.wrapErr("query", err)
	}
	vals := make([]any, len(names))
	ptrs := make([]any, len(names))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var out []realtime.Row
	for rows.Next() {
		r, err := scanRow(rows, t, names, vals, ptrs)
		if err != nil {
			return nil, c.wrapErr("query", err)
		}
		out = append(out, r)
		if one {
			break
		}
	}
	if err := rows.Err(); err != nil {
		return nil, c.wrapErr("query", err)
	}
	return out, nil
}

// Exec implements sqltable.Conn.
func (c *conn) Exec(ctx context.Context, _ *tableMeta, _, q string, args []any) (int64, error) {
	return c.exec(ctx, q, args)
}

func (c *conn) exec(ctx context.Context, q string, args []any) (int64, error) {
	start := time.Now()
	res, err := c.db.ExecContext(ctx, q, args...)
	c.observe(q, start, err)
	if err != nil {
		return 0, c.wrapErr("exec", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, c.wrapErr("exec", err)
	}
	return n, nil
}

// prepare resolves the connection and the table's metadata.
func (d *Driver) prepare(ctx context.Context, db, table string) (*conn, *dialect, *tableMeta, error) {
	c, err := d.conn(db)
	if err != nil {
		return nil, nil, nil, err
	}
	dia, t, err := c.table(ctx, table)
	if err != nil {
		return nil, nil, nil, err
	}
	return c, dia, t, nil
}

// Load returns the first row matching every field (ErrNotFound when none does).
func (d *Driver) Load(ctx context.Context, db, table string, fields []realtime.Field) (realtime.Row, error) {
	c, err := d.conn(db)
	if err != nil {
		return nil, err
	}
	return sqltable.Load(ctx, "odbc", c, table, fields)
}

// LoadMulti returns every matching row, ordered by the first field's column.
func (d *Driver) LoadMulti(ctx context.Context, db, table string, fields []realtime.Field) ([]realtime.Row, error) {
	c, err := d.conn(db)
	if err != nil {
		return nil, err
	}
	return sqltable.LoadMulti(ctx, "odbc", c, table, fields)
}

// Update changes the rows whose keyField equals keyValue.
func (d *Driver) Update(ctx context.Context, db, table, keyField, keyValue string, fields []realtime.Field) (int64, error) {
	return d.Update2(ctx, db, table, []realtime.Field{{Name: keyField, Value: keyValue}}, fields)
}

// Update2 changes the rows matching every lookup field.
func (d *Driver) Update2(ctx context.Context, db, table string, lookup, update []realtime.Field) (int64, error) {
	c, err := d.conn(db)
	if err != nil {
		return 0, err
	}
	return sqltable.Update(ctx, "odbc", c, table, lookup, update)
}

// Store inserts one row.
func (d *Driver) Store(ctx context.Context, db, table string, fields []realtime.Field) (int64, error) {
	c, err := d.conn(db)
	if err != nil {
		return 0, err
	}
	return sqltable.Store(ctx, "odbc", c, table, fields)
}

// Destroy deletes the rows whose keyField equals keyValue and that match every field.
func (d *Driver) Destroy(ctx context.Context, db, table, keyField, keyValue string, fields []realtime.Field) (int64, error) {
	c, err := d.conn(db)
	if err != nil {
		return 0, err
	}
	return sqltable.Destroy(ctx, c, table, keyField, keyValue, fields)
}

// Require checks the columns a consumer needs. res_odbc.conf has no requirements= setting: it
// behaves as requirements=warn. A missing column is logged, and reported as an error wrapping
// realtime.ErrUnknownField that names every missing column; a column too small or of the wrong
// kind is only logged. The table is never changed.
func (d *Driver) Require(ctx context.Context, db, table string, reqs []realtime.Requirement) error {
	c, err := d.conn(db)
	if err != nil {
		return err
	}
	return sqltable.Require(ctx, c.log, "odbc", c, table, "["+c.cfg.Name+"]", sqlpool.RequireWarn, reqs)
}

var _ sqltable.Schema[*tableMeta] = (*conn)(nil)

// AddColumn implements sqltable.Schema; with requirements=warn it is never asked.
func (c *conn) AddColumn(*tableMeta, realtime.Requirement, string) string { return "" }

// Alter implements sqltable.Schema; with requirements=warn it is never asked.
func (c *conn) Alter(context.Context, *tableMeta, string) error {
	return errors.New("odbc: tables are never changed")
}

// Forget implements sqltable.Schema.
func (c *conn) Forget(table string) {
	c.metaMu.Lock()
	delete(c.meta, strings.ToLower(table))
	c.metaMu.Unlock()
}

// Check implements sqltable.Schema: where the column's type is known, a column too small or of
// the wrong kind is logged.
func (c *conn) Check(t *tableMeta, i int, r realtime.Requirement, _ string) string {
	cl, table := &t.cols[i], t.Table()
	if cl.dataType == "" {
		return "" // types unknown: nothing more to check
	}
	switch r.Type {
	case realtime.TypeChar:
		if cl.text() && cl.length > 0 && r.Size > cl.length {
			c.log.Warn(fmt.Sprintf("Realtime table %s@%s: column '%s' holds %d characters, but %d are required",
				table, c.cfg.Name, cl.name, cl.length, r.Size))
		}
	case realtime.TypeInteger, realtime.TypeUnsignedInteger, realtime.TypeFloat:
		if cl.text() && cl.length > 0 && r.Size > cl.length {
			c.log.Warn(fmt.Sprintf("Realtime table %s@%s: column '%s' is text of %d characters; a number of %d digits is required",
				table, c.cfg.Name, cl.name, cl.length, r.Size))
		}
	case realtime.TypeDate, realtime.TypeDateTime:
		if !cl.text() && !strings.Contains(cl.dataType, "date") && !strings.Contains(cl.dataType, "time") {
			c.log.Warn(fmt.Sprintf("Realtime table %s@%s: column '%s' (%s) cannot hold a date",
				table, c.cfg.Name, cl.name, cl.dataType))
		}
	}
	return ""
}

// Unload forgets the cached column metadata of table.
func (d *Driver) Unload(ctx context.Context, db, table string) error {
	c, err := d.conn(db)
	if err != nil {
		return err
	}
	c.Forget(table)
	return nil
}

// StaticLoad reads a static-mode (ast_config layout) table.
func (d *Driver) StaticLoad(ctx context.Context, db, table, filename string) ([]realtime.StaticRow, error) {
	c, dia, t, err := d.prepare(ctx, db, table)
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, n := range []string{"cat_metric", "var_metric", "category", "var_name", "var_val", "filename", "commented"} {
		cl := t.column(n)
		if cl == nil {
			return nil, fmt.Errorf("%w: static table %s has no column %q", realtime.ErrUnknownField, t.ref, n)
		}
		names[n] = dia.quoteIdent(cl.name)
	}
	q := "SELECT " + names["cat_metric"] + ", " + names["var_metric"] + ", " + names["category"] + ", " +
		names["var_name"] + ", " + names["var_val"] + " FROM " + t.ref +
		" WHERE " + names["filename"] + " = ? AND " + names["commented"] + " = 0" +
		" ORDER BY " + names["cat_metric"] + " DESC, " + names["var_metric"] + " ASC, " +
		names["category"] + ", " + names["var_name"]
	start := time.Now()
	rows, err := c.db.QueryContext(ctx, q, filename)
	c.observe(q, start, err)
	if err != nil {
		return nil, c.wrapErr("static load", err)
	}
	defer rows.Close()
	var out []realtime.StaticRow
	for rows.Next() {
		var cm, vm, cat, name, val any
		if err := rows.Scan(&cm, &vm, &cat, &name, &val); err != nil {
			return nil, c.wrapErr("static load", err)
		}
		r := realtime.StaticRow{Category: valueString(cat), Name: valueString(name), Value: valueString(val)}
		r.CatMetric, _ = strconv.Atoi(valueString(cm))
		r.VarMetric, _ = strconv.Atoi(valueString(vm))
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, c.wrapErr("static load", err)
	}
	return out, nil
}
