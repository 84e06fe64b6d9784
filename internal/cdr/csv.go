package cdr

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/diskqueue"
)

// CSVSettings are cdr_csv.conf's [csv] options, with cdr_csv.c's defaults.
type CSVSettings struct {
	UseGMTime     bool // usegmtime (no): times in UTC instead of local time
	LogUniqueID   bool // loguniqueid (no): a uniqueid column
	LogUserField  bool // loguserfield (no): a userfield column
	AccountLogs   bool // accountlogs (yes): also <accountcode>.csv
	NewCDRColumns bool // newcdrcolumns (no): peeraccount, linkedid, sequence columns
}

// ParseCSVSettings reads cdr_csv.conf (nil: defaults), every bad value with its file:line.
func ParseCSVSettings(cfg *conf.Config) (CSVSettings, error) {
	s := CSVSettings{AccountLogs: true}
	if cfg == nil {
		return s, nil
	}
	cat := cfg.Category("csv")
	var errs []error
	for _, f := range []struct {
		name string
		p    *bool
	}{{"usegmtime", &s.UseGMTime}, {"loguniqueid", &s.LogUniqueID}, {"loguserfield", &s.LogUserField},
		{"accountlogs", &s.AccountLogs}, {"newcdrcolumns", &s.NewCDRColumns}} {
		v, err := cat.Bool(f.name, *f.p)
		if err != nil {
			errs = append(errs, err)
		}
		*f.p = v
	}
	return s, errors.Join(errs...)
}

// CSV is cdr_csv: one line a record in dir/Master.csv (dir is astlogdir/cdr-csv), and in
// dir/<accountcode>.csv with accountlogs, in cdr_csv.c's column order and quoting.
type CSV struct {
	Dir string
	Set CSVSettings
}

// Name is the backend's name as Asterisk's "cdr show status" lists it.
func (*CSV) Name() string { return "csv" }

// Line formats a record as cdr_csv does: strings and times double-quoted (a '"' doubled),
// duration and billsec bare, comma-separated, ending in a newline.
func (c *CSV) Line(r *Record, initiated bool) string {
	var b strings.Builder
	str := func(s string) {
		b.WriteByte('"')
		b.WriteString(strings.ReplaceAll(s, `"`, `""`))
		b.WriteString(`",`)
	}
	date := func(t time.Time) {
		if !t.IsZero() {
			if c.Set.UseGMTime {
				t = t.UTC()
			} else {
				t = t.Local()
			}
		}
		str(FormatTime(t))
	}
	num := func(n int64) { b.WriteString(strconv.FormatInt(n, 10)); b.WriteByte(',') }
	for _, s := range []string{r.AccountCode, r.Src, r.Dst, r.DContext, r.CLID, r.Channel, r.DstChannel, r.LastApp, r.LastData} {
		str(s)
	}
	date(r.Start)
	date(r.Answer)
	date(r.End)
	num(r.Duration())
	num(r.Billsec(initiated))
	str(r.Disposition.String())
	str(AMAString(r.AMAFlags))
	if c.Set.LogUniqueID {
		str(r.UniqueID)
	}
	if c.Set.LogUserField {
		str(r.UserField)
	}
	if c.Set.NewCDRColumns {
		str(r.PeerAccount)
		str(r.LinkedID)
		num(int64(r.Sequence))
	}
	s := b.String()
	return s[:len(s)-1] + "\n"
}

// Write appends the records to Master.csv (and account files). A directory that cannot be
// written is an error (the records stay queued and the error is logged once).
func (c *CSV) Write(ctx context.Context, recs []*Record) error {
	b := &csvBatch{c: c}
	b.Append(ctx, recs)
	return b.Commit(ctx)
}

// Begin opens a batch whose lines are made as its records come (its queue hands them over
// piece by piece, diskqueue.Streamer) and written at Commit, one write a file.
func (c *CSV) Begin(context.Context) (diskqueue.Stream[*Record], error) {
	return &csvBatch{c: c}, nil
}

// csvBatch is the lines of an open batch of the CSV backend.
type csvBatch struct {
	c        *CSV
	master   strings.Builder
	accounts map[string]*strings.Builder
}

// Append makes the records' lines.
func (b *csvBatch) Append(_ context.Context, recs []*Record) error {
	for _, r := range recs {
		l := b.c.Line(r, false)
		b.master.WriteString(l)
		if b.c.Set.AccountLogs && r.AccountCode != "" && !strings.ContainsAny(r.AccountCode, `/\`) && r.AccountCode != ".." && r.AccountCode != "." {
			if b.accounts == nil {
				b.accounts = map[string]*strings.Builder{}
			}
			if b.accounts[r.AccountCode] == nil {
				b.accounts[r.AccountCode] = &strings.Builder{}
			}
			b.accounts[r.AccountCode].WriteString(l)
		}
	}
	return nil
}

// Commit appends the lines to Master.csv and to the accounts' files.
func (b *csvBatch) Commit(context.Context) error {
	if b.master.Len() == 0 {
		return nil
	}
	if err := os.MkdirAll(b.c.Dir, 0o755); err != nil {
		return fmt.Errorf("cdr_csv: %w", err)
	}
	if err := appendFile(filepath.Join(b.c.Dir, "Master.csv"), b.master.String()); err != nil {
		return err
	}
	for acct, l := range b.accounts {
		if err := appendFile(filepath.Join(b.c.Dir, acct+".csv"), l.String()); err != nil {
			return err
		}
	}
	return nil
}

// Abort drops the lines.
func (b *csvBatch) Abort() {}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("cdr: %w", err)
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return fmt.Errorf("cdr: %w", err)
	}
	return f.Close()
}
