package ami

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pleiades-pbx/pleiades/internal/astdb"
)

var update = flag.Bool("update", false, "rewrite the golden transcripts under testdata/golden")

// TestGolden runs each testdata/golden/NAME.txt (requests, each after a ">>>" line) against
// a server with the fake backend, logged in as admin with events off, and compares the
// transcript with NAME.golden: every request, then "<<<" and the packets received (CRLF
// shown as line ends, packets separated by empty lines). A response whose first packet
// says "EventList: start" is read up to its "EventList: Complete" packet.
func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/golden/*.txt")
	if len(files) == 0 {
		t.Fatal("no golden inputs")
	}
	challenge := regexp.MustCompile(`(?m)^Challenge: [0-9]+$`)
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".txt")
		t.Run(name, func(t *testing.T) {
			in, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			db, err := astdb.Open(filepath.Join(t.TempDir(), astdb.FileName))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			e := startServer(t, testConf, func(s *Server) { s.db = db })
			c := dial(t, e.addr)
			c.login("admin", "adminpw", "Events: off")
			var out strings.Builder
			for _, block := range strings.Split(string(in), ">>>\n")[1:] {
				lines := strings.Split(strings.TrimRight(block, "\n"), "\n")
				out.WriteString(">>>\n" + strings.Join(lines, "\n") + "\n<<<\n")
				c.send(lines...)
				p := c.read()
				out.WriteString(strings.Join(p.Lines, "\n") + "\n\n")
				if p.Get("EventList") == "start" {
					for {
						p = c.read()
						out.WriteString(strings.Join(p.Lines, "\n") + "\n\n")
						if p.Get("EventList") == "Complete" {
							break
						}
					}
				}
			}
			got := challenge.ReplaceAllString(out.String(), "Challenge: <n>")
			golden := strings.TrimSuffix(file, ".txt") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			wantB, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if got != string(wantB) {
				t.Errorf("transcript differs from %s:\n--- got\n%s\n--- want\n%s", golden, got, wantB)
			}
		})
	}
}
