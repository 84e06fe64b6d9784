// Package sdp is the SDP offer/answer of Pleiades' calls (RFC 3264 on RFC 4566), for the
// audio stream the media layer carries: G.711 µ-law (PCMU, payload type 0), A-law (PCMA, 8)
// and RFC 4733 telephone events (dynamic payload type, usually 101).
//
// Parsing is github.com/pion/sdp/v3's; this package reads what a PBX needs from it and
// builds offers and answers.
//
//   - Parse reads a description: the first audio m-line, its connection address (c= at media
//     level, else at session level), its payload formats in the m-line's order (static types 0
//     and 8 known without a=rtpmap; dynamic ones from a=rtpmap and a=fmtp), a=ptime, the
//     direction (a=sendrecv/sendonly/recvonly/inactive, media level over session level,
//     sendrecv when absent) and whether it puts the call on hold: sendonly or inactive, or the
//     old style of RFC 2543, c=0.0.0.0 (Asterisk's chan_sip reads both). A malformed
//     description gives an error, never a panic (FuzzParse).
//   - Negotiate intersects a remote description with what we allow: the remote's order (as
//     the brief for Pleiades' chan_sip asks: the offerer's preference), each codec with the
//     remote's payload type; ErrNoCommonCodec when no audio codec is common (the SIP layer
//     answers 488 Not Acceptable Here); ErrNoAudio when there is no usable audio stream.
//   - Answer builds the answer to an offer: one m-line per offered m-line (RFC 3264 §6),
//     other media rejected with port 0, the audio line with the negotiated codecs (the
//     offerer's payload types, so both directions use the same numbers) and the direction
//     that answers the offered one.
//   - Offer builds an offer of our codecs.
package sdp

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	psdp "github.com/pion/sdp/v3"
)

// Errors of negotiation.
var (
	// ErrNoCommonCodec: the remote's audio stream offers no codec we allow (SIP 488).
	ErrNoCommonCodec = errors.New("sdp: no common codec")
	// ErrNoAudio: the description has no audio stream over RTP/AVP, or it is disabled (port 0).
	ErrNoAudio = errors.New("sdp: no audio stream")
)

// MaxSize is the largest description Parse reads; a SIP body larger than this is refused.
const MaxSize = 64 << 10

// Direction is an audio stream's direction attribute, as its sender states it.
type Direction uint8

// Directions.
const (
	SendRecv Direction = iota
	SendOnly
	RecvOnly
	Inactive
)

func (d Direction) String() string {
	switch d {
	case SendOnly:
		return "sendonly"
	case RecvOnly:
		return "recvonly"
	case Inactive:
		return "inactive"
	}
	return "sendrecv"
}

// Reverse is the direction as the other side sees it: sendonly ↔ recvonly.
func (d Direction) Reverse() Direction {
	switch d {
	case SendOnly:
		return RecvOnly
	case RecvOnly:
		return SendOnly
	}
	return d
}

// Sends reports whether the side stating d sends media.
func (d Direction) Sends() bool { return d == SendRecv || d == SendOnly }

// Receives reports whether the side stating d receives media.
func (d Direction) Receives() bool { return d == SendRecv || d == RecvOnly }

func directionOf(sends, receives bool) Direction {
	switch {
	case sends && receives:
		return SendRecv
	case sends:
		return SendOnly
	case receives:
		return RecvOnly
	}
	return Inactive
}

// Codec is one payload format of an audio stream.
type Codec struct {
	PT   uint8  // payload type
	Name string // encoding name as in a=rtpmap ("PCMU", "PCMA", "telephone-event")
	Rate uint32 // clock rate
	Fmtp string // a=fmtp parameters, "" when none
}

// The codecs Pleiades carries, with their usual payload types.
var (
	PCMU           = Codec{PT: 0, Name: "PCMU", Rate: 8000}
	PCMA           = Codec{PT: 8, Name: "PCMA", Rate: 8000}
	TelephoneEvent = Codec{PT: 101, Name: "telephone-event", Rate: 8000, Fmtp: "0-16"}
)

// Same reports whether c and o are the same format (name and clock rate), whatever their
// payload types.
func (c Codec) Same(o Codec) bool { return c.Rate == o.Rate && strings.EqualFold(c.Name, o.Name) }

// IsDTMF reports whether c is RFC 4733 telephone-event.
func (c Codec) IsDTMF() bool { return strings.EqualFold(c.Name, TelephoneEvent.Name) }

func (c Codec) String() string { return c.Name + "/" + strconv.FormatUint(uint64(c.Rate), 10) }

// Lookup returns the audio codec for an Asterisk codec name of sip.conf's allow= ("ulaw",
// "alaw"; the RTP names "pcmu", "pcma" too), case-insensitive.
func Lookup(name string) (Codec, bool) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "ulaw", "pcmu", "g711u", "mulaw":
		return PCMU, true
	case "alaw", "pcma", "g711a":
		return PCMA, true
	}
	return Codec{}, false
}

// staticCodecs are the static payload types of RFC 3551 a description may use without
// a=rtpmap (the audio ones that matter here).
var staticCodecs = map[uint8]Codec{
	0:  PCMU,
	3:  {PT: 3, Name: "GSM", Rate: 8000},
	4:  {PT: 4, Name: "G723", Rate: 8000},
	8:  PCMA,
	9:  {PT: 9, Name: "G722", Rate: 8000},
	13: {PT: 13, Name: "CN", Rate: 8000},
	18: {PT: 18, Name: "G729", Rate: 8000},
}

// Origin is the o= line.
type Origin struct {
	Username  string
	SessionID uint64
	Version   uint64
	Addr      string
}

// Audio is the audio stream of a description.
type Audio struct {
	// Addr is where the stream's sender wants RTP: the connection address and the m-line's
	// port. Port 0 means the stream is disabled; 0.0.0.0 (or ::) is the old hold.
	Addr netip.AddrPort
	// Proto is the m-line's transport ("RTP/AVP").
	Proto string
	// Codecs in the m-line's order.
	Codecs []Codec
	// Ptime is a=ptime in milliseconds, 0 when absent.
	Ptime int
	// Direction as stated (sendrecv when absent).
	Direction Direction
	// Hold: sendonly or inactive, or the connection address 0.0.0.0 (RFC 2543).
	Hold bool
}

// Description is a parsed session description.
type Description struct {
	Origin Origin
	// Audio is the first audio m-line, nil when there is none.
	Audio *Audio
	// audioIndex is the position of Audio among the m-lines; media holds every m-line's
	// media type and transport, to reject the others in an answer.
	audioIndex int
	media      []mline
}

type mline struct {
	kind, proto string
	formats     []string
}

// Parse reads a session description. A malformed one gives an error, never a panic.
func Parse(b []byte) (d *Description, err error) {
	if len(b) > MaxSize {
		return nil, fmt.Errorf("sdp: description of %d bytes is larger than %d", len(b), MaxSize)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, errors.New("sdp: empty description")
	}
	defer func() {
		// pion/sdp is fuzzed upstream and here; this is the last guard for the promise.
		if r := recover(); r != nil {
			d, err = nil, fmt.Errorf("sdp: malformed description (%v)", r)
		}
	}()
	var sd psdp.SessionDescription
	if err := sd.Unmarshal(b); err != nil {
		return nil, fmt.Errorf("sdp: %w", err)
	}
	d = &Description{audioIndex: -1, Origin: Origin{
		Username:  sd.Origin.Username,
		SessionID: sd.Origin.SessionID,
		Version:   sd.Origin.SessionVersion,
		Addr:      sd.Origin.UnicastAddress,
	}}
	sessDir, sessHasDir := direction(sd.Attributes)
	for i, md := range sd.MediaDescriptions {
		d.media = append(d.media, mline{kind: md.MediaName.Media, proto: strings.Join(md.MediaName.Protos, "/"), formats: md.MediaName.Formats})
		if d.Audio != nil || !strings.EqualFold(md.MediaName.Media, "audio") {
			continue
		}
		a, err := parseAudio(&sd, md, sessDir, sessHasDir)
		if err != nil {
			return nil, err
		}
		d.Audio, d.audioIndex = a, i
	}
	return d, nil
}

func parseAudio(sd *psdp.SessionDescription, md *psdp.MediaDescription, sessDir Direction, sessHasDir bool) (*Audio, error) {
	a := &Audio{Proto: strings.Join(md.MediaName.Protos, "/"), Direction: SendRecv}
	port := md.MediaName.Port.Value
	if port < 0 || port > 65535 {
		return nil, fmt.Errorf("sdp: audio port %d out of range", port)
	}
	ci := md.ConnectionInformation
	if ci == nil {
		ci = sd.ConnectionInformation
	}
	var ip netip.Addr
	if ci != nil && ci.Address != nil {
		var err error
		ip, err = netip.ParseAddr(ci.Address.Address)
		if err != nil {
			return nil, fmt.Errorf("sdp: connection address %q is not an IP address", ci.Address.Address)
		}
		ip = ip.Unmap()
		if ip.Is4() != strings.EqualFold(ci.AddressType, "IP4") {
			return nil, fmt.Errorf("sdp: connection address %q is not of type %s", ci.Address.Address, ci.AddressType)
		}
	} else if port != 0 {
		return nil, errors.New("sdp: audio stream without connection address (c=)")
	}
	a.Addr = netip.AddrPortFrom(ip, uint16(port))

	rtpmap := map[uint8]Codec{}
	fmtp := map[uint8]string{}
	for _, at := range md.Attributes {
		switch strings.ToLower(at.Key) {
		case "rtpmap":
			c, ok := parseRtpmap(at.Value)
			if !ok {
				return nil, fmt.Errorf("sdp: bad a=rtpmap:%s", at.Value)
			}
			rtpmap[c.PT] = c
		case "fmtp":
			pt, params, _ := strings.Cut(at.Value, " ")
			n, err := strconv.ParseUint(pt, 10, 7)
			if err != nil {
				return nil, fmt.Errorf("sdp: bad a=fmtp:%s", at.Value)
			}
			fmtp[uint8(n)] = strings.TrimSpace(params)
		case "ptime":
			n, err := strconv.Atoi(strings.TrimSpace(at.Value))
			if err != nil || n <= 0 || n > 1000 {
				return nil, fmt.Errorf("sdp: bad a=ptime:%s", at.Value)
			}
			a.Ptime = n
		}
	}
	for _, f := range md.MediaName.Formats {
		n, err := strconv.ParseUint(f, 10, 7)
		if err != nil {
			return nil, fmt.Errorf("sdp: audio format %q is not a payload type", f)
		}
		pt := uint8(n)
		c, ok := rtpmap[pt]
		if !ok {
			c, ok = staticCodecs[pt]
		}
		if !ok {
			c = Codec{PT: pt} // dynamic without rtpmap: unknown, never common
		}
		c.PT = pt
		if p, ok := fmtp[pt]; ok {
			c.Fmtp = p
		}
		a.Codecs = append(a.Codecs, c)
	}
	if dir, ok := direction(md.Attributes); ok {
		a.Direction = dir
	} else if sessHasDir {
		a.Direction = sessDir
	}
	a.Hold = a.Direction == SendOnly || a.Direction == Inactive || (ip.IsValid() && ip.IsUnspecified())
	return a, nil
}

func parseRtpmap(v string) (Codec, bool) {
	pt, enc, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok {
		return Codec{}, false
	}
	n, err := strconv.ParseUint(pt, 10, 7)
	if err != nil {
		return Codec{}, false
	}
	parts := strings.Split(strings.TrimSpace(enc), "/")
	if len(parts) < 2 || parts[0] == "" {
		return Codec{}, false
	}
	rate, err := strconv.ParseUint(parts[1], 10, 32)
	if err != nil || rate == 0 {
		return Codec{}, false
	}
	return Codec{PT: uint8(n), Name: parts[0], Rate: uint32(rate)}, true
}

func direction(attrs []psdp.Attribute) (Direction, bool) {
	d, found := SendRecv, false
	for _, at := range attrs {
		switch strings.ToLower(at.Key) {
		case "sendrecv":
			d, found = SendRecv, true
		case "sendonly":
			d, found = SendOnly, true
		case "recvonly":
			d, found = RecvOnly, true
		case "inactive":
			d, found = Inactive, true
		}
	}
	return d, found
}

// Negotiated is the outcome of one offer/answer for the audio stream, as the media layer
// needs it.
type Negotiated struct {
	// Remote is where to send RTP (from the remote's description); its address is
	// unspecified (0.0.0.0) on an old-style hold.
	Remote netip.AddrPort
	// Codec is the first common audio codec, with the remote's payload type: what we send.
	Codec Codec
	// Codecs are every common audio codec, in the remote's order, with its payload types.
	Codecs []Codec
	// DTMF is telephone-event with the remote's payload type, when HasDTMF.
	DTMF    Codec
	HasDTMF bool
	// Ptime is the remote's a=ptime (0: not stated; 20 ms is then the usual).
	Ptime int
	// Direction is the remote's stated direction; Hold its hold (see Audio.Hold).
	Direction Direction
	Hold      bool
}

// Negotiate intersects the remote's audio stream with allow (our codecs; TelephoneEvent
// among them allows RFC 4733). The result keeps the remote's order and payload types.
func Negotiate(remote *Description, allow []Codec) (Negotiated, error) {
	if remote == nil || remote.Audio == nil || remote.Audio.Addr.Port() == 0 {
		return Negotiated{}, ErrNoAudio
	}
	a := remote.Audio
	if !strings.EqualFold(a.Proto, "RTP/AVP") && !strings.EqualFold(a.Proto, "RTP/AVPF") {
		return Negotiated{}, ErrNoAudio
	}
	n := Negotiated{Remote: a.Addr, Ptime: a.Ptime, Direction: a.Direction, Hold: a.Hold}
	dtmfAllowed := false
	for _, c := range allow {
		if c.IsDTMF() {
			dtmfAllowed = true
		}
	}
	for _, c := range a.Codecs {
		if c.IsDTMF() {
			if dtmfAllowed && !n.HasDTMF && c.Rate == 8000 {
				n.DTMF, n.HasDTMF = c, true
			}
			continue
		}
		for _, ours := range allow {
			if !ours.IsDTMF() && ours.Same(c) {
				n.Codecs = append(n.Codecs, c)
				break
			}
		}
	}
	if len(n.Codecs) == 0 {
		return Negotiated{}, ErrNoCommonCodec
	}
	n.Codec = n.Codecs[0]
	return n, nil
}

// Local is our side of a description.
type Local struct {
	// Addr is our RTP address (c= and the audio m-line's port).
	Addr netip.AddrPort
	// Origin's session id and version: the SIP layer keeps them per dialog and raises the
	// version with every changed description (RFC 3264 §8). Username "" is "-".
	SessionID, Version uint64
	Username           string
	// SessionName is s= ("" is "Pleiades").
	SessionName string
	// Direction we want; Answer narrows it to what answers the offer.
	Direction Direction
	// Ptime, when not 0, adds a=ptime.
	Ptime int
}

// Offer builds an offer of codecs (audio codecs in our order, TelephoneEvent with its
// payload type among them for RFC 4733).
func Offer(l Local, codecs []Codec) []byte {
	return build(l, l.Direction, codecs, nil, -1)
}

// Answer builds the answer to offer for the negotiated audio stream n (from Negotiate on
// the same offer): n's codecs and telephone-event with the offerer's payload types, the
// direction answering the offered one narrowed by l.Direction, and every other m-line
// rejected (port 0).
func Answer(offer *Description, n Negotiated, l Local) []byte {
	dir := offeredAnswerDirection(n.Direction, l.Direction)
	codecs := append([]Codec(nil), n.Codecs...)
	if n.HasDTMF {
		dt := n.DTMF
		if dt.Fmtp == "" {
			dt.Fmtp = TelephoneEvent.Fmtp
		}
		codecs = append(codecs, dt)
	}
	idx := -1
	var lines []mline
	if offer != nil {
		lines, idx = offer.media, offer.audioIndex
	}
	return build(l, dir, codecs, lines, idx)
}

// offeredAnswerDirection: what we may do is what they allow (reverse of theirs) and what
// we want.
func offeredAnswerDirection(theirs, ours Direction) Direction {
	allowed := theirs.Reverse()
	return directionOf(allowed.Sends() && ours.Sends(), allowed.Receives() && ours.Receives())
}

func ipType(a netip.Addr) string {
	if a.Is4() || !a.IsValid() {
		return "IP4"
	}
	return "IP6"
}

// build writes a description by hand (the answer's m-lines mirror the offer's, which
// pion's marshaller would need a full model of).
func build(l Local, dir Direction, codecs []Codec, lines []mline, audioIdx int) []byte {
	ip := l.Addr.Addr()
	if !ip.IsValid() {
		ip = netip.IPv4Unspecified()
	}
	user := l.Username
	if user == "" {
		user = "-"
	}
	name := l.SessionName
	if name == "" {
		name = "Pleiades"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=%s %d %d IN %s %s\r\ns=%s\r\nc=IN %s %s\r\nt=0 0\r\n",
		user, l.SessionID, l.Version, ipType(ip), ip, name, ipType(ip), ip)
	audio := func() {
		b.WriteString("m=audio ")
		b.WriteString(strconv.Itoa(int(l.Addr.Port())))
		b.WriteString(" RTP/AVP")
		for _, c := range codecs {
			b.WriteByte(' ')
			b.WriteString(strconv.Itoa(int(c.PT)))
		}
		b.WriteString("\r\n")
		for _, c := range codecs {
			fmt.Fprintf(&b, "a=rtpmap:%d %s/%d\r\n", c.PT, c.Name, c.Rate)
			if c.Fmtp != "" {
				fmt.Fprintf(&b, "a=fmtp:%d %s\r\n", c.PT, c.Fmtp)
			}
		}
		if l.Ptime > 0 {
			fmt.Fprintf(&b, "a=ptime:%d\r\n", l.Ptime)
		}
		b.WriteString("a=" + dir.String() + "\r\n")
	}
	if lines == nil {
		audio()
		return []byte(b.String())
	}
	for i, m := range lines {
		if i == audioIdx {
			audio()
			continue
		}
		// RFC 3264 §6: a rejected stream keeps its media type, transport and at least one
		// format.
		f := "0"
		if len(m.formats) > 0 {
			f = m.formats[0]
		}
		kind, proto := sanitizeToken(m.kind), sanitizeToken(m.proto)
		fmt.Fprintf(&b, "m=%s 0 %s %s\r\n", kind, proto, sanitizeToken(f))
	}
	return []byte(b.String())
}

// sanitizeToken keeps an echoed token of the offer from breaking the answer's lines.
func sanitizeToken(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Map(func(r rune) rune {
		if r <= ' ' || r == 0x7f {
			return -1
		}
		return r
	}, s)
}
