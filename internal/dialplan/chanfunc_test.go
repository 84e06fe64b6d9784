package dialplan

import (
	"strings"
	"testing"
)

func TestParseDialOptions(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want dialOptions
	}{
		{"", dialOptions{}},
		{"rg", dialOptions{ringback: true, goOn: true}},
		{"m", dialOptions{moh: true}},
		{"m(jazz)g", dialOptions{moh: true, mohClass: "jazz", goOn: true}},
		{"U(sub^a(b)r)m", dialOptions{moh: true}},                 // r inside another option's argument
		{"tTm( rock )", dialOptions{moh: true, mohClass: "rock"}}, // spaces trimmed
		{"m(", dialOptions{moh: true}},                            // unclosed: nothing after it counts
	} {
		if got := parseDialOptions(tt.in); got.ringback != tt.want.ringback || got.goOn != tt.want.goOn || got.moh != tt.want.moh || got.mohClass != tt.want.mohClass {
			t.Errorf("parseDialOptions(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

// CHANNEL(musicclass) on a channel without a leg: written, read back, cleared; the other
// items read; an unknown item fails with func_channel's warning.
func TestChannelFunction(t *testing.T) {
	e, sink := newTestEngine(t, `[t]
exten => s,1,Set(CHANNEL(musicclass)=jazz)
 same => n,Set(MC=${CHANNEL(musicclass)})
 same => n,Set(NAME=${CHANNEL(name)})
 same => n,Set(TYPE=${CHANNEL(channeltype)})
 same => n,Set(LANG=${CHANNEL(language)})
 same => n,Set(BAD=${CHANNEL(nosuch)})
 same => n,Set(CHANNEL(musicclass)=)
 same => n,Set(MC2=${CHANNEL(musicclass)})
`)
	ch, err := runAt(t, e, "t", "s")
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"MC": "jazz", "NAME": "Test/1", "TYPE": "Test", "LANG": "en", "MC2": ""} {
		if got, _ := ch.Var(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if !strings.Contains(sink.text(), "unknown or unavailable item requested: 'nosuch'") {
		t.Errorf("log:\n%s", sink.text())
	}
}
