package conf

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Which category included lines go to, as Asterisk's main/config.c decides it: an included
// file (config_text_file_load) starts in cfg->current, the category last opened (or
// appended to with (+)) anywhere; the files of a glob share one local category, so each
// continues where the one before ended; the including file goes on in its own category
// (process_text_line's *cat is untouched by the #include).
func TestIncludedFilesContinueTheCurrentCategory(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string // main.conf is loaded
		want  string
	}{
		{"an included file starts in the including file's category",
			map[string]string{"main.conf": "[m]\n#include x.conf\n", "x.conf": "a=1\n"},
			"[m]\n a=1\n"},
		{"the including file goes on in its own category",
			map[string]string{"main.conf": "[m]\n#include x.conf\nk=1\n", "x.conf": "[x]\na=1\n"},
			"[m]\n k=1\n[x]\n a=1\n"},
		{"the second file of a glob continues the category the first opened",
			map[string]string{"main.conf": "[main]\n#include d/*.conf\nz=3\n", "d/1.conf": "[one]\na=1\n", "d/2.conf": "b=2\n"},
			"[main]\n z=3\n[one]\n a=1\n b=2\n"},
		{"a glob at the top, before any category",
			map[string]string{"main.conf": "#include d/*.conf\n", "d/1.conf": "[one]\n", "d/2.conf": "b=2\n"},
			"[one]\n b=2\n"},
		{"a later include starts in the category an earlier include opened",
			map[string]string{"main.conf": "[m]\n#include x.conf\nk=1\n#include y.conf\n", "x.conf": "[x]\n", "y.conf": "v=1\n"},
			"[m]\n k=1\n[x]\n v=1\n"},
		{"(+) makes the appended category current",
			map[string]string{"main.conf": "[a]\n[b]\n[a](+)\n#include y.conf\n", "y.conf": "v=1\n"},
			"[a]\n v=1\n[b]\n"},
		{"without (+) the last category opened is current",
			map[string]string{"main.conf": "[a]\n[b]\n#include y.conf\n", "y.conf": "v=1\n"},
			"[a]\n[b]\n v=1\n"},
		{"nested: each file goes on in its own category after its includes",
			map[string]string{"main.conf": "[m]\n#include a.conf\nz=1\n", "a.conf": "[a]\n#include b.conf\nq=1\n", "b.conf": "[b]\nw=1\n"},
			"[m]\n z=1\n[a]\n q=1\n[b]\n w=1\n"},
		{"nested: an included file without a header goes on in the category it started in",
			map[string]string{"main.conf": "[m]\n#include a.conf\n", "a.conf": "#include b.conf\nq=1\n", "b.conf": "[b]\n"},
			"[m]\n q=1\n[b]\n"},
		{"a glob file that includes another: the next glob file continues the first's own category",
			map[string]string{"main.conf": "[m]\n#include d/*.conf\n", "d/1.conf": "[one]\n#include n.conf\n", "d/2.conf": "x=1\n", "n.conf": "[n]\n"},
			"[m]\n[one]\n x=1\n[n]\n"},
		{"#tryinclude globs too",
			map[string]string{"main.conf": "[m]\n#tryinclude d/*.conf\n#tryinclude none/*.conf\n", "d/1.conf": "[one]\n", "d/2.conf": "b=2\n"},
			"[m]\n[one]\n b=2\n"},
		{"#tryinclude of a file starts in the current category",
			map[string]string{"main.conf": "[m]\n#include x.conf\n#tryinclude y.conf\n", "x.conf": "[x]\n", "y.conf": "v=1\n"},
			"[m]\n[x]\n v=1\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, body := range tc.files {
				p := filepath.Join(dir, name)
				os.MkdirAll(filepath.Dir(p), 0o755)
				if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cfg, err := Load(filepath.Join(dir, "main.conf"), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got := dump(cfg); got != tc.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tc.want)
			}
			checkRoundTrip(t, cfg)
		})
	}
}

func TestExecStartsInTheCurrentCategory(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "x.conf"), []byte("[x]\n"), 0o644)
	cfg, err := Parse("m.conf", []byte("[m]\n#include x.conf\nk=1\n#exec echo v=1\n"), Options{Dir: dir, ExecIncludes: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := dump(cfg), "[m]\n k=1\n[x]\n v=1\n"; got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

// Devices, FIFOs and directories are skipped with a warning naming the #include line, as
// Asterisk skips them: /dev/zero never ends, and a FIFO blocks the reload until a writer
// comes.
func TestIncludeOfNonRegularFilesIsSkipped(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(dir, "d"), 0o755)
	if err := syscall.Mkfifo(filepath.Join(dir, "d", "a.conf"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(dir, "d", "b.conf"), 0o755)
	os.WriteFile(filepath.Join(dir, "d", "c.conf"), []byte("c=3\n"), 0o644)
	main := "[m]\n#include fifo\n#include /dev/zero\n#tryinclude /dev/zero\n#include d/*.conf\nz=1\n"
	os.WriteFile(filepath.Join(dir, "main.conf"), []byte(main), 0o644)
	type result struct {
		cfg *Config
		err error
	}
	done := make(chan result, 1)
	go func() {
		cfg, err := Load(filepath.Join(dir, "main.conf"), Options{})
		done <- result{cfg, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("loading a configuration that includes a FIFO and /dev/zero hangs")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	if got, want := dump(r.cfg), "[m]\n c=3\n z=1\n"; got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	main = filepath.Join(dir, "main.conf")
	want := []string{
		main + ":2: #include fifo: " + fifo + " is not a regular file, ignored",
		main + ":3: #include /dev/zero: /dev/zero is not a regular file, ignored",
		main + ":4: #tryinclude /dev/zero: /dev/zero is not a regular file, ignored",
		main + ":5: #include d/*.conf: " + filepath.Join(dir, "d", "a.conf") + " is not a regular file, ignored",
		main + ":5: #include d/*.conf: " + filepath.Join(dir, "d", "b.conf") + " is not a regular file, ignored",
	}
	var got []string
	for _, w := range r.cfg.Warnings {
		got = append(got, w.Error())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("warnings\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// The top file itself: an error, never a hang.
	go func() {
		_, err := Load(fifo, Options{})
		done <- result{nil, err}
	}()
	select {
	case r = <-done:
		if r.err == nil || !strings.Contains(r.err.Error(), "not a regular file") {
			t.Fatalf("loading a FIFO: %v", r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("loading a FIFO hangs")
	}
}
