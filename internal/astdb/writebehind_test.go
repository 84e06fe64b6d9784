package astdb

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestWriteBehind(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	db, err := Open(filepath.Join(t.TempDir(), FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.Put("fam", "gone", "x")
	w := db.NewWriteBehind("fam", time.Hour, nil) // nothing is written before Close
	w.Put("a", "1")
	w.Put("a", "2") // the latest wins
	w.Put("b", "3")
	w.Del("gone")
	w.Del("never-there")
	db.Put("fam", "old", "o")
	got, err := w.Family() // the file with the pending changes on top
	if err != nil || !slices.Equal(got, []Entry{{"a", "2"}, {"b", "3"}, {"old", "o"}}) {
		t.Fatalf("Family() = %v %v", got, err)
	}
	if _, err := db.Get("fam", "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("written before the window: %v", err)
	}
	w.Close()
	w.Close() // twice is fine
	for k, want := range map[string]string{"a": "2", "b": "3"} {
		if v, err := db.Get("fam", k); err != nil || v != want {
			t.Errorf("%s = %q %v, want %q", k, v, err, want)
		}
	}
	if _, err := db.Get("fam", "gone"); !errors.Is(err, ErrNotFound) {
		t.Errorf("gone: %v", err)
	}
}

func TestWriteBehindWritesWithinTheWindow(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	w := db.NewWriteBehind("fam", 10*time.Millisecond, nil)
	defer w.Close()
	w.Put("k", "v")
	deadline := time.Now().Add(5 * time.Second)
	for {
		if v, err := db.Get("fam", "k"); err == nil && v == "v" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not written")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got, err := w.Family(); err != nil || !slices.Equal(got, []Entry{{"k", "v"}}) {
		t.Errorf("Family() = %v %v", got, err)
	}
}

func TestWriteBehindReportsErrors(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), FileName))
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan int, 4)
	w := db.NewWriteBehind("fam", 100*time.Millisecond, func(n int, err error) { got <- n }) // both Puts in one batch
	db.Close()                                                                               // every write fails now
	w.Put("a", "1")
	w.Put("b", "1")
	select {
	case n := <-got:
		if n != 2 {
			t.Errorf("reported %d changes, want 2", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no error reported")
	}
	w.Close()
}
