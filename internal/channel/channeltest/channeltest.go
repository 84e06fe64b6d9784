// Package channeltest is a fake channel technology for tests of what stands on
// internal/channel (the dialplan's applications, Dial, AMI and CLI): a Tech whose far end
// the test drives (ring, answer, busy, hang up, DTMF), a Driver that makes outgoing
// channels of it with a scripted far end per destination, and, where media matters, a real
// RTP session on 127.0.0.1 (internal/media) with a Phone at the far end that sends and
// counts packets.
package channeltest

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/channel"
	"github.com/pleiades-pbx/pleiades/internal/media"
	"github.com/pleiades-pbx/pleiades/internal/media/sdp"
)

// Tech is a fake channel technology side. Every call the core makes is recorded; the far
// end is driven through Ring, Progress, AnswerFar, Busy, Congestion, HangUpFar and DTMF.
type Tech struct {
	chp   atomic.Pointer[channel.Channel]
	sess  *media.Session
	Phone *Phone // the far end's RTP endpoint when the tech has media

	mu          sync.Mutex
	calls       int
	answered    int
	indications []channel.Condition
	digits      []rune
	hangups     []channel.Cause
	hungUp      chan struct{}

	// OnCall, when set, is run in a goroutine when the core calls the channel (an
	// outgoing leg): the far end's script (ring, wait, answer...).
	OnCall func(t *Tech)
	// CallErr, when set, is what Call returns.
	CallErr error
}

func newTech() *Tech { return &Tech{hungUp: make(chan struct{})} }

// Channel returns the channel the tech belongs to.
func (t *Tech) Channel() *channel.Channel { return t.chp.Load() }

// Call records the call and runs OnCall.
func (t *Tech) Call(ctx context.Context) error {
	t.mu.Lock()
	t.calls++
	t.mu.Unlock()
	if t.CallErr != nil {
		return t.CallErr
	}
	if t.OnCall != nil {
		go t.OnCall(t)
	}
	return nil
}

// Answer records the answer.
func (t *Tech) Answer(ctx context.Context) error {
	t.mu.Lock()
	t.answered++
	t.mu.Unlock()
	return nil
}

// Indicate records the condition.
func (t *Tech) Indicate(c channel.Condition) error {
	t.mu.Lock()
	t.indications = append(t.indications, c)
	t.mu.Unlock()
	return nil
}

// SendDigit records the digit and, with media, sends it as RFC 4733 events.
func (t *Tech) SendDigit(d rune, dur time.Duration) error {
	t.mu.Lock()
	t.digits = append(t.digits, d)
	t.mu.Unlock()
	if t.sess != nil {
		return t.sess.SendDTMF(context.Background(), string(d), dur, 0)
	}
	return nil
}

// Media returns the RTP session (nil without media).
func (t *Tech) Media() *media.Session { return t.sess }

// Hangup records the cause and closes the media session.
func (t *Tech) Hangup(c channel.Cause) {
	t.mu.Lock()
	t.hangups = append(t.hangups, c)
	first := len(t.hangups) == 1
	t.mu.Unlock()
	if t.sess != nil {
		t.sess.Close()
	}
	if first {
		close(t.hungUp)
	}
}

// Calls, Answers, Indications, Digits, Hangups report what the core asked.
func (t *Tech) Calls() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.calls
}

// Answers returns how many times the core answered the channel.
func (t *Tech) Answers() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.answered
}

// Indications returns the conditions indicated, in order.
func (t *Tech) Indications() []channel.Condition {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]channel.Condition(nil), t.indications...)
}

// Digits returns the DTMF digits sent.
func (t *Tech) Digits() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.digits)
}

// Hangups returns the causes Hangup was called with (once per channel).
func (t *Tech) Hangups() []channel.Cause {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]channel.Cause(nil), t.hangups...)
}

// HungUp is closed when the core hung the tech up.
func (t *Tech) HungUp() <-chan struct{} { return t.hungUp }

// WaitHangup waits for the core's hangup and returns its cause (0 after d without one).
func (t *Tech) WaitHangup(d time.Duration) channel.Cause {
	select {
	case <-t.hungUp:
		return t.Hangups()[0]
	case <-time.After(d):
		return 0
	}
}

// Far-end actions.

// Ring: the far end rings (SIP 180).
func (t *Tech) Ring() { t.Channel().Queue(channel.Frame{Kind: channel.FrameRinging}) }

// Progress: the far end sends early media (183).
func (t *Tech) Progress() { t.Channel().Queue(channel.Frame{Kind: channel.FrameProgress}) }

// AnswerFar: the far end answers (200 OK).
func (t *Tech) AnswerFar() { t.Channel().Queue(channel.Frame{Kind: channel.FrameAnswer}) }

// Busy: the far end is busy (486), then the call ends with USER_BUSY.
func (t *Tech) Busy() {
	t.Channel().Queue(channel.Frame{Kind: channel.FrameBusy})
	t.Channel().HungUp(channel.CauseUserBusy)
}

// Congestion: the far end is congested (503), then the call ends.
func (t *Tech) Congestion() {
	t.Channel().Queue(channel.Frame{Kind: channel.FrameCongestion})
	t.Channel().HungUp(channel.CauseCongestion)
}

// HangUpFar: the far end ends the call (BYE, CANCEL, an error response) with cause.
func (t *Tech) HangUpFar(c channel.Cause) { t.Channel().HungUp(c) }

// DTMF: the far end presses a digit (queued as begin and end frames, as the SIP
// technology queues RFC 4733 events it receives).
func (t *Tech) DTMF(d rune) {
	t.Channel().Queue(channel.Frame{Kind: channel.FrameDTMFBegin, Digit: d})
	t.Channel().Queue(channel.Frame{Kind: channel.FrameDTMFEnd, Digit: d, Duration: 100 * time.Millisecond})
}

// Options describe a fake channel.
type Options struct {
	Type     string // technology name ("SIP" unless set)
	Peer     string // the device's peer ("alice")
	Context  string
	Exten    string
	CallerID [2]string // number, name
	// Media, when set, gives the channel a real RTP session from it, with a Phone at the
	// far end on 127.0.0.1 (G.711 µ-law, telephone-event 101).
	Media *media.Engine
	// Values are attached to the channel (channel.Set), as a technology attaches its data
	// (SIPCALLID...).
	Values map[string]any
}

// NewIncoming makes an incoming channel as a technology would on an INVITE: registered,
// in state Ring, at Context/Exten priority 1.
func NewIncoming(tb testing.TB, reg *channel.Registry, o Options) (*channel.Channel, *Tech) {
	tb.Helper()
	return newChannel(tb, reg, o, false, "")
}

func newChannel(tb testing.TB, reg *channel.Registry, o Options, outgoing bool, linked string) (*channel.Channel, *Tech) {
	typ := o.Type
	if typ == "" {
		typ = "SIP"
	}
	t := newTech()
	if o.Media != nil {
		t.Phone = NewPhone(tb)
		s, err := o.Media.NewSession(media.SessionOptions{LocalIP: netip.MustParseAddr("127.0.0.1"), Name: o.Peer,
			OnDTMF: func(d media.DTMF) {
				ch := t.chp.Load()
				if ch == nil {
					return
				}
				if d.End {
					ch.Queue(channel.Frame{Kind: channel.FrameDTMFEnd, Digit: rune(d.Digit), Duration: d.Duration})
				} else {
					ch.Queue(channel.Frame{Kind: channel.FrameDTMFBegin, Digit: rune(d.Digit)})
				}
			}})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { s.Close() })
		n := sdp.Negotiated{Remote: t.Phone.Addr(), Codec: sdp.PCMU, Codecs: []sdp.Codec{sdp.PCMU},
			DTMF: sdp.Codec{PT: 101, Name: "telephone-event", Rate: 8000}, HasDTMF: true}
		if err := s.SetRemote(n); err != nil {
			tb.Fatal(err)
		}
		t.sess = s
		t.Phone.Remote = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), s.LocalAddr().Port())
	}
	ch := reg.New(channel.Options{Name: reg.NewName(typ, o.Peer), Tech: t, Outgoing: outgoing,
		Device: typ + "/" + o.Peer, CallerNum: o.CallerID[0], CallerName: o.CallerID[1],
		Context: o.Context, Exten: o.Exten, LinkedID: linked})
	for k, v := range o.Values {
		ch.Set(k, v)
	}
	t.chp.Store(ch)
	tb.Cleanup(func() { ch.Hangup(channel.CauseNormalClearing) })
	return ch, t
}

// Driver is a fake channel driver: Request makes an outgoing channel whose far end follows
// the script Peers gives for the destination (the text after "TYPE/"); a destination in
// Refuse is refused with its cause; any other gets a far end that does nothing.
type Driver struct {
	TB    testing.TB
	Typ   string // "SIP" unless set
	Media *media.Engine
	Peers map[string]func(t *Tech)
	// Refuse maps destinations to the cause Request fails with (call-limit: busy; not
	// registered: SUBSCRIBER_ABSENT...).
	Refuse map[string]channel.Cause

	mu    sync.Mutex
	techs map[string][]*Tech
}

// Type returns the technology name.
func (d *Driver) Type() string {
	if d.Typ == "" {
		return "SIP"
	}
	return d.Typ
}

// Request makes the outgoing channel.
func (d *Driver) Request(ctx context.Context, reg *channel.Registry, data string, requestor *channel.Channel) (*channel.Channel, error) {
	peer, _, _ := strings.Cut(data, "/")
	if c, ok := d.Refuse[peer]; ok {
		return nil, &channel.CauseError{Cause: c}
	}
	linked := ""
	if requestor != nil {
		linked = requestor.LinkedID()
	}
	ch, t := newChannel(d.TB, reg, Options{Type: d.Type(), Peer: peer, Media: d.Media, CallerID: [2]string{peer, ""}}, true, linked)
	t.OnCall = d.Peers[peer]
	d.mu.Lock()
	if d.techs == nil {
		d.techs = map[string][]*Tech{}
	}
	d.techs[peer] = append(d.techs[peer], t)
	d.mu.Unlock()
	return ch, nil
}

// Techs returns the techs made for peer, in order.
func (d *Driver) Techs(peer string) []*Tech {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*Tech(nil), d.techs[peer]...)
}

// Phone is the far end's RTP endpoint on 127.0.0.1: it sends µ-law packets to the
// channel's session and counts what comes back.
type Phone struct {
	Conn   *net.UDPConn
	Remote netip.AddrPort // the channel's session

	mu       sync.Mutex
	received int
	events   int
	seq      uint16
	ts       uint32
}

// NewPhone opens the phone's socket; it reads in the background until the test ends.
func NewPhone(tb testing.TB) *Phone {
	tb.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	p := &Phone{Conn: c}
	done := make(chan struct{})
	tb.Cleanup(func() { c.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			if n < 12 || buf[0]>>6 != 2 {
				continue
			}
			p.mu.Lock()
			if buf[1]&0x7f == 101 {
				p.events++
			} else {
				p.received++
			}
			p.mu.Unlock()
		}
	}()
	return p
}

// Addr is the phone's address.
func (p *Phone) Addr() netip.AddrPort { return p.Conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// Received returns how many audio packets reached the phone.
func (p *Phone) Received() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.received
}

// Events returns how many telephone-event packets reached the phone.
func (p *Phone) Events() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.events
}

// Send sends n 20 ms µ-law packets to the channel's session, gap apart.
func (p *Phone) Send(n int, gap time.Duration) {
	for range n {
		p.mu.Lock()
		p.seq++
		p.ts += 160
		seq, ts := p.seq, p.ts
		p.mu.Unlock()
		pkt := make([]byte, 12+160)
		pkt[0] = 0x80
		pkt[1] = 0 // PCMU
		pkt[2], pkt[3] = byte(seq>>8), byte(seq)
		pkt[4], pkt[5], pkt[6], pkt[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
		pkt[8], pkt[9], pkt[10], pkt[11] = 0x12, 0x34, 0x56, 0x78
		for i := 12; i < len(pkt); i++ {
			pkt[i] = 0xff
		}
		p.Conn.WriteToUDPAddrPort(pkt, p.Remote)
		if gap > 0 {
			time.Sleep(gap)
		}
	}
}

// SendDigit sends one RFC 4733 digit (payload type 101): three event packets and three
// end packets, as phones do.
func (p *Phone) SendDigit(d byte) {
	ev := byte(0)
	switch {
	case d >= '0' && d <= '9':
		ev = d - '0'
	case d == '*':
		ev = 10
	case d == '#':
		ev = 11
	}
	p.mu.Lock()
	p.ts += 160
	ts := p.ts
	p.mu.Unlock()
	for i := range 6 {
		p.mu.Lock()
		p.seq++
		seq := p.seq
		p.mu.Unlock()
		dur := uint16(160 * (i + 1))
		flags := byte(10) // volume
		if i >= 3 {
			flags |= 0x80
			dur = 480
		}
		pkt := []byte{0x80, 101, byte(seq >> 8), byte(seq), byte(ts >> 24), byte(ts >> 16), byte(ts >> 8), byte(ts),
			0x12, 0x34, 0x56, 0x78, ev, flags, byte(dur >> 8), byte(dur)}
		if i == 0 {
			pkt[1] |= 0x80
		}
		p.Conn.WriteToUDPAddrPort(pkt, p.Remote)
		time.Sleep(5 * time.Millisecond)
	}
}
