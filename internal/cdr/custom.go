package cdr

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/dialplan"
	"github.com/pleiades-pbx/pleiades/internal/dialplan/expr"
)

// Custom is cdr_custom with Asterisk 20's (legacy) mappings: each line of
// cdr_custom.conf's [mappings], "File.csv => template", appends the template, expanded for
// the record, to astlogdir/cdr-custom/File.csv. Templates use ${CDR(field)}, ${CSV_QUOTE(s)}
// and any dialplan function of the engine; ${name} reads a CDR variable.
type Custom struct {
	Dir   string
	Files []CustomFile
	DP    *dialplan.Engine // other functions; nil: only CDR() and CSV_QUOTE()
}

// CustomFile is one mapping.
type CustomFile struct {
	Name, Template string
	File           string // where it was configured
	Line           int
}

// ParseCustom reads cdr_custom.conf's [mappings] (nil when there is none). A template that
// calls a function that does not exist, or a file name with a path, is an error with its
// file:line; all are reported in one pass.
func ParseCustom(cfg *conf.Config, dir string, dp *dialplan.Engine) (*Custom, error) {
	if cfg == nil {
		return nil, nil
	}
	m := cfg.Category("mappings")
	if m == nil || len(m.Vars) == 0 {
		return nil, nil
	}
	c := &Custom{Dir: dir, DP: dp}
	var errs conf.ErrorList
	for _, v := range m.Vars {
		f := CustomFile{Name: strings.TrimSpace(v.Name), Template: v.Value, File: v.File, Line: v.Line}
		if f.Name == "" || strings.ContainsAny(f.Name, `/\`) || f.Name == "." || f.Name == ".." {
			errs = append(errs, &conf.Error{File: v.File, Line: v.Line, Msg: fmt.Sprintf("%q is not a file name", f.Name)})
			continue
		}
		if _, err := c.expand(context.Background(), f.Template, &Record{}); err != nil {
			errs = append(errs, &conf.Error{File: v.File, Line: v.Line, Msg: err.Error()})
			continue
		}
		c.Files = append(c.Files, f)
	}
	if len(errs) > 0 {
		return nil, errors.Join(ErrConfig, errs)
	}
	return c, nil
}

// Name is the backend's name in "cdr show status".
func (*Custom) Name() string { return "cdr-custom" }

// customEnv expands a template for one record.
type customEnv struct {
	c *Custom
	r *Record
}

func (e customEnv) Var(name string) (string, bool) {
	v, ok := e.r.Vars[name]
	return v, ok
}

// errUnknownFunction is returned for a function neither cdr_custom nor the dialplan knows.
var errUnknownFunction = errors.New("function not registered")

func (e customEnv) Func(ctx context.Context, name, args string) (string, error) {
	switch strings.ToUpper(strings.TrimSpace(name)) {
	case "CDR":
		field, _, _ := strings.Cut(args, ",")
		v, _ := e.r.Field(strings.TrimSpace(field), false)
		return v, nil
	case "CSV_QUOTE":
		return `"` + strings.ReplaceAll(args, `"`, `""`) + `"`, nil
	}
	if e.c.DP != nil {
		if f := e.c.DP.LookupFunction(name); f != nil && f.Read != nil {
			return f.Read(ctx, dialplan.NewChannel("CDR/custom", "", "", 1), args)
		}
	}
	return "", fmt.Errorf("%w: %s", errUnknownFunction, name)
}

func (c *Custom) expand(ctx context.Context, tmpl string, r *Record) (string, error) {
	out, err := expr.Substitute(ctx, tmpl, customEnv{c, r})
	if err != nil && errors.Is(err, errUnknownFunction) {
		return out, err
	}
	return out, nil
}

// Write appends each record to each mapping's file.
func (c *Custom) Write(ctx context.Context, recs []*Record) error {
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return fmt.Errorf("cdr_custom: %w", err)
	}
	for _, f := range c.Files {
		var b strings.Builder
		for _, r := range recs {
			line, _ := c.expand(ctx, f.Template, r)
			b.WriteString(line)
			b.WriteByte('\n')
		}
		if err := appendFile(filepath.Join(c.Dir, f.Name), b.String()); err != nil {
			return err
		}
	}
	return nil
}
