package ldap

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

// Driver is the ldap realtime driver: extconfig.conf "family => ldap,"<base DN>",<section>".
type Driver struct {
	log *slog.Logger
	st  atomic.Pointer[state]
	mu  sync.Mutex // serialises Configure and Close
}

type state struct {
	cfg    *Config
	pool   *pool
	tables map[string]*schema
}

var (
	_ realtime.Driver          = (*Driver)(nil)
	_ realtime.CommandProvider = (*Driver)(nil)
)

// New returns a driver without configuration (every call fails until Configure).
func New(log *slog.Logger) *Driver {
	if log == nil {
		log = slog.Default()
	}
	return &Driver{log: log}
}

// Name is the name extconfig.conf uses.
func (d *Driver) Name() string { return "ldap" }

// ConfigFile is res_ldap.conf.
func (d *Driver) ConfigFile() string { return ConfigFile }

// Configure applies res_ldap.conf (nil: no directory). On error the running configuration
// stays; otherwise the old connections are closed once their requests end.
func (d *Driver) Configure(ctx context.Context, cfg *conf.Config) error {
	c, warnings, err := ParseConfig(cfg)
	for _, w := range warnings {
		d.log.Warn("ldap: " + w)
	}
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var next *state
	if c != nil {
		next = &state{cfg: c, pool: newPool(c.Settings), tables: map[string]*schema{}}
		for k, t := range c.Tables {
			next.tables[k] = newSchema(t, c.General)
		}
	}
	if old := d.st.Swap(next); old != nil {
		old.pool.close()
	}
	return nil
}

// Close closes every connection (those in use as their requests end) and forgets the
// configuration.
func (d *Driver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if st := d.st.Swap(nil); st != nil {
		st.pool.close()
	}
	return nil
}

// Config returns the configuration in force (nil: none).
func (d *Driver) Config() *Config {
	if st := d.st.Load(); st != nil {
		return st.cfg
	}
	return nil
}

// prep finds the configuration, the table's section and the search base.
func (d *Driver) prep(db, table string) (*state, *schema, string, error) {
	st := d.st.Load()
	if st == nil {
		return nil, nil, "", fmt.Errorf("%w: ldap: %s does not exist", realtime.ErrUnavailable, ConfigFile)
	}
	s, ok := st.tables[strings.ToLower(table)]
	if !ok {
		return nil, nil, "", fmt.Errorf("ldap: no section [%s] in %s", table, ConfigFile)
	}
	base := strings.Trim(strings.TrimSpace(db), `"`)
	base = strings.ReplaceAll(base, "|", ",") // Asterisk's cleaned_basedn
	if base == "" {
		base = st.cfg.BaseDN
	}
	return st, s, base, nil
}

// entryRow turns an entry into a row: the table's columns in order, each the values of the
// first mapped attribute that has some, decoded and joined with ';'. md5secret loses a
// leading {md5} as in Asterisk.
func (s *schema) entryRow(e *goldap.Entry) realtime.Row {
	row := make(realtime.Row, 0, len(s.cols))
	for _, c := range s.cols {
		var vals []string
		for _, a := range s.alt[strings.ToLower(c.Name)] {
			if vals = e.GetEqualFoldAttributeValues(a); len(vals) > 0 {
				break
			}
		}
		if len(vals) == 0 {
			continue
		}
		for i, v := range vals {
			v = realtime.DecodeValue(v)
			if strings.EqualFold(c.Name, "md5secret") && len(v) >= 5 && strings.EqualFold(v[:5], "{md5}") {
				v = v[5:]
			}
			vals[i] = v
		}
		if v := strings.Join(vals, ";"); v != "" {
			row = append(row, realtime.Field{Name: c.Name, Value: v})
		}
	}
	return row
}

type hit struct {
	dn  string
	row realtime.Row
}

// search returns the entries matching fields, checked and ordered by the first field's column.
func (d *Driver) search(ctx context.Context, db, table string, fields []realtime.Field, ops bool) (*state, *schema, string, []hit, error) {
	st, s, base, err := d.prep(db, table)
	if err != nil {
		return nil, nil, "", nil, err
	}
	flt, checks, err := s.filter(fields, ops)
	if err != nil {
		return nil, nil, "", nil, err
	}
	var res *goldap.SearchResult
	err = st.pool.with(ctx, func(c *goldap.Conn) error {
		var err error
		req := goldap.NewSearchRequest(base, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 0,
			int(st.cfg.Timeout.Seconds()+0.999), false, flt, s.attrs, nil)
		res, err = c.Search(req)
		return err
	})
	if err != nil {
		if goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject) {
			return st, s, base, nil, nil // the base does not exist: nothing under it
		}
		return nil, nil, "", nil, fmt.Errorf("%w (filter %s)", err, flt)
	}
	hits := make([]hit, 0, len(res.Entries))
next:
	for _, e := range res.Entries {
		row := s.entryRow(e)
		for _, c := range checks {
			if !c.match(row) {
				continue next
			}
		}
		hits = append(hits, hit{e.DN, row})
	}
	if len(fields) > 0 {
		col, _, _ := realtime.SplitOp(fields[0].Name)
		slices.SortStableFunc(hits, func(a, b hit) int {
			va, _ := a.row.Get(col)
			vb, _ := b.row.Get(col)
			return strings.Compare(va, vb)
		})
	}
	return st, s, base, hits, nil
}

// Load returns the first matching entry (ordered by the first field).
func (d *Driver) Load(ctx context.Context, db, table string, fields []realtime.Field) (realtime.Row, error) {
	_, _, _, hits, err := d.search(ctx, db, table, fields, true)
	if err != nil {
		return nil, err
	}
	for _, h := range hits {
		if len(h.row) > 0 {
			return h.row, nil
		}
	}
	return nil, realtime.ErrNotFound
}

// LoadMulti returns every matching entry ordered by the first field's column.
func (d *Driver) LoadMulti(ctx context.Context, db, table string, fields []realtime.Field) ([]realtime.Row, error) {
	_, _, _, hits, err := d.search(ctx, db, table, fields, true)
	if err != nil {
		return nil, err
	}
	rows := make([]realtime.Row, 0, len(hits))
	for _, h := range hits {
		if len(h.row) > 0 {
			rows = append(rows, h.row)
		}
	}
	return rows, nil
}

// mods turns fields into replace operations: an empty value removes the attribute (a replace
// with no value), several values of one column are joined with ';' as in Asterisk.
func (s *schema) mods(fields []realtime.Field) (map[string][]string, []string, error) {
	vals := map[string][]string{}
	var order []string
	for _, f := range fields {
		col, op, ok := realtime.SplitOp(f.Name)
		if !ok || op != "=" || col != strings.TrimSpace(f.Name) {
			return nil, nil, fmt.Errorf("ldap: field %q: no operator allowed here", f.Name)
		}
		attr, err := s.attr(col)
		if err != nil {
			return nil, nil, err
		}
		k := strings.ToLower(attr)
		if _, seen := vals[k]; !seen {
			order = append(order, attr)
			vals[k] = nil
		}
		if f.Value == "" {
			continue
		}
		v := realtime.EncodeValue(f.Value)
		if old := vals[k]; len(old) > 0 {
			vals[k] = []string{old[0] + ";" + v}
		} else {
			vals[k] = []string{v}
		}
	}
	return vals, order, nil
}

func (d *Driver) modify(ctx context.Context, db, table string, lookup, update []realtime.Field, ops bool) (int64, error) {
	if len(update) == 0 {
		return 0, errors.New("ldap: nothing to update")
	}
	_, s, _, err := d.prep(db, table)
	if err != nil {
		return 0, err
	}
	vals, order, err := s.mods(update)
	if err != nil {
		return 0, err
	}
	st, _, _, hits, err := d.search(ctx, db, table, lookup, ops)
	if err != nil {
		return 0, err
	}
	var n int64
	err = st.pool.with(ctx, func(c *goldap.Conn) error {
		for _, h := range hits {
			req := goldap.NewModifyRequest(h.dn, nil)
			for _, a := range order {
				req.Replace(a, vals[strings.ToLower(a)])
			}
			if err := c.Modify(req); err != nil {
				return fmt.Errorf("modify %s: %w", h.dn, err)
			}
			n++
		}
		return nil
	})
	return n, err
}

// Update changes every entry whose keyField equals keyValue.
func (d *Driver) Update(ctx context.Context, db, table, keyField, keyValue string, fields []realtime.Field) (int64, error) {
	return d.modify(ctx, db, table, []realtime.Field{{Name: keyField, Value: keyValue}}, fields, false)
}

// Update2 changes every entry matching lookup.
func (d *Driver) Update2(ctx context.Context, db, table string, lookup, update []realtime.Field) (int64, error) {
	return d.modify(ctx, db, table, lookup, update, true)
}

// Store adds an entry under the base DN, named by the table's rdn attribute (its value from
// the fields, or a generated unique one), with the table's objectClass values.
func (d *Driver) Store(ctx context.Context, db, table string, fields []realtime.Field) (int64, error) {
	st, s, base, err := d.prep(db, table)
	if err != nil {
		return 0, err
	}
	vals, order, err := s.mods(fields)
	if err != nil {
		return 0, err
	}
	if len(s.classes) == 0 {
		return 0, fmt.Errorf("ldap: [%s] in %s has no objectClass = to create entries with", s.name, ConfigFile)
	}
	rdnVals := vals[strings.ToLower(s.rdn)]
	if len(rdnVals) == 0 {
		var b [12]byte
		rand.Read(b[:])
		rdnVals = []string{hex.EncodeToString(b[:])}
		vals[strings.ToLower(s.rdn)] = rdnVals
		order = append(order, s.rdn)
	}
	dn := s.rdn + "=" + goldap.EscapeDN(rdnVals[0]) + "," + base
	req := goldap.NewAddRequest(dn, nil)
	req.Attribute("objectClass", s.classes)
	for _, a := range order {
		if v := vals[strings.ToLower(a)]; len(v) > 0 {
			req.Attribute(a, v)
		}
	}
	err = st.pool.with(ctx, func(c *goldap.Conn) error { return c.Add(req) })
	if err != nil {
		return 0, err
	}
	return 1, nil
}

// Destroy deletes every entry whose keyField equals keyValue and that matches fields.
func (d *Driver) Destroy(ctx context.Context, db, table, keyField, keyValue string, fields []realtime.Field) (int64, error) {
	lookup := append([]realtime.Field{{Name: keyField, Value: keyValue}}, fields...)
	st, _, _, hits, err := d.search(ctx, db, table, lookup, false)
	if err != nil {
		return 0, err
	}
	var n int64
	err = st.pool.with(ctx, func(c *goldap.Conn) error {
		for _, h := range hits {
			if err := c.Del(goldap.NewDelRequest(h.dn, nil)); err != nil {
				return fmt.Errorf("delete %s: %w", h.dn, err)
			}
			n++
		}
		return nil
	})
	return n, err
}

// Require reports columns the table's section does not map (requirements=warn: a directory's
// schema is not changed by the driver).
func (d *Driver) Require(ctx context.Context, db, table string, reqs []realtime.Requirement) error {
	_, s, _, err := d.prep(db, table)
	if err != nil {
		return err
	}
	var missing []string
	for _, r := range reqs {
		if _, err := s.attr(r.Name); err != nil {
			missing = append(missing, r.Name)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	err = fmt.Errorf("%w: %s not mapped in [%s] of %s", realtime.ErrUnknownField, strings.Join(missing, ", "), s.name, ConfigFile)
	d.log.Warn(err.Error())
	return err
}

// Unload does nothing: the columns are the section's, read again at reload.
func (d *Driver) Unload(ctx context.Context, db, table string) error { return nil }

// StaticLoad reads a static-mode file from entries of the table's section mapping filename,
// category, var_name (or Asterisk's variable_name), var_val (variable_value), cat_metric,
// var_metric and commented; commented entries are left out.
func (d *Driver) StaticLoad(ctx context.Context, db, table, filename string) ([]realtime.StaticRow, error) {
	_, _, _, hits, err := d.search(ctx, db, table, []realtime.Field{{Name: "filename", Value: filename}}, false)
	if err != nil {
		return nil, err
	}
	get := func(r realtime.Row, names ...string) string {
		for _, n := range names {
			if v, ok := r.Get(n); ok {
				return v
			}
		}
		return ""
	}
	num := func(s string) int {
		n, _ := strconv.Atoi(strings.TrimSpace(s))
		return n
	}
	var rows []realtime.StaticRow
	for _, h := range hits {
		c := get(h.row, "commented")
		if c != "" && c != "0" && !conf.IsFalse(c) {
			continue
		}
		rows = append(rows, realtime.StaticRow{
			CatMetric: num(get(h.row, "cat_metric")),
			VarMetric: num(get(h.row, "var_metric")),
			Category:  get(h.row, "category"),
			Name:      get(h.row, "var_name", "variable_name"),
			Value:     get(h.row, "var_val", "variable_value"),
		})
	}
	slices.SortStableFunc(rows, func(a, b realtime.StaticRow) int {
		if a.CatMetric != b.CatMetric {
			return b.CatMetric - a.CatMetric
		}
		if a.VarMetric != b.VarMetric {
			return a.VarMetric - b.VarMetric
		}
		if c := strings.Compare(a.Category, b.Category); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return rows, nil
}
