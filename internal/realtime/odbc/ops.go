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

// tableMeta is the cached column metadata of one table.
type tableMeta struct {
	ref    string // the table as written in SQL
	cols   []column
	byName map[string]int // lower-cased name -> index
}

func (t *tableMeta) column(name string) *column {
	if i, ok := t.byName[strings.ToLower(strings.TrimSpace(name))]; ok {
		return &t.cols[i]
	}
	return nil
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
	t := &tableMeta{ref: ref, byName: make(map[string]int, len(names))}
	for i, n := range names {
		t.cols = append(t.cols, column{name: n})
		t.byName[strings.ToLower(n)] = i
	}
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

// where builds "col op ? AND ..." from lookup fields; values are bound, encoded as Asterisk does.
func where(d *dialect, t *tableMeta, fields []realtime.Field, args []any) (string, []any, error) {
	var b strings.Builder
	for i, f := range fields {
		name, op, ok := realtime.SplitOp(f.Name)
		if !ok {
			return "", nil, fmt.Errorf("odbc: field %q: operator %q not allowed", f.Name, op)
		}
		cl := t.column(name)
		if cl == nil {
			return "", nil, fmt.Errorf("%w: %q is not a column of %s", realtime.ErrUnknownField, name, t.ref)
		}
		if i > 0 {
			b.WriteString(" AND ")
		}
		if op == "!=" {
			op = "<>"
		}
		b.WriteString(d.quoteIdent(cl.name))
		b.WriteByte(' ')
		b.WriteString(op)
		b.WriteString(" ?")
		if strings.HasSuffix(op, "LIKE") {
			b.WriteString(d.escapeClause())
		}
		args = append(args, realtime.EncodeValue(f.Value))
	}
	return b.String(), args, nil
}

// setList builds "col = ?, ..." for an UPDATE. An empty value for a nullable non-character
// column is written as NULL (Asterisk does the same: an empty string is not a number or a date).
func setList(d *dialect, t *tableMeta, fields []realtime.Field) (string, []any, error) {
	var b strings.Builder
	var args []any
	for i, f := range fields {
		cl, err := plainColumn(t, f.Name)
		if err != nil {
			return "", nil, err
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(d.quoteIdent(cl.name))
		if f.Value == "" && cl.nullable && !cl.text() {
			b.WriteString(" = NULL")
			continue
		}
		b.WriteString(" = ?")
		args = append(args, realtime.EncodeValue(f.Value))
	}
	return b.String(), args, nil
}

// plainColumn resolves a field that names a column to set (no operator allowed).
func plainColumn(t *tableMeta, name string) (*column, error) {
	col, op, ok := realtime.SplitOp(name)
	if !ok || op != "=" || strings.ContainsAny(strings.TrimSpace(name), " \t") {
		return nil, fmt.Errorf("odbc: field %q: an operator is not allowed here", name)
	}
	cl := t.column(col)
	if cl == nil {
		return nil, fmt.Errorf("%w: %q is not a column of %s", realtime.ErrUnknownField, col, t.ref)
	}
	return cl, nil
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

// selectRows runs a SELECT and returns up to limit rows (0: all).
func (c *conn) selectRows(ctx context.Context, t *tableMeta, q string, args []any, limit int) ([]realtime.Row, error) {
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
		if limit > 0 && len(out) >= limit {
			break
		}
	}
	if err := rows.Err(); err != nil {
		return nil, c.wrapErr("query", err)
	}
	return out, nil
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
	if len(fields) == 0 {
		return nil, errNoFields
	}
	c, dia, t, err := d.prepare(ctx, db, table)
	if err != nil {
		return nil, err
	}
	w, args, err := where(dia, t, fields, nil)
	if err != nil {
		return nil, err
	}
	rows, err := c.selectRows(ctx, t, "SELECT * FROM "+t.ref+" WHERE "+w, args, 1)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, realtime.ErrNotFound
	}
	return rows[0], nil
}

// LoadMulti returns every matching row, ordered by the first field's column.
func (d *Driver) LoadMulti(ctx context.Context, db, table string, fields []realtime.Field) ([]realtime.Row, error) {
	if len(fields) == 0 {
		return nil, errNoFields
	}
	c, dia, t, err := d.prepare(ctx, db, table)
	if err != nil {
		return nil, err
	}
	w, args, err := where(dia, t, fields, nil)
	if err != nil {
		return nil, err
	}
	first, _, _ := realtime.SplitOp(fields[0].Name)
	q := "SELECT * FROM " + t.ref + " WHERE " + w + " ORDER BY " + dia.quoteIdent(t.column(first).name)
	return c.selectRows(ctx, t, q, args, 0)
}

// Update changes the rows whose keyField equals keyValue.
func (d *Driver) Update(ctx context.Context, db, table, keyField, keyValue string, fields []realtime.Field) (int64, error) {
	return d.Update2(ctx, db, table, []realtime.Field{{Name: keyField, Value: keyValue}}, fields)
}

// Update2 changes the rows matching every lookup field.
func (d *Driver) Update2(ctx context.Context, db, table string, lookup, update []realtime.Field) (int64, error) {
	if len(lookup) == 0 || len(update) == 0 {
		return 0, errNoFields
	}
	c, dia, t, err := d.prepare(ctx, db, table)
	if err != nil {
		return 0, err
	}
	set, args, err := setList(dia, t, update)
	if err != nil {
		return 0, err
	}
	w, args, err := where(dia, t, lookup, args)
	if err != nil {
		return 0, err
	}
	return c.exec(ctx, "UPDATE "+t.ref+" SET "+set+" WHERE "+w, args)
}

// Store inserts one row.
func (d *Driver) Store(ctx context.Context, db, table string, fields []realtime.Field) (int64, error) {
	if len(fields) == 0 {
		return 0, errNoFields
	}
	c, dia, t, err := d.prepare(ctx, db, table)
	if err != nil {
		return 0, err
	}
	var cols, vals strings.Builder
	var args []any
	for i, f := range fields {
		cl, err := plainColumn(t, f.Name)
		if err != nil {
			return 0, err
		}
		if i > 0 {
			cols.WriteString(", ")
			vals.WriteString(", ")
		}
		cols.WriteString(dia.quoteIdent(cl.name))
		if f.Value == "" && cl.nullable && !cl.text() {
			vals.WriteString("NULL")
			continue
		}
		vals.WriteString("?")
		args = append(args, realtime.EncodeValue(f.Value))
	}
	return c.exec(ctx, "INSERT INTO "+t.ref+" ("+cols.String()+") VALUES ("+vals.String()+")", args)
}

// Destroy deletes the rows whose keyField equals keyValue and that match every field.
func (d *Driver) Destroy(ctx context.Context, db, table, keyField, keyValue string, fields []realtime.Field) (int64, error) {
	c, dia, t, err := d.prepare(ctx, db, table)
	if err != nil {
		return 0, err
	}
	all := append([]realtime.Field{{Name: keyField, Value: keyValue}}, fields...)
	w, args, err := where(dia, t, all, nil)
	if err != nil {
		return 0, err
	}
	return c.exec(ctx, "DELETE FROM "+t.ref+" WHERE "+w, args)
}

// Require checks the columns a consumer needs. res_config_odbc has no requirements= setting:
// it behaves as requirements=warn. A missing column is logged, and reported as an error wrapping
// realtime.ErrUnknownField that names every missing column; a column too small or of the wrong
// kind is only logged. The table is never changed.
func (d *Driver) Require(ctx context.Context, db, table string, reqs []realtime.Requirement) error {
	c, _, t, err := d.prepare(ctx, db, table)
	if err != nil {
		return err
	}
	var missing []string
	for _, r := range reqs {
		cl := t.column(r.Name)
		if cl == nil {
			c.log.Warn(fmt.Sprintf("Realtime table %s@%s requires column '%s', but that column does not exist!", table, c.cfg.Name, r.Name))
			missing = append(missing, r.Name)
			continue
		}
		if cl.dataType == "" {
			continue // types unknown: nothing more to check
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
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: table %s@%s has no column %s (requirements=warn: not created)",
			realtime.ErrUnknownField, table, c.cfg.Name, strings.Join(missing, ", "))
	}
	return nil
}

// Unload forgets the cached column metadata of table.
func (d *Driver) Unload(ctx context.Context, db, table string) error {
	c, err := d.conn(db)
	if err != nil {
		return err
	}
	c.metaMu.Lock()
	delete(c.meta, strings.ToLower(table))
	c.metaMu.Unlock()
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
