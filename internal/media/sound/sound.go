// Package sound finds and reads Asterisk's sound files for playback.
//
// Find looks a name up as Asterisk's file.c does (fileexists_core): an absolute name as
// it is, else under the sounds directory (astdatadir/sounds) in the language's directory,
// then the language without its dialect ("en_GB" → "en"), then the sounds directory itself,
// then "en". In each place it tries the formats Pleiades reads, the caller's preferred
// encoding first (a .ulaw file for a µ-law leg is sent without conversion):
//
//	.wav              RIFF/WAVE, PCM, 16-bit, mono, 8000 Hz (Debian's asterisk-core-sounds-en-wav)
//	.sln .raw         signed linear 16-bit little-endian, 8000 Hz (Asterisk's format_sln)
//	.ulaw .pcm .ul .mu .ulw   raw G.711 µ-law (format_pcm: ".pcm" is µ-law in Asterisk)
//	.alaw .al .alw    raw G.711 A-law
//
// Load reads a whole file (sound prompts are small; MaxSize bounds them) into a Clip.
package sound

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Encoding is how a file's samples are stored.
type Encoding uint8

// Encodings.
const (
	Linear Encoding = iota // 16-bit signed little-endian
	Ulaw
	Alaw
)

func (e Encoding) String() string {
	switch e {
	case Ulaw:
		return "ulaw"
	case Alaw:
		return "alaw"
	}
	return "slin"
}

// MaxSize bounds a sound file's size (about 35 minutes of 8 kHz 16-bit audio).
const MaxSize = 32 << 20

// ErrNotFound: no file of a readable format under that name.
var ErrNotFound = errors.New("sound: file not found")

type format struct {
	ext string
	enc Encoding
	wav bool
}

var formats = []format{
	{"wav", Linear, true},
	{"sln", Linear, false}, {"raw", Linear, false},
	{"ulaw", Ulaw, false}, {"pcm", Ulaw, false}, {"ul", Ulaw, false}, {"mu", Ulaw, false}, {"ulw", Ulaw, false},
	{"alaw", Alaw, false}, {"al", Alaw, false}, {"alw", Alaw, false},
}

// Playable reports whether ext (a file name's extension without the dot, "wav", "ulaw")
// is one of the formats Find and Load read: what music on hold's files mode lists from a
// directory (Asterisk lists the files its format modules can read).
func Playable(ext string) bool {
	for _, f := range formats {
		if f.ext == ext {
			return true
		}
	}
	return false
}

// File is a sound file found on disk.
type File struct {
	Path     string
	Encoding Encoding
	wav      bool
}

// Find returns the file for name in language lang under soundsDir (astdatadir/sounds),
// preferring files stored in prefer.
func Find(soundsDir, lang, name string, prefer Encoding) (File, error) {
	if name == "" || strings.ContainsRune(name, 0) {
		return File{}, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	ordered := make([]format, 0, len(formats))
	for _, f := range formats {
		if f.enc == prefer {
			ordered = append(ordered, f)
		}
	}
	for _, f := range formats {
		if f.enc != prefer {
			ordered = append(ordered, f)
		}
	}
	var dirs []string
	if filepath.IsAbs(name) {
		dirs = []string{""}
	} else {
		seen := map[string]bool{}
		addDir := func(d string) {
			if !seen[d] {
				seen[d] = true
				dirs = append(dirs, d)
			}
		}
		if lang != "" && !strings.Contains(lang, "..") && !strings.ContainsRune(lang, '/') {
			addDir(filepath.Join(soundsDir, lang))
			if i := strings.IndexByte(lang, '_'); i > 0 {
				addDir(filepath.Join(soundsDir, lang[:i]))
			}
		}
		addDir(soundsDir)
		addDir(filepath.Join(soundsDir, "en"))
	}
	for _, d := range dirs {
		base := name
		if d != "" {
			base = filepath.Join(d, name)
		}
		for _, f := range ordered {
			p := base + "." + f.ext
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
				return File{Path: p, Encoding: f.enc, wav: f.wav}, nil
			}
		}
	}
	return File{}, fmt.Errorf("%w: %s (language %q) under %s", ErrNotFound, name, lang, soundsDir)
}

// Clip is a sound in memory: Data holds its samples in Encoding (2 bytes a sample for
// Linear, 1 for G.711), at 8000 samples a second.
type Clip struct {
	Encoding Encoding
	Data     []byte
}

// Samples is the clip's length in samples.
func (c *Clip) Samples() int {
	if c.Encoding == Linear {
		return len(c.Data) / 2
	}
	return len(c.Data)
}

// Load reads f.
func Load(f File) (*Clip, error) {
	fh, err := os.Open(f.Path)
	if err != nil {
		return nil, fmt.Errorf("sound: %w", err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("sound: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("sound: %s is not a regular file", f.Path)
	}
	if st.Size() > MaxSize {
		return nil, fmt.Errorf("sound: %s: %d bytes is larger than %d", f.Path, st.Size(), MaxSize)
	}
	b, err := io.ReadAll(io.LimitReader(fh, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("sound: %s: %w", f.Path, err)
	}
	if f.wav {
		data, err := ParseWAV(b)
		if err != nil {
			return nil, fmt.Errorf("sound: %s: %w", f.Path, err)
		}
		return &Clip{Encoding: Linear, Data: data}, nil
	}
	if f.Encoding == Linear {
		b = b[:len(b)&^1]
	}
	return &Clip{Encoding: f.Encoding, Data: b}, nil
}

// ParseWAV returns the sample data of a RIFF/WAVE file holding 16-bit mono PCM at 8000 Hz,
// the format Pleiades plays; anything else is an error naming what it is.
func ParseWAV(b []byte) ([]byte, error) {
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, errors.New("not a RIFF/WAVE file")
	}
	b = b[12:]
	fmtSeen := false
	for len(b) >= 8 {
		id, size := string(b[0:4]), binary.LittleEndian.Uint32(b[4:8])
		b = b[8:]
		n := int(min(uint64(size), uint64(len(b))))
		body := b[:n]
		switch id {
		case "fmt ":
			if len(body) < 16 {
				return nil, errors.New("short fmt chunk")
			}
			tag := binary.LittleEndian.Uint16(body[0:2])
			ch := binary.LittleEndian.Uint16(body[2:4])
			rate := binary.LittleEndian.Uint32(body[4:8])
			bits := binary.LittleEndian.Uint16(body[14:16])
			if tag != 1 && tag != 0xfffe || ch != 1 || rate != 8000 || bits != 16 {
				return nil, fmt.Errorf("WAVE format %d, %d channel(s), %d Hz, %d bits: only 16-bit mono PCM at 8000 Hz is played", tag, ch, rate, bits)
			}
			fmtSeen = true
		case "data":
			if !fmtSeen {
				return nil, errors.New("data chunk before fmt chunk")
			}
			return body[:len(body)&^1], nil
		}
		// Chunks are padded to an even size.
		skip := uint64(size) + uint64(size&1)
		if skip >= uint64(len(b)) {
			break
		}
		b = b[skip:]
	}
	return nil, errors.New("no data chunk")
}
