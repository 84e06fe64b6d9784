package mwi

import (
	"strconv"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/eid"
	"github.com/pleiades-pbx/pleiades/internal/event"
)

// WireCodec is the payload of an mwi event between servers (a cluster.Codec): the new, old and
// urgent counts in decimal, with the origin's update time (the newest update wins). No fields
// is a deletion, which is kept as one (it wins over older counts). A missing or malformed
// count reads as 0; fields after the third are ignored.
type WireCodec struct{}

// Kind is event.KindMWI.
func (WireCodec) Kind() event.Kind { return event.KindMWI }

// Encode returns [new, old, urgent] (nothing for a deletion) and the update time.
func (WireCodec) Encode(ev event.Event) ([]string, time.Time, bool) {
	m, ok := ev.(event.MWI)
	if !ok {
		return nil, time.Time{}, false
	}
	if m.Deleted {
		return nil, m.Time, true
	}
	return []string{strconv.Itoa(m.New), strconv.Itoa(m.Old), strconv.Itoa(m.Urgent)}, m.Time, true
}

// Decode rebuilds origin's MWI entry of mailbox.
func (WireCodec) Decode(mailbox string, fields []string, origin eid.EID, t time.Time) (event.Event, bool) {
	m := event.MWI{Mailbox: mailbox, Time: t, EID: origin, Deleted: len(fields) == 0}
	if !m.Deleted {
		m.New, m.Old, m.Urgent = count(fields, 0), count(fields, 1), count(fields, 2)
	}
	return m, true
}

func count(f []string, i int) int {
	if i >= len(f) {
		return 0
	}
	n, _ := strconv.Atoi(f[i])
	return n
}
