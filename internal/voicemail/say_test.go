package voicemail

import (
	"context"
	"strings"
	"testing"
	"time"
)

// The date formats of [zonemessages] say what Asterisk's ast_say_date_with_format says for
// "en": Asterisk's default envelope (q: nothing for today, yesterday, a weekday within the
// week, then longer dates the older the message) and the sample's zone formats.
func TestDateFiles(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	now := time.Date(2026, 12, 7, 15, 0, 0, 0, ny) // a Monday
	at := func(y int, mo time.Month, d, h, mi int) time.Time { return time.Date(y, mo, d, h, mi, 0, 0, ny) }
	for _, tc := range []struct {
		format string
		t      time.Time
		want   string
	}{
		{defaultEnvelope, at(2026, 12, 7, 10, 5), "vm-received digits/at digits/10 digits/oh digits/5 digits/a-m"},
		{defaultEnvelope, at(2026, 12, 6, 14, 0), "vm-received digits/yesterday digits/at digits/2 digits/oclock digits/p-m"},
		{defaultEnvelope, at(2026, 12, 4, 0, 30), "vm-received digits/day-5 digits/at digits/12 digits/30 digits/a-m"},
		{defaultEnvelope, at(2026, 11, 17, 12, 45), "vm-received digits/day-2 digits/mon-10 digits/h-17 digits/at digits/12 digits/40 digits/5 digits/p-m"},
		{defaultEnvelope, at(2026, 8, 21, 9, 15), "vm-received digits/mon-7 digits/20 digits/h-1 digits/at digits/9 digits/15 digits/a-m"},
		{defaultEnvelope, at(2024, 3, 30, 23, 59), "vm-received digits/mon-2 digits/h-30 digits/2 digits/thousand digits/20 digits/4 digits/at digits/11 digits/50 digits/9 digits/p-m"},
		{"'vm-received' Q 'digits/at' IMp", at(2026, 12, 7, 13, 0), "vm-received digits/today digits/at digits/1 digits/oclock digits/p-m"},
		{"'vm-received' a d b 'digits/at' HM", at(2026, 12, 3, 8, 0), "vm-received digits/day-4 digits/h-3 digits/mon-11 digits/at digits/oh digits/8 digits/oclock"},
		{"q 'digits/at' H N 'hours'", at(2026, 12, 7, 23, 0), "digits/at digits/20 digits/3 digits/hundred hours"},
		{"k R T", at(2026, 12, 7, 0, 7), "digits/oh digits/oh digits/oh digits/7 digits/oh digits/oh digits/7 digits/0"},
		{"Y m ${VM_NAME}", at(1905, 2, 1, 0, 0), "digits/19 digits/oh digits/5 digits/h-2"},
		{"'unterminated", at(2026, 1, 1, 0, 0), "unterminated"},
	} {
		if got := strings.Join(dateFiles(tc.format, tc.t, now, ny), " "); got != tc.want {
			t.Errorf("%q at %v:\n got %s\nwant %s", tc.format, tc.t, got, tc.want)
		}
	}
}

func TestCallerIDFiles(t *testing.T) {
	for cid, want := range map[string]string{
		`"Alice" <100>`:   "vm-from-phonenumber digits/1 digits/0 digits/0",
		"5551234":         "vm-from-phonenumber digits/5 digits/5 digits/5 digits/1 digits/2 digits/3 digits/4",
		"Unknown":         "vm-unknown-caller",
		"":                "vm-unknown-caller",
		`"Alice" <alice>`: "vm-unknown-caller",
	} {
		if got := strings.Join(callerIDFiles(cid), " "); got != want {
			t.Errorf("%q: %s, want %s", cid, got, want)
		}
	}
}

// The envelope is said by default (Asterisk's envelope=yes), in the mailbox's zone; envelope=no
// (mailbox or [general]) silences the date; saycid adds who called.
func TestEnvelopeFiles(t *testing.T) {
	msg := Message{Meta: Meta{OrigTime: time.Date(2026, 12, 7, 14, 30, 0, 0, time.UTC).Unix(), CallerID: `"Bob" <200>`}}
	now := time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC)
	for _, tc := range []struct{ conf, box, want string }{
		{"[zonemessages]\nlondon=Europe/London|'vm-received' R\n[default]\n1 => 1,A,,,tz=london\n", "1",
			"vm-received digits/14 digits/30"},
		{"[general]\nenvelope=no\nsaycid=yes\n[default]\n1 => 1\n", "1", "vm-from-phonenumber digits/2 digits/0 digits/0"},
		{"[default]\n1 => 1,A,,,envelope=no\n", "1", ""},
		{"[zonemessages]\nlondon=Europe/London|'vm-received' R\n[default]\n1 => 1,A,,,tz=london|saycid=yes\n", "1",
			"vm-received digits/14 digits/30 vm-from-phonenumber digits/2 digits/0 digits/0"},
	} {
		c, err := parse(t, tc.conf)
		if err != nil {
			t.Fatal(err)
		}
		e := New(Options{SpoolDir: t.TempDir()})
		if err := e.Configure(context.Background(), c); err != nil {
			t.Fatal(err)
		}
		m, _ := e.Find(context.Background(), Box{"default", tc.box})
		s := &session{e: e, m: m}
		if got := strings.Join(s.envelopeFiles(msg, now), " "); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.conf, got, tc.want)
		}
	}
}
