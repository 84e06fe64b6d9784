package cdr

import (
	"context"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/diskqueue"
	"github.com/pleiades-pbx/pleiades/internal/pgtable"
)

// PgSQL is cdr_pgsql: records inserted into Asterisk's cdr table
// (contrib/realtime/postgresql/postgresql_cdr.sql). As cdr_pgsql does, it reads the
// table's columns when it connects and fills those it knows (a column the table lacks is
// reported once and left out; a column it does not know stays NULL: package pgtable). It
// runs behind a spooled queue: a database that is down delays records, never a call.
type PgSQL struct {
	pgtable.Writer
	UseUTC bool // timezone=UTC: times in UTC, else local time
}

// NewPgSQL returns cdr_pgsql writing to the table c names.
func NewPgSQL(c pgtable.Conn) *PgSQL {
	return &PgSQL{Writer: pgtable.Writer{Conn: c, Module: "cdr_pgsql", Columns: pgColumns,
		Key: []string{"uniqueid", "sequence"}}}
}

// ParsePgSQL reads cdr_pgsql.conf's [global]; nil (no error) when the file or its [global]
// is absent: the backend is off, as cdr_pgsql declines to load without it.
func ParsePgSQL(cfg *conf.Config) (*PgSQL, error) {
	c, g, err := pgtable.ParseGlobal(cfg, "cdr")
	if c == nil || err != nil {
		return nil, err
	}
	p := NewPgSQL(*c)
	if tz := g.Get("timezone"); tz != "" {
		p.UseUTC = strings.EqualFold(tz, "UTC") || strings.EqualFold(tz, "GMT")
	}
	return p, nil
}

// Name is the backend's name as Asterisk's "cdr show status" lists it.
func (*PgSQL) Name() string { return "pgsql" }

// pgColumns are the cdr table's columns the backend fills, as the schema names them.
var pgColumns = []string{"accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel", "lastapp", "lastdata",
	"start", "answer", "end", "duration", "billsec", "disposition", "amaflags", "userfield", "uniqueid", "linkedid",
	"peeraccount", "sequence"}

func (p *PgSQL) value(r *Record, col string) any {
	t := func(v time.Time) any {
		if v.IsZero() {
			return nil
		}
		if p.UseUTC {
			return v.UTC().Format("2006-01-02 15:04:05.000000")
		}
		return v.Local().Format("2006-01-02 15:04:05.000000")
	}
	switch col {
	case "start":
		return t(r.Start)
	case "answer":
		return t(r.Answer)
	case "end":
		return t(r.End)
	case "duration":
		return r.Duration()
	case "billsec":
		return r.Billsec(false)
	case "sequence":
		return r.Sequence
	}
	v, _ := r.Field(col, false)
	return v
}

// Write inserts the records in one transaction, in order.
func (p *PgSQL) Write(ctx context.Context, recs []*Record) error {
	return p.Insert(ctx, len(recs), p.values(recs))
}

// values gives recs[i]'s value of a column, as pgtable asks for it.
func (p *PgSQL) values(recs []*Record) func(i int, col string) any {
	return func(i int, col string) any { return p.value(recs[i], col) }
}

// Begin opens a transaction that records are copied into as they come (its queue hands
// them over piece by piece, diskqueue.Streamer) and that commits them all at once.
func (p *PgSQL) Begin(ctx context.Context) (diskqueue.Stream[*Record], error) {
	tx, err := p.Writer.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return pgStream{p, tx}, nil
}

type pgStream struct {
	p  *PgSQL
	tx *pgtable.Tx
}

func (s pgStream) Append(ctx context.Context, recs []*Record) error {
	return s.tx.Insert(ctx, len(recs), s.p.values(recs))
}

func (s pgStream) Commit(ctx context.Context) error { return s.tx.Commit(ctx) }

func (s pgStream) Abort() { s.tx.Abort() }
