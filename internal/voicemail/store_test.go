package voicemail

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
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
	ids := func(t *testing.T, s Store, box Box, folder string) string {
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
		if got := ids(t, s, box, "INBOX"); got != "a,b,c" {
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
		if got := ids(t, s, box, "INBOX"); got != "a,c,d" {
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
		if got := ids(t, s, box, "INBOX"); got != "b,c" {
			t.Fatal(got)
		}
		if got := ids(t, s, box, "Old"); got != "old0,a" {
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
	// One table of operations run on every backend: what each leaves in the folders must be
	// the same everywhere (numbers from 0 without gaps, moves to the end, renumbering).
	for _, tc := range storeOps {
		t.Run("ops/"+tc.name, func(t *testing.T) {
			s := newStore(t)
			audio := map[string]byte{}
			for i, op := range tc.ops {
				f := strings.Fields(op)
				fail := f[len(f)-1] == "!"
				if fail {
					f = f[:len(f)-1]
				}
				var err error
				var got, want int
				switch f[0] {
				case "save":
					audio[f[2]] = byte(i + 1)
					got, err = s.Save(ctx, box, f[1], NewMeta(Meta{MsgID: f[2]}, time.Unix(1700000000, 0)), pcm(byte(i+1)))
					if !fail {
						want = atoi(f[3])
					}
				case "move":
					got, err = s.Move(ctx, box, f[1], atoi(f[2]), f[3])
					if !fail {
						want = atoi(f[4])
					}
				case "delete":
					err = s.Delete(ctx, box, f[1], atoi(f[2]))
				case "purge":
					got, err = purgeFolder(ctx, s, box, f[1])
					want = atoi(f[2])
				case "copy":
					got, err = Copy(ctx, s, box, f[1], atoi(f[2]), Box{"default", f[3]}, f[4], nil)
					if !fail {
						want = atoi(f[5])
					}
				}
				if fail {
					if !errors.Is(err, ErrNoMessage) {
						t.Fatalf("%s: %v, want ErrNoMessage", op, err)
					}
					continue
				}
				if err != nil || got != want {
					t.Fatalf("%s: number %d (want %d), %v", op, got, want, err)
				}
			}
			for _, fw := range strings.Fields(tc.want) {
				folder, list, _ := strings.Cut(fw, "=")
				box := box
				if mb, f, ok := strings.Cut(folder, "/"); ok {
					box, folder = Box{"default", mb}, f
				}
				if got := ids(t, s, box, folder); got != list {
					t.Errorf("%s %s holds %q, want %q", box, folder, got, list)
				}
				n, _ := s.Count(ctx, box, folder)
				if want := len(strings.Split(list, ",")); list == "" && n != 0 || list != "" && n != want {
					t.Errorf("%s counts %d", folder, n)
				}
				for i, id := range strings.Split(list, ",") {
					if id == "" {
						continue
					}
					if a, err := s.Audio(ctx, box, folder, i); err != nil || !bytes.Equal(a, pcm(audio[id])) {
						t.Errorf("%s/%d (%s): audio not its own: %v", folder, i, id, err)
					}
				}
			}
		})
	}
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

// storeOps are the conformance table: operations (save FOLDER ID NUM, move FROM NUM TO NUM,
// delete FOLDER NUM, purge FOLDER COUNT, copy FOLDER NUM MAILBOX FOLDER NUM (to another
// mailbox of the context, or the same one); NUM is the number the store must answer; a trailing "!" means the
// operation must fail with ErrNoMessage) and what the folders hold after them.
var storeOps = []struct {
	name string
	ops  []string
	want string
}{
	{"delete first, middle, last", []string{"save INBOX a 0", "save INBOX b 1", "save INBOX c 2", "save INBOX d 3", "save INBOX e 4",
		"delete INBOX 0", "delete INBOX 1", "delete INBOX 2"}, "INBOX=b,d"},
	{"delete everything then save", []string{"save INBOX a 0", "save INBOX b 1", "delete INBOX 1", "delete INBOX 0",
		"delete INBOX 0 !", "save INBOX c 0"}, "INBOX=c"},
	{"heard messages to Old, highest first", []string{"save Old o 0", "save INBOX a 0", "save INBOX b 1", "save INBOX c 2",
		"move INBOX 2 Old 1", "move INBOX 0 Old 2"}, "INBOX=b Old=o,c,a"},
	{"move to the same folder goes to its end", []string{"save Work a 0", "save Work b 1", "save Work c 2", "move Work 0 Work 2"},
		"Work=b,c,a"},
	{"move from an empty folder", []string{"move Family 0 Old !", "delete Urgent 0 !"}, "Family= Old="},
	{"a message travels through folders", []string{"save Urgent u 0", "save INBOX a 0", "move Urgent 0 INBOX 1", "move INBOX 0 Friends 0",
		"move INBOX 0 Cust5 0", "move Cust5 0 Deleted 0", "save INBOX b 0"}, "Urgent= INBOX=b Friends=a Cust5= Deleted=u"},
	{"numbers past 9 and renumbering across them", []string{"save INBOX m0 0", "save INBOX m1 1", "save INBOX m2 2", "save INBOX m3 3",
		"save INBOX m4 4", "save INBOX m5 5", "save INBOX m6 6", "save INBOX m7 7", "save INBOX m8 8", "save INBOX m9 9",
		"save INBOX m10 10", "save INBOX m11 11", "delete INBOX 3", "move INBOX 9 Old 0", "delete INBOX 9", "save INBOX m12 9"},
		"INBOX=m0,m1,m2,m4,m5,m6,m7,m8,m9,m12 Old=m10"},
	{"purge a folder, then use it again", []string{"save INBOX a 0", "save INBOX b 1", "save INBOX c 2", "save Old o 0",
		"purge INBOX 3", "purge INBOX 0", "purge Work 0", "save INBOX d 0"}, "INBOX=d Old=o Work="},
	{"copy to another mailbox keeps the original", []string{"save INBOX a 0", "save INBOX b 1", "save INBOX c 2",
		"copy INBOX 1 1235 INBOX 0", "copy INBOX 2 1235 INBOX 1", "copy INBOX 0 1235 Urgent 0", "delete INBOX 1", "copy INBOX 5 1235 INBOX 0 !"},
		"INBOX=a,c 1235/INBOX=b,c 1235/Urgent=a 1235/Old="},
	{"copy within a mailbox, then the copy moves alone", []string{"save Old o 0", "copy Old 0 1234 INBOX 0", "move INBOX 0 Work 0",
		"copy Work 0 1234 Old 1"}, "INBOX= Old=o,o Work=o"},
	{"folders are per mailbox folder, case-insensitive", []string{"save inbox a 0", "save INBOX b 1", "move INBOX 0 old 0", "delete OLD 0"},
		"INBOX=b Old="},
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic("storeOps: " + s)
	}
	return n
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
