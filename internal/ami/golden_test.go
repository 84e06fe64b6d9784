package ami

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
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
//
// Directives (lines starting with "#", never sent): before the first ">>>", "#nologin"
// starts without logging in (the transcript logs in itself, events on by default) and
// "#booted" makes the backend report FullyBooted; in a request, "#until: Key: Value" reads on
// after the response until a packet holds that line (events that follow an action), and
// "#sync" sends a Ping after the request and reads every packet up to its Pong (the Ping
// and Pong are not shown). Values that change from run to run (challenges, timestamps,
// session IDs, ports, uptimes) are shown as <...>.
func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/golden/*.txt")
	if len(files) == 0 {
		t.Fatal("no golden inputs")
	}
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
			blocks := strings.Split(string(in), ">>>\n")
			head := blocks[0]
			e := startServer(t, testConf, func(s *Server) { s.db = db })
			e.b.booted = strings.Contains(head, "#booted\n")
			c := dial(t, e.addr)
			if !strings.Contains(head, "#nologin\n") {
				c.login("admin", "adminpw", "Events: off")
			}
			var out strings.Builder
			for _, block := range blocks[1:] {
				var lines []string
				var until []string
				sync := false
				for _, l := range strings.Split(strings.TrimRight(block, "\n"), "\n") {
					switch {
					case strings.HasPrefix(l, "#until: "):
						until = append(until, strings.TrimPrefix(l, "#until: "))
					case l == "#sync":
						sync = true
					case strings.HasPrefix(l, "#"):
						t.Fatalf("unknown directive %q", l)
					default:
						lines = append(lines, l)
					}
				}
				out.WriteString(">>>\n" + strings.Join(lines, "\n") + "\n<<<\n")
				c.send(lines...)
				if sync {
					c.send("Action: Ping", "ActionID: golden-sync")
				}
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
				for _, u := range until {
					for !slices.Contains(p.Lines, u) {
						p = c.read()
						out.WriteString(strings.Join(p.Lines, "\n") + "\n\n")
					}
				}
				for sync {
					p = c.read()
					if p.Get("ActionID") == "golden-sync" && p.Get("Ping") == "Pong" {
						break
					}
					out.WriteString(strings.Join(p.Lines, "\n") + "\n\n")
				}
			}
			got := out.String()
			for _, v := range goldenVolatile {
				got = v.re.ReplaceAllString(got, v.with)
			}
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

// goldenVolatile are the values of a transcript that change from run to run.
var goldenVolatile = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`(?m)^Challenge: [0-9]+$`), "Challenge: <n>"},
	{regexp.MustCompile(`(?m)^(EventTV|SessionTV): [0-9T:.+-]+$`), "$1: <tv>"},
	{regexp.MustCompile(`(?m)^SessionID: 0x[0-9a-f]+$`), "SessionID: <id>"},
	{regexp.MustCompile(`(?m)^((?:Local|Remote)Address: IPV4/TCP/127\.0\.0\.1)/[0-9]+$`), "$1/<port>"},
	{regexp.MustCompile(`(?m)^(Uptime|LastReload|Timestamp): [0-9.]+$`), "$1: <n>"},
}
