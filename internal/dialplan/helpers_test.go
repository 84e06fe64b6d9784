package dialplan

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/test/testenv"

	_ "time/tzdata" // time-zone tests must not depend on the host

	"github.com/pleiades-pbx/pleiades/internal/cli"
	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/logger"
)

// logSink collects log lines as a console at verbose 10 would show them.
type logSink struct {
	mu    sync.Mutex
	lines []string
}

func (s *logSink) Enabled(context.Context, slog.Level) bool { return true }
func (s *logSink) Handle(_ context.Context, r slog.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	prefix := ""
	switch {
	case r.Level >= slog.LevelError:
		prefix = "ERROR: "
	case r.Level >= slog.LevelWarn:
		prefix = "WARNING: "
	case r.Level >= slog.LevelInfo:
		prefix = "NOTICE: "
	case r.Level == logger.Verbose(3):
		prefix = "    -- "
	}
	s.lines = append(s.lines, prefix+r.Message)
	return nil
}
func (s *logSink) WithAttrs([]slog.Attr) slog.Handler { return s }
func (s *logSink) WithGroup(string) slog.Handler      { return s }

func (s *logSink) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.lines, "\n")
}

func (s *logSink) has(sub string) bool { return strings.Contains(s.text(), sub) }

// newTestEngine loads text as extensions.conf.
func newTestEngine(t testing.TB, text string) (*Engine, *logSink) {
	t.Helper()
	sink := &logSink{}
	e := New(slog.New(sink), nil)
	t.Cleanup(e.Close)
	cfg, err := conf.Parse("extensions.conf", []byte(text), conf.Options{})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if err := e.Load(cfg); err != nil {
		t.Fatalf("load: %v", err)
	}
	return e, sink
}

// runAt runs a channel at exten@context and returns it.
func runAt(t testing.TB, e *Engine, contextName, exten string) (*Channel, error) {
	t.Helper()
	ch := NewChannel("Test/1", contextName, exten, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := e.Run(ctx, ch)
	return ch, err
}

// runCLI runs one CLI line against the engine's commands.
func runCLI(t testing.TB, e *Engine, line string, s cli.Session) (string, error) {
	t.Helper()
	r := cli.NewRegistry()
	r.MustRegister(e.Commands()...)
	var out bytes.Buffer
	err := r.Run(context.Background(), line, &out, s)
	return out.String(), err
}

// sharedFile reads a file of ../shared beside the repository (required in CI).
func sharedFile(t testing.TB, rel string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testenv.SharedPath(t, filepath.Dir(rel)), filepath.Base(rel)))
	if err != nil {
		testenv.Unavailable(t, "%s: %v", rel, err)
	}
	return data
}

type fakeSession struct{ v int }

func (f *fakeSession) SetVerbose(n int) { f.v = n }
func (f *fakeSession) Verbose() int     { return f.v }

func mustParse(t testing.TB, text string) *conf.Config {
	t.Helper()
	cfg, err := conf.Parse("extensions.conf", []byte(text), conf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
