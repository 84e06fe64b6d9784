package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/eid"
)

// Wire format, version 1. Every message starts with the same header:
//
//	byte     version (1)
//	byte     kind
//	[6]byte  origin Entity ID
//	uvarint  incarnation (the origin's start time, Unix nanoseconds)
//	uvarint  sequence (the origin's broadcast sequence number; 0 on direct messages)
//
// then a body by kind. Strings are a uvarint length and the bytes; lists are a uvarint count
// and the items; times are a zig-zag varint of Unix nanoseconds (0 = the zero time).
//
//	event:     event
//	heartbeat: string node, string version, list of string addresses, string site (appended in
//	           issue 18: a heartbeat without it comes from a server without sites)
//	leave:     (empty)
//	ping:      (empty)
//	syncreq:   [6]byte target EID, string reply subject, uvarint request id, list of string types
//	syncdata:  uvarint request id, uvarint snapshot sequence, uvarint batch number, byte final,
//	           list of string types, list of events
//	event = string type, string key, time, list of string fields
//
// A decoder ignores bytes after the body it knows, so a later minor revision may append
// fields; an incompatible change takes a new version number, which older servers count as
// undecodable and drop.
const wireVersion = 1

type msgKind byte

const (
	kindEvent msgKind = iota + 1
	kindHeartbeat
	kindLeave
	kindPing
	kindSyncReq
	kindSyncData
	kindMax
)

func (k msgKind) String() string {
	switch k {
	case kindEvent:
		return "event"
	case kindHeartbeat:
		return "heartbeat"
	case kindLeave:
		return "leave"
	case kindPing:
		return "ping"
	case kindSyncReq:
		return "syncreq"
	case kindSyncData:
		return "syncdata"
	}
	return fmt.Sprintf("kind%d", byte(k))
}

// message is every kind of message; only the fields of its kind are encoded.
type message struct {
	Kind        msgKind
	Origin      eid.EID
	Incarnation uint64
	Seq         uint64

	// heartbeat
	Node    string
	Version string
	Addrs   []string
	Site    string

	// syncreq
	Target eid.EID
	Reply  string
	ReqID  uint64 // also syncdata
	Types  []string

	// syncdata
	SnapSeq uint64
	Batch   uint64
	Final   bool

	// event (one) and syncdata (any number); EID is not encoded per event (it is Origin)
	Events []Event
}

var errDecode = errors.New("cluster: malformed message")

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendStrings(b []byte, l []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(l)))
	for _, s := range l {
		b = appendString(b, s)
	}
	return b
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return binary.AppendVarint(b, 0)
	}
	return binary.AppendVarint(b, t.UnixNano())
}

func appendHeader(b []byte, k msgKind, origin eid.EID, inc, seq uint64) []byte {
	b = append(b, wireVersion, byte(k))
	b = append(b, origin[:]...)
	b = binary.AppendUvarint(b, inc)
	return binary.AppendUvarint(b, seq)
}

func appendEvent(b []byte, e *Event) []byte {
	b = appendString(b, e.Type)
	b = appendString(b, e.Key)
	b = appendTime(b, e.Time)
	return appendStrings(b, e.Fields)
}

// encode appends m to b.
func (m *message) encode(b []byte) []byte {
	b = appendHeader(b, m.Kind, m.Origin, m.Incarnation, m.Seq)
	switch m.Kind {
	case kindEvent:
		var e Event
		if len(m.Events) > 0 {
			e = m.Events[0]
		}
		b = appendEvent(b, &e)
	case kindHeartbeat:
		b = appendString(b, m.Node)
		b = appendString(b, m.Version)
		b = appendStrings(b, m.Addrs)
		b = appendString(b, m.Site)
	case kindSyncReq:
		b = append(b, m.Target[:]...)
		b = appendString(b, m.Reply)
		b = binary.AppendUvarint(b, m.ReqID)
		b = appendStrings(b, m.Types)
	case kindSyncData:
		b = binary.AppendUvarint(b, m.ReqID)
		b = binary.AppendUvarint(b, m.SnapSeq)
		b = binary.AppendUvarint(b, m.Batch)
		if m.Final {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
		b = appendStrings(b, m.Types)
		b = binary.AppendUvarint(b, uint64(len(m.Events)))
		for i := range m.Events {
			b = appendEvent(b, &m.Events[i])
		}
	}
	return b
}

// decoder reads a message; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errDecode
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) eid() (e eid.EID) {
	if len(d.b) < 6 {
		d.fail()
		return e
	}
	copy(e[:], d.b)
	d.b = d.b[6:]
	return e
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// count reads a list length; every item takes at least min bytes, which bounds allocation.
func (d *decoder) count(min int) int {
	n := d.uvarint()
	if n > uint64(len(d.b)/min) {
		d.fail()
		return 0
	}
	return int(n)
}

func (d *decoder) strings() []string {
	n := d.count(1)
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = d.string()
	}
	return out
}

func (d *decoder) time() time.Time {
	n := d.varint()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

func (d *decoder) event(origin eid.EID) Event {
	e := Event{EID: origin}
	e.Type = d.string()
	e.Key = d.string()
	e.Time = d.time()
	e.Fields = d.strings()
	return e
}

// decode reads one message. It never panics, whatever the input.
func decode(b []byte) (*message, error) {
	if len(b) < 2 {
		return nil, errDecode
	}
	if b[0] != wireVersion {
		return nil, fmt.Errorf("cluster: message version %d, this server speaks %d", b[0], wireVersion)
	}
	d := &decoder{b: b[1:]}
	m := &message{Kind: msgKind(d.byte())}
	if m.Kind == 0 || m.Kind >= kindMax {
		return nil, fmt.Errorf("cluster: unknown message kind %d", byte(m.Kind))
	}
	m.Origin = d.eid()
	m.Incarnation = d.uvarint()
	m.Seq = d.uvarint()
	switch m.Kind {
	case kindEvent:
		m.Events = []Event{d.event(m.Origin)}
	case kindHeartbeat:
		m.Node = d.string()
		m.Version = d.string()
		m.Addrs = d.strings()
		if len(d.b) > 0 {
			m.Site = d.string()
		}
	case kindSyncReq:
		m.Target = d.eid()
		m.Reply = d.string()
		m.ReqID = d.uvarint()
		m.Types = d.strings()
	case kindSyncData:
		m.ReqID = d.uvarint()
		m.SnapSeq = d.uvarint()
		m.Batch = d.uvarint()
		m.Final = d.byte() != 0
		m.Types = d.strings()
		// an event takes at least 4 bytes (three empty strings or counts and a zero time)
		n := d.count(4)
		if n > 0 {
			m.Events = make([]Event, 0, n)
		}
		for i := 0; i < n && d.err == nil; i++ {
			m.Events = append(m.Events, d.event(m.Origin))
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	return m, nil
}
