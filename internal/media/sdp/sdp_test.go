package sdp

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// offer builds an SDP from lines joined by CRLF.
func offer(lines ...string) []byte { return []byte(strings.Join(lines, "\r\n") + "\r\n") }

var head = []string{"v=0", "o=alice 2890844526 2890844527 IN IP4 192.0.2.10", "s=-"}

func withHead(lines ...string) []byte { return offer(append(append([]string{}, head...), lines...)...) }

var ulawAlawDTMF = []Codec{PCMU, PCMA, TelephoneEvent}

func TestNegotiate(t *testing.T) {
	te101 := Codec{PT: 101, Name: "telephone-event", Rate: 8000, Fmtp: "0-16"}
	tests := []struct {
		name  string
		sdp   []byte
		allow []Codec
		want  Negotiated
		err   error
	}{
		{
			name: "offerer order kept, DTMF with their payload type",
			sdp: withHead("c=IN IP4 192.0.2.10", "t=0 0", "m=audio 49170 RTP/AVP 8 0 101",
				"a=rtpmap:8 PCMA/8000", "a=rtpmap:0 PCMU/8000", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16", "a=ptime:20", "a=sendrecv"),
			allow: ulawAlawDTMF,
			want: Negotiated{Remote: netip.MustParseAddrPort("192.0.2.10:49170"), Codec: PCMA, Codecs: []Codec{PCMA, PCMU},
				DTMF: te101, HasDTMF: true, Ptime: 20},
		},
		{
			name:  "static types without rtpmap, media-level c= wins",
			sdp:   withHead("c=IN IP4 192.0.2.99", "t=0 0", "m=audio 4000 RTP/AVP 0 8", "c=IN IP4 192.0.2.11"),
			allow: ulawAlawDTMF,
			want:  Negotiated{Remote: netip.MustParseAddrPort("192.0.2.11:4000"), Codec: PCMU, Codecs: []Codec{PCMU, PCMA}},
		},
		{
			name:  "allow list filters (allow=alaw only)",
			sdp:   withHead("c=IN IP4 192.0.2.10", "t=0 0", "m=audio 4000 RTP/AVP 0 8 96", "a=rtpmap:96 telephone-event/8000"),
			allow: []Codec{PCMA},
			want:  Negotiated{Remote: netip.MustParseAddrPort("192.0.2.10:4000"), Codec: PCMA, Codecs: []Codec{PCMA}},
		},
		{
			name:  "DTMF at a dynamic type other than 101",
			sdp:   withHead("c=IN IP4 192.0.2.10", "t=0 0", "m=audio 4000 RTP/AVP 0 96", "a=rtpmap:96 telephone-event/8000"),
			allow: ulawAlawDTMF,
			want: Negotiated{Remote: netip.MustParseAddrPort("192.0.2.10:4000"), Codec: PCMU, Codecs: []Codec{PCMU},
				DTMF: Codec{PT: 96, Name: "telephone-event", Rate: 8000}, HasDTMF: true},
		},
		{
			name:  "hold: sendonly",
			sdp:   withHead("c=IN IP4 192.0.2.10", "t=0 0", "m=audio 4000 RTP/AVP 0", "a=sendonly"),
			allow: ulawAlawDTMF,
			want:  Negotiated{Remote: netip.MustParseAddrPort("192.0.2.10:4000"), Codec: PCMU, Codecs: []Codec{PCMU}, Direction: SendOnly, Hold: true},
		},
		{
			name:  "hold: inactive at session level",
			sdp:   withHead("c=IN IP4 192.0.2.10", "t=0 0", "a=inactive", "m=audio 4000 RTP/AVP 0"),
			allow: ulawAlawDTMF,
			want:  Negotiated{Remote: netip.MustParseAddrPort("192.0.2.10:4000"), Codec: PCMU, Codecs: []Codec{PCMU}, Direction: Inactive, Hold: true},
		},
		{
			name:  "media-level direction over session level",
			sdp:   withHead("c=IN IP4 192.0.2.10", "t=0 0", "a=inactive", "m=audio 4000 RTP/AVP 0", "a=sendrecv"),
			allow: ulawAlawDTMF,
			want:  Negotiated{Remote: netip.MustParseAddrPort("192.0.2.10:4000"), Codec: PCMU, Codecs: []Codec{PCMU}},
		},
		{
			name:  "old-style hold: c=0.0.0.0",
			sdp:   withHead("c=IN IP4 0.0.0.0", "t=0 0", "m=audio 4000 RTP/AVP 0"),
			allow: ulawAlawDTMF,
			want:  Negotiated{Remote: netip.MustParseAddrPort("0.0.0.0:4000"), Codec: PCMU, Codecs: []Codec{PCMU}, Hold: true},
		},
		{
			name:  "recvonly is not hold",
			sdp:   withHead("c=IN IP4 192.0.2.10", "t=0 0", "m=audio 4000 RTP/AVP 0", "a=recvonly"),
			allow: ulawAlawDTMF,
			want:  Negotiated{Remote: netip.MustParseAddrPort("192.0.2.10:4000"), Codec: PCMU, Codecs: []Codec{PCMU}, Direction: RecvOnly},
		},
		{
			name:  "IPv6",
			sdp:   withHead("c=IN IP6 2001:db8::1", "t=0 0", "m=audio 4000 RTP/AVP 8"),
			allow: ulawAlawDTMF,
			want:  Negotiated{Remote: netip.MustParseAddrPort("[2001:db8::1]:4000"), Codec: PCMA, Codecs: []Codec{PCMA}},
		},
		{
			name:  "488: only G.729 and GSM offered",
			sdp:   withHead("c=IN IP4 192.0.2.10", "t=0 0", "m=audio 4000 RTP/AVP 18 3 101", "a=rtpmap:101 telephone-event/8000"),
			allow: ulawAlawDTMF,
			err:   ErrNoCommonCodec,
		},
		{
			name:  "488: PCMU offered, only alaw allowed",
			sdp:   withHead("c=IN IP4 192.0.2.10", "t=0 0", "m=audio 4000 RTP/AVP 0"),
			allow: []Codec{PCMA, TelephoneEvent},
			err:   ErrNoCommonCodec,
		},
		{
			name:  "488: a dynamic type named PCMU at another rate",
			sdp:   withHead("c=IN IP4 192.0.2.10", "t=0 0", "m=audio 4000 RTP/AVP 97", "a=rtpmap:97 PCMU/16000"),
			allow: ulawAlawDTMF,
			err:   ErrNoCommonCodec,
		},
		{
			name:  "no audio: video only",
			sdp:   withHead("c=IN IP4 192.0.2.10", "t=0 0", "m=video 4000 RTP/AVP 31"),
			allow: ulawAlawDTMF,
			err:   ErrNoAudio,
		},
		{
			name:  "no audio: disabled stream",
			sdp:   withHead("c=IN IP4 192.0.2.10", "t=0 0", "m=audio 0 RTP/AVP 0"),
			allow: ulawAlawDTMF,
			err:   ErrNoAudio,
		},
		{
			name:  "no audio: SRTP profile",
			sdp:   withHead("c=IN IP4 192.0.2.10", "t=0 0", "m=audio 4000 RTP/SAVP 0"),
			allow: ulawAlawDTMF,
			err:   ErrNoAudio,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse(tt.sdp)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got, err := Negotiate(d, tt.allow)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if tt.err != nil {
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		sdp  []byte
		msg  string
	}{
		{"empty", nil, "sdp:"},
		{"garbage", []byte("hello"), "sdp:"},
		{"no c= anywhere", withHead("t=0 0", "m=audio 4000 RTP/AVP 0"), "without connection address"},
		{"hostname in c=", withHead("c=IN IP4 pbx.example.com", "t=0 0", "m=audio 4000 RTP/AVP 0"), "not an IP address"},
		{"IP6 address as IP4", withHead("c=IN IP4 2001:db8::1", "t=0 0", "m=audio 4000 RTP/AVP 0"), "not of type IP4"},
		{"bad format", withHead("c=IN IP4 192.0.2.1", "t=0 0", "m=audio 4000 RTP/AVP x"), "not a payload type"},
		{"payload type over 127", withHead("c=IN IP4 192.0.2.1", "t=0 0", "m=audio 4000 RTP/AVP 200"), "not a payload type"},
		{"bad rtpmap", withHead("c=IN IP4 192.0.2.1", "t=0 0", "m=audio 4000 RTP/AVP 96", "a=rtpmap:96 opus"), "bad a=rtpmap"},
		{"bad ptime", withHead("c=IN IP4 192.0.2.1", "t=0 0", "m=audio 4000 RTP/AVP 0", "a=ptime:0"), "bad a=ptime"},
		{"too large", append(withHead("c=IN IP4 192.0.2.1", "t=0 0"), make([]byte, MaxSize)...), "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse(tt.sdp)
			if err == nil {
				t.Fatalf("Parse gave %+v, want an error", d)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.msg)
			}
		})
	}
}

func TestAnswer(t *testing.T) {
	tests := []struct {
		name    string
		offer   []byte
		ours    Direction
		wantDir Direction
		wantPTs []uint8
		lines   []string // expected m= lines in order
	}{
		{
			name:    "sendrecv, video rejected, DTMF at their type",
			offer:   withHead("c=IN IP4 192.0.2.10", "t=0 0", "m=audio 4000 RTP/AVP 8 0 18 96", "a=rtpmap:96 telephone-event/8000", "a=fmtp:96 0-15", "m=video 5000 RTP/AVP 31"),
			wantDir: SendRecv, wantPTs: []uint8{8, 0, 96},
			lines: []string{"m=audio 10000 RTP/AVP 8 0 96", "m=video 0 RTP/AVP 31"},
		},
		{
			name:    "video first",
			offer:   withHead("c=IN IP4 192.0.2.10", "t=0 0", "m=video 5000 RTP/AVP 31", "m=audio 4000 RTP/AVP 0"),
			wantDir: SendRecv, wantPTs: []uint8{0},
			lines: []string{"m=video 0 RTP/AVP 31", "m=audio 10000 RTP/AVP 0"},
		},
		{
			name:    "they hold (sendonly): we answer recvonly",
			offer:   withHead("c=IN IP4 192.0.2.10", "t=0 0", "m=audio 4000 RTP/AVP 0", "a=sendonly"),
			wantDir: RecvOnly, wantPTs: []uint8{0},
		},
		{
			name:    "inactive answers inactive",
			offer:   withHead("c=IN IP4 192.0.2.10", "t=0 0", "m=audio 4000 RTP/AVP 0", "a=inactive"),
			wantDir: Inactive, wantPTs: []uint8{0},
		},
		{
			name:    "we hold a sendrecv offer: sendonly",
			offer:   withHead("c=IN IP4 192.0.2.10", "t=0 0", "m=audio 4000 RTP/AVP 0"),
			ours:    SendOnly,
			wantDir: SendOnly, wantPTs: []uint8{0},
		},
		{
			name:    "they recvonly, we hold: inactive",
			offer:   withHead("c=IN IP4 192.0.2.10", "t=0 0", "m=audio 4000 RTP/AVP 0", "a=recvonly"),
			ours:    RecvOnly,
			wantDir: Inactive, wantPTs: []uint8{0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			off, err := Parse(tt.offer)
			if err != nil {
				t.Fatal(err)
			}
			n, err := Negotiate(off, ulawAlawDTMF)
			if err != nil {
				t.Fatal(err)
			}
			local := Local{Addr: netip.MustParseAddrPort("198.51.100.1:10000"), SessionID: 7, Version: 8, Direction: tt.ours, Ptime: 20}
			ans := Answer(off, n, local)
			if tt.lines != nil {
				var ms []string
				for _, l := range strings.Split(string(ans), "\r\n") {
					if strings.HasPrefix(l, "m=") {
						ms = append(ms, l)
					}
				}
				if !reflect.DeepEqual(ms, tt.lines) {
					t.Fatalf("m-lines %q, want %q\n%s", ms, tt.lines, ans)
				}
			}
			// The answer is itself a valid description, negotiable against what we allow.
			back, err := Parse(ans)
			if err != nil {
				t.Fatalf("answer does not parse: %v\n%s", err, ans)
			}
			if back.Origin.SessionID != 7 || back.Origin.Version != 8 {
				t.Fatalf("origin %+v", back.Origin)
			}
			if back.Audio.Direction != tt.wantDir {
				t.Fatalf("answer direction %v, want %v\n%s", back.Audio.Direction, tt.wantDir, ans)
			}
			var pts []uint8
			for _, c := range back.Audio.Codecs {
				pts = append(pts, c.PT)
			}
			if !reflect.DeepEqual(pts, tt.wantPTs) {
				t.Fatalf("answer payload types %v, want %v\n%s", pts, tt.wantPTs, ans)
			}
			if back.Audio.Addr != local.Addr || back.Audio.Ptime != 20 {
				t.Fatalf("answer audio %+v", back.Audio)
			}
		})
	}
}

func TestOfferRoundTrip(t *testing.T) {
	l := Local{Addr: netip.MustParseAddrPort("[2001:db8::5]:12000"), SessionID: 1, Version: 1, Username: "root", SessionName: "Pleiades PBX"}
	b := Offer(l, []Codec{PCMA, PCMU, TelephoneEvent})
	d, err := Parse(b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	// The remote answering our offer: negotiate its answer against what we offered.
	n, err := Negotiate(d, []Codec{PCMU, PCMA, TelephoneEvent})
	if err != nil {
		t.Fatal(err)
	}
	if n.Codec != PCMA || !n.HasDTMF || n.DTMF != TelephoneEvent || n.Remote != l.Addr {
		t.Fatalf("%+v\n%s", n, b)
	}
	if !strings.Contains(string(b), "o=root 1 1 IN IP6 2001:db8::5\r\n") || !strings.Contains(string(b), "s=Pleiades PBX\r\n") {
		t.Fatalf("offer:\n%s", b)
	}
}

func TestLookup(t *testing.T) {
	for name, want := range map[string]Codec{"ulaw": PCMU, "ALAW": PCMA, "pcmu": PCMU, " alaw ": PCMA} {
		if c, ok := Lookup(name); !ok || c != want {
			t.Errorf("Lookup(%q) = %v, %v", name, c, ok)
		}
	}
	if _, ok := Lookup("g729"); ok {
		t.Error("g729 is not carried")
	}
}
