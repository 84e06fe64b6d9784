package core

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// res_musiconhold in the server: without musiconhold.conf the sample's [default] plays
// astdatadir/moh once it has files; "reload" (and "moh reload") reads the file and scans
// the directories again.
func TestMOHModule(t *testing.T) {
	s := testServer(t)
	if err := os.MkdirAll(s.Settings.Dirs.Etc, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background(), []Module{&mohModule{}}); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	if s.MOH == nil {
		t.Fatal("Server.MOH not set")
	}
	if out := transcript(t, s, "moh show classes"); out != "> moh show classes\n" {
		t.Errorf("no moh files yet:\n%s", out)
	}
	dir := filepath.Join(s.Settings.Dirs.Data, "moh")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "song.ulaw"), make([]byte, 800), 0o644); err != nil {
		t.Fatal(err)
	}
	want := "> reload\n> moh show classes\nClass: default\n\tMode: files\n\tDirectory: moh\n> moh show files\nClass: default\n\tFile: " + filepath.Join(dir, "song") + "\n"
	if out := transcript(t, s, "reload", "moh show classes", "moh show files"); out != want {
		t.Errorf("after reload:\n%s\nwant\n%s", out, want)
	}
	writeConf(t, s, "musiconhold.conf", "[jazz]\nmode=files\ndirectory="+dir+"\n")
	if out := transcript(t, s, "moh reload", "moh show classes"); !strings.Contains(out, "Class: jazz\n") || strings.Contains(out, "Class: default") {
		t.Errorf("after moh reload:\n%s", out)
	}
}
