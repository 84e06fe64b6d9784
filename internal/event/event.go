package event

import (
	"fmt"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/eid"
	"github.com/pleiades-pbx/pleiades/internal/state"
)

// Kind is an event type.
type Kind uint8

// The event kinds. DeviceState and MWI are the shareable, cached kinds: the cluster publishes
// and subscribes them by these names (Asterisk's event type names). DeviceStateChange and
// MessageWaiting are derived, local-only notifications (not cached, never shared).
const (
	KindDeviceState       Kind = 1 // "device_state": one server's state of one device
	KindMWI               Kind = 2 // "mwi": one server's mailbox counts
	KindDeviceStateChange Kind = 3 // "device_state_change": the cluster-wide aggregate changed
	KindMessageWaiting    Kind = 4 // "message_waiting": a mailbox's cluster-wide counts changed
	KindSIPLocation       Kind = 5 // "sip_location": which server holds a SIP peer's registration
	numKinds                   = 6
)

var kindNames = [numKinds]string{"", "device_state", "mwi", "device_state_change", "message_waiting", "sip_location"}

// Kinds returns every kind, in order.
func Kinds() []Kind {
	return []Kind{KindDeviceState, KindMWI, KindDeviceStateChange, KindMessageWaiting, KindSIPLocation}
}

func (k Kind) String() string {
	if k > 0 && k < numKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ParseKind reads a kind name ("device_state", "mwi", ...), case-insensitive.
func ParseKind(s string) (Kind, error) {
	for i := 1; i < numKinds; i++ {
		if strings.EqualFold(s, kindNames[i]) {
			return Kind(i), nil
		}
	}
	return 0, fmt.Errorf("unknown event type %q", s)
}

// Cached reports whether the bus keeps the last event per (key, origin EID) of this kind.
// Cached kinds are the ones the cluster shares: Purge and Dump work on them.
func (k Kind) Cached() bool { return k == KindDeviceState || k == KindMWI || k == KindSIPLocation }

// Shareable reports whether events of this kind may be sent to other servers.
func (k Kind) Shareable() bool { return k.Cached() }

// Event is what travels on the bus. Implementations must be comparable values (the bus uses
// == to tell a repeated state from a change).
type Event interface {
	// Kind is the event's type.
	Kind() Kind
	// Key names the thing the event is about: a device, a mailbox@context.
	Key() string
	// Origin is the Entity ID of the server the event comes from.
	Origin() eid.EID
}

// DeviceState is one server's state of one device (Asterisk's ast_device_state_message with an
// EID). Cached per (Device, EID).
type DeviceState struct {
	Device string
	State  state.Device
	EID    eid.EID
}

func (e DeviceState) Kind() Kind      { return KindDeviceState }
func (e DeviceState) Key() string     { return e.Device }
func (e DeviceState) Origin() eid.EID { return e.EID }

// MWI is one server's view of a mailbox: the counts as that server last published them
// (Asterisk's ast_mwi_state with an EID). Cached per (Mailbox, EID). Time is when the origin
// server made the update (wall clock, monotonic reading stripped); across servers the newest
// Time wins. Deleted marks a deletion (MWIDelete): it is kept, so that it can win over older
// counts from other servers.
type MWI struct {
	Mailbox string // "mailbox@context"
	New     int
	Old     int
	Urgent  int
	Deleted bool
	Time    time.Time
	EID     eid.EID
}

func (e MWI) Kind() Kind      { return KindMWI }
func (e MWI) Key() string     { return e.Mailbox }
func (e MWI) Origin() eid.EID { return e.EID }

// SIPLocation says that the server EID holds a registration of the SIP peer Peer and takes
// calls for it at Addr (its own SIP address, host:port) over Transport, until Expires (Unix
// seconds). Secret is that server's current secret for authenticating calls other cluster members
// send it for its peers (see internal/sip's "Calls across servers"); it travels only over the
// cluster's NATS. Cached per (Peer, EID).
type SIPLocation struct {
	Peer      string
	Addr      string
	Transport string
	Expires   int64
	Secret    string
	EID       eid.EID
}

func (e SIPLocation) Kind() Kind      { return KindSIPLocation }
func (e SIPLocation) Key() string     { return e.Peer }
func (e SIPLocation) Origin() eid.EID { return e.EID }

// DeviceStateChange tells that the cluster-wide (aggregate) state of a device changed. This is
// what hints, AMI, SIP presence and WebSocket clients subscribe to.
type DeviceStateChange struct {
	Device string
	State  state.Device
}

func (e DeviceStateChange) Kind() Kind  { return KindDeviceStateChange }
func (e DeviceStateChange) Key() string { return e.Device }

// Origin of a derived event is the zero EID: it is computed on this server and never shared.
func (e DeviceStateChange) Origin() eid.EID { return eid.EID{} }

// MessageWaiting tells that a mailbox's cluster-wide counts changed (Asterisk's AMI
// MessageWaiting event: Mailbox, Waiting, New, Old). A deleted mailbox is announced with
// Waiting false and zero counts.
type MessageWaiting struct {
	Mailbox string
	Waiting bool
	New     int
	Old     int
	Urgent  int
}

func (e MessageWaiting) Kind() Kind  { return KindMessageWaiting }
func (e MessageWaiting) Key() string { return e.Mailbox }

// Origin of a derived event is the zero EID: it is computed on this server and never shared.
func (e MessageWaiting) Origin() eid.EID { return eid.EID{} }

// Cleared tells that the cached event of kind Type for (Item, EID) was removed: by Clear, or
// by Purge when a server left. It is delivered to the subscribers of Type (it reports Type as
// its Kind, Item as its Key and EID as its Origin), so a consumer sees a removal in order with
// the states of that key.
type Cleared struct {
	Type Kind
	Item string
	EID  eid.EID
}

func (e Cleared) Kind() Kind      { return e.Type }
func (e Cleared) Key() string     { return e.Item }
func (e Cleared) Origin() eid.EID { return e.EID }
