package astdb

import (
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

func TestCloseLeavesNoGoroutine(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	db, err := Open(filepath.Join(t.TempDir(), "astdb.sqlite3"))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Put("f", "k", "v"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Family("f"); err != nil {
		t.Fatal(err)
	}
	db.Close()
}
