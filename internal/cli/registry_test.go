package cli

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func newTestRegistry(t *testing.T) (*Registry, *[]string) {
	t.Helper()
	r := NewRegistry()
	var ran []string
	mk := func(words string, usage string, h func(a *Args) error) *Command {
		return &Command{Words: strings.Fields(words), Summary: "does " + words, Usage: usage,
			Handler: func(_ context.Context, a *Args) error {
				ran = append(ran, strings.Join(a.Rest, "|"))
				return h(a)
			}}
	}
	ok := func(a *Args) error { a.Out.Write([]byte("ok\n")); return nil }
	r.MustRegister(
		mk("core show settings", "Usage: core show settings\n", ok),
		mk("core show", "Usage: core show <thing>\n", func(*Args) error { return ErrUsage }),
		mk("database put", "Usage: database put <family> <key> <value>\n", func(a *Args) error {
			if len(a.Rest) != 3 {
				return ErrUsage
			}
			return nil
		}),
		mk("fail", "Usage: fail\n", func(a *Args) error { a.Out.Write([]byte("it failed\n")); return ErrFailed }),
	)
	return r, &ran
}

func TestRunPicksLongestCommandAndPassesRest(t *testing.T) {
	r, ran := newTestRegistry(t)
	var out bytes.Buffer
	if err := r.Run(context.Background(), `database put fam "a key" value`, &out, nil); err != nil {
		t.Fatal(err)
	}
	if got := (*ran)[0]; got != "fam|a key|value" {
		t.Fatalf("rest %q", got)
	}
	out.Reset()
	if err := r.Run(context.Background(), "CORE Show Settings", &out, nil); err != nil || out.String() != "ok\n" {
		t.Fatalf("case-insensitive words: %v %q", err, out.String())
	}
}

func TestRunErrors(t *testing.T) {
	r, _ := newTestRegistry(t)
	r.MustRegister(
		&Command{Words: []string{"cli", "failure"}, Handler: func(_ context.Context, a *Args) error {
			a.Out.Write([]byte("it failed\n"))
			return ErrCommandFailed
		}},
		&Command{Words: []string{"broken"}, Handler: func(context.Context, *Args) error { return errors.New("broken: no database") }},
	)
	for _, tc := range []struct {
		line, want string
		err        error
	}{
		{"bogus command", "No such command 'bogus command' (type 'core show help bogus command' for other possible commands)\n", ErrNoSuchCommand},
		{"database put x", "Usage: database put <family> <key> <value>\n", ErrUsage},
		{"core show nothing", "Usage: core show <thing>\n", ErrUsage},
		{"fail", "it failed\n", ErrFailed},
		// Asterisk's CLI_FAILURE: the raw line, as typed (quotes and all), in its "failed" line.
		{`  cli failure "x  y"  `, "it failed\nCommand 'cli failure \"x  y\"' failed.\n", ErrCommandFailed},
		{"broken", "broken: no database\nCommand 'broken' failed.\n", nil},
		// find_best: the words up to the first at which no command of that length shares
		// the words before it ("bogus word": no two-word command starts with "bogus").
		{"bogus word more", "No such command 'bogus word more' (type 'core show help bogus word' for other possible commands)\n", ErrNoSuchCommand},
		{"database get x y", "No such command 'database get x y' (type 'core show help database get x' for other possible commands)\n", ErrNoSuchCommand},
		{"   ", "", nil},
	} {
		var out bytes.Buffer
		err := r.Run(context.Background(), tc.line, &out, nil)
		if tc.line == "broken" {
			if err == nil || err.Error() != "broken: no database" {
				t.Errorf("%q: err %v", tc.line, err)
			}
		} else if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
			t.Errorf("%q: err %v, want %v", tc.line, err, tc.err)
		}
		if out.String() != tc.want {
			t.Errorf("%q: output %q, want %q", tc.line, out.String(), tc.want)
		}
	}
}

func TestRegisterTwiceFails(t *testing.T) {
	r, _ := newTestRegistry(t)
	err := r.Register(&Command{Words: []string{"fail"}, Handler: func(context.Context, *Args) error { return nil }})
	if err == nil {
		t.Fatal("duplicate accepted")
	}
}

func TestHelp(t *testing.T) {
	r, _ := newTestRegistry(t)
	var out bytes.Buffer
	if err := r.Run(context.Background(), "help database put", &out, nil); err != nil || out.String() != "Usage: database put <family> <key> <value>\n" {
		t.Fatalf("help on one command: %v %q", err, out.String())
	}
	out.Reset()
	r.Run(context.Background(), "core show help core", &out, nil)
	if !strings.Contains(out.String(), "core show settings") || strings.Contains(out.String(), "database put") {
		t.Fatalf("help list by prefix:\n%s", out.String())
	}
}

func TestComplete(t *testing.T) {
	r, _ := newTestRegistry(t)
	for line, want := range map[string][]string{
		"":                {"core", "database", "fail", "help"},
		"co":              {"core"},
		"core ":           {"show"},
		"core show s":     {"settings"},
		"database p":      {"put"},
		"help core show ": {"help", "settings"},
		"zzz":             nil,
	} {
		got := r.Complete(line)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Complete(%q) = %v, want %v", line, got, want)
		}
	}
}

func TestSplit(t *testing.T) {
	for in, want := range map[string][]string{
		`a b  c`:          {"a", "b", "c"},
		`put "x y" z`:     {"put", "x y", "z"},
		`a\ b c`:          {"a b", "c"},
		`""`:              {""},
		"\tx\n":           {"x"},
		`say "a \"q\" b"`: {"say", `a "q" b`},
	} {
		if got := Split(in); !reflect.DeepEqual(got, want) {
			t.Errorf("Split(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzFrame(f *testing.F) {
	f.Add([]byte{'C', 0, 0, 0, 3, 'a', 'b', 'c'})
	f.Add([]byte{'E', 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		typ, p, err := ReadFrame(bytes.NewReader(data))
		if err != nil {
			return
		}
		var b bytes.Buffer
		if err := WriteFrame(&b, typ, p); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b.Bytes(), data[:5+len(p)]) {
			t.Fatalf("frame round trip differs")
		}
	})
}
