package sip

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/pleiades-pbx/pleiades/internal/logger"
)

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

// subscription is one SUBSCRIBE dialog (RFC 6665) in which this server is the notifier.
type subscription struct {
	// What every NOTIFY reads or writes comes first and together: a fan-out walks tens of
	// thousands of subscriptions, and each cache line it touches per subscription is a miss.
	st         *subStore
	mu         sync.Mutex // serialises NOTIFYs of this dialog
	kind       subKind
	overUDP    bool
	terminated bool
	lastState  int // effective extension state last notified (-100: none)
	cseq       uint32
	subCSeq    uint32
	version    int
	expires    time.Time
	udp        udpDialog // UDP: what every NOTIFY of the dialog repeats, prepared once (prepareUDP)

	key       string
	peer      string
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
	state   int
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
	out := make([]*subscription, 0, len(st.byKey))
	for _, sub := range st.byKey {
		out = append(out, sub)
	}
	return out
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
			hw.cancel = st.s.hints.Watch(sub.exten, sub.context, func(state int) { st.s.hintChanged(hw, state) })
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

// closeAll terminates every subscription (server shutdown), without waiting for answers.
func (st *subStore) closeAll() {
	st.mu.Lock()
	st.closed = true
	st.mu.Unlock()
	for _, sub := range st.snapshot() {
		if st.remove(sub) {
			sub.notify(sub.currentState(), true, "noresource", false)
		}
	}
	st.mu.Lock()
	st.closed = false
	st.mu.Unlock()
}

// hintChanged is the Hints.Watch callback.
func (s *Server) hintChanged(hw *hintWatch, state int) {
	hw.mu.Lock()
	if !hw.pending {
		hw.since = time.Now()
	}
	hw.state, hw.pending = state, true
	if hw.running {
		hw.mu.Unlock()
		return
	}
	hw.running = true
	hw.mu.Unlock()
	go s.fanout(hw)
}

func (s *Server) fanout(hw *hintWatch) {
	for {
		hw.mu.Lock()
		if !hw.pending {
			hw.running = false
			hw.mu.Unlock()
			return
		}
		state, start := hw.state, hw.since
		hw.pending = false
		hw.mu.Unlock()

		s.subs.mu.Lock()
		subs := slices.Clone(hw.subs)
		s.subs.mu.Unlock()
		workers := runtime.GOMAXPROCS(0)
		if workers > len(subs) {
			workers = len(subs)
		}
		var wg sync.WaitGroup
		chunk := (len(subs) + workers - 1) / max(workers, 1)
		for w := 0; w < workers; w++ {
			lo, hi := w*chunk, min((w+1)*chunk, len(subs))
			if lo >= hi {
				break
			}
			wg.Add(1)
			go func(w int, part []*subscription) {
				defer wg.Done()
				// NOTIFYs over UDP go out batchSize at a time (one sendmmsg) as they are built,
				// each worker through its own descriptor of the socket (notifyTxs.writers).
				batch := newNotifyBatch()
				ntx := s.ntx.Load()
				if ntx != nil {
					batch.w = ntx.writer(w)
				}
				flush := func() {
					if ntx != nil {
						if failed := ntx.flush(batch); failed > 0 {
							s.stats.notifyFailures.Add(uint64(failed))
						}
					}
				}
				for _, sub := range part {
					if p := sub.sendVia(batch, state, false, "", false); p.tx != nil {
						go p.settle()
					}
					if batch.full() {
						flush()
					}
				}
				flush()
			}(w, subs[lo:hi])
		}
		wg.Wait()
		s.stats.lastFanout.Store(int64(time.Since(start)))
	}
}

// effectiveState applies notifyringing and notifyhold; skip reports that this state is not
// notified at all (ringing with notifyringing=no).
func effectiveState(state int, set *settings) (int, bool) {
	if state < 0 {
		return state, false
	}
	ringing := state&8 != 0
	if ringing {
		switch {
		case set.notifyRinging == ringingNo && state == 8:
			return state, true
		case set.notifyRinging == ringingNo, set.notifyRinging == ringingNotInUse && state&1 != 0:
			state &^= 8
			if state == 0 {
				state = 1
			}
		}
	}
	if state&16 != 0 && !set.notifyHold {
		state = (state &^ 16) | 1
	}
	return state, false
}

func (sub *subscription) currentState() int {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.lastState == -100 {
		return 4
	}
	return sub.lastState
}

// notify sends one NOTIFY in the dialog and settles its transaction in the background.
// terminated ends the subscription (reason given); force sends even when the state did not
// change (initial NOTIFY, refresh).
func (sub *subscription) notify(state int, terminated bool, reason string, force bool) {
	if p := sub.send(state, terminated, reason, force); p.tx != nil {
		go p.settle()
	}
}

// notifyFailed ends a subscription whose NOTIFY got no final response (status 408), a 481 or
// a 5xx/6xx, as settle does for NOTIFYs sent through sipgo's transactions.
func (s *Server) notifyFailed(sub *subscription, status int) {
	if s.ctx.Err() != nil {
		return
	}
	s.stats.notifyFailures.Add(1)
	if sub.st.remove(sub) {
		s.log.Log(context.Background(), logger.Verbose(3), "SIP: subscription removed", "peer", sub.peer, "exten", sub.exten, "status", status)
	}
}

// pendingNotify is a NOTIFY sent and not yet answered.
type pendingNotify struct {
	sub        *subscription
	tx         sip.ClientTransaction
	terminated bool
}

// settle waits for the answer: 481, 5xx or none (sipgo's Timer F, 32 s) ends the subscription.
func (p pendingNotify) settle() {
	s := p.sub.st.s
	ctx := s.ctx
	res, err := finalResponse(ctx, p.tx)
	switch {
	case p.terminated:
	case err != nil:
		if ctx.Err() == nil {
			s.stats.notifyFailures.Add(1)
			p.sub.st.remove(p.sub)
		}
	case res.StatusCode == 481 || res.StatusCode >= 500:
		s.stats.notifyFailures.Add(1)
		if p.sub.st.remove(p.sub) {
			s.log.Log(context.Background(), logger.Verbose(3), "SIP: subscription removed", "peer", p.sub.peer, "exten", p.sub.exten, "status", res.StatusCode)
		}
	}
}

// udpDialog is what every NOTIFY of a dialog over UDP repeats, prepared once: its text up to
// the Via branch and from there to the CSeq (request line, Via, Max-Forwards, User-Agent and
// the dialog's headers, exactly as newRequest and dialogHeaders build them for sipgo), the
// destination, and the body's XML-escaped extension and host.
type udpDialog struct {
	text  []byte // head and tail, one after the other
	cut   int    // where the head ends
	to    *net.UDPAddr
	exten string
	host  string
}

func (d *udpDialog) ready() bool  { return d.text != nil }
func (d *udpDialog) head() []byte { return d.text[:d.cut] }
func (d *udpDialog) tail() []byte { return d.text[d.cut:] }

func (sub *subscription) prepareUDP(s *Server) udpDialog {
	host, port := s.localHostFor(sub.addr, sub.transport)
	target := sub.target.Clone()
	var a, b strings.Builder
	a.WriteString("NOTIFY ")
	a.WriteString(target.String())
	a.WriteString(" SIP/2.0\r\nVia: SIP/2.0/UDP ")
	a.WriteString(net.JoinHostPort(host, strconv.Itoa(port)))
	a.WriteString(";branch=")
	b.WriteString(";rport\r\nMax-Forwards: 70\r\nUser-Agent: ")
	b.WriteString(s.set.Load().userAgent)
	b.WriteString("\r\n")
	for _, h := range sub.dialogHeaders(s) {
		b.WriteString(h.Name())
		b.WriteString(": ")
		b.WriteString(h.Value())
		b.WriteString("\r\n")
	}
	return udpDialog{text: []byte(a.String() + b.String()), cut: a.Len(), to: net.UDPAddrFromAddrPort(sub.addr),
		exten: xmlEscaper.Replace(sub.exten), host: xmlEscaper.Replace(sub.localHost)}
}

// dialogHeaders builds the headers every NOTIFY of the dialog repeats, once. They are shared
// by the requests (sipgo only reads them when it writes or retransmits).
func (sub *subscription) dialogHeaders(s *Server) []sip.Header {
	from := &sip.FromHeader{Address: *sub.localURI.Clone(), Params: sip.NewParams()}
	from.Params.Add("tag", sub.localTag)
	to := &sip.ToHeader{Address: *sub.remoteURI.Clone(), Params: sip.NewParams()}
	to.Params.Add("tag", sub.remoteTag)
	callID := sip.CallIDHeader(sub.callID)
	return []sip.Header{from, to, &callID, s.contactHeader(sub.localHost, sub.localPort, sub.transport),
		sip.NewHeader("Event", sub.kind.event()), sip.NewHeader("Content-Type", sub.kind.contentType())}
}

// send builds and sends one NOTIFY; the returned transaction (nil: nothing sent) must be
// settled.
func (sub *subscription) send(state int, terminated bool, reason string, force bool) pendingNotify {
	return sub.sendVia(nil, state, terminated, reason, force)
}

// sendVia is send; a NOTIFY over UDP is appended to batch instead of being written, when batch
// is not nil (the fan-out writes a batch with one system call per batchSize messages).
func (sub *subscription) sendVia(batch *notifyBatch, state int, terminated bool, reason string, force bool) pendingNotify {
	s := sub.st.s
	set := s.set.Load()
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.terminated {
		return pendingNotify{}
	}
	if sub.kind != kindMWI {
		eff, skip := effectiveState(state, set)
		if (skip || eff == sub.lastState) && !force && !terminated {
			return pendingNotify{}
		}
		if !skip {
			sub.lastState = eff
		}
		state = sub.lastState
		if state == -100 {
			state = 0
		}
	}
	sub.cseq++
	version := sub.version
	sub.version++
	if terminated {
		sub.terminated = true
	}
	expires := max(0, int(time.Until(sub.expires).Seconds()+0.5))
	if ntx := s.ntx.Load(); ntx != nil && sub.overUDP {
		// UDP: the NOTIFY is written from bytes prepared once per dialog (notifytx.go).
		if !sub.udp.ready() {
			sub.udp = sub.prepareUDP(s)
		}
		d := &sub.udp
		var scratch [1024]byte
		var body []byte
		switch sub.kind {
		case kindDialog:
			body = appendDialogInfo(scratch[:0], version, d.exten, d.host, state)
		case kindPresence:
			body = appendPIDF(scratch[:0], d.exten, d.host, state)
		case kindMWI:
			nw, old, urg := s.mailboxCounts(sub.mailboxes)
			body = appendMWI(scratch[:0], nw, old, urg, s.messageAccount(sub.peer, sub.localHost))
		}
		seq := nextBranchSeq()
		size := len(d.text) + len(body) + len(reason) + 160
		var raw []byte
		if batch != nil {
			raw = batch.buffer(size)
		} else {
			raw = make([]byte, 0, size)
		}
		raw = append(raw, d.head()...)
		raw = appendBranch(raw, seq)
		raw = append(raw, d.tail()...)
		raw = append(raw, "CSeq: "...)
		raw = strconv.AppendUint(raw, uint64(sub.cseq), 10)
		raw = append(raw, " NOTIFY\r\nSubscription-State: "...)
		raw = appendSubState(raw, terminated, reason, expires)
		raw = append(raw, "\r\nContent-Length: "...)
		raw = strconv.AppendInt(raw, int64(len(body)), 10)
		raw = append(raw, "\r\n\r\n"...)
		raw = append(raw, body...)
		if !s.isRunning() {
			return pendingNotify{}
		}
		if s.debugOn() && s.debugging(sub.addr.String()) {
			s.log.Log(context.Background(), logger.Verbose(1), fmt.Sprintf("\n<--- Transmitting to %s --->\n%s\n<------------>", sub.addr, strings.TrimRight(string(raw), "\r\n")))
		}
		s.stats.notifies.Add(1)
		if batch != nil {
			batch.msgs = append(batch.msgs, outMsg{seq: seq, raw: batch.commit(raw), to: d.to, sub: sub, terminated: terminated})
			return pendingNotify{}
		}
		if err := ntx.send(seq, raw, d.to, sub, terminated); err != nil {
			s.stats.notifyFailures.Add(1)
			s.log.Log(context.Background(), logger.DebugLevel(1), "SIP: NOTIFY not sent", "peer", sub.peer, "err", err)
		}
		return pendingNotify{}
	}
	var body []byte
	switch sub.kind {
	case kindDialog:
		body = dialogInfoBody(version, sub.exten, sub.localHost, state)
	case kindPresence:
		body = pidfBody(sub.exten, sub.localHost, state)
	case kindMWI:
		nw, old, urg := s.mailboxCounts(sub.mailboxes)
		body = mwiBody(nw, old, urg, s.messageAccount(sub.peer, sub.localHost))
	}
	subState := string(appendSubState(nil, terminated, reason, expires))
	if sub.hdrs == nil {
		sub.hdrs = sub.dialogHeaders(s)
	}
	req := s.newRequest(sip.NOTIFY, sub.addr, sub.transport, sub.target)
	for _, h := range sub.hdrs {
		req.AppendHeader(h)
	}
	req.AppendHeader(&sip.CSeqHeader{SeqNo: sub.cseq, MethodName: sip.NOTIFY})
	req.AppendHeader(sip.NewHeader("Subscription-State", subState))
	req.SetBody(body)
	if !s.isRunning() {
		return pendingNotify{}
	}
	s.debugOut(req, sub.addr.String())
	// No per-NOTIFY timer: sipgo's Timer F (64*T1 = 32 s) ends an unanswered transaction.
	s.stats.notifies.Add(1) // before the write: a subscriber may have it before TransactionRequest returns
	tx, err := s.client.TransactionRequest(s.ctx, req)
	if err != nil {
		s.stats.notifyFailures.Add(1)
		s.log.Log(context.Background(), logger.DebugLevel(1), "SIP: NOTIFY not sent", "peer", sub.peer, "err", err)
		return pendingNotify{}
	}
	return pendingNotify{sub: sub, tx: tx, terminated: terminated}
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
	sub.timer = time.AfterFunc(time.Until(at), func() { sub.expire(at) })
}

// handleSubscribe serves SUBSCRIBE for dialog, presence and message-summary.
func (s *Server) handleSubscribe(req *sip.Request, tx sip.ServerTransaction) {
	set := s.set.Load()
	src, ok := sourceAddr(req)
	from, to, cid, cseq := req.From(), req.To(), req.CallID(), req.CSeq()
	if !ok || from == nil || to == nil || cid == nil || cseq == nil {
		s.reply(req, tx, 400, "Bad Request")
		return
	}
	fromTag, _ := from.Params.Get("tag")
	if fromTag == "" {
		s.reply(req, tx, 400, "Bad Request")
		return
	}
	var kind subKind
	ev := ""
	if h := req.GetHeader("Event"); h != nil {
		ev, _, _ = strings.Cut(h.Value(), ";")
		ev = strings.ToLower(strings.TrimSpace(ev))
	}
	switch ev {
	case "dialog":
		kind = kindDialog
	case "presence":
		kind = kindPresence
	case "message-summary":
		kind = kindMWI
	default:
		s.reply(req, tx, 489, "Bad Event", sip.NewHeader("Allow-Events", allowEvents))
		return
	}
	if !set.allowSubscribe {
		s.reply(req, tx, 403, "Forbidden")
		return
	}
	toTag, _ := to.Params.Get("tag")
	key := cid.Value() + "|" + fromTag
	existing := s.subs.get(key)
	if toTag != "" && (existing == nil || existing.localTag != toTag) {
		s.reply(req, tx, 481, "Call/Transaction Does Not Exist")
		return
	}
	expires := set.defaultExpiry
	if h := req.GetHeader("Expires"); h != nil {
		n, err := strconv.Atoi(strings.TrimSpace(h.Value()))
		if err != nil || n < 0 {
			s.reply(req, tx, 400, "Bad Request")
			return
		}
		expires = n
	}
	name := from.Address.User
	p := s.peerForRequest(req, tx, name, src, false)
	if p == nil {
		return
	}
	cfg := p.cfg.Load()
	if !cfg.allowSubscribe {
		s.security("subscription refused", name, src, "allowsubscribe=no")
		s.reply(req, tx, 403, "Forbidden")
		return
	}
	if expires > 0 && expires < set.subMinExpiry {
		s.reply(req, tx, 423, "Interval Too Brief", sip.NewHeader("Min-Expires", strconv.Itoa(set.subMinExpiry)))
		return
	}
	if expires > set.subMaxExpiry {
		expires = set.subMaxExpiry
	}
	if existing != nil {
		s.refreshSubscription(req, tx, existing, expires, cseq.SeqNo)
		return
	}
	contact := req.Contact()
	if contact == nil || contact.Address.Wildcard {
		s.reply(req, tx, 400, "Bad Request")
		return
	}
	sub := &subscription{
		st: s.subs, key: key, peer: p.name, kind: kind, exten: req.Recipient.User,
		callID: cid.Value(), remoteTag: fromTag, localTag: sip.GenerateTagN(16),
		remoteURI: *from.Address.Clone(), localURI: *to.Address.Clone(), target: *contact.Address.Clone(),
		addr: src, transport: transportOf(req), subCSeq: cseq.SeqNo, lastState: -100,
		expires: time.Now().Add(time.Duration(expires) * time.Second),
	}
	sub.overUDP = strings.EqualFold(sub.transport, "udp")
	sub.localHost, sub.localPort = s.localHostFor(src, sub.transport)
	initial := 0
	switch kind {
	case kindDialog, kindPresence:
		sub.context = cfg.subscribeContext
		if sub.context == "" {
			sub.context = set.subscribeContext
		}
		if sub.context == "" {
			sub.context = cfg.context
		}
		if s.hints == nil || sub.exten == "" {
			s.reply(req, tx, 404, "Not Found")
			return
		}
		h, ok := s.hints.Lookup(sub.exten, sub.context)
		if !ok {
			s.reply(req, tx, 404, "Not Found")
			return
		}
		initial = h.State
	case kindMWI:
		if len(cfg.mailboxes) == 0 {
			s.reply(req, tx, 404, "Not Found")
			return
		}
		sub.mailboxes = cfg.mailboxes
	}
	if expires == 0 { // a fetch: one NOTIFY with the state, then terminated
		s.replySubscribe(req, tx, sub, 0)
		sub.notify(initial, true, "timeout", true)
		return
	}
	if !s.subs.add(sub, set) {
		s.log.Warn("SIP: subscription refused: limit reached", "peer", p.name, "count", s.subs.len())
		s.reply(req, tx, 503, "Service Unavailable", sip.NewHeader("Retry-After", "60"))
		return
	}
	sub.mu.Lock()
	sub.armLocked()
	sub.mu.Unlock()
	s.replySubscribe(req, tx, sub, expires)
	if kind != kindMWI {
		// the current state, as the hint engine has it now (the Watch may race: notify dedups)
		if h, ok := s.hints.Lookup(sub.exten, sub.context); ok {
			initial = h.State
		}
	}
	sub.notify(initial, false, "", true)
}

func (s *Server) replySubscribe(req *sip.Request, tx sip.ServerTransaction, sub *subscription, expires int) {
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	if to := res.To(); to != nil {
		to.Params.Add("tag", sub.localTag)
	}
	res.AppendHeader(s.contactHeader(sub.localHost, sub.localPort, sub.transport))
	res.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(expires)))
	s.send(req, tx, res)
}

// refreshSubscription handles a SUBSCRIBE in an existing dialog (refresh or unsubscribe), and
// the retransmission of an initial SUBSCRIBE.
func (s *Server) refreshSubscription(req *sip.Request, tx sip.ServerTransaction, sub *subscription, expires int, cseq uint32) {
	sub.mu.Lock()
	retrans := cseq == sub.subCSeq
	if cseq < sub.subCSeq {
		sub.mu.Unlock()
		s.reply(req, tx, 500, "Server Internal Error", sip.NewHeader("Retry-After", "1"))
		return
	}
	sub.subCSeq = cseq
	if !retrans && expires > 0 {
		sub.expires = time.Now().Add(time.Duration(expires) * time.Second)
		sub.armLocked()
	}
	left := int(time.Until(sub.expires).Seconds() + 0.5)
	sub.mu.Unlock()
	if retrans {
		s.replySubscribe(req, tx, sub, max(left, 0))
		return
	}
	if expires == 0 {
		s.subs.remove(sub)
		s.replySubscribe(req, tx, sub, 0)
		sub.notify(sub.currentState(), true, "timeout", true)
		return
	}
	s.replySubscribe(req, tx, sub, expires)
	state := sub.currentState()
	if sub.kind != kindMWI && s.hints != nil {
		if h, ok := s.hints.Lookup(sub.exten, sub.context); ok {
			state = h.State
		}
	}
	sub.notify(state, false, "", true)
}

// mailboxCounts sums the counts of several mailboxes.
func (s *Server) mailboxCounts(boxes []string) (nw, old, urg int) {
	if s.mb == nil {
		return
	}
	for _, b := range boxes {
		n, o, u, ok := s.mb.Get(b)
		if ok {
			nw, old, urg = nw+n, old+o, urg+u
		}
	}
	return
}

func (s *Server) messageAccount(peer, host string) string {
	set := s.set.Load()
	ext := set.vmExten
	s.mu.RLock()
	if p := s.peers[peer]; p != nil && p.cfg.Load().vmExten != "" {
		ext = p.cfg.Load().vmExten
	}
	s.mu.RUnlock()
	if set.fromDomain != "" {
		host = set.fromDomain
	}
	return "sip:" + ext + "@" + host
}

// mailboxChanged is the Mailboxes.Watch callback: unsolicited NOTIFYs to every registered
// peer with that mailbox, and in-dialog NOTIFYs to message-summary subscriptions.
func (s *Server) mailboxChanged(mailbox string, _, _, _ int) {
	var targets []*peer
	for _, p := range s.allPeers() {
		for _, m := range p.cfg.Load().mailboxes {
			if m == mailbox {
				targets = append(targets, p)
				break
			}
		}
	}
	var subs []*subscription
	for _, sub := range s.subs.snapshot() {
		if sub.kind != kindMWI {
			continue
		}
		for _, m := range sub.mailboxes {
			if m == mailbox {
				subs = append(subs, sub)
				break
			}
		}
	}
	go func() {
		for _, sub := range subs {
			sub.notify(0, false, "", true)
		}
		for _, p := range targets {
			s.sendMWI(p)
		}
	}()
}

// sendMWI sends an unsolicited message-summary NOTIFY to a registered peer with mailbox=
// (skipped when the peer has a message-summary subscription: that dialog gets it).
func (s *Server) sendMWI(p *peer) {
	cfg := p.cfg.Load()
	if len(cfg.mailboxes) == 0 || !s.isRunning() {
		return
	}
	for _, sub := range s.subs.snapshot() {
		if sub.kind == kindMWI && sub.peer == p.name {
			return
		}
	}
	p.mu.Lock()
	addr, transport, uri := p.addr, p.transport, p.contactURI
	p.mu.Unlock()
	if !addr.IsValid() {
		return
	}
	nw, old, urg := s.mailboxCounts(cfg.mailboxes)
	host, _ := s.localHostFor(addr, transport)
	body := mwiBody(nw, old, urg, s.messageAccount(p.name, host))
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	s.stats.notifies.Add(1)
	_, err := s.request(ctx, sip.NOTIFY, addr, transport, uri, p.name, []sip.Header{
		sip.NewHeader("Event", "message-summary"),
		sip.NewHeader("Subscription-State", "active"),
		sip.NewHeader("Content-Type", "application/simple-message-summary"),
	}, body)
	if err != nil {
		s.stats.notifyFailures.Add(1)
		s.log.Log(context.Background(), logger.DebugLevel(1), "SIP: MWI NOTIFY failed", "peer", p.name, "err", err)
	}
}

var xmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;")

// dialogInfoBody is chan_sip's dialog-info+xml (RFC 4235) for an extension state.
func dialogInfoBody(version int, exten, host string, state int) []byte {
	return appendDialogInfo(make([]byte, 0, 400), version, xmlEscaper.Replace(exten), xmlEscaper.Replace(host), state)
}

// appendDialogInfo appends dialogInfoBody's text, exten and host already XML-escaped. (Appends,
// not fmt: it is built once per subscriber on every hint change.)
func appendDialogInfo(b []byte, version int, e, h string, state int) []byte {
	statestring, hold, early := "terminated", false, false
	switch {
	case state < 0:
	case state&8 != 0:
		statestring, early = "early", true
	case state&16 != 0:
		statestring, hold = "confirmed", true
	case state&(1|2) != 0:
		statestring = "confirmed"
	}
	b = append(b, "<?xml version=\"1.0\"?>\n<dialog-info xmlns=\"urn:ietf:params:xml:ns:dialog-info\" version=\""...)
	b = strconv.AppendInt(b, int64(version), 10)
	b = append(b, "\" state=\"full\" entity=\"sip:"...)
	b = append(b, e...)
	b = append(b, '@')
	b = append(b, h...)
	b = append(b, "\">\n<dialog id=\""...)
	b = append(b, e...)
	if early {
		b = append(b, "\" direction=\"recipient"...)
	}
	b = append(b, "\">\n<state>"...)
	b = append(b, statestring...)
	b = append(b, "</state>\n"...)
	if hold {
		b = append(b, "<local>\n<target uri=\"sip:"...)
		b = append(b, e...)
		b = append(b, '@')
		b = append(b, h...)
		b = append(b, "\">\n<param pname=\"+sip.rendering\" pvalue=\"no\"/>\n</target>\n</local>\n"...)
	}
	b = append(b, "</dialog>\n</dialog-info>\n"...)
	return b
}

// pidfBody is chan_sip's pidf+xml (RFC 3863) for an extension state.
func pidfBody(exten, host string, state int) []byte {
	return appendPIDF(make([]byte, 0, 700), xmlEscaper.Replace(exten), xmlEscaper.Replace(host), state)
}

// appendPIDF appends pidfBody's text, exten and host already XML-escaped.
func appendPIDF(b []byte, e, h string, state int) []byte {
	basic, activity, note := "open", "", "Ready"
	switch {
	case state < 0 || state == 4:
		basic, activity, note = "closed", "away", "Unavailable"
	case state&8 != 0:
		activity, note = "busy", "Ringing"
	case state&16 != 0:
		basic, activity, note = "closed", "busy", "On hold"
	case state&2 != 0:
		basic, activity, note = "closed", "busy", "On the phone"
	case state&1 != 0:
		activity, note = "busy", "On the phone"
	}
	b = append(b, "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n"...)
	b = append(b, "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" xmlns:pp=\"urn:ietf:params:xml:ns:pidf:person\" xmlns:es=\"urn:ietf:params:xml:ns:pidf:rpid:status:rpid-status\" xmlns:ep=\"urn:ietf:params:xml:ns:pidf:rpid:rpid-person\" entity=\"sip:"...)
	b = append(b, e...)
	b = append(b, '@')
	b = append(b, h...)
	b = append(b, "\">\n<pp:person><status>\n"...)
	if activity != "" {
		b = append(b, "<ep:activities><ep:"...)
		b = append(b, activity...)
		b = append(b, "/></ep:activities>\n"...)
	}
	b = append(b, "</status></pp:person>\n<note>"...)
	b = append(b, note...)
	b = append(b, "</note>\n<tuple id=\""...)
	b = append(b, e...)
	b = append(b, "\">\n<contact priority=\"1\">sip:"...)
	b = append(b, e...)
	b = append(b, '@')
	b = append(b, h...)
	b = append(b, "</contact>\n<status><basic>"...)
	b = append(b, basic...)
	b = append(b, "</basic></status>\n</tuple>\n</presence>\n"...)
	return b
}

// mwiBody is RFC 3842's application/simple-message-summary, as chan_sip writes it.
func mwiBody(nw, old, urgent int, account string) []byte {
	return appendMWI(nil, nw, old, urgent, account)
}

func appendMWI(b []byte, nw, old, urgent int, account string) []byte {
	waiting := "no"
	if nw > 0 {
		waiting = "yes"
	}
	b = append(b, "Messages-Waiting: "...)
	b = append(b, waiting...)
	b = append(b, "\r\nMessage-Account: "...)
	b = append(b, account...)
	b = append(b, "\r\nVoice-Message: "...)
	b = strconv.AppendInt(b, int64(nw), 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(old), 10)
	b = append(b, " ("...)
	b = strconv.AppendInt(b, int64(urgent), 10)
	b = append(b, "/0)\r\n"...)
	return b
}

// appendSubState appends a NOTIFY's Subscription-State value.
func appendSubState(b []byte, terminated bool, reason string, expires int) []byte {
	if !terminated {
		return strconv.AppendInt(append(b, "active;expires="...), int64(expires), 10)
	}
	b = append(b, "terminated"...)
	if reason != "" {
		b = append(b, ";reason="...)
		b = append(b, reason...)
	}
	return b
}
