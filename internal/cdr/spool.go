package cdr

import (
	"slices"
	"strconv"

	"github.com/pleiades-pbx/pleiades/internal/diskqueue"
)

// AppendJSON appends the record as encoding/json writes it, without reflection: the
// database backends' spool files hold one a line (package diskqueue), and a record is
// spooled once per such backend.
func (r *Record) AppendJSON(b []byte) ([]byte, error) {
	str := func(name, v string) {
		b = append(b, name...)
		b = diskqueue.AppendString(b, v)
	}
	var err error
	str(`{"AccountCode":`, r.AccountCode)
	str(`,"Src":`, r.Src)
	str(`,"Dst":`, r.Dst)
	str(`,"DContext":`, r.DContext)
	str(`,"CLID":`, r.CLID)
	str(`,"Channel":`, r.Channel)
	str(`,"DstChannel":`, r.DstChannel)
	str(`,"LastApp":`, r.LastApp)
	str(`,"LastData":`, r.LastData)
	b = append(b, `,"Start":`...)
	if b, err = diskqueue.AppendTime(b, r.Start); err != nil {
		return b, err
	}
	b = append(b, `,"Answer":`...)
	if b, err = diskqueue.AppendTime(b, r.Answer); err != nil {
		return b, err
	}
	b = append(b, `,"End":`...)
	if b, err = diskqueue.AppendTime(b, r.End); err != nil {
		return b, err
	}
	b = append(b, `,"Disposition":`...)
	b = strconv.AppendInt(b, int64(r.Disposition), 10)
	b = append(b, `,"AMAFlags":`...)
	b = strconv.AppendInt(b, int64(r.AMAFlags), 10)
	str(`,"UserField":`, r.UserField)
	str(`,"UniqueID":`, r.UniqueID)
	str(`,"LinkedID":`, r.LinkedID)
	str(`,"PeerAccount":`, r.PeerAccount)
	b = append(b, `,"Sequence":`...)
	b = strconv.AppendInt(b, int64(r.Sequence), 10)
	b = append(b, `,"Vars":`...)
	if r.Vars == nil {
		b = append(b, "null"...)
	} else {
		keys := make([]string, 0, len(r.Vars))
		for k := range r.Vars {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = diskqueue.AppendString(b, k)
			b = append(b, ':')
			b = diskqueue.AppendString(b, r.Vars[k])
		}
		b = append(b, '}')
	}
	return append(b, '}'), nil
}
