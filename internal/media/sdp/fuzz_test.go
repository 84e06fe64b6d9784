package sdp

import (
	"net/netip"
	"testing"
)

// FuzzParse: any input gives a description or an error, never a panic; a description that
// negotiates gives an answer that parses again to the same codecs.
func FuzzParse(f *testing.F) {
	f.Add(withHead("c=IN IP4 192.0.2.10", "t=0 0", "m=audio 49170 RTP/AVP 8 0 101",
		"a=rtpmap:8 PCMA/8000", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16", "a=ptime:20", "a=sendrecv"))
	f.Add(withHead("c=IN IP4 0.0.0.0", "t=0 0", "m=audio 4000 RTP/AVP 0", "m=video 5000 RTP/AVP 31", "a=sendonly"))
	f.Add(withHead("c=IN IP6 ::1", "t=0 0", "a=inactive", "m=audio 4000 RTP/AVP 0 96", "a=rtpmap:96 telephone-event/8000"))
	f.Add([]byte("v=0\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Parse(b)
		if err != nil {
			return
		}
		n, err := Negotiate(d, []Codec{PCMU, PCMA, TelephoneEvent})
		if err != nil {
			return
		}
		ans := Answer(d, n, Local{Addr: netip.MustParseAddrPort("127.0.0.1:10000")})
		back, err := Parse(ans)
		if err != nil {
			t.Fatalf("answer does not parse: %v\n%q", err, ans)
		}
		if back.Audio == nil || len(back.Audio.Codecs) != len(n.Codecs)+map[bool]int{true: 1}[n.HasDTMF] {
			t.Fatalf("answer audio %+v for %+v\n%q", back.Audio, n, ans)
		}
	})
}
