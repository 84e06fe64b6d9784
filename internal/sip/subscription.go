package sip

import (
	"maps"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/state"

	"github.com/emiago/sipgo/sip"
)

// Subscriptions: the SUBSCRIBE dialogs this server notifies, the store that bounds them and
// the Hints.Watch they share.

const allowEvents = "presence, dialog, message-summary"

type subKind uint8

const (
	kindDialog subKind = iota
	kindPresence
	kindMWI
)

func (k subKind) String() string {
	switch k {
	case kindPresence:
		return "pidf+xml"
	case kindMWI:
		return "mwi"
	}
	return "dialog-info+xml"
}

func (k subKind) event() string {
	switch k {
	case kindPresence:
		return "presence"
	case kindMWI:
		return "message-summary"
	}
	return "dialog"
}

func (k subKind) contentType() string {
	switch k {
	case kindPresence:
		return "application/pidf+xml"
	case kindMWI:
		return "application/simple-message-summary"
	}
	return "application/dialog-info+xml"
}

// notNotified is a subscription's lastState before its first NOTIFY.
const notNotified state.Extension = -100

// subscription is one SUBSCRIBE dialog (RFC 6665) in which this server is the notifier.
type subscription struct {
	// What every NOTIFY reads or writes comes first and together: a fan-out walks tens of
	// thousands of subscriptions, and each cache line it touches per subscription is a miss.
	st         *subStore
	mu         sync.Mutex // serialises NOTIFYs of this dialog
	kind       subKind
	overUDP    bool
	terminated bool
	lastState  state.Extension // effective extension state last notified (notNotified: none)
	cseq       uint32
	subCSeq    uint32
	version    int
	expires    time.Time
	udp        udpDialog // UDP: what every NOTIFY of the dialog repeats, prepared once (prepareUDP)

	key       string
	peer      string
	user      string // "sip show subscriptions": the peer's username or callerid number
	granted   int    // the Expires last granted, in seconds ("sip show subscriptions")
	exten     string
	context   string
	mailboxes []string
	callID    string
	remoteTag string
	localTag  string
	remoteURI sip.Uri // the subscriber's From
	localURI  sip.Uri // the SUBSCRIBE's To
	target    sip.Uri // the subscriber's Contact
	addr      netip.AddrPort
	transport string
	localHost string // where the subscriber reaches us (Contact, entity)
	localPort int
	hw        *hintWatch
	hwIndex   int          // in hw.subs (under subStore.mu)
	hdrs      []sip.Header // From, To, Call-ID, Contact, Event, Content-Type of every NOTIFY
	timer     *time.Timer
}

// hintWatch is one Hints.Watch shared by every subscription to a hint. A change is fanned
// out by one goroutine at a time; changes arriving meanwhile coalesce (the latest wins).
type hintWatch struct {
	key            string
	exten, context string
	cancel         func()
	subs           []*subscription // in the order they came (mostly their order in memory)

	mu      sync.Mutex
	running bool
	pending bool
	state   state.Extension
	since   time.Time // when the oldest change not yet fanned out came
}

// subStore holds the subscriptions, bounded by maxsubscriptions and maxsubscriptionsperpeer.
type subStore struct {
	s       *Server
	mu      sync.Mutex
	byKey   map[string]*subscription
	perPeer map[string]int
	hints   map[string]*hintWatch
	closed  bool
}

func newSubStore(s *Server) *subStore {
	return &subStore{s: s, byKey: map[string]*subscription{}, perPeer: map[string]int{}, hints: map[string]*hintWatch{}}
}

func (st *subStore) get(key string) *subscription {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.byKey[key]
}

func (st *subStore) len() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.byKey)
}

func (st *subStore) snapshot() []*subscription {
	st.mu.Lock()
	defer st.mu.Unlock()
	return slices.Collect(maps.Values(st.byKey))
}

// add stores sub unless a limit is reached.
func (st *subStore) add(sub *subscription, set *settings) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed || len(st.byKey) >= set.maxSubscriptions || st.perPeer[sub.peer] >= set.maxSubsPerPeer {
		return false
	}
	st.byKey[sub.key] = sub
	st.perPeer[sub.peer]++
	if sub.kind != kindMWI {
		hk := sub.exten + "@" + sub.context
		hw := st.hints[hk]
		if hw == nil {
			hw = &hintWatch{key: hk, exten: sub.exten, context: sub.context}
			st.hints[hk] = hw
			// Watch may call back at once: hintChanged never takes st.mu synchronously.
			hw.cancel = st.s.hints.Watch(sub.exten, sub.context, func(x state.Extension) { st.s.hintChanged(hw, x) })
		}
		sub.hwIndex = len(hw.subs)
		hw.subs = append(hw.subs, sub)
		sub.hw = hw
	}
	return true
}

// remove forgets sub; it returns false when it was already gone.
func (st *subStore) remove(sub *subscription) bool {
	var cancel func()
	st.mu.Lock()
	if st.byKey[sub.key] != sub {
		st.mu.Unlock()
		return false
	}
	delete(st.byKey, sub.key)
	if st.perPeer[sub.peer]--; st.perPeer[sub.peer] <= 0 {
		delete(st.perPeer, sub.peer)
	}
	if hw := sub.hw; hw != nil {
		last := len(hw.subs) - 1
		hw.subs[sub.hwIndex] = hw.subs[last]
		hw.subs[sub.hwIndex].hwIndex = sub.hwIndex
		hw.subs[last] = nil
		hw.subs = hw.subs[:last]
		if len(hw.subs) == 0 && st.hints[hw.key] == hw {
			delete(st.hints, hw.key)
			cancel = hw.cancel
		}
	}
	st.mu.Unlock()
	sub.mu.Lock()
	if sub.timer != nil {
		sub.timer.Stop()
	}
	sub.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	return true
}

// closeAll terminates every subscription (server shutdown: reason noresource; listeners moved
// by a reload: deactivated, which invites the subscriber to subscribe again at once), without
// waiting for answers.
func (st *subStore) closeAll(reason string) {
	st.mu.Lock()
	st.closed = true
	st.mu.Unlock()
	for _, sub := range st.snapshot() {
		if st.remove(sub) {
			sub.notify(sub.currentState(), true, reason, false)
		}
	}
	st.mu.Lock()
	st.closed = false
	st.mu.Unlock()
}

// expire ends a subscription that was not refreshed in time.
func (sub *subscription) expire(at time.Time) {
	sub.mu.Lock()
	current := sub.expires.Equal(at)
	sub.mu.Unlock()
	if current && sub.st.remove(sub) {
		sub.notify(sub.currentState(), true, "timeout", true)
	}
}

func (sub *subscription) armLocked() {
	if sub.timer != nil {
		sub.timer.Stop()
	}
	at := sub.expires
	sub.timer = sub.st.s.afterFunc(time.Until(at), func() { sub.expire(at) })
}
