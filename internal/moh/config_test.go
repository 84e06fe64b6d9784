package moh

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/pleiades-pbx/pleiades/internal/conf"
)

// writeWAV writes a 16-bit mono 8 kHz WAV of samples samples of value v.
func writeWAV(t testing.TB, path string, samples int, v int16) {
	t.Helper()
	data := make([]byte, 2*samples)
	for i := 0; i < samples; i++ {
		binary.LittleEndian.PutUint16(data[2*i:], uint16(v))
	}
	h := make([]byte, 44)
	copy(h, "RIFF")
	binary.LittleEndian.PutUint32(h[4:], uint32(36+len(data)))
	copy(h[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)
	binary.LittleEndian.PutUint16(h[20:], 1)
	binary.LittleEndian.PutUint16(h[22:], 1)
	binary.LittleEndian.PutUint32(h[24:], 8000)
	binary.LittleEndian.PutUint32(h[28:], 16000)
	binary.LittleEndian.PutUint16(h[32:], 2)
	binary.LittleEndian.PutUint16(h[34:], 16)
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], uint32(len(data)))
	writeFile(t, path, append(h, data...))
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// dataDir makes an astdatadir with moh/ (three WAV files, one also as .ulaw, a dot file, a
// text file, a name without extension), empty/ and mixed/ (names differing in case).
func dataDir(t testing.TB) string {
	t.Helper()
	d := t.TempDir()
	for _, n := range []string{"moh/b-song.wav", "moh/a-song.wav", "moh/C-song.wav"} {
		writeWAV(t, filepath.Join(d, n), 80, 100)
	}
	writeFile(t, filepath.Join(d, "moh/a-song.ulaw"), make([]byte, 80))
	writeFile(t, filepath.Join(d, "moh/.hidden.wav"), make([]byte, 80))
	writeFile(t, filepath.Join(d, "moh/notes.txt"), []byte("x"))
	writeFile(t, filepath.Join(d, "moh/README"), []byte("x"))
	writeFile(t, filepath.Join(d, "moh/x.mp3"), []byte("x"))
	if err := os.MkdirAll(filepath.Join(d, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

func parseText(t testing.TB, text, dir string) (*Config, conf.ErrorList) {
	t.Helper()
	cfg, err := conf.Parse("musiconhold.conf", []byte(text), conf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return Parse(cfg, Options{DataDir: dir})
}

func TestParseClasses(t *testing.T) {
	d := dataDir(t)
	moh := func(names ...string) []string {
		var out []string
		for _, n := range names {
			out = append(out, filepath.Join(d, "moh", n))
		}
		return out
	}
	tests := []struct {
		name  string
		text  string
		class string // the class looked at ("": none must exist)
		want  *Class // fields compared: Mode, Directory, Sort, Files, Announcement, LoopLast
		warns []string
	}{
		{name: "Asterisk's sample default class", text: DefaultFile, class: "default",
			want: &Class{Mode: "files", Directory: "moh", Files: moh("C-song", "a-song", "b-song")}},
		{name: "sort=alpha ignores case", text: "[jazz]\nmode=files\ndirectory=moh\nsort=alpha\n", class: "jazz",
			want: &Class{Mode: "files", Directory: "moh", Sort: SortAlpha, Files: moh("a-song", "b-song", "C-song")}},
		{name: "randstart sorts as alpha", text: "[j]\nmode = FILES\ndirectory = moh\nsort = randstart\nloop_last=yes\n", class: "j",
			want: &Class{Mode: "files", Directory: "moh", Sort: SortRandStart, LoopLast: true, Files: moh("a-song", "b-song", "C-song")}},
		{name: "absolute directory, announcement, random", text: "[r]\nmode=files\ndirectory=" + filepath.Join(d, "moh") + "\nsort=random\nannouncement=queue-thankyou\ndigit=#\n", class: "r",
			want: &Class{Mode: "files", Directory: filepath.Join(d, "moh"), Sort: SortRandom, Announcement: "queue-thankyou", Files: moh("C-song", "a-song", "b-song")}},
		{name: "general options tolerated", text: "[general]\ncachertclasses=yes\npreferchannelclass=no\nbogus=1\n" + DefaultFile, class: "default",
			want:  &Class{Mode: "files", Directory: "moh", Files: moh("C-song", "a-song", "b-song")},
			warns: []string{"musiconhold.conf:4: Unknown option 'bogus' in [general] section of musiconhold.conf"}},
		{name: "no mode", text: "\n[x]\ndirectory=moh\n",
			warns: []string{"musiconhold.conf:2: A mode must be specified for class 'x'!"}},
		{name: "files without directory", text: "[x]\nmode=files\n",
			warns: []string{"musiconhold.conf:1: A directory must be specified for class 'x'!"}},
		{name: "directory missing", text: "[x]\nmode=files\ndirectory=nowhere\n",
			warns: []string{"musiconhold.conf:1: class 'x': " + filepath.Join(d, "nowhere") + " is not a valid directory"}},
		{name: "no playable file", text: "[x]\nmode=files\ndirectory=empty\n",
			warns: []string{"musiconhold.conf:1: Files not found in empty for moh class:x (class 'x' has no files"}},
		{name: "custom mode", text: "[x]\ndirectory=moh\n\nmode=custom\napplication=/usr/bin/mpg123\n",
			warns: []string{"musiconhold.conf:4: class 'x': mode=custom (an external player) is not supported by Pleiades"}},
		{name: "mp3 mode", text: "[x]\nmode=quietmp3\ndirectory=moh\n",
			warns: []string{"musiconhold.conf:2: class 'x': mode=quietmp3"}},
		{name: "unknown mode", text: "[x]\nmode=vinyl\ndirectory=moh\n",
			warns: []string{"musiconhold.conf:2: Don't know how to do a mode 'vinyl' music on hold"}},
		{name: "bad sort", text: "[x]\nmode=files\ndirectory=moh\nsort=shuffle\n", class: "x",
			want:  &Class{Mode: "files", Directory: "moh", Files: moh("C-song", "a-song", "b-song")},
			warns: []string{"musiconhold.conf:4: sort 'shuffle' of class 'x' is not random, alpha or randstart"}},
		{name: "duplicate class", text: DefaultFile + "[DEFAULT]\nmode=files\ndirectory=moh\n", class: "default",
			want:  &Class{Mode: "files", Directory: "moh", Files: moh("C-song", "a-song", "b-song")},
			warns: []string{"musiconhold.conf:4: Music on Hold class 'DEFAULT' already exists"}},
		{name: "playlist", text: "[p]\nmode=playlist\nentry=/srv/moh/one\nentry=http://example.com/a.ulaw\nentry=two\n", class: "p",
			want: &Class{Mode: "playlist", Directory: "nodir", Files: []string{"/srv/moh/one"}},
			warns: []string{"musiconhold.conf:4: class 'p': playlist entry 'http://example.com/a.ulaw' is a URL",
				"musiconhold.conf:5: Playlist entries must be a URL or an absolute path, 'two' provided."}},
		{name: "empty playlist", text: "[p]\nmode=playlist\n",
			warns: []string{"musiconhold.conf:1: class 'p': the playlist has no entries it can play"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, warns := parseText(t, tt.text, d)
			if len(warns) != len(tt.warns) {
				t.Fatalf("warnings %q, want %d like %q", warns.Error(), len(tt.warns), tt.warns)
			}
			for i, w := range tt.warns {
				if !strings.HasPrefix(warns[i].Error(), w) {
					t.Errorf("warning %d: %q, want it to start with %q", i, warns[i].Error(), w)
				}
			}
			if tt.class == "" {
				if len(c.Classes) != 0 {
					t.Fatalf("classes %v, want none", c.Classes)
				}
				return
			}
			got := c.Class(tt.class)
			if got == nil {
				t.Fatalf("no class %q", tt.class)
			}
			cmp := Class{Mode: got.Mode, Directory: got.Directory, Sort: got.Sort, Files: got.Files, Announcement: got.Announcement, LoopLast: got.LoopLast}
			if !reflect.DeepEqual(&cmp, tt.want) {
				t.Errorf("class %+v\nwant %+v", cmp, *tt.want)
			}
		})
	}
}

func TestParseGeneral(t *testing.T) {
	c, _ := parseText(t, "[general]\npreferchannelclass=no\ncachertclasses=yes\n", t.TempDir())
	if c.PreferChannelClass || !c.CacheRTClasses {
		t.Errorf("general: %+v", c)
	}
	c, _ = Parse(nil, Options{})
	if !c.PreferChannelClass || len(c.Classes) != 0 {
		t.Errorf("nil config: %+v", c)
	}
}

// FuzzParse: any musiconhold.conf the .conf parser accepts gives classes or warnings,
// never a panic, and every class kept has files and a known mode.
func FuzzParse(f *testing.F) {
	for _, s := range []string{DefaultFile, "[general]\ncachertclasses=yes\n[x]\nmode=playlist\nentry=/a\n",
		"[x]\nmode=files\ndirectory=moh\nsort=randstart\ndigit=\n", "[x]\nmode=custom\n", "[p]\nmode=playlist\nentry=\nentry=/\n"} {
		f.Add(s)
	}
	d := dataDir(f)
	f.Fuzz(func(t *testing.T, text string) {
		cfg, err := conf.Parse("musiconhold.conf", []byte(text), conf.Options{})
		if err != nil {
			return
		}
		c, warns := Parse(cfg, Options{DataDir: d})
		for _, w := range warns {
			if w.File == "" {
				t.Fatalf("warning without a file: %v", w)
			}
		}
		for _, cl := range c.Classes {
			if len(cl.Files) == 0 || (cl.Mode != "files" && cl.Mode != "playlist") {
				t.Fatalf("class kept without files or with mode %q: %+v", cl.Mode, cl)
			}
		}
	})
}
