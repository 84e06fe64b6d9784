package cdr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pleiades-pbx/pleiades/internal/conf"
)

// PgSQL is cdr_pgsql: records inserted into Asterisk's cdr table
// (contrib/realtime/postgresql/postgresql_cdr.sql). As cdr_pgsql does, it reads the
// table's columns when it connects and fills those it knows (a column the table lacks is
// reported once and left out; a column it does not know stays NULL). It runs behind a
// spooled queue: a database that is down delays records, never a call.
type PgSQL struct {
	Host, Port, DBName, User, Password, AppName string
	Table                                       string // "cdr" unless set; "schema.table" allowed
	Encoding                                    string
	UseUTC                                      bool // timezone=UTC: times in UTC, else local time
	Log                                         *slog.Logger

	mu       sync.Mutex
	conn     *pgx.Conn
	cols     []string // the table's columns we fill, in order
	reported bool
}

// ParsePgSQL reads cdr_pgsql.conf's [global]; nil (no error) when the file or its [global]
// is absent: the backend is off, as cdr_pgsql declines to load without it.
func ParsePgSQL(cfg *conf.Config) (*PgSQL, error) {
	if cfg == nil {
		return nil, nil
	}
	g := cfg.Category("global")
	if g == nil {
		return nil, nil
	}
	p := &PgSQL{Host: g.Get("hostname"), Port: g.Get("port"), DBName: g.Get("dbname"), User: g.Get("user"),
		Password: g.Get("password"), AppName: g.Get("appname"), Table: g.Get("table"), Encoding: g.Get("encoding")}
	if tz := g.Get("timezone"); tz != "" {
		p.UseUTC = strings.EqualFold(tz, "UTC") || strings.EqualFold(tz, "GMT")
	}
	if p.Port != "" {
		if _, err := strconv.Atoi(p.Port); err != nil {
			v := g.All("port")
			last := v[len(v)-1]
			return nil, &conf.Error{File: last.File, Line: last.Line, Msg: "\"port\": " + strconv.Quote(p.Port) + " is not a port number"}
		}
	}
	if p.Table == "" {
		p.Table = "cdr"
	}
	if p.DBName == "" {
		p.DBName = "asterisk"
	}
	if p.User == "" {
		p.User = "asterisk"
	}
	return p, nil
}

// Name is the backend's name as Asterisk's "cdr show status" lists it.
func (*PgSQL) Name() string { return "pgsql" }

// pgColumns are the cdr table's columns the backend fills, as the schema names them.
var pgColumns = []string{"accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel", "lastapp", "lastdata",
	"start", "answer", "end", "duration", "billsec", "disposition", "amaflags", "userfield", "uniqueid", "linkedid",
	"peeraccount", "sequence"}

func (p *PgSQL) connConfig() (*pgx.ConnConfig, error) {
	cc, err := pgx.ParseConfig("sslmode=disable connect_timeout=5")
	if err != nil {
		return nil, err
	}
	if p.Host != "" {
		cc.Host = p.Host
	}
	if p.Port != "" {
		n, _ := strconv.Atoi(p.Port)
		cc.Port = uint16(n)
	}
	cc.Database, cc.User, cc.Password = p.DBName, p.User, p.Password
	if p.AppName != "" {
		cc.RuntimeParams["application_name"] = p.AppName
	}
	if p.Encoding != "" {
		cc.RuntimeParams["client_encoding"] = p.Encoding
	}
	return cc, nil
}

func (p *PgSQL) tableIdent() pgx.Identifier {
	return pgx.Identifier(strings.Split(p.Table, "."))
}

// connect opens the connection and reads the table's columns (the caller holds p.mu).
func (p *PgSQL) connect(ctx context.Context) error {
	cc, err := p.connConfig()
	if err != nil {
		return err
	}
	c, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return fmt.Errorf("cdr_pgsql: %w", err)
	}
	schema, table := "", p.Table
	if i := strings.LastIndexByte(p.Table, '.'); i >= 0 {
		schema, table = p.Table[:i], p.Table[i+1:]
	}
	q := `SELECT column_name FROM information_schema.columns WHERE table_name = $1 AND table_schema = `
	args := []any{table}
	if schema == "" {
		q += `current_schema()`
	} else {
		q += `$2`
		args = append(args, schema)
	}
	rows, err := c.Query(ctx, q, args...)
	if err != nil {
		c.Close(ctx)
		return fmt.Errorf("cdr_pgsql: columns of %s: %w", p.Table, err)
	}
	have := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err == nil {
			have[strings.ToLower(n)] = true
		}
	}
	rows.Close()
	if len(have) == 0 {
		c.Close(ctx)
		return fmt.Errorf("cdr_pgsql: table %s not found", p.Table)
	}
	var cols, missing []string
	for _, col := range pgColumns {
		if have[col] {
			cols = append(cols, col)
		} else {
			missing = append(missing, col)
		}
	}
	if len(missing) > 0 && !p.reported && p.Log != nil {
		p.Log.Warn("cdr_pgsql: the table lacks columns, they are not written", "table", p.Table, "columns", strings.Join(missing, ","))
		p.reported = true
	}
	p.conn, p.cols = c, cols
	return nil
}

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
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn == nil || p.conn.IsClosed() {
		if err := p.connect(ctx); err != nil {
			return err
		}
	}
	idents := make([]string, len(p.cols))
	marks := make([]string, len(p.cols))
	for i, c := range p.cols {
		idents[i] = pgx.Identifier{c}.Sanitize()
		marks[i] = "$" + strconv.Itoa(i+1)
		if c == "start" || c == "answer" || c == "end" {
			marks[i] += "::timestamp"
		}
	}
	sql := "INSERT INTO " + p.tableIdent().Sanitize() + " (" + strings.Join(idents, ",") + ") VALUES (" + strings.Join(marks, ",") + ")"
	err := pgx.BeginFunc(ctx, p.conn, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, r := range recs {
			args := make([]any, len(p.cols))
			for i, c := range p.cols {
				args[i] = p.value(r, c)
			}
			b.Queue(sql, args...)
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		p.conn.Close(context.Background())
		p.conn = nil
		return fmt.Errorf("cdr_pgsql: %w", err)
	}
	return nil
}

// Close closes the connection.
func (p *PgSQL) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn == nil {
		return nil
	}
	err := p.conn.Close(context.Background())
	p.conn = nil
	return errors.Join(err)
}
