package cel

import (
	"context"
	"sync"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/pgtable"
)

// PgSQL is cel_pgsql: events inserted into Asterisk's cel table (id, eventtype, eventtime,
// cid_name, cid_num, cid_ani, cid_rdnis, cid_dnid, exten, context, channame, appname,
// appdata, amaflags, accountcode, peeraccount, uniqueid, linkedid, userfield, peer, extra),
// into the columns the table has. Events wait in a bounded memory queue (QueueLimit) drained
// by one goroutine in order, retried with backoff while the database is down; a full queue
// drops new events (counted). Unlike the CDR backends the queue is not on disk.
type PgSQL struct {
	pgtable.Writer
	UseGMTime bool

	mu      sync.Mutex
	queue   []Event
	dropped uint64
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	started bool
}

// NewPgSQL returns cel_pgsql writing to the table c names.
func NewPgSQL(c pgtable.Conn) *PgSQL {
	return &PgSQL{Writer: pgtable.Writer{Conn: c, Module: "cel_pgsql", Columns: celColumns, Timestamps: []string{"eventtime"}}}
}

// QueueLimit is how many events cel_pgsql holds while the database is away.
const QueueLimit = 100000

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
	p.Writer.Close()
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
	return p.Insert(ctx, len(batch), func(i int, col string) any { return p.value(batch[i], col) })
}
