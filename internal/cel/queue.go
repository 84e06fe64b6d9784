package cel

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/diskqueue"
)

// Backend writes events to a database (cel_pgsql, cel_odbc). Write is called from the
// backend's queue goroutine, never from a call's, with events in the order they were
// made; an error means none of them is known written, and the same events are offered
// again later.
type Backend interface {
	Name() string
	Write(ctx context.Context, evs []Event) error
}

// QueueLimit is how many events a backend's queue holds before it drops new ones.
const QueueLimit = 100000

// Queue runs a Backend behind a bounded queue drained in order by its own goroutine,
// mirrored in a spool file (package diskqueue, as the CDR backends'): a database that is
// down or slow never holds up a call, and events a stop leaves waiting are written at the
// next start.
type Queue struct {
	*diskqueue.Queue[Event]
}

// Start starts b's queue; spool is its file ("" keeps it in memory only); left are events
// to queue after those the spool holds (a memory queue handed over by a reload).
func Start(b Backend, log *slog.Logger, spool string, left []Event) (*Queue, error) {
	q, err := diskqueue.New[Event](b, log, spool, left, diskqueue.Options{What: "CEL", Limit: QueueLimit, Linger: 20 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	return &Queue{q}, nil
}

// Sink is the engine's receiver: it queues the event and returns.
func (q *Queue) Sink(x Event) { q.Add([]Event{x}) }

// fieldValue is the value of a cel table column (Asterisk's column names: eventtype,
// eventtime, cid_name ... extra; userdeftype is empty, Pleiades sends no USER_DEFINED
// event) for x; false for a column that is no field.
func fieldValue(x Event, field string, gmt bool) (string, bool) {
	switch field {
	case "eventtype":
		return x.Type, true
	case "eventtime", "eventdate":
		t := x.Time.Local()
		if gmt {
			t = x.Time.UTC()
		}
		return t.Format("2006-01-02 15:04:05.000000"), true
	case "amaflags":
		return strconv.Itoa(x.AMAFlags), true
	case "cid_name":
		return x.CIDName, true
	case "cid_num":
		return x.CIDNum, true
	case "cid_ani":
		return x.CIDANI, true
	case "cid_rdnis":
		return x.CIDRDNIS, true
	case "cid_dnid":
		return x.CIDDNID, true
	case "exten":
		return x.Exten, true
	case "context":
		return x.Context, true
	case "channame":
		return x.Channel, true
	case "appname":
		return x.AppName, true
	case "appdata":
		return x.AppData, true
	case "accountcode":
		return x.AccountCode, true
	case "peeraccount":
		return x.PeerAccount, true
	case "uniqueid":
		return x.UniqueID, true
	case "linkedid":
		return x.LinkedID, true
	case "userfield":
		return x.UserField, true
	case "peer":
		return x.Peer, true
	case "extra":
		return x.Extra, true
	case "userdeftype":
		return "", true
	}
	return "", false
}
