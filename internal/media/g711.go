package media

import (
	"github.com/pleiades-pbx/pleiades/internal/media/sdp"
	"github.com/zaf/g711"
)

// Codec is an audio encoding the media layer carries.
type Codec uint8

// Codecs.
const (
	CodecNone Codec = iota
	PCMU            // G.711 µ-law, payload type 0
	PCMA            // G.711 A-law, payload type 8
)

func (c Codec) String() string {
	switch c {
	case PCMU:
		return "ulaw"
	case PCMA:
		return "alaw"
	}
	return "none"
}

// PT is the codec's static payload type.
func (c Codec) PT() uint8 {
	if c == PCMA {
		return 8
	}
	return 0
}

// codecOf maps an SDP codec to ours.
func codecOf(c sdp.Codec) Codec {
	switch {
	case c.Same(sdp.PCMU):
		return PCMU
	case c.Same(sdp.PCMA):
		return PCMA
	}
	return CodecNone
}

// Translation tables, built once from zaf/g711's per-sample conversions: the relay
// transcodes a packet in place with one table look-up per byte and no allocation.
var (
	ulawToAlaw, alawToUlaw [256]byte
	// linear → G.711 for playback of 16-bit files: indexed by the sample's top 14 bits,
	// which is all the precision G.711 keeps.
	linToUlaw, linToAlaw [1 << 14]byte
)

func init() {
	for i := range 256 {
		ulawToAlaw[i] = g711.Ulaw2AlawFrame(uint8(i))
		alawToUlaw[i] = g711.Alaw2UlawFrame(uint8(i))
	}
	for i := range 1 << 14 {
		s := int16(uint16(i) << 2)
		linToUlaw[i] = g711.EncodeUlawFrame(s)
		linToAlaw[i] = g711.EncodeAlawFrame(s)
	}
}

// transcode converts G.711 payload p from one law to the other in place.
func transcode(p []byte, from, to Codec) {
	var t *[256]byte
	switch {
	case from == PCMU && to == PCMA:
		t = &ulawToAlaw
	case from == PCMA && to == PCMU:
		t = &alawToUlaw
	default:
		return
	}
	for i, b := range p {
		p[i] = t[b]
	}
}

// encodeLinear writes the G.711 encoding of 16-bit little-endian samples pcm into dst
// (len(pcm)/2 bytes).
func encodeLinear(dst, pcm []byte, to Codec) {
	t := &linToUlaw
	if to == PCMA {
		t = &linToAlaw
	}
	for i := range dst {
		s := uint16(pcm[2*i]) | uint16(pcm[2*i+1])<<8
		dst[i] = t[s>>2]
	}
}

// DecodeSample is the linear value of one G.711 byte (for tests and tools).
func DecodeSample(c Codec, b byte) int16 {
	if c == PCMA {
		return g711.DecodeAlawFrame(b)
	}
	return g711.DecodeUlawFrame(b)
}
