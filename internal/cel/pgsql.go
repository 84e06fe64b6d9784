package cel

import (
	"context"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/pgtable"
)

// PgSQL is cel_pgsql: events inserted into Asterisk's cel table (id, eventtype, eventtime,
// cid_name, cid_num, cid_ani, cid_rdnis, cid_dnid, exten, context, channame, appname,
// appdata, amaflags, accountcode, peeraccount, uniqueid, linkedid, userfield, peer, extra),
// into the columns the table has. It is a Backend: run it behind a Queue (Start), which
// keeps events on disk while the database is away.
type PgSQL struct {
	pgtable.Writer
	UseGMTime bool
}

// NewPgSQL returns cel_pgsql writing to the table c names.
func NewPgSQL(c pgtable.Conn) *PgSQL {
	return &PgSQL{Writer: pgtable.Writer{Conn: c, Module: "cel_pgsql", Columns: celColumns}}
}

// ParsePgSQL reads cel_pgsql.conf's [global] (nil when absent).
func ParsePgSQL(cfg *conf.Config) (*PgSQL, error) {
	c, g, err := pgtable.ParseGlobal(cfg, "cel")
	if c == nil || err != nil {
		return nil, err
	}
	p := NewPgSQL(*c)
	if p.UseGMTime, err = g.Bool("usegmtime", false); err != nil {
		return nil, err
	}
	return p, nil
}

var celColumns = []string{"eventtype", "eventtime", "cid_name", "cid_num", "cid_ani", "cid_rdnis", "cid_dnid", "exten", "context",
	"channame", "appname", "appdata", "amaflags", "accountcode", "peeraccount", "uniqueid", "linkedid", "userfield", "peer", "extra"}

// Name is the backend's name in "cel show status".
func (p *PgSQL) Name() string { return "cel_pgsql" }

func (p *PgSQL) value(x Event, col string) any {
	if col == "amaflags" {
		return x.AMAFlags
	}
	v, _ := fieldValue(x, col, p.UseGMTime)
	return v
}

// Write inserts the events in one transaction.
func (p *PgSQL) Write(ctx context.Context, batch []Event) error {
	return p.Insert(ctx, len(batch), func(i int, col string) any { return p.value(batch[i], col) })
}
