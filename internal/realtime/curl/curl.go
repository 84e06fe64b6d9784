package curl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

// maxBody bounds what one answer may hold; a larger one is an error, not a truncated result.
const maxBody = 16 << 20

// Driver is the curl realtime driver: extconfig.conf "family => curl,http://host/path".
type Driver struct {
	log *slog.Logger
	cur atomic.Pointer[client]

	statsMu sync.Mutex
	stats   map[string]*urlStats // by base URL
}

type client struct {
	set Settings
	hc  *http.Client
}

type urlStats struct {
	requests, errors, unavailable atomic.Uint64
	nanos                         atomic.Int64
	mu                            sync.Mutex
	lastErr                       string
	lastErrAt                     time.Time
}

var (
	_ realtime.Driver          = (*Driver)(nil)
	_ realtime.CommandProvider = (*Driver)(nil)
)

// New returns a driver with the default settings (as without res_curl.conf).
func New(log *slog.Logger) *Driver {
	if log == nil {
		log = slog.Default()
	}
	d := &Driver{log: log, stats: map[string]*urlStats{}}
	d.cur.Store(newClient(Defaults()))
	return d
}

func newClient(s Settings) *client {
	dialer := &net.Dialer{Timeout: s.ConnTimeout, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         dialer.DialContext,
		TLSClientConfig:     s.tlsConfig(),
		TLSHandshakeTimeout: s.ConnTimeout,
		MaxIdleConns:        4 * s.MaxConns,
		MaxIdleConnsPerHost: s.MaxConns,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	return &client{set: s, hc: &http.Client{Transport: tr, Timeout: s.HTTPTimeout}}
}

// Name is the name extconfig.conf uses.
func (d *Driver) Name() string { return "curl" }

// ConfigFile is res_curl.conf.
func (d *Driver) ConfigFile() string { return ConfigFile }

// LoadsWhenMapped is true: Asterisk's res_config_curl registers its engine whether or not
// res_curl.conf exists, so the engine counts as loaded while a mapping names curl (or the
// file exists).
func (d *Driver) LoadsWhenMapped() bool { return true }

// Configure applies res_curl.conf (nil: the defaults). On error the running settings stay.
func (d *Driver) Configure(ctx context.Context, cfg *conf.Config) error {
	s, warnings, err := ParseConfig(cfg)
	for _, w := range warnings {
		d.log.Warn("curl: " + w)
	}
	if err != nil {
		return err
	}
	old := d.cur.Swap(newClient(s))
	old.hc.CloseIdleConnections()
	return nil
}

// Settings returns the settings in force.
func (d *Driver) Settings() Settings { return d.cur.Load().set }

// Close drops every idle connection.
func (d *Driver) Close() error {
	d.cur.Load().hc.CloseIdleConnections()
	return nil
}

func (d *Driver) statsFor(base string) *urlStats {
	d.statsMu.Lock()
	defer d.statsMu.Unlock()
	s := d.stats[base]
	if s == nil {
		s = &urlStats{}
		d.stats[base] = s
	}
	return s
}

// base checks the database part of the mapping: an http or https URL without a query.
func base(db string) (string, error) {
	b := strings.TrimRight(strings.TrimSpace(db), "/")
	lower := strings.ToLower(b)
	if !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://") || strings.ContainsAny(b, "?# ") {
		return "", fmt.Errorf("curl: %q is not an http:// or https:// URL without a query", db)
	}
	return b, nil
}

// do sends one request and returns the body of a 2xx answer. An answer the service could not
// give (connection refused, timeout, 5xx) wraps realtime.ErrUnavailable, so the engine fails
// over to the next mapping; any other status is an error of its own.
func (d *Driver) do(ctx context.Context, db, op, query, form string) (string, error) {
	b, err := base(db)
	if err != nil {
		return "", err
	}
	u := b + "/" + op
	if query != "" {
		u += "?" + query
	}
	method, body := http.MethodPost, io.Reader(strings.NewReader(form))
	if op == "static" {
		method, body = http.MethodGet, nil
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return "", fmt.Errorf("curl: %s: %w", op, err)
	}
	c := d.cur.Load()
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("User-Agent", c.set.UserAgent)
	if c.set.UserPwd != "" {
		user, pass, _ := strings.Cut(c.set.UserPwd, ":")
		req.SetBasicAuth(user, pass)
	}
	st := d.statsFor(b)
	st.requests.Add(1)
	start := time.Now()
	text, err := c.send(req)
	st.nanos.Add(int64(time.Since(start)))
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("curl: %s %s: %w", op, b, ctx.Err())
		} else {
			err = fmt.Errorf("curl: %s %s: %w", op, b, err)
		}
		st.errors.Add(1)
		if errors.Is(err, realtime.ErrUnavailable) {
			st.unavailable.Add(1)
		}
		st.mu.Lock()
		st.lastErr, st.lastErrAt = err.Error(), time.Now()
		st.mu.Unlock()
		return "", err
	}
	return text, nil
}

func (c *client) send(req *http.Request) (string, error) {
	resp, err := c.hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("%w: %v", realtime.ErrUnavailable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return "", fmt.Errorf("%w: reading the answer: %v", realtime.ErrUnavailable, err)
	}
	switch {
	case resp.StatusCode >= 500:
		return "", fmt.Errorf("%w: HTTP %s", realtime.ErrUnavailable, resp.Status)
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return "", fmt.Errorf("HTTP %s: %s", resp.Status, clip(strings.TrimSpace(string(body))))
	case len(body) > maxBody:
		return "", fmt.Errorf("%w: answer larger than %d bytes", ErrMalformed, maxBody)
	}
	return string(body), nil
}

// check refuses a field whose operator is not allowed or whose column is not a plain name,
// before anything is sent.
func check(fields []realtime.Field, ops bool) error {
	for _, f := range fields {
		col, op, ok := realtime.SplitOp(f.Name)
		if !ok {
			return fmt.Errorf("curl: field %q: operator %q not allowed", f.Name, op)
		}
		if !ops && col != strings.TrimSpace(f.Name) {
			return fmt.Errorf("curl: field %q: no operator allowed here", f.Name)
		}
		if !validName(col) || col == "#include" {
			return fmt.Errorf("%w: %q", realtime.ErrUnknownField, col)
		}
	}
	return nil
}

func form(fields []realtime.Field) string {
	var b strings.Builder
	EncodeFields(&b, fields)
	return b.String()
}

// Load is /single: the first line of the answer is the row; an empty answer is no row.
func (d *Driver) Load(ctx context.Context, db, table string, fields []realtime.Field) (realtime.Row, error) {
	if err := check(fields, true); err != nil {
		return nil, err
	}
	body, err := d.do(ctx, db, "single", "", form(fields))
	if err != nil {
		return nil, err
	}
	if i := strings.IndexAny(body, "\r\n"); i >= 0 {
		body = body[:i]
	}
	row, err := ParsePairs(body)
	if err != nil {
		return nil, err
	}
	if len(row) == 0 {
		return nil, realtime.ErrNotFound
	}
	return row, nil
}

// LoadMulti is /multi: one row a line.
func (d *Driver) LoadMulti(ctx context.Context, db, table string, fields []realtime.Field) ([]realtime.Row, error) {
	if err := check(fields, true); err != nil {
		return nil, err
	}
	body, err := d.do(ctx, db, "multi", "", form(fields))
	if err != nil {
		return nil, err
	}
	var rows []realtime.Row
	for _, line := range Lines(body) {
		row, err := ParsePairs(line)
		if err != nil {
			return nil, err
		}
		if len(row) > 0 {
			rows = append(rows, row)
		}
	}
	return rows, nil
}

func (d *Driver) count(ctx context.Context, db, op, query string, fields []realtime.Field) (int64, error) {
	body, err := d.do(ctx, db, op, query, form(fields))
	if err != nil {
		return 0, err
	}
	n, err := ParseCount(body)
	if err != nil {
		return 0, fmt.Errorf("curl: %s: %w", op, err)
	}
	return n, nil
}

// Update is /update?key=value with the new values as the form.
func (d *Driver) Update(ctx context.Context, db, table, keyField, keyValue string, fields []realtime.Field) (int64, error) {
	key := []realtime.Field{{Name: keyField, Value: keyValue}}
	if err := check(key, false); err != nil {
		return 0, err
	}
	if err := check(fields, false); err != nil {
		return 0, err
	}
	return d.count(ctx, db, "update", form(key), fields)
}

// Update2 is /update2?lookup fields, with the new values as the form (see the package doc).
func (d *Driver) Update2(ctx context.Context, db, table string, lookup, update []realtime.Field) (int64, error) {
	if err := check(lookup, true); err != nil {
		return 0, err
	}
	if err := check(update, false); err != nil {
		return 0, err
	}
	return d.count(ctx, db, "update2", form(lookup), update)
}

// Store is /store.
func (d *Driver) Store(ctx context.Context, db, table string, fields []realtime.Field) (int64, error) {
	if err := check(fields, false); err != nil {
		return 0, err
	}
	return d.count(ctx, db, "store", "", fields)
}

// Destroy is /destroy with the key first, then the other fields.
func (d *Driver) Destroy(ctx context.Context, db, table, keyField, keyValue string, fields []realtime.Field) (int64, error) {
	all := append([]realtime.Field{{Name: keyField, Value: keyValue}}, fields...)
	if err := check(all, false); err != nil {
		return 0, err
	}
	return d.count(ctx, db, "destroy", "", all)
}

// TypeName is the name /require uses for a column type.
func TypeName(t realtime.ColumnType) string {
	switch t {
	case realtime.TypeChar:
		return "char"
	case realtime.TypeInteger:
		return "integer4"
	case realtime.TypeUnsignedInteger:
		return "uinteger4"
	case realtime.TypeFloat:
		return "float"
	case realtime.TypeDate:
		return "date"
	case realtime.TypeDateTime:
		return "datetime"
	}
	return "unknown"
}

// Require is /require with name=type:size pairs. The service answers 0 when it has every
// column; any other number is reported as an error wrapping realtime.ErrUnknownField naming
// the columns asked for (the protocol does not say which one is missing).
func (d *Driver) Require(ctx context.Context, db, table string, reqs []realtime.Requirement) error {
	fields := make([]realtime.Field, 0, len(reqs))
	names := make([]string, 0, len(reqs))
	for _, r := range reqs {
		fields = append(fields, realtime.Field{Name: r.Name, Value: TypeName(r.Type) + ":" + strconv.Itoa(r.Size)})
		names = append(names, r.Name)
	}
	if err := check(fields, false); err != nil {
		return err
	}
	body, err := d.do(ctx, db, "require", "", form(fields))
	if err != nil {
		return err
	}
	s := strings.TrimSpace(body)
	n, perr := strconv.Atoi(s)
	if perr != nil {
		return fmt.Errorf("curl: require: %w: want a number, got %q", ErrMalformed, clip(s))
	}
	if n != 0 {
		err := fmt.Errorf("%w: %s (%s): the service at %s does not satisfy %s (answer %d)",
			realtime.ErrUnknownField, strings.Join(names, ", "), table, db, strings.Join(names, ", "), n)
		d.log.Warn("curl: " + err.Error())
		return err
	}
	return nil
}

// Unload does nothing: the driver caches no column metadata.
func (d *Driver) Unload(ctx context.Context, db, table string) error { return nil }

// StaticLoad is GET /static?file=name: one line a variable with category, var_name, var_val,
// cat_metric and, when the service sends it, var_metric (otherwise the line's position). The
// rows come back ordered as the realtime contract says; a row marked commented is left out.
func (d *Driver) StaticLoad(ctx context.Context, db, table, filename string) ([]realtime.StaticRow, error) {
	body, err := d.do(ctx, db, "static", "file="+Encode(filename), "")
	if err != nil {
		return nil, err
	}
	var rows []realtime.StaticRow
	for i, line := range Lines(body) {
		pairs, err := parsePairs(line, true)
		if err != nil {
			return nil, err
		}
		r := realtime.StaticRow{VarMetric: i}
		skip := false
		for _, p := range pairs {
			var err error
			switch strings.ToLower(p.Name) {
			case "category":
				r.Category = p.Value
			case "var_name":
				r.Name = p.Value
			case "var_val":
				r.Value = p.Value
			case "cat_metric":
				r.CatMetric, err = atoiField(p)
			case "var_metric":
				r.VarMetric, err = atoiField(p)
			case "commented":
				var c int
				c, err = atoiField(p)
				skip = c != 0
			}
			if err != nil {
				return nil, err
			}
		}
		if !skip && r.Name != "" {
			rows = append(rows, r)
		}
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

func atoiField(f realtime.Field) (int, error) {
	if f.Value == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(f.Value))
	if err != nil {
		return 0, fmt.Errorf("curl: static: %w: %s=%q is not a number", ErrMalformed, f.Name, clip(f.Value))
	}
	return n, nil
}
