package integration

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestReadmeCommands runs every `go run ./cmd/pleiades ...` line of the README's sh blocks
// against the built binary, in README order, in a fresh directory with built-in defaults, so
// the README stays honest. A line that starts a server (-c, or no flags) starts one in the
// background; interactive consoles (-r) and make targets are not run here (make test is CI).
func TestReadmeCommands(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "```sh"):
			in = true
		case strings.HasPrefix(l, "```"):
			in = false
		case in && strings.HasPrefix(l, "go run ./cmd/pleiades"):
			if i := strings.Index(l, " #"); i > 0 {
				l = l[:i]
			}
			lines = append(lines, strings.TrimSpace(strings.TrimPrefix(l, "go run ./cmd/pleiades")))
		}
	}
	if len(lines) < 4 {
		t.Fatalf("README has only %d pleiades commands", len(lines))
	}
	dir, err := os.MkdirTemp("", "plreadme")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	env := filteredEnv("XDG_STATE_HOME")
	sock := filepath.Join(dir, "var", "pleiades", "run", "pleiades.ctl")
	running := func() bool { _, err := os.Stat(sock); return err == nil }
	stop := func() {
		if !running() {
			return
		}
		runBinaryEnv(t, dir, env, "-rx", "core stop now")
		for deadline := time.Now().Add(10 * time.Second); running() && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
	}
	defer stop()
	quoted := regexp.MustCompile(`"([^"]*)"|(\S+)`)
	ran := 0
	for _, l := range lines {
		var args []string
		for _, m := range quoted.FindAllStringSubmatch(l, -1) {
			if m[1] != "" || strings.HasPrefix(m[0], `"`) {
				args = append(args, m[1])
			} else {
				args = append(args, m[2])
			}
		}
		switch {
		case len(args) == 0 || (len(args) == 1 && strings.HasPrefix(args[0], "-c")):
			stop()
			// A server stopped by the README's previous "core stop now" may still hold the
			// run directory for a moment after its control socket is gone.
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				out, code := runBinaryEnv(t, dir, env)
				if code == 0 {
					break
				}
				if !strings.Contains(out, "run directory") || time.Now().After(deadline) {
					t.Fatalf("README start %q: %s", l, out)
				}
			}
		case args[0] == "-r":
			continue
		default:
			if out, code := runBinaryEnv(t, dir, env, args...); code != 0 {
				t.Fatalf("README command %q exited %d:\n%s", l, code, out)
			}
		}
		ran++
	}
	t.Logf("ran %d README commands", ran)
}
