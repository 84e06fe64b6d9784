package voicemail

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// conformance runs the behaviour every Store backend must share: numbering, listing,
// moving, deleting with renumbering, audio round trips, refusals.
func conformance(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := context.Background()
	box := Box{"default", "1234"}
	pcm := func(b byte) []byte { return bytes.Repeat([]byte{b, 0}, 800) }
	save := func(t *testing.T, s Store, folder string, id string, b byte) int {
		t.Helper()
		n, err := s.Save(ctx, box, folder, NewMeta(Meta{OrigMailbox: "1234", Context: "default", MsgID: id, Duration: 1}, time.Unix(1700000000, 0)), pcm(b))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	ids := func(t *testing.T, s Store, folder string) string {
		t.Helper()
		l, err := s.List(ctx, box, folder)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for i, m := range l {
			if m.Num != i {
				t.Fatalf("%s: message %d numbered %d (not renumbered)", folder, i, m.Num)
			}
			out = append(out, m.Meta.MsgID)
		}
		return strings.Join(out, ",")
	}
	t.Run("save numbers and lists", func(t *testing.T) {
		s := newStore(t)
		for i, id := range []string{"a", "b", "c"} {
			if n := save(t, s, "INBOX", id, byte(i+1)); n != i {
				t.Fatalf("message %s numbered %d", id, n)
			}
		}
		if got := ids(t, s, "INBOX"); got != "a,b,c" {
			t.Fatal(got)
		}
		if n, _ := s.Count(ctx, box, "INBOX"); n != 3 {
			t.Fatal(n)
		}
		if n, _ := s.Count(ctx, box, "Old"); n != 0 {
			t.Fatal(n)
		}
		l, _ := s.List(ctx, box, "INBOX")
		if m := l[1].Meta; m.OrigMailbox != "1234" || m.OrigTime != 1700000000 || m.Duration != 1 || m.OrigDate == "" {
			t.Fatalf("meta %+v", m)
		}
		a, err := s.Audio(ctx, box, "INBOX", 1)
		if err != nil || !bytes.Equal(a, pcm(2)) {
			t.Fatalf("audio %v", err)
		}
		if _, err := s.Audio(ctx, box, "INBOX", 7); !errors.Is(err, ErrNoMessage) {
			t.Fatalf("missing audio: %v", err)
		}
	})
	t.Run("delete renumbers", func(t *testing.T) {
		s := newStore(t)
		for i, id := range []string{"a", "b", "c", "d"} {
			save(t, s, "INBOX", id, byte(i+1))
		}
		if err := s.Delete(ctx, box, "INBOX", 1); err != nil {
			t.Fatal(err)
		}
		if got := ids(t, s, "INBOX"); got != "a,c,d" {
			t.Fatal(got)
		}
		if a, _ := s.Audio(ctx, box, "INBOX", 1); !bytes.Equal(a, pcm(3)) {
			t.Fatal("audio did not move with its message")
		}
		if err := s.Delete(ctx, box, "INBOX", 5); !errors.Is(err, ErrNoMessage) {
			t.Fatalf("deleting nothing: %v", err)
		}
		if n := save(t, s, "INBOX", "e", 5); n != 3 {
			t.Fatalf("next number after a delete: %d", n)
		}
	})
	t.Run("move appends and renumbers", func(t *testing.T) {
		s := newStore(t)
		save(t, s, "Old", "old0", 9)
		for i, id := range []string{"a", "b", "c"} {
			save(t, s, "INBOX", id, byte(i+1))
		}
		n, err := s.Move(ctx, box, "INBOX", 0, "Old")
		if err != nil || n != 1 {
			t.Fatalf("move: %d %v", n, err)
		}
		if got := ids(t, s, "INBOX"); got != "b,c" {
			t.Fatal(got)
		}
		if got := ids(t, s, "Old"); got != "old0,a" {
			t.Fatal(got)
		}
		if a, _ := s.Audio(ctx, box, "Old", 1); !bytes.Equal(a, pcm(1)) {
			t.Fatal("audio did not move")
		}
		if _, err := s.Move(ctx, box, "INBOX", 9, "Old"); !errors.Is(err, ErrNoMessage) {
			t.Fatalf("moving nothing: %v", err)
		}
		if _, err := s.Move(ctx, box, "INBOX", 0, "Nowhere"); err == nil {
			t.Fatal("moved to a folder that does not exist")
		}
	})
	t.Run("refusals", func(t *testing.T) {
		s := newStore(t)
		for _, b := range []Box{{"..", "1"}, {"default", "../x"}, {"default", ""}, {"a/b", "1"}} {
			if _, err := s.Save(ctx, b, "INBOX", Meta{}, nil); err == nil {
				t.Errorf("%v accepted", b)
			}
		}
		if _, err := s.Count(ctx, box, "Spam"); err == nil {
			t.Error("folder Spam accepted")
		}
	})
	t.Run("boxes", func(t *testing.T) {
		s := newStore(t)
		save(t, s, "INBOX", "a", 1)
		bs, err := s.Boxes(ctx)
		if err != nil || len(bs) != 1 || bs[0] != box {
			t.Fatalf("%v %v", bs, err)
		}
	})
}

func TestFileStoreConformance(t *testing.T) {
	conformance(t, func(t *testing.T) Store { return NewFileStore(t.TempDir()) })
}

// A message is Asterisk's two files in the spool; a write that fails leaves neither.
func TestFileStoreLayoutAndFailedWrite(t *testing.T) {
	dir := t.TempDir()
	s := NewFileStore(dir)
	ctx := context.Background()
	box := Box{"default", "1234"}
	meta := NewMeta(Meta{OrigMailbox: "1234", Context: "default", Exten: "1234", Priority: 1, CallerChan: "SIP/alice-00000001",
		CallerID: `"Alice" <100>`, MsgID: "1700000000-00000001", Duration: 2}, time.Unix(1700000000, 0).UTC())
	if _, err := s.Save(ctx, box, "INBOX", meta, make([]byte, 32000)); err != nil {
		t.Fatal(err)
	}
	wav, err := os.ReadFile(filepath.Join(dir, "default/1234/INBOX/msg0000.wav"))
	if err != nil || len(wav) != 44+32000 || string(wav[:4]) != "RIFF" {
		t.Fatalf("wav: %d bytes, %v", len(wav), err)
	}
	txt, err := os.ReadFile(filepath.Join(dir, "default/1234/INBOX/msg0000.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"[message]\n", "origmailbox=1234\n", "context=default\n", "exten=1234\n", "priority=1\n",
		"callerchan=SIP/alice-00000001\n", "callerid=\"Alice\" <100>\n", "origdate=Tue Nov 14 10:13:20 PM UTC 2023\n",
		"origtime=1700000000\n", "msg_id=1700000000-00000001\n", "duration=2\n", "rdnis=Unknown\n"} {
		if !strings.Contains(string(txt), want) {
			t.Errorf("msg0000.txt lacks %q:\n%s", want, txt)
		}
	}
	// The metadata cannot be written (its temporary name is taken by a directory): the
	// audio already written goes too, and nothing is counted.
	inbox := filepath.Join(dir, "default/1234/INBOX")
	os.Mkdir(filepath.Join(inbox, ".tmp-msg0001.txt"), 0o750)
	if _, err := s.Save(ctx, box, "INBOX", meta, make([]byte, 100)); err == nil {
		t.Fatal("a save whose metadata could not be written succeeded")
	}
	if n, _ := s.Count(ctx, box, "INBOX"); n != 1 {
		t.Fatalf("%d messages after a failed save", n)
	}
	if _, err := os.Stat(filepath.Join(inbox, "msg0001.wav")); !os.IsNotExist(err) {
		t.Fatalf("half a message left behind: %v", err)
	}
}

// A .txt written last: a .wav alone (a crash between the two writes) is not a message.
func TestFileStoreWavWithoutTxtIsNoMessage(t *testing.T) {
	dir := t.TempDir()
	s := NewFileStore(dir)
	os.MkdirAll(filepath.Join(dir, "default/1234/INBOX"), 0o750)
	os.WriteFile(filepath.Join(dir, "default/1234/INBOX/msg0000.wav"), []byte("RIFF"), 0o640)
	if n, _ := s.Count(context.Background(), Box{"default", "1234"}, "INBOX"); n != 0 {
		t.Fatalf("%d", n)
	}
}
