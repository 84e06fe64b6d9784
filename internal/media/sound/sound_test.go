package sound

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const debianSounds = "/usr/share/asterisk/sounds" // asterisk-core-sounds-en-wav

func wav(rate uint32, ch, bits uint16, samples int) []byte {
	data := make([]byte, samples*2)
	b := []byte("RIFF\x00\x00\x00\x00WAVE")
	f := make([]byte, 24)
	copy(f, "fmt ")
	binary.LittleEndian.PutUint32(f[4:], 16)
	binary.LittleEndian.PutUint16(f[8:], 1)
	binary.LittleEndian.PutUint16(f[10:], ch)
	binary.LittleEndian.PutUint32(f[12:], rate)
	binary.LittleEndian.PutUint16(f[22:], bits)
	b = append(b, f...)
	b = append(b, "LIST\x03\x00\x00\x00abc\x00"...) // odd-sized chunk, padded
	d := make([]byte, 8)
	copy(d, "data")
	binary.LittleEndian.PutUint32(d[4:], uint32(len(data)))
	return append(append(b, d...), data...)
}

func TestParseWAV(t *testing.T) {
	if d, err := ParseWAV(wav(8000, 1, 16, 80)); err != nil || len(d) != 160 {
		t.Fatalf("good file: %d bytes, %v", len(d), err)
	}
	for name, b := range map[string][]byte{
		"16 kHz": wav(16000, 1, 16, 10), "stereo": wav(8000, 2, 16, 10), "8-bit": wav(8000, 1, 8, 10),
		"not RIFF": []byte("hello world, not a wave"), "truncated": wav(8000, 1, 16, 10)[:30],
	} {
		if _, err := ParseWAV(b); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func FuzzParseWAV(f *testing.F) {
	f.Add(wav(8000, 1, 16, 4))
	f.Add(wav(16000, 2, 8, 1))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseWAV(b)
		if err == nil && len(d)%2 != 0 {
			t.Fatal("odd data length")
		}
	})
}

func TestFindAsAsterisk(t *testing.T) {
	dir := t.TempDir()
	write := func(rel string) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, wav(8000, 1, 16, 8), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("en/hello.wav")
	write("en/hello.ulaw")
	write("fr/bonjour.alaw")
	write("fr/bonjour.sln")
	write("plain.pcm")
	write("en/only-en.wav")
	tests := []struct {
		lang, name string
		prefer     Encoding
		want       string
		enc        Encoding
	}{
		{"en", "hello", Ulaw, "en/hello.ulaw", Ulaw},
		{"en", "hello", Linear, "en/hello.wav", Linear},
		{"en", "hello", Alaw, "en/hello.wav", Linear}, // first readable format after the preferred one
		{"fr_CA", "bonjour", Alaw, "fr/bonjour.alaw", Alaw},
		{"fr", "bonjour", Ulaw, "fr/bonjour.sln", Linear},
		{"de", "plain", Alaw, "plain.pcm", Ulaw},
		{"de", "only-en", Ulaw, "en/only-en.wav", Linear},
		{"", filepath.Join(dir, "en/hello"), Ulaw, "en/hello.ulaw", Ulaw},
	}
	for _, tt := range tests {
		f, err := Find(dir, tt.lang, tt.name, tt.prefer)
		if err != nil {
			t.Fatalf("%s/%s: %v", tt.lang, tt.name, err)
		}
		if f.Path != filepath.Join(dir, tt.want) || f.Encoding != tt.enc {
			t.Errorf("%s/%s prefer %v: %s (%v), want %s (%v)", tt.lang, tt.name, tt.prefer, f.Path, f.Encoding, tt.want, tt.enc)
		}
	}
	if _, err := Find(dir, "en", "missing", Ulaw); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	if _, err := Find(dir, "../..", "hello", Ulaw); err != nil {
		t.Fatalf("a language with .. is skipped, not an error: %v", err)
	}
}

func TestLoadDebianSound(t *testing.T) {
	f, err := Find(debianSounds, "en", "hello-world", Ulaw)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v (CI installs asterisk-core-sounds-en-wav)", err)
		}
		t.Skip(err)
	}
	if !strings.HasSuffix(f.Path, "/en/hello-world.wav") {
		t.Fatalf("found %s", f.Path)
	}
	c, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(f.Path)
	if c.Encoding != Linear || c.Samples() < 8000 || c.Samples() > int(st.Size())/2 {
		t.Fatalf("clip: %v, %d samples of a %d-byte file", c.Encoding, c.Samples(), st.Size())
	}
}
