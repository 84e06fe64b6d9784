package logesc

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"alice":                   "alice",
		"":                        "",
		"x' from '10.9.8.7":       `x\' from \'10.9.8.7`,
		`a"b\c`:                   `a\"b\\c`,
		"x\n[Jan 1] NOTICE: y":    `x\x0a[Jan 1] NOTICE: y`,
		"cr\rtab\tnul\x00del\x7f": `cr\x0dtab\x09nul\x00del\x7f`,
		"héllo ☎":                 "héllo ☎",
		"bad\xff\xfe":             `bad\xff\xfe`,
		strings.Repeat("a", 300):  strings.Repeat("a", MaxLen) + "...",
	} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzEscape(f *testing.F) {
	for _, s := range []string{"alice", "x' from '10.9.8.7", "a\nb", "\xff", strings.Repeat("é", 200)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Escape(s)
		if !utf8.ValidString(out) {
			t.Fatalf("invalid UTF-8: %q", out)
		}
		for i := 0; i < len(out); i++ {
			c := out[i]
			if c < 0x20 || c == 0x7f {
				t.Fatalf("control byte in %q", out)
			}
			if (c == '\'' || c == '"') && (i == 0 || out[i-1] != '\\') {
				t.Fatalf("unescaped quote in %q", out)
			}
		}
		if len(out) > 4*MaxLen+3 {
			t.Fatalf("too long: %d", len(out))
		}
	})
}
