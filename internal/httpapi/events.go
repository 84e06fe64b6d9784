package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/pleiades-pbx/pleiades/internal/event"
	"github.com/pleiades-pbx/pleiades/internal/hint"
)

// evType is one event type of the WebSocket stream (a bit, for filters).
type evType uint8

const (
	evDevice  evType = 1 << iota // DeviceStateChanged
	evHint                       // ExtensionStatus
	evMailbox                    // MessageWaiting
	evMember                     // ClusterMember
	evAll     = evDevice | evHint | evMailbox | evMember
)

// Event type names, as in the "type" field of each message.
const (
	TypeDeviceStateChanged = "DeviceStateChanged"
	TypeExtensionStatus    = "ExtensionStatus"
	TypeMessageWaiting     = "MessageWaiting"
	TypeClusterMember      = "ClusterMember"
)

var typeNames = []struct {
	name string
	t    evType
}{{TypeDeviceStateChanged, evDevice}, {TypeExtensionStatus, evHint}, {TypeMessageWaiting, evMailbox}, {TypeClusterMember, evMember}}

func (t evType) String() string {
	for _, n := range typeNames {
		if n.t == t {
			return n.name
		}
	}
	return "unknown"
}

// Event is one WebSocket message. Type says which of the optional parts is set.
type Event struct {
	Type        string         `json:"type"`
	Timestamp   string         `json:"timestamp"`
	AsteriskID  string         `json:"asterisk_id"`
	DeviceState *DeviceState   `json:"device_state,omitempty"` // DeviceStateChanged
	Hint        *Hint          `json:"hint,omitempty"`         // ExtensionStatus
	Mailbox     *Mailbox       `json:"mailbox,omitempty"`      // MessageWaiting
	Waiting     *bool          `json:"waiting,omitempty"`      // MessageWaiting
	Change      string         `json:"change,omitempty"`       // ClusterMember: joined, left, updated
	Reason      string         `json:"reason,omitempty"`       // ClusterMember
	Member      *ClusterMember `json:"member,omitempty"`       // ClusterMember
}

// message is an encoded event with what filters look at.
type message struct {
	typ  evType
	key  string // device, exten, mailbox@context, member name
	ctx  string // hint context
	body []byte // JSON object without "application"
}

// ariTime is ARI's timestamp format.
const ariTime = "2006-01-02T15:04:05.000-0700"

// filter is one connection's choice of events.
type filter struct {
	types                      evType
	devices, extens, mailboxes []string // prefixes; none: all
	contexts                   []string // exact hint contexts; none: all
}

func hasPrefix(s string, prefixes []string) bool {
	if len(prefixes) == 0 {
		return true
	}
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func (f *filter) wants(m *message) bool {
	if f.types&m.typ == 0 {
		return false
	}
	switch m.typ {
	case evDevice:
		return hasPrefix(m.key, f.devices)
	case evHint:
		if len(f.contexts) > 0 {
			found := false
			for _, c := range f.contexts {
				found = found || c == m.ctx
			}
			if !found {
				return false
			}
		}
		return hasPrefix(m.key, f.extens)
	case evMailbox:
		return hasPrefix(m.key, f.mailboxes)
	}
	return true
}

// list returns the values of a repeatable, comma-separated query parameter.
func list(q url.Values, name string) []string {
	var out []string
	for _, v := range q[name] {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func parseFilter(q url.Values) (*filter, string) {
	f := &filter{types: evAll}
	if names := list(q, "types"); len(names) > 0 {
		f.types = 0
	next:
		for _, n := range names {
			for _, tn := range typeNames {
				if strings.EqualFold(n, tn.name) {
					f.types |= tn.t
					continue next
				}
			}
			return nil, fmt.Sprintf("Unknown event type '%s' in 'types': want %s, %s, %s or %s", n,
				TypeDeviceStateChanged, TypeExtensionStatus, TypeMessageWaiting, TypeClusterMember)
		}
	}
	f.devices, f.extens, f.mailboxes, f.contexts = list(q, "device"), list(q, "exten"), list(q, "mailbox"), list(q, "context")
	return f, ""
}

// client is one WebSocket connection.
type client struct {
	app    string
	filter *filter
	ch     chan *message
	ctx    context.Context
	cancel context.CancelFunc
	reason atomic.Value // string: why the server ends it
}

func (c *client) frame(m *message) []byte {
	if c.app == "" {
		return m.body
	}
	app, _ := json.Marshal(c.app)
	b := make([]byte, 0, len(m.body)+len(app)+16)
	b = append(b, `{"application":`...)
	b = append(b, app...)
	b = append(b, ',')
	return append(b, m.body[1:]...)
}

// hub fans events out to the WebSocket clients. Its handlers run on the event bus's and the
// hint engine's goroutines and never block: a client whose queue is full is dropped.
type hub struct {
	s       *Server
	mu      sync.Mutex // guards clients, closed
	clients map[*client]struct{}
	closed  bool
	n       atomic.Int64 // len(clients), read without the lock to skip building unwanted messages
	wg      sync.WaitGroup

	subs        []*event.Subscription
	cancelHints func()

	stall map[string]chan struct{} // tests: the writer of app waits for the channel before each write
}

func newHub(s *Server) *hub {
	return &hub{s: s, clients: map[*client]struct{}{}}
}

func (h *hub) start() {
	bus := h.s.deps.Bus
	h.subs = append(h.subs,
		bus.Subscribe("httpapi:device_state_change", event.KindDeviceStateChange, h.onBus),
		bus.Subscribe("httpapi:message_waiting", event.KindMessageWaiting, h.onBus))
	if h.s.deps.Hints != nil {
		h.cancelHints = h.s.deps.Hints.WatchAll(h.onHint)
	}
}

func (h *hub) close() {
	if h.cancelHints != nil {
		h.cancelHints()
	}
	for _, sub := range h.subs {
		sub.Close()
		<-sub.Done()
	}
	h.mu.Lock()
	h.closed = true
	for c := range h.clients {
		c.reason.Store("shutdown")
		c.cancel()
	}
	h.mu.Unlock()
	h.wg.Wait()
}

func (h *hub) event(typ string) Event {
	return Event{Type: typ, Timestamp: time.Now().Format(ariTime), AsteriskID: h.s.deps.Bus.Local().String()}
}

func encode(ev Event) []byte {
	b, _ := json.Marshal(ev)
	return b
}

func (h *hub) onBus(ev event.Event) {
	if h.n.Load() == 0 {
		return
	}
	switch e := ev.(type) {
	case event.DeviceStateChange:
		m := h.event(TypeDeviceStateChanged)
		m.DeviceState = &DeviceState{Name: e.Device, State: e.State.String()}
		h.broadcast(&message{typ: evDevice, key: e.Device, body: encode(m)})
	case event.MessageWaiting:
		m := h.event(TypeMessageWaiting)
		m.Mailbox = &Mailbox{Name: e.Mailbox, OldMessages: e.Old, NewMessages: e.New, UrgentMessages: e.Urgent}
		waiting := e.Waiting
		m.Waiting = &waiting
		h.broadcast(&message{typ: evMailbox, key: e.Mailbox, body: encode(m)})
	}
}

func (h *hub) onHint(st hint.State) {
	if h.n.Load() == 0 {
		return
	}
	m := h.event(TypeExtensionStatus)
	hj := h.s.hintJSON(st, h.s.nodeNames())
	m.Hint = &hj
	h.broadcast(&message{typ: evHint, key: st.Exten, ctx: st.Context, body: encode(m)})
}

func (h *hub) onMember(ev MemberEvent) {
	if h.n.Load() == 0 {
		return
	}
	m := h.event(TypeClusterMember)
	mj := memberJSON(ev.Member)
	m.Member, m.Change, m.Reason = &mj, ev.Change, ev.Reason
	h.broadcast(&message{typ: evMember, key: ev.Member.Name, body: encode(m)})
}

// broadcast queues m for every client that wants it, without blocking.
func (h *hub) broadcast(m *message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		if !c.filter.wants(m) {
			continue
		}
		select {
		case c.ch <- m:
		default:
			h.dropLocked(c, "slow consumer")
		}
	}
}

func (h *hub) dropLocked(c *client, reason string) {
	if _, ok := h.clients[c]; !ok {
		return
	}
	delete(h.clients, c)
	h.n.Add(-1)
	c.reason.Store(reason)
	c.cancel()
	h.s.metrics.wsDropped.WithLabelValues(reason).Inc()
	h.s.log.Warn(fmt.Sprintf("WebSocket client %q dropped: %s", c.app, reason))
}

func (h *hub) remove(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.clients[c]; ok {
		delete(h.clients, c)
		h.n.Add(-1)
	}
}

// serveARI is GET /ari/events?app=NAME (app is required, as in ARI).
func (h *hub) serveARI(w http.ResponseWriter, r *http.Request) {
	if strings.TrimSpace(r.URL.Query().Get("app")) == "" {
		writeError(w, r, http.StatusBadRequest, "Missing required parameter 'app'")
		return
	}
	h.serve(w, r)
}

// serveAPI is GET /api/events (app optional).
func (h *hub) serveAPI(w http.ResponseWriter, r *http.Request) { h.serve(w, r) }

func originPatterns(origins []string) []string {
	var out []string
	for _, o := range origins {
		if o == "*" {
			return []string{"*"}
		}
		if u, err := url.Parse(o); err == nil && u.Host != "" {
			out = append(out, u.Host)
		} else {
			out = append(out, o)
		}
	}
	return out
}

func (h *hub) serve(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, problem := parseFilter(q)
	if problem != "" {
		writeError(w, r, http.StatusBadRequest, problem)
		return
	}
	st := h.s.cfg.Load()
	raw, _ := r.Context().Value(netConnKey{}).(net.Conn)
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: originPatterns(st.allowedOrigins)})
	if err != nil {
		return // Accept answered the client
	}
	conn.SetReadLimit(4096)
	ctx, cancel := context.WithCancel(context.Background())
	c := &client{app: strings.TrimSpace(q.Get("app")), filter: f, ch: make(chan *message, st.queueLen), ctx: ctx, cancel: cancel}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		cancel()
		conn.Close(websocket.StatusGoingAway, "server shutting down")
		return
	}
	h.clients[c] = struct{}{}
	h.n.Add(1)
	h.wg.Add(1)
	stall := h.stall[c.app]
	h.mu.Unlock()
	defer h.wg.Done()
	h.s.metrics.wsClients.Inc()
	defer h.s.metrics.wsClients.Dec()
	defer cancel()
	defer h.remove(c)

	// CloseRead's context ends when the client goes away. (Not derived from ctx: CloseRead
	// cuts the connection when its context ends, and a dropped client gets a close frame.)
	rctx := conn.CloseRead(context.Background())
	ping := time.NewTicker(30 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-rctx.Done():
			conn.CloseNow() // the client closed or vanished
			return
		case <-ctx.Done():
			reason, _ := c.reason.Load().(string)
			if reason == "shutdown" {
				closeConn(conn, raw, websocket.StatusGoingAway, "server shutting down")
			} else {
				closeConn(conn, raw, websocket.StatusPolicyViolation, reason)
			}
			return
		case m := <-c.ch:
			if stall != nil {
				select {
				case <-stall:
				case <-ctx.Done():
					continue
				}
			}
			wctx, wcancel := context.WithTimeout(ctx, h.s.cfg.Load().writeTimeout)
			err := conn.Write(wctx, websocket.MessageText, c.frame(m))
			wcancel()
			if err != nil {
				if ctx.Err() == nil {
					h.mu.Lock()
					h.dropLocked(c, "write timeout")
					h.mu.Unlock()
				}
				conn.CloseNow()
				return
			}
			h.s.metrics.wsSent.WithLabelValues(m.typ.String()).Inc()
		case <-ping.C:
			pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
			err := conn.Ping(pctx)
			pcancel()
			if err != nil {
				conn.CloseNow()
				return
			}
		}
	}
}

// closeConn sends a close frame and waits a little for the client's; then cuts the
// connection (raw, when known: websocket.Conn.CloseNow would wait for Close).
func closeConn(conn *websocket.Conn, raw net.Conn, code websocket.StatusCode, reason string) {
	done := make(chan struct{})
	go func() {
		conn.Close(code, reason)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(time.Second):
		if raw != nil {
			raw.Close()
		}
		<-done
	}
}

// clientCount is for "http show status" and tests.
func (h *hub) clientCount() int { return int(h.n.Load()) }
