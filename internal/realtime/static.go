package realtime

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pleiades-pbx/pleiades/internal/conf"
)

var _ conf.StaticSource = (*Engine)(nil)

// neverStatic are the files that never come from a database, as in Asterisk: asterisk.conf
// and logger.conf are read before any database is reachable, and extconfig.conf says where
// the databases are.
var neverStatic = map[string]bool{"asterisk.conf": true, "extconfig.conf": true, "logger.conf": true}

// NeverStatic reports whether the configuration file name (a path or a base name, any case)
// is one that is always read from the configuration directory: extconfig.conf refuses a
// mapping for it, static mode never maps it, and the server assembly reads it from its file.
func NeverStatic(name string) bool { return neverStatic[strings.ToLower(filepath.Base(name))] }

type includeStackKey struct{}

// includeStack returns the files being loaded in ctx (static mode #include chain).
func includeStack(ctx context.Context) []string {
	s, _ := ctx.Value(includeStackKey{}).([]string)
	return s
}

func (e *Engine) staticRoute(filename string) (*route, string) {
	st := e.st.Load()
	if NeverStatic(filename) {
		return nil, ""
	}
	if r := st.static[filename]; r != nil {
		return r, filename
	}
	if base := filepath.Base(filename); base != filename {
		if r := st.static[base]; r != nil {
			return r, base
		}
	}
	if r := st.static["global"]; r != nil {
		return r, filepath.Base(filename)
	}
	return nil, ""
}

// StaticMapped reports whether filename would be loaded from a database.
func (e *Engine) StaticMapped(filename string) bool {
	r, _ := e.staticRoute(filename)
	return r != nil
}

// LoadStatic implements conf.StaticSource: when filename is mapped (by its own line, or by
// "global"), its rows are read from the driver and built into a configuration equal to the one
// the same file would parse to. Categories and variables carry File "driver:db/table:filename"
// and Line the row number (1-based). mapped is false when the file is not mapped.
func (e *Engine) LoadStatic(ctx context.Context, filename string) (*conf.Config, bool, error) {
	r, name := e.staticRoute(filename)
	if r == nil {
		return nil, false, nil
	}
	cfg := &conf.Config{File: filename}
	if err := e.loadStaticInto(ctx, cfg, r, name); err != nil {
		return nil, true, err
	}
	return cfg, true, nil
}

// loadStaticInto appends the rows of the static file name to cfg. As in Asterisk's drivers, a row
// after an #include row continues the category it belongs to when category and cat_metric are
// unchanged, and an included file's rows start categories of their own.
func (e *Engine) loadStaticInto(ctx context.Context, cfg *conf.Config, r *route, name string) error {
	stack := includeStack(ctx)
	if slices.Contains(stack, name) {
		return fmt.Errorf("realtime: static include loop: %s -> %s", strings.Join(stack, " -> "), name)
	}
	ctx = context.WithValue(ctx, includeStackKey{}, append(slices.Clip(stack), name))

	var used *Mapping
	rows, err := run(ctx, name, r, func(d Driver, m *Mapping) ([]StaticRow, error) {
		used = m
		return d.StaticLoad(ctx, m.Database, m.Table, name)
	})
	if err != nil {
		return fmt.Errorf("realtime: static %s: %w", name, err)
	}
	if len(rows) == 0 {
		e.log.Warn(fmt.Sprintf("realtime: could not find config '%s' in the database (%s:%s/%s)", name, used.Driver, used.Database, used.Table))
	}
	src := fmt.Sprintf("%s:%s/%s:%s", used.Driver, used.Database, used.Table, name)
	var cur *conf.Category
	lastCat, lastMetric, started := "", 0, false
	for i, row := range rows {
		line := i + 1
		if row.Name == "#include" {
			if err := e.include(ctx, cfg, row.Value); err != nil {
				return fmt.Errorf("%s:%d: #include %s: %w", src, line, row.Value, err)
			}
			continue
		}
		if !started || row.Category != lastCat || row.CatMetric != lastMetric {
			cur = &conf.Category{Name: row.Category, File: src, Line: line}
			cfg.Categories = append(cfg.Categories, cur)
			lastCat, lastMetric, started = row.Category, row.CatMetric, true
		}
		cur.Vars = append(cur.Vars, &conf.Variable{Name: row.Name, Value: row.Value, File: src, Line: line})
	}
	return nil
}

// include appends the file named by an #include row: from the database when it is mapped,
// otherwise through the file loader.
func (e *Engine) include(ctx context.Context, cfg *conf.Config, file string) error {
	file = strings.Trim(strings.TrimSpace(file), `"<>`)
	if r, name := e.staticRoute(file); r != nil {
		return e.loadStaticInto(ctx, cfg, r, name)
	}
	stack := includeStack(ctx)
	if slices.Contains(stack, file) {
		return fmt.Errorf("realtime: static include loop: %s -> %s", strings.Join(stack, " -> "), file)
	}
	lp := e.fileLoader.Load()
	if lp == nil {
		return fmt.Errorf("realtime: %s is not mapped and no file loader is set", file)
	}
	sub, err := (*lp)(context.WithValue(ctx, includeStackKey{}, append(slices.Clip(stack), file)), file)
	if err != nil {
		return err
	}
	if sub == nil {
		return nil
	}
	cfg.Categories = append(cfg.Categories, sub.Categories...)
	return nil
}
