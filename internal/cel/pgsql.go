package cel

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pleiades-pbx/pleiades/internal/conf"
)

// PgSQL is cel_pgsql: events inserted into Asterisk's cel table (id, eventtype, eventtime,
// cid_name, cid_num, cid_ani, cid_rdnis, cid_dnid, exten, context, channame, appname,
// appdata, amaflags, accountcode, peeraccount, uniqueid, linkedid, userfield, peer, extra),
// into the columns the table has. Events wait in a bounded memory queue (QueueLimit) drained
// by one goroutine in order, retried with backoff while the database is down; a full queue
// drops new events (counted). Unlike the CDR backends the queue is not on disk.
type PgSQL struct {
	Host, Port, DBName, User, Password, AppName string
	Table                                       string
	UseGMTime                                   bool
	Log                                         *slog.Logger

	mu      sync.Mutex
	queue   []Event
	dropped uint64
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	conn    *pgx.Conn
	cols    []string
	started bool
}

// QueueLimit is how many events cel_pgsql holds while the database is away.
const QueueLimit = 100000

// ParsePgSQL reads cel_pgsql.conf's [global] (nil when absent).
func ParsePgSQL(cfg *conf.Config) (*PgSQL, error) {
	if cfg == nil {
		return nil, nil
	}
	g := cfg.Category("global")
	if g == nil {
		return nil, nil
	}
	p := &PgSQL{Host: g.Get("hostname"), Port: g.Get("port"), DBName: g.Get("dbname"), User: g.Get("user"),
		Password: g.Get("password"), AppName: g.Get("appname"), Table: g.Get("table")}
	gmt, err := g.Bool("usegmtime", false)
	if err != nil {
		return nil, err
	}
	p.UseGMTime = gmt
	if p.Port != "" {
		if _, err := strconv.Atoi(p.Port); err != nil {
			v := g.All("port")
			return nil, &conf.Error{File: v[len(v)-1].File, Line: v[len(v)-1].Line, Msg: "\"port\": " + strconv.Quote(p.Port) + " is not a port number"}
		}
	}
	if p.Table == "" {
		p.Table = "cel"
	}
	if p.DBName == "" {
		p.DBName = "asterisk"
	}
	if p.User == "" {
		p.User = "asterisk"
	}
	return p, nil
}

var celColumns = []string{"eventtype", "eventtime", "cid_name", "cid_num", "cid_ani", "cid_rdnis", "cid_dnid", "exten", "context",
	"channame", "appname", "appdata", "amaflags", "accountcode", "peeraccount", "uniqueid", "linkedid", "userfield", "peer", "extra"}

// Start runs the writer goroutine.
func (p *PgSQL) Start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started {
		return
	}
	p.started = true
	p.wake, p.stop, p.done = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	go p.run()
}

// Sink is the engine's receiver: it queues the event and returns.
func (p *PgSQL) Sink(x Event) {
	p.mu.Lock()
	if len(p.queue) >= QueueLimit {
		p.dropped++
		p.mu.Unlock()
		return
	}
	p.queue = append(p.queue, x)
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Backlog returns the events waiting and those dropped.
func (p *PgSQL) Backlog() (int, uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queue), p.dropped
}

// Close stops the writer (what is queued is lost) and closes the connection.
func (p *PgSQL) Close() {
	p.mu.Lock()
	started := p.started
	p.mu.Unlock()
	if !started {
		return
	}
	close(p.stop)
	<-p.done
	if p.conn != nil {
		p.conn.Close(context.Background())
	}
}

func (p *PgSQL) run() {
	defer close(p.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-p.stop; cancel() }()
	backoff := 100 * time.Millisecond
	failing := false
	for {
		p.mu.Lock()
		batch := append([]Event(nil), p.queue[:min(len(p.queue), 100)]...)
		p.mu.Unlock()
		if len(batch) == 0 {
			select {
			case <-p.wake:
				continue
			case <-p.stop:
				return
			}
		}
		if err := p.write(ctx, batch); err != nil {
			if !failing && p.Log != nil {
				p.Log.Error("cel_pgsql: events kept in the queue", "err", err)
			}
			failing = true
			select {
			case <-time.After(backoff):
			case <-p.stop:
				return
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		failing, backoff = false, 100*time.Millisecond
		p.mu.Lock()
		p.queue = p.queue[len(batch):]
		p.mu.Unlock()
	}
}

func (p *PgSQL) connect(ctx context.Context) error {
	cc, err := pgx.ParseConfig("sslmode=disable connect_timeout=5")
	if err != nil {
		return err
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
	c, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return fmt.Errorf("cel_pgsql: %w", err)
	}
	rows, err := c.Query(ctx, "SELECT * FROM "+pgx.Identifier(strings.Split(p.Table, ".")).Sanitize()+" WHERE false")
	if err != nil {
		c.Close(ctx)
		return fmt.Errorf("cel_pgsql: %w", err)
	}
	have := map[string]bool{}
	for _, f := range rows.FieldDescriptions() {
		have[strings.ToLower(f.Name)] = true
	}
	rows.Close()
	p.cols = p.cols[:0]
	for _, col := range celColumns {
		if have[col] {
			p.cols = append(p.cols, col)
		}
	}
	p.conn = c
	return nil
}

func (p *PgSQL) value(x Event, col string) any {
	switch col {
	case "eventtype":
		return x.Type
	case "eventtime":
		t := x.Time.Local()
		if p.UseGMTime {
			t = x.Time.UTC()
		}
		return t.Format("2006-01-02 15:04:05.000000")
	case "amaflags":
		return x.AMAFlags
	}
	return map[string]string{"cid_name": x.CIDName, "cid_num": x.CIDNum, "cid_ani": x.CIDANI, "cid_rdnis": x.CIDRDNIS,
		"cid_dnid": x.CIDDNID, "exten": x.Exten, "context": x.Context, "channame": x.Channel, "appname": x.AppName,
		"appdata": x.AppData, "accountcode": x.AccountCode, "peeraccount": x.PeerAccount, "uniqueid": x.UniqueID,
		"linkedid": x.LinkedID, "userfield": x.UserField, "peer": x.Peer, "extra": x.Extra}[col]
}

func (p *PgSQL) write(ctx context.Context, batch []Event) error {
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
		if c == "eventtime" {
			marks[i] += "::timestamp"
		}
	}
	q := "INSERT INTO " + pgx.Identifier(strings.Split(p.Table, ".")).Sanitize() + " (" + strings.Join(idents, ",") + ") VALUES (" + strings.Join(marks, ",") + ")"
	err := pgx.BeginFunc(ctx, p.conn, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, x := range batch {
			args := make([]any, len(p.cols))
			for i, c := range p.cols {
				args[i] = p.value(x, c)
			}
			b.Queue(q, args...)
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		p.conn.Close(context.Background())
		p.conn = nil
		return fmt.Errorf("cel_pgsql: %w", err)
	}
	return nil
}
